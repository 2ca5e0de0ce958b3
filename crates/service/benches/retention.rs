//! What purging a million referrals' personal data costs, and what it costs
//! the calls made meanwhile.
//!
//! ```sh
//! cargo bench -p mediation-service --bench retention            # 1,000,000 referrals
//! cargo bench -p mediation-service --bench retention -- --quick # 100,000
//! ```
//!
//! The store is filled with agreed referrals spread over 2025 (received,
//! routed, offered, accepted, agreed; a 2 KiB bundle), all past the policy's
//! 180 days at the run's clock. Calls are 4 clients, each submitting a new
//! referral (a synced commit) and reading an old one (snapshot and bundle),
//! with 40 ms between calls (about 100 submissions a second). They run for a while alone, then again while
//! one retention pass purges every referral as `serve` runs it (batches of
//! 500 with a 20 ms pause, 16 referrals at once). The figures: the pass's
//! time and rate, and each kind of call's median and p99 in both phases.
//! Results and the reading of them are in `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use jiff::SignedDuration;
use mediation_core::audit::AuditVerification;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::deadline::DeadlinePolicy;
use mediation_core::fixtures::{
    FixedRoster, at, mediator, organisation, route_delivered, sample_agreement, sample_bundle,
    shipped_calendar,
};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Assignment, Change, Event, Referral};
use mediation_core::partner::Partner;
use mediation_core::retention::RetentionPolicy;
use mediation_core::store::{Commit, ReferralStore};
use mediation_service::{Commands, Policies, Retention, RetentionOptions};
use mediation_store::{SledStore, StoreOptions};

const T0: &str = "2025-03-03T09:00:00+08:00";
const NOW: &str = "2026-12-07T09:00:00+08:00";

fn id(n: u64) -> ReferralId {
    format!("01JR{n:022}").parse().unwrap()
}

/// One agreed referral's history, received at `T0`.
fn template() -> Vec<Event> {
    let calendar = shipped_calendar();
    let policy = DeadlinePolicy::default();
    let org = organisation("ccpit-bj-01");
    let start = at(T0);
    let (mut r, received) = Referral::receive(id(0), sample_bundle(), start).unwrap();
    let mut history = vec![received];
    let mut step = |r: &mut Referral, events: Vec<Event>| {
        r.apply_all(&events);
        history.extend(events);
    };
    let assignment = Assignment {
        partner: Partner::Ccpit,
        organisation: org.clone(),
        mediator: None,
    };
    let routed = route_delivered(&r, assignment, vec![], start, &calendar, &policy).unwrap();
    step(&mut r, routed);
    let accepted_at = start + SignedDuration::from_hours(26);
    let accepted = r
        .accept(&org, None, None, accepted_at, &calendar, &policy)
        .unwrap();
    step(&mut r, accepted);
    let agreed_at = start + SignedDuration::from_hours(24 * 12);
    let agreement = sample_agreement(&org, &mediator("m-007"), agreed_at);
    let agreed = r.record_agreement(&org, agreement, agreed_at).unwrap();
    step(&mut r, agreed);
    history
}

/// Referral `n`: the template moved `n % 200` days on, under its own id.
fn commit(template: &[Event], n: u64) -> Commit {
    let shift = SignedDuration::from_hours(24 * (n % 200) as i64);
    let referral = id(n);
    let events: Vec<Event> = template
        .iter()
        .map(|e| {
            let mut e = e.clone();
            e.at += shift;
            if let Change::Received { id, .. } = &mut e.change {
                *id = referral.clone();
            }
            e
        })
        .collect();
    Commit {
        trace: None,
        delivered: None,
        state: Referral::replay(&events).unwrap().state(),
        loads: vec![],
        referral,
        expected_version: 0,
        at: events[0].at,
        events,
        court_key: None,
        messages: vec![],
        timers: vec![],
        alerts: vec![],
        audit: vec![],
    }
}

