//! The referrals: each one's head (`r/`: its version, its timers and its
//! snapshot), its bundle (`b/`) and its events (`e/`), the idempotency
//! index of the courts' and platforms' referral ids (`c/`, `q/`) and the
//! index of the days each referral has events on (`y/`); their reads, and
//! the [`ReferralStore`] implementation, whose commits are submitted to the
//! writer. The organisations' counts of open referrals are
//! [`super::counters`]'.

use std::path::Path;

use jiff::Timestamp;
use mediation_core::bundle::CaseBundle;
use mediation_core::document::Sha256Digest;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::store::{Commit, CourtKey, Purge, Receipt, ReferralStore, StoreError};
use mediation_records::{decode_bundle, decode_events, decode_snapshot};

use crate::format::unavailable;
use crate::format::{corrupt, split_head};
use crate::keys::{self, Table};
use crate::writer::Op;
use crate::{SledStore, prepare};

/// A referral's bundle.
pub(super) fn read_bundle(
    db: &sled::Db,
    referral: &ReferralId,
) -> Result<Option<CaseBundle>, StoreError> {
    let key = keys::bundle(referral);
    match db.get(&key).map_err(unavailable)? {
        Some(bytes) => decode_bundle(&bytes)
            .map(Some)
            .map_err(|e| corrupt(&key, e)),
        None => Ok(None),
    }
}

/// A referral's events, with its bundle in the first.
pub(super) fn read_history(
    db: &sled::Db,
    referral: &ReferralId,
) -> Result<Option<Vec<Event>>, StoreError> {
    let mut bundle: Option<CaseBundle> = None;
    let mut events = Vec::new();
    for entry in db.scan_prefix(keys::events_prefix(referral)) {
        let (key, value) = entry.map_err(unavailable)?;
        for record in decode_events(&value).map_err(|e| corrupt(&key, e))? {
            if record.needs_bundle() && bundle.is_none() {
                bundle = read_bundle(db, referral)?;
            }
            events.push(record.load(bundle.as_ref()).map_err(|e| corrupt(&key, e))?);
        }
    }
    Ok((!events.is_empty()).then_some(events))
}

/// A referral from its snapshot and bundle.
pub(super) fn read_referral(
    db: &sled::Db,
    referral: &ReferralId,
) -> Result<Option<Referral>, StoreError> {
    read_referral_with(db, referral, None)
}

/// A referral from its snapshot, and its bundle: `known`, or read.
fn read_referral_with(
    db: &sled::Db,
    referral: &ReferralId,
    known: Option<&CaseBundle>,
) -> Result<Option<Referral>, StoreError> {
    let key = keys::head(referral);
    let Some(head) = db.get(&key).map_err(unavailable)? else {
        return Ok(None);
    };
    let (_, snapshot) = split_head(&key, &head)?;
    let state = decode_snapshot(snapshot).map_err(|e| corrupt(&key, e))?;
    let bundle = match known {
        Some(bundle) => bundle.clone(),
        None => read_bundle(db, referral)?
            .ok_or_else(|| StoreError::Corrupt(format!("{referral}: its bundle is missing")))?,
    };
    Ok(Some(Referral::restore(bundle, state)))
}

/// Builds the activity index of a store written before it existed: one pass
/// over every event, reading only its instant, with a line of progress every
/// million events. Safe to interrupt: the marker is written last, so an
/// interrupted pass starts again at the next open.
pub(crate) fn index_activity(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "indexing referrals by the days of their events (once, for a store written before the index)");
    let started = std::time::Instant::now();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0_usize;
    let mut events = 0_u64;
    for entry in db.scan_prefix(Table::Events.prefix()) {
        let (key, value) = entry.map_err(unavailable)?;
        let referral = std::str::from_utf8(&key[2..])
            .ok()
            .and_then(|rest| rest.rsplit_once('/'))
            .and_then(|(id, _)| ReferralId::parse(id).ok())
            .ok_or_else(|| StoreError::Corrupt("event key".into()))?;
        // A key holds one event, or (from schema 7) a commit's events.
        for record in decode_events(&value).map_err(|e| corrupt(&key, e))? {
            batch.insert(
                keys::activity(keys::day_of(record.at()), &referral),
                &[][..],
            );
            in_batch += 1;
            events += 1;
            if events.is_multiple_of(1_000_000) {
                tracing::info!(events, elapsed = ?started.elapsed(), "indexing referrals' activity");
            }
        }
        if in_batch >= 10_000 {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
            in_batch = 0;
        }
    }
    batch.insert(keys::ACTIVITY_INDEXED, &[][..]);
    db.apply_batch(batch).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(events, elapsed = ?started.elapsed(), "referrals' activity indexed");
    Ok(())
}

