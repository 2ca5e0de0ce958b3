//! Bringing running deadlines, and the courts' reminders still to come, up
//! to date after the working-day calendar changed: a year's holiday notice
//! was loaded (deadlines that guessed that year were provisional) or an
//! installed notice was corrected.
//!
//! Each referral goes through the ordinary command path, so its new deadline,
//! its new timers and the court's notice are committed together, and a
//! referral whose deadline comes out the same writes nothing.

use mediation_core::Referral;
use mediation_core::ids::ReferralId;
use mediation_core::store::{AuditLog, ReferralStore};

use crate::{Commands, ServiceError};

/// Which running deadlines to look at again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recompute {
    /// Only those that guessed a year without a notice: a new year's notice
    /// was added and no installed one changed.
    Provisional,
    /// Every running deadline: an installed notice changed.
    All,
}

/// What a recomputation pass found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecomputeReport {
    /// Referrals read.
    pub scanned: u64,
    /// Referrals whose running deadline was looked at again.
    pub considered: u64,
    /// Referrals whose deadline moved or became certain.
    pub changed: u64,
    /// Referrals whose deadline is still provisional afterwards.
    pub still_provisional: u64,
    /// Referrals that could not be recomputed (each logged with its reason).
    pub failed: u64,
}

const PAGE: usize = 1_000;
/// How often, in referrals read, `progress` is called.
const PROGRESS_EVERY: u64 = 10_000;

impl<S: ReferralStore + AuditLog> Commands<S> {
    /// Recomputes the running deadlines that `which` selects against the
    /// calendar now installed, page by page, calling `progress` every
    /// 10,000 referrals read. A referral that cannot be recomputed is logged
    /// and counted, and the pass goes on; a store failure ends it.
    pub async fn recompute_deadlines(
        &self,
        which: Recompute,
        mut progress: impl FnMut(&RecomputeReport),
    ) -> Result<RecomputeReport, ServiceError> {
        let mut report = RecomputeReport::default();
        let mut after: Option<ReferralId> = None;
        loop {
            let page = self.store().referral_ids(after.as_ref(), PAGE).await?;
            let Some(last) = page.last().cloned() else {
                break;
            };
            for id in &page {
                report.scanned += 1;
                if report.scanned % PROGRESS_EVERY == 0 {
                    progress(&report);
                }
                let Some(referral) = self.referral(id).await? else {
                    continue;
                };
                if !selected(&referral, which) {
                    continue;
                }
                report.considered += 1;
                let before = referral.running_deadline().cloned();
                let reminder_before = referral.court_reminder_due();
                match self
                    .execute(id, "gateway", "recompute_deadline", |r, ctx| {
                        let policy = &ctx.policy.deadlines;
                        let mut events = r.recompute_deadline(ctx.now, ctx.calendar, policy)?;
                        events.extend(r.recompute_court_reminder(ctx.now, ctx.calendar, policy)?);
                        Ok(events)
                    })
                    .await
                {
                    Ok(now) => {
                        let fresh = now.running_deadline();
                        if fresh != before.as_ref() || now.court_reminder_due() != reminder_before {
                            report.changed += 1;
                        }
                        if fresh.is_some_and(|d| d.is_provisional()) {
                            report.still_provisional += 1;
                        }
                    }
                    Err(ServiceError::Store(e)) => return Err(ServiceError::Store(e)),
                    Err(error) => {
                        report.failed += 1;
                        tracing::warn!(referral = %id, %error, "cannot recompute the deadline");
                    }
                }
            }
            after = Some(last);
        }
        progress(&report);
        Ok(report)
    }
}

/// A running deadline `which` selects, or a court's reminder still to come:
/// a wait does not record whether its count met a year without a notice,
/// so every one is counted again (they are few, and one that stays writes
/// nothing).
fn selected(referral: &Referral, which: Recompute) -> bool {
    referral.court_reminder_due().is_some()
        || match (referral.running_deadline(), which) {
            (None, _) => false,
            (Some(_), Recompute::All) => true,
            (Some(d), Recompute::Provisional) => d.is_provisional(),
        }
}
