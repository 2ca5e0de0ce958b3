//! What court systems receive, from domain values: bundles, referral views,
//! deadlines and the one [`court_notice`] builder that every court transport
//! sends, by gRPC or as JSON.

mod notice;
mod particulars;

pub use notice::court_notice;

use mediation_core::bundle::{CaseBundle, ReferralKind};
use mediation_core::calendar::cst;
use mediation_core::deadline::Deadline;
use mediation_core::identity::Identity;
use mediation_core::lifecycle::{Change, Event, Referral, ReturnReason};
use mediation_core::outcome::{CourtOutcome, FailureReport};
use mediation_proto::court::v1 as pb;

use super::codes::{
    CONSENT_METHODS, DOMAINS, IDENTITY_KINDS, PARTY_ROLES, PERSON_KINDS, PROCEDURES, STATUSES,
    TRIAL_STAGES,
};
use crate::time;
use crate::wire::write::{files, money, text};

pub(crate) fn identity_to_wire(i: &Identity) -> pb::Identity {
    pb::Identity {
        kind: IDENTITY_KINDS.number(i.kind()),
        number: i.number().to_owned(),
    }
}

pub fn bundle_to_wire(b: &CaseBundle) -> pb::CaseBundle {
    let (kind, trial_stage, procedure) = match b.kind {
        ReferralKind::Delegated => (pb::ReferralKind::Delegated, 0, 0),
        ReferralKind::DirectIntake => (pb::ReferralKind::DirectIntake, 0, 0),
        ReferralKind::Entrusted { stage, procedure } => (
            pb::ReferralKind::Entrusted,
            TRIAL_STAGES.number(stage),
            PROCEDURES.number(procedure),
        ),
    };
    pb::CaseBundle {
        court_referral_id: b.court_referral_id.to_string(),
        court: b.court.to_string(),
        case_number: text(b.case_number.as_ref()),
        kind: kind.into(),
        trial_stage,
        procedure,
        cause_of_action: b.cause_of_action.to_string(),
        domain: DOMAINS.number(b.domain),
        parties: b
            .parties
            .iter()
            .map(|p| pb::Party {
                reference: p.reference.to_string(),
                role: PARTY_ROLES.number(p.role),
                person: PERSON_KINDS.number(p.person),
                name: p.name.to_string(),
                identity: Some(identity_to_wire(&p.identity)),
                contact: p.contact.to_string(),
                service_address: p.service_address.to_string(),
                resides_abroad: p.resides_abroad,
                region: text(p.region.as_ref()),
            })
            .collect(),
        claims: b
            .claims
            .iter()
            .map(|c| pb::Claim {
                description: c.description.to_string(),
                amount: c.amount.as_ref().map(money),
            })
            .collect(),
        amount_in_dispute: b.amount_in_dispute.as_ref().map(money),
        documents: files(&b.documents),
        consents: b
            .consents
            .iter()
            .map(|c| pb::Consent {
                party: c.party.to_string(),
                given_at: Some(time::to_wire(c.given_at)),
                method: CONSENT_METHODS.number(c.method),
            })
            .collect(),
        preferred_organisation: text(b.preferred_organisation.as_ref()),
        summary: text(b.summary.as_ref()),
        particulars: b.particulars.as_ref().map(particulars::to_wire),
        reassignment_allowed: b.reassignment_allowed,
        designated_organisation: text(b.designated_organisation.as_ref()),
        cross_border: b.cross_border,
        subject_matter_abroad: b.subject_matter_abroad,
        language: text(b.language.as_ref()),
        interpreter_needed: b.interpreter_needed,
        model_case_number: text(b.model_case.as_ref()),
    }
}

pub(crate) fn deadline(d: &Deadline) -> pb::Deadline {
    pb::Deadline {
        due_date: d.due_date.to_string(),
        due_at: Some(time::to_wire(d.due_at)),
        provisional: d.is_provisional(),
    }
}

