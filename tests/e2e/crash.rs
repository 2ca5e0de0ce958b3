//! The crash test: a child process under concurrent load is killed with SIGKILL
//! at random moments, many times over, on the same store. After each kill the
//! store must open, and:
//!
//! - every command the child saw acknowledged is in the store;
//! - every message those commands produced is either still in the outbox or was
//!   received by the destination — none is lost;
//! - every referral's stored timers are exactly those its state calls for;
//! - the audit chain verifies.
//!
//! The child is this test binary itself, re-run on the ignored `child_process`
//! test with the paths in environment variables. Set `MG_CRASH_KILLS` for a
//! longer run (the default keeps CI quick).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use mediation_core::audit::AuditVerification;
use mediation_core::bundle::CaseBundle;
use mediation_core::clock::{Clock, SystemClock};
use mediation_core::fixtures::{FixedRoster, organisation, sample_bundle, shipped_calendar};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::Referral;
use mediation_core::outbox::messages_for;
use mediation_core::store::PendingDelivery;
use mediation_delivery::{Delivered, DeliveryError, Relay, RelayOptions, Transport};
use mediation_service::{Commands, Policies};
use mediation_store::{SledStore, StoreOptions};

const DIR: &str = "MG_CRASH_DIR";
const ACKS: &str = "MG_CRASH_ACKS";
const DELIVERED: &str = "MG_CRASH_DELIVERED";

/// Appends one line per call with a single `write` on an `O_APPEND` file, so a
/// kill never leaves half a line — and never loses a line once written, since
/// SIGKILL does not discard the page cache.
#[derive(Debug)]
pub(crate) struct Log(std::fs::File);

impl Log {
    pub(crate) fn open(path: &Path) -> Self {
        Self(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap(),
        )
    }

    pub(crate) fn line(&self, text: &str) {
        (&self.0).write_all(format!("{text}\n").as_bytes()).unwrap();
    }
}

/// A partner that notes each message id before acknowledging it.
#[derive(Debug)]
pub(crate) struct RecordingPartner(pub(crate) Log);

