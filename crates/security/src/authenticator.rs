//! Certificate and token together: the one way a call becomes a [`Caller`].
//!
//! On a mutual-TLS listener the client certificate names the tenant and the
//! token must be that same tenant's. On a plaintext loopback listener, which
//! exists only for development, the token alone names it.

use std::sync::{Arc, RwLock};

use mediation_core::access::Caller;
use mediation_core::clock::Clock;

use crate::certificate::{self, CertificateError};
use crate::tenants::Tenants;
use crate::tokens::{self, TokenError, TokenPolicy};

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
pub struct Authenticator {
    tenants: RwLock<Arc<Tenants>>,
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
            tenants: RwLock::new(Arc::new(tenants)),
            policy,
            clock,
            require_certificate,
        }
    }

    /// Replaces the tenants and their keys, e.g. after a key rotation.
    pub fn reload(&self, tenants: Tenants) {
        *self.tenants.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(tenants);
    }

    pub fn tenants(&self) -> Arc<Tenants> {
        Arc::clone(&self.tenants.read().unwrap_or_else(|e| e.into_inner()))
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
        let tenants = self.tenants();
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
        let verified = tokens::verify(&tenants, &self.policy, token, self.clock.now())?;
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
