//! The relay loop: find the due lane heads, attempt each in its own task,
//! record how each attempt ended. An attempt holds its destination's slot
//! until the destination answered, not until the outcome is durable.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mediation_core::alert::{AlertKind, AlertRecord};
use mediation_core::clock::Clock;
use mediation_core::store::{
    AlertLog, DeliveryOutcome, MessageId, OutboxStore, PendingDelivery, StoreError,
};
use mediation_core::text::printable;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::policy::RetryPolicy;
use crate::transport::{Delivered, DeliveryError, Transport};

/// How the relay behaves.
#[derive(Debug, Clone)]
pub struct RelayOptions {
    pub retry: RetryPolicy,
    /// Lane heads taken from the store per pass.
    pub batch: usize,
    /// Attempts waiting for one destination's answer at once: its slots. A
    /// slot is free once the destination answered; recording the outcome
    /// does not hold it.
    pub per_destination_in_flight: usize,
    /// An attempt whose destination has not answered by then fails as
    /// transient.
    pub attempt_timeout: Duration,
    /// How long the loop sleeps when nothing is due and nobody wakes it.
    pub idle_poll: Duration,
    /// Failed attempts in a row after which a destination is reported
    /// unreachable: an alert is raised and health says so, until one succeeds.
    pub unreachable_after: u32,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            batch: 256,
            per_destination_in_flight: 32,
            attempt_timeout: Duration::from_secs(10),
            idle_poll: Duration::from_secs(1),
            unreachable_after: 5,
        }
    }
}

/// What one pass started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TickReport {
    pub started: usize,
    /// Due heads left for later because their destination was at its limit.
    pub deferred: usize,
}

/// Wakes the relay when new messages were committed.
#[derive(Debug, Clone)]
pub struct RelayHandle {
    wake: Arc<Notify>,
}

impl RelayHandle {
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// How deliveries to one destination have been going.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationHealth {
    pub destination: String,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    pub last_error: Option<String>,
    /// When the current run of failures began.
    pub failing_since: Option<Timestamp>,
    pub last_success: Option<Timestamp>,
    /// The failures reached [`RelayOptions::unreachable_after`].
    pub unreachable: bool,
}

/// Every destination the relay has tried, by key.
#[derive(Debug, Clone, Default)]
pub struct DestinationBoard {
    inner: Arc<Mutex<HashMap<String, DestinationHealth>>>,
}

impl DestinationBoard {
    pub fn snapshot(&self) -> Vec<DestinationHealth> {
        let board = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<DestinationHealth> = board.values().cloned().collect();
        all.sort_by(|a, b| a.destination.cmp(&b.destination));
        all
    }

    /// Whether the destination whose key starts with `prefix` (a partner's
    /// key, say) is currently unreachable.
    pub fn unreachable(&self, prefix: &str) -> Vec<DestinationHealth> {
        self.snapshot()
            .into_iter()
            .filter(|d| d.unreachable && d.destination.starts_with(prefix))
            .collect()
    }

    /// Records an attempt; returns true when this failure made the destination
    /// unreachable (so the caller raises the alert exactly once).
    fn record(
        &self,
        destination: &str,
        error: Option<&str>,
        now: Timestamp,
        unreachable_after: u32,
    ) -> bool {
        let mut board = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let health = board
            .entry(destination.to_owned())
            .or_insert_with(|| DestinationHealth {
                destination: destination.to_owned(),
                consecutive_failures: 0,
                last_error: None,
                failing_since: None,
                last_success: None,
                unreachable: false,
            });
        match error {
            None => {
                if health.unreachable {
                    tracing::info!(%destination, "destination reachable again");
                }
                health.consecutive_failures = 0;
                health.failing_since = None;
                health.last_success = Some(now);
                health.unreachable = false;
                false
            }
            Some(error) => {
                health.consecutive_failures += 1;
                health.last_error = Some(error.to_owned());
                health.failing_since.get_or_insert(now);
                let became =
                    !health.unreachable && health.consecutive_failures >= unreachable_after.max(1);
                health.unreachable |= became;
                became
            }
        }
    }
}

/// Outcomes of one destination not yet recorded, its attempts waiting for an
/// answer included, at most this many per slot: a store slower than the
/// destination answers holds back new attempts instead of piling up
/// outcomes to write.
const UNRECORDED_PER_SLOT: usize = 8;