/// The referrals' reads, answered at once on the caller's thread (see
/// [`super`]).
impl SledStore {
    pub fn referral(&self, referral: &ReferralId) -> Result<Option<Referral>, StoreError> {
        read_referral(&*self.db()?, referral)
    }
    pub fn history(&self, referral: &ReferralId) -> Result<Option<Vec<Event>>, StoreError> {
        read_history(&*self.db()?, referral)
    }
    pub fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> Result<Vec<ReferralId>, StoreError> {
        let start = match after {
            // The byte after the id's last one: strictly after it.
            Some(id) => {
                let mut key = keys::head(id);
                key.push(0);
                key
            }
            None => Table::Heads.prefix().to_vec(),
        };
        self.db()?
            .range(start..Table::Heads.bounds().end)
            .take(limit)
            .map(|entry| {
                let (key, _) = entry.map_err(unavailable)?;
                keys::referral_of_head(&key)
                    .ok_or_else(|| StoreError::Corrupt("referral head key".into()))
            })
            .collect()
    }
    pub fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReferralId>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .unwrap_or(to);
        let mut found = std::collections::BTreeSet::new();
        for entry in self
            .db()?
            .range(keys::activity_days(keys::day_of(from), keys::day_of(last)))
        {
            let (key, _) = entry.map_err(unavailable)?;
            found.insert(
                keys::referral_of_activity(&key)
                    .ok_or_else(|| StoreError::Corrupt("activity key".into()))?,
            );
        }
        Ok(found.into_iter().collect())
    }
    pub fn find_by_court_key(&self, key: &CourtKey) -> Result<Option<ReferralId>, StoreError> {
        match self.db()?.get(keys::court(key)).map_err(unavailable)? {
            Some(bytes) => String::from_utf8_lossy(&bytes)
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt("idempotency index".into())),
            None => Ok(None),
        }
    }
}

impl ReferralStore for SledStore {
    async fn commit(&self, commit: Commit) -> Result<Receipt, StoreError> {
        let prepared = prepare::Prepared::of(commit)?;
        self.submit(Op::Commit(Box::new(prepared))).await
    }

    async fn purge(&self, purge: Purge) -> Result<Receipt, StoreError> {
        let prepared = prepare::Prepared::purge(purge)?;
        self.submit(Op::Commit(Box::new(prepared))).await
    }

    fn files_to_remove(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(ReferralId, Vec<Sha256Digest>)>, StoreError>> + Send {
        std::future::ready(self.db().and_then(|db| {
            let mut found = Vec::new();
            for entry in db.range(Table::PurgedFiles.bounds()).take(limit) {
                let (key, value) = entry.map_err(unavailable)?;
                let referral = Table::PurgedFiles
                    .rest(&key)
                    .and_then(|rest| std::str::from_utf8(rest).ok())
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| StoreError::Corrupt("purged files key".into()))?;
                let files =
                    mediation_records::decode_purged_files(&value).map_err(|e| corrupt(&key, e))?;
                found.push((referral, files));
            }
            Ok(found)
        }))
    }

    async fn files_removed(&self, referral: &ReferralId) -> Result<(), StoreError> {
        self.submit(Op::Remove(vec![keys::purged_files(referral)]))
            .await
            .map(|_| ())
    }

    fn referral(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send {
        std::future::ready(SledStore::referral(self, referral))
    }

    fn referral_with_bundle(
        &self,
        referral: &ReferralId,
        bundle: &CaseBundle,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send {
        std::future::ready(
            self.db()
                .and_then(|db| read_referral_with(&db, referral, Some(bundle))),
        )
    }

    fn history(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Vec<Event>>, StoreError>> + Send {
        std::future::ready(SledStore::history(self, referral))
    }

    fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        std::future::ready(SledStore::referral_ids(self, after, limit))
    }

    fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        std::future::ready(SledStore::referrals_active(self, from, to))
    }

    fn loads(&self) -> impl Future<Output = Result<Vec<(OrganisationId, u64)>, StoreError>> + Send {
        std::future::ready(SledStore::loads(self))
    }

    fn find_by_court_key(
        &self,
        key: &CourtKey,
    ) -> impl Future<Output = Result<Option<ReferralId>, StoreError>> + Send {
        std::future::ready(SledStore::find_by_court_key(self, key))
    }
}
