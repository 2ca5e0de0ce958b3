//! Referring disputes and court decisions to the labour platform over gRPC.

use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{Delivered, DeliveryError, Transport};
use mediation_proto::labour::v1::labour_platform_client::LabourPlatformClient;
use tonic::transport::Channel;

use super::outbound::{ToPlatform, to_platform};
use crate::outbound::Outbound;
use crate::outbound::classify;

#[derive(Debug, Clone)]
pub struct LabourTransport {
    channel: Channel,
}

impl LabourTransport {
    /// `url`: the platform's gRPC address, e.g. `http://127.0.0.1:7200`.
    /// Connects lazily to the platform at `url`, as `outbound` allows.
    pub fn new(url: &str, outbound: &Outbound) -> Result<Self, String> {
        Ok(Self {
            channel: outbound.endpoint(url)?.connect_lazy(),
        })
    }
}

impl Transport for LabourTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        self.send(delivery).await.map(|()| Delivered::Acknowledged)
    }
}

impl LabourTransport {
    /// Sends one message; `Ok` once the destination acknowledged it.
    pub(crate) async fn send(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        if delivery.message.destination != Destination::Partner(Partner::LabourArbitration) {
            return Err(DeliveryError::Permanent(format!(
                "the labour transport cannot deliver to {}",
                delivery.message.destination
            )));
        }
        let mut client = LabourPlatformClient::with_interceptor(
            self.channel.clone(),
            crate::trace_context::send_on_grpc,
        );
        let result = match to_platform(delivery) {
            Some(ToPlatform::Referral(r)) => client.refer_dispute(*r).await.map(|_| ()),
            Some(ToPlatform::Decision(d)) => client.notify_court_decision(d).await.map(|_| ()),
            None => return Ok(()),
        };
        result.or_else(|status| classify(&status))
    }
}
