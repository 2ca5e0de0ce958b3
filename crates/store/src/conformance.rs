//! The conformance suite of the storage traits: what any backend must do, run
//! against a fresh store per case. The sled store runs it in its tests; another
//! backend would run the same [`run_all`].
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use jiff::{SignedDuration, Timestamp};
use mediation_core::alert::{Acknowledgement, AlertKind, AlertRecord};
use mediation_core::audit::{AuditRecord, AuditVerification};
use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Change, Event, Referral, ReferralState};
use mediation_core::outbox::{Destination, OutboundMessage};
use mediation_core::partner::Partner;
use mediation_core::store::{
    AlertLog, AuditLog, Commit, CourtKey, DeliveryOutcome, OutboxStore, ReferralStore, StoreError,
};
use mediation_core::timer::{Timer, TimerKind};

/// Everything a backend implements.
pub trait FullStore: ReferralStore + OutboxStore + AlertLog + AuditLog {}
impl<T: ReferralStore + OutboxStore + AlertLog + AuditLog> FullStore for T {}

const T0: &str = "2025-03-03T09:00:00+08:00";

pub fn id(n: u32) -> ReferralId {
    format!("01JD{n:022}").parse().unwrap()
}

fn received(referral: &ReferralId) -> Event {
    Event {
        at: at(T0),
        change: Change::Received {
            id: referral.clone(),
            bundle: Box::new(sample_bundle()),
        },
    }
}

fn note(text: &str) -> Event {
    Event {
        at: at(T0),
        change: Change::Recalled {
            reason: mediation_core::text::Narrative::parse(text).unwrap(),
        },
    }
}

pub fn message(referral: &ReferralId, destination: Destination, text: &str) -> OutboundMessage {
    OutboundMessage {
        destination,
        referral: referral.clone(),
        court_referral_id: "court-ref".parse().unwrap(),
        event: note(text),
        bundle: None,
        holder: None,
    }
}

pub fn ccpit() -> Destination {
    Destination::Partner(Partner::Ccpit)
}

pub fn audit(action: &str) -> AuditRecord {
    AuditRecord {
        at: at(T0),
        actor: "court:京0105".into(),
        action: action.into(),
        referral: None,
        outcome: "ok".into(),
    }
}

pub fn alert(detail: &str) -> AlertRecord {
    AlertRecord {
        kind: AlertKind::DeadLetter,
        raised_at: at(T0),
        referral: None,
        due_at: None,
        detail: detail.into(),
        subject: None,
    }
}

/// The state of a referral after its receipt and `version - 1` notes: what
/// the suite's commits carry as their snapshot.
fn state_at(referral: &ReferralId, version: u64) -> ReferralState {
    let mut events = vec![received(referral)];
    events.extend((1..version).map(|_| note("state")));
    Referral::replay(&events).unwrap().state()
}

pub fn new_referral(referral: &ReferralId) -> Commit {
    Commit {
        trace: None,
        delivered: None,
        state: state_at(referral, 1),
        loads: vec![],
        referral: referral.clone(),
        expected_version: 0,
        at: at(T0),
        events: vec![received(referral)],
        court_key: Some(CourtKey {
            court: sample_bundle().court,
            court_referral_id: format!("court-{referral}").parse().unwrap(),
            filed_by: None,
        }),
        messages: vec![],
        timers: vec![],
        alerts: vec![],
        audit: vec![audit("submit_referral")],
    }
}

pub fn follow_up(referral: &ReferralId, version: u64, text: &str) -> Commit {
    Commit {
        trace: None,
        delivered: None,
        state: state_at(referral, version + 1),
        loads: vec![],
        referral: referral.clone(),
        expected_version: version,
        at: at(T0),
        events: vec![note(text)],
        court_key: None,
        messages: vec![],
        timers: vec![],
        alerts: vec![],
        audit: vec![],
    }
}

fn texts(pending: &[mediation_core::store::PendingDelivery]) -> Vec<String> {
    pending
        .iter()
        .map(|p| match &p.message.event.change {
            Change::Recalled { reason } => reason.to_string(),
            other => other.name().to_owned(),
        })
        .collect()
}

