//! One run: a seed picks every step (a court's call, a platform's call, time
//! passing, a sweep, a relay pass, a link going down, a crash, a disk
//! fault), the invariants are checked after each, and at the end the faults
//! heal, time runs on past every limit, and the settled state is checked.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use mediation_api::court::bundle_to_wire;
use mediation_core::access::{Caller, Role};
use mediation_core::court::CourtCode;
use mediation_core::fixtures::{sample_bundle, shipped_courts};
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::Status;
use mediation_core::partner::Partner;
use mediation_core::store::{OutboxStore, ReferralStore};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_server::CourtGateway;
use mediation_store_memory::MemoryStore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::invariants::{self, Acknowledged};
use crate::network::{Link, Network};
use crate::world::{SetupError, World};

/// A deliberately broken variant of the gateway, for showing that the
/// simulation finds what it is meant to find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plant {
    /// The store answers a commit before it is synced; it syncs every few
    /// steps.
    AnswerBeforeSync,
    /// The network answers an attempt before the message leaves; a crash
    /// loses what had not left.
    RecordedBeforeSent,
    /// The store applies a commit decided against an older version, so two
    /// replicas sweeping at once both fire the same timer.
    LostVersionCheck,
}

/// How long a run is and what is planted in it.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub steps: usize,
    pub plant: Option<Plant>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            steps: 150,
            plant: None,
        }
    }
}

/// What a run did and found.
#[derive(Debug, Clone)]
pub struct Report {
    pub seed: u64,
    /// One line per step, and the store's digest at the end: the same for
    /// the same seed.
    pub trace: Vec<String>,
    /// Every invariant found broken, with the step it broke at.
    pub violations: Vec<String>,
    /// What the run did that succeeded, as `action@status` (the status the
    /// referral was in), and the faults it met: what a budget of seeds
    /// must reach for its passing to mean anything.
    pub covered: BTreeSet<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// How to run this seed again.
    pub fn replay_hint(&self) -> String {
        format!(
            "MG_SIM_SEED={} cargo test -p mediation-sim -- --nocapture replay",
            self.seed
        )
    }
}

/// Runs the simulation of `seed` on a runtime of one thread, so that its
/// tasks run in the one order the seed's steps make.
pub fn run(seed: u64, options: Options) -> Result<Report, SetupError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .map_err(|e| SetupError::Other(format!("no runtime: {e}")))?;
    let sim = runtime.block_on(Sim::start(seed, options))?;
    Ok(sim.run_to_end(&runtime))
}

/// The monday before the 2026 National Day holiday: the first weeks cross
/// it, and later ones run into 2027, a year with no notice loaded.
const START: &str = "2026-09-21T09:00:00+08:00";

/// Referrals a run submits at most, to keep its checks quick.
const MAX_CASES: usize = 24;

struct Sim {
    seed: u64,
    /// A listed mediator of each organisation on the roster.
    mediators: BTreeMap<OrganisationId, String>,
    court_caller: Caller,
    options: Options,
    rng: ChaCha8Rng,
    world: World,
    acknowledged: Acknowledged,
    trace: Vec<String>,
    violations: Vec<String>,
    covered: BTreeSet<String>,
    /// The court's referrals: its own id and the gateway's.
    cases: Vec<(String, ReferralId)>,
    submitted: usize,
    /// Steps the disk stays full for.
    disk_full_for: u32,
    step: usize,
}

