//! What the commits keep counted or indexed: destinations' backlogs,
//! organisations' loads, and the referrals active in a period.

use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::outbox::Destination;
use mediation_core::store::{DeliveryOutcome, FullStore};

use crate::{T0, alert, ccpit, follow_up, id, later, message, new_referral, texts};

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

    // A retried message keeps its age, however late its next attempt and
    // whatever is due before it.
    let p3 = store.due_deliveries(later(40), 10).await.unwrap().remove(0);
    assert_eq!(texts(std::slice::from_ref(&p3)), ["p3"]);
    let retry = DeliveryOutcome::Retry {
        at: later(100),
        error: "busy".into(),
    };
    store.record_delivery(&p3.id, retry).await.unwrap();
    let r2 = id(15);
    let mut newer = new_referral(&r2);
    newer.at = later(50);
    newer.messages = vec![message(&r2, ccpit(), "p4")];
    store.commit(newer).await.unwrap();
    assert_eq!(counts().await, [ccpit_at(2, 0, later(30))]);
    let p4 = store.due_deliveries(later(60), 10).await.unwrap().remove(0);
    assert_eq!(
        texts(std::slice::from_ref(&p4)),
        ["p4"],
        "p3 is not due yet"
    );
    store
        .record_delivery(&p4.id, DeliveryOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(counts().await, [ccpit_at(1, 0, later(30))]);
    store
        .record_delivery(&p3.id, DeliveryOutcome::Delivered)
        .await
        .unwrap();
    assert_eq!(counts().await, [], "nothing waits");
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
