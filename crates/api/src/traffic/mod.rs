//! The road-traffic-accident platform: the `TrafficGateway` service its
//! mediation rooms call, the translation between its language (the accident
//! certificate, liability, vehicles and insurers, disability grades, statutory
//! compensation items) and the domain, and the transport that delegates
//! accident cases to it.

mod codes;
mod inbound;
mod outbound;
mod service;
mod transport;

pub use service::TrafficService;
pub use transport::TrafficTransport;
