//! Where the guard's call records go: a channel to one writer task that
//! appends them to the store's hash-chained audit log in batches, so that
//! auditing a read costs the call no extra fsync of its own.
//!
//! The audit log fails closed. When a batch cannot be appended (a full disk,
//! a store that stopped taking writes) the writer keeps it and tries again
//! with growing waits, never dropping a record, and until an append succeeds
//! again [`AuditProgress::writable`] is false and the guard refuses every new
//! call with UNAVAILABLE rather than answer one it cannot record.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use mediation_core::audit::AuditRecord;
use mediation_core::store::AuditLog;
use tokio::sync::{mpsc, watch};

/// How many call records were sent and how many are handled, so that a
/// reader (a test, an operator command) can wait until every call made so
/// far is in the log.
#[derive(Debug, Clone)]
pub struct AuditProgress {
    sent: Arc<AtomicU64>,
    handled: Arc<watch::Sender<u64>>,
    /// False from a failed append until one succeeds again.
    writable: Arc<AtomicBool>,
}

impl Default for AuditProgress {
    fn default() -> Self {
        Self {
            sent: Arc::default(),
            handled: Arc::new(watch::channel(0).0),
            writable: Arc::new(AtomicBool::new(true)),
        }
    }
}

impl AuditProgress {
    /// Whether the audit log is taking records: false from a failed append
    /// until one succeeds again.
    pub fn writable(&self) -> bool {
        self.writable.load(Ordering::SeqCst)
    }

    /// Returns once every record sent before the call has been appended (or
    /// failed to be, which the writer logs).
    pub async fn settled(&self) {
        let target = self.sent.load(Ordering::SeqCst);
        let mut handled = self.handled.subscribe();
        let _ = handled.wait_for(|n| *n >= target).await;
    }
}

/// How many call records may wait for the writer. A call reserves its place
/// before the guard looks at it, so when the log falls behind, callers wait
/// for room (backpressure) instead of records piling up in memory, and no
/// record is ever dropped.
pub const AUDIT_QUEUE: usize = 8_192;

/// The sending side, cloned into every guard.
#[derive(Debug, Clone)]
pub struct AuditSink {
    records: mpsc::Sender<AuditRecord>,
    progress: AuditProgress,
}

impl AuditSink {
    /// A sink with room for `capacity` waiting records, and the receiver
    /// [`write_call_audit`] drains.
    pub fn new(progress: AuditProgress, capacity: usize) -> (Self, mpsc::Receiver<AuditRecord>) {
        let (records, rx) = mpsc::channel(capacity.max(1));
        (Self { records, progress }, rx)
    }

    /// Whether the audit log is taking records.
    pub(super) fn writable(&self) -> bool {
        self.progress.writable()
    }

    /// Waits for room for one record. If the writer has stopped there is
    /// none to wait for; the slot then reports the loss when filled.
    pub(super) async fn reserve(&self) -> AuditSlot {
        AuditSlot {
            permit: self.records.clone().reserve_owned().await.ok(),
            progress: self.progress.clone(),
        }
    }
}

/// Room for one call's record, held from admission until the call ends.
#[derive(Debug)]
pub(super) struct AuditSlot {
    permit: Option<mpsc::OwnedPermit<AuditRecord>>,
    progress: AuditProgress,
}

impl AuditSlot {
    pub(super) fn fill(self, record: AuditRecord) {
        self.progress.sent.fetch_add(1, Ordering::SeqCst);
        match self.permit {
            Some(permit) => {
                permit.send(record);
            }
            None => {
                self.progress.handled.send_modify(|n| *n += 1);
                tracing::error!("the call audit writer has stopped; a call went unrecorded");
            }
        }
    }
}

/// Appends call records until every sink is dropped and the channel is
/// empty: at shutdown, the records of the last calls are still written.
pub async fn write_call_audit<S: AuditLog>(
    store: S,
    mut records: mpsc::Receiver<AuditRecord>,
    progress: AuditProgress,
) {
    while let Some(first) = records.recv().await {
        let mut batch = vec![first];
        while batch.len() < 1_000 {
            match records.try_recv() {
                Ok(record) => batch.push(record),
                Err(_) => break,
            }
        }
        let count = batch.len();
        append_until_written(&store, batch, &progress).await;
        progress.handled.send_modify(|n| *n += count as u64);
    }
}

/// Appends `batch`, trying again with growing waits for as long as the log
/// refuses it; meanwhile the guard admits no call.
async fn append_until_written<S: AuditLog>(
    store: &S,
    batch: Vec<AuditRecord>,
    progress: &AuditProgress,
) {
    use backon::BackoffBuilder;
    let mut waits = backon::ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(50))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .build();
    loop {
        match store.append_audit(batch.clone()).await {
            Ok(()) => {
                if !progress.writable.swap(true, Ordering::SeqCst) {
                    tracing::info!("the audit log takes records again; calls are admitted");
                }
                return;
            }
            Err(e) => {
                if progress.writable.swap(false, Ordering::SeqCst) {
                    tracing::error!(error = %e, count = batch.len(), "cannot append call records to the audit log; refusing calls until it can");
                }
                let wait = waits.next().unwrap_or(Duration::from_secs(5));
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u32) -> AuditRecord {
        AuditRecord {
            at: jiff::Timestamp::from_second(1_700_000_000).unwrap(),
            actor: format!("tenant={n}"),
            action: "call /x".into(),
            referral: None,
            outcome: "ok".into(),
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_full_queue_makes_the_next_call_wait_and_loses_nothing() {
        let (sink, mut rx) = AuditSink::new(AuditProgress::default(), 1);
        sink.reserve().await.fill(record(1));
        // The queue is full: the next call cannot even be admitted yet.
        let waiting = tokio::spawn({
            let sink = sink.clone();
            async move { sink.reserve().await.fill(record(2)) }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "admitted past a full audit queue");
        // The writer takes one record; the waiting call gets its place.
        assert_eq!(rx.recv().await.unwrap().actor, "tenant=1");
        waiting.await.unwrap();
        assert_eq!(rx.recv().await.unwrap().actor, "tenant=2");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_stopped_writer_does_not_hold_calls_up() {
        let progress = AuditProgress::default();
        let (sink, rx) = AuditSink::new(progress.clone(), 1);
        drop(rx);
        sink.reserve().await.fill(record(1));
        // Counted as handled (and logged as lost), so readers do not hang.
        progress.settled().await;
    }
}
