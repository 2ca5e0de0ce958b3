//! The timers table, in order of when each fires; its reads and the
//! [`TimerStore`] implementation. Timers are written with their referral's
//! commit ([`super::referrals`]).

use jiff::Timestamp;
use mediation_core::store::{StoreError, TimerStore};
use mediation_core::timer::Timer;
use mediation_records::decode_timer;

use crate::SledStore;
use crate::format::corrupt;
use crate::format::unavailable;
use crate::keys::{self, Table};

/// The timers' reads, answered at once on the caller's thread (see
/// [`super`]).
impl SledStore {
    pub fn due_timers(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>, StoreError> {
        let (start, end) = keys::timers_until(now);
        self.db()?
            .range(start..end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                decode_timer(&value).map_err(|e| corrupt(&key, e))
            })
            .collect()
    }
    pub fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.first_instant(Table::Timers)
    }

    fn first_instant(&self, table: Table) -> Result<Option<Timestamp>, StoreError> {
        match self.db()?.scan_prefix(table.prefix()).next() {
            Some(entry) => {
                let (key, _) = entry.map_err(unavailable)?;
                Ok(keys::instant_in(&key))
            }
            None => Ok(None),
        }
    }
}

impl TimerStore for SledStore {
    fn due_timers(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Timer>, StoreError>> + Send {
        std::future::ready(SledStore::due_timers(self, now, limit))
    }

    fn next_timer_at(&self) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        std::future::ready(SledStore::next_timer_at(self))
    }
}
