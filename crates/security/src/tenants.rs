//! The tenants file: every court system, partner platform and operator team
//! allowed to call the gateway, what it may act for, and how its tokens are
//! checked. Nothing not named here gets in.
//!
//! ```toml
//! [[tenant]]
//! id = "court-bj"                 # the certificate's common name
//! role = "court_system"
//! courts = ["京"]
//! lower_courts = true             # and every court the registry puts below
//! issuer = "https://court-bj.example/"
//! jwks = "keys/court-bj.jwks.json"
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use mediation_core::access::Role;
use mediation_core::court::{CourtCode, CourtRegistry};
use mediation_core::ids::OrganisationId;
use mediation_core::partner::Partner;
use serde::Deserialize;

use crate::keys::{KeyError, KeySet, PemKey};

#[derive(Debug, thiserror::Error)]
pub enum TenantsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: tenant {tenant:?}: {message}")]
    Tenant {
        path: PathBuf,
        tenant: String,
        message: String,
    },
    #[error("{path}: tenant {tenant:?}: {source}")]
    Keys {
        path: PathBuf,
        tenant: String,
        source: KeyError,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    tenant: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    role: RoleName,
    #[serde(default)]
    courts: Vec<String>,
    #[serde(default)]
    lower_courts: bool,
    partner: Option<String>,
    #[serde(default)]
    organisations: Vec<String>,
    issuer: String,
    jwks: Option<PathBuf>,
    #[serde(default)]
    pem: Vec<PemKey>,
    /// Requests per second this tenant may make; the gateway default if unset.
    rate_per_second: Option<u32>,
    /// For operators: may watch and read, never acknowledge, replay or move
    /// a sandbox's clock.
    #[serde(default)]
    read_only: bool,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RoleName {
    CourtSystem,
    Platform,
    Operator,
}

/// One tenant: its role, its token issuer and its verification keys.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: String,
    pub role: Role,
    pub issuer: String,
    pub keys: KeySet,
    pub rate_per_second: Option<u32>,
}

/// Every tenant, by id and by token issuer.
#[derive(Debug, Clone, Default)]
pub struct Tenants {
    by_id: BTreeMap<String, Tenant>,
    by_issuer: BTreeMap<String, String>,
}

impl Tenants {
    /// Reads the tenants file and every key file it names. Relative key paths
    /// are taken from the working directory, like every path in the config.
    /// A court system's courts must be in `courts`, which also says which
    /// courts are below them.
    pub fn load(path: &Path, courts: &CourtRegistry) -> Result<Self, TenantsError> {
        let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: File = toml::from_str(&text).map_err(|e| TenantsError::Parse {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let mut tenants = Tenants::default();
        for entry in file.tenant {
            let fail = |message: String| TenantsError::Tenant {
                path: path.to_owned(),
                tenant: entry.id.clone(),
                message,
            };
            let role = role_of(&entry, courts).map_err(fail)?;
            let keys = KeySet::load(entry.jwks.as_deref(), &entry.pem).map_err(|source| {
                TenantsError::Keys {
                    path: path.to_owned(),
                    tenant: entry.id.clone(),
                    source,
                }
            })?;
            let tenant = Tenant {
                id: entry.id.clone(),
                role,
                issuer: entry.issuer.clone(),
                keys,
                rate_per_second: entry.rate_per_second,
            };
            tenants.insert(tenant).map_err(fail)?;
        }
        Ok(tenants)
    }

    /// Adds a tenant; ids and issuers must be unique.
    pub fn insert(&mut self, tenant: Tenant) -> Result<(), String> {
        if tenant.id.trim().is_empty() || tenant.id.len() > 64 {
            return Err("id must be 1 to 64 characters".into());
        }
        if self.by_id.contains_key(&tenant.id) {
            return Err("appears twice".into());
        }
        if tenant.issuer.trim().is_empty() {
            return Err("issuer must not be empty".into());
        }
        if let Some(other) = self.by_issuer.get(&tenant.issuer) {
            return Err(format!("shares its issuer with tenant {other:?}"));
        }
        if tenant.rate_per_second == Some(0) {
            return Err("rate_per_second must be at least 1".into());
        }
        self.by_issuer
            .insert(tenant.issuer.clone(), tenant.id.clone());
        self.by_id.insert(tenant.id.clone(), tenant);
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Tenant> {
        self.by_id.get(id)
    }

    pub fn by_issuer(&self, issuer: &str) -> Option<&Tenant> {
        self.by_issuer.get(issuer).and_then(|id| self.by_id.get(id))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tenant> {
        self.by_id.values()
    }
}

fn role_of(entry: &Entry, registry: &CourtRegistry) -> Result<Role, String> {
    let only = |present: bool, key: &str| {
        if present {
            Err(format!("{key} does not apply to role {:?}", entry.role))
        } else {
            Ok(())
        }
    };
    match entry.role {
        RoleName::CourtSystem => {
            only(entry.read_only, "read_only")?;
            only(entry.partner.is_some(), "partner")?;
            only(!entry.organisations.is_empty(), "organisations")?;
            if entry.courts.is_empty() {
                return Err("a court system must name its courts".into());
            }
            let courts = entry
                .courts
                .iter()
                .map(|c| CourtCode::parse(c).map_err(|e| format!("courts: {c:?} {e}")))
                .collect::<Result<BTreeSet<_>, _>>()?;
            Role::court_system(courts, entry.lower_courts, registry)
                .map_err(|e| format!("courts: {e}"))
        }
        RoleName::Platform => {
            only(entry.read_only, "read_only")?;
            only(!entry.courts.is_empty(), "courts")?;
            only(entry.lower_courts, "lower_courts")?;
            let partner = entry
                .partner
                .as_deref()
                .ok_or("a platform must name its partner")?;
            let partner = match (Partner::parse(partner), Partner::old_spelling(partner)) {
                (Ok(p), _) => p,
                (Err(_), Some(p)) => {
                    tracing::warn!(
                        tenant = %entry.id,
                        "partner = {partner:?} is the old name of {:?}; rename it in the tenants file",
                        p.as_str()
                    );
                    p
                }
                (Err(e), None) => return Err(format!("partner: {partner:?} {e}")),
            };
            let organisations = entry
                .organisations
                .iter()
                .map(|o| OrganisationId::parse(o).map_err(|e| format!("organisations: {o:?} {e}")))
                .collect::<Result<BTreeSet<_>, _>>()?;
            Ok(Role::Platform {
                partner,
                organisations,
            })
        }
        RoleName::Operator => {
            only(!entry.courts.is_empty(), "courts")?;
            only(entry.lower_courts, "lower_courts")?;
            only(entry.partner.is_some(), "partner")?;
            only(!entry.organisations.is_empty(), "organisations")?;
            Ok(Role::Operator {
                read_only: entry.read_only,
            })
        }
    }
}

/// The ids in a tenants file, without loading its keys: the development
/// PKI needs them before the keys exist.
pub fn tenant_ids(path: &Path) -> Result<Vec<String>, TenantsError> {
    #[derive(Deserialize)]
    struct Ids {
        #[serde(default)]
        tenant: Vec<Id>,
    }
    #[derive(Deserialize)]
    struct Id {
        id: String,
    }
    let text = std::fs::read_to_string(path).map_err(|source| TenantsError::Read {
        path: path.to_owned(),
        source,
    })?;
    let ids: Ids = toml::from_str(&text).map_err(|e| TenantsError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    Ok(ids.tenant.into_iter().map(|t| t.id).collect())
}
