//! Where the guard's call records go: a channel to one writer task that
//! appends them to the store's hash-chained audit log in batches, so that
//! auditing a read costs the call no extra fsync of its own.

use mediation_core::audit::AuditRecord;
use mediation_core::store::AuditLog;
use tokio::sync::mpsc;

/// The sending side, cloned into every guard.
#[derive(Debug, Clone)]
pub struct AuditSink(mpsc::UnboundedSender<AuditRecord>);

impl AuditSink {
    /// A sink and the receiver [`write_call_audit`] drains.
    pub fn new() -> (Self, mpsc::UnboundedReceiver<AuditRecord>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    pub(super) fn record(&self, record: AuditRecord) {
        if self.0.send(record).is_err() {
            tracing::error!("the call audit writer has stopped; a call went unrecorded");
        }
    }
}

/// Appends call records until every sink is dropped and the channel is
/// empty: at shutdown, the records of the last calls are still written.
pub async fn write_call_audit<S: AuditLog>(
    store: S,
    mut records: mpsc::UnboundedReceiver<AuditRecord>,
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
    }
}
