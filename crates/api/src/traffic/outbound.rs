//! What the road-traffic platform receives, from domain messages: cases and
//! the court's decisions.

use mediation_core::bundle::{Party, PartyRole};
use mediation_core::lifecycle::Change;
use mediation_core::particulars::{AccidentParticulars, Particulars};
use mediation_core::store::PendingDelivery;
use mediation_proto::traffic::v1 as pb;

use super::codes::{ITEMS, LIABILITIES};
use crate::partner::Disclosed;
use crate::partner::codes::{DOCUMENT_TYPES, RULINGS};
use crate::time;
use crate::wire::write::{decimal, files, text};

/// What to send for a delivery, or `None` when the platform has no use for it.
pub(crate) enum ToPlatform {
    Case(Box<pb::AccidentCase>),
    Decision(pb::CourtDecision),
    Insurers(pb::InsurerNotice),
}

/// How a party stands in the claim, as the platform sorts people.
fn standing(p: &Party, accident: Option<&AccidentParticulars>) -> &'static str {
    let Some(a) = accident else {
        return match p.role {
            PartyRole::Claimant => "INJURED",
            PartyRole::Respondent => "LIABLE",
            PartyRole::ThirdParty => "OTHER",
        };
    };
    if a.vehicles
        .iter()
        .any(|v| v.insurer.as_ref() == Some(&p.reference))
    {
        "INSURER"
    } else if a.injuries.iter().any(|i| i.party == p.reference) {
        "INJURED"
    } else if p.role == PartyRole::Respondent {
        "LIABLE"
    } else {
        "OTHER"
    }
}

fn person(p: &Party, accident: Option<&AccidentParticulars>, d: &Disclosed<'_>) -> pb::Person {
    let share = accident.and_then(|a| a.liability.iter().find(|s| s.party == p.reference));
    let injury = accident.and_then(|a| a.injuries.iter().find(|i| i.party == p.reference));
    pb::Person {
        party: p.reference.to_string(),
        name: p.name.to_string(),
        standing: standing(p, accident).to_owned(),
        id_type: d.personal(|| DOCUMENT_TYPES.code(p.identity.kind()).to_owned()),
        id_number: d.personal(|| p.identity.number().to_owned()),
        phone: d.personal(|| p.contact.to_string()),
        address: d.personal(|| p.service_address.to_string()),
        liability: d.personal(|| {
            share
                .map(|s| LIABILITIES.code(s.liability).to_owned())
                .unwrap_or_default()
        }),
        // Injuries are health data, sensitive personal data (PIPL Art. 28).
        disability_grade: d
            .personal_opt(|| injury.and_then(|i| i.disability_grade))
            .map_or(0, u32::from),
        deceased: d.personal_opt(|| injury.map(|i| i.deceased)) == Some(true),
        region: text(p.region.as_ref()),
    }
}

