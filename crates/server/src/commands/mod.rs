//! One module per command group.

pub mod calendar;
pub mod check_config;
pub mod deadline;
pub mod demo;
pub mod dev;
pub mod ops;
pub mod serve;
pub mod store;

use tonic::metadata::{Ascii, MetadataValue};

/// Adds a bearer token to every call of the commands that are gRPC clients
/// (`ops`, `demo`), of the load harness and of the end-to-end tests.
#[derive(Debug, Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// `header` is the whole value: `Bearer <token>`.
    pub fn new(header: MetadataValue<Ascii>) -> Self {
        Self(Some(header))
    }

    /// `authorization: Bearer <token>`; an error for a token that cannot be
    /// a header value.
    pub fn token(token: &str) -> Result<Self, tonic::metadata::errors::InvalidMetadataValue> {
        Ok(Self::new(format!("Bearer {token}").parse()?))
    }

    /// No token at all, as a caller that forgot it.
    pub fn none() -> Self {
        Self(None)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(header) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", header.clone());
        }
        Ok(request)
    }
}
