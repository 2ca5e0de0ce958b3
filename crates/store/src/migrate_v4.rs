//! Migrating a store of schemas 2 and 3 to schema 4, in place, at its first
//! open by a build that writes schema 4.
//!
//! Schema 4 writes fewer keys per referral (`docs/store.md`, "Writes per
//! referral"):
//! - a referral's messages live under the referral (`o/{referral}\0{destination}\0{seq}`),
//!   so the `p/` index that found a message by its id is gone;
//! - a referral's head lists its timers, so the `T/` index that found them
//!   to replace them is gone.
//!
//! Both steps go in bounded batches and can be interrupted: a message key
//! is recognised by its layout and moved with every index naming it in one
//! batch; heads are rewritten a thousand referrals a batch, each batch with
//! the last referral done (`m/migrating/heads`), so the next open goes on
//! after it. The schema version is written last. Every record's bytes stay
//! as they were.

use std::path::Path;

use mediation_core::ids::ReferralId;
use mediation_core::store::StoreError;
use mediation_core::timer::TimerKind;
use mediation_records::decode_delivery;

use crate::format::unavailable;
use crate::format::{corrupt, head_value, split_head_v3};
use crate::keys::{self, Table};

/// What the migration to schema 4 moved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MigratedToFour {
    pub messages: u64,
    pub referrals: u64,
    pub timers: u64,
}

/// Keys per batch.
const BATCH: usize = 1_000;

/// How far the rewriting of heads got: the last referral whose head lists
/// its timers.
const HEADS_DONE: &[u8] = keys::MIGRATING_HEADS;

pub(crate) fn to_schema_4(
    db: &sled::Db,
    path: &Path,
    from: u32,
) -> Result<MigratedToFour, StoreError> {
    tracing::info!(path = %path.display(), from, "migrating the store to schema 4: messages under their referral, timers in the referral's head");
    let started = std::time::Instant::now();
    let mut done = MigratedToFour::default();
    move_messages(db, &mut done)?;
    list_timers_in_heads(db, &mut done)?;
    // Whatever is left of the tables schema 4 retired names nothing any
    // more (an index entry whose message or referral had gone).
    for table in Table::ALL.into_iter().filter(|t| t.retired_in() == Some(4)) {
        let left: Vec<sled::IVec> = db
            .scan_prefix(table.prefix())
            .keys()
            .collect::<Result<_, _>>()
            .map_err(unavailable)?;
        if !left.is_empty() {
            tracing::warn!(
                ?table,
                keys = left.len(),
                "migrating to schema 4: stale index entries removed"
            );
        }
        for key in left {
            db.remove(key).map_err(unavailable)?;
        }
    }
    let mut last = sled::Batch::default();
    last.insert(keys::SCHEMA, &4u32.to_be_bytes());
    last.remove(HEADS_DONE);
    db.apply_batch(last).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(
        messages = done.messages,
        referrals = done.referrals,
        timers = done.timers,
        elapsed = ?started.elapsed(),
        "store migrated to schema 4"
    );
    Ok(done)
}

