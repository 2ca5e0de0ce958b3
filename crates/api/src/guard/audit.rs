//! Where the guard's call records go: a channel to one writer task that
//! appends them to the store's hash-chained audit log in batches, so that
//! auditing a read costs the call no extra fsync of its own.
//!
//! The audit log fails closed. When a batch cannot be appended (a full disk,
//! a store that stopped taking writes) the writer keeps it and tries again
//! with growing waits, never dropping a record, and until an append succeeds
//! again [`AuditProgress::writable`] is false and the guard refuses every new
//! call with UNAVAILABLE rather than answer one it cannot record.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mediation_core::audit::AuditRecord;
use mediation_core::store::AuditLog;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

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

    /// How many calls have sent records to the call audit writer: a call
    /// whose command wrote its record in its own commit sends none.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }

    /// Returns once every record sent before the call has been appended (or
    /// failed to be, which the writer logs).
    pub async fn settled(&self) {
        let target = self.sent.load(Ordering::SeqCst);
        let mut handled = self.handled.subscribe();
        let _ = handled.wait_for(|n| *n >= target).await;
    }
}

/// How many call records of one tenant may wait for the writer. A call
/// takes one of its own tenant's credits once the guard knows who calls, and
/// gives it back once its record is written. When the audit log falls behind,
/// a tenant that keeps calling waits for its own credits (backpressure) and
/// no record is dropped, while other tenants' calls go on: no call holds a
/// place that another tenant needs. Calls that cannot be identified share one
/// pool of their own.
pub const AUDIT_CREDITS_PER_TENANT: usize = 1_024;

/// The pool of the calls whose tenant is not known.
pub(super) const UNIDENTIFIED: &str = "";

/// A call's records on their way to the writer, with the credit they hold:
/// the call's own record, and those of the commands it had refused; none
/// when the call's command wrote its record in its own commit.
#[derive(Debug)]
pub struct Queued {
    records: Vec<AuditRecord>,
    _credit: Option<OwnedSemaphorePermit>,
}

/// The sending side, cloned into every guard.
#[derive(Debug, Clone)]
pub struct AuditSink {
    records: mpsc::UnboundedSender<Queued>,
    progress: AuditProgress,
    credits: Arc<Mutex<HashMap<String, Arc<Semaphore>>>>,
    per_tenant: usize,
}

impl AuditSink {
    /// A sink with `per_tenant` credits for each tenant, and the receiver
    /// [`write_call_audit`] drains. Everything in flight is bounded by the
    /// credits: at most `per_tenant` records per tenant, and per pool of
    /// unidentified calls.
    pub fn new(
        progress: AuditProgress,
        per_tenant: usize,
    ) -> (Self, mpsc::UnboundedReceiver<Queued>) {
        let (records, rx) = mpsc::unbounded_channel();
        (
            Self {
                records,
                progress,
                credits: Arc::default(),
                per_tenant: per_tenant.max(1),
            },
            rx,
        )
    }

    /// Whether the audit log is taking records.
    pub(super) fn writable(&self) -> bool {
        self.progress.writable()
    }

    /// Waits for one of `tenant`'s credits.
    pub(super) async fn reserve(&self, tenant: &str) -> AuditSlot {
        let pool = {
            let mut credits = self.credits.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(
                credits
                    .entry(tenant.to_owned())
                    .or_insert_with(|| Arc::new(Semaphore::new(self.per_tenant))),
            )
        };
        AuditSlot {
            credit: pool.acquire_owned().await.ok(),
            records: self.records.clone(),
            progress: self.progress.clone(),
        }
    }
}

/// A call's claim on its record's place, held from admission until the
/// record is written.
#[derive(Debug)]
pub(super) struct AuditSlot {
    credit: Option<OwnedSemaphorePermit>,
    records: mpsc::UnboundedSender<Queued>,
    progress: AuditProgress,
}

impl AuditSlot {
    pub(super) fn fill(self, records: Vec<AuditRecord>) {
        if records.is_empty() {
            // Nothing to write: the credit comes back as the slot drops.
            return;
        }
        self.progress.sent.fetch_add(1, Ordering::SeqCst);
        let queued = Queued {
            records,
            _credit: self.credit,
        };
        if self.records.send(queued).is_err() {
            self.progress.handled.send_modify(|n| *n += 1);
            tracing::error!("the call audit writer has stopped; a call went unrecorded");
        }
    }
}

/// Appends call records until every sink is dropped and the channel is
/// empty: at shutdown, the records of the last calls are still written.
pub async fn write_call_audit<S: AuditLog>(
    store: S,
    mut records: mpsc::UnboundedReceiver<Queued>,
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
        let (records_of, credits): (Vec<Vec<AuditRecord>>, Vec<_>) =
            batch.into_iter().map(|q| (q.records, q._credit)).unzip();
        let records_of: Vec<AuditRecord> = records_of.into_iter().flatten().collect();
        append_until_written(&store, records_of, &progress).await;
        // Written: the tenants' credits come back.
        drop(credits);
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
    async fn a_tenant_out_of_credits_waits_and_loses_nothing_while_others_go_on() {
        let (sink, mut rx) = AuditSink::new(AuditProgress::default(), 1);
        sink.reserve("court-bj").await.fill(vec![record(1)]);
        // court-bj's one record is not written yet: its next call waits...
        let waiting = tokio::spawn({
            let sink = sink.clone();
            async move { sink.reserve("court-bj").await.fill(vec![record(2)]) }
        });
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert!(!waiting.is_finished(), "admitted past a tenant's credits");
        // ...while another tenant's call is admitted at once.
        sink.reserve("court-sh").await.fill(vec![record(3)]);
        // The writer takes court-bj's record; its waiting call goes on.
        let first = rx.recv().await.unwrap();
        assert_eq!(first.records[0].actor, "tenant=1");
        assert_eq!(rx.recv().await.unwrap().records[0].actor, "tenant=3");
        drop(first);
        waiting.await.unwrap();
        assert_eq!(rx.recv().await.unwrap().records[0].actor, "tenant=2");
    }

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_stopped_writer_does_not_hold_calls_up() {
        let progress = AuditProgress::default();
        let (sink, rx) = AuditSink::new(progress.clone(), 1);
        drop(rx);
        sink.reserve("t").await.fill(vec![record(1)]);
        // Counted as handled (and logged as lost), so readers do not hang;
        // with time paused, a hang would reach the timeout at once.
        let wait = std::time::Duration::from_secs(60);
        assert!(
            tokio::time::timeout(wait, progress.settled()).await.is_ok(),
            "a reader waited for a record no writer will take"
        );
        // The tenant's one credit came back: its next call is admitted.
        assert!(
            tokio::time::timeout(wait, sink.reserve("t")).await.is_ok(),
            "the lost record kept its tenant's credit"
        );
    }
}
