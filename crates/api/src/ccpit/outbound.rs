//! What the CCPIT platform receives, from domain messages: offers and the
//! court's decisions.

use mediation_core::bundle::PartyRole;
use mediation_core::lifecycle::Change;
use mediation_core::store::PendingDelivery;
use mediation_proto::ccpit::v1 as pb;

use super::codes::{DOCUMENT_TYPES, RULINGS};
use crate::partner::Disclosed;
use crate::time;
use crate::wire::write::{files, money, text};

/// What to send for a delivery, or `None` when the platform has no use for it.
pub(crate) enum ToPlatform {
    Offer(Box<pb::CaseOffer>),
    Decision(pb::CourtDecision),
}

/// The case as `d` discloses it: an offer, or the particulars.
pub(crate) fn case_offer(d: &Disclosed<'_>) -> pb::CaseOffer {
    let bundle = d.bundle;
    let participant = |p: &mediation_core::bundle::Party| pb::Participant {
        reference: p.reference.to_string(),
        name: p.name.to_string(),
        enterprise: matches!(p.person, mediation_core::bundle::PersonKind::Legal),
        document_type: d.personal(|| DOCUMENT_TYPES.code(p.identity.kind()).to_owned()),
        document_number: d.personal(|| p.identity.number().to_owned()),
        foreign: p.resides_abroad || p.identity.kind().is_foreign(),
        contact: d.personal(|| p.contact.to_string()),
        address_for_service: d.personal(|| p.service_address.to_string()),
        region: text(p.region.as_ref()),
    };
    let of_role = |role: PartyRole| {
        bundle
            .parties
            .iter()
            .filter(|p| p.role == role)
            .map(participant)
            .collect()
    };
    pb::CaseOffer {
        message_id: d.message_id.clone(),
        case_id: d.case_id.clone(),
        court_reference: bundle.court_referral_id.to_string(),
        court: bundle.court.to_string(),
        court_case_number: text(bundle.case_number.as_ref()),
        pre_litigation: matches!(bundle.kind, mediation_core::bundle::ReferralKind::Delegated),
        mediation_centre: d.assignment.organisation.to_string(),
        cause_of_action: bundle.cause_of_action.to_string(),
        cross_border: bundle.is_cross_border(),
        applicants: of_role(PartyRole::Claimant),
        respondents: of_role(PartyRole::Respondent),
        third_parties: of_role(PartyRole::ThirdParty),
        amount_in_dispute: bundle.amount_in_dispute.as_ref().map(money),
        claims: bundle
            .claims
            .iter()
            .map(|c| c.description.to_string())
            .collect(),
        files: files(&bundle.documents),
        accept_by: d.deadline.map(|d| time::to_wire(d.due_at)),
        routing_reasons: d.reasons.to_vec(),
        background: text(bundle.summary.as_ref()),
        model_case_number: text(bundle.model_case.as_ref()),
        language: text(bundle.language.as_ref()),
        interpreter_needed: bundle.interpreter_needed,
        disclosure: if d.is_full() {
            pb::Disclosure::Full
        } else {
            pb::Disclosure::Offer
        }
        .into(),
    }
}

pub(crate) fn to_platform(d: &PendingDelivery) -> Option<ToPlatform> {
    let case_id = d.message.referral.to_string();
    match &d.message.event.change {
        Change::Routed { .. } => {
            Disclosed::offer(d).map(|offer| ToPlatform::Offer(Box::new(case_offer(&offer))))
        }
        Change::RulingRecorded { ruling } => Some(ToPlatform::Decision(pb::CourtDecision {
            message_id: d.id.to_string(),
            case_id,
            decision: Some(pb::court_decision::Decision::Ruling(
                pb::ConfirmationRuling {
                    outcome: RULINGS.code(ruling.outcome).to_owned(),
                    court_case_number: text(ruling.case_number.as_ref()),
                    reasons: text(ruling.reasons.as_ref()),
                    ruled_at: Some(time::to_wire(ruling.ruled_at)),
                },
            )),
        })),
        change @ Change::ShamMediationResolved { resume: true, .. } => {
            crate::partner::resumption(change).map(|(note, mediate_by)| {
                ToPlatform::Decision(pb::CourtDecision {
                    message_id: d.id.to_string(),
                    case_id,
                    decision: Some(pb::court_decision::Decision::Resumed(pb::Resumption {
                        note,
                        mediate_by,
                    })),
                })
            })
        }
        change => crate::partner::withdrawal(change).map(|w| {
            ToPlatform::Decision(pb::CourtDecision {
                message_id: d.id.to_string(),
                case_id,
                decision: Some(pb::court_decision::Decision::Recall(pb::Recall {
                    reason: w.reason,
                    cause: w.cause.to_owned(),
                })),
            })
        }),
    }
}
