//! Who is calling, and whether they may. This crate turns what arrives with a
//! call — the client certificate of the TLS session and the bearer token in
//! its metadata — into an authenticated [`Caller`](mediation_core::access::Caller),
//! and keeps the per-tenant rate limits. It also writes the development PKI.
//!
//! It knows nothing of gRPC: the edge hands it bytes and strings and maps its
//! typed errors to status codes.
//!
//! - [`tenants`]: the tenants file: who may call, in what role, with which
//!   token issuer and keys.
//! - [`keys`]: token verification keys from JWKS or PEM files, by key id.
//! - [`tokens`]: bearer token verification against an injected clock.
//! - [`certificate`]: the tenant a client certificate names.
//! - [`authenticator`]: certificate and token together, reloadable.
//! - [`rate`]: requests per tenant.
//! - [`pki`]: the development CA, certificates and signing keys.

pub mod authenticator;
pub mod certificate;
pub mod keys;
pub mod pki;
pub mod rate;
pub mod tenants;
pub mod tokens;

pub use authenticator::{AuthError, Authenticator, Credentials};
pub use tenants::{Tenant, Tenants, TenantsError};

/// Installs aws-lc-rs as the process's one rustls crypto provider. Every TLS
/// listener and client (tonic, reqwest) then uses it. Calling it again is
/// harmless.
pub fn install_crypto_provider() {
    // An error means a provider is already installed: aws-lc-rs, since it is
    // the only one compiled in.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

#[cfg(test)]
mod tests;
