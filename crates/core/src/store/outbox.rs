//! The outbox: the messages commits enqueued, delivered lane by lane, and
//! the dead letters set aside.

use std::future::Future;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::alert::AlertRecord;
use crate::ids::ReferralId;
use crate::outbox::OutboundMessage;

/// A message's stable id, carried to the receiver so it can drop duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub String);

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message waiting in the outbox, with its delivery history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    pub id: MessageId,
    pub message: OutboundMessage,
    pub enqueued_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    /// Set when the message was moved to the dead letters.
    pub dead_at: Option<Timestamp>,
    /// The trace of the call whose command made the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::outbox::TraceContext>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Received by the destination: the message leaves the outbox and the next
    /// one of its lane becomes due.
    Delivered,
    /// Failed; try again at `at`.
    Retry { at: Timestamp, error: String },
    /// Failed for good: set aside as a dead letter, with an alert. Later messages
    /// of the lane wait until it is replayed.
    Dead {
        at: Timestamp,
        error: String,
        alert: AlertRecord,
    },
    /// Never delivered and never to be: a dead letter of a referral whose
    /// personal data is purged (`crate::retention`). It leaves the outbox as
    /// a delivered message does, and the next message of its lane (there is
    /// none, for a purged referral) becomes due.
    Discarded,
}

/// The outbox backlog of one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    pub destination: String,
    pub pending: u64,
    pub dead: u64,
    /// The earliest enqueue time among the destination's waiting
    /// messages, pending or dead: a retried or dead message keeps its age.
    pub oldest_enqueued_at: Option<Timestamp>,
}

/// The outbox and its dead letters.
pub trait OutboxStore: Send + Sync {
    /// The first message of every lane whose next attempt is due at or before
    /// `now`, earliest first, at most `limit`. A lane whose first message is a
    /// dead letter yields nothing.
    fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        async move {
            self.due_deliveries_except(now, limit, &|_| usize::MAX, &|_, _| false)
                .await
        }
    }

    /// The same, destination by destination: at most `room(destination
    /// key)` heads of each destination, and none read at all of one with no
    /// room; leaving out, without reading them, the messages for which
    /// `skip(destination key, id)` holds. A store may bound the heads it
    /// looks at in a destination, skipped or not, but to well beyond its
    /// room. The relay gives each destination the attempts it has to spare
    /// and skips its attempts in flight: a busy relay passes over the store
    /// after every answer, so a pass must cost what it can start, not what
    /// is waiting.
    fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send;

    /// When the next attempt of any lane is due.
    fn next_delivery_at(
        &self,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;

    /// Records how an attempt ended; durable before it returns.
    fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Dead letters, oldest first.
    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send;

    /// Puts a dead letter back at the head of its lane, due at `at`, with its
    /// attempts reset.
    fn replay_dead_letter(
        &self,
        id: &MessageId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every message of `referral` still in the outbox (pending or dead), in
    /// the order they were enqueued.
    fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send;

    /// Pending and dead messages per destination.
    fn backlog(&self) -> impl Future<Output = Result<Vec<Backlog>, StoreError>> + Send;
}
