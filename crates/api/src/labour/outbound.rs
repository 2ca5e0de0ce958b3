//! What the labour platform receives, from domain messages: referrals and the
//! court's decisions.

use mediation_core::bundle::{CaseBundle, Party, PartyRole, ReferralKind};
use mediation_core::lifecycle::Change;
use mediation_core::particulars::{LabourParticulars, Particulars};
use mediation_core::store::PendingDelivery;
use mediation_proto::labour::v1 as pb;

use super::codes::{CLAIM_KINDS, RULINGS};
use crate::partner::Disclosed;
use crate::partner::codes::DOCUMENT_TYPES;
use crate::time;
use crate::wire::write::{decimal, files, text};

/// What to send for a delivery, or `None` when the platform has no use for it.
pub(crate) enum ToPlatform {
    Referral(Box<pb::DisputeReferral>),
    Decision(pb::CourtDecision),
}

fn party<'a>(
    bundle: &'a CaseBundle,
    labour: Option<&LabourParticulars>,
    employer: bool,
) -> Option<&'a Party> {
    match labour {
        Some(l) => bundle.party(if employer { &l.employer } else { &l.employee }),
        // Validation requires particulars for a labour dispute; without them
        // the claimant is taken as the worker and the respondent as employer.
        None => {
            let role = if employer {
                PartyRole::Respondent
            } else {
                PartyRole::Claimant
            };
            bundle.parties.iter().find(|p| p.role == role)
        }
    }
}

/// The dispute as `d` discloses it: a referral, or the particulars.
pub(crate) fn referral(d: &Disclosed<'_>) -> pb::DisputeReferral {
    let bundle = d.bundle;
    let labour = match &bundle.particulars {
        Some(Particulars::Labour(l)) => Some(l),
        _ => None,
    };
    let employer = party(bundle, labour, true);
    let worker = party(bundle, labour, false);
    let named: Vec<_> = [employer, worker]
        .into_iter()
        .flatten()
        .map(|p| &p.reference)
        .collect();
    pb::DisputeReferral {
        message_id: d.message_id.clone(),
        dispute_id: d.case_id.clone(),
        court: bundle.court.to_string(),
        court_reference: bundle.court_referral_id.to_string(),
        court_case_number: text(bundle.case_number.as_ref()),
        court_stage: match bundle.kind {
            ReferralKind::Entrusted { .. } => pb::CourtStage::InLitigation,
            ReferralKind::Delegated | ReferralKind::DirectIntake => pb::CourtStage::PreLitigation,
        }
        .into(),
        committee: d.assignment.organisation.to_string(),
        cause_of_action: bundle.cause_of_action.to_string(),
        employer: employer.map(|p| pb::Employer {
            party: p.reference.to_string(),
            name: p.name.to_string(),
            registration_number: d.personal(|| p.identity.number().to_owned()),
            contact: d.personal(|| p.contact.to_string()),
            address: d.personal(|| p.service_address.to_string()),
            region: text(p.region.as_ref()),
        }),
        worker: worker.map(|p| pb::Worker {
            party: p.reference.to_string(),
            name: p.name.to_string(),
            id_number: d.personal(|| p.identity.number().to_owned()),
            id_type: d.personal(|| DOCUMENT_TYPES.code(p.identity.kind()).to_owned()),
            contact: d.personal(|| p.contact.to_string()),
            address: d.personal(|| p.service_address.to_string()),
            region: text(p.region.as_ref()),
        }),
        // The terms of employment (wage, position) are the worker's
        // personal data and not needed to decide on the referral.
        employment: d.personal_opt(|| labour).map(|l| pb::Employment {
            written_contract: l.written_contract,
            started_on: l.employment_start.to_string(),
            ended_on: text(l.employment_end.as_ref()),
            position: text(l.position.as_ref()),
            monthly_wage: decimal(l.monthly_wage.as_ref()),
        }),
        arbitration_committee: text(labour.and_then(|l| l.arbitration_committee.as_ref())),
        claim_items: labour
            .map(|l| {
                l.claim_items
                    .iter()
                    .map(|i| pb::ClaimItem {
                        kind: CLAIM_KINDS.number(i.kind),
                        amount: i.amount.decimal(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        total_claimed: decimal(bundle.amount_in_dispute.as_ref()),
        others: bundle
            .parties
            .iter()
            .filter(|p| !named.contains(&&p.reference))
            .map(|p| pb::OtherParty {
                party: p.reference.to_string(),
                name: p.name.to_string(),
            })
            .collect(),
        materials: files(&bundle.documents),
        respond_by: d.deadline.map(|d| time::to_wire(d.due_at)),
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

pub(crate) fn to_platform(d: &PendingDelivery) -> Option<ToPlatform> {
    let dispute_id = d.message.referral.to_string();
    let change = &d.message.event.change;
    match change {
        Change::Routed { .. } => {
            Disclosed::offer(d).map(|offer| ToPlatform::Referral(Box::new(referral(&offer))))
        }
        Change::RulingRecorded { ruling } => Some(ToPlatform::Decision(pb::CourtDecision {
            message_id: d.id.to_string(),
            dispute_id,
            decision: Some(pb::court_decision::Decision::Ruling(pb::Ruling {
                outcome: RULINGS.number(ruling.outcome),
                court_case_number: text(ruling.case_number.as_ref()),
                reasons: text(ruling.reasons.as_ref()),
                ruled_at: Some(time::to_wire(ruling.ruled_at)),
            })),
        })),
        change @ Change::ShamMediationResolved { resume: true, .. } => {
            crate::partner::resumption(change).map(|(note, mediate_by)| {
                ToPlatform::Decision(pb::CourtDecision {
                    message_id: d.id.to_string(),
                    dispute_id,
                    decision: Some(pb::court_decision::Decision::Resumed(pb::Resumption {
                        note,
                        mediate_by,
                    })),
                })
            })
        }
        Change::ArbitrationAvailable { since } => Some(ToPlatform::Decision(pb::CourtDecision {
            message_id: d.id.to_string(),
            dispute_id,
            decision: Some(pb::court_decision::Decision::ArbitrationOpen(
                pb::ArbitrationOpen {
                    since: Some(time::to_wire(*since)),
                },
            )),
        })),
        change => crate::partner::withdrawal(change).map(|w| {
            ToPlatform::Decision(pb::CourtDecision {
                message_id: d.id.to_string(),
                dispute_id,
                decision: Some(pb::court_decision::Decision::Withdrawal(pb::Withdrawal {
                    reason: w.reason,
                    cause: w.cause.to_owned(),
                })),
            })
        }),
    }
}