impl Sim {
    async fn start(seed: u64, options: Options) -> Result<Self, SetupError> {
        let store = if options.plant == Some(Plant::AnswerBeforeSync) {
            MemoryStore::unsynced()
        } else {
            MemoryStore::new()
        };
        store.yield_on_calls(true);
        if options.plant == Some(Plant::LostVersionCheck) {
            store.plant_lost_version_check(true);
        }
        let network = Network::new(seed, store.clone());
        if options.plant == Some(Plant::RecordedBeforeSent) {
            network.plant_answer_before_sending();
        }
        let start: Timestamp = START
            .parse()
            .map_err(|e| SetupError::Other(format!("{START}: {e}")))?;
        let world = World::start(store, start, network).await?;
        let mediators = world
            .roster()
            .iter()
            .map(|e| {
                let mediator = e.mediators.first().map(|m| m.id.to_string());
                (e.id.clone(), mediator.unwrap_or_else(|| "m-sim".into()))
            })
            .collect();
        let court = CourtCode::parse("京").map_err(|e| SetupError::Other(e.to_string()))?;
        let court_caller = Caller {
            tenant: "court-sim".into(),
            role: Role::CourtSystem {
                courts: shipped_courts().with_lower(&court),
            },
            certificate: String::new(),
            subject: "court-sim".into(),
        };
        Ok(Self {
            mediators,
            court_caller,
            seed,
            options,
            rng: ChaCha8Rng::seed_from_u64(seed),
            world,
            acknowledged: Acknowledged::default(),
            trace: Vec::new(),
            violations: Vec::new(),
            covered: BTreeSet::new(),
            cases: Vec::new(),
            submitted: 0,
            disk_full_for: 0,
            step: 0,
        })
    }

    fn run_to_end(mut self, runtime: &tokio::runtime::Runtime) -> Report {
        runtime.block_on(async {
            while self.step < self.options.steps && self.violations.is_empty() {
                self.step += 1;
                self.one_step().await;
                let audit = self.step.is_multiple_of(10);
                self.check(audit).await;
            }
            if self.violations.is_empty() {
                self.heal_and_settle().await;
            }
            self.note(format!("store {}", self.world.store.state_digest()));
        });
        Report {
            seed: self.seed,
            trace: self.trace,
            violations: self.violations,
            covered: self.covered,
        }
    }

    fn note(&mut self, line: String) {
        self.trace.push(format!("{:>3} {line}", self.step));
    }

    async fn check(&mut self, audit: bool) {
        let mut found = invariants::store_holds(&self.world.store, audit).await;
        found.extend(invariants::in_order(&self.world.network.received()));
        found.extend(self.world.network.take_misdelivered());
        self.report(found);
    }

    fn report(&mut self, found: Vec<String>) {
        let step = self.step;
        self.violations
            .extend(found.into_iter().map(|v| format!("step {step}: {v}")));
    }

    async fn one_step(&mut self) {
        if self.options.plant == Some(Plant::AnswerBeforeSync) && self.step.is_multiple_of(4) {
            // The planted store syncs now and then, long after it answered.
            let _ = self.world.store.sync();
        }
        if self.options.plant == Some(Plant::RecordedBeforeSent) {
            self.world.network.flush_in_transit().await;
        }
        if self.disk_full_for > 0 {
            self.disk_full_for -= 1;
            if self.disk_full_for == 0 {
                self.world.store.fail_writes(false);
                self.note("disk has room again".into());
            }
        }
        let pick = self.rng.random_range(0..100);
        match pick {
            0..14 => self.submit().await,
            14..40 => self.platform_acts().await,
            40..48 => self.court_acts().await,
            48..62 => self.time_passes(),
            62..72 => self.sweep().await,
            72..88 => self.relay_pass().await,
            88..94 => self.link_changes(),
            94..97 => self.crash().await,
            _ => self.disk_fault(),
        }
    }

    fn platform_caller() -> Caller {
        Caller {
            tenant: "ccpit-sim".into(),
            role: Role::Platform {
                partner: Partner::Ccpit,
                organisations: Default::default(),
            },
            certificate: String::new(),
            subject: "ccpit-sim".into(),
        }
    }

