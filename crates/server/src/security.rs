//! Transport security and authentication, from the configuration: the
//! listener's TLS, outgoing connections, the development PKI, the tenants
//! and the call guard's parts.
//!
//! The rules enforced at start:
//! - `tls.mode = "mutual"` (the default): the listener requires client
//!   certificates from `client_ca`, and every destination is `https://`.
//! - `tls.mode = "plaintext"`: allowed only when the listener and every
//!   destination are on loopback; otherwise the gateway refuses to start and
//!   says which address is not.
//! - TLS files left unset are the development PKI's, under
//!   `<data_dir>/dev-pki`. The development profile writes it when it is
//!   missing; the production profile refuses to start instead.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use jiff::Timestamp;
use mediation_api::outbound::Outbound;
use mediation_core::clock::Clock;
use mediation_core::court::CourtRegistry;
use mediation_security::pki::DevelopmentPki;
use mediation_security::rate::RateLimits;
use mediation_security::tenants::tenant_ids;
use mediation_security::tokens::TokenPolicy;
use mediation_security::{Authenticator, Tenants};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

use mediation_api::court::CourtAddress;

use crate::config::{Config, Profile, TlsMode};

/// The TLS files in use.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
    pub client_ca: PathBuf,
    pub server_ca: PathBuf,
}

/// Everything security the assembly needs.
#[derive(Debug)]
pub struct Security {
    pub authenticator: Arc<Authenticator>,
    pub limits: Arc<RateLimits>,
    pub outbound: Outbound,
    /// `None` on a plaintext loopback listener.
    pub server_tls: Option<ServerTlsConfig>,
    /// The console's TLS: the gateway's own certificate, no client
    /// certificate asked for (operators log in with a token), HTTP/1.1.
    /// `None` with `tls.mode = "plaintext"`, which keeps it on loopback.
    pub console_tls: Option<Arc<rustls::ServerConfig>>,
}

impl Security {
    /// Checks the transport rules, prepares the development PKI when the
    /// profile allows, and loads certificates, keys and tenants.
    pub fn build(
        config: &Config,
        courts: &CourtRegistry,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        mediation_security::install_crypto_provider();
        check_addresses(config)?;
        let files = match config.tls.mode {
            TlsMode::Mutual => Some(tls_files(config, clock.now())?),
            TlsMode::Plaintext => None,
        };
        let tenants = Tenants::load(&config.auth.tenants, courts)?;
        if tenants.is_empty() {
            tracing::warn!(file = %config.auth.tenants.display(), "no tenants: every call will be refused");
        }
        let policy = TokenPolicy {
            audience: config.auth.audience.clone(),
            leeway_seconds: config.auth.leeway_seconds,
        };
        let authenticator = Arc::new(Authenticator::new(
            tenants,
            policy,
            Arc::clone(&clock),
            files.is_some(),
        ));
        let l = &config.limits;
        let limits = Arc::new(RateLimits::new(
            NonZeroU32::new(l.rate_per_second).unwrap_or(NonZeroU32::MIN),
            NonZeroU32::new(l.rate_burst).unwrap_or(NonZeroU32::MIN),
            clock,
        ));
        let (outbound, server_tls, console_tls) = match &files {
            None => (Outbound::plaintext(), None, None),
            Some(f) => {
                let certificate = read(&f.certificate)?;
                let key = read(&f.private_key)?;
                let outbound = Outbound::tls(read(&f.server_ca)?, certificate.clone(), key.clone());
                let console = console_tls(&certificate, &key).with_context(|| {
                    format!("the console's TLS from {}", f.certificate.display())
                })?;
                // A client that does not finish its handshake in time is
                // dropped: idle TCP connections cannot pile up.
                let server = ServerTlsConfig::new()
                    .identity(Identity::from_pem(certificate, key))
                    .client_ca_root(Certificate::from_pem(read(&f.client_ca)?))
                    .timeout(std::time::Duration::from_secs(
                        config.limits.tls_handshake_timeout_seconds,
                    ));
                (outbound, Some(server), Some(console))
            }
        };
        Ok(Self {
            authenticator,
            limits,
            outbound,
            server_tls,
            console_tls,
        })
    }
}

