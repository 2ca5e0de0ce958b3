//! Why a store operation failed, whichever table it touched.

use crate::ids::ReferralId;

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another command changed the referral first; reload and decide again.
    #[error("referral {referral} is at version {actual}, not {expected}")]
    VersionConflict {
        referral: ReferralId,
        expected: u64,
        actual: u64,
    },
    /// The court already submitted a referral with this id.
    #[error("the court referral id is already used by referral {existing}")]
    DuplicateCourtReferral { existing: ReferralId },
    /// No such referral, message or dead letter.
    #[error("{0} not found")]
    NotFound(String),
    /// The store cannot take writes: an I/O error, or it stopped after one.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}
