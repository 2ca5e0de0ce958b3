//! Domain values to wire messages.

use mediation_core::bundle::{
    CaseBundle, ConsentMethod, DisputeDomain, PartyRole, PersonKind, Procedure, ReferralKind,
    TrialStage,
};
use mediation_core::calendar::cst;
use mediation_core::deadline::Deadline;
use mediation_core::document::Document;
use mediation_core::identity::{Identity, IdentityKind};
use mediation_core::lifecycle::{Change, Event, Referral, Status};
use mediation_core::money::Amount;
use mediation_core::store::PendingDelivery;
use mediation_proto::court::v1 as pb;

use crate::time;

fn money(a: &Amount) -> pb::Money {
    pb::Money {
        amount: a.decimal(),
        currency: a.currency.to_string(),
    }
}

pub(crate) fn identity_to_wire(i: &Identity) -> pb::Identity {
    pb::Identity {
        kind: match i.kind() {
            IdentityKind::ResidentIdCard => pb::IdentityKind::ResidentIdCard,
            IdentityKind::ForeignPermanentResidentIdCard => {
                pb::IdentityKind::ForeignPermanentResidentIdCard
            }
            IdentityKind::HongKongMacaoPermit => pb::IdentityKind::HongKongMacaoPermit,
            IdentityKind::TaiwanPermit => pb::IdentityKind::TaiwanPermit,
            IdentityKind::Passport => pb::IdentityKind::Passport,
            IdentityKind::UnifiedSocialCreditCode => pb::IdentityKind::UnifiedSocialCreditCode,
            IdentityKind::ForeignRegistration => pb::IdentityKind::ForeignRegistration,
        }
        .into(),
        number: i.number().to_owned(),
    }
}

