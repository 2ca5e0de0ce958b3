//! The court side: the `CourtGateway` service court systems call, the
//! translation of case bundles, and the gRPC transport that delivers notices to
//! court systems.

mod bundle;
mod notice;
mod particulars;
mod service;
mod transport;
pub(crate) mod view;
mod webhook;

pub use bundle::bundle_from_wire;
pub use service::CourtService;
pub(crate) use transport::classify;
pub use transport::{AddressError, CourtAddress, CourtTransport};
pub use view::bundle_to_wire;
pub use webhook::WebhookNotice;
