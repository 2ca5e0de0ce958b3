//! The court side: the `CourtGateway` service court systems call, the
//! translation of what courts send and receive, and the transports that
//! deliver notices to court systems.

mod codes;
mod inbound;
pub(crate) mod outbound;
mod service;
mod transport;

pub use inbound::bundle_from_wire;
pub use outbound::{bundle_to_wire, court_notice};
pub use service::CourtService;
pub use transport::{AddressError, CourtAddress, CourtTransport, NOTICE_MESSAGE, webhook_body};
