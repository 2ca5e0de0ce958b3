//! The labour-dispute mediation and arbitration platform: the `LabourGateway`
//! service its committees call, the translation between its language
//! (employer and worker, the employment, heads of claim in yuan, the
//! arbitration committee) and the domain, and the transport that refers
//! disputes to it.

mod codes;
mod inbound;
mod intake;
mod outbound;
mod service;
mod transport;

pub use service::LabourService;
pub use transport::LabourTransport;
