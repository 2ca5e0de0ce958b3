//! The deadline engine: fires the timers that are due.
//!
//! Timers are found through the store's due-time index, so a sweep costs in
//! proportion to what is due, not to the number of open referrals. A
//! referral's due timers fire through [`Commands::fire_due`], whose commit
//! records the events and drops the timers in one transaction: a timer fires
//! once, also across restarts, and timers that came due while the gateway was
//! down fire at the first sweep.
//!
//! The timers of different referrals fire concurrently (up to
//! [`CONCURRENT_REFERRALS`] at once), so their commits share the store's
//! group flushes; a referral's own due timers fire in one commit, in the
//! order they fall due ([`Commands::fire_due`]), so that a warning and its
//! breach found due together cost one write, not two in turn.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use jiff::SignedDuration;
use mediation_core::ids::ReferralId;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::timer::Timer;

use crate::commands::Commands;
use crate::error::ServiceError;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub fired: usize,
    pub failed: usize,
}

/// How many referrals' timers fire at once in a sweep.
pub(crate) const CONCURRENT_REFERRALS: usize = 64;

#[derive(Debug)]
pub struct DeadlineEngine<S> {
    gateway: Arc<Commands<S>>,
    batch: usize,
    idle_poll: Duration,
}

impl<S: ReferralStore + AuditLog> DeadlineEngine<S> {
    pub fn new(gateway: Arc<Commands<S>>) -> Self {
        Self {
            gateway,
            batch: 512,
            idle_poll: Duration::from_secs(1),
        }
    }

    /// Fires every timer due now, in batches, until none is left.
    pub async fn sweep(&self) -> Result<SweepReport, ServiceError> {
        // Wall time, for the metric only: the deadlines read the gateway's clock.
        let started = std::time::Instant::now();
        let report = self.fire_due().await?;
        if report.due > 0 {
            // Only sweeps that found work: idle polls would drown the figure.
            metrics::histogram!("gateway_deadline_sweep_seconds")
                .record(started.elapsed().as_secs_f64());
            tracing::info!(
                due = report.due,
                fired = report.fired,
                failed = report.failed,
                millis = started.elapsed().as_millis() as u64,
                "deadline sweep"
            );
        }
        Ok(report)
    }

    async fn fire_due(&self) -> Result<SweepReport, ServiceError> {
        let mut report = SweepReport::default();
        loop {
            let now = self.gateway.clock().now();
            let due = self.gateway.store().due_timers(now, self.batch).await?;
            if due.is_empty() {
                return Ok(report);
            }
            let before = report.fired + report.failed;
            report.due += due.len();
            metrics::counter!("gateway_deadline_timers_due_total").increment(due.len() as u64);
            // Each referral's timers in the order they fall due; referrals
            // side by side.
            let mut by_referral: Vec<Vec<Timer>> = Vec::new();
            let mut index: std::collections::HashMap<ReferralId, usize> =
                std::collections::HashMap::new();
            for timer in due {
                let at = *index.entry(timer.referral.clone()).or_insert_with(|| {
                    by_referral.push(Vec::new());
                    by_referral.len() - 1
                });
                by_referral[at].push(timer);
            }
            let outcomes: Vec<(usize, usize)> = futures_util::stream::iter(by_referral)
                .map(|timers| self.fire_in_order(timers))
                .buffer_unordered(CONCURRENT_REFERRALS)
                .collect()
                .await;
            for (fired, failed) in outcomes {
                report.fired += fired;
                report.failed += failed;
            }
            // A batch that only failed would be offered again at once.
            if report.fired + report.failed == before || report.failed > 0 && report.fired == 0 {
                return Ok(report);
            }
        }
    }

    /// Fires one referral's due timers, in the order they fall due, in one
    /// commit; returns how many fired and how many failed.
    async fn fire_in_order(&self, timers: Vec<Timer>) -> (usize, usize) {
        let Some(referral) = timers.first().map(|t| t.referral.clone()) else {
            return (0, 0);
        };
        match self.gateway.fire_due(&referral, &timers).await {
            Ok(_) => {
                for timer in &timers {
                    // A fired breach timer is a missed deadline.
                    metrics::counter!("gateway_deadline_timers_fired_total", "kind" => timer.kind.as_str())
                        .increment(1);
                }
                (timers.len(), 0)
            }
            Err(error) => {
                let kinds: Vec<&str> = timers.iter().map(|t| t.kind.as_str()).collect();
                tracing::error!(%referral, timers = ?kinds, %error, "timers could not fire");
                (0, timers.len())
            }
        }
    }

    /// Sweeps until `shutdown` completes, sleeping until the next timer is due.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(error) = self.sweep().await {
                tracing::warn!(%error, "deadline sweep failed");
            }
            let sleep = match self.gateway.store().next_timer_at().await {
                Ok(Some(next)) => {
                    let wait = next
                        .duration_since(self.gateway.clock().now())
                        .max(SignedDuration::ZERO);
                    Duration::try_from(wait)
                        .unwrap_or_default()
                        .min(self.idle_poll)
                }
                _ => self.idle_poll,
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(sleep) => {}
            }
        }
    }
}
