//! What the labour platform sends, to domain values: signed agreements and
//! failure reports.

use mediation_core::bundle::CaseBundle;
use mediation_core::document::Document;
use mediation_core::ids::{MediatorId, OrganisationId, PartyRef};
use mediation_core::money::Amount;
use mediation_core::outcome::{Agreement, AgreementParty, FailureReport, Signature, Signer};
use mediation_core::particulars::{LabourClaimKind, Particulars};
use mediation_core::text::Narrative;
use mediation_core::{TransitionError, Violations};
use mediation_proto::labour::v1 as pb;

use super::codes::{CLAIM_KINDS, CLAIM_NAMES};
use crate::partner::codes::agreement_party;
use crate::wire::read::{
    date, files, narratives, optional, optional_narrative, required_time, yuan,
};

/// Who signed a labour agreement: the parties as it states them, or (the
/// older form) the employer and the worker of the referral.
#[derive(Debug, Clone)]
enum Signers {
    Stated {
        parties: Vec<(AgreementParty, jiff::Timestamp)>,
        disputed_matters: Narrative,
    },
    EmployerAndWorker {
        employer_at: jiff::Timestamp,
        worker_at: jiff::Timestamp,
    },
}

impl Signed {
    /// Whether the agreement states its parties and disputed matters itself,
    /// rather than taking them from the referral (the older form).
    pub(super) fn states_its_parties(&self) -> bool {
        matches!(self.signers, Signers::Stated { .. })
    }

    pub(super) fn mediator(&self) -> &MediatorId {
        &self.mediator
    }
}

/// What a signed labour agreement says, before it is matched to the case.
#[derive(Debug, Clone)]
pub(super) struct Signed {
    payments: Vec<(LabourClaimKind, Amount)>,
    other_terms: Vec<Narrative>,
    payment_method: Option<Narrative>,
    pay_by: Option<jiff::civil::Date>,
    mediator: MediatorId,
    signers: Signers,
    mediator_at: jiff::Timestamp,
    sealed_at: jiff::Timestamp,
    pub(super) files: Vec<Document>,
}

/// The parties as the agreement states them, each with when it signed.
fn stated_parties(v: &mut Violations, r: &pb::SubmitMediationAgreementRequest) -> Option<Signers> {
    if r.employer_signed_at.is_some() || r.worker_signed_at.is_some() {
        v.push(
            "parties",
            "give the parties with their signatures, or the employer's and worker's signatures, not both",
        );
    }
    let mut parties = Vec::new();
    for (i, p) in r.parties.iter().enumerate() {
        let path = format!("parties[{i}]");
        let party = agreement_party(
            v,
            &path,
            (&p.reference, &p.name),
            (&p.document_type, &p.document_number),
        );
        let signed_at = required_time(v, &format!("{path}.signed_at"), p.signed_at.as_ref());
        parties.extend(party.zip(signed_at));
    }
    let disputed_matters = v.check("disputed_matters", Narrative::parse(&r.disputed_matters));
    Some(Signers::Stated {
        parties,
        disputed_matters: disputed_matters?,
    })
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
    let signers = if r.parties.is_empty() {
        let employer_at = required_time(v, "employer_signed_at", r.employer_signed_at.as_ref());
        let worker_at = required_time(v, "worker_signed_at", r.worker_signed_at.as_ref());
        employer_at
            .zip(worker_at)
            .map(|(employer_at, worker_at)| Signers::EmployerAndWorker {
                employer_at,
                worker_at,
            })
    } else {
        stated_parties(v, r)
    };
    let mediator_at = required_time(v, "mediator_signed_at", r.mediator_signed_at.as_ref());
    let sealed_at = required_time(v, "committee_sealed_at", r.committee_sealed_at.as_ref());
    let files: Vec<Document> = files(v, "files", &r.files);
    Some(Signed {
        payments,
        other_terms,
        payment_method: payment_method?,
        pay_by: pay_by?,
        mediator: mediator?,
        signers: signers?,
        mediator_at: mediator_at?,
        sealed_at: sealed_at?,
        files,
    })
}

/// The agreement in the domain's terms, each payment a term. With the
/// parties stated, they and the disputed matters are the agreement's own,
/// checked against the case by `Agreement::check`. In the older form the
/// employer and the worker are the case's parties as the court named them,
/// and the cause of action stands for the matters in dispute.
pub(super) fn agreement(
    bundle: &CaseBundle,
    committee: &OrganisationId,
    s: &Signed,
) -> Result<Agreement, TransitionError> {
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
    let mut signatures = vec![
        Signature {
            signer: Signer::Organisation(committee.clone()),
            signed_at: s.sealed_at,
        },
        Signature {
            signer: Signer::Mediator(s.mediator.clone()),
            signed_at: s.mediator_at,
        },
    ];
    let (parties, disputed_matters) = match &s.signers {
        Signers::Stated {
            parties,
            disputed_matters,
        } => {
            signatures.extend(parties.iter().map(|(p, at)| Signature {
                signer: Signer::Party(p.party.clone()),
                signed_at: *at,
            }));
            (
                parties.iter().map(|(p, _)| p.clone()).collect(),
                Some(disputed_matters.clone()),
            )
        }
        Signers::EmployerAndWorker {
            employer_at,
            worker_at,
        } => {
            let Some(Particulars::Labour(labour)) = &bundle.particulars else {
                let mut v = Violations::new();
                v.push(
                    "dispute_id",
                    "the dispute has no labour particulars to match an employer and a worker to; state the parties",
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
            signatures.push(Signature {
                signer: Signer::Party(labour.employer.clone()),
                signed_at: *employer_at,
            });
            signatures.push(Signature {
                signer: Signer::Party(labour.employee.clone()),
                signed_at: *worker_at,
            });
            (
                [side(&labour.employer), side(&labour.employee)]
                    .into_iter()
                    .flatten()
                    .collect(),
                Narrative::parse(bundle.cause_of_action.as_ref()).ok(),
            )
        }
    };
    Ok(Agreement {
        parties,
        disputed_matters,
        terms,
        performance_method: s.payment_method.clone(),
        performance_deadline: s.pay_by,
        signatures,
        documents: s.files.clone(),
        compensation: Vec::new(),
    })
}

/// A failure report, with every element the rules ask for (online rules
/// Art. 21; seed 003 四(四)2).
pub(super) fn failure(
    v: &mut Violations,
    r: &pb::ReportMediationFailureRequest,
) -> Option<FailureReport> {
    crate::partner::complete_failure!(v, r)
}