pub fn later(minutes: i64) -> Timestamp {
    at(T0)
        .checked_add(SignedDuration::from_mins(minutes))
        .unwrap()
}

/// Runs every case, each on a fresh store from `fresh` (asynchronous, so
/// that a backend across a network can connect and make a clean database),
/// naming each case as it starts so that a failure says which.
pub async fn run_all<S: FullStore, F, Fut>(mut fresh: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    eprintln!("conformance: commits_append_to_the_history");
    commits_append_to_the_history(fresh().await).await;
    eprintln!("conformance: the_snapshot_is_the_state_the_history_replays_to");
    the_snapshot_is_the_state_the_history_replays_to(fresh().await).await;
    eprintln!("conformance: a_commit_records_a_delivery_with_its_events");
    a_commit_records_a_delivery_with_its_events(fresh().await).await;
    eprintln!("conformance: a_message_carries_the_trace_of_the_call_that_made_it");
    a_message_carries_the_trace_of_the_call_that_made_it(fresh().await).await;
    eprintln!("conformance: a_stale_version_writes_nothing");
    a_stale_version_writes_nothing(fresh().await).await;
    eprintln!("conformance: a_court_key_is_claimed_once");
    a_court_key_is_claimed_once(fresh().await).await;
    eprintln!("conformance: timers_are_replaced_and_found_by_due_time");
    timers_are_replaced_and_found_by_due_time(fresh().await).await;
    eprintln!("conformance: a_lane_delivers_in_order_one_head_at_a_time");
    a_lane_delivers_in_order_one_head_at_a_time(fresh().await).await;
    eprintln!("conformance: lanes_are_independent");
    lanes_are_independent(fresh().await).await;
    eprintln!("conformance: a_full_destination_does_not_hide_the_others");
    a_full_destination_does_not_hide_the_others(fresh().await).await;
    eprintln!("conformance: a_retry_is_scheduled_and_remembered");
    a_retry_is_scheduled_and_remembered(fresh().await).await;
    eprintln!("conformance: a_dead_letter_blocks_its_lane_until_replayed");
    a_dead_letter_blocks_its_lane_until_replayed(fresh().await).await;
    eprintln!("conformance: alerts_resume_from_a_cursor");
    alerts_resume_from_a_cursor(fresh().await).await;
    eprintln!("conformance: alerts_are_raised_alone_and_acknowledged_once");
    alerts_are_raised_alone_and_acknowledged_once(fresh().await).await;
    eprintln!("conformance: the_audit_chain_verifies");
    the_audit_chain_verifies(fresh().await).await;
    eprintln!("conformance: backlog_counts_per_destination");
    backlog_counts_per_destination(fresh().await).await;
    eprintln!("conformance: unknown_messages_are_not_found");
    unknown_messages_are_not_found(fresh().await).await;
    eprintln!("conformance: referral_ids_page_in_order");
    referral_ids_page_in_order(fresh().await).await;
    eprintln!("conformance: referrals_are_found_by_when_they_had_events");
    referrals_are_found_by_when_they_had_events(fresh().await).await;
    eprintln!("conformance: loads_are_kept_with_each_commit");
    loads_are_kept_with_each_commit(fresh().await).await;
}

pub async fn commits_append_to_the_history<S: FullStore>(store: S) {
    let r = id(1);
    assert_eq!(store.history(&r).await.unwrap(), None);
    assert_eq!(store.commit(new_referral(&r)).await.unwrap().version, 1);
    assert_eq!(
        store
            .commit(follow_up(&r, 1, "second"))
            .await
            .unwrap()
            .version,
        2
    );
    let history = store.history(&r).await.unwrap().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], received(&r));
    assert_eq!(history[1], note("second"));
}