#[derive(Debug, Default)]
struct InFlight {
    /// Messages started and not yet recorded: waiting for their
    /// destination's answer, or for their outcome to be durable. None of
    /// them is started again.
    messages: HashSet<MessageId>,
    /// The lanes (referral, destination) of those messages. The store makes
    /// a lane's next message its head as soon as it has applied the
    /// outcome, before that outcome is durable; a lane with a message in
    /// flight starts nothing else, so that a crash in between cannot send
    /// the next message before the one it follows.
    lanes: HashSet<(mediation_core::ids::ReferralId, String)>,
    /// Per destination, attempts waiting for its answer: its slots taken.
    per_destination: HashMap<String, usize>,
    /// Per destination, attempts answered whose outcome (or receipt) is
    /// being recorded: they hold no slot.
    recording: HashMap<String, usize>,
    /// Attempts that finished since the current pass read the store. The
    /// pass's list of due messages may predate their outcome, so it must not
    /// start them again; the next pass reads their outcome from the store.
    finished_during_pass: HashSet<MessageId>,
    /// Messages whose last outcome could not be recorded (a full disk, a
    /// store error). The store still shows them due, so without this the
    /// relay would send each again at once, over and over; instead each waits
    /// as the retry policy says before its next attempt.
    held: HashMap<MessageId, Held>,
}

/// A message held back after its outcome could not be recorded.
#[derive(Debug, Clone, Copy)]
struct Held {
    until: Timestamp,
    /// Outcomes in a row that could not be recorded.
    unrecorded: u32,
}

impl InFlight {
    /// How many more attempts `destination` may start: its free slots, as
    /// long as its outcomes not yet recorded stay within
    /// [`UNRECORDED_PER_SLOT`] per slot.
    fn room(&self, destination: &str, slots: usize) -> usize {
        let count = |counts: &HashMap<String, usize>| counts.get(destination).copied().unwrap_or(0);
        let answering = count(&self.per_destination);
        let unrecorded = answering.saturating_add(count(&self.recording));
        slots.saturating_sub(answering).min(
            slots
                .saturating_mul(UNRECORDED_PER_SLOT)
                .saturating_sub(unrecorded),
        )
    }

    /// The room a pass reads `destination`'s due heads for: none while its
    /// attempts under way leave fewer than a quarter of its slots free.
    /// Reading them walks its schedule past every head under way (they are
    /// at its front), so a pass per finished attempt, each starting one,
    /// would walk them all once per delivery; the end of each attempt wakes
    /// the loop, so the slots are filled again a quarter at a time.
    fn room_for_pass(&self, destination: &str, slots: usize) -> usize {
        let room = self.room(destination, slots);
        if room < slots.div_ceil(4) { 0 } else { room }
    }

    fn held_at(&self, id: &MessageId, now: Timestamp) -> bool {
        self.held.get(id).is_some_and(|h| h.until > now)
    }

    fn earliest_hold(&self) -> Option<Timestamp> {
        self.held.values().map(|h| h.until).min()
    }
}

/// The outbox relay. See the crate documentation for its promises.
#[derive(Debug)]
pub struct Relay<S, T> {
    store: S,
    transport: Arc<T>,
    clock: Arc<dyn Clock>,
    options: RelayOptions,
    in_flight: Arc<Mutex<InFlight>>,
    tasks: tokio::sync::Mutex<JoinSet<()>>,
    wake: Arc<Notify>,
    board: DestinationBoard,
}

