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
/// (`ops`, `demo`) and of the load harness.
#[derive(Debug, Clone)]
pub struct Bearer(MetadataValue<Ascii>);

impl Bearer {
    /// `header` is the whole value: `Bearer <token>`.
    pub fn new(header: MetadataValue<Ascii>) -> Self {
        Self(header)
    }
}

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}
