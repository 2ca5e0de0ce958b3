//! The counts kept with the writes so that a read need not walk the
//! records: each organisation's open referrals (`l/`) and each
//! destination's pending and dead messages (`n/`, with the order of
//! arrival of those that have failed, `w/`). Here they are read, made once for a store written before
//! they were kept, and checked against the records (`store verify`).

use std::collections::BTreeMap;
use std::path::Path;

use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::Referral;
use mediation_core::store::{Backlog, BacklogMismatch, BacklogTally, HistoryCheck, StoreError};
use mediation_records::decode_delivery_state;

use super::referrals::{read_history, read_referral};
use crate::SledStore;
use crate::format::corrupt;
use crate::format::unavailable;
use crate::keys::{self, Table};
use crate::writer;

/// Replays every referral's history, in id order, handing each to `each`,
/// with a line of progress every 100,000 referrals. Returns how many.
fn replay_all(
    db: &sled::Db,
    mut each: impl FnMut(ReferralId, Referral) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let started = std::time::Instant::now();
    let mut referrals = 0_u64;
    for entry in db.range(Table::Heads.bounds()) {
        let (key, _) = entry.map_err(unavailable)?;
        let id = keys::referral_of_head(&key)
            .ok_or_else(|| StoreError::Corrupt("referral head key".into()))?;
        let events = read_history(db, &id)?.unwrap_or_default();
        let referral = Referral::replay(&events)
            .map_err(|e| StoreError::Corrupt(format!("history of {id}: {e}")))?;
        each(id, referral)?;
        referrals += 1;
        if referrals.is_multiple_of(100_000) {
            tracing::info!(referrals, elapsed = ?started.elapsed(), "replaying referrals' histories");
        }
    }
    Ok(referrals)
}

/// Each organisation's open referrals as the histories say.
fn count_open(db: &sled::Db) -> Result<BTreeMap<OrganisationId, u64>, StoreError> {
    let mut loads: BTreeMap<OrganisationId, u64> = BTreeMap::new();
    replay_all(db, |_, referral| {
        if let Some(organisation) = mediation_core::routing::occupies(&referral) {
            *loads.entry(organisation.clone()).or_default() += 1;
        }
        Ok(())
    })?;
    Ok(loads)
}

/// Counts each organisation's open referrals in a store written before the
/// counts were kept: one replay of every history, once. The marker is
/// written with the counts, so an interrupted count is simply done again.
pub(crate) fn count_loads(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "counting organisations' open referrals (once, for a store written before the counts were kept)");
    let started = std::time::Instant::now();
    let loads = count_open(db)?;
    let mut batch = sled::Batch::default();
    for (organisation, open) in &loads {
        batch.insert(keys::load(organisation), &open.to_be_bytes());
    }
    batch.insert(keys::LOADS_KEPT, &[][..]);
    db.apply_batch(batch).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(organisations = loads.len(), open = loads.values().sum::<u64>(), elapsed = ?started.elapsed(), "organisations' open referrals counted");
    Ok(())
}

/// Counts one waiting message, from its key and stored record, into
/// `count`; returns its number, which is its place in its destination's
/// order of arrival (`w/`), and whether it has failed (whether it has
/// that place).
fn count_message(
    count: &mut BacklogTally,
    key: &[u8],
    value: &[u8],
) -> Result<(u64, bool), StoreError> {
    // Where the message stands, without the message.
    let state = decode_delivery_state(value).map_err(|e| corrupt(key, e))?;
    let not_a_message = || {
        StoreError::Corrupt(format!(
            "{}: not a message key",
            String::from_utf8_lossy(key)
        ))
    };
    let (destination, _) = keys::message_id_of(key).ok_or_else(not_a_message)?;
    let n = keys::trailing_seq(key).ok_or_else(not_a_message)?;
    count.add(destination, state.dead, state.enqueued_at);
    Ok((n, state.failed))
}

