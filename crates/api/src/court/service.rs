//! The `CourtGateway` service.

use std::sync::Arc;

use mediation_core::access::Acting;
use mediation_core::court::{CaseNumber, CourtCode};
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::outcome::{CourtOutcome, Ruling, RulingOutcome};
use mediation_core::store::{AuditLog, DocumentFiles, ReferralStore};
use mediation_core::text::Narrative;
use mediation_core::{Event, Invalid, Referral, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_server::CourtGateway;
use mediation_service::{Commands, Context, Submission};
use tonic::{Request, Response, Status};

use tonic_types::StatusExt;

use super::codes::STATUSES;
use super::inbound::bundle_from_wire;
use super::outbound::referral_to_wire;
use crate::documents::require_uploaded;
use crate::entitlement::decide_as;
use crate::guard::{Call, take};
use crate::limits::Limits;
use crate::status::{self, from_service, invalid, invalid_field, referral_not_found};
use crate::time;
use crate::wire::write::text;

/// Serves court systems.
#[derive(Debug)]
pub struct CourtService<S> {
    gateway: Arc<Commands<S>>,
    relay: Option<RelayHandle>,
    documents: Option<Arc<dyn DocumentFiles>>,
    limits: Limits,
}

impl<S> CourtService<S> {
    /// `relay`, when given, is woken after each command so deliveries start at
    /// once instead of at the relay's next poll.
    pub fn new(gateway: Arc<Commands<S>>, relay: Option<RelayHandle>) -> Self {
        Self {
            gateway,
            relay,
            documents: None,
            limits: Limits::default(),
        }
    }

    /// Limits on batch size and on counts in each bundle.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Refuses bundles that list files without a url that were not uploaded.
    pub fn with_documents(mut self, documents: Arc<dyn DocumentFiles>) -> Self {
        self.documents = Some(documents);
        self
    }

    fn wake(&self) {
        if let Some(relay) = &self.relay {
            relay.wake();
        }
    }
}

fn referral_id(field: &str, value: &str) -> Result<ReferralId, Status> {
    ReferralId::parse(value).map_err(|e| invalid_field(field, e.rule))
}

/// The referral and the court a court's call on it names, each bad one
/// recorded in `v` under its request field.
fn target(
    v: &mut Violations,
    referral_id: &str,
    court: &str,
) -> (Option<ReferralId>, Option<CourtCode>) {
    (
        v.check("referral_id", ReferralId::parse(referral_id)),
        v.check("court", CourtCode::parse(court)),
    )
}

fn submitted(s: &Submission) -> pb::SubmitReferralResponse {
    pb::SubmitReferralResponse {
        referral_id: s.referral.id().to_string(),
        created: s.created,
        status: STATUSES.number(s.referral.status()),
    }
}

impl<S: ReferralStore + AuditLog + 'static> CourtService<S> {
    /// Runs `decide` on referral `id` as `court`, a court the caller acts
    /// for: a referral of another court is one that does not exist.
    async fn act_as_court(
        &self,
        call: &Call,
        id: &ReferralId,
        court: &CourtCode,
        action: &str,
        decide: impl Fn(&Referral, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    ) -> Result<Referral, Status> {
        call.concerns(id);
        if !call.caller.role.acts_for_court(court) {
            return Err(referral_not_found());
        }
        let actor = call.actor();
        let referral = self
            .gateway
            .execute(id, &actor, action, |r, c| {
                decide_as(&call.caller, r, Acting::Court(court), || decide(r, c))
            })
            .await
            .map_err(|e| from_service(&e))?;
        self.wake();
        Ok(referral)
    }

    async fn submit_one(
        &self,
        call: &Call,
        prefix: &str,
        wire: Option<&pb::CaseBundle>,
    ) -> Result<Submission, Status> {
        let wire = wire.ok_or_else(|| invalid_field(prefix, "is required"))?;
        let mut v = Violations::new();
        let limits = &self.limits;
        Limits::count(
            &mut v,
            &format!("{prefix}.parties"),
            wire.parties.len(),
            limits.max_parties,
        );
        Limits::count(
            &mut v,
            &format!("{prefix}.claims"),
            wire.claims.len(),
            limits.max_claims,
        );
        Limits::count(
            &mut v,
            &format!("{prefix}.documents"),
            wire.documents.len(),
            limits.max_documents,
        );
        if !v.is_empty() {
            return Err(invalid(&v));
        }
        let bundle = bundle_from_wire(prefix, wire).map_err(|v| invalid(&v))?;
        if let Err(inner) = bundle.check_as_of(self.gateway.clock().now()) {
            let mut v = Violations::new();
            v.nest(prefix, inner);
            return Err(invalid(&v));
        }
        // Only a court the registry knows may refer: its place in the
        // hierarchy decides its roster and who acts for it.
        let level = match self.gateway.courts().require(&bundle.court) {
            Ok(court) => court.level,
            Err(e) => return Err(invalid_field(&format!("{prefix}.court"), e.rule)),
        };
        if let Err(inner) = bundle.check_at_court(level) {
            let mut v = Violations::new();
            v.nest(prefix, inner);
            return Err(invalid(&v));
        }
        // A court system refers only for its own courts.
        if !call.caller.role.acts_for_court(&bundle.court) {
            return Err(status::not_yours(
                &format!("{prefix}.court"),
                format_args!(
                    "tenant {} does not act for court {}",
                    call.caller.tenant, bundle.court
                ),
            ));
        }
        if let Some(documents) = &self.documents {
            require_uploaded(
                documents.as_ref(),
                &call.caller.tenant,
                None,
                bundle
                    .documents
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (format!("{prefix}.documents[{i}]"), d)),
            )?;
        }
        let submission = self
            .gateway
            .submit(bundle, call.actor())
            .await
            .map_err(|e| from_service(&e))?;
        call.concerns(submission.referral.id());
        Ok(submission)
    }
}

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> CourtGateway for CourtService<S> {
    async fn submit_referral(
        &self,
        request: Request<pb::SubmitReferralRequest>,
    ) -> Result<Response<pb::SubmitReferralResponse>, Status> {
        let (call, request) = take(request)?;
        let submission = self
            .submit_one(&call, "bundle", request.bundle.as_ref())
            .await?;
        self.wake();
        Ok(Response::new(submitted(&submission)))
    }

    async fn submit_batch(
        &self,
        request: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        let (call, request) = take(request)?;
        let max = self.limits.max_batch;
        if request.bundles.len() > max {
            return Err(invalid_field(
                "bundles",
                format!(
                    "a batch holds at most {max} bundles, got {}",
                    request.bundles.len()
                ),
            ));
        }
        if request.bundles.is_empty() {
            return Err(invalid_field(
                "bundles",
                "a batch needs at least one bundle",
            ));
        }
        // The model case the whole batch follows (示范性诉讼+批量化调解,
        // seed 000 (十八)): each bundle takes it, or must name the same.
        let model = request.model_case_number.trim();
        if !model.is_empty()
            && let Err(e) = CaseNumber::parse(model)
        {
            return Err(invalid_field("model_case_number", e.rule));
        }
        let mut results = Vec::with_capacity(request.bundles.len());
        for (i, bundle) in request.bundles.iter().enumerate() {
            let own = bundle.model_case_number.trim();
            let outcome = if model.is_empty() || own == model {
                self.submit_one(&call, &format!("bundles[{i}]"), Some(bundle))
                    .await
            } else if own.is_empty() {
                let mut following = bundle.clone();
                following.model_case_number = model.to_owned();
                self.submit_one(&call, &format!("bundles[{i}]"), Some(&following))
                    .await
            } else {
                Err(invalid_field(
                    &format!("bundles[{i}].model_case_number"),
                    format!("names model case {own}, not the batch's {model}"),
                ))
            };
            let result = match outcome {
                Ok(s) => pb::batch_result::Result::Accepted(submitted(&s)),
                Err(status) => {
                    let details = status.get_error_details();
                    let mut violations: Vec<pb::FieldViolation> = details
                        .bad_request()
                        .map(|b| {
                            b.field_violations
                                .iter()
                                .map(|f| pb::FieldViolation {
                                    field: f.field.clone(),
                                    description: f.description.clone(),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    if let Some(p) = details.precondition_failure() {
                        violations.extend(p.violations.iter().map(|f| pb::FieldViolation {
                            field: f.subject.clone(),
                            description: f.description.clone(),
                        }));
                    }
                    pb::batch_result::Result::Rejected(pb::Rejection {
                        code: crate::status::code_name(status.code()).to_owned(),
                        message: status.message().to_owned(),
                        violations,
                    })
                }
            };
            results.push(pb::BatchResult {
                result: Some(result),
            });
        }
        self.wake();
        Ok(Response::new(pb::SubmitBatchResponse { results }))
    }

    async fn get_referral(
        &self,
        request: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        let (call, request) = take(request)?;
        let id = referral_id("referral_id", &request.referral_id)?;
        call.concerns(&id);
        let history = self
            .gateway
            .store()
            .history(&id)
            .await
            .map_err(|e| from_service(&e.into()))?
            .ok_or_else(referral_not_found)?;
        let referral = mediation_core::Referral::replay(&history)
            .map_err(|e| status::unreadable("stored history", e))?;
        // Another tenant's referral is answered as one that does not exist.
        if !call.caller.may_read(&referral) {
            return Err(referral_not_found());
        }
        Ok(Response::new(referral_to_wire(&referral, &history)))
    }

    async fn recall_referral(
        &self,
        request: Request<pb::RecallReferralRequest>,
    ) -> Result<Response<pb::RecallReferralResponse>, Status> {
        let (call, request) = take(request)?;
        let mut v = Violations::new();
        let (id, court) = target(&mut v, &request.referral_id, &request.court);
        let reason = v.check("reason", Narrative::parse(&request.reason));
        let (Some(id), Some(court), Some(reason)) = (id, court, reason) else {
            return Err(invalid(&v));
        };
        let referral = self
            .act_as_court(&call, &id, &court, "recall_referral", |r, c| {
                r.recall(&court, reason.clone(), c.now)
            })
            .await?;
        Ok(Response::new(pb::RecallReferralResponse {
            status: STATUSES.number(referral.status()),
        }))
    }

    async fn record_ruling(
        &self,
        request: Request<pb::RecordRulingRequest>,
    ) -> Result<Response<pb::RecordRulingResponse>, Status> {
        let (call, request) = take(request)?;
        let mut v = Violations::new();
        let (id, court) = target(&mut v, &request.referral_id, &request.court);
        let outcome = v.check(
            "outcome",
            match pb::RulingOutcome::try_from(request.outcome) {
                Ok(pb::RulingOutcome::Confirmed) => Ok(RulingOutcome::Confirmed),
                Ok(pb::RulingOutcome::NotAccepted) => Ok(RulingOutcome::NotAccepted),
                Ok(pb::RulingOutcome::Dismissed) => Ok(RulingOutcome::Dismissed),
                _ => Err(Invalid::new("must be CONFIRMED, NOT_ACCEPTED or DISMISSED")),
            },
        );
        let case_number = v.check(
            "case_number",
            if request.case_number.trim().is_empty() {
                Ok(None)
            } else {
                CaseNumber::parse(&request.case_number).map(Some)
            },
        );
        let reasons = v.check(
            "reasons",
            if request.reasons.trim().is_empty() {
                Ok(None)
            } else {
                Narrative::parse(&request.reasons).map(Some)
            },
        );
        let ruled_at = v.check(
            "ruled_at",
            request
                .ruled_at
                .as_ref()
                .ok_or_else(|| Invalid::new("is required"))
                .and_then(time::from_wire),
        );
        let (
            Some(id),
            Some(court),
            Some(outcome),
            Some(case_number),
            Some(reasons),
            Some(ruled_at),
        ) = (id, court, outcome, case_number, reasons, ruled_at)
        else {
            return Err(invalid(&v));
        };
        let ruling = Ruling {
            outcome,
            case_number,
            reasons,
            ruled_at,
        };
        let referral = self
            .act_as_court(&call, &id, &court, "record_ruling", |r, c| {
                r.record_ruling(&court, ruling.clone(), c.now)
            })
            .await?;
        Ok(Response::new(pb::RecordRulingResponse {
            status: STATUSES.number(referral.status()),
        }))
    }

    async fn reassign_referral(
        &self,
        request: Request<pb::ReassignReferralRequest>,
    ) -> Result<Response<pb::ReassignReferralResponse>, Status> {
        let (call, request) = take(request)?;
        let mut v = Violations::new();
        let (id, court) = target(&mut v, &request.referral_id, &request.court);
        let organisation = v.check("organisation", OrganisationId::parse(&request.organisation));
        let reason = v.check("reason", Narrative::parse(&request.reason));
        let (Some(id), Some(court), Some(organisation), Some(reason)) =
            (id, court, organisation, reason)
        else {
            return Err(invalid(&v));
        };
        let referral = self
            .act_as_court(&call, &id, &court, "reassign_referral", |r, c| {
                let assignment = c.router.check_named(r, &organisation).map_err(|why| {
                    let mut v = Violations::new();
                    v.push("organisation", why);
                    TransitionError::from(v)
                })?;
                r.reassign(&court, assignment, reason.clone(), c.now)
            })
            .await?;
        Ok(Response::new(pb::ReassignReferralResponse {
            status: STATUSES.number(referral.status()),
            organisation: text(referral.assignment().map(|a| &a.organisation)),
        }))
    }

    async fn record_court_outcome(
        &self,
        request: Request<pb::RecordCourtOutcomeRequest>,
    ) -> Result<Response<pb::RecordCourtOutcomeResponse>, Status> {
        let (call, request) = take(request)?;
        let mut v = Violations::new();
        let (id, court) = target(&mut v, &request.referral_id, &request.court);
        let kind = v.check(
            "outcome",
            match pb::CourtOutcome::try_from(request.outcome) {
                Ok(
                    kind @ (pb::CourtOutcome::Docketed
                    | pb::CourtOutcome::MediationPaper
                    | pb::CourtOutcome::SuitWithdrawn
                    | pb::CourtOutcome::NotDocketed),
                ) => Ok(kind),
                _ => Err(Invalid::new(
                    "must be COURT_OUTCOME_DOCKETED, COURT_OUTCOME_MEDIATION_PAPER, COURT_OUTCOME_SUIT_WITHDRAWN or COURT_OUTCOME_NOT_DOCKETED",
                )),
            },
        );
        // A case closed without a suit has no case number but a reason;
        // every other outcome names its case.
        let outcome = match kind {
            Some(pb::CourtOutcome::NotDocketed) => {
                if !request.case_number.trim().is_empty() {
                    v.push(
                        "case_number",
                        "a case closed without a suit has no case number; leave it empty",
                    );
                }
                v.check("reason", Narrative::parse(&request.reason))
                    .map(|reason| CourtOutcome::NotDocketed { reason })
            }
            Some(kind) => v
                .check("case_number", CaseNumber::parse(&request.case_number))
                .map(|case_number| match kind {
                    pb::CourtOutcome::MediationPaper => {
                        CourtOutcome::MediationPaper { case_number }
                    }
                    pb::CourtOutcome::SuitWithdrawn => CourtOutcome::SuitWithdrawn { case_number },
                    _ => CourtOutcome::Docketed { case_number },
                }),
            None => None,
        };
        let (Some(id), Some(court), Some(outcome), true) = (id, court, outcome, v.is_empty())
        else {
            return Err(invalid(&v));
        };
        let referral = self
            .act_as_court(&call, &id, &court, "record_court_outcome", |r, c| {
                r.record_court_outcome(&court, outcome.clone(), c.now)
            })
            .await?;
        Ok(Response::new(pb::RecordCourtOutcomeResponse {
            status: STATUSES.number(referral.status()),
        }))
    }

    async fn resolve_sham_mediation(
        &self,
        request: Request<pb::ResolveShamMediationRequest>,
    ) -> Result<Response<pb::ResolveShamMediationResponse>, Status> {
        let (call, request) = take(request)?;
        let mut v = Violations::new();
        let (id, court) = target(&mut v, &request.referral_id, &request.court);
        let note = v.check("note", Narrative::parse(&request.note));
        let resume = v.check(
            "finding",
            match pb::ShamMediationFinding::try_from(request.finding) {
                Ok(pb::ShamMediationFinding::NotSham) => Ok(true),
                Ok(pb::ShamMediationFinding::Sham) => Ok(false),
                _ => Err(Invalid::new(
                    "must be SHAM_MEDIATION_FINDING_NOT_SHAM or SHAM_MEDIATION_FINDING_SHAM",
                )),
            },
        );
        let (Some(id), Some(court), Some(note), Some(resume)) = (id, court, note, resume) else {
            return Err(invalid(&v));
        };
        let referral = self
            .act_as_court(&call, &id, &court, "resolve_sham_mediation", |r, c| {
                r.resolve_sham_mediation(
                    &court,
                    resume,
                    note.clone(),
                    c.now,
                    c.calendar,
                    &c.policy.deadlines,
                )
            })
            .await?;
        Ok(Response::new(pb::ResolveShamMediationResponse {
            status: STATUSES.number(referral.status()),
            mediation_deadline: referral
                .running_mediation_deadline()
                .filter(|_| resume)
                .map(super::outbound::deadline),
        }))
    }

    async fn reroute_referral(
        &self,
        request: Request<pb::RerouteReferralRequest>,
    ) -> Result<Response<pb::RerouteReferralResponse>, Status> {
        let (call, request) = take(request)?;
        let mut v = Violations::new();
        let (id, court) = target(&mut v, &request.referral_id, &request.court);
        let reason = v.check("reason", Narrative::parse(&request.reason));
        let (Some(id), Some(court), Some(reason)) = (id, court, reason) else {
            return Err(invalid(&v));
        };
        let referral = self
            .act_as_court(&call, &id, &court, "reroute_referral", |r, c| {
                r.reroute_by_court(&court, reason.clone(), c.router, c.now)
            })
            .await?;
        Ok(Response::new(pb::RerouteReferralResponse {
            status: STATUSES.number(referral.status()),
            organisation: text(referral.assignment().map(|a| &a.organisation)),
        }))
    }
}
