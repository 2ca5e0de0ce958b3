//! The single writer. Every write goes through one thread that takes the waiting
//! operations as a group, applies each as one atomic sled batch, then makes the
//! whole group durable with one flush and one `fdatasync`, and only then answers
//! them all (group commit).
//!
//! One writer is also what makes the read–check–write of a commit (version check,
//! idempotency key, lane heads) free of races, and it sidesteps sled's deadlock
//! when many tasks call `flush_async` at once (sled #1308).
//!
//! When a group cannot be made durable (a full disk, no descriptors left, an
//! I/O error), nothing in it is acknowledged and the writer refuses every
//! write from then on. It never retries the same sync and trusts it: after a
//! failed `fsync` the kernel may have dropped the dirty pages, so a later
//! `fsync` that succeeds proves nothing. Instead, as robust databases do, it
//! recovers from what is on disk. At once, it gives up the store's reserve
//! file and reopens the database for the readers: sled fails reads too after
//! an I/O error of its own, and needs room to reopen, so the reserve's space
//! is what keeps reads going while writes are refused. Then, at growing
//! intervals, it checks that the directory takes a synced write again and has
//! room for the reserve once more, then closes the database, reopens it from
//! disk (which checks the schema and reads the counters afresh), syncs it,
//! and resumes.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use mediation_core::store::{MessageId, Receipt, StoreError};
use mediation_records::{DeliveryRecord, decode_delivery, encode_plain};
use tokio::sync::oneshot;

use crate::durability::Syncer;
use crate::format::{AuditHead, AuditLink, chain_hash, corrupt, split_head};
use crate::keys;
use crate::prepare::Prepared;

/// A write, encoded by its caller ([`crate::prepare`]).
pub(crate) enum Op {
    Commit(Box<Prepared>),
    Delivery {
        id: MessageId,
        outcome: Outcome,
    },
    Replay {
        id: MessageId,
        at: Timestamp,
    },
    /// Encoded audit records.
    Audit(Vec<Vec<u8>>),
    /// An encoded alert record.
    RaiseAlert(Vec<u8>),
    Acknowledge {
        seq: u64,
        /// The encoded acknowledgement.
        acknowledgement: Vec<u8>,
    },
}

/// How a delivery attempt ended, with its alert encoded.
pub(crate) enum Outcome {
    Delivered,
    Retry {
        at: Timestamp,
        error: String,
    },
    Dead {
        at: Timestamp,
        error: String,
        alert: Vec<u8>,
    },
}

pub(crate) struct Request {
    pub(crate) op: Op,
    pub(crate) reply: oneshot::Sender<Result<Receipt, StoreError>>,
}

/// Counters of group commits, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct CommitStats {
    groups: AtomicU64,
    operations: AtomicU64,
}

impl CommitStats {
    /// (groups made durable, operations in them).
    pub fn snapshot(&self) -> (u64, u64) {
        (
            self.groups.load(Ordering::Relaxed),
            self.operations.load(Ordering::Relaxed),
        )
    }
}

/// The sequence counters a batch advances; copied, advanced, and kept only if the
/// batch is applied.
#[derive(Debug, Clone)]
pub(crate) struct Counters {
    pub(crate) outbox_seq: u64,
    pub(crate) alert_seq: u64,
    pub(crate) audit: AuditHead,
}

/// When the writer next tries to recover from a failed sync, and the
/// intervals after that.
pub(crate) struct Recovery {
    next_at: Instant,
    delays: backon::ExponentialBackoff,
}

impl Recovery {
    fn start() -> Self {
        use backon::BackoffBuilder;
        let mut delays = backon::ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(100))
            .with_max_delay(Duration::from_secs(5))
            .without_max_times()
            .build();
        let first = delays.next().unwrap_or(Duration::from_secs(1));
        Self {
            next_at: Instant::now() + first,
            delays,
        }
    }

    fn postpone(&mut self) {
        let delay = self.delays.next().unwrap_or(Duration::from_secs(5));
        self.next_at = Instant::now() + delay;
    }
}

