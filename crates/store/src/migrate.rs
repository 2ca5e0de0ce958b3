//! Migrating a store of the first format (schema 1: the domain types' serde
//! JSON) to the store's own record format (schema 2), in place, at its
//! first open by a build that writes schema 2.
//!
//! Every record is rewritten in batches; a referral's bundle, events and new
//! snapshot go in one batch, so a referral is migrated whole or not at all.
//! A record already in the new format is passed over, and the schema
//! version is written last: an interrupted migration is simply run again at
//! the next open, and loses nothing. Audit entries keep the bytes that were
//! hashed when they were written, so the chain verifies as before.

use std::path::Path;

use mediation_core::alert::{Acknowledgement, Alert};
use mediation_core::audit::AuditEntry;
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::store::{PendingDelivery, StoreError};
use mediation_core::timer::Timer;
use mediation_records::{
    encode_acknowledgement, encode_alert, encode_bundle, encode_delivery, encode_event,
    encode_plain, encode_snapshot, encode_timer, is_first_format,
};

use crate::format::unavailable;
use crate::format::{AuditHead, AuditLink, head_value_v3};
use crate::keys::{self, Table};
use crate::v1;

/// What a migration rewrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Migrated {
    pub referrals: u64,
    pub events: u64,
    pub messages: u64,
    /// Lane heads moved into their destinations' schedules.
    pub schedule: u64,
    pub timers: u64,
    pub alerts: u64,
    pub acknowledgements: u64,
    pub audit_entries: u64,
}

/// Referrals rewritten per batch.
const REFERRALS_PER_BATCH: usize = 1_000;

pub(crate) fn from_first_format(db: &sled::Db, path: &Path) -> Result<Migrated, StoreError> {
    tracing::info!(path = %path.display(), "migrating the store from schema 1 (JSON records) to schema 2 (the store's own format)");
    let started = std::time::Instant::now();
    let mut done = Migrated::default();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    for entry in db.range(Table::Heads.bounds()) {
        let (key, value) = entry.map_err(unavailable)?;
        if !is_first_format(&value) {
            continue;
        }
        let id = keys::referral_of_head(&key)
            .ok_or_else(|| StoreError::Corrupt("referral head key".into()))?;
        let head: v1::Head = v1::decode(&key, &value)?;
        let mut events = Vec::new();
        for entry in db.scan_prefix(keys::events_prefix(&id)) {
            let (event_key, bytes) = entry.map_err(unavailable)?;
            let event: Event = v1::decode(&event_key, &bytes)?;
            batch.insert(event_key, encode_event(&event));
            events.push(event);
        }
        let referral = Referral::replay(&events)
            .map_err(|e| StoreError::Corrupt(format!("history of {id}: {e}")))?;
        if referral.version() != head.version {
            return Err(StoreError::Corrupt(format!(
                "{id}: head at version {} but {} events",
                head.version,
                referral.version()
            )));
        }
        batch.insert(keys::bundle(&id), encode_bundle(referral.bundle()));
        batch.insert(
            key,
            head_value_v3(referral.version(), &encode_snapshot(&referral.state())),
        );
        done.referrals += 1;
        done.events += events.len() as u64;
        in_batch += 1;
        if in_batch == REFERRALS_PER_BATCH {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
            in_batch = 0;
        }
        if done.referrals.is_multiple_of(100_000) {
            tracing::info!(referrals = done.referrals, elapsed = ?started.elapsed(), "migrating referrals");
        }
    }
    db.apply_batch(std::mem::take(&mut batch))
        .map_err(unavailable)?;
    done.messages = rewrite(db, Table::Outbox.prefix(), |key, bytes| {
        let pending: PendingDelivery = v1::decode(key, bytes)?;
        Ok(encode_delivery(&pending))
    })?;
    done.schedule = reschedule(db)?;
    // The first format's indexes of messages by number (`i/`) and of lane
    // heads' places in the schedule (`S/`): the keys say both now.
    for prefix in [Table::FirstIndex.prefix(), Table::FirstSchedule.prefix()] {
        let mut batch = sled::Batch::default();
        for entry in db.scan_prefix(prefix) {
            batch.remove(entry.map_err(unavailable)?.0);
        }
        db.apply_batch(batch).map_err(unavailable)?;
    }
    done.timers = rewrite(db, Table::Timers.prefix(), |key, bytes| {
        let timer: Timer = v1::decode(key, bytes)?;
        Ok(encode_timer(&timer))
    })?;
    done.alerts = rewrite(db, Table::Alerts.prefix(), |key, bytes| {
        let alert: Alert = v1::decode(key, bytes)?;
        Ok(encode_alert(&alert.record))
    })?;
    done.acknowledgements = rewrite(db, Table::Acknowledgements.prefix(), |key, bytes| {
        let ack: Acknowledgement = v1::decode(key, bytes)?;
        Ok(encode_acknowledgement(&ack))
    })?;
    done.audit_entries = rewrite(db, Table::Audit.prefix(), |key, bytes| {
        let entry: AuditEntry = v1::decode(key, bytes)?;
        Ok(encode_plain(&AuditLink {
            record: v1::audit_record_bytes(&entry.record),
            prev_hash: entry.prev_hash,
            hash: entry.hash,
        }))
    })?;
    if let Some(bytes) = db.get(keys::AUDIT_HEAD).map_err(unavailable)?
        && is_first_format(&bytes)
    {
        #[derive(serde::Deserialize)]
        struct FirstHead {
            next_seq: u64,
            last_hash: String,
        }
        let head: FirstHead = v1::decode(keys::AUDIT_HEAD, &bytes)?;
        db.insert(
            keys::AUDIT_HEAD,
            encode_plain(&AuditHead {
                next_seq: head.next_seq,
                last_hash: head.last_hash,
            }),
        )
        .map_err(unavailable)?;
    }
    // Schema 2's records, in schema 3's keys: the migration to schema 4
    // comes next, and an interruption before it ends runs it again.
    db.insert(keys::SCHEMA, &2u32.to_be_bytes())
        .map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(
        referrals = done.referrals,
        events = done.events,
        messages = done.messages,
        schedule = done.schedule,
        timers = done.timers,
        alerts = done.alerts,
        acknowledgements = done.acknowledgements,
        audit_entries = done.audit_entries,
        elapsed = ?started.elapsed(),
        "store migrated to schema 2"
    );
    Ok(done)
}

