//! Referrals: their snapshots and bundles (`referrals`), their histories
//! (`events`, with the day each falls on) and their court keys
//! (`court_keys`). A commit writes them ([`super::commit`]); every change
//! to a referral or to its outbox lanes first locks its row
//! ([`lock_referral`]).

use std::future::Future;

use jiff::Timestamp;
use mediation_core::bundle::CaseBundle;
use mediation_core::document::Sha256Digest;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::store::{Commit, CourtKey, Purge, Receipt, ReferralStore, StoreError};
use mediation_records::{decode_bundle, decode_event, decode_purged_files, decode_snapshot};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row as _};

use super::limit_of;
use crate::{PgStore, corrupt, day_of, unavailable};

/// Locks a referral's row, which orders its commands and every change to
/// its outbox lanes; returns its version, or `None` if there is no such
/// referral.
pub(super) async fn lock_referral(
    tx: &mut PgConnection,
    referral: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM referrals WHERE id = $1 FOR UPDATE")
        .bind(referral)
        .fetch_optional(tx)
        .await
}

pub(super) async fn bundle_of(
    db: &mut PgConnection,
    referral: &str,
) -> Result<Option<CaseBundle>, StoreError> {
    let bytes: Option<Vec<u8>> = sqlx::query_scalar("SELECT bundle FROM referrals WHERE id = $1")
        .bind(referral)
        .fetch_optional(db)
        .await
        .map_err(unavailable)?;
    bytes
        .map(|b| decode_bundle(&b).map_err(|e| corrupt(&format!("bundle of {referral}"), e)))
        .transpose()
}

async fn referral(pool: &PgPool, referral: &ReferralId) -> Result<Option<Referral>, StoreError> {
    let row = sqlx::query("SELECT snapshot, bundle FROM referrals WHERE id = $1")
        .bind(referral.as_str())
        .fetch_optional(pool)
        .await
        .map_err(unavailable)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let snapshot: Vec<u8> = row.try_get(0).map_err(unavailable)?;
    let bundle: Vec<u8> = row.try_get(1).map_err(unavailable)?;
    let state =
        decode_snapshot(&snapshot).map_err(|e| corrupt(&format!("snapshot of {referral}"), e))?;
    let bundle =
        decode_bundle(&bundle).map_err(|e| corrupt(&format!("bundle of {referral}"), e))?;
    Ok(Some(Referral::restore(bundle, state)))
}

async fn history(pool: &PgPool, referral: &ReferralId) -> Result<Option<Vec<Event>>, StoreError> {
    let mut db = pool.acquire().await.map_err(unavailable)?;
    let records: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT record FROM events WHERE referral = $1 ORDER BY version")
            .bind(referral.as_str())
            .fetch_all(&mut *db)
            .await
            .map_err(unavailable)?;
    if records.is_empty() {
        return Ok(None);
    }
    let mut bundle = None;
    let mut events = Vec::with_capacity(records.len());
    for (n, bytes) in records.iter().enumerate() {
        let what = || format!("event {} of {referral}", n + 1);
        let record = decode_event(bytes).map_err(|e| corrupt(&what(), e))?;
        if record.needs_bundle() && bundle.is_none() {
            bundle = bundle_of(&mut db, referral.as_str()).await?;
        }
        events.push(
            record
                .load(bundle.as_ref())
                .map_err(|e| corrupt(&what(), e))?,
        );
    }
    Ok(Some(events))
}

fn parse_referral(id: &str) -> Result<ReferralId, StoreError> {
    ReferralId::parse(id).map_err(|e| corrupt("referral id", e))
}

async fn referral_ids(
    pool: &PgPool,
    after: Option<&ReferralId>,
    limit: usize,
) -> Result<Vec<ReferralId>, StoreError> {
    let ids: Vec<String> =
        sqlx::query_scalar("SELECT id FROM referrals WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(after.map(|a| a.as_str()).unwrap_or(""))
            .bind(limit_of(limit))
            .fetch_all(pool)
            .await
            .map_err(unavailable)?;
    ids.iter().map(|id| parse_referral(id)).collect()
}

async fn referrals_active(
    pool: &PgPool,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<ReferralId>, StoreError> {
    if to <= from {
        return Ok(Vec::new());
    }
    let last = to
        .checked_sub(jiff::SignedDuration::from_nanos(1))
        .unwrap_or(to);
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT referral FROM events WHERE day BETWEEN $1 AND $2 ORDER BY referral",
    )
    .bind(day_of(from))
    .bind(day_of(last))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    ids.iter().map(|id| parse_referral(id)).collect()
}

async fn find_court_key(pool: &PgPool, key: &CourtKey) -> Result<Option<ReferralId>, StoreError> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT referral FROM court_keys WHERE filed_by = $1 AND court = $2 AND court_referral_id = $3",
    )
    .bind(key.filed_by.map(|p| p.as_str()).unwrap_or(""))
    .bind(key.court.to_string())
    .bind(key.court_referral_id.to_string())
    .fetch_optional(pool)
    .await
    .map_err(unavailable)?;
    id.map(|id| parse_referral(&id)).transpose()
}

impl ReferralStore for PgStore {
    async fn commit(&self, commit: Commit) -> Result<Receipt, StoreError> {
        super::commit::run(self, commit).await
    }

    fn referral(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send {
        self::referral(&self.pool, referral)
    }

    fn history(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Vec<Event>>, StoreError>> + Send {
        history(&self.pool, referral)
    }

    fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        referral_ids(&self.pool, after, limit)
    }

    fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        referrals_active(&self.pool, from, to)
    }

    fn loads(&self) -> impl Future<Output = Result<Vec<(OrganisationId, u64)>, StoreError>> + Send {
        super::counters::loads(&self.pool)
    }

    fn find_by_court_key(
        &self,
        key: &CourtKey,
    ) -> impl Future<Output = Result<Option<ReferralId>, StoreError>> + Send {
        find_court_key(&self.pool, key)
    }

    async fn purge(&self, purge: Purge) -> Result<Receipt, StoreError> {
        super::commit::purge(self, purge).await
    }

    async fn files_to_remove(
        &self,
        limit: usize,
    ) -> Result<Vec<(ReferralId, Vec<Sha256Digest>)>, StoreError> {
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT referral, files FROM purged_files ORDER BY referral LIMIT $1")
                .bind(limit as i64)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        rows.into_iter()
            .map(|(referral, files)| {
                Ok((
                    parse_referral(&referral)?,
                    decode_purged_files(&files).map_err(|e| corrupt("purged files", e))?,
                ))
            })
            .collect()
    }

    async fn files_removed(&self, referral: &ReferralId) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM purged_files WHERE referral = $1")
            .bind(referral.as_str())
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
