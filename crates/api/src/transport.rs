//! One transport for the relay, dispatching each message by its destination,
//! and recording when an offer reached a platform ([`OfferReceipts`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jiff::Timestamp;
use mediation_core::access::Disclosure;
use mediation_core::deadline::Deadline;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Change, Referral};
use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, MessageId, PendingDelivery, ReferralStore};
use mediation_delivery::{Delivered, DeliveryError, Transport};
use mediation_service::Commands;

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
    /// Where an acknowledged offer is recorded. Without it an offer states
    /// no deadline and none starts.
    pub receipts: Option<Arc<dyn OfferReceipts>>,
}

/// A future an [`OfferReceipts`] call returns: whether the offer's own
/// delivery was recorded with the receipt.
pub type Receipt<'a> = Pin<Box<dyn Future<Output = Result<bool, String>> + Send + 'a>>;

/// A future of what an offer sent now states, or `None` when the offer is
/// withdrawn.
pub type Sending<'a> = Pin<Box<dyn Future<Output = Result<Option<Outgoing>, String>> + Send + 'a>>;

/// An offer the organisation may still receive, about to be sent.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// When it is sent.
    pub sent_at: Timestamp,
    /// The acceptance deadline its delivery starts if acknowledged, which
    /// the offer states.
    pub due: Deadline,
    /// The referral as read to decide that the offer may go: its receipt
    /// is decided from it first, rather than from a second read.
    pub referral: Referral,
}

/// The acceptance period starts when an offer reaches the organisation's
/// platform (online rules Art. 12), so the transport asks what deadline an
/// offer sent now states, and reports the acknowledgement before the relay
/// records the delivery: if reporting fails, the offer is sent again and the
/// report repeated, never lost.
pub trait OfferReceipts: Send + Sync + std::fmt::Debug {
    /// The instant an offer of `referral` to `organisation` on `partner`'s
    /// platform is sent now, the acceptance deadline that follows if its
    /// delivery is acknowledged, and the referral as read; `None` if the
    /// organisation no longer holds the referral (recalled, passed over,
    /// declined or lapsed while the offer waited), whose case it must then
    /// not receive (PIPL Art. 6).
    fn sending<'a>(
        &'a self,
        partner: Partner,
        referral: &'a ReferralId,
        bundle: Option<&'a mediation_core::bundle::CaseBundle>,
        organisation: &'a OrganisationId,
    ) -> Sending<'a>;

    /// The platform acknowledged the offer of `read`'s referral (as
    /// [`OfferReceipts::sending`] read it) to `organisation` sent at
    /// `sent_at`, as message `message`. Returns whether the commit of the
    /// receipt also recorded the message delivered (one durable write for
    /// both); if not, the relay records it.
    fn delivered<'a>(
        &'a self,
        read: Referral,
        organisation: &'a OrganisationId,
        sent_at: Timestamp,
        message: &'a MessageId,
    ) -> Receipt<'a>;
}

