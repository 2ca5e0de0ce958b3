//! The tenant a client certificate names. The TLS handshake has already
//! checked that a CA the gateway trusts issued the certificate; this reads
//! the subject's common name, which is the tenant's id.

use sha2::{Digest, Sha256};

/// What the audit log and the authenticator learn from a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificate {
    /// The subject's common name: the tenant's id.
    pub tenant: String,
    /// `CN=<name> sha256:<first 16 hex digits of the DER's digest>`.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    #[error("the client certificate cannot be read")]
    Unreadable,
    #[error("the client certificate's subject has no common name")]
    NoCommonName,
}

pub fn read(der: &[u8]) -> Result<PeerCertificate, CertificateError> {
    let (_, cert) =
        x509_parser::parse_x509_certificate(der).map_err(|_| CertificateError::Unreadable)?;
    let name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or(CertificateError::NoCommonName)?
        .to_owned();
    let digest = Sha256::digest(der);
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Ok(PeerCertificate {
        description: format!("CN={name} sha256:{hex}"),
        tenant: name,
    })
}
