//! Decisions that are the same on every platform.

use mediation_core::ids::{OrganisationId, PartyRef};
use mediation_core::lifecycle::{Referral, ReturnReason};
use mediation_core::outcome::{ConfirmationApplication, DeclineReason, PerformanceReport};
use mediation_core::{Event, TransitionError};
use mediation_service::{Context, hand_on};

type Decision = Result<Vec<Event>, TransitionError>;

/// Declines, and hands the referral on at once: back to the court or to the
/// next organisation, as the policy says.
pub(crate) fn decline_and_hand_on(
    referral: &Referral,
    organisation: &OrganisationId,
    reasons: Vec<DeclineReason>,
    c: &Context<'_>,
) -> Decision {
    let mut events = referral.decline(organisation, reasons, c.now)?;
    let mut after = referral.clone();
    after.apply_all(&events);
    events.extend(hand_on(&after, c, ReturnReason::Declined)?);
    Ok(events)
}

fn require_mediator(
    referral: &Referral,
    organisation: &OrganisationId,
) -> Result<(), TransitionError> {
    if referral.assignment().map(|a| &a.organisation) == Some(organisation) {
        Ok(())
    } else {
        Err(TransitionError::NotAssigned {
            organisation: organisation.to_string(),
        })
    }
}

/// The parties' joint application, filed by the organisation that mediated.
/// `applicants` defaults to every party when a platform files for all of them.
pub(crate) fn apply_jointly(
    referral: &Referral,
    organisation: &OrganisationId,
    applicants: Option<Vec<PartyRef>>,
    applied_at: jiff::Timestamp,
    c: &Context<'_>,
) -> Decision {
    require_mediator(referral, organisation)?;
    let applicants =
        applicants.unwrap_or_else(|| referral.bundle().party_refs().cloned().collect());
    referral.apply_for_confirmation(
        ConfirmationApplication {
            applicants,
            applied_at,
        },
        c.now,
    )
}

/// Performance, reported by the organisation that mediated.
pub(crate) fn record_performance(
    referral: &Referral,
    organisation: &OrganisationId,
    report: PerformanceReport,
    c: &Context<'_>,
) -> Decision {
    require_mediator(referral, organisation)?;
    referral.record_performance(report, c.now)
}
