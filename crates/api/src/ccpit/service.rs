//! The `CcpitGateway` service: the platform's calls become domain commands.

use std::sync::Arc;

use mediation_core::Violations;
use mediation_core::document::Document;
use mediation_core::identity::Identity;
use mediation_core::ids::{MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::{Referral, Status};
use mediation_core::outcome::{
    Agreement, AgreementParty, ConfirmedAddress, FailureReport, PerformanceReport, Signature,
    Signer,
};
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::text::{Line, Narrative};
use mediation_delivery::RelayHandle;
use mediation_proto::ccpit::v1 as pb;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use mediation_service::Gateway;
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes::{self, SignerType};
use crate::documents::require_uploaded;
use crate::guard::{Call, take};
use crate::partner::{
    CallFields, Desk, Step, date, document, narratives, optional, optional_narrative, party_refs,
    required_time,
};
use crate::status::{from_service, invalid, invalid_field};

/// Serves the CCPIT platform.
#[derive(Debug)]
pub struct CcpitService<S> {
    desk: Desk<S>,
}

impl<S: ReferralStore + AuditLog + 'static> CcpitService<S> {
    pub fn new(gateway: Arc<Gateway<S>>, relay: Option<RelayHandle>) -> Self {
        Self {
            desk: Desk::new(gateway, relay, Partner::Ccpit),
        }
    }

    /// Refuses agreements that list files without a url that were not
    /// uploaded.
    pub fn with_documents(mut self, documents: mediation_store::documents::DocumentStore) -> Self {
        self.desk.documents = Some(documents);
        self
    }
}

const FIELDS: CallFields = CallFields {
    case: "case_id",
    organisation: "mediation_centre",
    files: "files",
    domain_paths: &[
        ("consenting", "extension.agreed_by"),
        ("last_day", "extension.until"),
        ("parties[].party", "parties[].reference"),
        ("parties[].identity", "parties[].document_number"),
        ("performance_deadline", "perform_by"),
        ("confirmed_service_addresses", "confirmed_addresses"),
    ],
};

