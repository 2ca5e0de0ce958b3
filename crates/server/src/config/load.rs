//! Reading the configuration: the layers (file, overlays, environment,
//! `--set`) merged over the defaults, old names adopted, then checked; every
//! error names the key and the layer its value came from.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError};

/// Where the configuration comes from besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The configuration file; it must exist.
    pub file: PathBuf,
    /// `key=value` overrides from the command line, applied last.
    pub overrides: Vec<String>,
    /// Read `MEDIATION_GATEWAY_*` variables (off in tests that must not
    /// see the environment).
    pub environment: bool,
}

impl Sources {
    pub fn file(path: &Path) -> Self {
        Self {
            file: path.to_owned(),
            overrides: Vec::new(),
            environment: true,
        }
    }

    /// The overlay directory: `gateway.d` beside `gateway.toml`.
    pub fn overlay_dir(&self) -> PathBuf {
        let stem = self
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.file.with_file_name(format!("{stem}.d"))
    }

    /// Every file that contributes, in the order applied.
    pub fn files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = vec![self.file.clone()];
        let dir = self.overlay_dir();
        if dir.is_dir() {
            let entries = std::fs::read_dir(&dir).map_err(|source| ConfigError::Read {
                path: dir.clone(),
                source,
            })?;
            let mut overlays: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            overlays.sort();
            files.extend(overlays);
        }
        Ok(files)
    }
}

/// Environment variables that configure the command line, not the gateway:
/// `MEDIATION_GATEWAY_CONFIG`, `_LOG`, `_URL`, `_TOKEN` and `_STORE_DIR`;
/// and the database password (`_DATABASE_PASSWORD`), a secret read where
/// it is used, never kept in the configuration.
const NOT_CONFIGURATION: &[&str] = &[
    "config",
    "log",
    "url",
    "token",
    "store_dir",
    "database_password",
];

/// Turns a `--set` value into TOML: numbers, booleans, arrays and inline
/// tables as written; anything else as a string.
fn override_value(raw: &str) -> toml::Value {
    let parsed: Result<toml::Table, _> = format!("v = {raw}").parse();
    match parsed.ok().and_then(|mut t| t.remove("v")) {
        Some(value) => value,
        None => toml::Value::String(raw.to_owned()),
    }
}

pub(super) fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

impl Config {
    /// The file at `path` with its overlays and the environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_from(&Sources::file(path))
    }

    /// Every layer of `sources` over the defaults, checked.
    pub fn load_from(sources: &Sources) -> Result<Self, ConfigError> {
        use figment::Figment;
        use figment::providers::{Env, Format, Serialized, Toml};
        // A missing file is an error here: figment would skip it silently.
        read(&sources.file)?;
        let mut figment = Figment::new();
        for file in sources.files()? {
            figment = figment.merge(Toml::file_exact(file));
        }
        if sources.environment {
            figment = figment.merge(
                Env::prefixed("MEDIATION_GATEWAY_")
                    .split("__")
                    .ignore(NOT_CONFIGURATION),
            );
        }
        for raw in &sources.overrides {
            let (key, value) = raw.split_once('=').ok_or_else(|| ConfigError::Layered {
                message: format!("--set {raw}: expected key=value, e.g. limits.max_batch=500"),
            })?;
            figment = figment.merge(Serialized::default(
                key.trim(),
                override_value(value.trim()),
            ));
        }
        let mut config: Config = figment.extract().map_err(|e| ConfigError::Layered {
            message: describe(e),
        })?;
        config
            .adopt_old_names()
            .map_err(|message| ConfigError::Layered { message })?;
        config
            .check()
            .map_err(|message| ConfigError::Layered { message })?;
        Ok(config)
    }

    /// One name for each partner, everywhere: the names `Partner` gives them
    /// (`ccpit`, `labour_arbitration`, `road_traffic`), as the tenants file,
    /// the roster, `[acceptance_breach]`, metrics and statistics use them.
    /// `[partners] labour` is the old spelling: it is read, with a warning,
    /// and refused when the new one is set too.
    fn adopt_old_names(&mut self) -> Result<(), String> {
        for (section, old, new) in [
            (
                "partners",
                self.partners.labour.take(),
                &mut self.partners.labour_arbitration,
            ),
            (
                "partners.server_names",
                self.partners.server_names.labour.take(),
                &mut self.partners.server_names.labour_arbitration,
            ),
        ] {
            if let Some(value) = old {
                if new.is_some() {
                    return Err(format!(
                        "{section}.labour and {section}.labour_arbitration name the same platform; keep {section}.labour_arbitration"
                    ));
                }
                *new = Some(value);
                self.deprecations.push(format!(
                    "{section}.labour is the old name of {section}.labour_arbitration; rename it"
                ));
            }
        }
        Ok(())
    }
}

/// A figment error as one line per problem, each naming the key and where
/// its value came from.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_environment = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let source = if from_environment {
                // Name the very variable, as the operator typed it.
                let var: Vec<String> = e.path.iter().map(|p| p.to_ascii_uppercase()).collect();
                format!(
                    " (from environment variable MEDIATION_GATEWAY_{})",
                    var.join("__")
                )
            } else {
                e.metadata
                    .as_ref()
                    .map(|m| match &m.source {
                        // A `--set` value: its source is where figment was
                        // called, which is no use to the operator.
                        Some(figment::Source::Code(_)) => {
                            format!(" (from --set {key}=…)")
                        }
                        Some(s) => format!(" (from {s})"),
                        None => format!(" (from {})", m.name),
                    })
                    .unwrap_or_default()
            };
            let kind = e.kind.to_string();
            if key.is_empty() {
                format!("{kind}{source}")
            } else {
                format!("{key}: {kind}{source}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}
