//! The outbox: lanes delivered in order one head at a time, retries, dead
//! letters and their replay, traces.

use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::outbox::Destination;
use mediation_core::store::{DeliveryOutcome, FullStore, StoreError};

use crate::{T0, alert, ccpit, follow_up, id, later, message, new_referral, texts};

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
    given_up(&store, &head.id).await;
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

pub async fn a_discarded_dead_letter_leaves_the_outbox_and_its_count<S: FullStore>(store: S) {
    let r = id(12);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "poison")];
    store.commit(commit).await.unwrap();
    let head = store.due_deliveries(later(0), 10).await.unwrap().remove(0);
    // Only a dead letter is discarded: a message still to go stays.
    assert!(matches!(
        store
            .record_delivery(&head.id, DeliveryOutcome::Discarded)
            .await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.pending_messages(&r).await.unwrap().len(), 1);
    given_up(&store, &head.id).await;
    let dead_count = |backlog: Vec<mediation_core::store::Backlog>| {
        backlog
            .iter()
            .find(|b| b.destination == ccpit().key())
            .map_or((0, 0), |b| (b.pending, b.dead))
    };
    assert_eq!(dead_count(store.backlog().await.unwrap()), (0, 1));
    store
        .record_delivery(&head.id, DeliveryOutcome::Discarded)
        .await
        .unwrap();
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert!(store.pending_messages(&r).await.unwrap().is_empty());
    assert_eq!(dead_count(store.backlog().await.unwrap()), (0, 0));
    // Gone: a second discard finds nothing.
    assert!(matches!(
        store
            .record_delivery(&head.id, DeliveryOutcome::Discarded)
            .await,
        Err(StoreError::NotFound(_))
    ));
}

/// Records `id`'s delivery given up on a minute in: a dead letter.
async fn given_up<S: FullStore>(store: &S, id: &mediation_core::store::MessageId) {
    store
        .record_delivery(
            id,
            DeliveryOutcome::Dead {
                at: later(1),
                error: "rejected".into(),
                alert: alert("dead"),
            },
        )
        .await
        .unwrap();
}
