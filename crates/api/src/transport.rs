//! One transport for the relay, dispatching each message by its destination.

use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{DeliveryError, Transport};

use crate::ccpit::CcpitTransport;
use crate::court::CourtTransport;

/// Courts and partner platforms, each over its own transport. A partner with
/// no transport configured cannot be delivered to; its messages wait and are
/// retried, so configuring it later delivers them.
#[derive(Debug)]
pub struct Destinations {
    pub courts: CourtTransport,
    pub ccpit: Option<CcpitTransport>,
}

impl Transport for Destinations {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        match &delivery.message.destination {
            Destination::Court(_) => self.courts.deliver(delivery).await,
            Destination::Partner(Partner::Ccpit) => match &self.ccpit {
                Some(t) => t.deliver(delivery).await,
                None => Err(DeliveryError::Transient(
                    "no address is configured for the CCPIT platform".into(),
                )),
            },
            Destination::Partner(other) => Err(DeliveryError::Transient(format!(
                "no transport is configured for the {other} platform"
            ))),
        }
    }
}