pub async fn the_snapshot_is_the_state_the_history_replays_to<S: FullStore>(store: S) {
    let r = id(30);
    assert_eq!(store.referral(&r).await.unwrap(), None);
    store.commit(new_referral(&r)).await.unwrap();
    let first = store.referral(&r).await.unwrap().unwrap();
    assert_eq!(first, Referral::replay(&[received(&r)]).unwrap());
    store.commit(follow_up(&r, 1, "second")).await.unwrap();
    store.commit(follow_up(&r, 2, "third")).await.unwrap();
    let referral = store.referral(&r).await.unwrap().unwrap();
    let history = store.history(&r).await.unwrap().unwrap();
    assert_eq!(referral.version(), 3);
    assert_eq!(referral, Referral::replay(&history).unwrap());
    // The bundle is the one received, read back whole.
    assert_eq!(referral.bundle(), &sample_bundle());
    // A commit whose state does not follow from its version is refused
    // before anything is written.
    let mut wrong = follow_up(&r, 3, "fourth");
    wrong.state = state_at(&r, 9);
    assert!(matches!(
        store.commit(wrong).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.history(&r).await.unwrap().unwrap().len(), 3);
    // A new referral's first commit must hold its receipt, which has the
    // bundle.
    let s = id(31);
    let mut headless = follow_up(&s, 0, "no receipt");
    headless.state = state_at(&s, 1);
    assert!(matches!(
        store.commit(headless).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.referral(&s).await.unwrap(), None);
}

pub async fn a_commit_records_a_delivery_with_its_events<S: FullStore>(store: S) {
    let r = id(40);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "offer"), message(&r, ccpit(), "then")];
    store.commit(commit).await.unwrap();
    let offer = store.due_deliveries(later(1), 10).await.unwrap();
    assert_eq!(texts(&offer), ["offer"]);
    // The receipt of the offer, with the offer recorded delivered in it.
    let mut receipt = follow_up(&r, 1, "received");
    receipt.delivered = Some(offer[0].id.clone());
    store.commit(receipt).await.unwrap();
    assert_eq!(
        texts(&store.due_deliveries(later(1), 10).await.unwrap()),
        ["then"]
    );
    assert_eq!(texts(&store.pending_messages(&r).await.unwrap()), ["then"]);
    // A delivery recorded already is not an error: the commit stands.
    let mut again = follow_up(&r, 2, "again");
    again.delivered = Some(offer[0].id.clone());
    assert_eq!(store.commit(again).await.unwrap().version, 3);
    // A commit refused records no delivery either.
    let then = store.due_deliveries(later(1), 10).await.unwrap()[0]
        .id
        .clone();
    let mut stale = follow_up(&r, 1, "stale");
    stale.delivered = Some(then);
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(
        texts(&store.due_deliveries(later(1), 10).await.unwrap()),
        ["then"]
    );
}

pub async fn a_message_carries_the_trace_of_the_call_that_made_it<S: FullStore>(store: S) {
    let traced = id(41);
    let trace = mediation_core::outbox::TraceContext::parse(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    )
    .unwrap();
    let mut commit = new_referral(&traced);
    commit.trace = Some(trace.clone());
    let court = Destination::Court(sample_bundle().court);
    commit.messages = vec![
        message(&traced, ccpit(), "offer"),
        message(&traced, court.clone(), "notice"),
    ];
    store.commit(commit).await.unwrap();
    // A command of the gateway's own (a timer) has no call and no trace.
    let untraced = id(42);
    let mut commit = new_referral(&untraced);
    commit.messages = vec![message(&untraced, ccpit(), "own")];
    store.commit(commit).await.unwrap();
    let due = store.due_deliveries(later(1), 10).await.unwrap();
    assert_eq!(due.len(), 3);
    for pending in &due {
        let expected = (pending.message.referral == traced).then(|| trace.clone());
        assert_eq!(pending.trace, expected, "{}", pending.id);
    }
    let waiting = store.pending_messages(&traced).await.unwrap();
    assert!(waiting.iter().all(|p| p.trace.as_ref() == Some(&trace)));
    // Delivered, the message and its trace are gone together; a later
    // message of the lane has its own.
    let offer = due
        .iter()
        .find(|p| p.message.referral == traced && p.message.destination == ccpit())
        .unwrap();
    let mut receipt = follow_up(&traced, 1, "received");
    receipt.delivered = Some(offer.id.clone());
    receipt.messages = vec![message(&traced, ccpit(), "untraced follow-up")];
    store.commit(receipt).await.unwrap();
    let waiting = store.pending_messages(&traced).await.unwrap();
    assert_eq!(texts(&waiting), ["notice", "untraced follow-up"]);
    assert_eq!(waiting[0].trace.as_ref(), Some(&trace));
    assert_eq!(waiting[1].trace, None);
}

