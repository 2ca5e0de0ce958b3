//! What the road-traffic platform sends, to domain values: signed
//! compensation agreements and failure reports.

use jiff::Timestamp;
use mediation_core::document::Document;
use mediation_core::ids::{MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::Referral;
use mediation_core::money::Amount;
use mediation_core::outcome::{
    Agreement, AgreementParty, CompensationPayment, FailureReport, Signature, Signer,
};
use mediation_core::particulars::CompensationKind;
use mediation_core::text::Narrative;
use mediation_core::{TransitionError, Violations};
use mediation_proto::traffic::v1 as pb;

use super::codes::{ITEM_NAMES, ITEMS};
use crate::partner::codes::agreement_party;
use crate::wire::read::{
    date, files, narratives, optional, optional_narrative, required_time, yuan,
};

#[derive(Debug, Clone)]
struct Payout {
    payer: PartyRef,
    payee: PartyRef,
    item: CompensationKind,
    amount: Amount,
}

/// What a signed compensation agreement says, before it is matched to the case.
#[derive(Debug, Clone)]
pub(super) struct Signed {
    /// The parties and the disputed matters as the agreement states them;
    /// `None` in the older form, which takes them from the case.
    stated: Option<(Vec<AgreementParty>, Narrative)>,
    payouts: Vec<Payout>,
    other_terms: Vec<Narrative>,
    payment_method: Option<Narrative>,
    pay_by: Option<jiff::civil::Date>,
    mediator: MediatorId,
    signatures: Vec<(String, Timestamp)>,
    pub(super) files: Vec<Document>,
}

pub(super) fn signed(
    v: &mut Violations,
    r: &pb::SubmitCompensationAgreementRequest,
) -> Option<Signed> {
    let payouts: Vec<Payout> = r
        .payouts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let at = |f: &str| format!("payouts[{i}].{f}");
            let payer = v.check(at("payer"), PartyRef::parse(&p.payer));
            let payee = v.check(at("payee"), PartyRef::parse(&p.payee));
            let item = v.check(at("item"), ITEMS.read(&p.item));
            let amount = v.check(at("amount"), yuan(&p.amount));
            Some(Payout {
                payer: payer?,
                payee: payee?,
                item: item?,
                amount: amount?,
            })
        })
        .collect();
    if r.payouts.is_empty() && r.other_terms.is_empty() {
        v.push("payouts", "an agreement states at least one payout or term");
    }
    let other_terms = narratives(v, "other_terms", &r.other_terms);
    let payment_method = optional_narrative(v, "payment_method", &r.payment_method);
    let pay_by = v.check("pay_by", optional(&r.pay_by, date));
    let mediator = v.check("mediator", MediatorId::parse(&r.mediator));
    let signatures: Vec<(String, Timestamp)> = r
        .signatures
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            let at = required_time(v, &format!("signatures[{i}].at"), s.at.as_ref());
            if s.by.trim().is_empty() {
                v.push(format!("signatures[{i}].by"), "is required");
                return None;
            }
            Some((s.by.trim().to_owned(), at?))
        })
        .collect();
    let files: Vec<Document> = files(v, "files", &r.files);
    let stated = if r.parties.is_empty() {
        if !r.disputed_matters.trim().is_empty() {
            v.push(
                "parties",
                "must state the agreement's parties when it states its disputed matters",
            );
        }
        None
    } else {
        let parties: Vec<AgreementParty> = r
            .parties
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                agreement_party(
                    v,
                    &format!("parties[{i}]"),
                    (&p.reference, &p.name),
                    (&p.document_type, &p.document_number),
                )
            })
            .collect();
        let matters = v.check("disputed_matters", Narrative::parse(&r.disputed_matters));
        Some((parties, matters?))
    };
    Some(Signed {
        stated,
        payouts,
        other_terms,
        payment_method: payment_method?,
        pay_by: pay_by?,
        mediator: mediator?,
        signatures,
        files,
    })
}

/// The agreement in the domain's terms: every party as the court named it,
/// one term per payout, and each signature matched to the room, the mediator
/// or a party.
pub(super) fn agreement(
    referral: &Referral,
    room: &OrganisationId,
    s: &Signed,
) -> Result<Agreement, TransitionError> {
    let bundle = referral.bundle();
    let mut v = Violations::new();
    let mut terms = Vec::new();
    for (i, p) in s.payouts.iter().enumerate() {
        let (Some(payer), Some(payee)) = (bundle.party(&p.payer), bundle.party(&p.payee)) else {
            v.push(
                format!("payouts[{i}]"),
                "payer and payee must be parties of the case",
            );
            continue;
        };
        let text = format!(
            "{}向{}支付{}{}元",
            payer.name,
            payee.name,
            ITEM_NAMES.code(p.item),
            p.amount.decimal()
        );
        if let Ok(term) = Narrative::parse(&text) {
            terms.push(term);
        }
    }
    terms.extend(s.other_terms.iter().cloned());
    let mut signatures = Vec::new();
    for (i, (by, at)) in s.signatures.iter().enumerate() {
        let signer = if by == room.as_str() {
            Signer::Organisation(room.clone())
        } else if by == s.mediator.as_str() {
            Signer::Mediator(s.mediator.clone())
        } else {
            match PartyRef::parse(by) {
                Ok(p) if bundle.party(&p).is_some() => Signer::Party(p),
                _ => {
                    v.push(
                        format!("signatures[{i}].by"),
                        format!("{by:?} is neither the room, the mediator nor a party of the case"),
                    );
                    continue;
                }
            }
        };
        signatures.push(Signature {
            signer,
            signed_at: *at,
        });
    }
    if !v.is_empty() {
        return Err(TransitionError::Invalid(v));
    }
    // The parties and matters as the agreement states them, checked against
    // the case by `Agreement::check`; the older form takes them from it.
    let (parties, disputed_matters) = match &s.stated {
        Some((parties, matters)) => (parties.clone(), Some(matters.clone())),
        None => (
            bundle
                .parties
                .iter()
                .map(|p| AgreementParty {
                    party: p.reference.clone(),
                    name: p.name.clone(),
                    identity: p.identity.clone(),
                })
                .collect(),
            Narrative::parse(bundle.cause_of_action.as_ref()).ok(),
        ),
    };
    Ok(Agreement {
        parties,
        disputed_matters,
        terms,
        performance_method: s.payment_method.clone(),
        performance_deadline: s.pay_by,
        signatures,
        documents: s.files.clone(),
        compensation: s
            .payouts
            .iter()
            .map(|p| CompensationPayment {
                payer: p.payer.clone(),
                payee: p.payee.clone(),
                kind: p.item,
                amount: p.amount.clone(),
            })
            .collect(),
    })
}

/// A failure report, with every element the rules ask for (online rules
/// Art. 21; seed 003 四(四)2).
pub(super) fn failure(v: &mut Violations, r: &pb::ReportFailureRequest) -> Option<FailureReport> {
    crate::partner::complete_failure!(v, r)
}
