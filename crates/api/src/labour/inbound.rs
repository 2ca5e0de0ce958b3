//! What the labour platform sends, to domain values: signed agreements and
//! failure reports.

use mediation_core::document::Document;
use mediation_core::ids::{MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::Referral;
use mediation_core::money::Amount;
use mediation_core::outcome::{Agreement, AgreementParty, FailureReport, Signature, Signer};
use mediation_core::particulars::{LabourClaimKind, Particulars};
use mediation_core::text::Narrative;
use mediation_core::{TransitionError, Violations};
use mediation_proto::labour::v1 as pb;

use super::codes::{CLAIM_KINDS, CLAIM_NAMES};
use crate::partner::FailureFields;
use crate::wire::read::{
    date, files, narratives, optional, optional_narrative, required_time, yuan,
};

/// What a signed labour agreement says, before it is matched to the case.
#[derive(Debug, Clone)]
pub(super) struct Signed {
    payments: Vec<(LabourClaimKind, Amount)>,
    other_terms: Vec<Narrative>,
    payment_method: Option<Narrative>,
    pay_by: Option<jiff::civil::Date>,
    mediator: MediatorId,
    employer_at: jiff::Timestamp,
    worker_at: jiff::Timestamp,
    mediator_at: jiff::Timestamp,
    sealed_at: jiff::Timestamp,
    pub(super) files: Vec<Document>,
}

pub(super) fn signed(
    v: &mut Violations,
    r: &pb::SubmitMediationAgreementRequest,
) -> Option<Signed> {
    let payments: Vec<(LabourClaimKind, Amount)> = r
        .payments
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let kind = v.check(
                format!("payments[{i}].kind"),
                CLAIM_KINDS.read_number(p.kind),
            );
            let amount = v.check(format!("payments[{i}].amount"), yuan(&p.amount));
            Some((kind?, amount?))
        })
        .collect();
    if r.payments.is_empty() && r.other_terms.is_empty() {
        v.push(
            "payments",
            "an agreement states at least one payment or term",
        );
    }
    let other_terms = narratives(v, "other_terms", &r.other_terms);
    let payment_method = optional_narrative(v, "payment_method", &r.payment_method);
    let pay_by = v.check("pay_by", optional(&r.pay_by, date));
    let mediator = v.check("mediator", MediatorId::parse(&r.mediator));
    let employer_at = required_time(v, "employer_signed_at", r.employer_signed_at.as_ref());
    let worker_at = required_time(v, "worker_signed_at", r.worker_signed_at.as_ref());
    let mediator_at = required_time(v, "mediator_signed_at", r.mediator_signed_at.as_ref());
    let sealed_at = required_time(v, "committee_sealed_at", r.committee_sealed_at.as_ref());
    let files: Vec<Document> = files(v, "files", &r.files);
    Some(Signed {
        payments,
        other_terms,
        payment_method: payment_method?,
        pay_by: pay_by?,
        mediator: mediator?,
        employer_at: employer_at?,
        worker_at: worker_at?,
        mediator_at: mediator_at?,
        sealed_at: sealed_at?,
        files,
    })
}

/// The agreement in the domain's terms: the employer and the worker are the
/// case's parties, named as the court named them, and each payment becomes a
/// term.
pub(super) fn agreement(
    referral: &Referral,
    committee: &OrganisationId,
    s: &Signed,
) -> Result<Agreement, TransitionError> {
    let bundle = referral.bundle();
    let Some(Particulars::Labour(labour)) = &bundle.particulars else {
        let mut v = Violations::new();
        v.push(
            "dispute_id",
            "the dispute has no labour particulars to match an employer and a worker to",
        );
        return Err(TransitionError::Invalid(v));
    };
    let side = |reference: &PartyRef| {
        bundle.party(reference).map(|p| AgreementParty {
            party: p.reference.clone(),
            name: p.name.clone(),
            identity: p.identity.clone(),
        })
    };
    let mut terms = Vec::new();
    for (kind, amount) in &s.payments {
        let text = format!(
            "用人单位向劳动者支付{}{}元",
            CLAIM_NAMES.code(*kind),
            amount.decimal()
        );
        if let Ok(term) = Narrative::parse(&text) {
            terms.push(term);
        }
    }
    terms.extend(s.other_terms.iter().cloned());
    Ok(Agreement {
        parties: [side(&labour.employer), side(&labour.employee)]
            .into_iter()
            .flatten()
            .collect(),
        disputed_matters: Narrative::parse(bundle.cause_of_action.as_ref()).ok(),
        terms,
        performance_method: s.payment_method.clone(),
        performance_deadline: s.pay_by,
        signatures: vec![
            Signature {
                signer: Signer::Organisation(committee.clone()),
                signed_at: s.sealed_at,
            },
            Signature {
                signer: Signer::Mediator(s.mediator.clone()),
                signed_at: s.mediator_at,
            },
            Signature {
                signer: Signer::Party(labour.employer.clone()),
                signed_at: s.employer_at,
            },
            Signature {
                signer: Signer::Party(labour.employee.clone()),
                signed_at: s.worker_at,
            },
        ],
        documents: s.files.clone(),
    })
}

/// A failure report. The platform states no conduct that raised costs and
/// no confirmed addresses; `labour.proto` says so.
pub(super) fn failure(
    v: &mut Violations,
    r: &pb::ReportMediationFailureRequest,
) -> Option<FailureReport> {
    FailureFields {
        notes_for_court: Some(&r.notes_for_court),
        ..FailureFields::new(&r.course, &r.reasons, &r.undisputed_facts)
    }
    .read(v)
}