pub async fn a_stale_version_writes_nothing<S: FullStore>(store: S) {
    let r = id(2);
    store.commit(new_referral(&r)).await.unwrap();
    let mut stale = follow_up(&r, 0, "stale");
    stale
        .messages
        .push(message(&r, ccpit(), "must not be sent"));
    stale.timers.push(Timer {
        referral: r.clone(),
        kind: TimerKind::AcceptanceBreach,
        fire_at: at(T0),
    });
    stale.alerts.push(alert("must not be raised"));
    stale.audit.push(audit("must not be audited"));
    let err = store.commit(stale).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::VersionConflict {
            referral: r.clone(),
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(store.history(&r).await.unwrap().unwrap().len(), 1);
    assert!(
        store
            .due_deliveries(later(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.due_timers(later(60), 10).await.unwrap().is_empty());
    assert!(store.alerts_after(0, 10).await.unwrap().is_empty());
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 1 }
    );
}

pub async fn a_court_key_is_claimed_once<S: FullStore>(store: S) {
    let (first, second) = (id(3), id(4));
    let commit = new_referral(&first);
    let key = commit.court_key.clone().unwrap();
    store.commit(commit).await.unwrap();
    assert_eq!(
        store.find_by_court_key(&key).await.unwrap(),
        Some(first.clone())
    );
    let mut again = new_referral(&second);
    again.court_key = Some(key.clone());
    let err = store.commit(again).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::DuplicateCourtReferral {
            existing: first.clone()
        }
    );
    assert_eq!(store.history(&second).await.unwrap(), None);
    // The same court and id filed by a platform is another key: a platform's
    // intakes neither collide with nor find a court's referrals.
    let platform_key = CourtKey {
        filed_by: Some(mediation_core::partner::Partner::Ccpit),
        ..key.clone()
    };
    assert_eq!(store.find_by_court_key(&platform_key).await.unwrap(), None);
    let mut intake = new_referral(&second);
    intake.court_key = Some(platform_key.clone());
    store.commit(intake).await.unwrap();
    assert_eq!(
        store.find_by_court_key(&platform_key).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.find_by_court_key(&key).await.unwrap(), Some(first));
    let labour_key = CourtKey {
        filed_by: Some(mediation_core::partner::Partner::LabourArbitration),
        ..key
    };
    assert_eq!(store.find_by_court_key(&labour_key).await.unwrap(), None);
}

pub async fn timers_are_replaced_and_found_by_due_time<S: FullStore>(store: S) {
    let (a, b) = (id(5), id(6));
    let mut commit = new_referral(&a);
    commit.timers = vec![
        Timer {
            referral: a.clone(),
            kind: TimerKind::AcceptanceWarning,
            fire_at: later(10),
        },
        Timer {
            referral: a.clone(),
            kind: TimerKind::AcceptanceBreach,
            fire_at: later(20),
        },
    ];
    store.commit(commit).await.unwrap();
    let mut commit = new_referral(&b);
    commit.timers = vec![Timer {
        referral: b.clone(),
        kind: TimerKind::MediationBreach,
        fire_at: later(15),
    }];
    store.commit(commit).await.unwrap();

    assert!(store.due_timers(later(9), 10).await.unwrap().is_empty());
    assert_eq!(store.next_timer_at().await.unwrap(), Some(later(10)));
    let due = store.due_timers(later(15), 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|t| (t.referral.clone(), t.kind))
            .collect::<Vec<_>>(),
        [
            (a.clone(), TimerKind::AcceptanceWarning),
            (b.clone(), TimerKind::MediationBreach)
        ]
    );
    assert_eq!(
        store.due_timers(later(60), 1).await.unwrap().len(),
        1,
        "the limit is respected"
    );

    // A commit replaces all of the referral's timers, and only its own.
    let mut replace = follow_up(&a, 1, "warned");
    replace.timers = vec![Timer {
        referral: a.clone(),
        kind: TimerKind::AcceptanceBreach,
        fire_at: later(20),
    }];
    store.commit(replace).await.unwrap();
    let due: Vec<_> = store
        .due_timers(later(60), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        due,
        [TimerKind::MediationBreach, TimerKind::AcceptanceBreach]
    );
    store.commit(follow_up(&a, 2, "done")).await.unwrap();
    let due: Vec<_> = store
        .due_timers(later(60), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.referral)
        .collect();
    assert_eq!(due, [b]);
}

