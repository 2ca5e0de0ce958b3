//! Referrals: commits, histories, snapshots, court keys, the days of their
//! events and organisations' loads ([`ReferralStore`]); and the timers the
//! commits leave ([`TimerStore`]).

use std::collections::BTreeSet;
use std::ops::Bound;

use jiff::{SignedDuration, Timestamp};
use mediation_core::document::Sha256Digest;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::store::{
    Commit, CourtKey, Purge, Receipt, ReferralStore, StoreError, TimerStore,
};
use mediation_core::timer::Timer;

use crate::MemoryStore;
use crate::state::{court_key, day_of};

impl ReferralStore for MemoryStore {
    async fn commit(&self, mut commit: Commit) -> Result<Receipt, StoreError> {
        self.give_way().await;
        // A commit whose state is not its version's is refused before the
        // store is asked, as the other backends refuse it while encoding.
        commit.version_after()?;
        if !self.read(|inner| inner.check_versions) {
            // The planted defect: decided against whatever version, applied
            // on top of the current one, its state written over the
            // current state (a lost update).
            commit.expected_version = self.read(|inner| {
                inner
                    .written
                    .referrals
                    .get(&commit.referral)
                    .map_or(0, |r| r.version)
            });
            commit.state.version = commit.expected_version + commit.events.len() as u64;
        }
        self.write(|state| state.commit(commit))
    }

    async fn purge(&self, purge: Purge) -> Result<Receipt, StoreError> {
        self.give_way().await;
        self.write(|state| state.purge(purge))
    }

    async fn files_to_remove(
        &self,
        limit: usize,
    ) -> Result<Vec<(ReferralId, Vec<Sha256Digest>)>, StoreError> {
        Ok(self.read(|inner| {
            inner
                .written
                .purged_files
                .iter()
                .take(limit)
                .map(|(id, files)| (id.clone(), files.clone()))
                .collect()
        }))
    }

    async fn files_removed(&self, referral: &ReferralId) -> Result<(), StoreError> {
        self.write(|state| {
            state.purged_files.remove(referral);
            Ok(())
        })
    }

    async fn referral(&self, referral: &ReferralId) -> Result<Option<Referral>, StoreError> {
        self.give_way().await;
        Ok(self.read(|inner| {
            inner
                .written
                .referrals
                .get(referral)
                .map(|stored| Referral::restore(stored.bundle.clone(), stored.state.clone()))
        }))
    }

    async fn history(&self, referral: &ReferralId) -> Result<Option<Vec<Event>>, StoreError> {
        Ok(self.read(|inner| {
            inner
                .written
                .referrals
                .get(referral)
                .map(|stored| stored.events.clone())
        }))
    }

    async fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> Result<Vec<ReferralId>, StoreError> {
        let from = match after {
            Some(id) => Bound::Excluded(id),
            None => Bound::Unbounded,
        };
        Ok(self.read(|inner| {
            inner
                .written
                .referrals
                .range::<ReferralId, _>((from, Bound::Unbounded))
                .take(limit)
                .map(|(id, _)| id.clone())
                .collect()
        }))
    }

    /// The referrals with an event on the days (UTC) of `[from, to)`: as
    /// the sled store answers, some with events on those days just outside.
    async fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReferralId>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to.checked_sub(SignedDuration::from_nanos(1)).unwrap_or(to);
        Ok(self.read(|inner| {
            let found: BTreeSet<&ReferralId> = inner
                .written
                .activity
                .range(day_of(from)..=day_of(last))
                .flat_map(|(_, referrals)| referrals)
                .collect();
            found.into_iter().cloned().collect()
        }))
    }

    async fn loads(&self) -> Result<Vec<(OrganisationId, u64)>, StoreError> {
        Ok(self.read(|inner| {
            inner
                .written
                .loads
                .iter()
                .map(|(organisation, open)| (organisation.clone(), *open))
                .collect()
        }))
    }

    async fn find_by_court_key(&self, key: &CourtKey) -> Result<Option<ReferralId>, StoreError> {
        Ok(self.read(|inner| inner.written.court_keys.get(&court_key(key)).cloned()))
    }
}

impl TimerStore for MemoryStore {
    async fn due_timers(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>, StoreError> {
        self.give_way().await;
        Ok(self.read(|inner| {
            inner
                .written
                .timers
                .values()
                .take_while(|timer| timer.fire_at <= now)
                .take(limit)
                .cloned()
                .collect()
        }))
    }

    async fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.read(|inner| inner.written.timers.keys().next().map(|(at, _, _)| *at)))
    }
}