impl<S, T> Relay<S, T>
where
    S: OutboxStore + AlertLog + Clone + 'static,
    T: Transport,
{
    pub fn new(store: S, transport: Arc<T>, clock: Arc<dyn Clock>, options: RelayOptions) -> Self {
        Self {
            store,
            transport,
            clock,
            options,
            in_flight: Arc::default(),
            tasks: tokio::sync::Mutex::new(JoinSet::new()),
            wake: Arc::new(Notify::new()),
            board: DestinationBoard::default(),
        }
    }

    /// How each destination has been answering.
    pub fn destinations(&self) -> DestinationBoard {
        self.board.clone()
    }

    pub fn handle(&self) -> RelayHandle {
        RelayHandle {
            wake: Arc::clone(&self.wake),
        }
    }

    /// Starts an attempt for every due lane head that is not already in flight.
    pub async fn tick(&self) -> Result<TickReport, StoreError> {
        // One pass at a time: the lock on the task set also orders passes, so
        // `finished_during_pass` belongs to this one.
        let mut tasks = self.tasks.lock().await;
        lock(&self.in_flight).finished_during_pass.clear();
        let now = self.clock.now();
        // Attempts in flight and destinations at their limit are passed over
        // without reading the messages; the checks below still hold for any
        // that finished while the store was read.
        let due = self
            .store
            .due_deliveries_except(
                now,
                self.options.batch,
                &|destination| {
                    lock(&self.in_flight)
                        .room_for_pass(destination, self.options.per_destination_in_flight)
                },
                &|_, id| {
                    let in_flight = lock(&self.in_flight);
                    in_flight.messages.contains(id)
                        || in_flight.finished_during_pass.contains(id)
                        || in_flight.held_at(id, now)
                },
            )
            .await?;
        let mut report = TickReport::default();
        for delivery in due {
            let destination = delivery.message.destination.key();
            let lane = (delivery.message.referral.clone(), destination.clone());
            {
                let mut in_flight = lock(&self.in_flight);
                // In flight, or finished after the list was read: either way
                // starting it now would deliver it twice.
                if in_flight.messages.contains(&delivery.id) || in_flight.held_at(&delivery.id, now)
                {
                    continue;
                }
                if in_flight.finished_during_pass.contains(&delivery.id) {
                    // It may be due again (a retry at once); the next pass
                    // will know, and `drain` must not stop before it.
                    report.deferred += 1;
                    continue;
                }
                if in_flight.lanes.contains(&lane) {
                    // The message before it is still being recorded.
                    report.deferred += 1;
                    continue;
                }
                if in_flight.room(&destination, self.options.per_destination_in_flight) == 0 {
                    report.deferred += 1;
                    continue;
                }
                in_flight.messages.insert(delivery.id.clone());
                in_flight.lanes.insert(lane);
                *in_flight
                    .per_destination
                    .entry(destination.clone())
                    .or_default() += 1;
            }
            report.started += 1;
            let attempt = Attempt {
                store: self.store.clone(),
                transport: Arc::clone(&self.transport),
                clock: Arc::clone(&self.clock),
                retry: self.options.retry,
                timeout: self.options.attempt_timeout,
                in_flight: Arc::clone(&self.in_flight),
                wake: Arc::clone(&self.wake),
                board: self.board.clone(),
                unreachable_after: self.options.unreachable_after,
            };
            tasks.spawn(attempt.run(delivery, destination));
        }
        // Reap what has finished so the set does not grow.
        while tasks.try_join_next().is_some() {}
        Ok(report)
    }

    /// Waits for every attempt started so far to finish and be recorded.
    pub async fn settle(&self) {
        let mut tasks = self.tasks.lock().await;
        while tasks.join_next().await.is_some() {}
    }

    /// Passes until nothing is due now, waiting for each pass's attempts; for
    /// tests and for draining before shutdown.
    pub async fn drain(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let report = self.tick().await?;
            self.settle().await;
            total += report.started;
            if report.started == 0 && report.deferred == 0 {
                return Ok(total);
            }
        }
    }

    /// Runs until `shutdown` completes, then waits for attempts in flight.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let started = match self.tick().await {
                Ok(report) => report.started,
                Err(error) => {
                    tracing::warn!(%error, "relay pass failed");
                    0
                }
            };
            let now = self.clock.now();
            let until = |at: Timestamp| {
                Duration::try_from(at.duration_since(now).max(SignedDuration::ZERO))
                    .unwrap_or_default()
            };
            let mut sleep = match self.store.next_delivery_at().await {
                Ok(Some(next)) if next > now => until(next),
                // Something is due but this pass started nothing more than
                // its batch: what is due is in flight, held back or at its
                // destination's cap. A finished attempt wakes the loop;
                // passing again at once would only spin.
                Ok(Some(_)) if started >= self.options.batch => Duration::ZERO,
                _ => self.options.idle_poll,
            };
            if let Some(held) = lock(&self.in_flight).earliest_hold() {
                sleep = sleep.min(until(held));
            }
            let sleep = sleep.min(self.options.idle_poll);
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(sleep) => {}
            }
        }
        self.settle().await;
    }
}

