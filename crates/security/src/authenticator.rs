//! Certificate and token together: the one way a call becomes a [`Caller`].
//!
//! On a mutual-TLS listener the client certificate names the tenant and the
//! token must be that same tenant's. On a plaintext loopback listener, which
//! exists only for development, the token alone names it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use mediation_core::access::Caller;
use mediation_core::clock::Clock;

use quick_cache::sync::Cache;
use sha2::{Digest as _, Sha256};

use crate::certificate::{self, CertificateError};
use crate::tenants::Tenants;
use crate::tokens::{self, SignedToken, TokenError, TokenPolicy};

/// How many verified tokens are remembered. A court or platform keeps one
/// token per client for its lifetime, so a few thousand cover every tenant's
/// connections with room to spare; a tenant that mints a token per call only
/// turns its own calls back into full checks.
const VERIFIED_TOKENS: usize = 4096;

/// What arrived with a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct Credentials<'a> {
    /// The DER of the client's leaf certificate, if the session had one.
    pub certificate: Option<&'a [u8]>,
    /// The `authorization` metadata value.
    pub authorization: Option<&'a str>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("a client certificate is required")]
    NoCertificate,
    #[error(transparent)]
    Certificate(#[from] CertificateError),
    #[error("the client certificate names {0:?}, which is not a tenant")]
    UnknownTenant(String),
    #[error("a bearer token is required in the authorization metadata")]
    NoToken,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the token is {token:?}'s but the client certificate is {certificate:?}'s")]
    Mismatch { certificate: String, token: String },
}

/// Authenticates calls against the current tenants, which a reload replaces.
///
/// A token's signature is checked once: the tokens that passed are kept,
/// by their SHA-256, with what they say, and a later call with the same
/// token checks only its time window (and the certificate) again. The kept
/// tokens belong to the tenants they were checked against: a reload starts
/// afresh, so a removed key or tenant stops its tokens at once.
pub struct Authenticator {
    current: RwLock<Arc<Epoch>>,
    policy: TokenPolicy,
    clock: Arc<dyn Clock>,
    require_certificate: bool,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("policy", &self.policy)
            .field("require_certificate", &self.require_certificate)
            .finish_non_exhaustive()
    }
}

impl Authenticator {
    pub fn new(
        tenants: Tenants,
        policy: TokenPolicy,
        clock: Arc<dyn Clock>,
        require_certificate: bool,
    ) -> Self {
        Self {
            current: RwLock::new(Arc::new(Epoch::new(tenants))),
            policy,
            clock,
            require_certificate,
        }
    }

    /// Replaces the tenants and their keys, e.g. after a key rotation.
    pub fn reload(&self, tenants: Tenants) {
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Epoch::new(tenants));
    }

    pub fn tenants(&self) -> Arc<Tenants> {
        Arc::clone(&self.epoch().tenants)
    }

    /// How many token signatures were checked in full since the tenants
    /// were last loaded; a token already checked is not counted again.
    pub fn signatures_checked(&self) -> u64 {
        self.epoch().checked.load(Ordering::Relaxed)
    }

    fn epoch(&self) -> Arc<Epoch> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The tenant a client certificate names, with its own rate if it sets
    /// one, before any token is checked: the TLS layer has already verified
    /// the certificate against the client CA, so the name can be trusted to
    /// rate-limit by, and a tenant over its rate is refused without the cost
    /// of checking a token's signature. `None` without a certificate, or for
    /// a certificate of no tenant.
    pub fn claimed(&self, certificate: Option<&[u8]>) -> Option<(String, Option<u32>)> {
        let cert = certificate::read(certificate?).ok()?;
        let tenants = self.tenants();
        let tenant = tenants.get(&cert.tenant)?;
        Some((tenant.id.clone(), tenant.rate_per_second))
    }

    /// The caller, and its own rate limit if the tenants file sets one.
    pub fn authenticate(
        &self,
        credentials: Credentials<'_>,
    ) -> Result<(Caller, Option<u32>), AuthError> {
        let epoch = self.epoch();
        let tenants = &epoch.tenants;
        let certificate = match credentials.certificate {
            Some(der) => Some(certificate::read(der)?),
            None if self.require_certificate => return Err(AuthError::NoCertificate),
            None => None,
        };
        if let Some(cert) = &certificate
            && tenants.get(&cert.tenant).is_none()
        {
            return Err(AuthError::UnknownTenant(cert.tenant.clone()));
        }
        let token = credentials
            .authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(AuthError::NoToken)?;
        let verified = epoch
            .signed(&self.policy, token)?
            .at(&self.policy, self.clock.now())?;
        if let Some(cert) = &certificate
            && cert.tenant != verified.tenant
        {
            return Err(AuthError::Mismatch {
                certificate: cert.tenant.clone(),
                token: verified.tenant,
            });
        }
        let tenant = tenants
            .get(&verified.tenant)
            .ok_or_else(|| AuthError::UnknownTenant(verified.tenant.clone()))?;
        Ok((
            Caller {
                tenant: tenant.id.clone(),
                role: tenant.role.clone(),
                certificate: certificate.map(|c| c.description).unwrap_or_default(),
                subject: verified.subject,
            },
            tenant.rate_per_second,
        ))
    }
}

impl Authenticator {
    /// The caller a bearer token alone identifies, and when the token
    /// expires: for the operators' console, where the browser presents no
    /// client certificate and the operator pastes a token to log in. The
    /// signature, issuer, key, audience and time window are checked as for
    /// a call.
    pub fn authenticate_token(&self, token: &str) -> Result<(Caller, Timestamp), AuthError> {
        let epoch = self.epoch();
        let token = token.trim();
        if token.is_empty() {
            return Err(AuthError::NoToken);
        }
        let signed = epoch.signed(&self.policy, token)?;
        let verified = signed.at(&self.policy, self.clock.now())?;
        let tenant = epoch
            .tenants
            .get(&verified.tenant)
            .ok_or_else(|| AuthError::UnknownTenant(verified.tenant.clone()))?;
        let expires = Timestamp::from_second(signed.exp).unwrap_or(Timestamp::MAX);
        Ok((
            Caller {
                tenant: tenant.id.clone(),
                role: tenant.role.clone(),
                certificate: String::new(),
                subject: verified.subject,
            },
            expires,
        ))
    }
}

/// The tenants as loaded, and the tokens verified against them.
struct Epoch {
    tenants: Arc<Tenants>,
    verified: Cache<[u8; 32], Arc<SignedToken>>,
    /// Signatures checked in full, for tests and figures.
    checked: AtomicU64,
}

impl Epoch {
    fn new(tenants: Tenants) -> Self {
        Self {
            tenants: Arc::new(tenants),
            verified: Cache::new(VERIFIED_TOKENS),
            checked: AtomicU64::new(0),
        }
    }

    /// `token`'s signature checked, now or by an earlier call of this epoch.
    fn signed(&self, policy: &TokenPolicy, token: &str) -> Result<Arc<SignedToken>, TokenError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(signed) = self.verified.get(&digest) {
            return Ok(signed);
        }
        self.checked.fetch_add(1, Ordering::Relaxed);
        let signed = Arc::new(tokens::check_signature(&self.tenants, policy, token)?);
        self.verified.insert(digest, Arc::clone(&signed));
        Ok(signed)
    }
}
