//! The relay against the real sled store, a fake transport and a manual clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::SignedDuration;
use mediation_core::alert::{Acknowledgement, Alert, AlertKind};
use mediation_core::clock::ManualClock;
use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::{Change, Event};
use mediation_core::outbox::{Destination, OutboundMessage};
use mediation_core::partner::Partner;
use mediation_core::store::{Backlog, Commit, OutboxStore, ReferralStore};
use mediation_core::text::Narrative;
use mediation_store::{SledStore, StoreOptions};
use tokio::sync::Semaphore;

use super::*;
use crate::transport::Receipt;

const T0: &str = "2025-03-03T09:00:00+08:00";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Up,
    Down,
    Refuse,
    Hang,
}

/// A destination platform in memory: records what it received, in order.
#[derive(Debug, Default)]
struct FakeTransport {
    modes: Mutex<HashMap<String, Mode>>,
    received: Mutex<Vec<(String, String)>>,
    attempts: Mutex<usize>,
}

impl FakeTransport {
    fn set(&self, destination: &Destination, mode: Mode) {
        self.modes.lock().unwrap().insert(destination.key(), mode);
    }

    fn received_by(&self, destination: &Destination) -> Vec<String> {
        let key = destination.key();
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(d, _)| *d == key)
            .map(|(_, m)| m.clone())
            .collect()
    }
}

impl Transport for FakeTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        *self.attempts.lock().unwrap() += 1;
        let key = delivery.message.destination.key();
        let mode = self
            .modes
            .lock()
            .unwrap()
            .get(&key)
            .copied()
            .unwrap_or(Mode::Up);
        match mode {
            Mode::Up => {
                let text = match &delivery.message.event.change {
                    Change::Recalled { reason } => reason.to_string(),
                    other => other.name().to_owned(),
                };
                self.received.lock().unwrap().push((key, text));
                Ok(Delivered::Acknowledged)
            }
            Mode::Down => Err(DeliveryError::Transient("connection refused".into())),
            Mode::Refuse => Err(DeliveryError::Permanent("schema mismatch".into())),
            Mode::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(Delivered::Acknowledged)
            }
        }
    }
}

fn ccpit() -> Destination {
    Destination::Partner(Partner::Ccpit)
}

fn court() -> Destination {
    Destination::Court(sample_bundle().court)
}

fn referral(n: u32) -> ReferralId {
    format!("01JD{n:022}").parse().unwrap()
}

/// Commits a referral with one message per `(destination, text)`.
async fn enqueue(store: &SledStore, r: &ReferralId, messages: &[(Destination, &str)]) {
    let note = |text: &str| Event {
        at: at(T0),
        change: Change::Recalled {
            reason: Narrative::parse(text).unwrap(),
        },
    };
    let version = store.history(r).unwrap().map_or(0, |h| h.len() as u64);
    let mut events = vec![];
    if version == 0 {
        events.push(Event {
            at: at(T0),
            change: Change::Received {
                id: r.clone(),
                bundle: Box::new(sample_bundle()),
            },
        });
    } else {
        events.push(note("more"));
    }
    let mut all = store.history(r).unwrap().unwrap_or_default();
    all.extend(events.iter().cloned());
    let state = mediation_core::Referral::replay(&all).unwrap().state();
    store
        .commit(Commit {
            trace: None,
            delivered: None,
            state,
            loads: vec![],
            referral: r.clone(),
            expected_version: version,
            at: at(T0),
            events,
            court_key: None,
            messages: messages
                .iter()
                .map(|(destination, text)| OutboundMessage {
                    destination: destination.clone(),
                    referral: r.clone(),
                    court_referral_id: "court-ref".parse().unwrap(),
                    event: note(text),
                    bundle: None,
                    holder: None,
                })
                .collect(),
            timers: vec![],
            alerts: vec![],
            audit: vec![],
        })
        .await
        .unwrap();
}

struct Harness {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    store: SledStore,
    clock: Arc<ManualClock>,
    transport: Arc<FakeTransport>,
}

