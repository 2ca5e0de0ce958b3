//! Durable-store benchmark: what durability costs and how group commit pays for
//! it, and what a deadline sweep costs among a million timers.
//!
//! ```sh
//! cargo bench -p mediation-service --bench durability            # full run
//! cargo bench -p mediation-service --bench durability -- --quick # under a minute
//! ```
//!
//! Every figure is the median of several runs in this one process, next to the
//! raw `write + fdatasync` rate of the same directory, so that ratios hold on a
//! noisy machine. Results and the reading of them are in `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::io::Write;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::fixtures::{FixedRoster, at, sample_bundle, shipped_calendar};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::Referral;
use mediation_core::outbox::messages_for;
use mediation_core::routing::Router;
use mediation_core::store::{Commit, ReferralStore};
use mediation_core::timer::{Timer, TimerKind};
use mediation_service::{Commands, DeadlineEngine, Policies};
use mediation_store::{SledStore, StoreOptions};

const T0: &str = "2025-03-03T09:00:00+08:00";

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn id(prefix: u32, n: u64) -> ReferralId {
    format!("01J{prefix:03}{n:020}").parse().unwrap()
}

/// A realistic commit: a submitted referral (bundle ≈ 2 KiB as JSON), routed,
/// with its offer to the partner, two timers and an audit record.
fn realistic_commit(referral: ReferralId) -> Commit {
    let calendar = shipped_calendar();
    let now = at(T0);
    let (mut r, received) = Referral::receive(referral.clone(), sample_bundle(), now).unwrap();
    let (assignment, reasons) = FixedRoster(vec!["org-a"]).route(&r).unwrap();
    // Routed and delivered at once, so the commit has its two timers.
    let routed = mediation_core::fixtures::route_delivered(
        &r,
        assignment,
        reasons,
        now,
        &calendar,
        &Default::default(),
    )
    .unwrap();
    r.apply_all(&routed);
    let mut events = vec![received];
    events.extend(routed);
    Commit {
        trace: None,
        delivered: None,
        state: r.state(),
        loads: vec![],
        referral,
        expected_version: 0,
        at: now,
        messages: messages_for(&r, &events),
        timers: r.timers(),
        alerts: vec![],
        court_key: None,
        audit: vec![mediation_core::audit::AuditRecord {
            at: now,
            actor: "court:京0105".into(),
            action: "submit_referral".into(),
            referral: Some(r.id().clone()),
            outcome: "ok".into(),
        }],
        events,
    }
}

/// A small commit that only holds timers far in the future, to fill the index.
fn filler_commit(referral: ReferralId, far: Timestamp) -> Commit {
    // A new referral's first commit holds its receipt, bundle and all.
    let (r, received) = Referral::receive(referral.clone(), sample_bundle(), at(T0)).unwrap();
    Commit {
        trace: None,
        delivered: None,
        state: r.state(),
        loads: vec![],
        timers: vec![
            Timer {
                referral: referral.clone(),
                kind: TimerKind::MediationWarning,
                fire_at: far,
            },
            Timer {
                referral: referral.clone(),
                kind: TimerKind::MediationBreach,
                fire_at: far + SignedDuration::from_hours(24),
            },
        ],
        referral,
        expected_version: 0,
        at: at(T0),
        events: vec![received],
        court_key: None,
        messages: vec![],
        alerts: vec![],
        audit: vec![],
    }
}

fn fresh_store(root: &std::path::Path, name: &str) -> SledStore {
    let path = root.join(name);
    let _ = std::fs::remove_dir_all(&path);
    SledStore::open(StoreOptions::new(path)).unwrap()
}

/// Raw `write 4 KiB + fdatasync` per second in `dir`: the disk's own limit.
fn raw_fdatasync_rate(dir: &std::path::Path, n: usize) -> f64 {
    let path = dir.join("raw-fsync");
    let mut file = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 4096];
    let start = Instant::now();
    for _ in 0..n {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(path).unwrap();
    rate
}

