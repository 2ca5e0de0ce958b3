//! Delivering notices to court systems over gRPC.

use std::collections::BTreeMap;
use std::sync::Mutex;

use mediation_core::court::CourtCode;
use mediation_core::outbox::Destination;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{DeliveryError, Transport};
use mediation_proto::court::v1::court_receiver_client::CourtReceiverClient;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

use super::view::notice;

/// Delivers to each court system at its configured address. A court without an
/// address of its own uses the nearest court above it that has one (a high
/// court's system often serves the courts of its province).
#[derive(Debug)]
pub struct CourtTransport {
    endpoints: BTreeMap<CourtCode, Endpoint>,
    channels: Mutex<BTreeMap<CourtCode, Channel>>,
}

impl CourtTransport {
    /// `endpoints`: the address (e.g. `http://127.0.0.1:7001`) of each court
    /// system, by court code.
    pub fn new(endpoints: BTreeMap<CourtCode, String>) -> Result<Self, tonic::transport::Error> {
        let endpoints = endpoints
            .into_iter()
            .map(|(court, url)| Ok((court, Endpoint::from_shared(url)?)))
            .collect::<Result<_, tonic::transport::Error>>()?;
        Ok(Self {
            endpoints,
            channels: Mutex::new(BTreeMap::new()),
        })
    }

    fn channel(&self, court: &CourtCode) -> Result<Channel, DeliveryError> {
        let mut at = Some(court.clone());
        while let Some(code) = at {
            if let Some(endpoint) = self.endpoints.get(&code) {
                let mut channels = self.channels.lock().unwrap_or_else(|p| p.into_inner());
                let channel = channels
                    .entry(code)
                    .or_insert_with(|| endpoint.connect_lazy());
                return Ok(channel.clone());
            }
            at = code.parent();
        }
        Err(DeliveryError::Transient(format!(
            "no address is configured for court {court} or any court above it"
        )))
    }
}

/// Whether a failed call is worth retrying.
pub(crate) fn classify(status: &tonic::Status) -> Result<(), DeliveryError> {
    let text = format!("{:?}: {}", status.code(), status.message());
    match status.code() {
        // The receiver already has it.
        Code::Ok | Code::AlreadyExists => Ok(()),
        Code::InvalidArgument
        | Code::FailedPrecondition
        | Code::Unimplemented
        | Code::OutOfRange => Err(DeliveryError::Permanent(text)),
        _ => Err(DeliveryError::Transient(text)),
    }
}

impl Transport for CourtTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        let Destination::Court(court) = &delivery.message.destination else {
            return Err(DeliveryError::Permanent(format!(
                "the court transport cannot deliver to {}",
                delivery.message.destination
            )));
        };
        let mut client = CourtReceiverClient::new(self.channel(court)?);
        match client.deliver(notice(delivery)).await {
            Ok(_) => Ok(()),
            Err(status) => classify(&status),
        }
    }
}
