//! The court registry file (`config/courts.toml`): every court the gateway
//! knows, with its level and the court above it. Every broken entry is named.

use std::path::Path;

use mediation_core::court::{Court, CourtCode, CourtRegistry};
use serde::Deserialize;

use super::load::read;
use super::{Config, ConfigError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CourtsFile {
    #[serde(default)]
    court: Vec<Court>,
}

/// Reads the registry: every entry checked, every parent listed and higher.
pub fn load_courts(path: &Path) -> Result<CourtRegistry, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file: CourtsFile = toml::from_str(&read(path)?).map_err(|e| invalid(e.to_string()))?;
    if file.court.is_empty() {
        return Err(invalid(
            "lists no court; every referral would be refused".into(),
        ));
    }
    CourtRegistry::new(file.court).map_err(|errors| {
        invalid(
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

impl Config {
    /// The court registry the configuration names, with every court the
    /// configuration itself names (`[courts]`, `[reassignment] courts`)
    /// checked against it.
    pub fn court_registry(&self, config_path: &Path) -> Result<CourtRegistry, ConfigError> {
        let registry = load_courts(&self.court_registry)?;
        let named = self
            .courts
            .keys()
            .map(|code| (format!("courts.{code}"), code))
            .chain(
                self.reassignment
                    .courts
                    .iter()
                    .enumerate()
                    .map(|(i, code)| (format!("reassignment.courts[{i}]"), code)),
            );
        for (key, code) in named {
            let known = CourtCode::parse(code)
                .map_err(|e| e.rule)
                .and_then(|c| registry.require(&c).map(|_| ()).map_err(|e| e.rule));
            if let Err(rule) = known {
                return Err(ConfigError::Invalid {
                    path: config_path.to_owned(),
                    message: format!("{key}: {rule} ({})", self.court_registry.display()),
                });
            }
        }
        Ok(registry)
    }
}
