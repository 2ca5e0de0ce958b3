//! How the gateway connects out to partner platforms and court systems:
//! TLS with the gateway's own client certificate, trusting only the
//! configured CA, or plaintext. Which of the two is allowed, and for which
//! addresses, is the server configuration's decision; this module only
//! refuses an address whose scheme does not match the mode.

use std::time::Duration;

use mediation_delivery::DeliveryError;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// Whether a failed gRPC call to a court or a platform is worth retrying: the
/// receiver already having the message is success; a refusal of its content
/// is permanent; anything else may pass.
pub(crate) fn classify(status: &tonic::Status) -> Result<(), DeliveryError> {
    let text = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        Code::Ok | Code::AlreadyExists => Ok(()),
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::Unimplemented
        | Code::OutOfRange => Err(DeliveryError::Permanent(text)),
        _ => Err(DeliveryError::Transient(text)),
    }
}

/// The gateway's side of every outgoing connection.
#[derive(Clone, Default)]
pub struct Outbound {
    tls: Option<OutboundTls>,
    /// The name the server's certificate must carry, when it is not the
    /// address's host: the destination's identity.
    server_name: Option<String>,
}

#[derive(Clone)]
struct OutboundTls {
    /// The CA certificates that sign partners' and courts' servers.
    ca_pem: Vec<u8>,
    /// The gateway's client certificate and key.
    certificate_pem: Vec<u8>,
    key_pem: Vec<u8>,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("tls", &self.tls.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl Outbound {
    /// Plaintext `http://` connections only.
    pub fn plaintext() -> Self {
        Self {
            tls: None,
            server_name: None,
        }
    }

    /// `https://` connections only, presenting `certificate_pem` and
    /// trusting servers whose certificates `ca_pem` signed.
    pub fn tls(ca_pem: Vec<u8>, certificate_pem: Vec<u8>, key_pem: Vec<u8>) -> Self {
        Self {
            tls: Some(OutboundTls {
                ca_pem,
                certificate_pem,
                key_pem,
            }),
            server_name: None,
        }
    }

    /// The same, for a destination whose server must present a certificate
    /// for `server_name`. Any other certificate, even one the CA signed for
    /// another partner, fails the handshake, so nothing is delivered to it.
    pub fn expecting(&self, server_name: Option<&str>) -> Self {
        Self {
            tls: self.tls.clone(),
            server_name: server_name.map(str::to_owned),
        }
    }

    fn check_scheme(&self, url: &str) -> Result<(), String> {
        let https = url.starts_with("https://");
        match (&self.tls, https) {
            (Some(_), false) => Err(format!(
                "{url} must be an https:// address: outgoing connections use TLS"
            )),
            (None, true) => Err(format!(
                "{url} is https:// but TLS is switched off in this configuration"
            )),
            _ => Ok(()),
        }
    }

    /// A gRPC endpoint for `url`.
    pub fn endpoint(&self, url: &str) -> Result<Endpoint, String> {
        self.check_scheme(url)?;
        let endpoint = Endpoint::from_shared(url.to_owned()).map_err(|e| format!("{url}: {e}"))?;
        match &self.tls {
            None => Ok(endpoint),
            Some(tls) => {
                let mut config = ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&tls.ca_pem))
                    .identity(Identity::from_pem(&tls.certificate_pem, &tls.key_pem));
                if let Some(name) = &self.server_name {
                    config = config.domain_name(name.clone());
                }
                endpoint
                    .tls_config(config)
                    .map_err(|e| format!("{url}: {e}"))
            }
        }
    }

    /// An HTTP client for webhooks to `url`.
    pub fn http_client(&self, url: &str, timeout: Duration) -> Result<reqwest::Client, String> {
        self.check_scheme(url)?;
        let builder = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("mediation-gateway");
        let builder = match &self.tls {
            None => builder,
            Some(tls) => {
                let ca = reqwest::Certificate::from_pem(&tls.ca_pem)
                    .map_err(|e| format!("the outgoing CA certificate: {e}"))?;
                let mut pem = tls.certificate_pem.clone();
                pem.extend_from_slice(&tls.key_pem);
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|e| format!("the gateway's client certificate: {e}"))?;
                builder
                    .tls_certs_only([ca])
                    .identity(identity)
                    .https_only(true)
            }
        };
        builder
            .build()
            .map_err(|e| format!("cannot build the webhook client: {e}"))
    }
}