pub(crate) struct Writer {
    /// Held by tests that need several operations to queue up before the
    /// writer takes them; uncontended otherwise.
    pub(crate) gate: Arc<std::sync::Mutex<()>>,
    /// `None` only while the database is being reopened.
    pub(crate) db: Option<sled::Db>,
    pub(crate) shared: Arc<crate::Shared>,
    pub(crate) options: crate::StoreOptions,
    /// Set from a failed sync until the store has been reopened from disk.
    pub(crate) recovery: Option<Recovery>,
    pub(crate) counters: Counters,
    pub(crate) syncer: Syncer,
    /// Why the writer stopped accepting writes, shared with health checks.
    pub(crate) failure: Arc<std::sync::Mutex<Option<String>>>,
    pub(crate) stats: Arc<CommitStats>,
    pub(crate) max_group: usize,
}

impl Writer {
    pub(crate) fn run(mut self, requests: Receiver<Request>) {
        loop {
            let first = match &self.recovery {
                None => match requests.recv() {
                    Ok(first) => first,
                    Err(_) => return,
                },
                Some(recovery) => {
                    let wait = recovery.next_at.saturating_duration_since(Instant::now());
                    let next = requests.recv_timeout(wait);
                    if self
                        .recovery
                        .as_ref()
                        .is_some_and(|r| Instant::now() >= r.next_at)
                    {
                        self.try_recover();
                    }
                    match next {
                        Ok(first) => first,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                }
            };
            let gate = Arc::clone(&self.gate);
            let _open = gate.lock().unwrap_or_else(|p| p.into_inner());
            let mut group = vec![first];
            while group.len() < self.max_group {
                match requests.try_recv() {
                    Ok(request) => group.push(request),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let mut results: Vec<(oneshot::Sender<_>, Result<Receipt, StoreError>)> =
                Vec::with_capacity(group.len());
            for request in group {
                let failed = self
                    .failure
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let result = match failed {
                    Some(why) => Err(StoreError::Unavailable(why)),
                    None => self.apply(request.op),
                };
                results.push((request.reply, result));
            }
            let flush_started = std::time::Instant::now();
            // A group with anything applied must be made durable. So must
            // one whose batch sled refused: sled fails every operation after
            // an I/O error of its own, and only a flush tells that apart
            // from a passing refusal.
            let must_sync = self.failure_is_none()
                && results
                    .iter()
                    .any(|(_, r)| matches!(r, Ok(_) | Err(StoreError::Unavailable(_))));
            if must_sync {
                match self.make_durable() {
                    Ok(()) => self.shared.publish_durable(&self.counters),
                    Err(e) => {
                        // What was applied is in sled's memory but maybe not
                        // on disk. Nothing can be acknowledged, and nothing
                        // more accepted until the store is reopened from disk.
                        let why = format!("cannot make writes durable: {e}");
                        tracing::error!(error = %e, "store stopped accepting writes; it will reopen from disk once the disk takes writes again");
                        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                        self.recovery = Some(Recovery::start());
                        self.reopen_for_reads();
                        for (_, result) in &mut results {
                            if result.is_ok() {
                                *result = Err(StoreError::Unavailable(why.clone()));
                            }
                        }
                    }
                }
            }
            metrics::histogram!("gateway_store_flush_seconds")
                .record(flush_started.elapsed().as_secs_f64());
            metrics::histogram!("gateway_store_group_operations").record(results.len() as f64);
            self.stats.groups.fetch_add(1, Ordering::Relaxed);
            self.stats
                .operations
                .fetch_add(results.len() as u64, Ordering::Relaxed);
            for (reply, result) in results {
                // A caller that stopped waiting is not an error of the store.
                let _ = reply.send(result);
            }
        }
    }

    fn make_durable(&mut self) -> std::io::Result<()> {
        let db = self
            .db
            .as_ref()
            .ok_or_else(|| std::io::Error::other("the store is being reopened"))?;
        db.flush().map_err(std::io::Error::from)?;
        // A sync opens the directories it lists and the files new since the
        // last one. With no descriptor free (connections took them all),
        // that open fails before anything is synced: no sync failed, so
        // nothing is lost by trying again once one is free, as the listener
        // frees its reserve of them. Only after a while is it a failure.
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        loop {
            match self.syncer.sync() {
                Err(e) if out_of_descriptors(&e) && started.elapsed() < DESCRIPTOR_WAIT => {
                    if pause == Duration::from_millis(5) {
                        tracing::warn!(error = %e, "no descriptor free to sync the store; waiting for one");
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                result => return result,
            }
        }
    }

    fn failure_is_none(&self) -> bool {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_none()
    }

    fn db(&self) -> Result<&sled::Db, StoreError> {
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the store is being reopened".into()))
    }

    /// After a failed sync: sled fails reads too once an I/O error of its own
    /// has happened, so the readers get a handle opened afresh from what is
    /// on disk, at once. Writes stay refused until `try_recover` has seen the
    /// disk take a synced write again. If the reopening fails, reads fail too
    /// until the store recovers.
    fn reopen_for_reads(&mut self) {
        // The reserve's room is what lets sled reopen, and read, on a full disk.
        let _ = std::fs::remove_file(crate::reserve_path(&self.options));
        let mut shared = self.shared.db.write().unwrap_or_else(|p| p.into_inner());
        shared.take();
        self.db.take();
        let reopened = crate::open_waiting_for_lock(
            || crate::sled_config(&self.options).open(),
            self.options.lock_wait,
        );
        match reopened {
            Ok(db) => {
                *shared = Some(db.clone());
                self.db = Some(db);
            }
            Err(_) => tracing::error!(
                "the store could not be reopened for reading after a failed sync; reads fail until it recovers"
            ),
        }
    }

    /// One attempt to recover from a failed sync; see the module's doc.
    fn try_recover(&mut self) {
        let Some(recovery) = &mut self.recovery else {
            return;
        };
        if let Err(e) = probe(&self.options.path) {
            tracing::warn!(error = %e, "the store's disk still refuses synced writes; writes stay refused");
            recovery.postpone();
            return;
        }
        // Writes resume only with the reserve back in place, so that the
        // next full disk again leaves room to read.
        if let Err(e) = crate::make_reserve(&self.options) {
            tracing::warn!(error = %e, "no room yet for the store's reserve; writes stay refused");
            recovery.postpone();
            return;
        }
        // Close every handle, so the directory lock is released, then open
        // afresh from what is on disk.
        {
            let mut shared = self.shared.db.write().unwrap_or_else(|p| p.into_inner());
            shared.take();
            self.db.take();
            match crate::open_db(&self.options) {
                Ok((db, counters, syncer)) => {
                    *shared = Some(db.clone());
                    self.db = Some(db);
                    self.counters = counters;
                    self.syncer = syncer;
                    self.shared.publish_durable(&self.counters);
                }
                Err(e) => {
                    tracing::error!(error = %e, "reopening the store failed; writes stay refused");
                    // Reads need a handle even so: take whatever opens.
                    if let Ok(db) = crate::sled_config(&self.options).open() {
                        *shared = Some(db.clone());
                        self.db = Some(db);
                    }
                    if let Some(recovery) = &mut self.recovery {
                        recovery.postpone();
                    }
                    return;
                }
            }
        }
        self.recovery = None;
        *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
        tracing::info!("store reopened from disk after a failed sync; writes resume");
    }

    fn apply(&mut self, op: Op) -> Result<Receipt, StoreError> {
        let mut counters = self.counters.clone();
        let mut batch = sled::Batch::default();
        let mut tally = Tally::default();
        let receipt = match op {
            Op::Commit(prepared) => {
                self.commit(&mut batch, &mut counters, &mut tally, *prepared)?
            }
            Op::Delivery { id, outcome } => {
                self.delivery(&mut batch, &mut counters, &mut tally, &id, outcome)?
            }
            Op::Replay { id, at } => self.replay(&mut batch, &mut tally, &id, at)?,
            Op::Audit(records) => {
                append_audit(&mut batch, &mut counters, records);
                Receipt { version: 0 }
            }
            Op::RaiseAlert(record) => {
                append_alerts(&mut batch, &mut counters, vec![record]);
                Receipt {
                    version: counters.alert_seq,
                }
            }
            Op::Acknowledge {
                seq,
                acknowledgement,
            } => {
                if self.get(&keys::alert(seq))?.is_none() {
                    return Err(StoreError::NotFound(format!("alert {seq}")));
                }
                // The first acknowledgement stands; the caller reads it back.
                if self.get(&keys::acknowledgement(seq))?.is_none() {
                    batch.insert(keys::acknowledgement(seq), acknowledgement);
                }
                Receipt { version: seq }
            }
        };
        tally.write(self.db()?, &mut batch)?;
        // Counters travel in the same batch as what they number, and only when
        // they moved.
        if counters.outbox_seq != self.counters.outbox_seq {
            batch.insert(keys::OUTBOX_SEQ, &counters.outbox_seq.to_be_bytes());
        }
        if counters.alert_seq != self.counters.alert_seq {
            batch.insert(keys::ALERT_SEQ, &counters.alert_seq.to_be_bytes());
        }
        if counters.audit != self.counters.audit {
            batch.insert(keys::AUDIT_HEAD, encode_plain(&counters.audit));
        }
        self.db()?.apply_batch(batch).map_err(unavailable)?;
        self.counters = counters;
        Ok(receipt)
    }

    fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.db()?.get(key).map_err(unavailable)
    }

    fn commit(
        &self,
        batch: &mut sled::Batch,
        counters: &mut Counters,
        tally: &mut Tally,
        c: Prepared,
    ) -> Result<Receipt, StoreError> {
        let head_key = keys::head(&c.referral);
        let actual = match self.get(&head_key)? {
            Some(bytes) => split_head(&head_key, &bytes)?.0,
            None => 0,
        };
        if actual != c.expected_version {
            return Err(StoreError::VersionConflict {
                referral: c.referral,
                expected: c.expected_version,
                actual,
            });
        }
        if c.expected_version == 0 && c.bundle.is_none() {
            return Err(StoreError::Corrupt(format!(
                "the first commit of {} does not start with its receipt",
                c.referral
            )));
        }
        if let Some(key) = c.court_key {
            if let Some(existing) = self.get(&key)? {
                let existing = String::from_utf8_lossy(&existing)
                    .parse()
                    .map_err(|_| StoreError::Corrupt("idempotency index".into()))?;
                return Err(StoreError::DuplicateCourtReferral { existing });
            }
            batch.insert(key, c.referral.as_str().as_bytes());
        }
        for change in &c.loads {
            let key = keys::load(&change.organisation);
            let open = read_count(self.get(&key)?.as_deref());
            let open = if change.delta > 0 {
                open.saturating_add(1)
            } else {
                open.saturating_sub(1)
            };
            batch.insert(key, &open.to_be_bytes());
        }
        if let Some(bundle) = c.bundle {
            batch.insert(keys::bundle(&c.referral), bundle);
        }
        for (key, value) in c.events {
            batch.insert(key, value);
        }
        for key in c.activity {
            batch.insert(key, &[][..]);
        }
        batch.insert(head_key, c.head);

        for entry in self.db()?.scan_prefix(keys::timer_ref_prefix(&c.referral)) {
            let (ref_key, timer_key) = entry.map_err(unavailable)?;
            batch.remove(timer_key);
            batch.remove(ref_key);
        }
        for (ref_key, key, value) in c.timers {
            batch.insert(ref_key, key.clone());
            batch.insert(key, value);
        }

        let mut lanes_with_messages: HashSet<Vec<u8>> = HashSet::new();
        let at = c.at;
        for (lane, value) in c.messages {
            counters.outbox_seq += 1;
            let n = counters.outbox_seq;
            let key = keys::message(&lane, n);
            let lane_was_empty = !lanes_with_messages.contains(&lane)
                && self.db()?.scan_prefix(&lane).next().is_none();
            batch.insert(key.clone(), value);
            batch.insert(keys::referral_message(&c.referral, n), key.clone());
            if let Some(trace) = &c.trace {
                batch.insert(keys::trace(&c.referral, n), trace.clone());
            }
            batch.insert(keys::waiting(&key, n), key.clone());
            tally.add(keys::destination_in(&key), 1, 0);
            if lane_was_empty {
                schedule(batch, n, at, &key);
            }
            lanes_with_messages.insert(lane);
        }
        append_alerts(batch, counters, c.alerts);
        append_audit(batch, counters, c.audit);
        if let Some(id) = &c.delivered {
            // Already recorded (by an earlier attempt's receipt, say):
            // nothing more to record.
            match self.delivery(batch, counters, tally, id, Outcome::Delivered) {
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Receipt { version: c.version })
    }

    fn find_message(&self, id: &MessageId) -> Result<(u64, Vec<u8>, DeliveryRecord), StoreError> {
        let not_found = || StoreError::NotFound(format!("message {id}"));
        let (referral, n) = keys::message_of_id(id).ok_or_else(not_found)?;
        let key = self
            .get(&keys::referral_message(&referral, n))?
            .ok_or_else(not_found)?
            .to_vec();
        let bytes = self.get(&key)?.ok_or_else(not_found)?;
        let record = decode_delivery(&bytes).map_err(|e| corrupt(&key, e))?;
        Ok((n, key, record))
    }

    /// Takes a message out of its destination's schedule. Its schedule key
    /// follows from its key and its next attempt; a message that is not its
    /// lane's head has none, and removing it changes nothing.
    fn unschedule(
        batch: &mut sled::Batch,
        n: u64,
        key: &[u8],
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        let due = record.next_attempt_at().map_err(|e| corrupt(key, e))?;
        batch.remove(keys::schedule(key, due, n));
        Ok(())
    }

    fn delivery(
        &self,
        batch: &mut sled::Batch,
        counters: &mut Counters,
        tally: &mut Tally,
        id: &MessageId,
        outcome: Outcome,
    ) -> Result<Receipt, StoreError> {
        let (n, key, mut record) = self.find_message(id)?;
        Self::unschedule(batch, n, &key, &record)?;
        let destination = keys::destination_in(&key);
        match outcome {
            Outcome::Delivered => {
                let referral = keys::referral_of_message(&key)
                    .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
                batch.remove(key.clone());
                batch.remove(keys::referral_message(&referral, n));
                batch.remove(keys::trace(&referral, n));
                batch.remove(keys::waiting(&key, n));
                if record.is_dead() {
                    batch.remove(keys::dead(n));
                    tally.add(destination, 0, -1);
                } else {
                    tally.add(destination, -1, 0);
                }
                // The lane's next message, if any, becomes its head.
                let lane = &key[..key.len() - 16];
                let next = self
                    .db()?
                    .scan_prefix(lane)
                    .map(|entry| entry.map_err(unavailable))
                    .find(|entry| !matches!(entry, Ok((k, _)) if k.as_ref() == key.as_slice()));
                if let Some(entry) = next {
                    let (next_key, bytes) = entry?;
                    let next = decode_delivery(&bytes).map_err(|e| corrupt(&next_key, e))?;
                    if !next.is_dead() {
                        let m = keys::trailing_seq(&next_key)
                            .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
                        let due = next.next_attempt_at().map_err(|e| corrupt(&next_key, e))?;
                        schedule(batch, m, due, &next_key);
                    }
                }
            }
            Outcome::Retry { at, error } => {
                record.retry(at, error);
                batch.insert(key.clone(), record.encode());
                schedule(batch, n, at, &key);
            }
            Outcome::Dead { at, error, alert } => {
                tally.add(destination, -1, 1);
                record.dead(at, error);
                batch.insert(key.clone(), record.encode());
                batch.insert(keys::dead(n), key);
                append_alerts(batch, counters, vec![alert]);
            }
        }
        Ok(Receipt { version: 0 })
    }

    fn replay(
        &self,
        batch: &mut sled::Batch,
        tally: &mut Tally,
        id: &MessageId,
        at: Timestamp,
    ) -> Result<Receipt, StoreError> {
        let (n, key, mut record) = self.find_message(id)?;
        if !record.is_dead() || self.get(&keys::dead(n))?.is_none() {
            return Err(StoreError::NotFound(format!("dead letter {id}")));
        }
        tally.add(keys::destination_in(&key), 1, -1);
        record.replay(at);
        batch.remove(keys::dead(n));
        batch.insert(key.clone(), record.encode());
        schedule(batch, n, at, &key);
        Ok(Receipt { version: 0 })
    }
}

/// How long a sync waits for a descriptor to come free before it fails.
const DESCRIPTOR_WAIT: Duration = Duration::from_secs(3);

/// EMFILE or ENFILE: the process, or the system, has no descriptor free
/// (the same numbers on Linux and the BSDs). An open that fails so has
/// synced nothing.
fn out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}

/// Whether the store's directory takes a synced write again: a scratch file
/// of one sled segment, written, synced and removed. Only once it does is
/// reopening worth trying.
fn probe(dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = dir.join("recovery-probe");
    let result = (|| {
        let mut file = std::fs::File::create(&path)?;
        file.write_all(&vec![0; 512 * 1024])?;
        file.sync_all()
    })();
    let _ = std::fs::remove_file(&path);
    result
}

/// Puts a lane's head in its destination's schedule, due at `at`, which its
/// record's next attempt must say too: that is how it is found again.
fn schedule(batch: &mut sled::Batch, n: u64, at: Timestamp, message_key: &[u8]) {
    batch.insert(keys::schedule(message_key, at, n), message_key);
}

fn append_alerts(batch: &mut sled::Batch, counters: &mut Counters, alerts: Vec<Vec<u8>>) {
    for record in alerts {
        counters.alert_seq += 1;
        batch.insert(keys::alert(counters.alert_seq), record);
    }
}

/// How one operation moves each destination's counts of pending and dead
/// messages; written in the operation's batch, so the counts always agree
/// with the messages stored.
#[derive(Debug, Default)]
pub(crate) struct Tally(std::collections::BTreeMap<Vec<u8>, [i64; 2]>);

impl Tally {
    fn add(&mut self, destination: &[u8], pending: i64, dead: i64) {
        let entry = self.0.entry(destination.to_vec()).or_default();
        entry[0] += pending;
        entry[1] += dead;
    }

    /// Adds the moves to the stored counts, in `batch`; a destination
    /// left with nothing loses its key.
    fn write(self, db: &sled::Db, batch: &mut sled::Batch) -> Result<(), StoreError> {
        for (destination, [pending, dead]) in self.0 {
            if pending == 0 && dead == 0 {
                continue;
            }
            let key = keys::backlog(&destination);
            let [was_pending, was_dead] =
                read_backlog(db.get(&key).map_err(unavailable)?.as_deref());
            let now = [
                was_pending.saturating_add_signed(pending),
                was_dead.saturating_add_signed(dead),
            ];
            if now == [0, 0] {
                batch.remove(key);
            } else {
                batch.insert(key, &encode_backlog(now)[..]);
            }
        }
        Ok(())
    }
}

/// A destination's stored counts: pending, then dead; nothing when absent.
pub(crate) fn read_backlog(bytes: Option<&[u8]>) -> [u64; 2] {
    match bytes.and_then(|b| <[u8; 16]>::try_from(b).ok()) {
        Some(b) => {
            let (pending, dead) = b.split_at(8);
            [
                u64::from_be_bytes(pending.try_into().unwrap_or_default()),
                u64::from_be_bytes(dead.try_into().unwrap_or_default()),
            ]
        }
        None => [0, 0],
    }
}

pub(crate) fn encode_backlog([pending, dead]: [u64; 2]) -> [u8; 16] {
    let mut bytes = [0; 16];
    bytes[..8].copy_from_slice(&pending.to_be_bytes());
    bytes[8..].copy_from_slice(&dead.to_be_bytes());
    bytes
}

/// A stored count (u64 big-endian); 0 when absent.
pub(crate) fn read_count(bytes: Option<&[u8]>) -> u64 {
    bytes
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn append_audit(batch: &mut sled::Batch, counters: &mut Counters, records: Vec<Vec<u8>>) {
    for record in records {
        let seq = counters.audit.next_seq;
        let prev_hash = std::mem::take(&mut counters.audit.last_hash);
        let hash = chain_hash(seq, &prev_hash, &record);
        let link = AuditLink {
            prev_hash,
            hash: hash.clone(),
            record,
        };
        batch.insert(keys::audit(seq), encode_plain(&link));
        counters.audit = AuditHead {
            next_seq: seq + 1,
            last_hash: hash,
        };
    }
}

pub(crate) fn unavailable(e: sled::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}
