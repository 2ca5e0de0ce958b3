//! The `TrafficGateway` service: the mediation rooms' calls become domain
//! commands.

use std::sync::Arc;

use jiff::Timestamp;
use mediation_core::document::Document;
use mediation_core::ids::{MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::{Referral, Status};
use mediation_core::money::{Amount, Currency};
use mediation_core::outcome::{
    Agreement, AgreementParty, FailureReport, PerformanceReport, Signature, Signer,
};
use mediation_core::particulars::CompensationKind;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::text::Narrative;
use mediation_core::{Event, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_proto::traffic::v1 as pb;
use mediation_proto::traffic::v1::traffic_gateway_server::TrafficGateway;
use mediation_service::{Context, Gateway};
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes;
use crate::guard::{Call, take};
use crate::partner::codes::decline_code;
use crate::partner::{
    CallFields, Desk, Step, date, document, narratives, optional, optional_narrative, required_time,
};

/// Serves the road-traffic platform.
#[derive(Debug)]
pub struct TrafficService<S> {
    desk: Desk<S>,
}

const FIELDS: CallFields = CallFields {
    case: "case_id",
    organisation: "room",
    files: "files",
    domain_paths: &[
        ("last_day", "extended_until"),
        ("performance_deadline", "pay_by"),
        ("performance_method", "payment_method"),
        ("terms", "other_terms"),
    ],
};

impl<S: ReferralStore + AuditLog + 'static> TrafficService<S> {
    pub fn new(gateway: Arc<Gateway<S>>, relay: Option<RelayHandle>) -> Self {
        Self {
            desk: Desk::new(gateway, relay, Partner::RoadTraffic),
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
        case_id: &str,
        room: &str,
        action: &str,
        v: Violations,
        files: &[Document],
        decide: F,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus>
    where
        F: Fn(&Referral, &OrganisationId, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    {
        let r = self
            .desk
            .act(call, FIELDS, case_id, room, action, v, files, decide)
            .await?;
        Ok(Response::new(progress_of(&r)))
    }

    async fn run(
        &self,
        call: &Call,
        case_id: &str,
        room: &str,
        v: Violations,
        step: Option<Step>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let r = self.desk.run(call, FIELDS, case_id, room, v, step).await?;
        Ok(Response::new(progress_of(&r)))
    }
}

fn progress_of(r: &Referral) -> pb::CaseProgress {
    pb::CaseProgress {
        case_id: r.id().to_string(),
        state: r.status().as_str().to_owned(),
        mediate_by: match r.status() {
            Status::InMediation => r
                .mediation_deadline()
                .map(|d| d.due_date.to_string())
                .unwrap_or_default(),
            _ => String::new(),
        },
    }
}

#[derive(Debug, Clone)]
struct Payout {
    payer: PartyRef,
    payee: PartyRef,
    item: CompensationKind,
    amount: Amount,
}

/// What a signed compensation agreement says, before it is matched to the case.
#[derive(Debug, Clone)]
struct Signed {
    payouts: Vec<Payout>,
    other_terms: Vec<Narrative>,
    payment_method: Option<Narrative>,
    pay_by: Option<jiff::civil::Date>,
    mediator: MediatorId,
    signatures: Vec<(String, Timestamp)>,
    files: Vec<Document>,
}

fn signed(v: &mut Violations, r: &pb::SubmitCompensationAgreementRequest) -> Option<Signed> {
    let payouts: Vec<Payout> = r
        .payouts
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let at = |f: &str| format!("payouts[{i}].{f}");
            let payer = v.check(at("payer"), PartyRef::parse(&p.payer));
            let payee = v.check(at("payee"), PartyRef::parse(&p.payee));
            let item = v.check(at("item"), codes::item(&p.item));
            let amount = v.check(at("amount"), Amount::parse(&p.amount, Currency::cny()));
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
fn agreement(
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
            codes::item_name(p.item),
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
    Ok(Agreement {
        parties: bundle
            .parties
            .iter()
            .map(|p| AgreementParty {
                party: p.reference.clone(),
                name: p.name.clone(),
                identity: p.identity.clone(),
            })
            .collect(),
        disputed_matters: Narrative::parse(bundle.cause_of_action.as_ref()).ok(),
        terms,
        performance_method: s.payment_method.clone(),
        performance_deadline: s.pay_by,
        signatures,
        documents: s.files.clone(),
    })
}

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> TrafficGateway for TrafficService<S> {
    async fn take_case(
        &self,
        request: Request<pb::TakeCaseRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::accept(
            &mut v,
            ("mediator", &r.mediator),
            ("room_case_number", &r.room_case_number),
        );
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn return_case(
        &self,
        request: Request<pb::ReturnCaseRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let code = v.check("reason", decline_code(&r.reason));
        let step = Step::decline(&mut v, code, &r.explanation);
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        use pb::report_progress_request::Progress;
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = match &r.progress {
            Some(Progress::AppraisalStarted(what)) => {
                Step::appraisal_started(&mut v, "appraisal_started", what)
            }
            Some(Progress::AppraisalEnded(_)) => Some(Step::AppraisalEnded),
            // The platform reports that all parties agreed.
            Some(Progress::ExtendedUntil(until)) => {
                Step::extend_for_everyone(&mut v, "extended_until", until)
            }
            None => Step::no_progress(&mut v, "extended_until"),
        };
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn submit_compensation_agreement(
        &self,
        request: Request<pb::SubmitCompensationAgreementRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let signed = signed(&mut v, &r);
        // Payers, payees and signers are matched to the case's parties, so
        // the agreement is built against the referral itself.
        self.act(
            &call,
            &r.case_id,
            &r.room,
            "submit_compensation_agreement",
            v,
            signed.as_ref().map_or(&[][..], |s| &s.files[..]),
            |referral, org, c| match &signed {
                Some(s) => referral.record_agreement(org, agreement(referral, org, s)?, c.now),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_failure(
        &self,
        request: Request<pb::ReportFailureRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let course = v.check("course", Narrative::parse(&r.course));
        let reasons = v.check("reasons", Narrative::parse(&r.reasons));
        let facts = narratives(&mut v, "undisputed_facts", &r.undisputed_facts);
        let step = course.zip(reasons).map(|(course, reasons)| {
            Step::Fail(Box::new(FailureReport {
                course,
                reasons,
                cost_raising_conduct: None,
                notes_for_court: None,
                undisputed_facts: facts,
                confirmed_service_addresses: Vec::new(),
            }))
        });
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = v
            .check("grounds", Narrative::parse(&r.grounds))
            .map(Step::Sham);
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = required_time(&mut v, "applied_at", r.applied_at.as_ref()).map(|applied_at| {
            Step::Apply {
                applicants: None,
                applied_at,
            }
        });
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let status = v.check("payment", codes::payment(&r.payment));
        let note = optional_narrative(&mut v, "note", &r.note);
        let step = status
            .zip(note)
            .map(|(status, note)| Step::Performance(PerformanceReport { status, note }));
        self.run(&call, &r.case_id, &r.room, v, step).await
    }
}
