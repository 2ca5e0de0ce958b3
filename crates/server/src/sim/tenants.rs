//! Tenants files for simulations, from typed entries: who each simulated
//! court system, platform and operator is, and where its token keys are.

use std::path::PathBuf;

use mediation_core::partner::Partner;
use toml::{Table, Value};

/// One tenant's role.
#[derive(Debug, Clone)]
pub enum SimRole {
    /// A court system acting for `courts` (and, with `lower_courts`, every
    /// court under them).
    CourtSystem {
        courts: Vec<&'static str>,
        lower_courts: bool,
    },
    /// A partner platform, for all its organisations or only `organisations`.
    Platform {
        partner: Partner,
        organisations: Vec<&'static str>,
    },
    /// Operators; `read_only` ones may only read and watch.
    Operator { read_only: bool },
}

/// One tenant.
#[derive(Debug, Clone)]
pub struct SimTenant {
    pub id: &'static str,
    pub role: SimRole,
    /// Its own request rate, instead of the gateway's default.
    pub rate_per_second: Option<u32>,
}

impl SimTenant {
    pub const fn new(id: &'static str, role: SimRole) -> Self {
        Self {
            id,
            role,
            rate_per_second: None,
        }
    }

    /// A court system for one court and every court under it.
    pub fn court_system(id: &'static str, court: &'static str) -> Self {
        Self::new(
            id,
            SimRole::CourtSystem {
                courts: vec![court],
                lower_courts: true,
            },
        )
    }

    /// A platform acting for every organisation of its partner.
    pub fn platform(id: &'static str, partner: Partner) -> Self {
        Self::new(
            id,
            SimRole::Platform {
                partner,
                organisations: Vec::new(),
            },
        )
    }

    pub fn operator(id: &'static str) -> Self {
        Self::new(id, SimRole::Operator { read_only: false })
    }

    /// Operators who may read and watch, and act on nothing.
    pub fn read_only_operator(id: &'static str) -> Self {
        Self::new(id, SimRole::Operator { read_only: true })
    }

    pub fn with_rate(mut self, per_second: u32) -> Self {
        self.rate_per_second = Some(per_second);
        self
    }

    fn entry(&self, issuer: &str, jwks: PathBuf) -> Table {
        let mut t = Table::new();
        t.insert("id".into(), self.id.into());
        let strings = |xs: &[&str]| Value::Array(xs.iter().map(|x| (*x).into()).collect());
        match &self.role {
            SimRole::CourtSystem {
                courts,
                lower_courts,
            } => {
                t.insert("role".into(), "court_system".into());
                t.insert("courts".into(), strings(courts));
                t.insert("lower_courts".into(), (*lower_courts).into());
            }
            SimRole::Platform {
                partner,
                organisations,
            } => {
                t.insert("role".into(), "platform".into());
                t.insert("partner".into(), partner.as_str().into());
                if !organisations.is_empty() {
                    t.insert("organisations".into(), strings(organisations));
                }
            }
            SimRole::Operator { read_only } => {
                t.insert("role".into(), "operator".into());
                if *read_only {
                    t.insert("read_only".into(), true.into());
                }
            }
        }
        if let Some(rate) = self.rate_per_second {
            t.insert("rate_per_second".into(), i64::from(rate).into());
        }
        t.insert("issuer".into(), issuer.into());
        t.insert("jwks".into(), jwks.display().to_string().into());
        t
    }
}

/// The tenants file for `tenants`: each with its issuer and the JWKS file
/// of its token keys.
pub fn tenants_file(
    tenants: &[SimTenant],
    issuer: impl Fn(&str) -> String,
    jwks: impl Fn(&str) -> PathBuf,
) -> String {
    let entries: Vec<Value> = tenants
        .iter()
        .map(|t| Value::Table(t.entry(&issuer(t.id), jwks(t.id))))
        .collect();
    let mut file = Table::new();
    file.insert("tenant".into(), Value::Array(entries));
    file.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_is_one_the_gateway_reads() {
        let dir = tempfile::tempdir().unwrap();
        let pki = mediation_security::pki::DevelopmentPki::new(dir.path().join("pki"));
        mediation_security::install_crypto_provider();
        let ids = ["court-bj".to_owned(), "ccpit".to_owned(), "ops".to_owned()];
        pki.generate(&ids, jiff::Timestamp::now()).unwrap();
        let text = tenants_file(
            &[
                SimTenant::court_system("court-bj", "京").with_rate(3),
                SimTenant::platform("ccpit", Partner::Ccpit),
                SimTenant::operator("ops"),
            ],
            |id| format!("https://{id}.test.invalid/"),
            |id| pki.jwks(id),
        );
        let file = dir.path().join("tenants.toml");
        std::fs::write(&file, &text).unwrap();
        let courts = crate::config::load_courts(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/courts.toml"),
        )
        .unwrap();
        let tenants = mediation_security::tenants::Tenants::load(&file, &courts).unwrap();
        assert_eq!(tenants.len(), 3, "{text}");
    }
}