pub async fn a_lane_delivers_in_order_one_head_at_a_time<S: FullStore>(store: S) {
    let r = id(7);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "one"), message(&r, ccpit(), "two")];
    store.commit(commit).await.unwrap();
    let mut next = follow_up(&r, 1, "x");
    next.messages = vec![message(&r, ccpit(), "three")];
    store.commit(next).await.unwrap();

    let mut seen = Vec::new();
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..3 {
        let due = store.due_deliveries(later(1), 10).await.unwrap();
        assert_eq!(due.len(), 1, "only the head of a lane is due");
        // The relay leaves the head out by its id, or its destination by
        // giving it no room, and nothing else takes its place.
        let head = due[0].id.clone();
        let by_id = store
            .due_deliveries_except(later(1), 10, &|_| usize::MAX, &|_, id| *id == head)
            .await
            .unwrap();
        assert!(by_id.is_empty(), "{by_id:?}");
        let destination = ccpit().key();
        let no_room = |d: &str| if d == destination { 0 } else { usize::MAX };
        let by_destination = store
            .due_deliveries_except(later(1), 10, &no_room, &|_, _| false)
            .await
            .unwrap();
        assert!(by_destination.is_empty(), "{by_destination:?}");
        assert_eq!(
            store
                .due_deliveries_except(later(1), 10, &|_| 1, &|d, _| d != destination)
                .await
                .unwrap(),
            due
        );
        seen.extend(texts(&due));
        assert!(ids.insert(due[0].id.clone()), "message ids are unique");
        store
            .record_delivery(&due[0].id, DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    assert_eq!(seen, ["one", "two", "three"]);
    assert!(store.due_deliveries(later(1), 10).await.unwrap().is_empty());
    assert_eq!(store.next_delivery_at().await.unwrap(), None);
}

pub async fn lanes_are_independent<S: FullStore>(store: S) {
    let (a, b) = (id(8), id(9));
    let court = Destination::Court(sample_bundle().court);
    let mut commit = new_referral(&a);
    commit.messages = vec![
        message(&a, ccpit(), "a-partner"),
        message(&a, court.clone(), "a-court"),
    ];
    store.commit(commit).await.unwrap();
    let mut commit = new_referral(&b);
    commit.messages = vec![message(&b, ccpit(), "b-partner")];
    store.commit(commit).await.unwrap();
    let mut due = texts(&store.due_deliveries(later(1), 10).await.unwrap());
    due.sort();
    assert_eq!(due, ["a-court", "a-partner", "b-partner"]);
}

/// The relay skips a destination at its cap; the heads queued behind that
/// destination's must still be found, or one slow court would hold every
/// partner's offers back.
pub async fn a_full_destination_does_not_hide_the_others<S: FullStore>(store: S) {
    let court = Destination::Court(sample_bundle().court);
    for n in 0..20 {
        let r = id(100 + n);
        let mut commit = new_referral(&r);
        commit.messages = vec![message(&r, court.clone(), "court")];
        store.commit(commit).await.unwrap();
    }
    let last = id(200);
    let mut commit = new_referral(&last);
    commit.messages = vec![message(&last, ccpit(), "offer")];
    store.commit(commit).await.unwrap();
    let court_key = court.key();
    // The court has no room: its heads are not even read.
    let due = store
        .due_deliveries_except(
            later(1),
            4,
            &|d| if d == court_key { 0 } else { usize::MAX },
            &|_, _| false,
        )
        .await
        .unwrap();
    assert_eq!(texts(&due), ["offer"]);
    // The court's heads in flight are skipped, and its room still bounds
    // what it gets; the offer is not hidden behind them.
    let due = store
        .due_deliveries_except(later(1), 4, &|_| 2, &|d, id| {
            d == court_key && id.0.ends_with(&format!("{:016x}", 1))
        })
        .await
        .unwrap();
    assert_eq!(texts(&due), ["court", "court", "offer"]);
    // With nothing skipped, `limit` still bounds what is returned.
    assert_eq!(store.due_deliveries(later(1), 4).await.unwrap().len(), 4);
}

pub async fn a_retry_is_scheduled_and_remembered<S: FullStore>(store: S) {
    let r = id(10);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "flaky")];
    store.commit(commit).await.unwrap();
    let head = store.due_deliveries(later(0), 10).await.unwrap().remove(0);
    assert_eq!(head.attempts, 0);
    store
        .record_delivery(
            &head.id,
            DeliveryOutcome::Retry {
                at: later(5),
                error: "connection refused".into(),
            },
        )
        .await
        .unwrap();
    assert!(store.due_deliveries(later(4), 10).await.unwrap().is_empty());
    assert_eq!(store.next_delivery_at().await.unwrap(), Some(later(5)));
    let again = store.due_deliveries(later(5), 10).await.unwrap().remove(0);
    assert_eq!(again.id, head.id, "the id is stable across attempts");
    assert_eq!(again.attempts, 1);
    assert_eq!(again.last_error.as_deref(), Some("connection refused"));
}

