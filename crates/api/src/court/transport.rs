//! Delivering notices to court systems: over gRPC to a court's
//! `CourtReceiver`, or by [`webhook`] to one that cannot host gRPC.

mod webhook;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use mediation_core::court::{CourtCode, Courts};
use mediation_core::outbox::Destination;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{Delivered, DeliveryError, Transport};
use mediation_proto::court::v1::court_receiver_client::CourtReceiverClient;
use tonic::transport::{Channel, Endpoint};

pub use webhook::{NOTICE_MESSAGE, webhook_body};

use super::outbound::court_notice;
use crate::outbound::{Outbound, classify};
use webhook::Webhook;

/// How a court system takes deliveries, as `[courts]` in the configuration
/// names it: `{ grpc = "https://…" }` or `{ webhook = "https://…" }`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CourtAddress {
    /// It hosts `CourtReceiver` at this address, e.g. `https://court.example:7001`.
    Grpc(String),
    /// It takes JSON notices by HTTPS `POST` at this URL.
    Webhook(String),
}

#[derive(Debug)]
enum Route {
    Grpc(Box<Endpoint>),
    Webhook(Webhook),
}

/// Why a court transport could not be built.
#[derive(Debug, thiserror::Error)]
#[error("court {court}: {reason}")]
pub struct AddressError {
    pub court: CourtCode,
    pub reason: String,
}

/// Delivers to each court system at its configured address, by gRPC or by
/// webhook. A court without an address of its own uses the nearest court above
/// it, as the court registry has it, that has one (a high court's system
/// often serves the courts of its province).
#[derive(Debug, Default)]
pub struct CourtTransport {
    routes: BTreeMap<CourtCode, Route>,
    channels: Mutex<BTreeMap<CourtCode, Channel>>,
    courts: Courts,
}

/// How long one webhook call may take before it is retried.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(30);

impl CourtTransport {
    /// `addresses`: how each court system, by court code, takes deliveries.
    /// `outbound` says how to connect: TLS or, on loopback only, plaintext.
    pub fn new(
        addresses: BTreeMap<CourtCode, CourtAddress>,
        courts: Courts,
        outbound: &Outbound,
    ) -> Result<Self, AddressError> {
        let routes = addresses
            .into_iter()
            .map(|(court, address)| {
                let route = match address {
                    CourtAddress::Grpc(url) => {
                        outbound.endpoint(&url).map(|e| Route::Grpc(Box::new(e)))
                    }
                    CourtAddress::Webhook(url) => {
                        Webhook::new(&url, WEBHOOK_TIMEOUT, outbound).map(Route::Webhook)
                    }
                };
                match route {
                    Ok(route) => Ok((court, route)),
                    Err(reason) => Err(AddressError { court, reason }),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            routes,
            channels: Mutex::new(BTreeMap::new()),
            courts,
        })
    }

    /// The route of `court` or of the nearest court above it.
    fn route(&self, court: &CourtCode) -> Result<(&CourtCode, &Route), DeliveryError> {
        let registry = self.courts.current();
        // A court the registry does not know still has its own address, if
        // one is configured.
        std::iter::once(court)
            .chain(registry.ancestry(court).map(|c| &c.code))
            .find_map(|code| self.routes.get_key_value(code))
            .ok_or_else(|| {
                DeliveryError::Transient(format!(
                    "no address is configured for court {court} or any court above it"
                ))
            })
    }

    fn channel(&self, code: &CourtCode, endpoint: &Endpoint) -> Channel {
        let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
        channels
            .entry(code.clone())
            .or_insert_with(|| endpoint.connect_lazy())
            .clone()
    }
}

impl Transport for CourtTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        self.send(delivery).await.map(|()| Delivered::Acknowledged)
    }
}

impl CourtTransport {
    /// Sends one message; `Ok` once the destination acknowledged it.
    pub(crate) async fn send(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        let Destination::Court(court) = &delivery.message.destination else {
            return Err(DeliveryError::Permanent(format!(
                "the court transport cannot deliver to {}",
                delivery.message.destination
            )));
        };
        match self.route(court)? {
            (code, Route::Grpc(endpoint)) => {
                let mut client = CourtReceiverClient::with_interceptor(
                    self.channel(code, endpoint),
                    crate::trace_context::send_on_grpc,
                );
                match client.deliver(court_notice(delivery)).await {
                    Ok(_) => Ok(()),
                    Err(status) => classify(&status),
                }
            }
            (_, Route::Webhook(webhook)) => webhook.deliver(delivery).await,
        }
    }
}
