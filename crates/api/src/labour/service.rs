//! The `LabourGateway` service: the committees' calls become domain commands.

use std::sync::Arc;

use mediation_core::document::Document;
use mediation_core::ids::{MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::{Referral, Status};
use mediation_core::money::{Amount, Currency};
use mediation_core::outcome::{
    Agreement, AgreementParty, FailureReport, PerformanceReport, Signature, Signer,
};
use mediation_core::particulars::{LabourClaimKind, Particulars};
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::text::Narrative;
use mediation_core::{Event, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_proto::labour::v1 as pb;
use mediation_proto::labour::v1::labour_gateway_server::LabourGateway;
use mediation_service::{Context, Gateway};
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes;
use crate::guard::{Call, take};
use crate::partner::{
    CallFields, Desk, Step, date, document, narratives, optional, optional_narrative, required_time,
};

/// Serves the labour platform.
#[derive(Debug)]
pub struct LabourService<S> {
    desk: Desk<S>,
}

impl<S: ReferralStore + AuditLog + 'static> LabourService<S> {
    pub fn new(gateway: Arc<Gateway<S>>, relay: Option<RelayHandle>) -> Self {
        Self {
            desk: Desk::new(gateway, relay, Partner::LabourArbitration),
        }
    }

    /// Refuses agreements that list files without a url that were not
    /// uploaded.
    pub fn with_documents(mut self, documents: mediation_store::documents::DocumentStore) -> Self {
        self.desk.documents = Some(documents);
        self
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "each is one part of a platform's call, as in `Desk::act`"
    )]
    async fn act<F>(
        &self,
        call: &Call,
        dispute_id: &str,
        committee: &str,
        action: &str,
        v: Violations,
        files: &[Document],
        decide: F,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus>
    where
        F: Fn(&Referral, &OrganisationId, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    {
        let r = self
            .desk
            .act(
                call, FIELDS, dispute_id, committee, action, v, files, decide,
            )
            .await?;
        Ok(Response::new(status_of(&r)))
    }
}

impl<S: ReferralStore + AuditLog + 'static> LabourService<S> {
    async fn run(
        &self,
        call: &Call,
        dispute_id: &str,
        committee: &str,
        v: Violations,
        step: Option<Step>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let r = self
            .desk
            .run(call, FIELDS, dispute_id, committee, v, step)
            .await?;
        Ok(Response::new(status_of(&r)))
    }
}

fn status_of(r: &Referral) -> pb::DisputeStatus {
    pb::DisputeStatus {
        dispute_id: r.id().to_string(),
        status: r.status().as_str().to_owned(),
        mediate_by: match r.status() {
            Status::InMediation => r
                .mediation_deadline()
                .map(|d| d.due_date.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        },
    }
}

const FIELDS: CallFields = CallFields {
    case: "dispute_id",
    organisation: "committee",
    files: "files",
    domain_paths: &[
        ("last_day", "extended_until"),
        ("performance_deadline", "pay_by"),
        ("performance_method", "payment_method"),
        ("terms", "other_terms"),
    ],
};

fn yuan(value: &str) -> Result<Amount, mediation_core::Invalid> {
    Amount::parse(value, Currency::cny())
}

/// What a signed labour agreement says, before it is matched to the case.
#[derive(Debug, Clone)]
struct Signed {
    payments: Vec<(LabourClaimKind, Amount)>,
    other_terms: Vec<Narrative>,
    payment_method: Option<Narrative>,
    pay_by: Option<jiff::civil::Date>,
    mediator: MediatorId,
    employer_at: jiff::Timestamp,
    worker_at: jiff::Timestamp,
    mediator_at: jiff::Timestamp,
    sealed_at: jiff::Timestamp,
    files: Vec<Document>,
}

fn signed(v: &mut Violations, r: &pb::SubmitMediationAgreementRequest) -> Option<Signed> {
    let payments: Vec<(LabourClaimKind, Amount)> = r
        .payments
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let kind = v.check(format!("payments[{i}].kind"), codes::claim_kind(p.kind));
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
    let files: Vec<Document> = r
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            document(
                v,
                &format!("files[{i}]"),
                &f.name,
                &f.media_type,
                f.size_bytes,
                &f.sha256,
                &f.url,
            )
        })
        .collect();
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
fn agreement(
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
            codes::claim_name(*kind),
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

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> LabourGateway for LabourService<S> {
    async fn accept_dispute(
        &self,
        request: Request<pb::AcceptDisputeRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::accept(
            &mut v,
            ("mediator", &r.mediator),
            ("file_number", &r.file_number),
        );
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn decline_dispute(
        &self,
        request: Request<pb::DeclineDisputeRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let code = v.check("reason", codes::decline(r.reason));
        let step = Step::decline(&mut v, code, &r.explanation);
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        use pb::report_progress_request::Progress;
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = match &r.progress {
            Some(Progress::AppraisalStarted(what)) => {
                Step::appraisal_started(&mut v, "appraisal_started", what)
            }
            Some(Progress::AppraisalEnded(_)) => Some(Step::AppraisalEnded),
            // The platform reports that both sides agreed: every party.
            Some(Progress::ExtendedUntil(until)) => {
                Step::extend_for_everyone(&mut v, "extended_until", until)
            }
            None => Step::no_progress(&mut v, "extended_until"),
        };
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn submit_mediation_agreement(
        &self,
        request: Request<pb::SubmitMediationAgreementRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let signed = signed(&mut v, &r);
        // The agreement names the case's employer and worker, so it is built
        // against the referral itself.
        self.act(
            &call,
            &r.dispute_id,
            &r.committee,
            "submit_mediation_agreement",
            v,
            signed.as_ref().map_or(&[][..], |s| &s.files[..]),
            |referral, org, c| match &signed {
                Some(s) => referral.record_agreement(org, agreement(referral, org, s)?, c.now),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_mediation_failure(
        &self,
        request: Request<pb::ReportMediationFailureRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let course = v.check("course", Narrative::parse(&r.course));
        let reasons = v.check("reasons", Narrative::parse(&r.reasons));
        let facts = narratives(&mut v, "undisputed_facts", &r.undisputed_facts);
        let notes = optional_narrative(&mut v, "notes_for_court", &r.notes_for_court).flatten();
        let step = course.zip(reasons).map(|(course, reasons)| {
            Step::Fail(Box::new(FailureReport {
                course,
                reasons,
                cost_raising_conduct: None,
                notes_for_court: notes,
                undisputed_facts: facts,
                confirmed_service_addresses: Vec::new(),
            }))
        });
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = v
            .check("grounds", Narrative::parse(&r.grounds))
            .map(Step::Sham);
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        // Both sides apply together: every party of the case.
        let step = required_time(&mut v, "applied_at", r.applied_at.as_ref()).map(|applied_at| {
            Step::Apply {
                applicants: None,
                applied_at,
            }
        });
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let status = v.check("performance", codes::performance(r.performance));
        let note = optional_narrative(&mut v, "note", &r.note);
        let step = status
            .zip(note)
            .map(|(status, note)| Step::Performance(PerformanceReport { status, note }));
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }
}
