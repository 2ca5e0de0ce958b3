//! The `CcpitGateway` service: the platform's calls become domain commands.

use std::sync::Arc;

use jiff::civil::Date;
use mediation_core::identity::Identity;
use mediation_core::ids::{MediationCaseNumber, MediatorId, OrganisationId, PartyRef, ReferralId};
use mediation_core::lifecycle::{Referral, ReturnReason, Status};
use mediation_core::outcome::{
    Agreement, AgreementParty, ConfirmationApplication, ConfirmedAddress, DeclineReason,
    FailureReport, PerformanceReport, ShamMediationReport, Signature, Signer,
};
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::text::{Line, Narrative};
use mediation_core::{Invalid, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_proto::ccpit::v1 as pb;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use mediation_service::{Context, Gateway, hand_on};
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes::{self, SignerType};
use crate::status::{from_service, invalid};
use crate::time;

/// Serves the CCPIT platform.
#[derive(Debug)]
pub struct CcpitService<S> {
    gateway: Arc<Gateway<S>>,
    relay: Option<RelayHandle>,
}

impl<S> CcpitService<S> {
    pub fn new(gateway: Arc<Gateway<S>>, relay: Option<RelayHandle>) -> Self {
        Self { gateway, relay }
    }
}

fn optional_narrative(v: &mut Violations, field: &str, value: &str) -> Option<Option<Narrative>> {
    v.check(
        field,
        if value.trim().is_empty() {
            Ok(None)
        } else {
            Narrative::parse(value).map(Some)
        },
    )
}

fn date(value: &str) -> Result<Date, Invalid> {
    value
        .parse()
        .map_err(|_| Invalid::new(format!("must be a day as YYYY-MM-DD, got {value:?}")))
}

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
    /// Checks the case and centre every call names, then runs `decide` as that
    /// centre. `v` holds the violations of the call's other fields.
    async fn act<F>(
        &self,
        case_id: &str,
        centre: &str,
        action: &str,
        mut v: Violations,
        decide: F,
    ) -> Result<Response<pb::CaseState>, GrpcStatus>
    where
        F: Fn(
            &Referral,
            &OrganisationId,
            &Context<'_>,
        ) -> Result<Vec<mediation_core::Event>, TransitionError>,
    {
        let id = v.check("case_id", ReferralId::parse(case_id));
        let organisation = v.check("mediation_centre", OrganisationId::parse(centre));
        let (Some(id), Some(organisation), true) = (id, organisation, v.is_empty()) else {
            return Err(invalid(&v));
        };
        let actor = format!("ccpit:{organisation}");
        let referral = self
            .gateway
            .execute(&id, &actor, action, |r, c| decide(r, &organisation, c))
            .await
            .map_err(|e| from_service(&e))?;
        if let Some(relay) = &self.relay {
            relay.wake();
        }
        Ok(Response::new(state(&referral)))
    }
}

fn settlement(v: &mut Violations, r: &pb::SubmitSettlementRequest) -> Option<Agreement> {
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
    let terms: Vec<Narrative> = r
        .terms
        .iter()
        .enumerate()
        .filter_map(|(i, t)| v.check(format!("terms[{i}]"), Narrative::parse(t)))
        .collect();
    let performance_method = optional_narrative(v, "performance_method", &r.performance_method)?;
    let performance_deadline = v.check(
        "perform_by",
        if r.perform_by.trim().is_empty() {
            Ok(None)
        } else {
            date(&r.perform_by).map(Some)
        },
    )?;
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
        let signed_at = v.check(
            at("signed_at"),
            s.signed_at
                .as_ref()
                .ok_or_else(|| Invalid::new("is required"))
                .and_then(time::from_wire),
        );
        if let (Some(signer), Some(signed_at)) = (signer, signed_at) {
            signatures.push(Signature { signer, signed_at });
        }
    }
    Some(Agreement {
        parties,
        disputed_matters,
        terms,
        performance_method,
        performance_deadline,
        signatures,
        documents: Vec::new(),
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
            |referral, org, c| {
                // The declined referral is handed on at once: back to the
                // court, or to the next organisation, as the policy says.
                let mut events = referral.decline(org, reasons.clone(), c.now)?;
                let mut after = referral.clone();
                after.apply_all(&events);
                events.extend(hand_on(&after, c, ReturnReason::Declined)?);
                Ok(events)
            },
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
        let facts: Vec<Narrative> = r
            .undisputed_facts
            .iter()
            .enumerate()
            .filter_map(|(i, f)| v.check(format!("undisputed_facts[{i}]"), Narrative::parse(f)))
            .collect();
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
        let applicants: Vec<PartyRef> = r
            .applicants
            .iter()
            .enumerate()
            .filter_map(|(i, p)| v.check(format!("applicants[{i}]"), PartyRef::parse(p)))
            .collect();
        let applied_at = v.check(
            "applied_at",
            r.applied_at
                .as_ref()
                .ok_or_else(|| Invalid::new("is required"))
                .and_then(time::from_wire),
        );
        self.act(
            &r.case_id,
            &r.mediation_centre,
            "apply_for_confirmation",
            v,
            |referral, org, c| {
                // Only the centre that mediated may file for the parties.
                if referral.assignment().map(|a| &a.organisation) != Some(org) {
                    return Err(TransitionError::NotAssigned {
                        organisation: org.to_string(),
                    });
                }
                match applied_at {
                    Some(applied_at) => referral.apply_for_confirmation(
                        ConfirmationApplication {
                            applicants: applicants.clone(),
                            applied_at,
                        },
                        c.now,
                    ),
                    None => Ok(Vec::new()),
                }
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
            |referral, org, c| {
                if referral.assignment().map(|a| &a.organisation) != Some(org) {
                    return Err(TransitionError::NotAssigned {
                        organisation: org.to_string(),
                    });
                }
                match status {
                    Some(status) => referral.record_performance(
                        PerformanceReport {
                            status,
                            note: note.clone(),
                        },
                        c.now,
                    ),
                    None => Ok(Vec::new()),
                }
            },
        )
        .await
    }
}
