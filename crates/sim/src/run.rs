//! One run: a seed picks every step (a court's call, a platform's call, time
//! passing, a sweep, a relay pass, a link going down, a crash, a disk
//! fault), the invariants are checked after each, and at the end the faults
//! heal, time runs on past every limit, and the settled state is checked.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};
use mediation_api::court::bundle_to_wire;
use mediation_core::access::{Caller, Role};
use mediation_core::court::CourtCode;
use mediation_core::fixtures::{labour_bundle, sample_bundle, shipped_courts};
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Change, Status};
use mediation_core::partner::Partner;
use mediation_core::store::{OutboxStore, ReferralStore};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_server::CourtGateway;
use mediation_proto::labour::v1 as lp;
use mediation_proto::labour::v1::labour_gateway_server::LabourGateway;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_server::Operations;
use mediation_store_memory::MemoryStore;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::invariants::{self, Acknowledged};
use crate::network::{Link, Network};
use crate::world::{SECOND_CENTRE, SetupError, World};

/// Calls `$service.$method` of `$replica` through the replica's guard, as
/// a call from the wire reaches the service once its caller is
/// authenticated: the role's access to the method, the tenant's rate and
/// calls in flight, and the call's audit record. `keep` keeps the answer;
/// without it only success or the status is kept.
macro_rules! guarded {
    (keep $replica:expr, $service:ident . $method:ident, $api:expr, $name:expr, $caller:expr, $message:expr $(,)?) => {{
        let replica = $replica;
        let path = format!("/{}/{}", $api, $name);
        match replica
            .guard
            .admit_in_process_as("sim", $caller, &path, $message)
            .await
        {
            Ok((request, call)) => {
                let result = replica.$service.$method(request).await;
                call.finish(result.as_ref().map(drop));
                result
            }
            Err(status) => Err(status),
        }
    }};
    ($replica:expr, $service:ident . $method:ident, $api:expr, $name:expr, $caller:expr, $message:expr $(,)?) => {
        guarded!(keep $replica, $service.$method, $api, $name, $caller, $message).map(drop)
    };
}