impl Harness {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let store = SledStore::open(StoreOptions::new(&path)).unwrap();
        Self {
            _dir: dir,
            path,
            store,
            clock: Arc::new(ManualClock::new(at(T0))),
            transport: Arc::new(FakeTransport::default()),
        }
    }

    /// Simulates a restart: the old handle is dropped and the store reopened.
    fn restart(self) -> Self {
        let Harness {
            _dir,
            path,
            store,
            clock,
            transport,
        } = self;
        drop(store);
        let store = SledStore::open(StoreOptions::new(&path)).unwrap();
        Harness {
            _dir,
            path,
            store,
            clock,
            transport,
        }
    }

    fn relay(&self, options: RelayOptions) -> Relay<SledStore, FakeTransport> {
        let clock: Arc<dyn Clock> = self.clock.clone();
        Relay::new(
            self.store.clone(),
            Arc::clone(&self.transport),
            clock,
            options,
        )
    }

    fn no_jitter() -> RelayOptions {
        RelayOptions {
            retry: RetryPolicy {
                jitter: false,
                max_attempts: 4,
                ..RetryPolicy::default()
            },
            attempt_timeout: Duration::from_millis(300),
            ..RelayOptions::default()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_lane_is_delivered_in_order_exactly_once_when_all_is_well() {
    let h = Harness::new();
    enqueue(
        &h.store,
        &referral(1),
        &[(ccpit(), "a1"), (ccpit(), "a2"), (court(), "a-court")],
    )
    .await;
    enqueue(&h.store, &referral(2), &[(ccpit(), "b1")]).await;
    enqueue(&h.store, &referral(1), &[(ccpit(), "a3")]).await;
    let relay = h.relay(Harness::no_jitter());
    assert_eq!(relay.drain().await.unwrap(), 5);
    let partner = h.transport.received_by(&ccpit());
    let lane_a: Vec<_> = partner
        .iter()
        .filter(|m| m.starts_with('a'))
        .cloned()
        .collect();
    assert_eq!(lane_a, ["a1", "a2", "a3"]);
    assert_eq!(partner.len(), 4);
    assert_eq!(h.transport.received_by(&court()), ["a-court"]);
    assert!(h.store.backlog().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_destination_is_retried_on_a_schedule_that_survives_a_restart() {
    let h = Harness::new();
    enqueue(
        &h.store,
        &referral(3),
        &[(ccpit(), "first"), (ccpit(), "second")],
    )
    .await;
    h.transport.set(&ccpit(), Mode::Down);
    let relay = h.relay(Harness::no_jitter());
    relay.drain().await.unwrap();
    let pending = h
        .store
        .due_deliveries(at("2030-01-01T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(
        pending[0].next_attempt_at,
        at(T0) + SignedDuration::from_secs(1)
    );

    // The second attempt is due 1 s later, the third 2 s after that.
    h.clock.advance(SignedDuration::from_millis(999));
    assert_eq!(
        relay.drain().await.unwrap(),
        0,
        "nothing is due before the backoff ends"
    );
    h.clock.advance(SignedDuration::from_millis(1));
    relay.drain().await.unwrap();
    let pending = h
        .store
        .due_deliveries(at("2030-01-01T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(pending[0].attempts, 2);
    assert_eq!(
        pending[0].next_attempt_at,
        at(T0) + SignedDuration::from_secs(3)
    );

    // Restart: a new store handle and relay resume the persisted schedule.
    drop(relay);
    let h = h.restart();
    let pending = h
        .store
        .due_deliveries(at("2030-01-01T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(
        (pending[0].attempts, pending[0].next_attempt_at),
        (2, at(T0) + SignedDuration::from_secs(3))
    );
    let relay = h.relay(Harness::no_jitter());
    h.transport.set(&ccpit(), Mode::Up);
    h.clock.advance(SignedDuration::from_secs(2));
    relay.drain().await.unwrap();
    assert_eq!(h.transport.received_by(&ccpit()), ["first", "second"]);
    assert_eq!(*h.transport.attempts.lock().unwrap(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_too_many_attempts_a_message_is_dead_and_its_lane_waits() {
    let h = Harness::new();
    enqueue(
        &h.store,
        &referral(4),
        &[(ccpit(), "poison"), (ccpit(), "behind")],
    )
    .await;
    enqueue(&h.store, &referral(5), &[(court(), "elsewhere")]).await;
    h.transport.set(&ccpit(), Mode::Down);
    let relay = h.relay(Harness::no_jitter());
    for _ in 0..4 {
        relay.drain().await.unwrap();
        h.clock.advance(SignedDuration::from_mins(30));
    }
    let dead = h.store.dead_letters(10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts, 4);
    assert_eq!(dead[0].last_error.as_deref(), Some("connection refused"));
    let alerts = h.store.alerts_after(0, 10).unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].record.kind, AlertKind::DeadLetter);
    assert!(
        alerts[0].record.detail.contains("after 4 attempt(s)"),
        "{}",
        alerts[0].record.detail
    );
    // The other destination was not held up.
    assert_eq!(h.transport.received_by(&court()), ["elsewhere"]);

    h.transport.set(&ccpit(), Mode::Up);
    h.clock.advance(SignedDuration::from_hours(5));
    assert_eq!(
        relay.drain().await.unwrap(),
        0,
        "the lane waits behind its dead letter"
    );
    h.store
        .replay_dead_letter(&dead[0].id, h.clock.now())
        .await
        .unwrap();
    relay.drain().await.unwrap();
    assert_eq!(h.transport.received_by(&ccpit()), ["poison", "behind"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_refusal_goes_straight_to_the_dead_letters() {
    let h = Harness::new();
    enqueue(&h.store, &referral(6), &[(ccpit(), "refused")]).await;
    h.transport.set(&ccpit(), Mode::Refuse);
    h.relay(Harness::no_jitter()).drain().await.unwrap();
    let dead = h.store.dead_letters(10).unwrap();
    assert_eq!((dead.len(), dead[0].attempts), (1, 1));
    assert_eq!(dead[0].last_error.as_deref(), Some("schema mismatch"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_too_old_are_given_up() {
    let h = Harness::new();
    enqueue(&h.store, &referral(7), &[(ccpit(), "stale")]).await;
    h.transport.set(&ccpit(), Mode::Down);
    let mut options = Harness::no_jitter();
    options.retry.max_attempts = 100;
    options.retry.max_age = SignedDuration::from_hours(1);
    let relay = h.relay(options);
    relay.drain().await.unwrap();
    assert!(h.store.dead_letters(10).unwrap().is_empty());
    h.clock.advance(SignedDuration::from_hours(1));
    relay.drain().await.unwrap();
    assert_eq!(h.store.dead_letters(10).unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_destination_does_not_hold_up_the_others() {
    let h = Harness::new();
    enqueue(&h.store, &referral(8), &[(ccpit(), "stuck")]).await;
    enqueue(&h.store, &referral(9), &[(court(), "c1"), (court(), "c2")]).await;
    h.transport.set(&ccpit(), Mode::Hang);
    let relay = h.relay(Harness::no_jitter());
    // Keep passing without waiting for the hung attempt: the court's lane moves on.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.transport.received_by(&court()).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "court deliveries were held up"
        );
        relay.tick().await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(h.transport.received_by(&court()), ["c1", "c2"]);
    // The hung attempt times out and is scheduled for a retry.
    relay.settle().await;
    let pending = h
        .store
        .due_deliveries(at("2030-01-01T00:00:00Z"), 10)
        .await
        .unwrap();
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("no answer within")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_loop_runs_until_shut_down() {
    let h = Harness::new();
    enqueue(&h.store, &referral(10), &[(ccpit(), "via the loop")]).await;
    let mut options = Harness::no_jitter();
    options.idle_poll = Duration::from_millis(10);
    let relay = h.relay(options);
    let handle = relay.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await
    });
    enqueue(&h.store, &referral(11), &[(ccpit(), "after a wake")]).await;
    handle.wake();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while h.transport.received_by(&ccpit()).len() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the loop did not deliver"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap();
}

/// The alert webhooks label an unreachable destination's alert and a dead
/// letter's with the destination, in the form metrics use, which they read
/// from where the alert's text names it: first, or after " to ".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_and_dead_letter_alerts_name_their_destination_as_metrics_do() {
    let h = Harness::new();
    enqueue(&h.store, &referral(60), &[(ccpit(), "a1")]).await;
    enqueue(&h.store, &referral(61), &[(court(), "b1")]).await;
    h.transport.set(&ccpit(), Mode::Down);
    h.transport.set(&court(), Mode::Refuse);
    let relay = h.relay(RelayOptions {
        unreachable_after: 2,
        ..Harness::no_jitter()
    });
    for _ in 0..3 {
        relay.drain().await.unwrap();
        h.clock.advance(SignedDuration::from_hours(1));
    }
    let alerts = h.store.alerts_after(0, 100).unwrap();
    let detail = |kind: AlertKind| {
        alerts
            .iter()
            .find(|a| a.record.kind == kind)
            .map(|a| a.record.detail.clone())
            .unwrap_or_else(|| panic!("no {kind:?} alert in {alerts:?}"))
    };
    let unreachable = detail(AlertKind::DestinationUnreachable);
    assert!(
        unreachable.starts_with(&format!("{} ", ccpit().key())),
        "{unreachable}"
    );
    let dead = detail(AlertKind::DeadLetter);
    assert!(dead.contains(&format!(" to {} ", court().key())), "{dead}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_failing_in_a_row_is_reported_unreachable_once_until_it_answers() {
    let h = Harness::new();
    enqueue(&h.store, &referral(40), &[(ccpit(), "x1")]).await;
    enqueue(&h.store, &referral(41), &[(court(), "y1")]).await;
    h.transport.set(&ccpit(), Mode::Down);
    let options = RelayOptions {
        unreachable_after: 3,
        retry: RetryPolicy {
            max_attempts: 100,
            ..Harness::no_jitter().retry
        },
        ..Harness::no_jitter()
    };
    let relay = h.relay(options);
    let board = relay.destinations();
    let unreachable_alerts = || {
        h.store
            .alerts_after(0, 100)
            .unwrap()
            .into_iter()
            .filter(|a| a.record.kind == AlertKind::DestinationUnreachable)
            .count()
    };
    for attempt in 1..=5 {
        relay.drain().await.unwrap();
        let ccpit_health = board.unreachable("partner:");
        assert_eq!(
            ccpit_health.is_empty(),
            attempt < 3,
            "after attempt {attempt}"
        );
        h.clock.advance(SignedDuration::from_hours(1));
    }
    assert_eq!(unreachable_alerts(), 1, "raised once, not on every failure");
    let health = board.snapshot();
    let ccpit_health = health
        .iter()
        .find(|d| d.destination == ccpit().key())
        .unwrap();
    assert_eq!(ccpit_health.consecutive_failures, 5);
    assert_eq!(
        ccpit_health.last_error.as_deref(),
        Some("connection refused")
    );
    let court_health = health
        .iter()
        .find(|d| d.destination == court().key())
        .unwrap();
    assert!(!court_health.unreachable && court_health.last_success.is_some());

    h.transport.set(&ccpit(), Mode::Up);
    relay.drain().await.unwrap();
    assert!(board.unreachable("partner:").is_empty());
    assert_eq!(h.transport.received_by(&ccpit()), ["x1"]);
    assert_eq!(unreachable_alerts(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_loop_delivers_each_message_once() {
    // Attempts finish while the next pass is reading the store; a pass whose
    // list predates an outcome must not start that message again.
    let h = Harness::new();
    let total = 400;
    let mut enqueued = Vec::new();
    for n in 0..total {
        let store = h.store.clone();
        enqueued.push(tokio::spawn(async move {
            enqueue(&store, &referral(1000 + n), &[(ccpit(), &format!("m{n}"))]).await;
        }));
    }
    for e in enqueued {
        e.await.unwrap();
    }
    let relay = h.relay(Harness::no_jitter());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(async move {
        relay
            .run(async move {
                let _ = stopped.await;
            })
            .await
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !h.store.backlog().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "not drained");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    stop.send(()).unwrap();
    running.await.unwrap();
    let received = h.transport.received_by(&ccpit());
    let distinct: std::collections::HashSet<_> = received.iter().collect();
    assert_eq!(distinct.len(), total as usize);
    assert_eq!(received.len(), total as usize, "repeated deliveries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_that_cannot_be_recorded_is_sent_again_no_sooner_than_the_policy_allows() {
    let h = Harness::new();
    enqueue(&h.store, &referral(9), &[(ccpit(), "once")]).await;
    let relay = h.relay(Harness::no_jitter());
    let attempts = || *h.transport.attempts.lock().unwrap();
    // The disk is full: the delivery succeeds but its outcome cannot be
    // written, so the store still shows the message due.
    h.store.fail_for_test("no space left on device");
    for _ in 0..200 {
        relay.tick().await.unwrap();
        relay.settle().await;
    }
    assert_eq!(attempts(), 1, "however often the relay passes, one attempt");
    // The policy's first delay is 1 s, then 2 s.
    h.clock.advance(SignedDuration::from_millis(999));
    relay.drain().await.unwrap();
    assert_eq!(attempts(), 1);
    h.clock.advance(SignedDuration::from_millis(1));
    relay.drain().await.unwrap();
    assert_eq!(attempts(), 2);
    h.clock.advance(SignedDuration::from_millis(1_999));
    relay.drain().await.unwrap();
    assert_eq!(attempts(), 2, "a second failure to record doubles the wait");
    // Space returns: the next attempt is recorded, and the lane is done.
    h.store.clear_failure_for_test();
    h.clock.advance(SignedDuration::from_millis(1));
    relay.drain().await.unwrap();
    assert_eq!(attempts(), 3);
    assert_eq!(h.transport.received_by(&ccpit()), ["once", "once", "once"]);
    assert!(h.store.backlog().unwrap().is_empty());
    h.clock.advance(SignedDuration::from_secs(60));
    relay.drain().await.unwrap();
    assert_eq!(attempts(), 3, "nothing more once the outcome is recorded");
}

/// Holds whatever reaches it until the test opens it, counting what waits.
#[derive(Debug, Clone)]
struct Gate {
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

impl Gate {
    fn closed() -> Self {
        Self {
            permits: Arc::new(Semaphore::new(0)),
            waiting: Arc::default(),
        }
    }

    async fn pass(&self) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        // Each one through hands its permit back to the next.
        let _through = self.permits.acquire().await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    fn open(&self) {
        self.permits.add_permits(1);
    }

    fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// A relay with `slots` per destination over the harness's store, gated
/// as [`GatedStore`] says.
fn gated_relay(
    h: &Harness,
    applied: bool,
    slots: usize,
) -> (GatedStore, Relay<GatedStore, FakeTransport>) {
    let store = GatedStore {
        inner: h.store.clone(),
        gate: Gate::closed(),
        applied,
    };
    let clock: Arc<dyn Clock> = h.clock.clone();
    let relay = Relay::new(
        store.clone(),
        Arc::clone(&h.transport),
        clock,
        RelayOptions {
            per_destination_in_flight: slots,
            ..Harness::no_jitter()
        },
    );
    (store, relay)
}

/// Waits until `done`, failing the test after five seconds.
async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The sled store, whose recording of each outcome waits at `gate`: an
/// outcome not yet durable for as long as the test likes. With `applied`,
/// the store applies the outcome first and then waits, as the writer's
/// applied but not yet synced group looks to readers.
#[derive(Debug, Clone)]
struct GatedStore {
    inner: SledStore,
    gate: Gate,
    applied: bool,
}

impl OutboxStore for GatedStore {
    async fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        OutboxStore::due_deliveries_except(&self.inner, now, limit, room, skip).await
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>, StoreError> {
        OutboxStore::next_delivery_at(&self.inner).await
    }

    async fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        if self.applied {
            let recorded = OutboxStore::record_delivery(&self.inner, id, outcome).await;
            self.gate.pass().await;
            return recorded;
        }
        self.gate.pass().await;
        OutboxStore::record_delivery(&self.inner, id, outcome).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        OutboxStore::dead_letters(&self.inner, limit).await
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        OutboxStore::replay_dead_letter(&self.inner, id, at).await
    }

    async fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        OutboxStore::pending_messages(&self.inner, referral).await
    }

    async fn backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        OutboxStore::backlog(&self.inner).await
    }
}

impl AlertLog for GatedStore {
    async fn alerts_after(&self, cursor: u64, limit: usize) -> Result<Vec<Alert>, StoreError> {
        AlertLog::alerts_after(&self.inner, cursor, limit).await
    }

    async fn raise_alert(&self, record: AlertRecord) -> Result<u64, StoreError> {
        AlertLog::raise_alert(&self.inner, record).await
    }

    async fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        AlertLog::acknowledge_alert(&self.inner, seq, acknowledgement).await
    }

    async fn acknowledgement(&self, seq: u64) -> Result<Option<Acknowledgement>, StoreError> {
        AlertLog::acknowledgement(&self.inner, seq).await
    }
}

/// A platform whose every acknowledgement leaves a receipt to write (as an
/// offer's does), which waits at `gate`.
#[derive(Debug)]
struct ReceiptPlatform {
    gate: Gate,
    sent: Mutex<Vec<MessageId>>,
}

impl Transport for ReceiptPlatform {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        self.sent.lock().unwrap().push(delivery.id.clone());
        let gate = self.gate.clone();
        Ok(Delivered::Receipt(Receipt::new(async move {
            gate.pass().await;
            Ok::<_, DeliveryError>(Delivered::Acknowledged)
        })))
    }
}

/// Two lanes to one destination with a single slot: the destination's
/// answer to the first frees the slot, while the first's outcome is still
/// being written; neither is sent again before its outcome is durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destinations_slot_is_free_once_it_answered_before_the_outcome_is_durable() {
    let h = Harness::new();
    enqueue(&h.store, &referral(70), &[(ccpit(), "first")]).await;
    enqueue(&h.store, &referral(71), &[(ccpit(), "second")]).await;
    let (store, relay) = gated_relay(&h, false, 1);
    assert_eq!(relay.tick().await.unwrap().started, 1, "one slot");
    until("the first outcome reaches the store", || {
        store.gate.waiting() == 1
    })
    .await;
    assert_eq!(
        relay.tick().await.unwrap().started,
        1,
        "the second lane's head goes while the first's outcome is written"
    );
    until("the second outcome reaches the store", || {
        store.gate.waiting() == 2
    })
    .await;
    assert_eq!(h.transport.received_by(&ccpit()), ["first", "second"]);
    assert_eq!(
        relay.tick().await.unwrap(),
        TickReport::default(),
        "neither is started again while its outcome is written"
    );
    let far = at("2030-01-01T00:00:00Z");
    assert_eq!(h.store.due_deliveries(far, 10).await.unwrap().len(), 2);
    // The destination answered: its health says so before the outcomes are durable.
    let health = relay.destinations().snapshot();
    assert_eq!(
        (
            health[0].consecutive_failures,
            health[0].last_success.is_some()
        ),
        (0, true)
    );

    store.gate.open();
    relay.settle().await;
    assert!(h.store.backlog().unwrap().is_empty());
    assert_eq!(relay.drain().await.unwrap(), 0);
    assert_eq!(*h.transport.attempts.lock().unwrap(), 2);
}

/// An offer's receipt is written after its destination's slot is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receipt_is_written_with_the_destinations_slot_free() {
    let h = Harness::new();
    enqueue(&h.store, &referral(72), &[(ccpit(), "first")]).await;
    enqueue(&h.store, &referral(73), &[(ccpit(), "second")]).await;
    let platform = Arc::new(ReceiptPlatform {
        gate: Gate::closed(),
        sent: Mutex::default(),
    });
    let clock: Arc<dyn Clock> = h.clock.clone();
    let relay = Relay::new(
        h.store.clone(),
        Arc::clone(&platform),
        clock,
        RelayOptions {
            per_destination_in_flight: 1,
            ..Harness::no_jitter()
        },
    );
    assert_eq!(relay.tick().await.unwrap().started, 1);
    until("the first receipt is being written", || {
        platform.gate.waiting() == 1
    })
    .await;
    assert_eq!(relay.tick().await.unwrap().started, 1, "the slot is free");
    until("the second receipt is being written", || {
        platform.gate.waiting() == 2
    })
    .await;
    assert_eq!(relay.tick().await.unwrap(), TickReport::default());
    assert_eq!(platform.sent.lock().unwrap().len(), 2);
    let far = at("2030-01-01T00:00:00Z");
    assert_eq!(h.store.due_deliveries(far, 10).await.unwrap().len(), 2);

    platform.gate.open();
    relay.settle().await;
    assert!(h.store.backlog().unwrap().is_empty());
    assert_eq!(relay.drain().await.unwrap(), 0);
    assert_eq!(platform.sent.lock().unwrap().len(), 2);
}

/// A lane's next message waits until the outcome of the one before is
/// durable, even once the store shows it as the lane's head: otherwise a
/// crash in between would send the first again after the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lanes_next_message_waits_until_the_one_before_is_recorded() {
    let h = Harness::new();
    enqueue(
        &h.store,
        &referral(72),
        &[(ccpit(), "first"), (ccpit(), "second")],
    )
    .await;
    let (store, relay) = gated_relay(&h, true, 4);
    assert_eq!(relay.tick().await.unwrap().started, 1, "a lane's head");
    until("the first outcome is applied, not yet durable", || {
        store.gate.waiting() == 1
    })
    .await;
    let far = at("2030-01-01T00:00:00Z");
    let due = h.store.due_deliveries(far, 10).await.unwrap();
    assert_eq!(
        due.len(),
        1,
        "the store shows the second as the lane's head"
    );
    assert_eq!(relay.tick().await.unwrap().started, 0, "but it waits");
    assert_eq!(h.transport.received_by(&ccpit()), ["first"]);
    store.gate.open();
    relay.settle().await;
    assert_eq!(
        relay.drain().await.unwrap(),
        1,
        "the second, once the first is recorded"
    );
    assert_eq!(h.transport.received_by(&ccpit()), ["first", "second"]);
}

/// A pass reads a destination's heads again only once a quarter of its
/// slots are free, unless it has nothing under way at all.
#[test]
fn a_pass_reads_a_destination_again_once_a_quarter_of_its_slots_are_free() {
    let mut in_flight = InFlight::default();
    assert_eq!(
        in_flight.room_for_pass("ccpit", 32),
        32,
        "nothing under way"
    );
    in_flight.per_destination.insert("ccpit".into(), 25);
    assert_eq!(in_flight.room("ccpit", 32), 7);
    assert_eq!(in_flight.room_for_pass("ccpit", 32), 0, "7 of 32 free");
    in_flight.per_destination.insert("ccpit".into(), 24);
    assert_eq!(in_flight.room_for_pass("ccpit", 32), 8, "a quarter free");
    // Outcomes being recorded count too once they reach their cap.
    in_flight.per_destination.insert("ccpit".into(), 0);
    in_flight
        .recording
        .insert("ccpit".into(), 32 * UNRECORDED_PER_SLOT - 5);
    assert_eq!(in_flight.room("ccpit", 32), 5);
    assert_eq!(in_flight.room_for_pass("ccpit", 32), 0);
    // With one slot, the slot free is the quarter.
    let mut one = InFlight::default();
    one.recording.insert("court".into(), 3);
    assert_eq!(one.room_for_pass("court", 1), 1);
    one.per_destination.insert("court".into(), 1);
    assert_eq!(one.room_for_pass("court", 1), 0);
}
