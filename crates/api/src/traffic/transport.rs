//! Delegating accident cases and court decisions to the road-traffic platform over gRPC.

use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{Delivered, DeliveryError, Transport};
use mediation_proto::traffic::v1::traffic_platform_client::TrafficPlatformClient;
use tonic::transport::Channel;

use super::outbound::{ToPlatform, to_platform};
use crate::outbound::Outbound;
use crate::outbound::classify;

#[derive(Debug, Clone)]
pub struct TrafficTransport {
    channel: Channel,
}

impl TrafficTransport {
    /// `url`: the platform's gRPC address, e.g. `http://127.0.0.1:7300`.
    /// Connects lazily to the platform at `url`, as `outbound` allows.
    pub fn new(url: &str, outbound: &Outbound) -> Result<Self, String> {
        Ok(Self {
            channel: outbound.endpoint(url)?.connect_lazy(),
        })
    }
}

impl Transport for TrafficTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        self.send(delivery).await.map(|()| Delivered::Acknowledged)
    }
}

impl TrafficTransport {
    /// Sends one message; `Ok` once the destination acknowledged it.
    pub(crate) async fn send(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        if delivery.message.destination != Destination::Partner(Partner::RoadTraffic) {
            return Err(DeliveryError::Permanent(format!(
                "the road-traffic transport cannot deliver to {}",
                delivery.message.destination
            )));
        }
        let mut client = TrafficPlatformClient::with_interceptor(
            self.channel.clone(),
            crate::trace_context::send_on_grpc,
        );
        let result = match to_platform(delivery) {
            Some(ToPlatform::Case(c)) => client.delegate_case(*c).await.map(|_| ()),
            Some(ToPlatform::Decision(d)) => client.notify_court_decision(d).await.map(|_| ()),
            Some(ToPlatform::Insurers(n)) => client.notify_insurers(n).await.map(|_| ()),
            None => return Ok(()),
        };
        result.or_else(|status| classify(&status))
    }
}
