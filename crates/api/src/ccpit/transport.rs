//! Offering cases and court decisions to the CCPIT platform over gRPC.

use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{Delivered, DeliveryError, Transport};
use mediation_proto::ccpit::v1::ccpit_platform_client::CcpitPlatformClient;
use tonic::transport::Channel;

use super::outbound::{ToPlatform, to_platform};
use crate::outbound::Outbound;
use crate::outbound::classify;

#[derive(Debug, Clone)]
pub struct CcpitTransport {
    channel: Channel,
}

impl CcpitTransport {
    /// `url`: the platform's gRPC address, e.g. `http://127.0.0.1:7100`.
    /// Connects lazily to the platform at `url`, as `outbound` allows.
    pub fn new(url: &str, outbound: &Outbound) -> Result<Self, String> {
        Ok(Self {
            channel: outbound.endpoint(url)?.connect_lazy(),
        })
    }
}

impl Transport for CcpitTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        self.send(delivery).await.map(|()| Delivered::Acknowledged)
    }
}

impl CcpitTransport {
    /// Sends one message; `Ok` once the destination acknowledged it.
    pub(crate) async fn send(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        if delivery.message.destination != Destination::Partner(Partner::Ccpit) {
            return Err(DeliveryError::Permanent(format!(
                "the CCPIT transport cannot deliver to {}",
                delivery.message.destination
            )));
        }
        let mut client = CcpitPlatformClient::with_interceptor(
            self.channel.clone(),
            crate::trace_context::send_on_grpc,
        );
        let result = match to_platform(delivery) {
            Some(ToPlatform::Offer(offer)) => client.offer_case(*offer).await.map(|_| ()),
            Some(ToPlatform::Decision(decision)) => {
                client.notify_court_decision(decision).await.map(|_| ())
            }
            // Nothing the platform needs: done.
            None => return Ok(()),
        };
        result.or_else(|status| classify(&status))
    }
}
