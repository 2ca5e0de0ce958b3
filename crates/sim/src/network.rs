//! The simulated network between the gateway's relay and the courts' and
//! platforms' receivers: each destination up, down, flaky, or losing its
//! acknowledgements, as the seed sets it; and what every receiver took.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use mediation_api::transport::Dispatch;
use mediation_core::access::Disclosure;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::Change;
use mediation_core::outbox::Destination;
use mediation_core::store::{MessageId, PendingDelivery, ReferralStore};
use mediation_delivery::DeliveryError;
use mediation_store_memory::MemoryStore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// How a destination answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link {
    Up,
    /// Every attempt fails: unreachable.
    Down,
    /// This share of attempts (in percent) fails before arriving.
    Flaky(u32),
    /// This share of attempts (in percent) arrives, but its answer is lost:
    /// the relay sees a failure and sends the message again.
    LosingAcks(u32),
    /// Every attempt arrives and is answered after up to this many seconds
    /// (each its own delay): past the relay's timeout the attempt counts as
    /// failed although the message arrived, and it is sent again.
    Slow(u64),
    /// Every attempt is refused for good, as a receiver that cannot read
    /// the message does: it goes to the dead letters, whose replay an
    /// operator asks for once the receiver is fixed.
    Refusing,
}

/// One message as a receiver took it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub destination: String,
    pub referral: ReferralId,
    pub id: MessageId,
    /// The event's name, as the timeline gives it, and its instant.
    pub event: &'static str,
    pub at: jiff::Timestamp,
    /// For an offer: the organisation offered the referral.
    pub offered_to: Option<OrganisationId>,
}

#[derive(Debug)]
struct Inner {
    rng: ChaCha8Rng,
    links: BTreeMap<String, Link>,
    /// The planted defect "recorded before sent": an attempt is answered
    /// at once, and the message only leaves at the next step.
    answer_before_sending: bool,
    in_transit: Vec<PendingDelivery>,
    received: Vec<Received>,
    /// Messages whose attempt was answered with success.
    acknowledged: BTreeSet<MessageId>,
    /// Offers that reached an organisation no longer holding the referral.
    misdelivered: Vec<String>,
}

/// The network. Clones share it.
#[derive(Debug, Clone)]
pub struct Network {
    inner: Arc<Mutex<Inner>>,
    store: MemoryStore,
}

impl Network {
    pub fn new(seed: u64, store: MemoryStore) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00),
                links: BTreeMap::new(),
                answer_before_sending: false,
                in_transit: Vec::new(),
                received: Vec::new(),
                acknowledged: BTreeSet::new(),
                misdelivered: Vec::new(),
            })),
            store,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Plants the defect of answering an attempt before its message left.
    pub fn plant_answer_before_sending(&self) {
        self.lock().answer_before_sending = true;
    }

    pub fn set_link(&self, destination: &str, link: Link) {
        let mut inner = self.lock();
        if link == Link::Up {
            inner.links.remove(destination);
        } else {
            inner.links.insert(destination.to_owned(), link);
        }
    }

    pub fn links(&self) -> BTreeMap<String, Link> {
        self.lock().links.clone()
    }

    /// Every link up again.
    pub fn heal(&self) {
        self.lock().links.clear();
    }

    /// The gateway's machine lost power: what it had not sent yet is gone.
    pub fn crash(&self) {
        self.lock().in_transit.clear();
    }

    /// Sends what a planted defect held back.
    pub async fn flush_in_transit(&self) {
        let held = std::mem::take(&mut self.lock().in_transit);
        for delivery in held {
            self.arrive(&delivery).await;
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub fn acknowledged(&self) -> BTreeSet<MessageId> {
        self.lock().acknowledged.clone()
    }

    /// The offers that reached an organisation no longer holding their
    /// referral since the last call.
    pub fn take_misdelivered(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().misdelivered)
    }

    /// The message reaches its receiver.
    async fn arrive(&self, delivery: &PendingDelivery) {
        let message = &delivery.message;
        self.lock().received.push(Received {
            destination: message.destination.key(),
            referral: message.referral.clone(),
            id: delivery.id.clone(),
            event: message.event.change.name(),
            at: message.event.at,
            offered_to: offered_to(delivery),
        });
    }

    /// An offer the gateway lets go is checked against the store as it
    /// stands: its organisation must still hold the referral (PIPL Art. 6:
    /// the case goes only where it is needed). One already on the wire
    /// when the referral is recalled arrives all the same; the withdrawal
    /// follows it.
    async fn check_offer(&self, delivery: &PendingDelivery) {
        let Some(organisation) = offered_to(delivery) else {
            return;
        };
        let referral = &delivery.message.referral;
        let holds = match self.store.referral(referral).await {
            Ok(Some(r)) => r.disclosure_to(&organisation) != Disclosure::Nothing,
            _ => false,
        };
        if !holds {
            self.lock().misdelivered.push(format!(
                "offer {} of {referral} was sent to {organisation}, which no longer holds it",
                delivery.id
            ));
        }
    }
}

/// The organisation a message offers its referral to: the platform's copy
/// of a routing (the court hears of the routing too; that is no offer).
fn offered_to(delivery: &PendingDelivery) -> Option<OrganisationId> {
    match (
        &delivery.message.destination,
        &delivery.message.event.change,
    ) {
        (Destination::Partner(_), Change::Routed { assignment, .. }) => {
            Some(assignment.organisation.clone())
        }
        _ => None,
    }
}

impl Dispatch for Network {
    async fn dispatch(&self, delivery: &PendingDelivery) -> Result<(), DeliveryError> {
        self.check_offer(delivery).await;
        let destination = delivery.message.destination.key();
        let (fails, arrives, delay) = {
            let mut inner = self.lock();
            let link = inner.links.get(&destination).copied().unwrap_or(Link::Up);
            match link {
                Link::Up => (false, true, 0),
                Link::Down => (true, false, 0),
                Link::Flaky(percent) => {
                    let fails = inner.rng.random_range(0..100) < percent;
                    (fails, !fails, 0)
                }
                Link::LosingAcks(percent) => (inner.rng.random_range(0..100) < percent, true, 0),
                Link::Slow(seconds) => (false, true, inner.rng.random_range(0..=seconds)),
                Link::Refusing => {
                    return Err(DeliveryError::Permanent(format!(
                        "{destination} refuses the message (simulated)"
                    )));
                }
            }
        };
        if delay > 0 {
            // The message is on the wire: it arrives after `delay` (on the
            // runtime's paused timers) whatever the sender does meanwhile.
            // The relay's timeout may pass first; it then sends the message
            // again, and this copy arrives late, perhaps after the messages
            // behind it in its lane: the receiver sees them out of order
            // and drops the late copy by its id.
            let network = self.clone();
            let message = delivery.clone();
            let arrived = tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                network.arrive(&message).await;
            });
            if arrived.await.is_err() {
                return Err(DeliveryError::Transient(format!(
                    "{destination}: the attempt was lost (simulated)"
                )));
            }
            self.lock().acknowledged.insert(delivery.id.clone());
            return Ok(());
        }
        if arrives {
            let held = {
                let mut inner = self.lock();
                let hold = inner.answer_before_sending && !fails;
                if hold {
                    inner.in_transit.push(delivery.clone());
                }
                hold
            };
            if !held {
                self.arrive(delivery).await;
            }
        }
        if fails {
            return Err(DeliveryError::Transient(format!(
                "{destination} did not answer (simulated)"
            )));
        }
        self.lock().acknowledged.insert(delivery.id.clone());
        Ok(())
    }
}
