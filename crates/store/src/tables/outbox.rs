//! The outbox: each referral's messages in their lanes (one per destination
//! and referral), the schedule of lane heads by when each is next due, the
//! dead letters, each destination's order of arrival and the messages'
//! trace contexts; their reads, and the [`OutboxStore`] implementation,
//! whose delivery outcomes and replays are submitted to the writer. The
//! destinations' counts of waiting messages are [`super::counters`]'.

use jiff::Timestamp;
use mediation_core::ids::ReferralId;
use mediation_core::store::{
    Backlog, DeliveryOutcome, MessageId, OutboxStore, PendingDelivery, StoreError,
};
use mediation_records::{decode_delivery, encode_alert};

use super::referrals::read_bundle;
use crate::SledStore;
use crate::format::corrupt;
use crate::format::unavailable;
use crate::keys::{self, Table};
use crate::writer::{Op, Outcome};

/// How many schedule entries of a destination a relay pass may read for
/// each delivery it can start there, passing over those it must skip...
const SCAN_BUDGET_PER_DUE: usize = 16;

/// ...and how many more: at least the destination's attempts in flight.
const SCAN_BUDGET_FLOOR: usize = 1_024;

/// The destinations with a lane head in the schedule, in key order, each
/// with when its earliest head is due (its first key's): one seek per
/// destination, whatever waits for each.
fn scheduled_destinations(db: &sled::Db) -> Result<Vec<(Vec<u8>, Timestamp)>, StoreError> {
    let corrupt = || StoreError::Corrupt("schedule key".into());
    let mut found = Vec::new();
    let mut from = Table::Schedule.prefix().to_vec();
    let end = Table::Schedule.bounds().end;
    while let Some(entry) = db.range(from..end.clone()).next() {
        let (key, _) = entry.map_err(unavailable)?;
        let destination = keys::destination_of_schedule(&key)
            .ok_or_else(corrupt)?
            .to_vec();
        let earliest = keys::instant_in(&key).ok_or_else(corrupt)?;
        from = keys::after_destination(&destination);
        found.push((destination, earliest));
    }
    Ok(found)
}

/// A message from its key and stored record, with the referral's bundle
/// when it carries it.
fn read_delivery(db: &sled::Db, key: &[u8], bytes: &[u8]) -> Result<PendingDelivery, StoreError> {
    let record = decode_delivery(bytes).map_err(|e| corrupt(key, e))?;
    let (_, id) =
        keys::message_id_of(key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
    let bundle = if record.needs_bundle() {
        let referral = keys::referral_of_message(key)
            .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
        Some(read_bundle(db, &referral)?.ok_or_else(|| {
            StoreError::Corrupt(format!("{referral}: the bundle a message names is missing"))
        })?)
    } else {
        None
    };
    let trace = match keys::message_of_id(&id) {
        Some((referral, n)) => db
            .get(keys::trace(&referral, n))
            .map_err(unavailable)?
            .and_then(|bytes| {
                // A trace context that does not read is dropped: it only
                // links spans, and the message must still go.
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| mediation_core::outbox::TraceContext::parse(t).ok())
            }),
        None => None,
    };
    let mut pending = record
        .load(id, bundle.as_ref())
        .map_err(|e| corrupt(key, e))?;
    pending.trace = trace;
    Ok(pending)
}