    fn request<T>(message: T, caller: Caller) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.extensions_mut().insert(caller);
        request
    }

    /// Which replica takes a call: either, as a load balancer would.
    fn replica(&mut self) -> usize {
        self.rng.random_range(0..2)
    }

    fn timestamp(&self) -> Option<prost_types::Timestamp> {
        let now = self.world.now();
        Some(prost_types::Timestamp {
            seconds: now.as_second(),
            nanos: 0,
        })
    }

    /// Notes the outcome of a call on `referral`; an acknowledged one must
    /// survive every crash from now on.
    async fn answered<T>(
        &mut self,
        (action, status): (&str, Status),
        line: String,
        referral: &ReferralId,
        result: Result<T, tonic::Status>,
    ) {
        match result {
            Ok(_) => {
                self.covered.insert(format!("{action}@{}", status.as_str()));
                self.acknowledged.note(&self.world.store, referral).await;
                self.note(format!("{line}: ok"));
            }
            Err(e) => self.note(format!("{line}: {:?} {}", e.code(), e.message())),
        }
    }

    async fn submit(&mut self) {
        // Now and then the court sends a bundle again, as a court system
        // that did not hear the answer does.
        let again = !self.cases.is_empty() && self.rng.random_range(0..5) == 0;
        let reference = if again {
            let i = self.rng.random_range(0..self.cases.len());
            self.cases[i].0.clone()
        } else if self.submitted < MAX_CASES {
            self.submitted += 1;
            format!("SIM-{}", self.submitted)
        } else {
            return self.time_passes();
        };
        let mut bundle = bundle_to_wire(&sample_bundle());
        bundle.court_referral_id = reference.clone();
        bundle.documents.clear();
        let r = self.replica();
        let result = self.world.replicas[r]
            .court
            .submit_referral(Self::request(
                pb::SubmitReferralRequest {
                    bundle: Some(bundle),
                },
                self.court_caller.clone(),
            ))
            .await;
        match result {
            Ok(answer) => {
                let answer = answer.into_inner();
                let Ok(id) = ReferralId::parse(&answer.referral_id) else {
                    self.violations.push(format!(
                        "step {}: submit answered with id {:?}",
                        self.step, answer.referral_id
                    ));
                    return;
                };
                self.acknowledged.note(&self.world.store, &id).await;
                if !self.cases.iter().any(|(c, _)| *c == reference) {
                    self.cases.push((reference.clone(), id.clone()));
                }
                self.note(format!(
                    "court submits {reference} via {r}: {id} created={}",
                    answer.created
                ));
            }
            Err(status) => self.note(format!(
                "court submits {reference} via {r}: {:?}",
                status.code()
            )),
        }
    }

    /// The referrals offered to an organisation, as its platform took them.
    fn offers(&self) -> Vec<(ReferralId, OrganisationId)> {
        let mut offers: Vec<(ReferralId, OrganisationId)> = self
            .world
            .network
            .received()
            .into_iter()
            .filter_map(|r| r.offered_to.map(|o| (r.referral, o)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        offers.sort();
        offers
    }

    /// A mediator the roster lists for `organisation`, or any id where it
    /// lists none (then any is taken).
    fn mediator_of(&self, organisation: &OrganisationId) -> String {
        self.mediators
            .get(organisation)
            .cloned()
            .unwrap_or_else(|| "m-sim".into())
    }

    async fn platform_acts(&mut self) {
        let offers = self.offers();
        if offers.is_empty() {
            return self.relay_pass().await;
        }
        let (id, organisation) = offers[self.rng.random_range(0..offers.len())].clone();
        let status = match self.world.store.referral(&id).await {
            Ok(Some(referral)) => referral.status(),
            _ => return,
        };
        let case_id = id.to_string();
        let centre = organisation.to_string();
        let r = self.replica();
        let ccpit = &self.world.replicas[r].ccpit;
        let caller = Self::platform_caller();
        let roll = self.rng.random_range(0..100);
        // What a platform does next depends on where the case stands, and
        // now and then it does something out of turn (late, twice, or not
        // its to do): the gateway must refuse that cleanly.
        let action = match (status, roll) {
            (_, 0..10) => self.rng.random_range(0..9),
            (Status::AwaitingAcceptance, 10..75) => 0,
            (Status::AwaitingAcceptance, _) => 1,
            (Status::InMediation, 10..30) => 2,
            (Status::InMediation, 30..45) => 4,
            (Status::InMediation, 45..70) => 5,
            (Status::InMediation, 70..85) => 6,
            (Status::InMediation, _) => 7,
            (Status::SuspendedForAppraisal, 10..60) => 3,
            (Status::SuspendedForAppraisal, _) => 7,
            (Status::Agreed, _) => 8,
            _ => self.rng.random_range(0..9),
        };
        let progress = |p: cp::report_progress_request::Progress| cp::ReportProgressRequest {
            case_id: case_id.clone(),
            mediation_centre: centre.clone(),
            progress: Some(p),
        };
        let sign = |kind: &str, who: &str, at| cp::Signature {
            signer_type: kind.into(),
            signer: who.into(),
            signed_at: at,
        };
        let mediator = self.mediator_of(&organisation);
        let now = self.timestamp();
        let days = self.rng.random_range(5..40u32);
        let (what, result) = match action {
            0 => (
                "accepts",
                ccpit
                    .accept_case(Self::request(
                        cp::AcceptCaseRequest {
                            case_id: case_id.clone(),
                            mediation_centre: centre.clone(),
                            mediator: mediator.clone(),
                            centre_case_number: String::new(),
                        },
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            1 => (
                "declines",
                ccpit
                    .decline_case(Self::request(
                        cp::DeclineCaseRequest {
                            case_id: case_id.clone(),
                            mediation_centre: centre.clone(),
                            reason_code: "NO_CAPACITY".into(),
                            explanation: "本中心调解员档期已满".into(),
                        },
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            2 => (
                "starts an appraisal",
                ccpit
                    .report_progress(Self::request(
                        progress(cp::report_progress_request::Progress::AppraisalStarted(
                            "委托司法鉴定".into(),
                        )),
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            3 => (
                "ends the appraisal",
                ccpit
                    .report_progress(Self::request(
                        progress(cp::report_progress_request::Progress::AppraisalEnded(true)),
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            4 => (
                "extends by agreement",
                ccpit
                    .report_progress(Self::request(
                        progress(cp::report_progress_request::Progress::Extension(
                            cp::Extension {
                                until: String::new(),
                                agreed_by: vec!["P1".into(), "P2".into()],
                                days,
                            },
                        )),
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            5 => {
                let perform_by = (self.world.now() + SignedDuration::from_hours(24 * 90))
                    .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                    .date()
                    .to_string();
                (
                    "submits a settlement",
                    ccpit
                        .submit_settlement(Self::request(
                            cp::SubmitSettlementRequest {
                                case_id: case_id.clone(),
                                mediation_centre: centre.clone(),
                                parties: settlement_parties(),
                                disputed_matters: "货款支付".into(),
                                terms: vec!["被申请人支付货款100000元".into()],
                                performance_method: "银行转账".into(),
                                perform_by,
                                signatures: vec![
                                    sign("CENTRE", &centre, now),
                                    sign("MEDIATOR", &mediator, now),
                                    sign("PARTY", "P1", now),
                                    sign("PARTY", "P2", now),
                                ],
                                files: vec![],
                            },
                            caller,
                        ))
                        .await
                        .map(drop),
                )
            }
            6 => (
                "reports a failure",
                ccpit
                    .report_failure(Self::request(
                        cp::ReportFailureRequest {
                            case_id: case_id.clone(),
                            mediation_centre: centre.clone(),
                            course: "两次组织调解".into(),
                            reasons: "双方分歧过大".into(),
                            ..Default::default()
                        },
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            7 => (
                "reports sham mediation",
                ccpit
                    .report_sham_mediation(Self::request(
                        cp::ReportShamMediationRequest {
                            case_id: case_id.clone(),
                            mediation_centre: centre.clone(),
                            grounds: "当事人恶意串通".into(),
                        },
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
            _ => (
                "applies for confirmation",
                ccpit
                    .apply_for_confirmation(Self::request(
                        cp::ApplyForConfirmationRequest {
                            case_id: case_id.clone(),
                            mediation_centre: centre.clone(),
                            applicants: vec!["P1".into(), "P2".into()],
                            applied_at: now,
                        },
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
        };
        self.answered(
            (what, status),
            format!("{centre} {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }

    async fn court_acts(&mut self) {
        if self.cases.is_empty() {
            return self.submit().await;
        }
        // Mostly a case that waits on the court; now and then any.
        let mut waiting = Vec::new();
        for (_, id) in &self.cases {
            if let Ok(Some(referral)) = self.world.store.referral(id).await
                && matches!(
                    referral.status(),
                    Status::ShamMediationReported
                        | Status::ConfirmationRequested
                        | Status::ConfirmationRefused
                        | Status::MediationFailed
                        | Status::ReturnedToCourt
                )
            {
                waiting.push(id.clone());
            }
        }
        let id = if !waiting.is_empty() && self.rng.random_range(0..10) < 7 {
            waiting[self.rng.random_range(0..waiting.len())].clone()
        } else {
            self.cases[self.rng.random_range(0..self.cases.len())]
                .1
                .clone()
        };
        let status = match self.world.store.referral(&id).await {
            Ok(Some(referral)) => referral.status(),
            _ => return,
        };
        let r = self.replica();
        let court = &self.world.replicas[r].court;
        let caller = self.court_caller.clone();
        let referral_id = id.to_string();
        let code = "京0105".to_owned();
        let ruled_at = self.timestamp();
        let roll = self.rng.random_range(0..100);
        let (what, result) = match status {
            Status::ShamMediationReported => {
                let finding = if roll < 50 {
                    pb::ShamMediationFinding::NotSham
                } else {
                    pb::ShamMediationFinding::Sham
                };
                (
                    "finds on the sham report",
                    court
                        .resolve_sham_mediation(Self::request(
                            pb::ResolveShamMediationRequest {
                                referral_id,
                                court: code,
                                finding: finding.into(),
                                note: "经审查".into(),
                            },
                            caller,
                        ))
                        .await
                        .map(drop),
                )
            }
            Status::ConfirmationRequested => {
                let outcome = if roll < 60 {
                    pb::RulingOutcome::Confirmed
                } else {
                    pb::RulingOutcome::Dismissed
                };
                (
                    "rules on the confirmation",
                    court
                        .record_ruling(Self::request(
                            pb::RecordRulingRequest {
                                referral_id,
                                court: code,
                                outcome: outcome.into(),
                                case_number: "（2026）京0105民特1号".into(),
                                reasons: "经审查".into(),
                                ruled_at,
                            },
                            caller,
                        ))
                        .await
                        .map(drop),
                )
            }
            Status::ReturnedToCourt | Status::ConfirmationRefused | Status::MediationFailed
                if roll < 70 =>
            {
                (
                    "dockets the case",
                    court
                        .record_court_outcome(Self::request(
                            pb::RecordCourtOutcomeRequest {
                                referral_id,
                                court: code,
                                outcome: pb::CourtOutcome::Docketed.into(),
                                case_number: "（2026）京0105民初1号".into(),
                                ..Default::default()
                            },
                            caller,
                        ))
                        .await
                        .map(drop),
                )
            }
            _ => (
                "recalls",
                court
                    .recall_referral(Self::request(
                        pb::RecallReferralRequest {
                            referral_id,
                            court: code,
                            reason: "当事人已和解".into(),
                        },
                        caller,
                    ))
                    .await
                    .map(drop),
            ),
        };
        self.answered(
            (what, status),
            format!("court {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }

    fn time_passes(&mut self) {
        // Mostly hours, sometimes days: deadlines are days apart, and a
        // sweep may come late.
        let minutes = match self.rng.random_range(0..10) {
            0..4 => self.rng.random_range(10..240),
            4..8 => self.rng.random_range(240..1_440),
            _ => self.rng.random_range(1_440..5_760),
        };
        self.world.clock.advance(SignedDuration::from_mins(minutes));
        let now = self.world.now();
        self.note(format!("time passes {minutes} min to {now}"));
    }

    /// Both replicas sweep at once, as two gateways whose engines woke
    /// together do.
    async fn sweep(&mut self) {
        let (a, b) = tokio::join!(
            self.world.replicas[0].engine.sweep(),
            self.world.replicas[1].engine.sweep()
        );
        let show = |r: Result<mediation_service::SweepReport, _>| match r {
            Ok(report) => format!(
                "{} due {} fired {} failed",
                report.due, report.fired, report.failed
            ),
            Err(e) => format!("failed: {e}"),
        };
        if let (Ok(a), Ok(b)) = (&a, &b)
            && a.fired > 0
            && b.due > 0
        {
            self.covered
                .insert("two replicas sweep one due timer".into());
        }
        let line = format!("sweep: {} | {}", show(a), show(b));
        self.note(line);
    }

    async fn relay_pass(&mut self) {
        let result = self.world.relay.tick().await;
        self.world.relay.settle().await;
        let line = match result {
            Ok(report) => format!(
                "relay pass: {} started, {} deferred",
                report.started, report.deferred
            ),
            Err(e) => format!("relay pass failed: {e}"),
        };
        self.note(line);
    }

    fn link_changes(&mut self) {
        let destinations = ["partner:ccpit", "court:京0105"];
        let destination = destinations[self.rng.random_range(0..destinations.len())];
        let link = match self.rng.random_range(0..5) {
            0 => Link::Down,
            1 => Link::Flaky(self.rng.random_range(10..90)),
            2 => Link::LosingAcks(self.rng.random_range(10..90)),
            _ => Link::Up,
        };
        self.world.network.set_link(destination, link);
        self.note(format!("link to {destination}: {link:?}"));
    }

    /// A power cut, at a step's end or in the middle of a relay pass or a
    /// sweep: their tasks stop at whatever await they had reached.
    async fn crash(&mut self) {
        let polls = self.rng.random_range(0..6);
        let during = match self.rng.random_range(0..3) {
            0 => {
                // The pass's attempts are under way; the power goes before
                // they all finish.
                let _ = self.world.relay.tick().await;
                for _ in 0..polls {
                    tokio::task::yield_now().await;
                }
                "during a relay pass"
            }
            1 => {
                let sweep = self.world.replicas[0].engine.sweep();
                let cut = async {
                    for _ in 0..polls {
                        tokio::task::yield_now().await;
                    }
                };
                tokio::select! {
                    biased;
                    _ = sweep => {}
                    () = cut => {}
                }
                "during a sweep"
            }
            _ => "between steps",
        };
        self.world.crash_and_restart().await;
        self.covered.insert(format!("power cut {during}"));
        self.note(format!(
            "power cut {during} after {polls} polls; the replicas start again"
        ));
        let lost = self.acknowledged.survived(&self.world.store).await;
        self.report(lost);
    }

    fn disk_fault(&mut self) {
        if self.rng.random_range(0..2) == 0 {
            self.world.store.fail_next_syncs(1);
            self.covered.insert("failed sync".into());
            self.note("the next sync will fail".into());
        } else {
            self.world.store.fail_writes(true);
            self.covered.insert("full disk".into());
            self.disk_full_for = self.rng.random_range(1..6);
            self.note(format!("disk full for {} steps", self.disk_full_for));
        }
    }

    /// The faults heal: every link comes up, the disk has room, dead
    /// letters are replayed as an operator would; then time runs on in
    /// steps of a day, sweeping and relaying, well past every limit.
    async fn heal_and_settle(&mut self) {
        self.step += 1;
        if self.options.plant == Some(Plant::AnswerBeforeSync) {
            let _ = self.world.store.sync();
        }
        self.world.network.heal();
        self.world.store.fail_writes(false);
        self.world.store.fail_next_syncs(0);
        self.note("faults heal".into());
        for _ in 0..120 {
            self.world.network.flush_in_transit().await;
            let now = self.world.now();
            if let Ok(dead) = self.world.store.dead_letters(usize::MAX).await {
                for message in dead {
                    let _ = self.world.store.replay_dead_letter(&message.id, now).await;
                }
            }
            let _ = self.world.relay.drain().await;
            let _ = self.world.replicas[0].engine.sweep().await;
            let _ = self.world.relay.drain().await;
            self.world.clock.advance(SignedDuration::from_hours(24));
        }
        self.world.network.flush_in_transit().await;
        let _ = self.world.relay.drain().await;
        self.note(format!("settled at {}", self.world.now()));
        let found = invariants::settled(&self.world.store, &self.world.network).await;
        self.report(found);
        self.check(true).await;
    }
}

/// The parties of the sample bundle, as a settlement names them.
fn settlement_parties() -> Vec<cp::SettlementParty> {
    let party = |reference: &str, name: &str, kind: &str, number: &str| cp::SettlementParty {
        reference: reference.into(),
        name: name.into(),
        document_type: kind.into(),
        document_number: number.into(),
    };
    vec![
        party("P1", "张三", "ID_CARD", "11010519491231002X"),
        party("P2", "某贸易有限公司", "USCC", "91350100M000100Y43"),
    ]
}
