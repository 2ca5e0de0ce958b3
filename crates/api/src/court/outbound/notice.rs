//! The one court notice: what a court system receives for each event of its
//! referrals, with the typed detail of each event a court acts on. The gRPC
//! transport sends it as it is; the webhook posts the same message as proto3
//! JSON.

use mediation_core::lifecycle::{Change, ReturnReason};
use mediation_core::outcome::Signer;
use mediation_core::store::PendingDelivery;
use mediation_proto::court::v1 as pb;
use pb::court_notice::Detail;
use serde::Serialize;

use super::{bundle_to_wire, deadline, failure_to_wire, identity_to_wire, summary};
use crate::time;
use crate::wire::write::{files, text};

/// The notice for one delivery to a court.
pub fn court_notice(d: &PendingDelivery) -> pb::CourtNotice {
    let change = &d.message.event.change;
    pb::CourtNotice {
        message_id: d.id.to_string(),
        referral_id: d.message.referral.to_string(),
        court_referral_id: d.message.court_referral_id.to_string(),
        occurred_at: Some(time::to_wire(d.message.event.at)),
        event: change.name().to_owned(),
        summary: summary(change),
        detail_json: serde_json::to_string(change).unwrap_or_default(),
        // Offers to partners carry bundles too; a court gets one only for a
        // dispute it has not seen.
        bundle: match change {
            Change::TakenDirectly { .. } => d.message.bundle.as_deref().map(bundle_to_wire),
            _ => None,
        },
        detail: detail(change, d.message.event.at),
        organisation: text(d.message.holder.as_ref()),
    }
}

