//! The deadline engine: fires the timers that are due.
//!
//! Timers are found through the store's due-time index, so a sweep costs in
//! proportion to what is due, not to the number of open referrals. Each timer
//! fires through [`Commands::fire`], whose commit records the event and drops
//! the timer in one transaction: a timer fires once, also across restarts, and
//! timers that came due while the gateway was down fire at the first sweep.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use mediation_core::store::{AuditLog, ReferralStore};

use crate::commands::Commands;
use crate::error::ServiceError;

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub due: usize,
    pub fired: usize,
    pub failed: usize,
}

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
            let due = self.gateway.store().due_timers(now, self.batch)?;
            if due.is_empty() {
                return Ok(report);
            }
            let before = report.fired + report.failed;
            report.due += due.len();
            metrics::counter!("gateway_deadline_timers_due_total").increment(due.len() as u64);
            for timer in &due {
                match self.gateway.fire(timer).await {
                    Ok(_) => {
                        report.fired += 1;
                        // A fired breach timer is a missed deadline.
                        metrics::counter!("gateway_deadline_timers_fired_total", "kind" => timer.kind.as_str())
                            .increment(1);
                    }
                    Err(error) => {
                        report.failed += 1;
                        tracing::error!(referral = %timer.referral, timer = timer.kind.as_str(), %error, "timer could not fire");
                    }
                }
            }
            // A batch that only failed would be offered again at once.
            if report.fired + report.failed == before || report.failed > 0 && report.fired == 0 {
                return Ok(report);
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
            let sleep = match self.gateway.store().next_timer_at() {
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
