//! One transport for the relay, dispatching each message by its destination.

use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{DeliveryError, Transport};

use crate::ccpit::CcpitTransport;
use crate::court::CourtTransport;
use crate::labour::LabourTransport;
use crate::traffic::TrafficTransport;

/// Courts and partner platforms, each over its own transport. A partner with
/// no transport configured cannot be delivered to; its messages wait and are
/// retried, so configuring it later delivers them.
#[derive(Debug, Default)]
pub struct Destinations {
    pub courts: CourtTransport,
    pub ccpit: Option<CcpitTransport>,
    pub labour: Option<LabourTransport>,
    pub traffic: Option<TrafficTransport>,
}

fn unconfigured(partner: Partner) -> DeliveryError {
    DeliveryError::Transient(format!(
        "no address is configured for the {partner} platform"
    ))
}

impl Transport for Destinations {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        match &delivery.message.destination {
            Destination::Court(_) => self.courts.deliver(delivery).await,
            Destination::Partner(p @ Partner::Ccpit) => match &self.ccpit {
                Some(t) => t.deliver(delivery).await,
                None => Err(unconfigured(*p)),
            },
            Destination::Partner(p @ Partner::LabourArbitration) => match &self.labour {
                Some(t) => t.deliver(delivery).await,
                None => Err(unconfigured(*p)),
            },
            Destination::Partner(p @ Partner::RoadTraffic) => match &self.traffic {
                Some(t) => t.deliver(delivery).await,
                None => Err(unconfigured(*p)),
            },
        }
    }
}