/// The case as `d` discloses it: a delegation, or the particulars.
pub(crate) fn case(d: &Disclosed<'_>) -> pb::AccidentCase {
    let bundle = d.bundle;
    let accident = match &bundle.particulars {
        Some(Particulars::RoadTraffic(a)) => Some(a),
        _ => None,
    };
    // What identifies the accident and the people in it waits for the room
    // to take the case.
    let details = d.personal_opt(|| accident);
    pb::AccidentCase {
        message_id: d.message_id.clone(),
        case_id: d.case_id.clone(),
        court: bundle.court.to_string(),
        court_reference: bundle.court_referral_id.to_string(),
        court_case_number: text(bundle.case_number.as_ref()),
        room: d.assignment.organisation.to_string(),
        cause_of_action: bundle.cause_of_action.to_string(),
        certificate_number: text(details.map(|a| &a.certificate_number)),
        occurred_at: accident.map(|a| time::to_wire(a.occurred_at)),
        place: text(details.map(|a| &a.place)),
        persons: bundle
            .parties
            .iter()
            .map(|p| person(p, accident, d))
            .collect(),
        vehicles: details
            .map(|a| {
                a.vehicles
                    .iter()
                    .map(|v| pb::Car {
                        plate: v.plate.to_string(),
                        driver: text(v.driver.as_ref()),
                        insurer: text(v.insurer.as_ref()),
                        compulsory_policy: text(v.compulsory_policy.as_ref()),
                        commercial_policy: text(v.commercial_policy.as_ref()),
                        insurer_name: text(v.insurer_name.as_ref()),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        claimed: accident
            .map(|a| {
                a.compensation
                    .iter()
                    .map(|c| pb::Compensation {
                        item: ITEMS.code(c.kind).to_owned(),
                        amount: c.amount.decimal(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        total_claimed: decimal(bundle.amount_in_dispute.as_ref()),
        evidence: files(&bundle.documents),
        take_by: d.deadline.map(|d| time::to_wire(d.due_at)),
        routing_reasons: d.reasons.to_vec(),
        background: text(bundle.summary.as_ref()),
        model_case_number: text(bundle.model_case.as_ref()),
        disclosure: if d.is_full() {
            pb::Disclosure::Full
        } else {
            pb::Disclosure::Offer
        }
        .into(),
    }
}

/// What the platform passes on to the insurers of the vehicles involved:
/// that the room took the case, or the agreement's payments each insurer's
/// policies answer for. `None` for a case without insurers.
fn insurer_notice(d: &PendingDelivery) -> Option<pb::InsurerNotice> {
    let bundle = d.message.bundle.as_deref()?;
    let Some(Particulars::RoadTraffic(accident)) = &bundle.particulars else {
        return None;
    };
    let (stage, payments) = match &d.message.event.change {
        Change::Accepted { .. } => (pb::InsurerStage::Referral, &[][..]),
        Change::AgreementReached { agreement } => (
            pb::InsurerStage::Agreement,
            agreement.compensation.as_slice(),
        ),
        _ => return None,
    };
    let insurers: Vec<pb::InsurerShare> = accident
        .insurers()
        .into_iter()
        .map(|insurer| pb::InsurerShare {
            party: text(insurer.party.as_ref()),
            name: insurer
                .party
                .as_ref()
                .and_then(|p| bundle.party(p))
                .map(|p| p.name.to_string())
                .or_else(|| insurer.name.as_ref().map(ToString::to_string))
                .unwrap_or_default(),
            policies: insurer.policies.iter().map(ToString::to_string).collect(),
            plates: insurer.plates.iter().map(ToString::to_string).collect(),
            payouts: payments
                .iter()
                .filter(|p| insurer.answers_for(&p.payer))
                .map(|p| pb::Payout {
                    payer: p.payer.to_string(),
                    payee: p.payee.to_string(),
                    item: ITEMS.code(p.kind).to_owned(),
                    amount: p.amount.decimal(),
                })
                .collect(),
        })
        .collect();
    (!insurers.is_empty()).then(|| pb::InsurerNotice {
        message_id: d.id.to_string(),
        case_id: d.message.referral.to_string(),
        court: bundle.court.to_string(),
        court_reference: bundle.court_referral_id.to_string(),
        room: d
            .message
            .holder
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        cause_of_action: bundle.cause_of_action.to_string(),
        stage: stage.into(),
        insurers,
    })
}

pub(crate) fn to_platform(d: &PendingDelivery) -> Option<ToPlatform> {
    let case_id = d.message.referral.to_string();
    match &d.message.event.change {
        Change::Accepted { .. } | Change::AgreementReached { .. } => {
            insurer_notice(d).map(ToPlatform::Insurers)
        }
        Change::Routed { .. } => {
            Disclosed::offer(d).map(|offer| ToPlatform::Case(Box::new(case(&offer))))
        }
        Change::RulingRecorded { ruling } => Some(ToPlatform::Decision(pb::CourtDecision {
            message_id: d.id.to_string(),
            case_id,
            decision: RULINGS.code(ruling.outcome).to_owned(),
            court_case_number: text(ruling.case_number.as_ref()),
            reasons: text(ruling.reasons.as_ref()),
            decided_at: Some(time::to_wire(ruling.ruled_at)),
            cause: String::new(),
            mediate_by: String::new(),
        })),
        change @ Change::ShamMediationResolved { resume: true, .. } => {
            crate::partner::resumption(change).map(|(note, mediate_by)| {
                ToPlatform::Decision(pb::CourtDecision {
                    message_id: d.id.to_string(),
                    case_id,
                    decision: "MEDIATION_RESUMED".to_owned(),
                    court_case_number: String::new(),
                    reasons: note,
                    decided_at: Some(time::to_wire(d.message.event.at)),
                    cause: String::new(),
                    mediate_by,
                })
            })
        }
        change => crate::partner::withdrawal(change).map(|w| {
            ToPlatform::Decision(pb::CourtDecision {
                message_id: d.id.to_string(),
                case_id,
                // A court's recall keeps its old name; the other causes are
                // withdrawals.
                decision: if w.cause == "RECALLED" {
                    "RECALLED"
                } else {
                    "WITHDRAWN"
                }
                .to_owned(),
                court_case_number: String::new(),
                reasons: w.reason,
                decided_at: Some(time::to_wire(d.message.event.at)),
                cause: w.cause.to_owned(),
                mediate_by: String::new(),
            })
        }),
    }
}