impl<S> OfferReceipts for Commands<S>
where
    S: ReferralStore + AuditLog + std::fmt::Debug + Send + Sync + 'static,
{
    fn sending<'a>(
        &'a self,
        partner: Partner,
        referral: &'a ReferralId,
        bundle: Option<&'a mediation_core::bundle::CaseBundle>,
        organisation: &'a OrganisationId,
    ) -> Sending<'a> {
        Box::pin(async move {
            // The offer carries the referral's bundle, decoded once already.
            let read = match bundle {
                Some(bundle) => self.referral_with_bundle(referral, bundle).await,
                None => self.referral(referral).await,
            }
            .map_err(|e| e.to_string())?;
            let Some(read) = read.filter(|r| r.disclosure_to(organisation) != Disclosure::Nothing)
            else {
                return Ok(None);
            };
            let sent_at = self.clock().now();
            let due = self
                .acceptance_due(partner, sent_at)
                .map_err(|e| e.to_string())?;
            Ok(Some(Outgoing {
                sent_at,
                due,
                referral: read,
            }))
        })
    }

    fn delivered<'a>(
        &'a self,
        read: Referral,
        organisation: &'a OrganisationId,
        sent_at: Timestamp,
        message: &'a MessageId,
    ) -> Receipt<'a> {
        Box::pin(async move {
            self.offer_received_from(read, organisation, sent_at, message)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

fn unconfigured(partner: Partner) -> DeliveryError {
    DeliveryError::Transient(format!(
        "no address is configured for the {partner} platform"
    ))
}

impl Transport for Destinations {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        // Each attempt is a span of the trace of the call that made the
        // message; what it sends carries that trace on.
        use tracing::Instrument as _;
        let span = crate::trace_context::delivery_span(delivery);
        deliver_with_receipts(self, self.receipts.as_ref(), delivery)
            .instrument(span)
            .await
    }
}

/// What carries a message to its destination once it is ready to go: the
/// gRPC and webhook transports of [`Destinations`], or a simulated network.
pub trait Dispatch: Send + Sync {
    /// Sends `delivery`; `Ok` once the destination acknowledged it.
    fn dispatch(
        &self,
        delivery: &PendingDelivery,
    ) -> impl Future<Output = Result<(), DeliveryError>> + Send;
}

/// Delivers one message through `dispatch`. An offer first asks `receipts`
/// what deadline it states (and whether its organisation may still have it),
/// and its acknowledgement is recorded as the offer's receipt: the rule of
/// online rules Art. 12 that the acceptance period starts on delivery.
/// Every other message is dispatched as it is.
pub async fn deliver_with_receipts<D: Dispatch>(
    dispatch: &D,
    receipts: Option<&Arc<dyn OfferReceipts>>,
    delivery: &PendingDelivery,
) -> Result<Delivered, DeliveryError> {
    use tracing::Instrument as _;
    let acknowledged = |()| Delivered::Acknowledged;
    let (Destination::Partner(partner), Some(receipts)) = (&delivery.message.destination, receipts)
    else {
        return dispatch.dispatch(delivery).await.map(acknowledged);
    };
    let Change::Routed {
        assignment,
        acceptance_deadline: None,
        ..
    } = &delivery.message.event.change
    else {
        return dispatch.dispatch(delivery).await.map(acknowledged);
    };
    // An offer: it states the deadline a delivery sent now starts, and
    // its acknowledgement is recorded before the relay records the
    // delivery.
    let Some(Outgoing {
        sent_at,
        due,
        referral,
    }) = receipts
        .sending(
            *partner,
            &delivery.message.referral,
            delivery.message.bundle.as_deref(),
            &assignment.organisation,
        )
        .await
        .map_err(DeliveryError::Transient)?
    else {
        return Ok(Delivered::Withdrawn);
    };
    let mut offer = delivery.clone();
    if let Change::Routed {
        acceptance_deadline,
        ..
    } = &mut offer.message.event.change
    {
        *acceptance_deadline = Some(due);
    }
    dispatch.dispatch(&offer).await?;
    // The platform took it: the receipt is written once the relay has
    // freed the platform's slot, in the trace of this attempt.
    let receipts = Arc::clone(receipts);
    let organisation = assignment.organisation.clone();
    let message = delivery.id.clone();
    let receipt = async move {
        match receipts
            .delivered(referral, &organisation, sent_at, &message)
            .await
        {
            Ok(true) => Ok(Delivered::Recorded),
            Ok(false) => Ok(Delivered::Acknowledged),
            Err(e) => Err(DeliveryError::Transient(format!(
                "the platform took the offer, but its delivery could not be recorded: {e}"
            ))),
        }
    };
    Ok(Delivered::Receipt(mediation_delivery::Receipt::new(
        receipt.in_current_span(),
    )))
}

impl Dispatch for Destinations {
    async fn dispatch(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        Destinations::dispatch(self, delivery).await
    }
}

impl Destinations {
    async fn dispatch(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        match &delivery.message.destination {
            Destination::Court(_) => self.courts.send(delivery).await,
            Destination::Partner(p @ Partner::Ccpit) => match &self.ccpit {
                Some(t) => t.send(delivery).await,
                None => Err(unconfigured(*p)),
            },
            Destination::Partner(p @ Partner::LabourArbitration) => match &self.labour {
                Some(t) => t.send(delivery).await,
                None => Err(unconfigured(*p)),
            },
            Destination::Partner(p @ Partner::RoadTraffic) => match &self.traffic {
                Some(t) => t.send(delivery).await,
                None => Err(unconfigured(*p)),
            },
        }
    }
}
