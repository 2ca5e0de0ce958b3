//! Limits on what one call may carry, so that a hostile or broken client
//! cannot make the gateway parse, store or forward unbounded input. Each is
//! configurable; going over one is INVALID_ARGUMENT naming the field.
//! Text lengths are the domain's own (`Line`, `Narrative`) and the size of a
//! whole message is enforced by the gRPC server before anything is decoded.

use mediation_core::Violations;

/// The configurable limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bundles in one `SubmitBatch`.
    pub max_batch: usize,
    /// Parties in one bundle.
    pub max_parties: usize,
    /// Claims in one bundle.
    pub max_claims: usize,
    /// Documents listed in one bundle or agreement.
    pub max_documents: usize,
    /// Bytes in one decoded gRPC message (uploads are chunked below this).
    pub max_message_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch: 1_000,
            max_parties: 50,
            max_claims: 100,
            max_documents: 200,
            max_message_bytes: 4 * 1024 * 1024,
        }
    }
}

impl Limits {
    /// Records a violation when `count` items of `field` exceed `max`.
    pub fn count(v: &mut Violations, field: &str, count: usize, max: usize) {
        if count > max {
            v.push(field, format!("holds at most {max} entries, got {count}"));
        }
    }
}