const CCPIT: &str = mediation_proto::ccpit::v1::ccpit_gateway_server::SERVICE_NAME;
const COURT: &str = mediation_proto::court::v1::court_gateway_server::SERVICE_NAME;
const LABOUR: &str = mediation_proto::labour::v1::labour_gateway_server::SERVICE_NAME;
const OPERATIONS: &str = mediation_proto::operations::v1::operations_server::SERVICE_NAME;

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
    /// Calls made through the guards, and how many of them have their
    /// record in the audit log at the end.
    pub calls: usize,
    pub audited_calls: usize,
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
    // Paused: the runtime's own timers (the audit writer's retries, the
    // relay's timeouts) move only as the run moves them.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
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
    /// The court system's role: the Beijing courts and those below them.
    court_role: Role,
    /// Calls made, each with a subject of its own so that its audit record
    /// can be found; and whether each changed its referral's history.
    calls: Vec<(String, bool)>,
    audited_calls: usize,
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
        let court_role = Role::CourtSystem {
            courts: shipped_courts().with_lower(&court),
        };
        Ok(Self {
            mediators,
            court_role,
            calls: Vec::new(),
            audited_calls: 0,
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
            for id in invariants::all_referrals(&self.world.store).await {
                if let Ok(Some(history)) = self.world.store.history(&id).await
                    && history
                        .iter()
                        .any(|e| matches!(e.change, Change::ArbitrationAvailable { .. }))
                {
                    self.covered
                        .insert("labour arbitration became available".into());
                }
            }
            if invariants::late_copies(&self.world.network.received()) > 0 {
                self.covered
                    .insert("a late copy after a later message".into());
            }
            // The audit writers have written what they were given (with
            // the disk's room back, should a run have stopped on a
            // violation in the middle of a fault).
            self.world.store.fail_writes(false);
            self.world.store.fail_next_syncs(0);
            for replica in &self.world.replicas {
                replica.audit.settled().await;
            }
            let (audited, wrong) = invariants::calls_audited(&self.world.store, &self.calls).await;
            self.report(wrong);
            self.audited_calls = audited;
            self.note(format!("{audited} of {} calls audited", self.calls.len()));
            self.note(format!("store {}", self.world.store.state_digest()));
        });
        Report {
            seed: self.seed,
            trace: self.trace,
            violations: self.violations,
            covered: self.covered,
            calls: self.calls.len(),
            audited_calls: self.audited_calls,
        }
    }

    fn note(&mut self, line: String) {
        self.trace.push(format!("{:>3} {line}", self.step));
    }

    async fn check(&mut self, audit: bool) {
        let mut found = invariants::store_holds(&self.world.store, audit).await;
        if audit {
            found.extend(invariants::calls_recorded(&self.world.store, &self.calls).await);
        }
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
        // A step takes a little time on the runtime's timers too.
        tokio::time::advance(std::time::Duration::from_millis(100)).await;
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
            48..62 => self.time_passes().await,
            62..72 => self.sweep().await,
            72..88 => self.relay_pass().await,
            88..92 => self.link_changes(),
            92..94 => self.operator_replays().await,
            94..97 => self.crash().await,
            _ => self.disk_fault(),
        }
    }

    fn platform_role() -> Role {
        Role::Platform {
            partner: Partner::Ccpit,
            organisations: Default::default(),
        }
    }

    /// The next call's caller: `tenant` in `role`, with a token subject of
    /// its own.
    fn caller(&self, tenant: &str, role: Role) -> Caller {
        let subject = format!("{tenant}-{}", self.calls.len() + 1);
        Caller {
            tenant: tenant.into(),
            role,
            certificate: String::new(),
            subject,
        }
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
        (subject, before): (String, usize),
        line: String,
        referral: &ReferralId,
        result: Result<T, tonic::Status>,
    ) {
        let grew = self.history_len(referral).await > before;
        self.calls.push((subject, grew));
        match result {
            Ok(_) => {
                self.covered.insert(format!("{action}@{}", status.as_str()));
                self.acknowledged.note(&self.world.store, referral).await;
                self.note(format!("{line}: ok"));
            }
            Err(e) => self.note(format!("{line}: {:?} {}", e.code(), e.message())),
        }
    }

    async fn history_len(&self, referral: &ReferralId) -> usize {
        match self.world.store.history(referral).await {
            Ok(Some(history)) => history.len(),
            _ => 0,
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
            return self.time_passes().await;
        };
        // A third of the cases are labour disputes, which go to the labour
        // committee and its own limits (15 days, then arbitration).
        let labour = reference.ends_with(['0', '3', '6', '9']);
        let mut bundle = bundle_to_wire(&if labour {
            labour_bundle()
        } else {
            sample_bundle()
        });
        bundle.court_referral_id = reference.clone();
        bundle.documents.clear();
        let r = self.replica();
        let replica = &self.world.replicas[r];
        let caller = self.caller("court-sim", self.court_role.clone());
        let subject = caller.subject.clone();
        let result = guarded!(
            keep replica,
            court.submit_referral,
            COURT,
            "SubmitReferral",
            caller,
            pb::SubmitReferralRequest {
                bundle: Some(bundle),
            }
        );
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
                self.calls.push((subject, answer.created));
                if !self.cases.iter().any(|(c, _)| *c == reference) {
                    self.cases.push((reference.clone(), id.clone()));
                }
                self.note(format!(
                    "court submits {reference} via {r}: {id} created={}",
                    answer.created
                ));
            }
            Err(status) => {
                self.calls.push((subject, false));
                self.note(format!(
                    "court submits {reference} via {r}: {:?}",
                    status.code()
                ));
            }
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
        if organisation.as_str().starts_with("labour") {
            return self.committee_acts(id, organisation, status).await;
        }
        let case_id = id.to_string();
        let centre = organisation.to_string();
        let r = self.replica();
        // What a platform does next depends on where the case stands, and
        // now and then it does something out of turn (late, twice, or not
        // its to do): the gateway must refuse that cleanly.
        let action = self.next_action(status);
        let before = self.history_len(&id).await;
        let replica = &self.world.replicas[r];
        let caller = self.caller("ccpit-sim", Self::platform_role());
        let subject = caller.subject.clone();
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
                guarded!(
                    replica,
                    ccpit.accept_case,
                    CCPIT,
                    "AcceptCase",
                    caller,
                    cp::AcceptCaseRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        mediator: mediator.clone(),
                        centre_case_number: String::new(),
                    }
                )
                .map(drop),
            ),
            1 => (
                "declines",
                guarded!(
                    replica,
                    ccpit.decline_case,
                    CCPIT,
                    "DeclineCase",
                    caller,
                    cp::DeclineCaseRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        reason_code: "NO_CAPACITY".into(),
                        explanation: "本中心调解员档期已满".into(),
                    },
                ),
            ),
            2 => (
                "starts an appraisal",
                guarded!(
                    replica,
                    ccpit.report_progress,
                    CCPIT,
                    "ReportProgress",
                    caller,
                    progress(cp::report_progress_request::Progress::AppraisalStarted(
                        "委托司法鉴定".into(),
                    )),
                ),
            ),
            3 => (
                "ends the appraisal",
                guarded!(
                    replica,
                    ccpit.report_progress,
                    CCPIT,
                    "ReportProgress",
                    caller,
                    progress(cp::report_progress_request::Progress::AppraisalEnded(true)),
                ),
            ),
            4 => (
                "extends by agreement",
                guarded!(
                    replica,
                    ccpit.report_progress,
                    CCPIT,
                    "ReportProgress",
                    caller,
                    progress(cp::report_progress_request::Progress::Extension(
                        cp::Extension {
                            until: String::new(),
                            agreed_by: vec!["P1".into(), "P2".into()],
                            days,
                        },
                    )),
                ),
            ),
            5 => {
                let perform_by = (self.world.now() + SignedDuration::from_hours(24 * 90))
                    .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
                    .date()
                    .to_string();
                (
                    "submits a settlement",
                    guarded!(
                        replica,
                        ccpit.submit_settlement,
                        CCPIT,
                        "SubmitSettlement",
                        caller,
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
                    ),
                )
            }
            6 => (
                "reports a failure",
                guarded!(
                    replica,
                    ccpit.report_failure,
                    CCPIT,
                    "ReportFailure",
                    caller,
                    cp::ReportFailureRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        course: "两次组织调解".into(),
                        reasons: "双方分歧过大".into(),
                        ..Default::default()
                    },
                ),
            ),
            7 => (
                "reports sham mediation",
                guarded!(
                    replica,
                    ccpit.report_sham_mediation,
                    CCPIT,
                    "ReportShamMediation",
                    caller,
                    cp::ReportShamMediationRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        grounds: "当事人恶意串通".into(),
                    },
                ),
            ),
            _ => (
                "applies for confirmation",
                guarded!(
                    replica,
                    ccpit.apply_for_confirmation,
                    CCPIT,
                    "ApplyForConfirmation",
                    caller,
                    cp::ApplyForConfirmationRequest {
                        case_id: case_id.clone(),
                        mediation_centre: centre.clone(),
                        applicants: vec!["P1".into(), "P2".into()],
                        applied_at: now,
                    },
                ),
            ),
        };
        self.answered(
            (what, status),
            (subject, before),
            format!("{centre} {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }

    /// The next step a platform takes, by where the case stands: mostly
    /// in turn, now and then out of it. The same numbering on every
    /// platform: 0 accept, 1 decline, 2 start an appraisal, 3 end it, 4
    /// extend, 5 agree, 6 report a failure, 7 report sham mediation, 8
    /// apply for confirmation.
    fn next_action(&mut self, status: Status) -> u32 {
        let roll = self.rng.random_range(0..100);
        match (status, roll) {
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
        }
    }

    /// The labour arbitration platform's committee acts on a dispute.
    async fn committee_acts(
        &mut self,
        id: ReferralId,
        organisation: OrganisationId,
        status: Status,
    ) {
        let action = self.next_action(status);
        let r = self.replica();
        let before = self.history_len(&id).await;
        let replica = &self.world.replicas[r];
        let caller = self.caller(
            "labour-sim",
            Role::Platform {
                partner: Partner::LabourArbitration,
                organisations: Default::default(),
            },
        );
        let subject = caller.subject.clone();
        let dispute_id = id.to_string();
        let committee = organisation.to_string();
        let mediator = self.mediator_of(&organisation);
        let now = self.timestamp();
        let days = self.rng.random_range(5..20u32);
        let pay_by = (self.world.now() + SignedDuration::from_hours(24 * 60))
            .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
            .date()
            .to_string();
        let progress = |p: lp::report_progress_request::Progress| lp::ReportProgressRequest {
            dispute_id: dispute_id.clone(),
            committee: committee.clone(),
            progress: Some(p),
        };
        let (what, result) = match action {
            0 => (
                "accepts",
                guarded!(
                    replica,
                    labour.accept_dispute,
                    LABOUR,
                    "AcceptDispute",
                    caller,
                    lp::AcceptDisputeRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        mediator: mediator.clone(),
                        file_number: String::new(),
                    },
                ),
            ),
            1 => (
                "declines",
                guarded!(
                    replica,
                    labour.decline_dispute,
                    LABOUR,
                    "DeclineDispute",
                    caller,
                    lp::DeclineDisputeRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        reason: lp::DeclineReason::NoCapacity.into(),
                        explanation: "调解员档期已满".into(),
                    },
                ),
            ),
            2 => (
                "starts an appraisal",
                guarded!(
                    replica,
                    labour.report_progress,
                    LABOUR,
                    "ReportProgress",
                    caller,
                    progress(lp::report_progress_request::Progress::AppraisalStarted(
                        "劳动能力鉴定".into(),
                    )),
                ),
            ),
            3 => (
                "ends the appraisal",
                guarded!(
                    replica,
                    labour.report_progress,
                    LABOUR,
                    "ReportProgress",
                    caller,
                    progress(lp::report_progress_request::Progress::AppraisalEnded(true)),
                ),
            ),
            4 => (
                "extends by agreement",
                guarded!(
                    replica,
                    labour.report_progress,
                    LABOUR,
                    "ReportProgress",
                    caller,
                    progress(lp::report_progress_request::Progress::Extension(
                        lp::Extension {
                            until: String::new(),
                            days,
                            agreed_by: vec!["P1".into(), "P2".into()],
                        },
                    )),
                ),
            ),
            5 => (
                "submits a settlement",
                guarded!(
                    replica,
                    labour.submit_mediation_agreement,
                    LABOUR,
                    "SubmitMediationAgreement",
                    caller,
                    lp::SubmitMediationAgreementRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        payments: vec![lp::Payment {
                            kind: lp::ClaimKind::UnpaidWages.into(),
                            amount: "12000.00".into(),
                        }],
                        other_terms: vec!["用人单位出具解除劳动合同证明".into()],
                        payment_method: "银行转账".into(),
                        pay_by,
                        employer_signed_at: now,
                        worker_signed_at: now,
                        mediator: mediator.clone(),
                        mediator_signed_at: now,
                        committee_sealed_at: now,
                        ..Default::default()
                    },
                ),
            ),
            6 => (
                "reports a failure",
                guarded!(
                    replica,
                    labour.report_mediation_failure,
                    LABOUR,
                    "ReportMediationFailure",
                    caller,
                    lp::ReportMediationFailureRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        course: "两次组织调解".into(),
                        reasons: "双方对工资数额分歧过大".into(),
                        ..Default::default()
                    },
                ),
            ),
            7 => (
                "reports sham mediation",
                guarded!(
                    replica,
                    labour.report_sham_mediation,
                    LABOUR,
                    "ReportShamMediation",
                    caller,
                    lp::ReportShamMediationRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        grounds: "当事人恶意串通".into(),
                    },
                ),
            ),
            _ => (
                "applies for confirmation",
                guarded!(
                    replica,
                    labour.apply_for_confirmation,
                    LABOUR,
                    "ApplyForConfirmation",
                    caller,
                    lp::ApplyForConfirmationRequest {
                        dispute_id: dispute_id.clone(),
                        committee: committee.clone(),
                        applied_at: now,
                    },
                ),
            ),
        };
        self.answered(
            (&format!("labour {what}"), status),
            (subject, before),
            format!("{committee} {what} {id} ({}) via {r}", status.as_str()),
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
        let (status, holder) = match self.world.store.referral(&id).await {
            Ok(Some(referral)) => (referral.status(), referral.holder().map(|o| o.to_string())),
            _ => return,
        };
        let r = self.replica();
        let before = self.history_len(&id).await;
        let replica = &self.world.replicas[r];
        let caller = self.caller("court-sim", self.court_role.clone());
        let subject = caller.subject.clone();
        let referral_id = id.to_string();
        let code = "京0105".to_owned();
        let ruled_at = self.timestamp();
        let roll = self.rng.random_range(0..100);
        let pass_on = self.rng.random_range(0..100);
        let (what, result) = match status {
            Status::ShamMediationReported => {
                let finding = if roll < 50 {
                    pb::ShamMediationFinding::NotSham
                } else {
                    pb::ShamMediationFinding::Sham
                };
                (
                    "finds on the sham report",
                    guarded!(
                        replica,
                        court.resolve_sham_mediation,
                        COURT,
                        "ResolveShamMediation",
                        caller,
                        pb::ResolveShamMediationRequest {
                            referral_id,
                            court: code,
                            finding: finding.into(),
                            note: "经审查".into(),
                        },
                    ),
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
                    guarded!(
                        replica,
                        court.record_ruling,
                        COURT,
                        "RecordRuling",
                        caller,
                        pb::RecordRulingRequest {
                            referral_id,
                            court: code,
                            outcome: outcome.into(),
                            case_number: "（2026）京0105民特1号".into(),
                            reasons: "经审查".into(),
                            ruled_at,
                        },
                    ),
                )
            }
            Status::ReturnedToCourt | Status::ConfirmationRefused | Status::MediationFailed
                if roll < 70 =>
            {
                (
                    "dockets the case",
                    guarded!(
                        replica,
                        court.record_court_outcome,
                        COURT,
                        "RecordCourtOutcome",
                        caller,
                        pb::RecordCourtOutcomeRequest {
                            referral_id,
                            court: code,
                            outcome: pb::CourtOutcome::Docketed.into(),
                            case_number: "（2026）京0105民初1号".into(),
                            ..Default::default()
                        },
                    ),
                )
            }
            _ if pass_on < 30 => {
                // To the centre that does not hold it now.
                let organisation = match holder.as_deref() {
                    Some("ccpit-bj-01") => SECOND_CENTRE,
                    _ => "ccpit-bj-01",
                };
                (
                    "reassigns",
                    guarded!(
                        replica,
                        court.reassign_referral,
                        COURT,
                        "ReassignReferral",
                        caller,
                        pb::ReassignReferralRequest {
                            referral_id,
                            court: code,
                            organisation: organisation.into(),
                            reason: "当事人申请更换调解组织".into(),
                        },
                    ),
                )
            }
            _ if pass_on < 55 => (
                "reroutes",
                guarded!(
                    replica,
                    court.reroute_referral,
                    COURT,
                    "RerouteReferral",
                    caller,
                    pb::RerouteReferralRequest {
                        referral_id,
                        court: code,
                        reason: "原调解组织无法继续".into(),
                    },
                ),
            ),
            _ => (
                "recalls",
                guarded!(
                    replica,
                    court.recall_referral,
                    COURT,
                    "RecallReferral",
                    caller,
                    pb::RecallReferralRequest {
                        referral_id,
                        court: code,
                        reason: "当事人已和解".into(),
                    },
                ),
            ),
        };
        self.answered(
            (what, status),
            (subject, before),
            format!("court {what} {id} ({}) via {r}", status.as_str()),
            &id,
            result,
        )
        .await;
    }

    async fn time_passes(&mut self) {
        // Mostly hours, sometimes days: deadlines are days apart, and a
        // sweep may come late.
        let minutes = match self.rng.random_range(0..10) {
            0..4 => self.rng.random_range(10..240),
            4..8 => self.rng.random_range(240..1_440),
            _ => self.rng.random_range(1_440..5_760),
        };
        self.world.clock.advance(SignedDuration::from_mins(minutes));
        let seconds = u64::try_from(minutes).unwrap_or(0) * 60;
        tokio::time::advance(std::time::Duration::from_secs(seconds)).await;
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
        let link = match self.rng.random_range(0..8) {
            0 => Link::Down,
            1 => Link::Flaky(self.rng.random_range(10..90)),
            2 => Link::LosingAcks(self.rng.random_range(10..90)),
            3 => Link::Slow(self.rng.random_range(1..30)),
            4 => Link::Refusing,
            _ => Link::Up,
        };
        if link != Link::Up {
            self.covered.insert(
                format!("link {link:?}")
                    .split('(')
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            );
        }
        self.world.network.set_link(destination, link);
        self.note(format!("link to {destination}: {link:?}"));
    }

    /// An operator lists the dead letters and replays each, through the
    /// operations service, as `ops replay` does.
    async fn operator_replays(&mut self) {
        let r = self.replica();
        let replica = &self.world.replicas[r];
        let caller = self.caller("operators", Role::Operator { read_only: false });
        let subject = caller.subject.clone();
        let listed = guarded!(
            keep replica,
            operations.list_dead_letters,
            OPERATIONS,
            "ListDeadLetters",
            caller,
            ops::ListDeadLettersRequest { limit: 0 },
        );
        self.calls.push((subject, false));
        let dead = match listed {
            Ok(answer) => answer.into_inner().dead_letters,
            Err(e) => {
                self.note(format!("operator lists dead letters: {:?}", e.code()));
                return;
            }
        };
        let mut replayed = 0;
        for message in &dead {
            let replica = &self.world.replicas[r];
            let caller = self.caller("operators", Role::Operator { read_only: false });
            let subject = caller.subject.clone();
            let result = guarded!(
                replica,
                operations.replay_dead_letter,
                OPERATIONS,
                "ReplayDeadLetter",
                caller,
                ops::ReplayDeadLetterRequest {
                    message_id: message.message_id.clone(),
                },
            );
            self.calls.push((subject, false));
            if result.is_ok() {
                replayed += 1;
            }
        }
        if replayed > 0 {
            self.covered.insert("a dead letter replayed".into());
        }
        self.note(format!(
            "operator replays {replayed} of {} dead letters via {r}",
            dead.len()
        ));
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
        let mut lost = self.acknowledged.survived(&self.world.store).await;
        lost.extend(invariants::calls_recorded(&self.world.store, &self.calls).await);
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
        // Long enough for every limit now set to run out, with room for the
        // steps that follow a lapse (a grace period, a court's wait): 60
        // days past the last timer, and at least 120 days. A referral whose
        // timers were lost shows as one left where it should not rest.
        let mut last_timer = self.world.now();
        for id in invariants::all_referrals(&self.world.store).await {
            if let Ok(Some(referral)) = self.world.store.referral(&id).await {
                for timer in referral.timers() {
                    last_timer = last_timer.max(timer.fire_at);
                }
            }
        }
        let days = last_timer
            .duration_since(self.world.now())
            .as_hours()
            .div_euclid(24)
            .clamp(60, 3_650)
            + 60;
        self.note(format!("{days} quiet days follow"));
        for _ in 0..days {
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
            tokio::time::advance(std::time::Duration::from_secs(86_400)).await;
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
