//! Migrating a store to schema 6, in place, at its first open by a build
//! that writes schema 6: the audit chain is re-chained in the audit record's
//! version 3 (`mediation_records::encode_audit_record`), whose hash covers
//! a digest of the outcome's detail rather than the detail itself, so that
//! the retention pass can purge details and the chain still verify.
//!
//! The whole old chain is checked first, against its head, and a chain
//! that does not verify is refused untouched: re-hashing it would hide the
//! break. Then schema 6 is written with a progress record, so that a build
//! of schema 5 refuses the store from then on; entries are re-chained in
//! bounded batches, each applied with how far it got (`m/migrating/audit`:
//! the next number, the new chain's last hash and the old chain's), so an
//! interrupted migration goes on where it stopped, checking what is left of
//! the old chain again first. Last, one entry is appended that records the
//! re-chaining and the old chain's last hash, so that a hash an auditor
//! kept from before can be tied to the new chain, and the progress record
//! is removed with it.

use std::path::Path;

use mediation_core::store::{ChainWalk, StoreError};
use mediation_records::{decode_plain, encode_audit_record, encode_plain};
use serde::{Deserialize, Serialize};

use crate::format::{AuditHead, AuditLink, chain_hash, corrupt, unavailable};
use crate::keys::{self, Table};
use crate::tables::audit::read_audit_entry;

/// Entries per batch.
const BATCH: usize = 10_000;

/// How far the re-chaining got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Progress {
    /// The number of the first entry not yet re-chained.
    next_seq: u64,
    /// The new chain's hash of the entry before it.
    new_last_hash: String,
    /// The old chain's hash of the entry before it.
    old_last_hash: String,
}

/// What the migration to schema 6 re-chained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rechained {
    /// Entries re-chained (the entry recording it not counted).
    pub entries: u64,
    /// The old chain's last hash.
    pub former_last_hash: String,
    /// The new chain's last hash: that of the entry recording it.
    pub last_hash: String,
}

pub(crate) fn to_schema_6(db: &sled::Db, path: &Path, from: u32) -> Result<Rechained, StoreError> {
    rechain(db, path, from, BATCH, None)
}

/// Walks the old chain from `next_seq` (whose predecessor's hash is
/// `last_hash`) to the head its writer recorded, checking every link.
fn check_old_chain(
    db: &sled::Db,
    next_seq: u64,
    last_hash: String,
    head: &AuditHead,
) -> Result<(), StoreError> {
    let refuse = |broken: mediation_core::store::BrokenLink| {
        StoreError::Corrupt(format!(
            "the audit chain breaks at entry {}: {}; it is not re-chained, since re-hashing it \
             would hide the break (see `store verify` with a build of schema 5)",
            broken.seq, broken.reason
        ))
    };
    let mut walk = ChainWalk::resume(chain_hash, next_seq, last_hash);
    for entry in db.range(keys::audit(next_seq)..Table::Audit.bounds().end) {
        let (key, value) = entry.map_err(unavailable)?;
        walk.step(read_audit_entry(&key, &value)).map_err(refuse)?;
    }
    walk.end(head.next_seq, &head.last_hash).map_err(refuse)?;
    Ok(())
}

