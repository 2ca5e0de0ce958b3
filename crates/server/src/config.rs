//! The gateway's configuration file and the roster file, read and checked
//! before anything starts. Every error names the file and, where it can, the
//! key.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mediation_api::court::CourtAddress;
use mediation_core::court::CourtCode;
use mediation_core::partner::Partner;
use mediation_core::routing::RosterEntry;
use mediation_service::{BreachAction, PartnerPolicy, Policies};
use serde::Deserialize;

/// `config/gateway.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC API listens.
    pub listen: SocketAddr,
    /// Holds `store/` (the durable store) and `documents/` (case materials).
    pub data_dir: PathBuf,
    pub calendar_dir: PathBuf,
    /// The roster file.
    pub roster: PathBuf,
    #[serde(default)]
    pub courts: BTreeMap<String, CourtEndpoint>,
    #[serde(default)]
    pub partners: PartnerAddresses,
    #[serde(default)]
    pub acceptance_breach: BTreeMap<Partner, BreachSetting>,
    /// `development` may generate a throwaway PKI; `production` never does.
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub tls: TlsSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub limits: LimitSettings,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    Development,
    #[default]
    Production,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS with client certificates, in and out.
    #[default]
    Mutual,
    /// No TLS: only for a listener and destinations on loopback.
    Plaintext,
}

/// Transport security. Files left unset are the development PKI's, which
/// only the development profile may use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    #[serde(default)]
    pub mode: TlsMode,
    /// The gateway's certificate chain (PEM), for its listener and as its
    /// client certificate on outgoing connections.
    pub certificate: Option<PathBuf>,
    /// The gateway's private key (PEM).
    pub private_key: Option<PathBuf>,
    /// The CA that issues the tenants' client certificates.
    pub client_ca: Option<PathBuf>,
    /// The CA that signs partner platforms' and court systems' servers.
    pub server_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Who may call: tenants, roles, token issuers and keys.
    #[serde(default = "default_tenants")]
    pub tenants: PathBuf,
    /// The `aud` every token must carry.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Clock skew tolerated on a token's `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            tenants: default_tenants(),
            audience: default_audience(),
            leeway_seconds: default_leeway(),
        }
    }
}

fn default_tenants() -> PathBuf {
    PathBuf::from("config/tenants.toml")
}
fn default_audience() -> String {
    "mediation-gateway".to_owned()
}
fn default_leeway() -> u64 {
    60
}

/// Limits on what one call may carry and how often a tenant may call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub max_message_bytes: usize,
    pub max_batch: usize,
    pub max_parties: usize,
    pub max_claims: usize,
    pub max_documents: usize,
    /// Requests per second per tenant, unless the tenant sets its own.
    pub rate_per_second: u32,
    /// Requests a tenant may make at once before the rate applies.
    pub rate_burst: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let l = mediation_api::limits::Limits::default();
        Self {
            max_message_bytes: l.max_message_bytes,
            max_batch: l.max_batch,
            max_parties: l.max_parties,
            max_claims: l.max_claims,
            max_documents: l.max_documents,
            rate_per_second: 200,
            rate_burst: 400,
        }
    }
}

impl LimitSettings {
    pub fn limits(&self) -> mediation_api::limits::Limits {
        mediation_api::limits::Limits {
            max_batch: self.max_batch,
            max_parties: self.max_parties,
            max_claims: self.max_claims,
            max_documents: self.max_documents,
            max_message_bytes: self.max_message_bytes,
        }
    }
}

