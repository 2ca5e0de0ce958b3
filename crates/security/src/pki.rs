//! The development PKI: a throwaway CA, a certificate for the gateway, a
//! client certificate and a token signing key for every tenant. The
//! development profile writes it on first start so that a fresh clone runs
//! with mutual TLS and tokens and no manual step; production profiles never
//! generate keys.
//!
//! Everything is ECDSA P-256 (ES256 for tokens), made with rcgen on aws-lc-rs.

use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};

/// The UTC date `days` after `now`, as year, month and day.
fn ymd(now: Timestamp, days: i64) -> Result<(i32, u8, u8), PkiError> {
    let when = now
        .checked_add(SignedDuration::from_hours(24 * days))
        .map_err(|e| PkiError::Generate(e.to_string()))?;
    let date = when.to_zoned(TimeZone::UTC).date();
    Ok((
        i32::from(date.year()),
        date.month().unsigned_abs(),
        date.day().unsigned_abs(),
    ))
}

macro_rules! day {
    ($now:expr, $days:expr) => {{
        let (y, m, d) = ymd($now, $days)?;
        rcgen::date_time_ymd(y, m, d)
    }};
}

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("cannot generate: {0}")]
    Generate(String),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl From<rcgen::Error> for PkiError {
    fn from(e: rcgen::Error) -> Self {
        PkiError::Generate(e.to_string())
    }
}

/// A certificate and its private key, both PEM.
#[derive(Debug, Clone)]
pub struct Issued {
    pub certificate_pem: String,
    pub key_pem: String,
}

/// A certificate authority that can issue certificates.
pub struct Authority {
    params: CertificateParams,
    key: KeyPair,
    certificate_pem: String,
}

impl std::fmt::Debug for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authority").finish_non_exhaustive()
    }
}

impl Authority {
    /// A new self-signed CA, valid for ten years from the day before `now`.
    pub fn new(common_name: &str, now: Timestamp) -> Result<Self, PkiError> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params.distinguished_name = name(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = day!(now, -1);
        params.not_after = day!(now, 3650);
        let key = KeyPair::generate()?;
        let certificate_pem = params.self_signed(&key)?.pem();
        Ok(Self {
            params,
            key,
            certificate_pem,
        })
    }

    pub fn certificate_pem(&self) -> &str {
        &self.certificate_pem
    }

    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A certificate for `common_name`, usable as a TLS server (for
    /// `localhost`, 127.0.0.1 and ::1) and as a TLS client, valid from
    /// `from_days` to `to_days` days after `now`.
    pub fn issue(
        &self,
        common_name: &str,
        now: Timestamp,
        from_days: i64,
        to_days: i64,
    ) -> Result<Issued, PkiError> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned()])?;
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
        params
            .subject_alt_names
            .push(SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()));
        // The name is also a DNS name of the certificate, so that a client
        // can require this identity of a server (a partner's server name).
        if let Ok(dns) = common_name.try_into()
            && common_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            params.subject_alt_names.push(SanType::DnsName(dns));
        }
        params.distinguished_name = name(common_name);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = day!(now, from_days);
        params.not_after = day!(now, to_days);
        let key = KeyPair::generate()?;
        let issuer = Issuer::new(self.params.clone(), &self.key);
        let cert = params.signed_by(&key, &issuer)?;
        Ok(Issued {
            certificate_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A token signing key: the private key for the tenant, the public JWKS for
/// the gateway.
#[derive(Debug, Clone)]
pub struct TokenKey {
    pub kid: String,
    pub private_pem: String,
    pub jwks_json: String,
}

impl TokenKey {
    pub fn generate(kid: &str) -> Result<Self, PkiError> {
        let key = KeyPair::generate()?;
        let private_pem = key.serialize_pem();
        let encoding = EncodingKey::from_ec_pem(private_pem.as_bytes())
            .map_err(|e| PkiError::Generate(e.to_string()))?;
        let mut jwk = Jwk::from_encoding_key(&encoding, Algorithm::ES256)
            .map_err(|e| PkiError::Generate(e.to_string()))?;
        jwk.common.key_id = Some(kid.to_owned());
        let jwks_json = serde_json::to_string_pretty(&JwkSet { keys: vec![jwk] })
            .map_err(|e| PkiError::Generate(e.to_string()))?;
        Ok(Self {
            kid: kid.to_owned(),
            private_pem,
            jwks_json,
        })
    }
}

/// The files of a development PKI in `dir`.
#[derive(Debug, Clone)]
pub struct DevelopmentPki {
    pub dir: PathBuf,
}

impl DevelopmentPki {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    pub fn certificate(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.pem"))
    }
    pub fn key(&self, who: &str) -> PathBuf {
        self.dir.join(format!("{who}.key.pem"))
    }
    pub fn token_key(&self, tenant: &str) -> PathBuf {
        self.dir.join(format!("{tenant}.token.key.pem"))
    }
    pub fn jwks(&self, tenant: &str) -> PathBuf {
        self.dir.join(format!("{tenant}.jwks.json"))
    }
    /// The key id of a tenant's development token key.
    pub fn kid(tenant: &str) -> String {
        format!("{tenant}-dev-1")
    }

    /// Whether the CA, the gateway's certificate and every tenant's files
    /// are all present.
    pub fn is_complete(&self, tenants: &[String]) -> bool {
        let mut files = vec![self.ca(), self.certificate("gateway"), self.key("gateway")];
        for t in tenants {
            files.extend([
                self.certificate(t),
                self.key(t),
                self.token_key(t),
                self.jwks(t),
            ]);
        }
        files.iter().all(|f| f.is_file())
    }

    /// Writes a new CA, a certificate for the gateway, and a certificate and
    /// a token key for each tenant, replacing whatever was there. Private
    /// keys are readable by the owner only.
    pub fn generate(&self, tenants: &[String], now: Timestamp) -> Result<(), PkiError> {
        std::fs::create_dir_all(&self.dir).map_err(|source| PkiError::Write {
            path: self.dir.clone(),
            source,
        })?;
        let ca = Authority::new("mediation-gateway development CA", now)?;
        write(&self.ca(), ca.certificate_pem(), false)?;
        write(&self.dir.join("ca.key.pem"), &ca.key_pem(), true)?;
        for who in std::iter::once("gateway").chain(tenants.iter().map(String::as_str)) {
            let issued = ca.issue(who, now, -1, 825)?;
            write(&self.certificate(who), &issued.certificate_pem, false)?;
            write(&self.key(who), &issued.key_pem, true)?;
        }
        for tenant in tenants {
            let key = TokenKey::generate(&Self::kid(tenant))?;
            write(&self.token_key(tenant), &key.private_pem, true)?;
            write(&self.jwks(tenant), &key.jwks_json, false)?;
        }
        Ok(())
    }
}

fn name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

fn write(path: &Path, contents: &str, private: bool) -> Result<(), PkiError> {
    let fail = |source| PkiError::Write {
        path: path.to_owned(),
        source,
    };
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(contents.as_bytes()).map_err(fail)?;
    file.sync_all().map_err(fail)
}