/// A TLS server configuration for the console from the gateway's PEM
/// certificate chain and key.
fn console_tls(certificate: &[u8], key: &[u8]) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(certificate)
        .collect::<Result<Vec<_>, _>>()
        .context("the certificate chain is not PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key).context("the private key is not PEM")?;
    let mut config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

/// The TLS files: the configured ones, or the development PKI's.
fn tls_files(config: &Config, now: Timestamp) -> anyhow::Result<TlsFiles> {
    let t = &config.tls;
    let pki = DevelopmentPki::new(config.dev_pki_dir());
    let unset = t.certificate.is_none()
        || t.private_key.is_none()
        || t.client_ca.is_none()
        || t.server_ca.is_none();
    if unset {
        match config.profile {
            Profile::Production => bail!(
                "tls.certificate, tls.private_key, tls.client_ca and tls.server_ca must all be set in the production profile; it never generates keys"
            ),
            Profile::Development => {
                ensure_dev_pki(config, &pki, now)?;
            }
        }
    }
    let files = TlsFiles {
        certificate: t
            .certificate
            .clone()
            .unwrap_or_else(|| pki.certificate("gateway")),
        private_key: t.private_key.clone().unwrap_or_else(|| pki.key("gateway")),
        client_ca: t.client_ca.clone().unwrap_or_else(|| pki.ca()),
        server_ca: t.server_ca.clone().unwrap_or_else(|| pki.ca()),
    };
    for (key, path) in [
        ("tls.certificate", &files.certificate),
        ("tls.private_key", &files.private_key),
        ("tls.client_ca", &files.client_ca),
        ("tls.server_ca", &files.server_ca),
    ] {
        if !path.is_file() {
            bail!("{key}: {} does not exist", path.display());
        }
    }
    Ok(files)
}

/// Checks what [`Security::build`] would, without writing anything: the
/// transport rules, the TLS files and the tenants. Returns a line about each.
pub fn check(config: &Config, courts: &CourtRegistry) -> anyhow::Result<Vec<String>> {
    mediation_security::install_crypto_provider();
    check_addresses(config)?;
    let mut notes = Vec::new();
    let tenant_list = tenant_ids(&config.auth.tenants)?;
    let pki = DevelopmentPki::new(config.dev_pki_dir());
    let generated_later = config.profile == Profile::Development && !pki.is_complete(&tenant_list);
    match config.tls.mode {
        TlsMode::Plaintext => notes.push("transport: PLAINTEXT, loopback only".to_owned()),
        TlsMode::Mutual => {
            let t = &config.tls;
            let unset = t.certificate.is_none()
                || t.private_key.is_none()
                || t.client_ca.is_none()
                || t.server_ca.is_none();
            if unset && generated_later {
                notes.push(format!(
                    "transport: mutual TLS with a development PKI to be written to {} on first start",
                    pki.dir.display()
                ));
            } else {
                let files = tls_files(config, Timestamp::now())?;
                let ca = read(&files.client_ca)?;
                Certificate::from_pem(&ca);
                notes.push(format!(
                    "transport: mutual TLS; certificate {}, client CA {}, server CA {}",
                    files.certificate.display(),
                    files.client_ca.display(),
                    files.server_ca.display()
                ));
            }
        }
    }
    if generated_later {
        // Their development keys do not exist yet; the list itself is read.
        notes.push(format!(
            "tenants: {} in {} (development token keys written on first start)",
            tenant_list.len(),
            config.auth.tenants.display()
        ));
    } else {
        let tenants = Tenants::load(&config.auth.tenants, courts)?;
        notes.push(format!(
            "tenants: {} in {}",
            tenants.len(),
            config.auth.tenants.display()
        ));
    }
    Ok(notes)
}

/// Writes the development PKI if any of its files is missing.
pub fn ensure_dev_pki(
    config: &Config,
    pki: &DevelopmentPki,
    now: Timestamp,
) -> anyhow::Result<bool> {
    let tenants = tenant_ids(&config.auth.tenants)?;
    if pki.is_complete(&tenants) {
        return Ok(false);
    }
    tracing::warn!(dir = %pki.dir.display(), "development profile: generating a throwaway CA, certificates and token keys");
    pki.generate(&tenants, now)?;
    Ok(true)
}

/// Plaintext only on loopback; TLS addresses only with TLS.
fn check_addresses(config: &Config) -> anyhow::Result<()> {
    let plaintext = config.tls.mode == TlsMode::Plaintext;
    if plaintext && !config.listen.ip().is_loopback() {
        bail!(
            "listen = {}: tls.mode = \"plaintext\" is allowed only on a loopback address; use mutual TLS to listen elsewhere",
            config.listen
        );
    }
    if let Some(console) = config.console.listen
        && plaintext
        && !console.ip().is_loopback()
    {
        bail!(
            "console.listen = {console}: tls.mode = \"plaintext\" serves the console without TLS, which is allowed only on a loopback address"
        );
    }
    let p = &config.partners;
    let mut destinations: Vec<(String, &str)> = Vec::new();
    for (key, url) in [
        ("partners.ccpit", &p.ccpit),
        ("partners.labour_arbitration", &p.labour_arbitration),
        ("partners.road_traffic", &p.road_traffic),
    ] {
        if let Some(url) = url {
            destinations.push((key.to_owned(), url));
        }
    }
    for (court, endpoint) in &config.courts {
        let url = match endpoint {
            CourtAddress::Grpc(u) | CourtAddress::Webhook(u) => u,
        };
        destinations.push((format!("courts.{court}"), url));
    }
    for (key, url) in destinations {
        let https = url.starts_with("https://");
        if plaintext && !is_loopback_url(url) {
            bail!(
                "{key} = {url:?}: tls.mode = \"plaintext\" allows only loopback destinations; use mutual TLS to reach other hosts"
            );
        }
        if !plaintext && !https {
            bail!("{key} = {url:?}: must be an https:// address; outgoing connections use TLS");
        }
    }
    // With TLS every platform names the identity its server must present:
    // trusting the CA alone would let one partner's server, put at another's
    // address, receive that partner's cases.
    if !plaintext {
        let names = &p.server_names;
        for (key, url, name) in [
            ("ccpit", &p.ccpit, &names.ccpit),
            (
                "labour_arbitration",
                &p.labour_arbitration,
                &names.labour_arbitration,
            ),
            ("road_traffic", &p.road_traffic, &names.road_traffic),
        ] {
            if url.is_some() && name.as_deref().is_none_or(str::is_empty) {
                bail!(
                    "partners.server_names.{key}: name the identity the {key} platform's server certificate must carry (a DNS name in it); with TLS, a certificate from server_ca alone is not enough"
                );
            }
        }
    }
    Ok(())
}

fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    match parsed.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}