/// One line saying what happened.
pub(crate) fn summary(change: &Change) -> String {
    match change {
        Change::Received { bundle, .. } => format!("received from court {}", bundle.court),
        Change::Withdrawn {
            organisation,
            reason,
            ..
        } => format!("withdrawn from organisation {organisation}: {reason}"),
        Change::OfferDelivered {
            organisation,
            acceptance_deadline,
            ..
        } => format!(
            "the offer reached organisation {organisation}'s platform; it has until {} to accept or decline",
            acceptance_deadline.due_date
        ),
        Change::Routed { assignment, .. } => {
            format!(
                "offered to organisation {} on {}",
                assignment.organisation, assignment.partner
            )
        }
        Change::TakenDirectly { assignment } => format!(
            "taken directly from the parties by {} and filed for confirmation",
            assignment.organisation
        ),
        Change::Accepted { mediator, .. } => match mediator {
            Some(m) => format!("accepted; mediator {m}"),
            None => "accepted".into(),
        },
        Change::Declined {
            organisation,
            reasons,
        } => {
            let why: Vec<String> = reasons.iter().map(|r| r.explanation.to_string()).collect();
            format!("declined by {organisation}: {}", why.join("; "))
        }
        Change::AcceptanceOverdue {
            organisation,
            due_at,
            ..
        } => {
            format!("{organisation} did not answer by {}", cst::format(*due_at))
        }
        Change::ReturnedToCourt {
            reason: ReturnReason::MediationEnded,
        } => "mediation ended at its limit; returned to the court for docketing".into(),
        Change::ReturnedToCourt {
            reason: ReturnReason::EndedEarly { ground, .. },
        } => format!(
            "mediation ended early ({}); returned to the court for docketing",
            ground.as_str()
        ),
        Change::ReturnedToCourt { .. } => "returned to the court".into(),
        Change::ShamMediationResolved { resume: true, .. } => {
            "the court found no sham mediation; mediation resumes".into()
        }
        Change::ShamMediationResolved { resume: false, .. } => {
            "the court found the sham mediation real and ended the mediation".into()
        }
        Change::AppraisalStarted { on, .. } => format!("suspended for appraisal on {on}"),
        Change::AppraisalOverlong { since, days } => {
            format!("suspended for appraisal since {since}: {days} days")
        }
        Change::AppraisalEnded {
            on,
            mediation_deadline,
        } => {
            format!("resumed on {on}; now due {}", mediation_deadline.due_date)
        }
        Change::Extended { last_day, .. } => format!("extended by all parties to {last_day}"),
        Change::MediationOverdue { due_at, .. } => {
            format!("mediation not ended by {}", cst::format(*due_at))
        }
        Change::DeadlineWarning { kind, due_at } => {
            format!(
                "{} deadline near: due {}",
                kind.as_str(),
                cst::format(*due_at)
            )
        }
        Change::DeadlineRecomputed { deadline } => {
            format!(
                "{} deadline recomputed: due {}",
                deadline.kind.as_str(),
                deadline.due_date
            )
        }
        Change::AgreementReached { .. } => "mediation agreement reached".into(),
        Change::MediationFailed { .. } => "mediation failed".into(),
        Change::ShamMediationReported { .. } => "suspected sham mediation reported".into(),
        Change::ConfirmationApplied { .. } => "judicial confirmation applied for".into(),
        Change::RulingRecorded { ruling } => format!("court ruled: {:?}", ruling.outcome),
        Change::PerformanceRecorded { report } => format!("performance: {:?}", report.status),
        Change::Recalled { .. } => "recalled by the court".into(),
        Change::ArbitrationAvailable { .. } => {
            "15 days after acceptance without an agreement: the parties may apply for arbitration (LDMAL Art. 14)".into()
        }
        Change::CourtOutcomeRecorded { outcome } => match outcome {
            CourtOutcome::Docketed { case_number } => format!("docketed as {case_number}"),
            CourtOutcome::MediationPaper { case_number } => {
                format!("ended with the court's mediation paper in {case_number}")
            }
            CourtOutcome::SuitWithdrawn { case_number } => {
                format!("ended with the withdrawal of {case_number}")
            }
            CourtOutcome::NotDocketed { reason } => {
                format!("closed by the court without a suit: {reason}")
            }
        },
        Change::CourtDecisionAwaited { remind_at, .. } => match remind_at {
            Some(at) => format!(
                "back with the court for its decision; the court is reminded on {}",
                cst::format(*at)
            ),
            None => "back with the court for its decision".into(),
        },
        Change::CourtDecisionOverdue { since, .. } => format!(
            "back with the court since {} without its decision to docket the case or pass it on (CPL Art. 126)",
            cst::format(*since)
        ),
        Change::PersonalDataPurged { policy } => format!(
            "the gateway's copy of the parties' personal data and case files was deleted under its retention policy {policy} (PIPL Art. 47)"
        ),
    }
}