/// Moves every lane head of the first format's one schedule
/// (`s/{next attempt}/{seq}`) into its destination's
/// (`s/{destination}\0{next attempt}/{seq}`).
fn reschedule(db: &sled::Db) -> Result<u64, StoreError> {
    let mut batch = sled::Batch::default();
    let mut count = 0_u64;
    for entry in db.range(Table::Schedule.bounds()) {
        let (key, message_key) = entry.map_err(unavailable)?;
        if keys::destination_of_schedule(&key).is_some() {
            continue;
        }
        let corrupt = || StoreError::Corrupt(format!("{}", String::from_utf8_lossy(&key)));
        let hex =
            std::str::from_utf8(key.get(2..18).ok_or_else(corrupt)?).map_err(|_| corrupt())?;
        let ms = u64::from_str_radix(hex, 16).map_err(|_| corrupt())? ^ (1 << 63);
        let at = jiff::Timestamp::from_millisecond(ms as i64).map_err(|_| corrupt())?;
        let n = keys::trailing_seq(&key).ok_or_else(corrupt)?;
        let moved = keys::v3::schedule(&message_key, at, n);
        batch.remove(key);
        batch.insert(moved, message_key);
        count += 1;
        // New keys sort among the old ones, and are passed over above.
        if count.is_multiple_of(10_000) {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
        }
    }
    db.apply_batch(batch).map_err(unavailable)?;
    Ok(count)
}

/// Rewrites every record of the first format under `prefix`, in batches.
fn rewrite(
    db: &sled::Db,
    prefix: [u8; 2],
    convert: impl Fn(&[u8], &[u8]) -> Result<Vec<u8>, StoreError>,
) -> Result<u64, StoreError> {
    let mut batch = sled::Batch::default();
    let mut count = 0_u64;
    for entry in db.scan_prefix(prefix) {
        let (key, value) = entry.map_err(unavailable)?;
        if !is_first_format(&value) {
            continue;
        }
        batch.insert(key.to_vec(), convert(&key, &value)?);
        count += 1;
        if count.is_multiple_of(10_000) {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
        }
    }
    db.apply_batch(batch).map_err(unavailable)?;
    Ok(count)
}
