//! Configurations for simulations: the shipped `config/gateway.toml` with
//! typed overrides laid over it as an overlay (`gateway.d/00-sim.toml`), as
//! an operator's site file would be. Tests, the demo and the load harness
//! start from the same shipped file, so a change to it is exercised by all.

use std::path::{Path, PathBuf};

use mediation_core::partner::Partner;
use toml::{Table, Value};

/// The configuration the gateway ships with.
pub const SHIPPED: &str = include_str!("../../../../config/gateway.toml");

/// How a simulated court system takes deliveries.
#[derive(Debug, Clone)]
pub enum CourtAt {
    Grpc(String),
    Webhook(String),
}

/// What to do when an organisation does not answer in time.
#[derive(Debug, Clone, Copy)]
pub enum OnBreach {
    ReturnToCourt,
    Reroute,
}

/// One alert webhook.
#[derive(Debug, Clone, Default)]
pub struct AlertHook {
    pub name: String,
    pub url: String,
    /// `json` (unset), `alertmanager` or `chat`.
    pub format: Option<String>,
    pub min_severity: Option<String>,
    pub kinds: Vec<String>,
}

/// The gateway's TLS files.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    /// Signs both the tenants' client certificates and the destinations'
    /// server certificates.
    pub ca: PathBuf,
}

/// The overrides, each a typed setter; [`SimConfig::set`] takes any other key.
#[derive(Debug, Clone, Default)]
pub struct SimConfig {
    overlay: Table,
}

fn path(p: &Path) -> Value {
    Value::String(p.display().to_string())
}

impl SimConfig {
    /// The shipped configuration with nothing changed yet.
    pub fn shipped() -> Self {
        Self::default()
    }

    /// Sets `key` (dotted, e.g. `limits.max_batch`) to `value`.
    pub fn set(mut self, key: &str, value: impl Into<Value>) -> Self {
        let mut parts: Vec<&str> = key.split('.').collect();
        let last = parts.pop().unwrap_or(key);
        let mut table = &mut self.overlay;
        for part in parts {
            let entry = table
                .entry(part.to_owned())
                .or_insert_with(|| Value::Table(Table::new()));
            if !entry.is_table() {
                *entry = Value::Table(Table::new());
            }
            let Value::Table(inner) = entry else {
                unreachable!("made a table above")
            };
            table = inner;
        }
        table.insert(last.to_owned(), value.into());
        self
    }

    /// `development` or `production`.
    pub fn profile(self, profile: &str) -> Self {
        self.set("profile", profile)
    }

    pub fn listen(self, address: &str) -> Self {
        self.set("listen", address)
    }

    /// The store, the case files and the development PKI.
    pub fn data_dir(self, dir: &Path) -> Self {
        self.set("data_dir", path(dir))
    }

    pub fn calendar_dir(self, dir: &Path) -> Self {
        self.set("calendar_dir", path(dir))
    }

    pub fn roster(self, file: &Path) -> Self {
        self.set("roster", path(file))
    }

    pub fn court_registry(self, file: &Path) -> Self {
        self.set("court_registry", path(file))
    }

    pub fn tenants(self, file: &Path) -> Self {
        self.set("auth.tenants", path(file))
    }

    /// Replaces the shipped court addresses with these.
    pub fn courts(mut self, courts: &[(&str, CourtAt)]) -> Self {
        let mut table = Table::new();
        for (code, at) in courts {
            let mut address = Table::new();
            match at {
                CourtAt::Grpc(url) => address.insert("grpc".into(), url.clone().into()),
                CourtAt::Webhook(url) => address.insert("webhook".into(), url.clone().into()),
            };
            table.insert((*code).to_owned(), Value::Table(address));
        }
        self.overlay.insert("courts".into(), Value::Table(table));
        self
    }

    /// Where a platform is, and the name its server certificate carries
    /// (`None` on plaintext).
    pub fn partner(self, partner: Partner, url: &str, server_name: Option<&str>) -> Self {
        let key = partner.as_str();
        let this = self.set(&format!("partners.{key}"), url);
        match server_name {
            Some(name) => this.set(&format!("partners.server_names.{key}"), name),
            None => this,
        }
    }