fn entry(e: &Event) -> pb::TimelineEntry {
    pb::TimelineEntry {
        at: Some(time::to_wire(e.at)),
        event: e.change.name().to_owned(),
        summary: summary(&e.change),
    }
}

/// A failure record as the court contract has it.
pub(crate) fn failure_to_wire(report: &FailureReport) -> pb::FailureReport {
    pb::FailureReport {
        course: report.course.to_string(),
        reasons: report.reasons.to_string(),
        cost_raising_conduct: text(report.cost_raising_conduct.as_ref()),
        notes_for_court: text(report.notes_for_court.as_ref()),
        undisputed_facts: report
            .undisputed_facts
            .iter()
            .map(ToString::to_string)
            .collect(),
        confirmed_addresses: report
            .confirmed_service_addresses
            .iter()
            .map(|a| pb::ConfirmedAddress {
                party: a.party.to_string(),
                address: a.address.to_string(),
            })
            .collect(),
    }
}

pub(crate) fn court_outcome_kind(outcome: &CourtOutcome) -> pb::CourtOutcome {
    match outcome {
        CourtOutcome::Docketed { .. } => pb::CourtOutcome::Docketed,
        CourtOutcome::MediationPaper { .. } => pb::CourtOutcome::MediationPaper,
        CourtOutcome::SuitWithdrawn { .. } => pb::CourtOutcome::SuitWithdrawn,
        CourtOutcome::NotDocketed { .. } => pb::CourtOutcome::NotDocketed,
    }
}

pub(crate) fn referral_to_wire(r: &Referral, history: &[Event]) -> pb::GetReferralResponse {
    let failure = history.iter().rev().find_map(|e| match &e.change {
        Change::MediationFailed { report } => Some(failure_to_wire(report)),
        _ => None,
    });
    let court_outcome = history.iter().rev().find_map(|e| match &e.change {
        Change::CourtOutcomeRecorded { outcome } => Some(outcome),
        _ => None,
    });
    pb::GetReferralResponse {
        referral_id: r.id().to_string(),
        court_referral_id: r.bundle().court_referral_id.to_string(),
        status: STATUSES.number(r.status()),
        organisation: text(r.assignment().map(|a| &a.organisation)),
        mediator: text(r.assignment().and_then(|a| a.mediator.as_ref())),
        acceptance_deadline: r.acceptance_deadline().map(deadline),
        mediation_deadline: r.running_mediation_deadline().map(deadline),
        timeline: history.iter().map(entry).collect(),
        arbitration_open_since: r.arbitration_open_since().map(time::to_wire),
        routed_at: r.routed_at().map(time::to_wire),
        offered_at: r.offered_at().map(time::to_wire),
        failure,
        court_outcome: court_outcome.map_or(pb::CourtOutcome::Unspecified, court_outcome_kind)
            as i32,
        court_case_number: text(court_outcome.and_then(CourtOutcome::case_number)),
        appraisal: r.appraisal().map(|p| pb::Appraisal {
            since: p.since.to_string(),
            note: p.note.to_string(),
            review_at: p.review_at.map(time::to_wire),
        }),
    }
}