/// Moves every message of the old layout under its referral, with the
/// indexes that name its key: its lane-head entry in the schedule, its
/// place in its destination's order of arrival, its dead letter; and drops
/// its `p/` entry.
fn move_messages(db: &sled::Db, done: &mut MigratedToFour) -> Result<(), StoreError> {
    loop {
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        // New keys start with a referral id, which sorts before every
        // destination key ("court:", "partner:"): the old keys are the
        // ones left at the end of the table.
        for entry in db.range(Table::Outbox.bounds()).rev() {
            let (key, value) = entry.map_err(unavailable)?;
            let Some((destination, referral, n)) = keys::v3::parts(&key) else {
                if keys::referral_of_message(&key).is_some() {
                    // The first key of the new layout: every old one is moved.
                    break;
                }
                return Err(StoreError::Corrupt(format!(
                    "an outbox key of neither layout: {}",
                    String::from_utf8_lossy(&key)
                )));
            };
            let destination = std::str::from_utf8(destination)
                .map_err(|_| StoreError::Corrupt("outbox key".into()))?
                .to_owned();
            let mut new_key = format!("o/{referral}\0{destination}\0").into_bytes();
            new_key.extend_from_slice(keys::seq(n).as_bytes());
            let record = decode_delivery(&value).map_err(|e| corrupt(&key, e))?;
            let due = record.next_attempt_at().map_err(|e| corrupt(&key, e))?;
            let scheduled = keys::v3::schedule(&key, due, n);
            if db.get(&scheduled).map_err(unavailable)?.is_some() {
                batch.insert(scheduled, new_key.clone());
            }
            let waiting = keys::waiting(&new_key, n);
            if db.get(&waiting).map_err(unavailable)?.is_some() {
                batch.insert(waiting, new_key.clone());
            }
            if db.get(keys::dead(n)).map_err(unavailable)?.is_some() {
                batch.insert(keys::dead(n), new_key.clone());
            }
            batch.remove(keys::v3::referral_message(&referral, n));
            batch.remove(key.to_vec());
            batch.insert(new_key, value.to_vec());
            done.messages += 1;
            in_batch += 1;
            if in_batch == BATCH {
                break;
            }
        }
        db.apply_batch(batch).map_err(unavailable)?;
        if done.messages > 0 && done.messages.is_multiple_of(100_000) {
            tracing::info!(
                messages = done.messages,
                "migrating to schema 4: messages moved"
            );
        }
        if in_batch < BATCH {
            return Ok(());
        }
    }
}

/// Rewrites every head to list its referral's timers, read from the `T/`
/// index, which goes.
fn list_timers_in_heads(db: &sled::Db, done: &mut MigratedToFour) -> Result<(), StoreError> {
    let mut after: Option<Vec<u8>> = db.get(HEADS_DONE).map_err(unavailable)?.map(|v| v.to_vec());
    loop {
        let start = match &after {
            Some(last) => {
                let mut next = last.clone();
                next.push(0);
                next
            }
            None => Table::Heads.prefix().to_vec(),
        };
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        let mut last = None;
        for entry in db.range(start..Table::Heads.bounds().end) {
            let (key, value) = entry.map_err(unavailable)?;
            let id = keys::referral_of_head(&key)
                .ok_or_else(|| StoreError::Corrupt("referral head key".into()))?;
            let (version, snapshot) = split_head_v3(&key, &value)?;
            let timers = timers_of(db, &id, &mut batch)?;
            done.timers += timers.len() as u64;
            batch.insert(key.to_vec(), head_value(version, &timers, snapshot));
            done.referrals += 1;
            in_batch += 1;
            last = Some(key.to_vec());
            if in_batch == BATCH {
                break;
            }
        }
        let Some(last) = last else {
            return Ok(());
        };
        batch.insert(HEADS_DONE, last.clone());
        db.apply_batch(batch).map_err(unavailable)?;
        if done.referrals.is_multiple_of(100_000) {
            tracing::info!(
                referrals = done.referrals,
                "migrating to schema 4: heads rewritten"
            );
        }
        after = Some(last);
    }
}

/// A referral's timers as its `T/` index names them; the index entries go
/// in `batch`.
fn timers_of(
    db: &sled::Db,
    referral: &ReferralId,
    batch: &mut sled::Batch,
) -> Result<Vec<(TimerKind, jiff::Timestamp)>, StoreError> {
    let mut timers = Vec::new();
    for entry in db.scan_prefix(
        [
            &Table::TimerRefs.prefix()[..],
            format!("{referral}/").as_bytes(),
        ]
        .concat(),
    ) {
        let (ref_key, timer_key) = entry.map_err(unavailable)?;
        let corrupt =
            || StoreError::Corrupt(format!("timer index {}", String::from_utf8_lossy(&ref_key)));
        let at = keys::instant_in(&timer_key).ok_or_else(corrupt)?;
        let kind_text = std::str::from_utf8(&timer_key)
            .ok()
            .and_then(|k| k.rsplit('/').next())
            .ok_or_else(corrupt)?;
        let kind = TimerKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind_text)
            .ok_or_else(corrupt)?;
        timers.push((kind, at));
        batch.remove(ref_key.to_vec());
    }
    Ok(timers)
}
