//! The trade-promotion council's commercial mediation platform (CCPIT): the
//! `CcpitGateway` service its platform calls, the translation between its
//! language (mediation centres, applicants and respondents, cross-border cases,
//! string codes) and the domain, and the transport that offers it cases.

mod codes;
mod inbound;
mod outbound;
mod service;
mod transport;

pub use service::CcpitService;
pub use transport::CcpitTransport;
