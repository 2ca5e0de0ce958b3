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

mod court;
mod environment;
mod platforms;

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
            97..99 => self.retention_passes().await,
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
