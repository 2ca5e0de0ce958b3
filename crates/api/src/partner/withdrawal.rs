//! What an organisation's platform is told when the organisation loses a
//! referral: it declined, the court recalled it, the time to accept passed,
//! the court gave it to another organisation, or the court ended a mediation
//! reported as a sham. Each of these tells it to delete what it received
//! (PIPL Art. 47: personal data goes once its purpose is gone); and when the court lets a mediation reported as a sham resume. Each
//! platform says it in its own message; the cause and the words are the same
//! on all three.

use mediation_core::Change;
use mediation_core::calendar::cst;

/// Why a referral was withdrawn from an organisation, and what to tell it.
pub(crate) struct Withdrawal {
    /// `DECLINED`, `RECALLED`, `ACCEPTANCE_LAPSED`, `REASSIGNED` or
    /// `SHAM_MEDIATION`.
    pub cause: &'static str,
    pub reason: String,
}

/// The withdrawal `change` means for the organisation's platform, if any.
pub(crate) fn withdrawal(change: &Change) -> Option<Withdrawal> {
    const GONE: &str =
        "the organisation no longer has access to the case and should delete what it received";
    Some(match change {
        Change::Declined { organisation, .. } => Withdrawal {
            cause: "DECLINED",
            reason: format!("{organisation} declined the case; {GONE}"),
        },
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
        Change::ShamMediationResolved {
            resume: false,
            note,
            ..
        } => Withdrawal {
            cause: "SHAM_MEDIATION",
            reason: format!(
                "the court found the reported sham mediation real and ended the mediation: {note}; {GONE}"
            ),
        },
        _ => return None,
    })
}

/// The court's word that a mediation reported as a sham goes on: its note,
/// and the new last day of mediation ("YYYY-MM-DD").
pub(crate) fn resumption(change: &Change) -> Option<(String, String)> {
    match change {
        Change::ShamMediationResolved {
            resume: true,
            note,
            mediation_deadline,
        } => Some((
            note.to_string(),
            mediation_deadline
                .as_ref()
                .map(|d| d.due_date.to_string())
                .unwrap_or_default(),
        )),
        _ => None,
    }
}
