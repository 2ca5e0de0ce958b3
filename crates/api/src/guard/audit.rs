//! Where the guard's call records go: a channel to one writer task that
//! appends them to the store's hash-chained audit log in batches, so that
//! auditing a read costs the call no extra fsync of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Default for AuditProgress {
    fn default() -> Self {
        Self {
            sent: Arc::default(),
            handled: Arc::new(watch::channel(0).0),
        }
    }
}

impl AuditProgress {
    /// Returns once every record sent before the call has been appended (or
    /// failed to be, which the writer logs).
    pub async fn settled(&self) {
        let target = self.sent.load(Ordering::SeqCst);
        let mut handled = self.handled.subscribe();
        let _ = handled.wait_for(|n| *n >= target).await;
    }
}

/// The sending side, cloned into every guard.
#[derive(Debug, Clone)]
pub struct AuditSink {
    records: mpsc::UnboundedSender<AuditRecord>,
    progress: AuditProgress,
}

impl AuditSink {
    /// A sink and the receiver [`write_call_audit`] drains.
    pub fn new(progress: AuditProgress) -> (Self, mpsc::UnboundedReceiver<AuditRecord>) {
        let (records, rx) = mpsc::unbounded_channel();
        (Self { records, progress }, rx)
    }

    pub(super) fn record(&self, record: AuditRecord) {
        self.progress.sent.fetch_add(1, Ordering::SeqCst);
        if self.records.send(record).is_err() {
            self.progress.handled.send_modify(|n| *n += 1);
            tracing::error!("the call audit writer has stopped; a call went unrecorded");
        }
    }
}

/// Appends call records until every sink is dropped and the channel is
/// empty: at shutdown, the records of the last calls are still written.
pub async fn write_call_audit<S: AuditLog>(
    store: S,
    mut records: mpsc::UnboundedReceiver<AuditRecord>,
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
        if let Err(e) = store.append_audit(batch).await {
            tracing::error!(error = %e, count, "cannot append call records to the audit log");
        }
        progress.handled.send_modify(|n| *n += count as u64);
    }
}
