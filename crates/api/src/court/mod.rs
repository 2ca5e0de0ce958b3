//! The court side: the `CourtGateway` service court systems call, the
//! translation of case bundles, and the gRPC transport that delivers notices to
//! court systems.

mod bundle;
mod particulars;
mod service;
mod transport;
mod view;

pub use bundle::bundle_from_wire;
pub use service::{CourtService, MAX_BATCH};
pub use transport::CourtTransport;
pub(crate) use transport::classify;
pub use view::bundle_to_wire;
