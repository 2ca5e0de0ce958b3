//! The store's side of the record format (`mediation-records`): the records
//! that only this engine writes (a referral's head, the audit chain's links
//! and head), and errors that name the key of an unreadable record.

use mediation_core::store::StoreError;
use mediation_records::FormatError;
use serde::{Deserialize, Serialize};

/// A record at `key` that could not be read.
pub(crate) fn corrupt(key: &[u8], e: FormatError) -> StoreError {
    StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key)))
}

/// A referral's head: its version (8 bytes, big-endian, which the writer's
/// version check reads without decoding anything), then the snapshot of its
/// state.
pub(crate) fn head_value(version: u64, snapshot: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + snapshot.len());
    value.extend_from_slice(&version.to_be_bytes());
    value.extend_from_slice(snapshot);
    value
}

/// The version and the snapshot record of a head.
pub(crate) fn split_head<'v>(key: &[u8], value: &'v [u8]) -> Result<(u64, &'v [u8]), StoreError> {
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

/// Reads an audit record from either format.
pub(crate) fn audit_record(
    key: &[u8],
    bytes: &[u8],
) -> Result<mediation_core::audit::AuditRecord, StoreError> {
    if mediation_records::is_first_format(bytes) {
        crate::v1::decode(key, bytes)
    } else {
        mediation_records::decode_audit_record(bytes).map_err(|e| corrupt(key, e))
    }
}