pub async fn a_dead_letter_blocks_its_lane_until_replayed<S: FullStore>(store: S) {
    let r = id(11);
    let mut commit = new_referral(&r);
    commit.messages = vec![
        message(&r, ccpit(), "poison"),
        message(&r, ccpit(), "behind"),
    ];
    store.commit(commit).await.unwrap();
    let head = store.due_deliveries(later(0), 10).await.unwrap().remove(0);
    store
        .record_delivery(
            &head.id,
            DeliveryOutcome::Dead {
                at: later(1),
                error: "rejected".into(),
                alert: alert("dead"),
            },
        )
        .await
        .unwrap();
    assert!(
        store
            .due_deliveries(later(100), 10)
            .await
            .unwrap()
            .is_empty(),
        "later messages wait behind it"
    );
    let dead = store.dead_letters(10).await.unwrap();
    assert_eq!(texts(&dead), ["poison"]);
    assert_eq!(dead[0].dead_at, Some(later(1)));
    assert_eq!(store.alerts_after(0, 10).await.unwrap().len(), 1);

    store.replay_dead_letter(&head.id, later(2)).await.unwrap();
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    let replayed = store.due_deliveries(later(2), 10).await.unwrap();
    assert_eq!(texts(&replayed), ["poison"]);
    assert_eq!(replayed[0].attempts, 0);
    store
        .record_delivery(&head.id, DeliveryOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(
        texts(&store.due_deliveries(later(2), 10).await.unwrap()),
        ["behind"]
    );
    // Only dead letters can be replayed.
    let behind = store.due_deliveries(later(2), 10).await.unwrap().remove(0);
    assert!(matches!(
        store.replay_dead_letter(&behind.id, later(3)).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn alerts_resume_from_a_cursor<S: FullStore>(store: S) {
    let r = id(12);
    let mut commit = new_referral(&r);
    commit.alerts = vec![alert("first"), alert("second"), alert("third")];
    store.commit(commit).await.unwrap();
    let all = store.alerts_after(0, 10).await.unwrap();
    assert_eq!(all.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2, 3]);
    let rest = store.alerts_after(all[0].seq, 10).await.unwrap();
    assert_eq!(
        rest.iter()
            .map(|a| a.record.detail.as_str())
            .collect::<Vec<_>>(),
        ["second", "third"]
    );
    assert!(store.alerts_after(3, 10).await.unwrap().is_empty());
}

pub async fn alerts_are_raised_alone_and_acknowledged_once<S: FullStore>(store: S) {
    let r = id(14);
    let mut commit = new_referral(&r);
    commit.alerts = vec![alert("from a commit")];
    store.commit(commit).await.unwrap();
    assert_eq!(store.raise_alert(alert("alone")).await.unwrap(), 2);
    let all = store.alerts_after(0, 10).await.unwrap();
    assert_eq!(all[1].record.detail, "alone");

    let ack = |by: &str| Acknowledgement {
        by: by.into(),
        at: at("2025-03-03T10:00:00+08:00"),
        note: format!("{by} is on it"),
    };
    assert_eq!(store.acknowledgement(2).await.unwrap(), None);
    assert_eq!(
        store.acknowledge_alert(2, ack("ops-1")).await.unwrap(),
        ack("ops-1")
    );
    // A second acknowledgement does not replace the first.
    assert_eq!(
        store.acknowledge_alert(2, ack("ops-2")).await.unwrap(),
        ack("ops-1")
    );
    assert_eq!(store.acknowledgement(2).await.unwrap(), Some(ack("ops-1")));
    assert_eq!(store.acknowledgement(1).await.unwrap(), None);
    // Asked of a page at once: only the acknowledged ones, unknown numbers
    // included and ignored.
    assert_eq!(
        store.acknowledged(&[1, 2, 9]).await.unwrap(),
        [2].into_iter().collect()
    );
    assert!(store.acknowledged(&[]).await.unwrap().is_empty());
    assert!(matches!(
        store.acknowledge_alert(9, ack("ops-1")).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.acknowledgement(9).await.unwrap(), None);
}

pub async fn the_audit_chain_verifies<S: FullStore>(store: S) {
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 0 }
    );
    store.commit(new_referral(&id(13))).await.unwrap();
    store
        .append_audit(vec![audit("get_referral"), audit("get_referral")])
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 3 }
    );
    let entries = store.audit_entries(0, 10).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
}

