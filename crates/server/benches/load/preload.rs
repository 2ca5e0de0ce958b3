//! A store holding a million open referrals, built through the gateway's own
//! service layer (the same commits a court's submissions make), before the
//! gateway process is started on it.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use mediation_core::calendar::Calendar;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::court::Courts;
use mediation_core::routing::Roster;
use mediation_gateway::config::{load_courts, load_roster};
use mediation_service::{Commands, Policies};
use mediation_store::{SledStore, StoreOptions};

use crate::bundles::Templates;
use crate::gateway::repo;

/// Writes `total` open referrals into a new store at `store_dir`, each with
/// its offer waiting in the outbox. The first `overdue` were submitted 30
/// days ago and their offers acknowledged then, so both their acceptance
/// timers (warning and breach) are due when the gateway starts; the rest were
/// submitted now, and their acceptance periods start when the gateway
/// delivers their offers.
pub async fn preload(
    store_dir: &Path,
    roster: &Path,
    templates: &Templates,
    total: u64,
    overdue: u64,
) -> Duration {
    let store = SledStore::open(StoreOptions::new(store_dir)).unwrap();
    let calendar = Calendar::load_dir(&repo().join("config/calendar")).unwrap();
    let courts = Courts::new(load_courts(&repo().join("config/courts.toml")).unwrap());
    let roster = Roster::new(
        load_roster(roster, &courts.current()).unwrap(),
        courts.clone(),
    );
    let clock = Arc::new(ManualClock::new(
        Timestamp::now() - SignedDuration::from_hours(24 * 30),
    ));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let gateway = Arc::new(Commands::new(
        store,
        Arc::new(RwLock::new(calendar)),
        Policies::default(),
        Arc::new(roster),
        courts,
        dyn_clock,
    ));
    let started = Instant::now();
    for n in 0..overdue {
        let submitted = gateway
            .submit(
                templates.domain(n, &format!("PRE-OLD-{n}")),
                "court:court-bj",
            )
            .await
            .unwrap();
        // Their platforms took the offers then: the acceptance periods ran
        // from 30 days ago, so their timers are due.
        if let Some(a) = submitted.referral.assignment() {
            gateway
                .offer_delivered(submitted.referral.id(), &a.organisation, clock.now())
                .await
                .unwrap();
        }
    }
    clock.set(Timestamp::now());
    let done = Arc::new(AtomicU64::new(overdue));
    let writers = 64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let gateway = Arc::clone(&gateway);
        let done = Arc::clone(&done);
        let templates = templates.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = overdue + w;
            while n < total {
                gateway
                    .submit(templates.domain(n, &format!("PRE-{n}")), "court:court-bj")
                    .await
                    .unwrap();
                done.fetch_add(1, Ordering::Relaxed);
                n += writers;
            }
        }));
    }
    let progress = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(10)).await;
                let n = done.load(Ordering::Relaxed);
                println!(
                    "  preloading: {n} of {total} referrals ({:.0}/s)",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    for t in tasks {
        t.await.unwrap();
    }
    progress.abort();
    started.elapsed()
}
