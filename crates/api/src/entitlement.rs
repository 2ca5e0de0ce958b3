//! Where a call's entitlement to a referral is enforced, before any rule
//! about the referral's state is looked at.
//!
//! The rule itself is the domain's ([`Caller::entitled`]); every command that
//! names a referral runs its decision through [`decide_as`], so a caller that
//! is not entitled gets exactly the answer for an id that does not exist
//! ([`crate::status::referral_not_found`]) and never a FAILED_PRECONDITION
//! that names the referral's state.

use mediation_core::access::{Acting, Caller};
use mediation_core::lifecycle::Referral;
use mediation_core::{Event, TransitionError};

/// Runs `decide` only when `caller` is entitled to `referral` as `acting`;
/// otherwise refuses as the domain refuses a stranger (→ NOT_FOUND).
pub(crate) fn decide_as(
    caller: &Caller,
    referral: &Referral,
    acting: Acting<'_>,
    decide: impl FnOnce() -> Result<Vec<Event>, TransitionError>,
) -> Result<Vec<Event>, TransitionError> {
    if !caller.entitled(referral, acting) {
        return Err(match acting {
            Acting::Court(court) => TransitionError::NotReferringCourt {
                court: court.to_string(),
            },
            Acting::Organisation(_, organisation) => TransitionError::NotAssigned {
                organisation: organisation.to_string(),
            },
        });
    }
    decide()
}