/// The migration, `batch` entries a batch; stops after `batches_at_most`
/// batches when given (a test's interruption), leaving it to go on at the
/// next open.
pub(crate) fn rechain(
    db: &sled::Db,
    path: &Path,
    from: u32,
    batch_size: usize,
    batches_at_most: Option<usize>,
) -> Result<Rechained, StoreError> {
    let started = std::time::Instant::now();
    let head: AuditHead = match db.get(keys::AUDIT_HEAD).map_err(unavailable)? {
        Some(bytes) => decode_plain(&bytes).map_err(|e| corrupt(keys::AUDIT_HEAD, e))?,
        None => AuditHead::genesis(),
    };
    tracing::info!(
        path = %path.display(),
        from,
        entries = head.next_seq,
        "migrating the store to schema 6: the audit chain is re-chained so that outcome details can be purged"
    );
    let mut progress: Progress = match db.get(keys::MIGRATING_AUDIT).map_err(unavailable)? {
        Some(bytes) => {
            let progress: Progress =
                decode_plain(&bytes).map_err(|e| corrupt(keys::MIGRATING_AUDIT, e))?;
            // Going on: what is left is of the old version still.
            check_old_chain(db, progress.next_seq, progress.old_last_hash.clone(), &head)?;
            progress
        }
        None => {
            // The whole old chain is checked before anything changes: a
            // break found half way would leave it half re-hashed.
            let genesis = mediation_core::store::genesis_hash();
            check_old_chain(db, 0, genesis.clone(), &head)?;
            let progress = Progress {
                next_seq: 0,
                new_last_hash: genesis.clone(),
                old_last_hash: genesis,
            };
            // From here on the store says schema 6, so that a build of
            // schema 5 refuses it rather than misread a record of version 3;
            // the progress record makes this build go on where it stopped.
            let mut first = sled::Batch::default();
            first.insert(keys::SCHEMA, &6u32.to_be_bytes());
            first.insert(keys::MIGRATING_AUDIT, encode_plain(&progress));
            db.apply_batch(first).map_err(unavailable)?;
            db.flush().map_err(unavailable)?;
            progress
        }
    };
    let mut batches = 0;
    loop {
        if batches_at_most.is_some_and(|most| batches >= most) {
            return Err(StoreError::Unavailable(
                "the migration to schema 6 stopped before its end".into(),
            ));
        }
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for entry in db.range(keys::audit(progress.next_seq)..Table::Audit.bounds().end) {
            let (key, value) = entry.map_err(unavailable)?;
            let (entry, _) = read_audit_entry(&key, &value)?;
            let record = encode_audit_record(&entry.record);
            let hashed =
                mediation_records::audit_hashed_part(&record).map_err(|e| corrupt(&key, e))?;
            let hash = chain_hash(entry.seq, &progress.new_last_hash, hashed);
            let link = AuditLink {
                prev_hash: std::mem::replace(&mut progress.new_last_hash, hash.clone()),
                hash,
                record,
            };
            batch.insert(key.to_vec(), encode_plain(&link));
            progress.next_seq = entry.seq + 1;
            progress.old_last_hash = entry.hash;
            in_batch += 1;
            if in_batch == batch_size {
                break;
            }
        }
        if in_batch == 0 {
            break;
        }
        batch.insert(keys::MIGRATING_AUDIT, encode_plain(&progress));
        db.apply_batch(batch).map_err(unavailable)?;
        db.flush().map_err(unavailable)?;
        batches += 1;
        if progress.next_seq.is_multiple_of(100_000) {
            tracing::info!(
                rechained = progress.next_seq,
                of = head.next_seq,
                "migrating to schema 6"
            );
        }
    }
    let mut last = sled::Batch::default();
    let mut done = Rechained {
        entries: head.next_seq,
        former_last_hash: head.last_hash.clone(),
        last_hash: progress.new_last_hash.clone(),
    };
    if head.next_seq > 0 {
        let record = encode_audit_record(&mediation_records::rechain_record(
            head.next_seq,
            &head.last_hash,
            jiff::Timestamp::now(),
        ));
        let hashed = mediation_records::audit_hashed_part(&record)
            .map_err(|e| corrupt(keys::AUDIT_HEAD, e))?;
        let hash = chain_hash(head.next_seq, &progress.new_last_hash, hashed);
        let link = AuditLink {
            prev_hash: progress.new_last_hash.clone(),
            hash: hash.clone(),
            record,
        };
        last.insert(keys::audit(head.next_seq), encode_plain(&link));
        last.insert(
            keys::AUDIT_HEAD,
            encode_plain(&AuditHead {
                next_seq: head.next_seq + 1,
                last_hash: hash.clone(),
            }),
        );
        done.last_hash = hash;
    }
    last.insert(keys::SCHEMA, &6u32.to_be_bytes());
    last.remove(keys::MIGRATING_AUDIT);
    db.apply_batch(last).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(
        entries = done.entries,
        former_last_hash = %done.former_last_hash,
        last_hash = %done.last_hash,
        elapsed = ?started.elapsed(),
        "store migrated to schema 6: the audit chain is re-chained"
    );
    Ok(done)
}
