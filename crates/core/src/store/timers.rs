//! The deadline timers. A referral's commit replaces its timers
//! ([`super::Commit::timers`]); the deadline engine reads them here.

use std::future::Future;

use jiff::Timestamp;

use super::StoreError;
use crate::timer::Timer;

/// The timers every referral's last commit left, by the time they fire.
pub trait TimerStore: Send + Sync {
    /// Timers due at or before `now`, earliest first, at most `limit`.
    fn due_timers(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Timer>, StoreError>> + Send;

    /// When the earliest timer fires.
    fn next_timer_at(&self) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;
}
