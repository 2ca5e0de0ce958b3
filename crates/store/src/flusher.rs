//! The one thread that makes applied groups durable: sled's flush, then the
//! `fdatasync`s of [`crate::durability`], then the answers.
//!
//! The writer hands each applied group over and goes on applying the next
//! one while this thread syncs: the disk and the writer's work overlap. Groups
//! that queue up while a sync runs are made durable by one flush together.
//! Only this thread ever calls `flush` (sled #1308: concurrent flushes can
//! deadlock), and no answer leaves before the sync that covers it.
//!
//! A failed sync fails every answer it covered and every group after it,
//! until the writer has reopened the store from disk and handed over a new
//! [`Syncer`] (see [`crate::writer`]).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mediation_core::store::{Receipt, StoreError};
use tokio::sync::oneshot;

use crate::durability::Syncer;
use crate::format::Counters;
use crate::stats::CommitStats;

/// An operation's answer, held until its group is durable.
pub(crate) type Answer = (
    oneshot::Sender<Result<Receipt, StoreError>>,
    Result<Receipt, StoreError>,
);

pub(crate) enum Job {
    /// An applied group: make it durable, then answer.
    Group {
        db: Arc<sled::Db>,
        /// The counters as the group left them: published as durable once
        /// it is.
        counters: Counters,
        answers: Vec<Answer>,
    },
    /// The store was reopened from disk: sync with this from now on.
    Syncer(Syncer),
}

/// What the writer and the flusher share.
#[derive(Debug)]
pub(crate) struct Flushing {
    /// Groups handed over and not yet answered.
    pub(crate) outstanding: AtomicUsize,
    /// Set by the flusher when a sync failed; the writer takes it and
    /// reopens the store.
    pub(crate) sync_failed: AtomicBool,
    /// Counts the writer's reopenings for the readers after a failed sync:
    /// the flusher answers a failed group only once the readers have a
    /// working handle again.
    pub(crate) reopened: std::sync::atomic::AtomicU64,
}

pub(crate) struct Flusher {
    pub(crate) syncer: Syncer,
    pub(crate) shared: Arc<crate::Shared>,
    pub(crate) failure: Arc<Mutex<Option<String>>>,
    pub(crate) stats: Arc<CommitStats>,
    pub(crate) flushing: Arc<Flushing>,
}

impl Flusher {
    pub(crate) fn run(mut self, jobs: Receiver<Job>) {
        while let Ok(first) = jobs.recv() {
            let mut pending = vec![first];
            pending.extend(jobs.try_iter());
            let mut groups = Vec::new();
            for job in pending {
                match job {
                    Job::Syncer(syncer) => self.syncer = syncer,
                    Job::Group {
                        db,
                        counters,
                        answers,
                    } => groups.push((db, counters, answers)),
                }
            }
            let Some((db, counters, _)) = groups.last() else {
                continue;
            };
            let started = Instant::now();
            let already = self.failure();
            let failed = already.clone().or_else(|| {
                self.make_durable(db).err().map(|e| {
                    let why = format!("cannot make writes durable: {e}");
                    tracing::error!(error = %e, "store stopped accepting writes; it will reopen from disk once the disk takes writes again");
                    *self.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.clone());
                    self.flushing.sync_failed.store(true, Ordering::Release);
                    why
                })
            });
            if failed.is_none() {
                self.shared.publish_durable(counters);
            }
            metrics::histogram!("gateway_store_flush_seconds")
                .record(started.elapsed().as_secs_f64());
            let count = groups.len();
            // This batch's own sync failed (not one before it).
            if already.is_none() && failed.is_some() {
                // Let go of every handle and of the count, so that the
                // writer can reopen the store for the readers, and answer
                // only once it has (or after a while): a caller told of the
                // failure then finds reads working.
                let before = self.flushing.reopened.load(Ordering::Acquire);
                let answers: Vec<Vec<Answer>> =
                    groups.into_iter().map(|(_, _, answers)| answers).collect();
                self.flushing.outstanding.fetch_sub(count, Ordering::AcqRel);
                let waited = Instant::now();
                while self.flushing.reopened.load(Ordering::Acquire) == before
                    && waited.elapsed() < DESCRIPTOR_WAIT
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let operations: usize = answers.iter().map(Vec::len).sum();
                self.stats.record_sync(operations as u64);
                for (reply, mut result) in answers.into_iter().flatten() {
                    if let (Some(why), Ok(_)) = (&failed, &result) {
                        result = Err(StoreError::Unavailable(why.clone()));
                    }
                    let _ = reply.send(result);
                }
                continue;
            }
            // Counted before anyone is answered, so that a caller that has
            // its answer finds its operation counted.
            let operations: usize = groups.iter().map(|(_, _, answers)| answers.len()).sum();
            metrics::histogram!("gateway_store_group_operations").record(operations as f64);
            self.stats.record_sync(operations as u64);
            for (db, _, answers) in groups {
                // The handle goes before the answers, so that a writer
                // reopening the store after a failure finds none left here.
                drop(db);
                for (reply, mut result) in answers {
                    if let (Some(why), Ok(_)) = (&failed, &result) {
                        result = Err(StoreError::Unavailable(why.clone()));
                    }
                    // A caller that stopped waiting is not an error of the store.
                    let _ = reply.send(result);
                }
            }
            self.flushing.outstanding.fetch_sub(count, Ordering::AcqRel);
        }
    }

    fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn make_durable(&mut self, db: &sled::Db) -> std::io::Result<()> {
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
}

/// How long a sync waits for a descriptor to come free before it fails.
const DESCRIPTOR_WAIT: Duration = Duration::from_secs(3);

/// EMFILE or ENFILE: the process, or the system, has no descriptor free
/// (the same numbers on Linux and the BSDs). An open that fails so has
/// synced nothing.
fn out_of_descriptors(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(23 | 24))
}