impl Transport for RecordingPartner {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        self.0.line(&delivery.id.0);
        Ok(Delivered::Acknowledged)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the crash test's child process; run by crash::killed_at_random_moments_loses_nothing"]
async fn child_process() {
    std::env::var(DIR).expect("run by the crash test");
    put_load([DIR, ACKS, DELIVERED], 16, "crash", sample_with_id, || {}).await;
}

fn sample_with_id(id: &str) -> CaseBundle {
    let mut bundle = sample_bundle();
    bundle.court_referral_id = id.parse().unwrap();
    bundle
}

/// The load the kill tests' child processes run until they are killed:
/// `workers` tasks submitting bundles made by `bundle` (and accepting every
/// other one), each acknowledged version noted in the log named by the second
/// variable, while a relay delivers to the log named by the third. The first
/// variable names the data directory; `opened` runs once the store is open.
pub(crate) async fn put_load(
    [dir, acks, delivered]: [&str; 3],
    workers: usize,
    prefix: &str,
    bundle: fn(&str) -> CaseBundle,
    opened: fn(),
) {
    let dir = PathBuf::from(std::env::var(dir).unwrap());
    let acks = Arc::new(Log::open(Path::new(&std::env::var(acks).unwrap())));
    let delivered = Log::open(Path::new(&std::env::var(delivered).unwrap()));
    let store = SledStore::open(StoreOptions::new(&dir)).unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let gateway = Arc::new(Commands::new(
        store.clone(),
        Arc::new(RwLock::new(shipped_calendar())),
        Policies::default(),
        Arc::new(FixedRoster(vec!["org-a"])),
        mediation_core::fixtures::courts(),
        Arc::clone(&clock),
    ));
    let relay = Relay::new(
        store.clone(),
        Arc::new(RecordingPartner(delivered)),
        clock,
        RelayOptions::default(),
    );
    tokio::spawn(async move { relay.run(std::future::pending()).await });
    opened();
    let run = std::process::id();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let gateway = Arc::clone(&gateway);
        let acks = Arc::clone(&acks);
        let prefix = prefix.to_owned();
        tasks.push(tokio::spawn(async move {
            for n in 0.. {
                let submitted = gateway
                    .submit(bundle(&format!("{prefix}-{run}-{worker}-{n}")), "court")
                    .await
                    .unwrap();
                let id = submitted.referral.id().clone();
                acks.line(&format!("{id} {}", submitted.referral.version()));
                if n % 2 == 0 {
                    let org = organisation("org-a");
                    let accepted = gateway
                        .execute(&id, "org-a", "accept", |r, c| {
                            r.accept(&org, None, None, c.now, c.calendar, &c.policy.deadlines)
                        })
                        .await
                        .unwrap();
                    acks.line(&format!("{id} {}", accepted.version()));
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// The highest acknowledged version of each referral.
fn acknowledged(path: &Path) -> BTreeMap<ReferralId, u64> {
    let mut acked = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        let (id, version) = line.split_once(' ').unwrap();
        let version: u64 = version.parse().unwrap();
        let entry = acked.entry(id.parse().unwrap()).or_insert(0);
        *entry = (*entry).max(version);
    }
    acked
}

pub(crate) fn check(dir: &Path, acks: &Path, delivered: &Path) -> (usize, usize) {
    let store = SledStore::open(StoreOptions::new(dir)).expect("the store opens after a kill");
    let delivered: BTreeSet<String> = std::fs::read_to_string(delivered)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let acked = acknowledged(acks);
    let all_timers = store.due_timers(jiff::Timestamp::MAX, usize::MAX).unwrap();
    let mut messages = 0;
    for (id, version) in &acked {
        let history = store
            .history(id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged referral {id} is missing"));
        assert!(
            history.len() as u64 >= *version,
            "{id}: acknowledged version {version}, stored {}",
            history.len()
        );
        let referral = Referral::replay(&history).unwrap();

        let expected = messages_for(&referral, &history).len();
        let pending: BTreeSet<String> = store
            .pending_messages(id)
            .unwrap()
            .into_iter()
            .map(|p| p.id.0)
            .collect();
        let arrived = delivered
            .iter()
            .filter(|m| m.starts_with(id.as_str()))
            .count();
        let accounted: BTreeSet<&String> = pending
            .iter()
            .chain(delivered.iter().filter(|m| m.starts_with(id.as_str())))
            .collect();
        assert_eq!(
            accounted.len(),
            expected,
            "{id}: {expected} messages made, {} pending, {arrived} delivered",
            pending.len()
        );
        messages += expected;

        let mut stored: Vec<_> = all_timers
            .iter()
            .filter(|t| &t.referral == id)
            .cloned()
            .collect();
        let mut wanted = referral.timers();
        stored.sort_by_key(|t| t.kind);
        wanted.sort_by_key(|t| t.kind);
        assert_eq!(stored, wanted, "{id}: timers out of step with the state");
    }
    match store.verify_audit().unwrap() {
        AuditVerification::Intact { .. } => {}
        broken => panic!("audit chain broken after a kill: {broken:?}"),
    }
    // The organisations' load counts are written in the same batches as
    // the events, so what survived agrees with the histories.
    // Every acknowledged referral was offered to org-a, and none has left it.
    // So are the snapshots: each is the state its surviving history
    // replays to.
    let check = store.verify_histories().unwrap();
    let (mismatches, open) = (check.load_mismatches, check.open);
    assert!(
        mismatches.is_empty(),
        "load counts disagree with the histories: {mismatches:?}"
    );
    assert!(
        check.snapshot_mismatches.is_empty(),
        "snapshots disagree with the histories: {:?}",
        check.snapshot_mismatches
    );
    // The outbox's counts are written in the same batches as its messages.
    let drift = store.verify_backlog().unwrap();
    assert!(
        drift.is_empty(),
        "backlog counts disagree with the messages: {drift:?}"
    );
    assert!(
        open >= acked.len() as u64,
        "{open} open referrals counted for {} acknowledged",
        acked.len()
    );
    (acked.len(), messages)
}

#[test]
fn killed_at_random_moments_loses_nothing() {
    let kills: usize = std::env::var("MG_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(12);
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    let acks = work.path().join("acks.log");
    let delivered = work.path().join("delivered.log");
    // A cheap pseudo-random spread of kill times between 150 and 650 ms.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id());
    let mut survived = 0;
    let started = Instant::now();
    for round in 0..kills {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let lifetime = Duration::from_millis(150 + seed % 500);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash::child_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR, &dir)
            .env(ACKS, &acks)
            .env(DELIVERED, &delivered)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(lifetime);
        if let Some(status) = child.try_wait().unwrap() {
            let output = child.wait_with_output().unwrap();
            panic!(
                "round {round}: the child exited on its own ({status}): {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (referrals, messages) = check(&dir, &acks, &delivered);
        survived += 1;
        eprintln!(
            "crash test: kill {}/{kills} after {lifetime:?}: {referrals} acknowledged referrals and {messages} messages intact",
            round + 1
        );
    }
    let (referrals, _) = check(&dir, &acks, &delivered);
    assert!(
        referrals > 0,
        "the child acknowledged nothing: the test would prove nothing"
    );
    eprintln!(
        "crash test: survived {survived} of {kills} kills in {:?}",
        started.elapsed()
    );
    assert_eq!(survived, kills);
}
