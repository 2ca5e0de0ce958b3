//! How a message reaches its destination. The gRPC and webhook transports
//! implement this; tests use in-memory fakes.

use std::future::Future;

use mediation_core::store::PendingDelivery;

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying: unreachable, timed out, overloaded.
    #[error("transient: {0}")]
    Transient(String),
    /// The destination refused the message for good (e.g. it is malformed for
    /// it); retrying cannot help, so it goes straight to the dead letters.
    #[error("permanent: {0}")]
    Permanent(String),
}

/// How a delivery the destination acknowledged was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// The relay records it.
    Acknowledged,
    /// A commit of the acknowledgement's consequences (an offer's receipt)
    /// already recorded it, durably, in the same write.
    Recorded,
    /// Not sent, because the message is no longer the destination's to
    /// have (an offer of a referral its organisation no longer holds); the
    /// relay records it as done, so the lane moves on.
    Withdrawn,
}

/// Delivers messages to destinations.
pub trait Transport: Send + Sync + 'static {
    /// Sends one message and returns once the destination acknowledged it.
    fn deliver(
        &self,
        delivery: &PendingDelivery,
    ) -> impl Future<Output = Result<Delivered, DeliveryError>> + Send;
}