/// Every destination's waiting messages, counted from the messages
/// themselves; and how many of them have failed (each must have its place
/// in the order of arrival).
fn count_backlog(db: &sled::Db) -> Result<(BTreeMap<String, Backlog>, u64), StoreError> {
    let mut count = BacklogTally::default();
    let mut failed = 0;
    for entry in db.scan_prefix(Table::Outbox.prefix()) {
        let (key, value) = entry.map_err(unavailable)?;
        let (_, has_failed) = count_message(&mut count, &key, &value)?;
        failed += u64::from(has_failed);
    }
    Ok((count.into_backlogs(), failed))
}

/// Once, for a store written before the backlog was kept: counts every
/// waiting message and puts those that have failed in their destination's
/// order of arrival, in one pass. The counts and the marker go last, in one batch, so an
/// interrupted run is simply run again.
pub(crate) fn keep_backlog(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "counting the outbox's waiting messages (once, for a store written before the counts were kept)");
    let started = std::time::Instant::now();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    let mut messages = 0u64;
    let mut count = BacklogTally::default();
    for entry in db.scan_prefix(Table::Outbox.prefix()) {
        let (key, value) = entry.map_err(unavailable)?;
        let (n, failed) = count_message(&mut count, &key, &value)?;
        if failed {
            batch.insert(keys::waiting(&key, n), key.to_vec());
            in_batch += 1;
        }
        messages += 1;
        if in_batch == 10_000 {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
            in_batch = 0;
        }
        if messages.is_multiple_of(1_000_000) {
            tracing::info!(messages, "counting the outbox");
        }
    }
    let counts = count.into_backlogs();
    for backlog in counts.values() {
        batch.insert(
            keys::backlog(backlog.destination.as_bytes()),
            &writer::encode_backlog([backlog.pending, backlog.dead])[..],
        );
    }
    batch.insert(keys::BACKLOG_KEPT, &[][..]);
    db.apply_batch(batch).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(messages, destinations = counts.len(), elapsed = ?started.elapsed(), "the outbox's waiting messages counted");
    Ok(())
}

/// The earliest enqueue time among a destination's waiting messages: the
/// first in its order of arrival of those that have failed (`w/`), or its
/// first schedule entry if that one never failed and is older. Two reads,
/// however many wait (the reasoning is at [`keys::waiting`]).
fn oldest_waiting(
    db: &sled::Db,
    destination: &[u8],
) -> Result<Option<jiff::Timestamp>, StoreError> {
    // What the index entry names: the message's enqueue time, and
    // whether it has failed.
    let first = |entry: Option<sled::Result<(sled::IVec, sled::IVec)>>| -> Result<_, StoreError> {
        let Some(entry) = entry else { return Ok(None) };
        let (_, message_key) = entry.map_err(unavailable)?;
        db.get(&message_key)
            .map_err(unavailable)?
            .map(|bytes| decode_delivery_state(&bytes).map_err(|e| corrupt(&message_key, e)))
            .transpose()
    };
    // The schedule first: a message that fails between the two reads
    // leaves the schedule's head for its `w/` entry, which the second read
    // then finds (the other order could miss it in both).
    let scheduled = first(
        db.range(keys::destination_schedule(destination)..keys::after_destination(destination))
            .next(),
    )?;
    let failed = first(
        db.scan_prefix(keys::destination_waiting(destination))
            .next(),
    )?;
    // A failed message first in the schedule is younger than its own `w/`
    // entry says: the first read counted it.
    let never_failed = scheduled.filter(|state| !state.failed);
    let oldest = [failed, never_failed]
        .into_iter()
        .flatten()
        .map(|state| state.enqueued_at)
        .min();
    Ok(oldest)
}

