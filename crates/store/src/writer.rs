//! The single writer. Every write goes through one thread that takes the waiting
//! operations as a group, stages each in turn over the database ([`Staged`]:
//! a later operation reads what an earlier one wrote), and applies the whole
//! group as one atomic sled batch. It then hands the group to the flusher
//! ([`crate::flusher`]), which makes it durable with one flush and one
//! `fdatasync` before answering any of it (group commit), while the writer
//! goes on with the next group.
//!
//! One writer is also what makes the read–check–write of a commit (version check,
//! idempotency key, lane heads) free of races.
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
//!
//! Reopening is also how the writer bounds a restart. sled 0.34 records
//! where its log stands (its page-table snapshot) only when a database is
//! opened, so a restart replays everything written since the last open.
//! Once enough has been written, the writer reopens the store at a quiet
//! moment (a checkpoint): readers wait for the new handle, none fails.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use mediation_core::store::{MessageId, Receipt, StoreError};
use mediation_records::{DeliveryRecord, decode_delivery, encode_plain};
use tokio::sync::oneshot;

use crate::durability::Syncer;
use crate::flusher::{Answer, Flushing, Job};
use crate::format::{AuditHead, AuditLink, chain_hash, corrupt, read_head};
use crate::format::{Counters, unavailable};
use crate::keys;
use crate::prepare::Prepared;
use crate::staged::Staged;
use crate::stats::CommitStats;

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
    /// Keys to remove, e.g. a purged referral's files once removed.
    Remove(Vec<Vec<u8>>),
    /// Audit links whose detail is cut, each with the value it was read
    /// with, and the purge's place moved from `from` to `to`: applied only
    /// if the place and every link are still as read (the answer's version
    /// is then 1; 0 when something moved first, and nothing is written).
    CutAuditDetails {
        from: u64,
        to: u64,
        cuts: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
    },
    Acknowledge {
        seq: u64,
        /// The encoded acknowledgement.
        acknowledgement: Vec<u8>,
    },
}

/// How a delivery attempt ended, with its alert encoded.
pub(crate) enum Outcome {
    Delivered,
    /// A dead letter removed unsent; refused for a message that is not one.
    Discarded,
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
    pub(crate) db: Option<Arc<sled::Db>>,
    pub(crate) shared: Arc<crate::Shared>,
    pub(crate) options: crate::StoreOptions,
    /// Set from a failed sync until the store has been reopened from disk.
    pub(crate) recovery: Option<Recovery>,
    pub(crate) counters: Counters,
    /// Where applied groups go to be made durable.
    pub(crate) jobs: Option<Sender<Job>>,
    pub(crate) flusher: Option<std::thread::JoinHandle<()>>,
    pub(crate) flushing: Arc<Flushing>,
    /// Why the writer stopped accepting writes, shared with health checks.
    pub(crate) failure: Arc<std::sync::Mutex<Option<String>>>,
    pub(crate) stats: Arc<CommitStats>,
    pub(crate) max_group: usize,
    /// Bytes of keys and values applied since the database was opened.
    pub(crate) written_since_open: u64,
    /// No checkpoint is tried before this: set when one gave up waiting
    /// for a reader, so that a long scan is not waited on group after group.
    pub(crate) checkpoint_not_before: Instant,
}

