//! The `CcpitGateway` service: the platform's calls become domain commands.

use std::sync::Arc;

use mediation_core::document::Document;
use mediation_core::identity::Identity;
use mediation_core::ids::{MediationCaseNumber, MediatorId, OrganisationId, PartyRef};
use mediation_core::lifecycle::{Referral, Status};
use mediation_core::outcome::{
    Agreement, AgreementParty, ConfirmedAddress, DeclineReason, FailureReport, PerformanceReport,
    ShamMediationReport, Signature, Signer,
};
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::text::{Line, Narrative};
use mediation_core::{TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_proto::ccpit::v1 as pb;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use mediation_service::{Context, Gateway};
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes::{self, SignerType};
use crate::partner::{
    CallFields, Desk, apply_jointly, date, decline_and_hand_on, document, narratives, optional,
    optional_narrative, party_refs, record_performance, required_time,
};
use crate::status::{from_service, invalid};

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
    async fn act<F>(
        &self,
        case_id: &str,
        centre: &str,
        action: &str,
        v: Violations,
        decide: F,
    ) -> Result<Response<pb::CaseState>, GrpcStatus>
    where
        F: Fn(
            &Referral,
            &OrganisationId,
            &Context<'_>,
        ) -> Result<Vec<mediation_core::Event>, TransitionError>,
    {
        let referral = self
            .desk
            .act(FIELDS, case_id, centre, action, v, decide)
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
        let r = request.into_inner();
        let mut v = Violations::new();
        let mediator = v.check(
            "mediator",
            if r.mediator.is_empty() {
                Ok(None)
            } else {
                MediatorId::parse(&r.mediator).map(Some)
            },
        );
        let number = v.check(
            "centre_case_number",
            if r.centre_case_number.is_empty() {
                Ok(None)
            } else {
                MediationCaseNumber::parse(&r.centre_case_number).map(Some)
            },
        );
        let (mediator, number) = (mediator.flatten(), number.flatten());
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "accept_case",
            v,
            |referral, org, c| {
                referral.accept(
                    org,
                    mediator.clone(),
                    number.clone(),
                    c.now,
                    c.calendar,
                    &c.policy.deadlines,
                )
            },
        )
        .await
    }

    async fn decline_case(
        &self,
        request: Request<pb::DeclineCaseRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let code = v.check("reason_code", codes::decline_code(&r.reason_code));
        let explanation = v.check("explanation", Narrative::parse(&r.explanation));
        let reasons: Vec<DeclineReason> = match (code, explanation) {
            (Some(code), Some(explanation)) => vec![DeclineReason { code, explanation }],
            _ => Vec::new(),
        };
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "decline_case",
            v,
            |referral, org, c| decline_and_hand_on(referral, org, reasons.clone(), c),
        )
        .await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let mut v = Violations::new();
        match r.progress {
            Some(pb::report_progress_request::Progress::AppraisalStarted(note)) => {
                let note = v.check("appraisal_started", Narrative::parse(&note));
                self.act(
                    &r.case_id,
                    &r.mediation_centre,
                    "appraisal_started",
                    v,
                    |referral, org, c| match &note {
                        Some(note) => referral.start_appraisal(org, note.clone(), c.now),
                        None => Ok(Vec::new()),
                    },
                )
                .await
            }
            Some(pb::report_progress_request::Progress::AppraisalEnded(_)) => {
                self.act(
                    &r.case_id,
                    &r.mediation_centre,
                    "appraisal_ended",
                    v,
                    |referral, org, c| {
                        referral.end_appraisal(org, c.now, c.calendar, &c.policy.deadlines)
                    },
                )
                .await
            }
            Some(pb::report_progress_request::Progress::Extension(e)) => {
                let until = v.check("extension.until", date(&e.until));
                let agreed: Vec<PartyRef> = e
                    .agreed_by
                    .iter()
                    .enumerate()
                    .filter_map(|(i, p)| {
                        v.check(format!("extension.agreed_by[{i}]"), PartyRef::parse(p))
                    })
                    .collect();
                self.act(
                    &r.case_id,
                    &r.mediation_centre,
                    "extension_agreed",
                    v,
                    |referral, org, c| match until {
                        Some(until) => referral.extend(
                            org,
                            until,
                            agreed.clone(),
                            c.now,
                            c.calendar,
                            &c.policy.deadlines,
                        ),
                        None => Ok(Vec::new()),
                    },
                )
                .await
            }
            None => {
                v.push(
                    "progress",
                    "one of appraisal_started, appraisal_ended or extension is required",
                );
                self.act(
                    &r.case_id,
                    &r.mediation_centre,
                    "report_progress",
                    v,
                    |_, _, _| Ok(Vec::new()),
                )
                .await
            }
        }
    }

    async fn submit_settlement(
        &self,
        request: Request<pb::SubmitSettlementRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let agreement = settlement(&mut v, &r);
        // Bad fields are reported first; only a well-formed agreement is
        // checked for its files.
        if let (Some(a), true) = (&agreement, v.is_empty()) {
            self.desk.require_uploaded(&a.documents)?;
        }
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "submit_settlement",
            v,
            |referral, org, c| match &agreement {
                Some(a) => referral.record_agreement(org, a.clone(), c.now),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_failure(
        &self,
        request: Request<pb::ReportFailureRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
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
        let report = match (course, reasons) {
            (Some(course), Some(reasons)) => Some(FailureReport {
                course,
                reasons,
                cost_raising_conduct: cost,
                notes_for_court: notes,
                undisputed_facts: facts,
                confirmed_service_addresses: addresses,
            }),
            _ => None,
        };
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "report_failure",
            v,
            |referral, org, c| match &report {
                Some(report) => referral.report_failure(org, report.clone(), c.now),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let grounds = v.check("grounds", Narrative::parse(&r.grounds));
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "report_sham_mediation",
            v,
            |referral, org, c| match &grounds {
                Some(grounds) => referral.report_sham_mediation(
                    org,
                    ShamMediationReport {
                        grounds: grounds.clone(),
                    },
                    c.now,
                ),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let applicants = party_refs(&mut v, "applicants", &r.applicants);
        let applied_at = required_time(&mut v, "applied_at", r.applied_at.as_ref());
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "apply_for_confirmation",
            v,
            |referral, org, c| match applied_at {
                Some(at) => apply_jointly(referral, org, Some(applicants.clone()), at, c),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let mut v = Violations::new();
        let status = v.check("status", codes::performance(&r.status));
        let note = optional_narrative(&mut v, "note", &r.note).flatten();
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "report_performance",
            v,
            |referral, org, c| match status {
                Some(status) => record_performance(
                    referral,
                    org,
                    PerformanceReport {
                        status,
                        note: note.clone(),
                    },
                    c,
                ),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn file_direct_intake(
        &self,
        request: Request<pb::FileDirectIntakeRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let r = request.into_inner();
        let intake = super::intake::read(&r).map_err(|v| invalid(&v))?;
        let files: Vec<Document> = intake.agreement.documents.clone();
        self.desk.require_uploaded(&files)?;
        let actor = format!("ccpit:{}", intake.assignment.organisation);
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
        self.desk.wake();
        Ok(Response::new(state(&submission.referral)))
    }
}
