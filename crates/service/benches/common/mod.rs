//! What the benchmarks over a million referrals share: one agreed
//! referral's history (received, routed, offered, accepted, agreed; a 2 KiB
//! bundle), copies of it moved in time under their own ids, and the store
//! filled with them by 64 writers at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use jiff::SignedDuration;
use mediation_core::deadline::DeadlinePolicy;
use mediation_core::fixtures::{
    at, mediator, organisation, route_delivered, sample_agreement, sample_bundle, shipped_calendar,
};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Assignment, Change, Event, Referral};
use mediation_core::partner::Partner;
use mediation_core::store::{Commit, ReferralStore};
use mediation_store::SledStore;

/// When the template referral is received: a Monday.
pub(crate) const T0: &str = "2025-03-03T09:00:00+08:00";

/// One agreed referral's whole history, received at [`T0`] as `id`.
pub(crate) fn template(id: ReferralId) -> Vec<Event> {
    let calendar = shipped_calendar();
    let policy = DeadlinePolicy::default();
    let org = organisation("ccpit-bj-01");
    let start = at(T0);
    let (mut r, received) = Referral::receive(id, sample_bundle(), start).unwrap();
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

/// The template as `referral`'s first commit, moved `days` days on.
pub(crate) fn commit(template: &[Event], referral: ReferralId, days: i64) -> Commit {
    let shift = SignedDuration::from_hours(24 * days);
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

/// Fills `store` with `total` copies of the template: copy `n` is
/// `id(n)`'s, moved `n % spread_days` days on. A progress line every 15 s.
pub(crate) async fn fill(
    store: &SledStore,
    total: u64,
    id: fn(u64) -> ReferralId,
    spread_days: u64,
) {
    let template = Arc::new(template(id(0)));
    let started = Instant::now();
    let done = Arc::new(AtomicU64::new(0));
    let progress = {
        let done = Arc::clone(&done);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(15)).await;
                let n = done.load(Ordering::Relaxed);
                println!(
                    "  filling: {n} of {total} referrals ({:.0}/s)",
                    n as f64 / started.elapsed().as_secs_f64()
                );
            }
        })
    };
    let writers = 64;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let template = Arc::clone(&template);
        let done = Arc::clone(&done);
        tasks.push(tokio::spawn(async move {
            let mut n = w;
            while n < total {
                let days = (n % spread_days) as i64;
                store.commit(commit(&template, id(n), days)).await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
                n += writers;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    progress.abort();
    println!(
        "filled {total} referrals in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