impl Writer {
    pub(crate) fn run(mut self, requests: Receiver<Request>) {
        while let Some(first) = self.next_request(&requests) {
            let gate = Arc::clone(&self.gate);
            let _open = gate.lock().unwrap_or_else(|p| p.into_inner());
            let mut group = vec![first];
            while group.len() < self.max_group {
                match requests.try_recv() {
                    Ok(request) => group.push(request),
                    Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                }
            }
            let answers = self.apply_group(group);
            // A group with anything applied must be made durable. So must
            // one whose batch sled refused: sled fails every operation after
            // an I/O error of its own, and only a flush tells that apart
            // from a passing refusal.
            // (Decided from the answers alone: a sync that failed meanwhile
            // is the flusher's to report, and it fails them.) And while an
            // earlier group is still being synced, even a group of refusals
            // waits for it: a refusal may rest on that group's writes (a
            // version, a court key), which must not be told before they are
            // durable.
            let must_sync = answers
                .iter()
                .any(|(_, r)| matches!(r, Ok(_) | Err(StoreError::Unavailable(_))));
            if must_sync || self.flushing.outstanding.load(Ordering::Acquire) > 0 {
                self.hand_over(answers);
            } else {
                answer(answers, None);
            }
            // A store that is never quiet still gets its checkpoint, once
            // half as much again has been written: the callers queued
            // meanwhile wait for it. This bounds what a restart replays.
            if self.written_since_open >= forced_checkpoint(self.options.checkpoint_bytes)
                && Instant::now() >= self.checkpoint_not_before
            {
                self.wait_for_flusher();
                self.checkpoint(Duration::from_secs(1));
            }
        }
        // Every handed-over group is answered before the database is let go.
        self.jobs.take();
        if let Some(flusher) = self.flusher.take() {
            let _ = flusher.join();
        }
    }

    /// The next request to take, after whatever the writer has to do
    /// meanwhile: notice a failed sync, try to recover from one, or
    /// checkpoint when it is quiet. `None` once the store is closing.
    fn next_request(&mut self, requests: &Receiver<Request>) -> Option<Request> {
        loop {
            self.notice_failed_sync();
            if let Some(recovery) = &self.recovery {
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
                    Ok(first) => return Some(first),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            }
            match requests.try_recv() {
                Ok(request) => return Some(request),
                Err(TryRecvError::Disconnected) => return None,
                Err(TryRecvError::Empty) => {}
            }
            if self.flushing.outstanding.load(Ordering::Acquire) > 0 {
                // A sync under way may fail: look again soon, so that the
                // readers get a working handle at once if it does.
                match requests.recv_timeout(Duration::from_millis(2)) {
                    Ok(request) => return Some(request),
                    Err(RecvTimeoutError::Timeout) => continue,
                    Err(RecvTimeoutError::Disconnected) => return None,
                }
            }
            if self.written_since_open >= self.options.checkpoint_bytes {
                // Quiet means nothing to do for a while, not merely
                // nothing this instant: a steady load leaves the queue
                // empty between its groups, and a checkpoint there would
                // hold its callers through the reopening.
                match requests.recv_timeout(self.options.checkpoint_quiet) {
                    Ok(request) => return Some(request),
                    Err(RecvTimeoutError::Disconnected) => return None,
                    Err(RecvTimeoutError::Timeout) => self.checkpoint(Duration::ZERO),
                }
                // Taken, or the reopening failed, or a sync failed
                // meanwhile: the loop sees to it from the top. Not taken (a
                // reader holds the handle, or one gave up lately): wait for
                // work as usual.
                if self.written_since_open < self.options.checkpoint_bytes
                    || self.recovery.is_some()
                    || self.flushing.sync_failed.load(Ordering::Acquire)
                {
                    continue;
                }
            }
            return requests.recv().ok();
        }
    }

    /// Stages each operation of the group in turn and applies the group as
    /// one batch. An operation that fails leaves nothing of its own; a batch
    /// sled refuses fails every operation in it, and their counters go back.
    fn apply_group(&mut self, group: Vec<Request>) -> Vec<Answer> {
        let before = self.counters.clone();
        let mut staged = Staged::default();
        let mut answers: Vec<Answer> = Vec::with_capacity(group.len());
        for request in group {
            let failed = self
                .failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            let result = match failed {
                Some(why) => Err(StoreError::Unavailable(why)),
                None => self.apply(&mut staged, request.op),
            };
            match &result {
                Ok(_) => staged.keep_op(),
                Err(_) => staged.drop_op(),
            }
            answers.push((request.reply, result));
        }
        if staged.is_empty() {
            return answers;
        }
        let asked = staged.asked;
        let (batch, written, bytes) = staged.into_batch();
        match self
            .db()
            .and_then(|db| db.apply_batch(batch).map_err(unavailable))
        {
            Ok(()) => {
                self.stats.record_batch(asked, written, bytes);
                self.written_since_open += bytes;
            }
            Err(e) => {
                self.counters = before;
                for (_, result) in &mut answers {
                    if result.is_ok() {
                        *result = Err(e.clone());
                    }
                }
            }
        }
        answers
    }

