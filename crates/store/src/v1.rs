//! The first stored format (schema 1): every value the domain types' serde
//! JSON. Kept only so that a store written by an older build can be migrated
//! (`migrate`); nothing writes it any more.

use mediation_core::store::StoreError;
use serde::de::DeserializeOwned;

pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key))))
}

/// A referral's head record in the first format.
#[derive(Debug, Clone, serde::Deserialize)]
pub(crate) struct Head {
    pub(crate) version: u64,
}

/// The bytes the first format hashed for an audit record: its JSON.
#[expect(
    clippy::expect_used,
    reason = "an audit record is strings and an instant, which serialise infallibly"
)]
pub(crate) fn audit_record_bytes(record: &mediation_core::audit::AuditRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("an audit record always serialises")
}
