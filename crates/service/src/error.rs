//! Why a command failed, in terms the API edge maps to status codes.

use mediation_core::ids::ReferralId;
use mediation_core::store::StoreError;
use mediation_core::{TransitionError, Violations};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The input breaks the domain's rules; every offending field is named.
    #[error("invalid request: {0}")]
    Invalid(#[from] Violations),
    /// The command does not fit the referral's state.
    #[error("{0}")]
    Transition(TransitionError),
    #[error("referral {0} not found")]
    NotFound(ReferralId),
    /// The court already used this referral id for a different bundle.
    #[error("the court referral id is already used by referral {existing} with different content")]
    Conflict { existing: ReferralId },
    /// Other commands kept changing the referral; the caller may retry.
    #[error("{0} is changing too fast; try again")]
    Contention(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TransitionError> for ServiceError {
    fn from(e: TransitionError) -> Self {
        match e {
            TransitionError::Invalid(v) => ServiceError::Invalid(v),
            other => ServiceError::Transition(other),
        }
    }
}