fn state(r: &Referral) -> pb::CaseState {
    pb::CaseState {
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

impl<S: ReferralStore + AuditLog + 'static> CcpitService<S> {
    /// Runs the call as the centre it names and answers with the case's state.
    async fn run(
        &self,
        call: &Call,
        case_id: &str,
        centre: &str,
        v: Violations,
        step: Option<Step>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let referral = self
            .desk
            .run(call, FIELDS, case_id, centre, v, step)
            .await?;
        Ok(Response::new(state(&referral)))
    }
}

pub(super) fn settlement(v: &mut Violations, r: &pb::SubmitSettlementRequest) -> Option<Agreement> {
    let mut parties = Vec::new();
    for (i, p) in r.parties.iter().enumerate() {
        let at = |f: &str| format!("parties[{i}].{f}");
        let party = v.check(at("reference"), PartyRef::parse(&p.reference));
        let name = v.check(at("name"), Line::parse(&p.name));
        let kind = v.check(at("document_type"), codes::document_type(&p.document_type));
        let identity = kind.and_then(|k| {
            v.check(
                at("document_number"),
                Identity::parse(k, &p.document_number),
            )
        });
        if let (Some(party), Some(name), Some(identity)) = (party, name, identity) {
            parties.push(AgreementParty {
                party,
                name,
                identity,
            });
        }
    }
    let disputed_matters = optional_narrative(v, "disputed_matters", &r.disputed_matters)?;
    let terms = narratives(v, "terms", &r.terms);
    let performance_method = optional_narrative(v, "performance_method", &r.performance_method)?;
    let performance_deadline = v.check("perform_by", optional(&r.perform_by, date))?;
    let mut signatures = Vec::new();
    for (i, s) in r.signatures.iter().enumerate() {
        let at = |f: &str| format!("signatures[{i}].{f}");
        let kind = v.check(at("signer_type"), codes::signer_type(&s.signer_type));
        let signer = kind.and_then(|k| {
            v.check(
                at("signer"),
                match k {
                    SignerType::Centre => {
                        OrganisationId::parse(&s.signer).map(Signer::Organisation)
                    }
                    SignerType::Mediator => MediatorId::parse(&s.signer).map(Signer::Mediator),
                    SignerType::Party => PartyRef::parse(&s.signer).map(Signer::Party),
                },
            )
        });
        let signed_at = required_time(v, &at("signed_at"), s.signed_at.as_ref());
        if let (Some(signer), Some(signed_at)) = (signer, signed_at) {
            signatures.push(Signature { signer, signed_at });
        }
    }
    let documents: Vec<Document> = r
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
    Some(Agreement {
        parties,
        disputed_matters,
        terms,
        performance_method,
        performance_deadline,
        signatures,
        documents,
    })
}

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> CcpitGateway for CcpitService<S> {
    async fn accept_case(
        &self,
        request: Request<pb::AcceptCaseRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::accept(
            &mut v,
            ("mediator", &r.mediator),
            ("centre_case_number", &r.centre_case_number),
        );
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn decline_case(
        &self,
        request: Request<pb::DeclineCaseRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let code = v.check("reason_code", codes::decline_code(&r.reason_code));
        let step = Step::decline(&mut v, code, &r.explanation);
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        use pb::report_progress_request::Progress;
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = match &r.progress {
            Some(Progress::AppraisalStarted(note)) => {
                Step::appraisal_started(&mut v, "appraisal_started", note)
            }
            Some(Progress::AppraisalEnded(_)) => Some(Step::AppraisalEnded),
            Some(Progress::Extension(e)) => {
                let until = v.check("extension.until", date(&e.until));
                // The centre names who agreed; the domain checks it is everyone.
                let agreed = party_refs(&mut v, "extension.agreed_by", &e.agreed_by);
                until.map(|until| Step::Extend {
                    until,
                    agreed_by: Some(agreed),
                })
            }
            None => Step::no_progress(&mut v, "extension"),
        };
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn submit_settlement(
        &self,
        request: Request<pb::SubmitSettlementRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let agreement = settlement(&mut v, &r);
        let step = agreement.map(|a| Step::Agree(Box::new(a)));
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_failure(
        &self,
        request: Request<pb::ReportFailureRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let course = v.check("course", Narrative::parse(&r.course));
        let reasons = v.check("reasons", Narrative::parse(&r.reasons));
        let cost =
            optional_narrative(&mut v, "cost_raising_conduct", &r.cost_raising_conduct).flatten();
        let notes = optional_narrative(&mut v, "notes_for_court", &r.notes_for_court).flatten();
        let facts = narratives(&mut v, "undisputed_facts", &r.undisputed_facts);
        let addresses: Vec<ConfirmedAddress> = r
            .confirmed_addresses
            .iter()
            .enumerate()
            .filter_map(|(i, a)| {
                let party = v.check(
                    format!("confirmed_addresses[{i}].party"),
                    PartyRef::parse(&a.party),
                );
                let address = v.check(
                    format!("confirmed_addresses[{i}].address"),
                    Line::parse(&a.address),
                );
                Some(ConfirmedAddress {
                    party: party?,
                    address: address?,
                })
            })
            .collect();
        let step = course.zip(reasons).map(|(course, reasons)| {
            Step::Fail(Box::new(FailureReport {
                course,
                reasons,
                cost_raising_conduct: cost,
                notes_for_court: notes,
                undisputed_facts: facts,
                confirmed_service_addresses: addresses,
            }))
        });
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = v
            .check("grounds", Narrative::parse(&r.grounds))
            .map(Step::Sham);
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let applicants = party_refs(&mut v, "applicants", &r.applicants);
        let step = required_time(&mut v, "applied_at", r.applied_at.as_ref()).map(|applied_at| {
            Step::Apply {
                applicants: Some(applicants),
                applied_at,
            }
        });
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let status = v.check("status", codes::performance(&r.status));
        let note = optional_narrative(&mut v, "note", &r.note);
        let step = status
            .zip(note)
            .map(|(status, note)| Step::Performance(PerformanceReport { status, note }));
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn file_direct_intake(
        &self,
        request: Request<pb::FileDirectIntakeRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let intake = super::intake::read(&r).map_err(|v| invalid(&v))?;
        let centre = &intake.assignment.organisation;
        if !call
            .caller
            .role
            .acts_for_organisation(Partner::Ccpit, centre)
        {
            return Err(GrpcStatus::permission_denied(format!(
                "mediation_centre: {centre} is not one of tenant {}'s centres",
                call.caller.tenant
            )));
        }
        // Only a centre on the roster, and a CCPIT one, takes disputes in
        // through this platform (the roster is the courts' list of specially
        // invited organisations, 特邀调解组织名册).
        if self.desk.gateway.roster_partner(centre) != Some(Partner::Ccpit) {
            return Err(invalid_field(
                "mediation_centre",
                format!("{centre} is not a CCPIT mediation centre on the roster"),
            ));
        }
        if let Some(store) = &self.desk.documents {
            require_uploaded(
                store,
                &call.caller.tenant,
                None,
                intake
                    .agreement
                    .documents
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (format!("settlement.files[{i}]"), d)),
            )?;
        }
        let actor = format!(
            "ccpit:{} {}",
            intake.assignment.organisation,
            call.caller.actor()
        );
        let submission = self
            .desk
            .gateway
            .file_direct_intake(
                intake.bundle,
                intake.assignment,
                intake.agreement,
                intake.application,
                &actor,
            )
            .await
            .map_err(|e| from_service(&e))?;
        call.concerns(submission.referral.id());
        self.desk.wake();
        Ok(Response::new(state(&submission.referral)))
    }
}