    pub fn on_breach(self, partner: Partner, action: OnBreach) -> Self {
        let action = match action {
            OnBreach::ReturnToCourt => "return_to_court",
            OnBreach::Reroute => "reroute",
        };
        self.set(&format!("acceptance_breach.{}", partner.as_str()), action)
    }

    /// The courts that let the gateway pass their referrals on.
    pub fn reassignment_courts(self, courts: &[&str]) -> Self {
        let courts = courts
            .iter()
            .map(|c| Value::String((*c).to_owned()))
            .collect();
        self.set("reassignment.courts", Value::Array(courts))
    }

    /// Mutual TLS with these files.
    pub fn mutual_tls(self, files: &TlsFiles) -> Self {
        self.set("tls.mode", "mutual")
            .set("tls.certificate", path(&files.certificate))
            .set("tls.private_key", path(&files.private_key))
            .set("tls.client_ca", path(&files.ca))
            .set("tls.server_ca", path(&files.ca))
    }

    /// No TLS: only for a gateway and counterparts all on loopback.
    pub fn plaintext(self) -> Self {
        self.set("tls.mode", "plaintext")
    }

    pub fn alert_hook(mut self, hook: AlertHook) -> Self {
        let mut table = Table::new();
        table.insert("name".into(), hook.name.into());
        table.insert("url".into(), hook.url.into());
        if let Some(format) = hook.format {
            table.insert("format".into(), format.into());
        }
        if let Some(severity) = hook.min_severity {
            table.insert("min_severity".into(), severity.into());
        }
        if !hook.kinds.is_empty() {
            table.insert("kinds".into(), hook.kinds.into());
        }
        let alerts = self
            .overlay
            .entry("alerts")
            .or_insert_with(|| Value::Table(Table::new()));
        if let Value::Table(alerts) = alerts {
            let hooks = alerts
                .entry("webhook")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(hooks) = hooks {
                hooks.push(Value::Table(table));
            }
        }
        self
    }

    /// The overlay as TOML.
    pub fn overlay(&self) -> String {
        self.overlay.to_string()
    }

    /// Writes `gateway.toml` (the shipped file) and `gateway.d/00-sim.toml`
    /// (the overrides) into `dir`, and returns the configuration's path.
    /// Later overlays in `gateway.d/` (a test's own) apply on top.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let file = dir.join("gateway.toml");
        std::fs::write(&file, SHIPPED)?;
        let overlays = dir.join("gateway.d");
        std::fs::create_dir_all(&overlays)?;
        std::fs::write(overlays.join("00-sim.toml"), self.overlay())?;
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, Sources};

    #[test]
    fn the_overrides_land_over_the_shipped_file() {
        let dir = tempfile::tempdir().unwrap();
        let calendar = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/calendar");
        let roster = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/roster.toml");
        let tenants = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/tenants.toml");
        let file = SimConfig::shipped()
            .listen("127.0.0.1:0")
            .data_dir(&dir.path().join("data"))
            .calendar_dir(&calendar)
            .roster(&roster)
            .tenants(&tenants)
            .plaintext()
            .courts(&[("京", CourtAt::Grpc("http://127.0.0.1:1".into()))])
            .partner(Partner::Ccpit, "http://127.0.0.1:2", None)
            .on_breach(Partner::Ccpit, OnBreach::ReturnToCourt)
            .set("limits.max_batch", 7)
            .write(dir.path())
            .unwrap();
        let config = Config::load_from(&Sources {
            file,
            overrides: vec![],
            environment: false,
        })
        .unwrap();
        assert_eq!(config.limits.max_batch, 7);
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.courts.len(), 1, "the shipped courts are replaced");
        // What was not overridden is the shipped file's.
        assert_eq!(config.auth.audience, "mediation-gateway");
    }
}
