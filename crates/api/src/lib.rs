//! The gateway's gRPC edge. Generated wire types stop here: each service
//! translates requests into domain values (reporting every invalid field at
//! once), runs the command through `mediation-service`, and translates the
//! answer back. [`status`] is the one place domain and service errors become
//! gRPC status codes. [`court::CourtTransport`] delivers the outbox's messages to
//! court systems over gRPC.

pub mod accept;
pub mod ccpit;
pub mod court;
pub mod documents;
mod entitlement;
pub mod guard;
pub mod labour;
pub mod limits;
pub mod operations;
pub mod outbound;
mod partner;
pub use partner::{CallFields, PartnerService, Platform};
pub mod status;
pub mod time;
pub mod trace_context;
pub mod traffic;
pub mod transport;
mod wire;