/// How one court system takes deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CourtEndpoint {
    Grpc(String),
    Webhook(String),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerAddresses {
    pub ccpit: Option<String>,
    pub labour: Option<String>,
    pub road_traffic: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachSetting {
    ReturnToCourt,
    Reroute,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let config: Config = toml::from_str(&read(path)?).map_err(|e| ConfigError::Invalid {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        config
            .check_limits()
            .map_err(|message| ConfigError::Invalid {
                path: path.to_owned(),
                message,
            })?;
        Ok(config)
    }

    fn check_limits(&self) -> Result<(), String> {
        let l = &self.limits;
        for (key, value) in [
            ("max_message_bytes", l.max_message_bytes),
            ("max_batch", l.max_batch),
            ("max_parties", l.max_parties),
            ("max_claims", l.max_claims),
            ("max_documents", l.max_documents),
            ("rate_per_second", l.rate_per_second as usize),
            ("rate_burst", l.rate_burst as usize),
        ] {
            if value == 0 {
                return Err(format!("limits.{key}: must be at least 1"));
            }
        }
        // An upload chunk (1 MiB) and its framing must fit in one message.
        let chunk = mediation_api::documents::MAX_CHUNK + 1024;
        if l.max_message_bytes < chunk {
            return Err(format!(
                "limits.max_message_bytes: must be at least {chunk} so that an upload chunk fits"
            ));
        }
        Ok(())
    }

    /// Where the development profile keeps its generated PKI.
    pub fn dev_pki_dir(&self) -> PathBuf {
        self.data_dir.join("dev-pki")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    pub fn documents_dir(&self) -> PathBuf {
        self.data_dir.join("documents")
    }

    /// The court addresses, with their codes checked.
    pub fn court_addresses(
        &self,
        path: &Path,
    ) -> Result<BTreeMap<CourtCode, CourtAddress>, ConfigError> {
        self.courts
            .iter()
            .map(|(code, endpoint)| {
                let court = CourtCode::parse(code).map_err(|e| ConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!("courts.{code}: {e}"),
                })?;
                let address = match endpoint {
                    CourtEndpoint::Grpc(url) => CourtAddress::Grpc(url.clone()),
                    CourtEndpoint::Webhook(url) => CourtAddress::Webhook(url.clone()),
                };
                Ok((court, address))
            })
            .collect()
    }

    pub fn policies(&self) -> Policies {
        let mut policies = Policies::default();
        for (partner, setting) in &self.acceptance_breach {
            policies.partners.insert(
                *partner,
                PartnerPolicy {
                    acceptance_breach: match setting {
                        BreachSetting::ReturnToCourt => BreachAction::ReturnToCourt,
                        BreachSetting::Reroute => BreachAction::Reroute,
                    },
                    ..PartnerPolicy::default()
                },
            );
        }
        policies
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    organisation: Vec<RosterEntry>,
}

/// Reads the roster: every entry checked, ids unique.
pub fn load_roster(path: &Path) -> Result<Vec<RosterEntry>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file: RosterFile = toml::from_str(&read(path)?).map_err(|e| invalid(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for (i, entry) in file.organisation.iter().enumerate() {
        if !seen.insert(&entry.id) {
            return Err(invalid(format!(
                "organisation[{i}].id: {} is listed twice",
                entry.id
            )));
        }
        if entry.domains.is_empty() {
            return Err(invalid(format!(
                "organisation[{i}].domains: {} accepts no kind of dispute",
                entry.id
            )));
        }
    }
    Ok(file.organisation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_shipped_configuration_and_roster_load() {
        let path = repo().join("config/gateway.toml");
        let config = Config::load(&path).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.court_addresses(&path).unwrap().len(), 1);
        let roster = load_roster(&repo().join(&config.roster)).unwrap();
        let partners: BTreeSet<Partner> = roster.iter().map(|e| e.partner).collect();
        assert_eq!(partners.len(), 3, "every platform has an organisation");
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(
            &path,
            "[[organisation]]\nid = \"o1\"\nname = \"甲\"\npartner = \"fax\"\nconfirmed_by = \"京\"\nregion = \"京01\"\ndomains = [\"commercial\"]\ncapacity = 1\n",
        )
        .unwrap();
        let e = load_roster(&path).unwrap_err().to_string();
        assert!(e.contains("roster.toml") && e.contains("fax"), "{e}");
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\ncalendar_dir = \"c\"\nroster = \"r\"\n[courts]\n\"X1\" = { grpc = \"http://x\" }\n").unwrap();
        let config = Config::load(&path).unwrap();
        let e = config.court_addresses(&path).unwrap_err().to_string();
        assert!(e.contains("courts.X1"), "{e}");
    }
}
