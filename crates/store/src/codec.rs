//! Values are stored as JSON: readable with ordinary tools when an operator
//! needs to look, and the format an export uses.

use mediation_core::store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[expect(
    clippy::expect_used,
    reason = "domain types serialise infallibly (no maps with non-string keys, no custom \
              serialisers that can fail); writing empty bytes instead would lose the record"
)]
pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("a stored value always serialises")
}

pub(crate) fn decode<T: DeserializeOwned>(key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes)
        .map_err(|e| StoreError::Corrupt(format!("{}: {e}", String::from_utf8_lossy(key))))
}