/// The outbox's reads, answered at once on the caller's thread (see
/// [`super`]).
impl SledStore {
    pub fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &dyn Fn(&str) -> usize,
        skip: &dyn Fn(&str, &MessageId) -> bool,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let durable = self
            .inner
            .shared
            .durable_outbox
            .load(std::sync::atomic::Ordering::Acquire);
        let db = self.db()?;
        let mut found: Vec<(Timestamp, PendingDelivery)> = Vec::new();
        for (destination, earliest) in scheduled_destinations(&db)? {
            if earliest > now {
                continue;
            }
            let name = String::from_utf8_lossy(&destination);
            let room = room(&name).min(limit);
            if room == 0 {
                continue;
            }
            // The heads skipped count toward a budget well beyond the room:
            // a destination's own attempts in flight are at its head, and a
            // pass must not walk everything waiting to find them.
            let budget = room
                .saturating_mul(SCAN_BUDGET_PER_DUE)
                .saturating_add(SCAN_BUDGET_FLOOR);
            let mut taken = 0;
            for entry in db
                .range(keys::schedule_until(&destination, now))
                .take(budget)
            {
                if taken == room {
                    break;
                }
                let (key, target) = entry.map_err(unavailable)?;
                // A message whose commit is applied but not yet durable
                // could be undone by a power cut; the destination must not
                // hear of it.
                if keys::trailing_seq(&target).is_none_or(|n| n > durable) {
                    continue;
                }
                if let Some((destination, id)) = keys::message_id_of(&target)
                    && skip(destination, &id)
                {
                    continue;
                }
                if let Some(bytes) = db.get(&target).map_err(unavailable)? {
                    let due = keys::instant_in(&key)
                        .ok_or_else(|| StoreError::Corrupt("schedule key".into()))?;
                    found.push((due, read_delivery(&db, &target, &bytes)?));
                    taken += 1;
                }
            }
        }
        // Earliest first across destinations, as within each.
        found.sort_by_key(|(due, _)| *due);
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, pending)| pending).collect())
    }
    pub fn next_delivery_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(scheduled_destinations(&*self.db()?)?
            .into_iter()
            .map(|(_, earliest)| earliest)
            .min())
    }
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        let db = self.db()?;
        follow(&db, db.scan_prefix(Table::DeadLetters.prefix()), limit)
    }
    pub fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let db = self.db()?;
        let mut found = Vec::new();
        for entry in db.scan_prefix(keys::referral_outbox(referral)) {
            let (key, bytes) = entry.map_err(unavailable)?;
            let n =
                keys::trailing_seq(&key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
            found.push((n, read_delivery(&db, &key, &bytes)?));
        }
        // Lane by lane in the store; in the order they were enqueued here.
        found.sort_by_key(|(n, _)| *n);
        Ok(found.into_iter().map(|(_, d)| d).collect())
    }
}

/// Follows index entries (whose values are keys) to the messages they name,
/// in `db`: the one handle the caller holds, so that a reader never asks
/// for a second while holding the first (a checkpoint waits for the first).
fn follow(
    db: &sled::Db,
    index: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
    limit: usize,
) -> Result<Vec<PendingDelivery>, StoreError> {
    let mut found = Vec::new();
    for entry in index.take(limit) {
        let (_, target) = entry.map_err(unavailable)?;
        if let Some(bytes) = db.get(&target).map_err(unavailable)? {
            found.push(read_delivery(db, &target, &bytes)?);
        }
    }
    Ok(found)
}

impl OutboxStore for SledStore {
    fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        std::future::ready(SledStore::due_deliveries_except(
            self, now, limit, room, skip,
        ))
    }

    fn next_delivery_at(
        &self,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        std::future::ready(SledStore::next_delivery_at(self))
    }

    async fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let outcome = match outcome {
            DeliveryOutcome::Delivered => Outcome::Delivered,
            // The writer removes a dead letter as it removes a delivered
            // message, with its dead count.
            DeliveryOutcome::Discarded => Outcome::Discarded,
            DeliveryOutcome::Retry { at, error } => Outcome::Retry { at, error },
            DeliveryOutcome::Dead { at, error, alert } => Outcome::Dead {
                at,
                error,
                alert: encode_alert(&alert),
            },
        };
        self.submit(Op::Delivery {
            id: id.clone(),
            outcome,
        })
        .await
        .map(|_| ())
    }

    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        std::future::ready(SledStore::dead_letters(self, limit))
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        self.submit(Op::Replay { id: id.clone(), at })
            .await
            .map(|_| ())
    }

    fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        std::future::ready(SledStore::pending_messages(self, referral))
    }

    fn backlog(&self) -> impl Future<Output = Result<Vec<Backlog>, StoreError>> + Send {
        std::future::ready(SledStore::backlog(self))
    }
}
