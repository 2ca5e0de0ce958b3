//! The store's side of the record format (`mediation-records`): the records
//! that only this engine writes (a referral's head, the audit chain's links
//! and head), the numbering they advance ([`Counters`]), and errors that
//! name the key of an unreadable record or carry sled's own.

use jiff::Timestamp;
use mediation_core::store::StoreError;
use mediation_core::timer::TimerKind;
use mediation_records::{FormatError, timer_kind_code, timer_kind_of_code};
use serde::{Deserialize, Serialize};

/// A record at `key` that could not be read.
pub(crate) fn corrupt(key: &[u8], e: FormatError) -> StoreError {
    StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key)))
}

/// A referral's head: its version (8 bytes, big-endian, which the writer's
/// version check reads without decoding anything); since schema 4 the
/// referral's timers (a count, then a kind code and an instant of 8 bytes
/// for each: what the writer needs to find their keys again and replace
/// them); then the snapshot of its state.
pub(crate) fn head_value(
    version: u64,
    timers: &[(TimerKind, Timestamp)],
    snapshot: &[u8],
) -> Vec<u8> {
    let mut value = Vec::with_capacity(9 + 9 * timers.len() + snapshot.len());
    value.extend_from_slice(&version.to_be_bytes());
    // A referral has one timer of each kind at most: far fewer than 256.
    value.push(timers.len().min(u8::MAX as usize) as u8);
    for (kind, at) in timers.iter().take(u8::MAX as usize) {
        value.push(timer_kind_code(*kind));
        value.extend_from_slice(&at.as_millisecond().to_be_bytes());
    }
    value.extend_from_slice(snapshot);
    value
}

/// A head, read.
pub(crate) struct Head<'v> {
    pub(crate) version: u64,
    pub(crate) timers: Vec<(TimerKind, Timestamp)>,
    pub(crate) snapshot: &'v [u8],
}

/// Reads a head of schema 4.
pub(crate) fn read_head<'v>(key: &[u8], value: &'v [u8]) -> Result<Head<'v>, StoreError> {
    let short = || corrupt(key, FormatError::Empty);
    let (version, rest) = value.split_first_chunk::<8>().ok_or_else(short)?;
    let (&count, mut rest) = rest.split_first().ok_or_else(short)?;
    let mut timers = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let (&code, after) = rest.split_first().ok_or_else(short)?;
        let (ms, after) = after.split_first_chunk::<8>().ok_or_else(short)?;
        let kind = timer_kind_of_code(code).map_err(|e| corrupt(key, e))?;
        let at = Timestamp::from_millisecond(i64::from_be_bytes(*ms))
            .map_err(|_| corrupt(key, FormatError::Empty))?;
        timers.push((kind, at));
        rest = after;
    }
    Ok(Head {
        version: u64::from_be_bytes(*version),
        timers,
        snapshot: rest,
    })
}

/// The version and the snapshot record of a head.
pub(crate) fn split_head<'v>(key: &[u8], value: &'v [u8]) -> Result<(u64, &'v [u8]), StoreError> {
    let head = read_head(key, value)?;
    Ok((head.version, head.snapshot))
}

/// A head as schemas 2 and 3 wrote it: the version, then the snapshot.
pub(crate) fn head_value_v3(version: u64, snapshot: &[u8]) -> Vec<u8> {
    [&version.to_be_bytes()[..], snapshot].concat()
}

/// The version and snapshot of a head of schemas 2 and 3, which held no
/// timers: what the migration to schema 4 reads.
pub(crate) fn split_head_v3<'v>(
    key: &[u8],
    value: &'v [u8],
) -> Result<(u64, &'v [u8]), StoreError> {
    let (version, snapshot) = value
        .split_first_chunk::<8>()
        .ok_or_else(|| corrupt(key, FormatError::Empty))?;
    Ok((u64::from_be_bytes(*version), snapshot))
}

/// Where the audit chain ends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditHead {
    /// The number the next entry gets.
    pub(crate) next_seq: u64,
    pub(crate) last_hash: String,
}

impl AuditHead {
    pub(crate) fn genesis() -> Self {
        Self {
            next_seq: 0,
            last_hash: mediation_core::store::genesis_hash(),
        }
    }
}

/// One link of the audit chain: the record's bytes as hashed, the previous
/// link's hash and its own. An entry migrated from the first format keeps
/// the record's JSON, which is what was hashed then; the record is read
/// from whichever format its bytes are in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditLink {
    pub(crate) prev_hash: String,
    pub(crate) hash: String,
    pub(crate) record: Vec<u8>,
}

pub(crate) use mediation_records::chain_hash;

/// Reads an audit record of any format, and whether its detail was purged.
pub(crate) fn audit_record(
    key: &[u8],
    bytes: &[u8],
) -> Result<mediation_records::ReadAudit, StoreError> {
    if mediation_records::is_first_format(bytes) {
        Ok(mediation_records::ReadAudit {
            record: crate::v1::decode(key, bytes)?,
            detail_purged: false,
        })
    } else {
        mediation_records::read_audit_record(bytes).map_err(|e| corrupt(key, e))
    }
}

/// The bytes of a stored audit record that its entry's hash covers
/// (`mediation_records::audit_hashed_part`).
pub(crate) fn audit_hashed(key: &[u8], bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    if mediation_records::is_first_format(bytes) {
        return Ok(bytes.to_vec());
    }
    mediation_records::audit_hashed_part(bytes)
        .map(<[u8]>::to_vec)
        .map_err(|e| corrupt(key, e))
}

/// The sequence counters a batch advances; copied, advanced, and kept only if the
/// batch is applied.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub(crate) outbox_seq: u64,
    pub(crate) alert_seq: u64,
    pub(crate) audit: AuditHead,
}

/// A sled error, as the store reports it.
pub(crate) fn unavailable(e: sled::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