async fn fill(store: &SledStore, total: u64) {
    let template = Arc::new(template());
    let started = Instant::now();
    let writers = 64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let template = Arc::clone(&template);
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while n < total {
                store.commit(commit(&template, n)).await.unwrap();
                n += writers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "filled {total} agreed referrals in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Latencies of the two kinds of call, in milliseconds.
#[derive(Default)]
struct Calls {
    submit: Vec<f64>,
    read: Vec<f64>,
}

fn percentile(xs: &mut [f64], p: f64) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[((xs.len() as f64 - 1.0) * p).round() as usize]
}

/// How many clients call at once, each waiting 40 ms between calls: about
/// 100 submissions a second, far above a court system's rate.
const CLIENTS: u64 = 4;

/// [`CLIENTS`] clients calling until `stop`: a submission, then a read of an
/// old referral, 40 ms apart.
async fn call_until(
    gateway: &Arc<Commands<SledStore>>,
    total: u64,
    phase: &str,
    stop: &Arc<AtomicBool>,
) -> Calls {
    let calls = Arc::new(Mutex::new(Calls::default()));
    let next = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (gateway, calls, next, stop) = (
            Arc::clone(gateway),
            Arc::clone(&calls),
            Arc::clone(&next),
            Arc::clone(stop),
        );
        let phase = phase.to_owned();
        clients.push(tokio::spawn(async move {
            let mut k = c;
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let mut bundle = sample_bundle();
                bundle.court_referral_id = format!("{phase}-{n}").parse().unwrap();
                let started = Instant::now();
                gateway.submit(bundle, "court").await.unwrap();
                let submitted = started.elapsed().as_secs_f64() * 1e3;
                k = (k * 2_654_435_761 + 1) % total;
                let started = Instant::now();
                gateway.referral(&id(k)).await.unwrap().unwrap();
                let read = started.elapsed().as_secs_f64() * 1e3;
                {
                    let mut calls = calls.lock().unwrap();
                    calls.submit.push(submitted);
                    calls.read.push(read);
                }
                tokio::time::sleep(Duration::from_millis(40)).await;
            }
        }));
    }
    for c in clients {
        c.await.unwrap();
    }
    Arc::try_unwrap(calls)
        .ok()
        .expect("every client is done")
        .into_inner()
        .unwrap()
}

fn report(phase: &str, calls: &mut Calls) -> (f64, f64) {
    let (s50, s99) = (
        percentile(&mut calls.submit, 0.5),
        percentile(&mut calls.submit, 0.99),
    );
    let (r50, r99) = (
        percentile(&mut calls.read, 0.5),
        percentile(&mut calls.read, 0.99),
    );
    println!(
        "{phase:<22} {:>6} submissions: median {s50:6.2} ms, p99 {s99:7.2} ms | {:>6} reads: median {r50:5.2} ms, p99 {r99:6.2} ms",
        calls.submit.len(),
        calls.read.len()
    );
    (s99, r99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The pass's own progress lines, as `serve` logs them.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("mediation_service=info"))
        .init();
    let quick = std::env::args().any(|a| a == "--quick");
    let total = std::env::var("MG_RETENTION_REFERRALS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let root = tempfile::Builder::new()
        .prefix("mg-retention-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let store = SledStore::open(StoreOptions::new(root.path().join("store"))).unwrap();
    fill(&store, total).await;
    let clock = Arc::new(ManualClock::new(at(NOW)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let gateway = Arc::new(Commands::new(
        store.clone(),
        Arc::new(RwLock::new(shipped_calendar())),
        Policies::default(),
        Arc::new(FixedRoster(vec!["org-a"])),
        mediation_core::fixtures::courts(),
        dyn_clock,
    ));

    // The calls alone, for as long as the pass will take (guessed from a
    // first sample), then the calls during the pass.
    let alone = Duration::from_secs(if quick || total < 100_000 { 20 } else { 60 });
    let stop = Arc::new(AtomicBool::new(false));
    let stopper = {
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            tokio::time::sleep(alone).await;
            stop.store(true, Ordering::Relaxed);
        })
    };
    let mut without = call_until(&gateway, total, "alone", &stop).await;
    stopper.await.unwrap();

    let retention = Retention::new(
        Arc::clone(&gateway),
        None,
        RetentionOptions {
            policy: RetentionPolicy::default(),
            ..RetentionOptions::default()
        },
    );
    let stop = Arc::new(AtomicBool::new(false));
    let during = {
        let (gateway, stop) = (Arc::clone(&gateway), Arc::clone(&stop));
        tokio::spawn(async move { call_until(&gateway, total, "during", &stop).await })
    };
    let started = Instant::now();
    let pass = retention.pass().await.unwrap();
    let took = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut with = during.await.unwrap();
    assert_eq!(pass.purged, total, "{pass:?}");
    assert_eq!(pass.failed, 0, "{pass:?}");
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { .. }
    ));

    println!("\nsummary ({total} agreed referrals, every one past its period)");
    println!(
        "one pass: {took:.1} s, {} purged = {:.0} referrals/s ({} examined: {} submitted during the pass, open)",
        pass.purged,
        pass.purged as f64 / took,
        pass.examined,
        pass.examined - pass.purged,
    );
    let (s_alone, r_alone) = report("calls without a pass", &mut without);
    let (s_during, r_during) = report("calls during the pass", &mut with);
    println!(
        "p99 during ÷ without: submissions {:.2}×, reads {:.2}×",
        s_during / s_alone,
        r_during / r_alone
    );
    println!(
        "store size after: {} MiB",
        store.size_on_disk().unwrap() / (1024 * 1024)
    );
}