/// The counts' reads and checks, answered at once on the caller's thread
/// (see [`super`]).
impl SledStore {
    pub fn loads(&self) -> Result<Vec<(OrganisationId, u64)>, StoreError> {
        let mut loads = Vec::new();
        for entry in self.db()?.scan_prefix(Table::Loads.prefix()) {
            let (key, value) = entry.map_err(unavailable)?;
            let organisation = keys::organisation_of_load(&key)
                .ok_or_else(|| StoreError::Corrupt("load key".into()))?;
            loads.push((organisation, writer::read_count(Some(&value))));
        }
        Ok(loads)
    }
    /// Read from the counts each write keeps, and the oldest waiting
    /// message of each destination: as fast with a million waiting as
    /// with none.
    pub fn backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        let db = self.db()?;
        let mut found = Vec::new();
        for entry in db.scan_prefix(Table::Backlogs.prefix()) {
            let (key, value) = entry.map_err(unavailable)?;
            let destination = keys::destination_of_backlog(&key)
                .ok_or_else(|| StoreError::Corrupt("backlog key".into()))?;
            let [pending, dead] = writer::read_backlog(Some(&value));
            let oldest = oldest_waiting(&db, destination)?;
            found.push(Backlog {
                destination: String::from_utf8_lossy(destination).into_owned(),
                pending,
                dead,
                oldest_enqueued_at: oldest,
            });
        }
        Ok(found)
    }

    /// Destinations whose kept counts, or order of arrival, differ from
    /// their messages: for `store verify` and the crash tests.
    pub fn verify_backlog(&self) -> Result<Vec<BacklogMismatch>, StoreError> {
        let db = self.db()?;
        let (counted, failed) = count_backlog(&db)?;
        let kept: BTreeMap<String, Backlog> = self
            .backlog()?
            .into_iter()
            .map(|b| (b.destination.clone(), b))
            .collect();
        let (mut waiting, mut never_failed) = (0u64, 0u64);
        for entry in db.scan_prefix(Table::Arrivals.prefix()) {
            let (_, message_key) = entry.map_err(unavailable)?;
            let Some(bytes) = db.get(&message_key).map_err(unavailable)? else {
                return Err(StoreError::Corrupt(format!(
                    "the order of arrival names {}, which is not waiting",
                    String::from_utf8_lossy(&message_key)
                )));
            };
            // An entry for a message that never failed hides no age (the
            // oldest is still found) but should not be there: reported.
            if decode_delivery_state(&bytes)
                .map_err(|e| corrupt(&message_key, e))?
                .failed
            {
                waiting += 1;
            } else {
                never_failed += 1;
            }
        }
        let mut mismatches = mediation_core::store::backlog_mismatches(&kept, &counted);
        if (waiting != failed || never_failed > 0) && mismatches.is_empty() {
            mismatches.push(BacklogMismatch {
                destination: format!(
                    "(order of arrival: {waiting} entries for {failed} messages that have failed, \
                     {never_failed} for messages that never failed)"
                ),
                kept: [waiting + never_failed, 0],
                counted: [failed, 0],
            });
        }
        Ok(mismatches)
    }

    /// Replays every history and checks what the commits kept against
    /// it: each referral's snapshot, and each organisation's count of open
    /// referrals. For `store verify`.
    pub fn verify_histories(&self) -> Result<HistoryCheck, StoreError> {
        let db = self.db()?;
        let mut counted: BTreeMap<OrganisationId, u64> = BTreeMap::new();
        let mut snapshot_mismatches = Vec::new();
        let referrals = replay_all(&db, |id, replayed| {
            if let Some(organisation) = mediation_core::routing::occupies(&replayed) {
                *counted.entry(organisation.clone()).or_default() += 1;
            }
            if read_referral(&db, &id)?.as_ref() != Some(&replayed) {
                snapshot_mismatches.push(id);
            }
            Ok(())
        })?;
        let kept: BTreeMap<OrganisationId, u64> = self.loads()?.into_iter().collect();
        let load_mismatches = mediation_core::store::load_mismatches(&kept, &counted);
        Ok(HistoryCheck {
            referrals,
            open: counted.values().sum(),
            load_mismatches,
            snapshot_mismatches,
        })
    }
}