pub async fn backlog_counts_per_destination<S: FullStore>(store: S) {
    let r = id(14);
    let court = Destination::Court(sample_bundle().court);
    let mut commit = new_referral(&r);
    commit.messages = vec![
        message(&r, ccpit(), "p1"),
        message(&r, ccpit(), "p2"),
        message(&r, court, "c1"),
    ];
    store.commit(commit).await.unwrap();
    let listed = store.pending_messages(&r).await.unwrap();
    assert_eq!(
        texts(&listed),
        ["p1", "p2", "c1"],
        "a referral's messages, in enqueue order"
    );
    assert!(store.pending_messages(&id(99)).await.unwrap().is_empty());
    let backlog = store.backlog().await.unwrap();
    let counts: Vec<_> = backlog
        .iter()
        .map(|b| (b.destination.as_str(), b.pending, b.dead))
        .collect();
    assert_eq!(counts, [("court:京0105", 1, 0), ("partner:ccpit", 2, 0)]);
    assert!(backlog.iter().all(|b| b.oldest_enqueued_at == Some(at(T0))));

    // The counts follow every outcome: a dead letter, its replay, a
    // delivery; a destination with nothing left is not listed.
    let mut second = follow_up(&r, 1, "second");
    second.at = later(30);
    second.messages = vec![message(&r, ccpit(), "p3")];
    store.commit(second).await.unwrap();
    let counts = async || {
        store
            .backlog()
            .await
            .unwrap()
            .into_iter()
            .map(|b| (b.destination, b.pending, b.dead, b.oldest_enqueued_at))
            .collect::<Vec<_>>()
    };
    let ccpit_at =
        |pending, dead, oldest| ("partner:ccpit".to_owned(), pending, dead, Some(oldest));
    let court_at = ("court:京0105".to_owned(), 1, 0, Some(at(T0)));
    assert_eq!(counts().await, [court_at.clone(), ccpit_at(3, 0, at(T0))]);
    let due = store.due_deliveries(later(0), 10).await.unwrap();
    let named = |text: &str| {
        due.iter()
            .find(|d| texts(std::slice::from_ref(*d)) == [text])
            .unwrap()
            .id
            .clone()
    };
    let (p1, c1) = (named("p1"), named("c1"));
    let dead = DeliveryOutcome::Dead {
        at: later(1),
        error: "rejected".into(),
        alert: alert("dead"),
    };
    store.record_delivery(&p1, dead).await.unwrap();
    assert_eq!(counts().await, [court_at.clone(), ccpit_at(2, 1, at(T0))]);
    store.replay_dead_letter(&p1, later(2)).await.unwrap();
    assert_eq!(counts().await, [court_at, ccpit_at(3, 0, at(T0))]);
    store
        .record_delivery(&c1, DeliveryOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(counts().await, [ccpit_at(3, 0, at(T0))]);
    for text in ["p1", "p2"] {
        let head = store.due_deliveries(later(40), 10).await.unwrap().remove(0);
        assert_eq!(texts(std::slice::from_ref(&head)), [text]);
        store
            .record_delivery(&head.id, DeliveryOutcome::Delivered)
            .await
            .unwrap();
    }
    assert_eq!(
        counts().await,
        [ccpit_at(1, 0, later(30))],
        "the oldest is now the later commit's message"
    );
}

pub async fn unknown_messages_are_not_found<S: FullStore>(store: S) {
    let bogus =
        mediation_core::store::MessageId("01JD0000000000000000000000-00000000000000ff".into());
    assert!(matches!(
        store
            .record_delivery(&bogus, DeliveryOutcome::Delivered)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.replay_dead_letter(&bogus, at(T0)).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn referral_ids_page_in_order<S: FullStore>(store: S) {
    assert!(store.referral_ids(None, 10).await.unwrap().is_empty());
    for n in [3, 1, 2, 10] {
        store.commit(new_referral(&id(n))).await.unwrap();
    }
    // A follow-up adds events, not referrals.
    store.commit(follow_up(&id(2), 1, "again")).await.unwrap();
    assert_eq!(store.referral_ids(None, 2).await.unwrap(), [id(1), id(2)]);
    assert_eq!(
        store.referral_ids(Some(&id(2)), 10).await.unwrap(),
        [id(3), id(10)]
    );
    assert!(
        store
            .referral_ids(Some(&id(10)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Statistics read only the referrals with something in their period.
pub async fn referrals_are_found_by_when_they_had_events<S: FullStore>(store: S) {
    let (a, b, c) = (id(301), id(302), id(303));
    let forty_days = 40 * 24 * 60;
    store.commit(new_referral(&a)).await.unwrap();
    store.commit(new_referral(&b)).await.unwrap();
    let mut later_event = follow_up(&b, 1, "forty days on");
    later_event.events[0].at = later(forty_days);
    store.commit(later_event).await.unwrap();
    let mut late = new_referral(&c);
    late.events[0].at = later(forty_days);
    store.commit(late).await.unwrap();

    let active = async |from: i64, to: i64| {
        store
            .referrals_active(later(from), later(to))
            .await
            .unwrap()
    };
    assert_eq!(active(0, 60).await, [a.clone(), b.clone()]);
    assert_eq!(
        active(forty_days - 60, forty_days + 60).await,
        [b.clone(), c.clone()]
    );
    assert_eq!(active(0, forty_days + 1).await, [a, b, c]);
    assert!(
        active(24 * 60 * 10, 24 * 60 * 20).await.is_empty(),
        "nothing between"
    );
    assert!(active(60, 0).await.is_empty(), "an empty period");
}

/// Organisations' open referrals move with the commits that move them, and
/// a refused commit moves nothing.
pub async fn loads_are_kept_with_each_commit<S: FullStore>(store: S) {
    use mediation_core::routing::LoadChange;
    let change = |org: &str, delta: i64| LoadChange {
        organisation: org.parse().unwrap(),
        delta,
    };
    let (a, b) = (id(401), id(402));
    let mut first = new_referral(&a);
    first.loads = vec![change("org-a", 1)];
    store.commit(first).await.unwrap();
    let mut second = new_referral(&b);
    second.loads = vec![change("org-a", 1)];
    store.commit(second).await.unwrap();
    let mut moved = follow_up(&a, 1, "given to org-b");
    moved.loads = vec![change("org-a", -1), change("org-b", 1)];
    store.commit(moved).await.unwrap();
    let mut stale = follow_up(&a, 1, "decided against an old version");
    stale.loads = vec![change("org-a", -1)];
    assert!(store.commit(stale).await.is_err());
    let mut loads = store.loads().await.unwrap();
    loads.sort();
    assert_eq!(
        loads,
        [("org-a".parse().unwrap(), 1), ("org-b".parse().unwrap(), 1)]
    );
}