pub(crate) fn document_to_wire(d: &Document) -> pb::Document {
    pb::Document {
        name: d.name.to_string(),
        media_type: d.media_type.to_string(),
        size_bytes: d.size_bytes,
        sha256: d.sha256.to_string(),
        url: d
            .location
            .url()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}

pub fn bundle_to_wire(b: &CaseBundle) -> pb::CaseBundle {
    let (kind, trial_stage, procedure) = match b.kind {
        ReferralKind::Delegated => (
            pb::ReferralKind::Delegated,
            pb::TrialStage::Unspecified,
            pb::Procedure::Unspecified,
        ),
        ReferralKind::DirectIntake => (
            pb::ReferralKind::DirectIntake,
            pb::TrialStage::Unspecified,
            pb::Procedure::Unspecified,
        ),
        ReferralKind::Entrusted { stage, procedure } => (
            pb::ReferralKind::Entrusted,
            match stage {
                TrialStage::FirstInstance => pb::TrialStage::FirstInstance,
                TrialStage::SecondInstance => pb::TrialStage::SecondInstance,
                TrialStage::Retrial => pb::TrialStage::Retrial,
            },
            match procedure {
                Procedure::Ordinary => pb::Procedure::Ordinary,
                Procedure::Summary => pb::Procedure::Summary,
            },
        ),
    };
    pb::CaseBundle {
        court_referral_id: b.court_referral_id.to_string(),
        court: b.court.to_string(),
        case_number: b
            .case_number
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        kind: kind.into(),
        trial_stage: trial_stage.into(),
        procedure: procedure.into(),
        cause_of_action: b.cause_of_action.to_string(),
        domain: match b.domain {
            DisputeDomain::Commercial => pb::DisputeDomain::Commercial,
            DisputeDomain::Labour => pb::DisputeDomain::Labour,
            DisputeDomain::RoadTraffic => pb::DisputeDomain::RoadTraffic,
            DisputeDomain::Other => pb::DisputeDomain::Other,
        }
        .into(),
        parties: b
            .parties
            .iter()
            .map(|p| pb::Party {
                reference: p.reference.to_string(),
                role: match p.role {
                    PartyRole::Claimant => pb::PartyRole::Claimant,
                    PartyRole::Respondent => pb::PartyRole::Respondent,
                    PartyRole::ThirdParty => pb::PartyRole::ThirdParty,
                }
                .into(),
                person: match p.person {
                    PersonKind::Natural => pb::PersonKind::Natural,
                    PersonKind::Legal => pb::PersonKind::Legal,
                }
                .into(),
                name: p.name.to_string(),
                identity: Some(identity_to_wire(&p.identity)),
                contact: p.contact.to_string(),
                service_address: p.service_address.to_string(),
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
        documents: b.documents.iter().map(document_to_wire).collect(),
        consents: b
            .consents
            .iter()
            .map(|c| pb::Consent {
                party: c.party.to_string(),
                given_at: Some(time::to_wire(c.given_at)),
                method: match c.method {
                    ConsentMethod::Written => pb::ConsentMethod::Written,
                    ConsentMethod::Online => pb::ConsentMethod::Online,
                    ConsentMethod::RecordedOral => pb::ConsentMethod::RecordedOral,
                }
                .into(),
            })
            .collect(),
        preferred_organisation: b
            .preferred_organisation
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        summary: b
            .summary
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        particulars: b.particulars.as_ref().map(super::particulars::to_wire),
    }
}

pub(crate) fn status_to_wire(s: Status) -> pb::ReferralStatus {
    match s {
        Status::Received => pb::ReferralStatus::Received,
        Status::AwaitingAcceptance => pb::ReferralStatus::AwaitingAcceptance,
        Status::Declined => pb::ReferralStatus::Declined,
        Status::AcceptanceOverdue => pb::ReferralStatus::AcceptanceOverdue,
        Status::InMediation => pb::ReferralStatus::InMediation,
        Status::SuspendedForAppraisal => pb::ReferralStatus::SuspendedForAppraisal,
        Status::MediationOverdue => pb::ReferralStatus::MediationOverdue,
        Status::Agreed => pb::ReferralStatus::Agreed,
        Status::ConfirmationRequested => pb::ReferralStatus::ConfirmationRequested,
        Status::Confirmed => pb::ReferralStatus::Confirmed,
        Status::ConfirmationRefused => pb::ReferralStatus::ConfirmationRefused,
        Status::MediationFailed => pb::ReferralStatus::MediationFailed,
        Status::ShamMediationReported => pb::ReferralStatus::ShamMediationReported,
        Status::ReturnedToCourt => pb::ReferralStatus::ReturnedToCourt,
        Status::Recalled => pb::ReferralStatus::Recalled,
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
        } => {
            format!("{organisation} did not answer by {}", cst::format(*due_at))
        }
        Change::ReturnedToCourt { .. } => "returned to the court".into(),
        Change::AppraisalStarted { on, .. } => format!("suspended for appraisal on {on}"),
        Change::AppraisalEnded {
            on,
            mediation_deadline,
        } => {
            format!("resumed on {on}; now due {}", mediation_deadline.due_date)
        }
        Change::Extended { last_day, .. } => format!("extended by all parties to {last_day}"),
        Change::MediationOverdue { due_at } => {
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
        Change::ShamMediationSuspected { .. } => "suspected sham mediation reported".into(),
        Change::ConfirmationApplied { .. } => "judicial confirmation applied for".into(),
        Change::RulingRecorded { ruling } => format!("court ruled: {:?}", ruling.outcome),
        Change::PerformanceRecorded { report } => format!("performance: {:?}", report.status),
        Change::Recalled { .. } => "recalled by the court".into(),
    }
}

fn entry(e: &Event) -> pb::TimelineEntry {
    pb::TimelineEntry {
        at: Some(time::to_wire(e.at)),
        event: e.change.name().to_owned(),
        summary: summary(&e.change),
    }
}

pub(crate) fn referral_to_wire(r: &Referral, history: &[Event]) -> pb::GetReferralResponse {
    pb::GetReferralResponse {
        referral_id: r.id().to_string(),
        court_referral_id: r.bundle().court_referral_id.to_string(),
        status: status_to_wire(r.status()).into(),
        organisation: r
            .assignment()
            .map(|a| a.organisation.to_string())
            .unwrap_or_default(),
        mediator: r
            .assignment()
            .and_then(|a| a.mediator.as_ref())
            .map(ToString::to_string)
            .unwrap_or_default(),
        acceptance_deadline: r.acceptance_deadline().map(deadline),
        mediation_deadline: r.mediation_deadline().map(deadline),
        timeline: history.iter().map(entry).collect(),
    }
}

pub(crate) fn notice(d: &PendingDelivery) -> pb::CourtNotice {
    pb::CourtNotice {
        message_id: d.id.to_string(),
        referral_id: d.message.referral.to_string(),
        court_referral_id: d.message.court_referral_id.to_string(),
        occurred_at: Some(time::to_wire(d.message.event.at)),
        event: d.message.event.change.name().to_owned(),
        summary: summary(&d.message.event.change),
        detail_json: serde_json::to_string(&d.message.event.change).unwrap_or_default(),
        // Offers to partners carry bundles too; a court gets one only for a
        // dispute it has not seen.
        bundle: match d.message.event.change {
            Change::TakenDirectly { .. } => d.message.bundle.as_deref().map(bundle_to_wire),
            _ => None,
        },
        detail: super::notice::detail(&d.message.event.change),
    }
}
