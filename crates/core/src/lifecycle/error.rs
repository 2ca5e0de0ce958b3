//! Why a command does not fit the referral it was sent to.

use super::Status;
use crate::error::Violations;

/// Why a command does not fit the referral it was sent to.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The command is not allowed in the referral's current state.
    #[error("cannot {action} a referral that is {status}")]
    NotAllowed {
        action: &'static str,
        status: Status,
    },
    /// The acting organisation is not the one the referral is routed to.
    #[error("the referral is not routed to organisation {organisation}")]
    NotAssigned { organisation: String },
    /// A court acted on a referral another court made.
    #[error("the referral was not made by court {court}")]
    NotReferringCourt { court: String },
    /// The command is not for this kind of referral.
    #[error("cannot {action} {kind}")]
    NotForKind {
        action: &'static str,
        kind: &'static str,
    },
    /// The organisation declined this referral before and cannot receive it again.
    #[error("organisation {organisation} already declined this referral")]
    AlreadyDeclined { organisation: String },
    /// The act came after its deadline had passed.
    #[error("the {deadline} deadline passed at {due_at}")]
    DeadlinePassed {
        deadline: &'static str,
        due_at: String,
    },
    /// A deadline event was raised before the deadline had come.
    #[error("the {deadline} deadline is not due until {due_at}")]
    NotYetDue {
        deadline: &'static str,
        due_at: String,
    },
    /// The command's content breaks the domain's rules.
    #[error("invalid content: {0}")]
    Invalid(#[from] Violations),
    /// A deadline could not be computed.
    #[error("deadline cannot be computed: {0}")]
    Calendar(String),
    /// No organisation can be offered the referral.
    #[error("no organisation can take the referral: {explanation}")]
    NoEligibleOrganisation { explanation: String },
    /// The command needs the parties' personal data, which the gateway
    /// purged once the referral's retention period passed.
    #[error(
        "cannot {action}: the referral's personal data was deleted under the gateway's retention \
         policy (PIPL Art. 47), so nothing can be checked against the parties; the court refers \
         the case anew"
    )]
    Purged { action: &'static str },
}
