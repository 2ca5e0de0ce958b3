//! What an organisation's platform is told when the organisation loses a
//! referral: the court recalled it, the time to accept passed, or the court
//! gave it to another organisation. Each platform says it in its own message;
//! the cause and the words are the same on all three.

use mediation_core::Change;
use mediation_core::calendar::cst;

/// Why a referral was withdrawn from an organisation, and what to tell it.
pub(crate) struct Withdrawal {
    /// `RECALLED`, `ACCEPTANCE_LAPSED` or `REASSIGNED`.
    pub cause: &'static str,
    pub reason: String,
}

/// The withdrawal `change` means for the organisation's platform, if any.
pub(crate) fn withdrawal(change: &Change) -> Option<Withdrawal> {
    const GONE: &str =
        "the organisation no longer has access to the case and should delete what it received";
    Some(match change {
        Change::Recalled { reason } => Withdrawal {
            cause: "RECALLED",
            reason: format!("recalled by the court: {reason}; {GONE}"),
        },
        Change::AcceptanceOverdue {
            organisation,
            due_at,
            partner: Some(_),
        } => Withdrawal {
            cause: "ACCEPTANCE_LAPSED",
            reason: format!(
                "{organisation} neither accepted nor declined by {}; {GONE}",
                cst::format(*due_at)
            ),
        },
        Change::Withdrawn {
            organisation,
            reason,
            ..
        } => Withdrawal {
            cause: "REASSIGNED",
            reason: format!(
                "the court withdrew the case from {organisation} to give it to another organisation: {reason}; {GONE}"
            ),
        },
        _ => return None,
    })
}
