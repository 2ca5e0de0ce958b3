//! How a message reaches its destination. The gRPC and webhook transports
//! implement this; tests use in-memory fakes.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

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
#[derive(Debug)]
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
    /// The destination acknowledged it, and what the acknowledgement brings
    /// about (an offer's receipt) is still to be written. The relay frees
    /// the destination's slot first, then awaits the receipt, keeping the
    /// message in flight until its outcome is recorded.
    Receipt(Receipt),
}

/// The writing of an acknowledgement's consequences, left for after the
/// destination's slot is free: its durability holds up only its own
/// message. It ends with how the delivery was recorded
/// ([`Delivered::Acknowledged`] or [`Delivered::Recorded`]), or with the
/// error that makes the attempt a failed one (the message is sent again).
pub struct Receipt(Pin<Box<dyn Future<Output = Result<Delivered, DeliveryError>> + Send>>);

impl Receipt {
    pub fn new(
        receipt: impl Future<Output = Result<Delivered, DeliveryError>> + Send + 'static,
    ) -> Self {
        Self(Box::pin(receipt))
    }
}

impl std::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Receipt(..)")
    }
}

impl Future for Receipt {
    type Output = Result<Delivered, DeliveryError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx)
    }
}

/// Delivers messages to destinations.
pub trait Transport: Send + Sync + 'static {
    /// Sends one message and returns once the destination acknowledged it,
    /// leaving any receipt to write to [`Delivered::Receipt`].
    fn deliver(
        &self,
        delivery: &PendingDelivery,
    ) -> impl Future<Output = Result<Delivered, DeliveryError>> + Send;
}
