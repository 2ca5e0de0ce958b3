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

use mediation_core::audit::AuditVerification;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::fixtures::{FixedRoster, at, sample_bundle, shipped_calendar};
use mediation_core::ids::ReferralId;
use mediation_core::retention::RetentionPolicy;
use mediation_service::{Commands, Policies, Retention, RetentionOptions};
use mediation_store::{SledStore, StoreOptions};

mod common;

/// The run's clock: every referral of the fill is more than 180 days old.
const NOW: &str = "2026-12-07T09:00:00+08:00";

fn id(n: u64) -> ReferralId {
    format!("01JR{n:022}").parse().unwrap()
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
    common::fill(&store, total, id, 200).await;
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
