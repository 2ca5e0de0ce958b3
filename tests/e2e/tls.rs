//! The tests' PKI and authenticated clients: every simulated court system and
//! platform is a tenant with a client certificate from the test CA and
//! tokens signed with its own key, exactly as in production.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::{SignedDuration, Timestamp};
use jsonwebtoken::Algorithm;
use mediation_core::access::Caller;
use mediation_core::partner::Partner;
use mediation_gateway::sim::{SimRole, SimTenant, tenants_file};
use mediation_security::pki::DevelopmentPki;
use mediation_security::tokens::{Claims, sign};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, ServerTlsConfig,
};
use tonic::{Request, Status};

/// Every tenant the tests know.
pub(crate) fn tenants() -> Vec<SimTenant> {
    vec![
        SimTenant::court_system("court-bj", "京"),
        SimTenant::court_system("court-sh", "沪"),
        SimTenant::platform("ccpit", Partner::Ccpit),
        SimTenant::new(
            "ccpit-sh",
            SimRole::Platform {
                partner: Partner::Ccpit,
                organisations: vec!["ccpit-sh-01"],
            },
        ),
        SimTenant::platform("labour", Partner::LabourArbitration),
        SimTenant::platform("traffic", Partner::RoadTraffic),
        SimTenant::operator("operators"),
        SimTenant::court_system("court-bj-slow", "京").with_rate(3),
    ]
}

pub(crate) fn issuer(tenant: &str) -> String {
    format!("https://{tenant}.test.invalid/")
}

/// A CA, a certificate for the gateway and for each tenant, and each
/// tenant's token key, in a directory.
#[derive(Debug, Clone)]
pub(crate) struct TestPki {
    pki: DevelopmentPki,
}

impl TestPki {
    pub(crate) fn generate(dir: &Path) -> Self {
        mediation_security::install_crypto_provider();
        let pki = DevelopmentPki::new(dir.join("pki"));
        let ids: Vec<String> = tenants().iter().map(|t| t.id.to_owned()).collect();
        pki.generate(&ids, Timestamp::now()).unwrap();
        Self { pki }
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.pki.dir.join(file)
    }

    /// The tenants file naming every test tenant.
    pub(crate) fn tenants_toml(&self) -> String {
        tenants_file(&tenants(), issuer, |id| self.pki.jwks(id))
    }

    fn read(&self, path: PathBuf) -> Vec<u8> {
        std::fs::read(path).unwrap()
    }

    pub(crate) fn ca_pem(&self) -> Vec<u8> {
        self.read(self.pki.ca())
    }

    pub(crate) fn identity(&self, who: &str) -> Identity {
        Identity::from_pem(
            self.read(self.pki.certificate(who)),
            self.read(self.pki.key(who)),
        )
    }

    /// A server that presents `who`'s certificate and requires clients to
    /// present one from the test CA: the simulated platforms and courts.
    pub(crate) fn server_tls(&self, who: &str) -> ServerTlsConfig {
        ServerTlsConfig::new()
            .identity(self.identity(who))
            .client_ca_root(Certificate::from_pem(self.ca_pem()))
    }

    /// The same for a plain rustls server (the webhook court).
    pub(crate) fn rustls_server(&self, who: &str) -> Arc<rustls::ServerConfig> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for ca in CertificateDer::pem_slice_iter(&self.ca_pem()) {
            roots.add(ca.unwrap()).unwrap();
        }
        let verifier = rustls::server::WebPkiClientVerifier::builder(Arc::new(roots))
            .build()
            .unwrap();
        let chain = CertificateDer::pem_file_iter(self.pki.certificate(who))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let key = PrivateKeyDer::from_pem_file(self.pki.key(who)).unwrap();
        Arc::new(
            rustls::ServerConfig::builder()
                .with_client_cert_verifier(verifier)
                .with_single_cert(chain, key)
                .unwrap(),
        )
    }

    /// A client configuration presenting `who`'s certificate.
    pub(crate) fn client_tls(&self, who: Option<&str>) -> ClientTlsConfig {
        let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(self.ca_pem()));
        match who {
            Some(who) => tls.identity(self.identity(who)),
            None => tls,
        }
    }

    /// `claims` signed with `tenant`'s token key.
    pub(crate) fn sign(&self, tenant: &str, claims: &Claims) -> String {
        let key = self.read(self.pki.token_key(tenant));
        sign(claims, &DevelopmentPki::kid(tenant), Algorithm::ES256, &key).unwrap()
    }

    /// A token for `tenant` valid for a year from `now` (the tests' clock).
    pub(crate) fn token(&self, tenant: &str, now: Timestamp) -> String {
        self.sign(
            tenant,
            &claims(tenant, now, SignedDuration::from_hours(24 * 365)),
        )
    }
}

/// Claims for `tenant` valid from `now` for `ttl`.
pub(crate) fn claims(tenant: &str, now: Timestamp, ttl: SignedDuration) -> Claims {
    Claims {
        iss: issuer(tenant),
        sub: format!("{tenant}-system"),
        aud: "mediation-gateway".into(),
        exp: (now + ttl).as_second(),
        nbf: Some(now.as_second() - 60),
        iat: Some(now.as_second()),
    }
}

pub(crate) use mediation_gateway::commands::Bearer;

/// `authorization: Bearer <token>` on every call.
pub(crate) fn bearer(token: &str) -> Bearer {
    Bearer::token(token).unwrap()
}

/// A channel that carries a token on every call.
pub(crate) type Authed = InterceptedService<Channel, Bearer>;

/// Connects to `addr` over TLS as `who` (no client certificate when `None`).
pub(crate) async fn channel(
    addr: SocketAddr,
    pki: &TestPki,
    who: Option<&str>,
) -> Result<Channel, tonic::transport::Error> {
    Endpoint::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(pki.client_tls(who))
        .unwrap()
        .connect()
        .await
}

/// Hands the service a fixed, already-authenticated caller: for tests that
/// serve one service directly, without the guard in front.
#[derive(Debug, Clone)]
pub(crate) struct ActingAs(pub(crate) Caller);

impl Interceptor for ActingAs {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        request.extensions_mut().insert(self.0.clone());
        Ok(request)
    }
}

/// The Beijing court system, authenticated.
pub(crate) fn court_system() -> Caller {
    Caller {
        tenant: "court-bj".into(),
        role: mediation_core::access::Role::court_system(
            [mediation_core::court::CourtCode::parse("京").unwrap()],
            true,
            &mediation_core::fixtures::shipped_courts(),
        )
        .unwrap(),
        certificate: "CN=court-bj".into(),
        subject: "clerk".into(),
    }
}

/// The CCPIT platform, authenticated, acting for all its centres.
pub(crate) fn ccpit_platform() -> Caller {
    Caller {
        tenant: "ccpit".into(),
        role: mediation_core::access::Role::Platform {
            partner: mediation_core::partner::Partner::Ccpit,
            organisations: Default::default(),
        },
        certificate: "CN=ccpit".into(),
        subject: "centre-system".into(),
    }
}