async fn commits_per_second(
    store: &SledStore,
    writers: usize,
    total: u64,
    prefix: u32,
) -> (f64, f64) {
    let commits: Vec<Commit> = (0..total)
        .map(|n| realistic_commit(id(prefix, n)))
        .collect();
    let mut per_writer: Vec<Vec<Commit>> = (0..writers).map(|_| Vec::new()).collect();
    for (i, c) in commits.into_iter().enumerate() {
        per_writer[i % writers].push(c);
    }
    let (groups_before, ops_before) = store.commit_stats().snapshot();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for batch in per_writer {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for c in batch {
                store.commit(c).await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let rate = total as f64 / start.elapsed().as_secs_f64();
    let (groups, ops) = store.commit_stats().snapshot();
    (
        rate,
        (ops - ops_before) as f64 / (groups - groups_before).max(1) as f64,
    )
}

async fn fill_timers(store: &SledStore, commits: u64, far: Timestamp) {
    let writers = 64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while n < commits {
                store.commit(filler_commit(id(900, n), far)).await.unwrap();
                n += writers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Median time to find 100 due timers among `total`, and the time of one full
/// sweep that fires them.
async fn sweep_cost(
    root: &std::path::Path,
    total_timers: u64,
    runs: usize,
) -> (Duration, Duration, u64) {
    let store = fresh_store(root, &format!("sweep-{total_timers}"));
    let far = at("2099-01-01T00:00:00+08:00");
    // 50 real referrals, each with a warning and a breach timer: 100 due.
    let clock = Arc::new(ManualClock::new(at(T0)));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let gateway = Arc::new(Commands::new(
        store.clone(),
        Arc::new(RwLock::new(shipped_calendar())),
        Policies::default(),
        Arc::new(FixedRoster(vec!["org-a"])),
        mediation_core::fixtures::courts(),
        dyn_clock,
    ));
    for n in 0..50 {
        let mut bundle = sample_bundle();
        bundle.court_referral_id = format!("sweep-{n}").parse().unwrap();
        gateway.submit(bundle, "court").await.unwrap();
    }
    fill_timers(&store, (total_timers - 100) / 2, far).await;
    clock.set(at("2025-03-07T00:00:00+08:00"));
    let mut finds = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let due = store.due_timers(clock.now(), 1000).unwrap();
        finds.push(start.elapsed().as_secs_f64());
        assert_eq!(due.len(), 100);
    }
    let engine = DeadlineEngine::new(Arc::clone(&gateway));
    let start = Instant::now();
    let report = engine.sweep().await.unwrap();
    let sweep = start.elapsed();
    assert_eq!(report.fired, 100);
    let size = store.size_on_disk().unwrap();
    (Duration::from_secs_f64(median(finds)), sweep, size)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let root = tempfile::Builder::new()
        .prefix("mg-bench-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let (runs, single, concurrent, timers) = if quick {
        (3, 300, 5_000, 100_000)
    } else {
        (3, 2_000, 40_000, 1_000_000)
    };
    println!(
        "durable store benchmark ({} mode), data in {}",
        if quick { "quick" } else { "full" },
        root.path().display()
    );

    let raw = median(
        (0..runs)
            .map(|_| raw_fdatasync_rate(root.path(), single as usize))
            .collect(),
    );
    println!("raw 4 KiB write + fdatasync, 1 writer     : {raw:>9.0} /s (median of {runs})");

    let mut one = Vec::new();
    for r in 0..runs {
        let store = fresh_store(root.path(), &format!("one-{r}"));
        one.push(commits_per_second(&store, 1, single, r as u32).await.0);
    }
    let one = median(one);
    println!(
        "durable commits, 1 writer                 : {one:>9.0} /s   ({:.2}× raw fdatasync)",
        one / raw
    );

    let mut many = Vec::new();
    let mut per_flush = Vec::new();
    for r in 0..runs {
        let store = fresh_store(root.path(), &format!("many-{r}"));
        let (rate, avg) = commits_per_second(&store, 64, concurrent, 100 + r as u32).await;
        many.push(rate);
        per_flush.push(avg);
    }
    let many = median(many);
    println!(
        "durable commits, 64 writers               : {many:>9.0} /s   ({:.1}× 1 writer, {:.1} commits per flush)",
        many / one,
        median(per_flush)
    );

    let (small_find, _, _) = sweep_cost(root.path(), 1_000, 21).await;
    let (find, sweep, size) = sweep_cost(root.path(), timers, 21).await;
    println!(
        "find 100 due among {timers} timers  : {:>9.3} ms (median of 21; among 1,000 timers: {:.3} ms)",
        find.as_secs_f64() * 1e3,
        small_find.as_secs_f64() * 1e3
    );
    println!(
        "sweep firing those 100 timers             : {:>9.1} ms ({:.2} ms per timer, each a durable commit)",
        sweep.as_secs_f64() * 1e3,
        sweep.as_secs_f64() * 1e3 / 100.0
    );
    println!(
        "store size with {timers} timers      : {:>9.1} MiB",
        size as f64 / 1048576.0
    );
}