/// A domain code's snake_case name, as it is serialised everywhere else.
fn code(value: &impl Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn detail(change: &Change, at: jiff::Timestamp) -> Option<Detail> {
    Some(match change {
        Change::Accepted {
            mediator,
            mediation_case_number,
            mediation_deadline,
            ..
        } => Detail::Accepted(pb::Acceptance {
            mediator: text(mediator.as_ref()),
            mediation_case_number: text(mediation_case_number.as_ref()),
            mediation_deadline: Some(deadline(mediation_deadline)),
        }),
        Change::Declined {
            organisation,
            reasons,
        } => Detail::Declined(pb::Decline {
            organisation: organisation.to_string(),
            reasons: reasons
                .iter()
                .map(|r| pb::DeclineReason {
                    code: code(&r.code),
                    explanation: r.explanation.to_string(),
                })
                .collect(),
        }),
        Change::AcceptanceOverdue {
            organisation,
            due_at,
            ..
        } => Detail::Overdue(pb::Overdue {
            deadline: "acceptance".into(),
            organisation: organisation.to_string(),
            due_at: Some(time::to_wire(*due_at)),
        }),
        Change::Routed {
            assignment,
            acceptance_deadline,
            ..
        } => Detail::Routed(pb::Routing {
            organisation: assignment.organisation.to_string(),
            partner: assignment.partner.as_str().to_owned(),
            acceptance_deadline: acceptance_deadline.as_ref().map(deadline),
            offered_at: None,
        }),
        Change::OfferDelivered {
            partner,
            organisation,
            acceptance_deadline,
        } => Detail::Routed(pb::Routing {
            organisation: organisation.to_string(),
            partner: partner.as_str().to_owned(),
            acceptance_deadline: Some(deadline(acceptance_deadline)),
            offered_at: Some(time::to_wire(at)),
        }),
        Change::MediationOverdue { due_at, .. } => Detail::Overdue(pb::Overdue {
            deadline: "mediation".into(),
            organisation: String::new(),
            due_at: Some(time::to_wire(*due_at)),
        }),
        Change::ReturnedToCourt { reason } => Detail::Returned(match reason {
            ReturnReason::NoEligibleOrganisation { explanation } => pb::Return {
                reason: "no_eligible_organisation".into(),
                explanation: explanation.clone(),
            },
            // The court has already had the decline (or the missed deadline)
            // as its own notice, earlier in the same lane; this says why the
            // case comes back rather than going on to another organisation.
            ReturnReason::Declined => pb::Return {
                reason: "declined".into(),
                explanation: "the organisation it was offered to declined it (its reasons are in \
                              the preceding declined notice), and the case is returned to the \
                              court rather than offered to another organisation"
                    .into(),
            },
            ReturnReason::MediationEnded => pb::Return {
                reason: "mediation_ended".into(),
                explanation: "the mediation period ended without an agreement or an extension \
                              agreed by every party, so mediation has ended and the case is \
                              returned to the court for docketing (online mediation rules \
                              Art. 25)"
                    .into(),
            },
            ReturnReason::EndedEarly {
                ground,
                explanation,
            } => pb::Return {
                reason: "ended_early".into(),
                explanation: format!(
                    "the organisation ended mediation early ({}; online mediation rules \
                     Art. 25): {explanation}",
                    ground.as_str()
                ),
            },
            ReturnReason::ShamMediation { note } => pb::Return {
                reason: "sham_mediation".into(),
                explanation: format!(
                    "the court found the reported sham mediation real and ended the mediation \
                     (seed 000 §(十七)): {note}"
                ),
            },
            ReturnReason::AcceptanceOverdue => pb::Return {
                reason: "acceptance_overdue".into(),
                explanation: "no organisation accepted it within 3 working days of the offer \
                              (the preceding overdue notice names the organisation), and the \
                              case is returned to the court"
                    .into(),
            },
        }),
        Change::AppraisalStarted { on, note, .. } => Detail::Progress(pb::Progress {
            note: format!("appraisal from {on}: {note}"),
            mediation_deadline: None,
        }),
        Change::ArbitrationAvailable { since } => Detail::Progress(pb::Progress {
            note: format!(
                "no agreement 15 days after the labour committee accepted (by {}): the parties may apply for arbitration (Labour Dispute Mediation and Arbitration Law Art. 14); mediation may go on",
                mediation_core::calendar::cst::format(*since)
            ),
            mediation_deadline: None,
        }),
        Change::AppraisalOverlong { since, days } => Detail::Progress(pb::Progress {
            note: format!(
                "still suspended for the appraisal begun {since}, {days} days on; the time does not count against the mediation limit"
            ),
            mediation_deadline: None,
        }),
        Change::AppraisalEnded {
            on,
            mediation_deadline,
        } => Detail::Progress(pb::Progress {
            note: format!("appraisal ended {on}"),
            mediation_deadline: Some(deadline(mediation_deadline)),
        }),
        Change::Extended {
            last_day,
            consenting,
            mediation_deadline,
        } => Detail::Progress(pb::Progress {
            note: format!(
                "extended to {last_day} with the consent of {}",
                consenting
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            mediation_deadline: Some(deadline(mediation_deadline)),
        }),
        Change::AgreementReached { agreement } => Detail::Agreement(pb::Agreement {
            parties: agreement
                .parties
                .iter()
                .map(|p| pb::AgreementParty {
                    party: p.party.to_string(),
                    name: p.name.to_string(),
                    identity: Some(identity_to_wire(&p.identity)),
                })
                .collect(),
            disputed_matters: text(agreement.disputed_matters.as_ref()),
            terms: agreement.terms.iter().map(ToString::to_string).collect(),
            performance_method: text(agreement.performance_method.as_ref()),
            perform_by: text(agreement.performance_deadline.as_ref()),
            signatures: agreement
                .signatures
                .iter()
                .map(|s| {
                    let (kind, who) = match &s.signer {
                        Signer::Organisation(o) => ("organisation", o.to_string()),
                        Signer::Mediator(m) => ("mediator", m.to_string()),
                        Signer::Party(p) => ("party", p.to_string()),
                    };
                    pb::Signature {
                        signer_kind: kind.into(),
                        signer: who,
                        signed_at: Some(time::to_wire(s.signed_at)),
                    }
                })
                .collect(),
            files: files(&agreement.documents),
        }),
        Change::MediationFailed { report } => Detail::Failure(failure_to_wire(report)),
        Change::ShamMediationReported { report } => Detail::ShamMediation(pb::ShamMediation {
            grounds: report.grounds.to_string(),
        }),
        Change::ConfirmationApplied { application } => {
            Detail::ConfirmationApplication(pb::ConfirmationApplication {
                applicants: application
                    .applicants
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                applied_at: Some(time::to_wire(application.applied_at)),
            })
        }
        Change::PerformanceRecorded { report } => Detail::Performance(pb::Performance {
            status: code(&report.status),
            note: text(report.note.as_ref()),
        }),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_return_always_says_why() {
        for reason in [
            ReturnReason::Declined,
            ReturnReason::AcceptanceOverdue,
            ReturnReason::MediationEnded,
            ReturnReason::EndedEarly {
                ground: mediation_core::outcome::EarlyEnd::PartyUnreachable,
                explanation: mediation_core::text::Narrative::parse("被申请人电话无人接听")
                    .unwrap(),
            },
            ReturnReason::NoEligibleOrganisation {
                explanation: "no centre takes labour disputes".into(),
            },
        ] {
            let Some(Detail::Returned(r)) = detail(
                &Change::ReturnedToCourt { reason },
                jiff::Timestamp::UNIX_EPOCH,
            ) else {
                panic!("a return is a return notice");
            };
            assert!(!r.explanation.is_empty(), "{}", r.reason);
        }
    }
}