    /// Hands an applied group to the flusher, which answers it once durable.
    fn hand_over(&mut self, answers: Vec<Answer>) {
        let (Some(jobs), Some(db)) = (&self.jobs, &self.db) else {
            answer(
                answers,
                Some("the store is being reopened; nothing was made durable"),
            );
            return;
        };
        self.flushing.outstanding.fetch_add(1, Ordering::AcqRel);
        let job = Job::Group {
            db: Arc::clone(db),
            counters: self.counters.clone(),
            answers,
        };
        if let Err(std::sync::mpsc::SendError(job)) = jobs.send(job) {
            self.flushing.outstanding.fetch_sub(1, Ordering::AcqRel);
            if let Job::Group { answers, .. } = job {
                answer(answers, Some("the store's flusher has stopped"));
            }
        }
    }

    /// After a sync failed: nothing more is accepted, and the readers get a
    /// handle opened afresh at once (see the module's doc).
    fn notice_failed_sync(&mut self) {
        if self.flushing.sync_failed.swap(false, Ordering::AcqRel) {
            self.wait_for_flusher();
            self.recovery = Some(Recovery::start());
            self.reopen_for_reads();
            self.flushing.reopened.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Waits until every handed-over group is answered, so that the flusher
    /// holds no handle of the database.
    fn wait_for_flusher(&self) {
        while self.flushing.outstanding.load(Ordering::Acquire) > 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Reopens the database, so that a restart replays only what is
    /// written from now on: called once enough was written since it was
    /// opened, when nothing is being synced. New readers wait for the new
    /// handle; readers that hold the old one (a scan) are waited for up to
    /// `patience`, after which the checkpoint is left for later.
    fn checkpoint(&mut self, patience: Duration) {
        if self.recovery.is_some()
            || !self.failure_is_none()
            || self.flushing.sync_failed.load(Ordering::Acquire)
            || self.flushing.outstanding.load(Ordering::Acquire) > 0
            || Instant::now() < self.checkpoint_not_before
        {
            return;
        }
        let started = Instant::now();
        // The shared slot is held through the reopening: readers wait.
        let slot = Arc::clone(&self.shared);
        let mut shared = slot.db.write().unwrap_or_else(|p| p.into_inner());
        // The shared slot and the writer's own: nobody else holds it.
        while shared.as_ref().is_some_and(|db| Arc::strong_count(db) != 2) {
            if started.elapsed() >= patience {
                self.checkpoint_not_before = Instant::now() + CHECKPOINT_RETRY;
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if shared.is_none() {
            return;
        }
        match self.reopen_from_disk(&mut shared) {
            Ok(()) => {
                self.stats.record_checkpoint();
                let pause = started.elapsed();
                metrics::histogram!("gateway_store_checkpoint_seconds").record(pause.as_secs_f64());
                tracing::info!(
                    pause_ms = pause.as_millis() as u64,
                    "store checkpoint: reopened so that a restart replays only what is written from now on"
                );
            }
            Err(e) => {
                // As after a failed sync: refuse writes until the store
                // reopens cleanly; reads take whatever opens.
                let why = format!("the store could not be reopened at a checkpoint: {e}");
                tracing::error!(error = %e, "store checkpoint failed; writes are refused until it reopens");
                *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
                self.recovery = Some(Recovery::start());
            }
        }
    }

    /// Closes every handle, so that sled's directory lock is released, and
    /// opens the store afresh from what is on disk (which checks the schema,
    /// reads the counters again and syncs); the flusher syncs with the new
    /// files from then on. If that fails, the readers get whatever opens.
    fn reopen_from_disk(
        &mut self,
        shared: &mut Option<Arc<sled::Db>>,
    ) -> Result<(), crate::OpenError> {
        shared.take();
        self.db.take();
        match crate::open_db(&self.options) {
            Ok((db, counters, syncer)) => {
                self.db = install(shared, db);
                self.counters = counters;
                self.send_syncer(syncer);
                self.written_since_open = 0;
                Ok(())
            }
            Err(e) => {
                if let Ok(db) = crate::sled_config(&self.options).open() {
                    self.db = install(shared, db);
                }
                Err(e)
            }
        }
    }

    fn send_syncer(&self, syncer: Syncer) {
        if let Some(jobs) = &self.jobs {
            let _ = jobs.send(Job::Syncer(syncer));
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
            .as_deref()
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
                self.db = install(&mut shared, db);
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
        self.wait_for_flusher();
        // Close every handle, so the directory lock is released, then open
        // afresh from what is on disk.
        {
            // The shared slot is held through the reopening: readers wait.
            let slot = Arc::clone(&self.shared);
            let mut shared = slot.db.write().unwrap_or_else(|p| p.into_inner());
            match self.reopen_from_disk(&mut shared) {
                Ok(()) => self.shared.publish_durable(&self.counters),
                Err(e) => {
                    tracing::error!(error = %e, "reopening the store failed; writes stay refused");
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

    fn apply(&mut self, staged: &mut Staged, op: Op) -> Result<Receipt, StoreError> {
        let mut counters = self.counters.clone();
        let mut tally = Tally::default();
        let receipt = match op {
            Op::Commit(prepared) => self.commit(staged, &mut counters, &mut tally, *prepared)?,
            Op::Delivery { id, outcome } => {
                self.delivery(staged, &mut counters, &mut tally, &id, outcome)?
            }
            Op::Replay { id, at } => self.replay(staged, &mut tally, &id, at)?,
            Op::Audit(records) => {
                append_audit(staged, &mut counters, records);
                Receipt { version: 0 }
            }
            Op::Remove(keys) => {
                for key in keys {
                    staged.remove(key);
                }
                Receipt { version: 0 }
            }
            Op::CutAuditDetails { from, to, cuts } => {
                let place = self.get(staged, keys::AUDIT_DETAILS_PURGED_TO)?;
                let mut unchanged = read_count(place.as_deref()) == from;
                for (key, was, _) in &cuts {
                    unchanged &= self.get(staged, key)?.as_deref() == Some(&was[..]);
                }
                if unchanged {
                    for (key, _, now) in cuts {
                        staged.insert(key, now);
                    }
                    if to != from {
                        staged.insert(keys::AUDIT_DETAILS_PURGED_TO, to.to_be_bytes());
                    }
                }
                Receipt {
                    version: u64::from(unchanged),
                }
            }
            Op::RaiseAlert(record) => {
                append_alerts(staged, &mut counters, vec![record]);
                Receipt {
                    version: counters.alert_seq,
                }
            }
            Op::Acknowledge {
                seq,
                acknowledgement,
            } => {
                if self.get(staged, &keys::alert(seq))?.is_none() {
                    return Err(StoreError::NotFound(format!("alert {seq}")));
                }
                // The first acknowledgement stands; the caller reads it back.
                if self.get(staged, &keys::acknowledgement(seq))?.is_none() {
                    staged.insert(keys::acknowledgement(seq), acknowledgement);
                }
                Receipt { version: seq }
            }
        };
        tally.write(self.db()?, staged)?;
        // Counters travel in the same batch as what they number, and only when
        // they moved.
        if counters.outbox_seq != self.counters.outbox_seq {
            staged.insert(keys::OUTBOX_SEQ, counters.outbox_seq.to_be_bytes());
        }
        if counters.alert_seq != self.counters.alert_seq {
            staged.insert(keys::ALERT_SEQ, counters.alert_seq.to_be_bytes());
        }
        if counters.audit != self.counters.audit {
            staged.insert(keys::AUDIT_HEAD, encode_plain(&counters.audit));
        }
        self.counters = counters;
        Ok(receipt)
    }

    fn get(&self, staged: &Staged, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        staged.get(self.db()?, key)
    }

    fn commit(
        &self,
        staged: &mut Staged,
        counters: &mut Counters,
        tally: &mut Tally,
        c: Prepared,
    ) -> Result<Receipt, StoreError> {
        let head_key = keys::head(&c.referral);
        let (actual, old_timers) = match self.get(staged, &head_key)? {
            Some(bytes) => {
                let head = read_head(&head_key, &bytes)?;
                (head.version, head.timers)
            }
            None => (0, Vec::new()),
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
            if let Some(existing) = self.get(staged, &key)? {
                let existing = String::from_utf8_lossy(&existing)
                    .parse()
                    .map_err(|_| StoreError::Corrupt("idempotency index".into()))?;
                return Err(StoreError::DuplicateCourtReferral { existing });
            }
            staged.insert(key, c.referral.as_str().as_bytes());
        }
        for change in &c.loads {
            let key = keys::load(&change.organisation);
            let open = read_count(self.get(staged, &key)?.as_deref());
            let open = if change.delta > 0 {
                open.saturating_add(1)
            } else {
                open.saturating_sub(1)
            };
            staged.insert(key, open.to_be_bytes());
        }
        if let Some(bundle) = c.bundle {
            staged.insert(keys::bundle(&c.referral), bundle);
        }
        if c.replaces_history {
            // The history stored so far, under whatever keys; the commit's
            // own events, after it, are not among them.
            for (key, _) in staged.scan(self.db()?, &keys::events_prefix(&c.referral))? {
                if keys::trailing_seq(&key).is_some_and(|v| v <= c.expected_version) {
                    staged.remove(key);
                }
            }
        }
        for (key, value) in c.events {
            staged.insert(key, value);
        }
        for (key, value) in c.rewrites {
            staged.insert(key, value);
        }
        for key in c.activity {
            // Once a day is indexed, later events that day need no write.
            if self.get(staged, &key)?.is_none() {
                staged.insert(key, [0u8; 0]);
            }
        }
        staged.insert(head_key, c.head);

        // The timers the head listed give way to the new ones; a timer
        // that stays (its key is the whole timer) is not written again.
        let old_keys: HashSet<Vec<u8>> = old_timers
            .iter()
            .map(|(kind, at)| keys::timer(*at, &c.referral, *kind))
            .collect();
        let new_keys: HashSet<&Vec<u8>> = c.timers.iter().map(|(key, _)| key).collect();
        for key in &old_keys {
            if !new_keys.contains(key) {
                staged.remove(key.clone());
            }
        }
        for (key, value) in c.timers {
            if !old_keys.contains(&key) {
                staged.insert(key, value);
            }
        }

        let mut lanes_with_messages: HashSet<Vec<u8>> = HashSet::new();
        let at = c.at;
        for (lane, value) in c.messages {
            counters.outbox_seq += 1;
            let n = counters.outbox_seq;
            let key = keys::message(&lane, n);
            let lane_was_empty =
                !lanes_with_messages.contains(&lane) && staged.scan(self.db()?, &lane)?.is_empty();
            staged.insert(key.clone(), value);
            if let Some(trace) = &c.trace {
                staged.insert(keys::trace(&c.referral, n), trace.clone());
            }
            // A new message is not in the order of arrival: until it first
            // fails, its schedule key says its age (see `keys::waiting`).
            tally.add(keys::destination_in(&key), 1, 0);
            if lane_was_empty {
                schedule(staged, n, at, &key);
            }
            lanes_with_messages.insert(lane);
        }
        append_alerts(staged, counters, c.alerts);
        append_audit(staged, counters, c.audit);
        if let Some(id) = &c.delivered {
            // Already recorded (by an earlier attempt's receipt, say):
            // nothing more to record.
            match self.delivery(staged, counters, tally, id, Outcome::Delivered) {
                Ok(_) | Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Receipt { version: c.version })
    }

    fn find_message(
        &self,
        staged: &Staged,
        id: &MessageId,
    ) -> Result<(u64, Vec<u8>, DeliveryRecord), StoreError> {
        let not_found = || StoreError::NotFound(format!("message {id}"));
        let (referral, n) = keys::message_of_id(id).ok_or_else(not_found)?;
        // A referral's messages share a prefix: a handful of keys.
        let (key, bytes) = staged
            .scan(self.db()?, &keys::referral_outbox(&referral))?
            .into_iter()
            .find(|(key, _)| keys::trailing_seq(key) == Some(n))
            .ok_or_else(not_found)?;
        let record = decode_delivery(&bytes).map_err(|e| corrupt(&key, e))?;
        Ok((n, key, record))
    }

    /// Takes a message out of its destination's schedule. Its schedule key
    /// follows from its key and its next attempt; a message that is not its
    /// lane's head has none, and removing it changes nothing.
    fn unschedule(
        staged: &mut Staged,
        n: u64,
        key: &[u8],
        record: &DeliveryRecord,
    ) -> Result<(), StoreError> {
        let due = record.next_attempt_at().map_err(|e| corrupt(key, e))?;
        staged.remove(keys::schedule(key, due, n));
        Ok(())
    }

    fn delivery(
        &self,
        staged: &mut Staged,
        counters: &mut Counters,
        tally: &mut Tally,
        id: &MessageId,
        outcome: Outcome,
    ) -> Result<Receipt, StoreError> {
        let (n, key, mut record) = self.find_message(staged, id)?;
        // A dead letter replayed meanwhile is a message again: not discarded.
        if matches!(outcome, Outcome::Discarded) && !record.is_dead() {
            return Err(StoreError::NotFound(format!("dead letter {id}")));
        }
        Self::unschedule(staged, n, &key, &record)?;
        let destination = keys::destination_in(&key);
        match outcome {
            Outcome::Delivered | Outcome::Discarded => {
                let referral = keys::referral_of_message(&key)
                    .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
                staged.remove(key.clone());
                // Only a traced call's messages carry a trace.
                let trace = keys::trace(&referral, n);
                if self.get(staged, &trace)?.is_some() {
                    staged.remove(trace);
                }
                if record.has_failed() {
                    staged.remove(keys::waiting(&key, n));
                }
                if record.is_dead() {
                    staged.remove(keys::dead(n));
                    tally.add(destination, 0, -1);
                } else {
                    tally.add(destination, -1, 0);
                }
                // The lane's next message, if any, becomes its head.
                let lane = &key[..key.len() - 16];
                // (The message itself is staged as removed already.)
                let next = staged.scan(self.db()?, lane)?.into_iter().next();
                if let Some((next_key, bytes)) = next {
                    let next = decode_delivery(&bytes).map_err(|e| corrupt(&next_key, e))?;
                    if !next.is_dead() {
                        let m = keys::trailing_seq(&next_key)
                            .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
                        let due = next.next_attempt_at().map_err(|e| corrupt(&next_key, e))?;
                        schedule(staged, m, due, &next_key);
                    }
                }
            }
            Outcome::Retry { at, error } => {
                if !record.has_failed() {
                    staged.insert(keys::waiting(&key, n), key.clone());
                }
                record.retry(at, error);
                staged.insert(key.clone(), record.encode());
                schedule(staged, n, at, &key);
            }
            Outcome::Dead { at, error, alert } => {
                tally.add(destination, -1, 1);
                if !record.has_failed() {
                    staged.insert(keys::waiting(&key, n), key.clone());
                }
                record.dead(at, error);
                staged.insert(key.clone(), record.encode());
                staged.insert(keys::dead(n), key);
                append_alerts(staged, counters, vec![alert]);
            }
        }
        Ok(Receipt { version: 0 })
    }

    fn replay(
        &self,
        staged: &mut Staged,
        tally: &mut Tally,
        id: &MessageId,
        at: Timestamp,
    ) -> Result<Receipt, StoreError> {
        let (n, key, mut record) = self.find_message(staged, id)?;
        if !record.is_dead() || self.get(staged, &keys::dead(n))?.is_none() {
            return Err(StoreError::NotFound(format!("dead letter {id}")));
        }
        tally.add(keys::destination_in(&key), 1, -1);
        record.replay(at);
        staged.remove(keys::dead(n));
        staged.insert(key.clone(), record.encode());
        schedule(staged, n, at, &key);
        Ok(Receipt { version: 0 })
    }
}

/// How long a checkpoint that gave up waiting for a reader waits before it
/// is tried again.
const CHECKPOINT_RETRY: Duration = Duration::from_secs(5);

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
fn schedule(staged: &mut Staged, n: u64, at: Timestamp, message_key: &[u8]) {
    staged.insert(keys::schedule(message_key, at, n), message_key);
}

fn append_alerts(staged: &mut Staged, counters: &mut Counters, alerts: Vec<Vec<u8>>) {
    for record in alerts {
        counters.alert_seq += 1;
        staged.insert(keys::alert(counters.alert_seq), record);
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
    fn write(self, db: &sled::Db, staged: &mut Staged) -> Result<(), StoreError> {
        for (destination, [pending, dead]) in self.0 {
            if pending == 0 && dead == 0 {
                continue;
            }
            let key = keys::backlog(&destination);
            let [was_pending, was_dead] = read_backlog(staged.get(db, &key)?.as_deref());
            let now = [
                was_pending.saturating_add_signed(pending),
                was_dead.saturating_add_signed(dead),
            ];
            if now == [0, 0] {
                staged.remove(key);
            } else {
                staged.insert(key, &encode_backlog(now)[..]);
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

fn append_audit(staged: &mut Staged, counters: &mut Counters, records: Vec<Vec<u8>>) {
    for record in records {
        let seq = counters.audit.next_seq;
        let prev_hash = std::mem::take(&mut counters.audit.last_hash);
        // The chain hashes what a purge keeps: never the outcome's detail.
        let hashed = mediation_records::audit_hashed_part(&record).unwrap_or(&record);
        let hash = chain_hash(seq, &prev_hash, hashed);
        let link = AuditLink {
            prev_hash,
            hash: hash.clone(),
            record,
        };
        staged.insert(keys::audit(seq), encode_plain(&link));
        counters.audit = AuditHead {
            next_seq: seq + 1,
            last_hash: hash,
        };
    }
}

/// Puts a newly opened database in the readers' slot and returns the
/// writer's own handle of it.
fn install(shared: &mut Option<Arc<sled::Db>>, db: sled::Db) -> Option<Arc<sled::Db>> {
    let db = Arc::new(db);
    *shared = Some(Arc::clone(&db));
    Some(db)
}

/// Sends each answer, failing the successful ones with `why` when given.
fn answer(answers: Vec<Answer>, why: Option<&str>) {
    for (reply, mut result) in answers {
        if let (Some(why), Ok(_)) = (why, &result) {
            result = Err(StoreError::Unavailable(why.to_owned()));
        }
        // A caller that stopped waiting is not an error of the store.
        let _ = reply.send(result);
    }
}

/// What a store that is never quiet has written when it checkpoints all
/// the same: half as much again as a quiet one waits for. This is also
/// about the most a restart after a crash replays (`docs/store.md`,
/// "Restart: checkpoints").
fn forced_checkpoint(checkpoint_bytes: u64) -> u64 {
    checkpoint_bytes.saturating_add(checkpoint_bytes / 2)
}
