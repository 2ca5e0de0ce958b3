//! Migrating a store to schema 7, in place, at its first open by a build
//! that writes schema 7. Schema 7 keeps a commit's events under one key,
//! and reads events stored one per key as they are, so no event is
//! rewritten; and its order of arrival (`w/`) keeps only the messages that
//! have failed once or more, so the entries of messages that never failed
//! are removed: such a message is found through its destination's schedule
//! instead (see `keys::waiting`).
//!
//! Schema 7 is written first, with a marker (`m/migrating/arrivals`), so
//! that a build of schema 6, which would take a missing entry for a lost
//! message's age and cannot read a commit's events, refuses the store from
//! then on. Entries are removed in bounded
//! batches; the pass can be run again from the start, so an interrupted one
//! is simply run again at the next open. The marker goes with the last
//! batch.

use std::path::Path;

use mediation_core::store::StoreError;
use mediation_records::decode_delivery_state;

use crate::SCHEMA_VERSION;
use crate::format::{corrupt, unavailable};
use crate::keys::{self, Table};

/// Entries per batch.
const BATCH: usize = 10_000;

/// What the migration to schema 7 did to the order of arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArrivalsKept {
    /// Entries read.
    pub examined: u64,
    /// Entries removed: their messages never failed.
    pub removed: u64,
}

/// Whether a migration to schema 7 is under way (one that stopped part way
/// is run again).
pub(crate) fn under_way(db: &sled::Db) -> Result<bool, StoreError> {
    Ok(db
        .get(keys::MIGRATING_ARRIVALS)
        .map_err(unavailable)?
        .is_some())
}

pub(crate) fn to_schema_7(db: &sled::Db, path: &Path) -> Result<ArrivalsKept, StoreError> {
    to_schema_7_in(db, path, BATCH, None)
}

/// The pass, in batches of `batch` entries; `stop_after` batches, for the
/// test of a migration that stops part way.
fn to_schema_7_in(
    db: &sled::Db,
    path: &Path,
    batch: usize,
    stop_after: Option<usize>,
) -> Result<ArrivalsKept, StoreError> {
    tracing::info!(path = %path.display(), "migrating the store to schema 7: the order of arrival keeps only the messages that have failed (once)");
    let started = std::time::Instant::now();
    let mut first = sled::Batch::default();
    first.insert(keys::SCHEMA, &SCHEMA_VERSION.to_be_bytes());
    first.insert(keys::MIGRATING_ARRIVALS, &[][..]);
    db.apply_batch(first).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;

    let mut done = ArrivalsKept::default();
    let mut pending = sled::Batch::default();
    let mut in_batch = 0;
    let mut batches = 0;
    for entry in db.scan_prefix(Table::Arrivals.prefix()) {
        let (key, message_key) = entry.map_err(unavailable)?;
        done.examined += 1;
        // An entry naming no message is left for `store verify` to report.
        let never_failed = match db.get(&message_key).map_err(unavailable)? {
            Some(bytes) => {
                !decode_delivery_state(&bytes)
                    .map_err(|e| corrupt(&message_key, e))?
                    .failed
            }
            None => false,
        };
        if never_failed {
            pending.remove(key);
            done.removed += 1;
            in_batch += 1;
        }
        if in_batch == batch {
            db.apply_batch(std::mem::take(&mut pending))
                .map_err(unavailable)?;
            db.flush().map_err(unavailable)?;
            in_batch = 0;
            batches += 1;
            if stop_after == Some(batches) {
                return Ok(done);
            }
        }
        if done.examined.is_multiple_of(1_000_000) {
            tracing::info!(
                examined = done.examined,
                removed = done.removed,
                elapsed = ?started.elapsed(),
                "migrating the order of arrival"
            );
        }
    }
    pending.remove(keys::MIGRATING_ARRIVALS);
    db.apply_batch(pending).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(
        examined = done.examined,
        removed = done.removed,
        kept = done.examined - done.removed,
        elapsed = ?started.elapsed(),
        "store migrated to schema 7"
    );
    Ok(done)
}

#[cfg(test)]
pub(crate) fn to_schema_7_stopping(
    db: &sled::Db,
    path: &Path,
    batch: usize,
    stop_after: usize,
) -> Result<ArrivalsKept, StoreError> {
    to_schema_7_in(db, path, batch, Some(stop_after))
}
