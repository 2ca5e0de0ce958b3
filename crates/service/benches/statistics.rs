//! What a month's statistics cost in a store of a million referrals: read
//! through the store's activity index (only the referrals with an event in
//! the month), next to reading every history as the figures were first
//! computed. Both compute the same figures; the run checks that they agree.
//!
//! ```sh
//! cargo bench -p mediation-service --bench statistics            # 1,000,000 referrals
//! cargo bench -p mediation-service --bench statistics -- --quick # 100,000
//! ```
//!
//! The referrals are spread over a year, one received each day in turn,
//! each with a whole history (received, routed, offer delivered, accepted,
//! agreement; a 2 KiB bundle), so a month holds about a twelfth of them.
//! Results and the reading of them are in `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use mediation_core::fixtures::at;
use mediation_core::ids::ReferralId;
use mediation_core::statistics::{Period, Statistics};
use mediation_store::{SledStore, StoreOptions};

mod common;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    xs[xs.len() / 2]
}

fn id(n: u64) -> ReferralId {
    format!("01JS{n:022}").parse().unwrap()
}

/// The month's figures from every history in the store.
fn every_history(store: &SledStore, period: Period) -> (Statistics, u64) {
    let mut statistics = Statistics::new(period);
    let mut read = 0;
    let mut after = None;
    loop {
        let page = store.referral_ids(after.as_ref(), 1_000).unwrap();
        let Some(last) = page.last().cloned() else {
            break;
        };
        for id in &page {
            statistics.add(&store.history(id).unwrap().unwrap());
            read += 1;
        }
        after = Some(last);
    }
    (statistics, read)
}

/// The month's figures from the referrals the activity index names.
fn active_only(store: &SledStore, period: Period) -> (Statistics, u64) {
    let mut statistics = Statistics::new(period);
    let mut read = 0;
    for id in store.referrals_active(period.from, period.to).unwrap() {
        statistics.add(&store.history(&id).unwrap().unwrap());
        read += 1;
    }
    (statistics, read)
}

/// The figures as text, to check the two ways agree.
fn summary(statistics: &Statistics) -> String {
    format!("{:?}", statistics.partners())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (total, runs) = if quick { (100_000, 3) } else { (1_000_000, 3) };
    let root = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(root.path().join("store"))).unwrap();
    common::fill(&store, total, id, 365).await;
    // August: received from mid-July to the end of August, each a dozen
    // days' history, so about a twelfth of the referrals have an event in it.
    let period = Period {
        from: at("2025-08-01T00:00:00+08:00"),
        to: at("2025-09-01T00:00:00+08:00"),
    };
    let mut scans = Vec::new();
    let mut indexed = Vec::new();
    let (mut read_all, mut read_active) = (0, 0);
    for run in 0..runs {
        let started = Instant::now();
        let (all, read) = every_history(&store, period);
        scans.push(started.elapsed().as_secs_f64());
        read_all = read;
        let started = Instant::now();
        let (active, read) = active_only(&store, period);
        indexed.push(started.elapsed().as_secs_f64());
        read_active = read;
        assert_eq!(summary(&all), summary(&active), "the same figures");
        println!(
            "run {run}: every history {:.2} s ({read_all} read), activity index {:.3} s ({read_active} read)",
            scans[run], indexed[run]
        );
    }
    let (scan, index) = (median(scans), median(indexed));
    let size = fs_size(&root.path().join("store"));
    println!("\nsummary ({total} referrals over a year; medians of {runs} runs)");
    println!("one month's statistics, every history read: {scan:.2} s ({read_all} referrals read)");
    println!(
        "one month's statistics, activity index:     {index:.3} s ({read_active} referrals read) = {:.1}× faster",
        scan / index
    );
    println!("store size: {} MiB", size / (1024 * 1024));
}

fn fs_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => fs_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