/// One fewer of `destination`'s attempts counted in `counts`.
fn release(counts: &mut HashMap<String, usize>, destination: &str) {
    if let Some(n) = counts.get_mut(destination) {
        *n = n.saturating_sub(1);
    }
}

fn lock(in_flight: &Mutex<InFlight>) -> std::sync::MutexGuard<'_, InFlight> {
    // The guarded sets stay consistent even if a holder panicked mid-update:
    // every update is a single insert or remove.
    in_flight
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One delivery attempt, owning what it needs to run as a task.
struct Attempt<S, T> {
    store: S,
    transport: Arc<T>,
    clock: Arc<dyn Clock>,
    retry: RetryPolicy,
    timeout: Duration,
    in_flight: Arc<Mutex<InFlight>>,
    wake: Arc<Notify>,
    board: DestinationBoard,
    unreachable_after: u32,
}

impl<S: OutboxStore + AlertLog + 'static, T: Transport> Attempt<S, T> {
    async fn run(self, delivery: PendingDelivery, destination: String) {
        let started = std::time::Instant::now();
        let answer =
            match tokio::time::timeout(self.timeout, self.transport.deliver(&delivery)).await {
                Ok(answer) => answer,
                Err(_) => Err(DeliveryError::Transient(format!(
                    "no answer within {:?}",
                    self.timeout
                ))),
            };
        // The destination has answered, or is given up on: its slot is free
        // for the next lane's head. This message stays in flight, so it is
        // not started again, until its outcome is recorded; its lane's next
        // message is due only once the store recorded it delivered.
        {
            let mut in_flight = lock(&self.in_flight);
            release(&mut in_flight.per_destination, &destination);
            *in_flight.recording.entry(destination.clone()).or_default() += 1;
        }
        self.wake.notify_one();
        // What the acknowledgement brings about (an offer's receipt) is
        // written now, with the slot free.
        // Bounded as the call was: a store that does not answer leaves the
        // message to a later attempt rather than holding it for ever.
        let mut result = answer;
        while let Ok(Delivered::Receipt(receipt)) = result {
            result = match tokio::time::timeout(self.timeout, receipt).await {
                Ok(result) => result,
                Err(_) => Err(DeliveryError::Transient(format!(
                    "the receipt was not recorded within {:?}",
                    self.timeout
                ))),
            };
        }
        let now = self.clock.now();
        let already_recorded = matches!(result, Ok(Delivered::Recorded));
        if matches!(result, Ok(Delivered::Withdrawn)) {
            tracing::info!(message_id = %delivery.id, %destination, referral = %delivery.message.referral, "not sent: no longer the destination's to have");
        }
        let outcome = self.outcome(&delivery, result.map(|_| ()), now);
        self.observe(&delivery, &destination, &outcome, started.elapsed(), now)
            .await;
        match &outcome {
            DeliveryOutcome::Delivered => {
                tracing::debug!(message_id = %delivery.id, %destination, referral = %delivery.message.referral, "delivered");
            }
            // Not an attempt's outcome: a purge discards dead letters.
            DeliveryOutcome::Discarded => {}
            DeliveryOutcome::Retry { at, error } => {
                // The error may carry the destination's own words: escaped.
                tracing::info!(message_id = %delivery.id, %destination, referral = %delivery.message.referral, error = %printable(error), retry_at = %at, "delivery failed, will retry");
            }
            DeliveryOutcome::Dead { error, .. } => {
                tracing::warn!(message_id = %delivery.id, %destination, referral = %delivery.message.referral, error = %printable(error), "delivery given up, moved to dead letters");
            }
        }
        let recorded = if already_recorded {
            Ok(())
        } else {
            self.store.record_delivery(&delivery.id, outcome).await
        };
        let mut in_flight = lock(&self.in_flight);
        in_flight.messages.remove(&delivery.id);
        in_flight
            .lanes
            .remove(&(delivery.message.referral.clone(), destination.clone()));
        in_flight.finished_during_pass.insert(delivery.id.clone());
        release(&mut in_flight.recording, &destination);
        match recorded {
            Ok(()) => {
                in_flight.held.remove(&delivery.id);
                drop(in_flight);
                // The lane's next message may be due now.
                self.wake.notify_one();
            }
            Err(error) => {
                // The message stays due in the store and is attempted again
                // (at least once still holds), but no sooner than the retry
                // policy allows: each outcome in a row that cannot be
                // recorded doubles the wait, as failed attempts do.
                let unrecorded = in_flight
                    .held
                    .get(&delivery.id)
                    .map_or(1, |h| h.unrecorded.saturating_add(1));
                let delay = SignedDuration::try_from(
                    self.retry
                        .delay_after(delivery.attempts.saturating_add(unrecorded)),
                )
                .unwrap_or(SignedDuration::MAX);
                let until = now.checked_add(delay).unwrap_or(Timestamp::MAX);
                in_flight
                    .held
                    .insert(delivery.id.clone(), Held { until, unrecorded });
                drop(in_flight);
                tracing::error!(message_id = %delivery.id, %error, retry_at = %until, unrecorded, "cannot record delivery outcome; the message waits before it is sent again");
            }
        }
    }

    /// Counts the attempt, and keeps the destination's health, raising an
    /// alert when it has just become unreachable.
    async fn observe(
        &self,
        delivery: &PendingDelivery,
        destination: &str,
        outcome: &DeliveryOutcome,
        took: Duration,
        now: Timestamp,
    ) {
        let (label, error) = match outcome {
            DeliveryOutcome::Delivered => ("delivered", None),
            DeliveryOutcome::Discarded => ("discarded", None),
            DeliveryOutcome::Retry { error, .. } => ("retry", Some(error.as_str())),
            DeliveryOutcome::Dead { error, .. } => ("dead", Some(error.as_str())),
        };
        let label_destination = delivery.message.destination.key();
        metrics::counter!("gateway_delivery_attempts_total", "destination" => label_destination.clone(), "outcome" => label)
            .increment(1);
        metrics::histogram!("gateway_delivery_seconds", "destination" => label_destination.clone())
            .record(took.as_secs_f64());
        if error.is_some() {
            metrics::counter!("gateway_delivery_failures_total", "destination" => label_destination)
                .increment(1);
        }
        if !self
            .board
            .record(destination, error, now, self.unreachable_after)
        {
            return;
        }
        // The detail starts with the destination's key: the alert
        // webhooks read it from there for their `destination` label.
        let record = AlertRecord {
            kind: AlertKind::DestinationUnreachable,
            raised_at: now,
            referral: None,
            due_at: None,
            detail: format!(
                "{} failed {} attempts in a row; last error: {}",
                delivery.message.destination,
                self.unreachable_after,
                error.unwrap_or_default()
            ),
            subject: None,
        };
        tracing::warn!(%destination, "destination unreachable");
        if let Err(error) = self.store.raise_alert(record).await {
            tracing::error!(%error, %destination, "cannot raise the unreachable alert");
        }
    }

    fn outcome(
        &self,
        delivery: &PendingDelivery,
        result: Result<(), DeliveryError>,
        now: Timestamp,
    ) -> DeliveryOutcome {
        let attempts = delivery.attempts + 1;
        let dead = |error: String| DeliveryOutcome::Dead {
            at: now,
            alert: AlertRecord {
                kind: AlertKind::DeadLetter,
                raised_at: now,
                referral: Some(delivery.message.referral.clone()),
                due_at: None,
                // "… to <destination key> …": the alert webhooks read the
                // destination from there for their `destination` label.
                detail: format!(
                    "message {} to {} set aside after {attempts} attempt(s): {error}",
                    delivery.id, delivery.message.destination
                ),
                subject: None,
            },
            error,
        };
        match result {
            Ok(()) => DeliveryOutcome::Delivered,
            Err(DeliveryError::Permanent(error)) => dead(error),
            Err(DeliveryError::Transient(error)) => {
                if self.retry.exhausted(attempts, delivery.enqueued_at, now) {
                    dead(error)
                } else {
                    let delay = SignedDuration::try_from(self.retry.delay_after(attempts))
                        .unwrap_or(SignedDuration::MAX);
                    let at = now.checked_add(delay).unwrap_or(Timestamp::MAX);
                    DeliveryOutcome::Retry { at, error }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
