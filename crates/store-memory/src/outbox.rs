//! The outbox ([`OutboxStore`]): lanes delivered one head at a time,
//! retries, dead letters and their replay, and destinations' backlogs.

use std::collections::BTreeMap;

use jiff::Timestamp;
use mediation_core::ids::ReferralId;
use mediation_core::store::{
    Backlog, BacklogTally, DeliveryOutcome, MessageId, OutboxStore, PendingDelivery, StoreError,
};

use crate::MemoryStore;
use crate::state::State;

/// How many heads of a destination a relay pass may look at for each
/// delivery it can start there, passing over those it must skip...
const SCAN_BUDGET_PER_DUE: usize = 16;

/// ...and how many more: the sled store's bounds, so that a relay sees the
/// same heads whichever of the two it runs on.
const SCAN_BUDGET_FLOOR: usize = 1_024;

/// Every lane's head that is not a dead letter, by destination (in key
/// order), each destination's in the order they are due: when, then by
/// number.
fn heads(state: &State) -> BTreeMap<&str, Vec<(Timestamp, u64)>> {
    let mut heads: BTreeMap<&str, Vec<(Timestamp, u64)>> = BTreeMap::new();
    for lane in state.lanes.values() {
        let Some(&n) = lane.first() else {
            continue;
        };
        // A dead head blocks its lane until it is replayed.
        if let Some(head) = state.messages.get(&n)
            && !head.is_dead()
        {
            heads
                .entry(head.destination())
                .or_default()
                .push((head.delivery.next_attempt_at, n));
        }
    }
    for due in heads.values_mut() {
        due.sort_unstable();
    }
    heads
}

impl OutboxStore for MemoryStore {
    async fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        self.give_way().await;
        Ok(self.read(|inner| {
            // A message a crash could undo is not handed out: its
            // destination must not hear of it.
            let durable = inner.durable().outbox_seq;
            let state = &inner.written;
            let mut found: Vec<(Timestamp, PendingDelivery)> = Vec::new();
            for (destination, due) in heads(state) {
                if due.first().is_none_or(|(earliest, _)| *earliest > now) {
                    continue;
                }
                let room = room(destination).min(limit);
                if room == 0 {
                    continue;
                }
                let budget = room
                    .saturating_mul(SCAN_BUDGET_PER_DUE)
                    .saturating_add(SCAN_BUDGET_FLOOR);
                let mut taken = 0;
                for &(at, n) in due.iter().take_while(|(at, _)| *at <= now).take(budget) {
                    if taken == room {
                        break;
                    }
                    if n > durable {
                        continue;
                    }
                    let Some(message) = state.messages.get(&n) else {
                        continue;
                    };
                    if skip(destination, &message.delivery.id) {
                        continue;
                    }
                    found.push((at, message.delivery.clone()));
                    taken += 1;
                }
            }
            // Earliest first across destinations, as within each.
            found.sort_by_key(|(at, _)| *at);
            found.truncate(limit);
            found.into_iter().map(|(_, delivery)| delivery).collect()
        }))
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.read(|inner| {
            heads(&inner.written)
                .values()
                .filter_map(|due| due.first().map(|(at, _)| *at))
                .min()
        }))
    }

    async fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        self.give_way().await;
        self.write(|state| state.record_delivery(id, outcome))
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        Ok(self.read(|inner| {
            let state = &inner.written;
            state
                .dead
                .iter()
                .filter_map(|n| state.messages.get(n))
                .take(limit)
                .map(|message| message.delivery.clone())
                .collect()
        }))
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        self.write(|state| state.replay_dead_letter(id, at))
    }

    async fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        Ok(self.read(|inner| {
            let state = &inner.written;
            let mut numbers: Vec<u64> = state
                .lanes
                .range((referral.clone(), String::new())..)
                .take_while(|((of, _), _)| of == referral)
                .flat_map(|(_, lane)| lane.iter().copied())
                .collect();
            // Lane by lane in the store; in the order they were enqueued here.
            numbers.sort_unstable();
            numbers
                .into_iter()
                .filter_map(|n| state.messages.get(&n))
                .map(|message| message.delivery.clone())
                .collect()
        }))
    }

    /// Counted from the waiting messages themselves, as core's
    /// [`BacklogTally`] counts them.
    async fn backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        Ok(self.read(|inner| {
            let mut tally = BacklogTally::default();
            for message in inner.written.messages.values() {
                tally.add(
                    message.destination(),
                    message.is_dead(),
                    message.delivery.enqueued_at,
                );
            }
            tally.into_backlogs().into_values().collect()
        }))
    }
}
