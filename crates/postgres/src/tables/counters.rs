//! The counts the trait implementations answer without reading every
//! record: organisations' open referrals (`loads`, kept in shards by every
//! commit) and destinations' backlogs, counted from the outbox.

use mediation_core::ids::OrganisationId;
use mediation_core::store::{Backlog, StoreError};
use sqlx::Row as _;
use sqlx::postgres::PgPool;

use crate::{corrupt, from_ns, unavailable};

pub(super) async fn loads(pool: &PgPool) -> Result<Vec<(OrganisationId, u64)>, StoreError> {
    let rows = sqlx::query(
        "SELECT organisation, sum(open)::bigint FROM loads GROUP BY organisation ORDER BY organisation",
    )
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let organisation: String = row.try_get(0).map_err(unavailable)?;
            let open: i64 = row.try_get(1).map_err(unavailable)?;
            Ok((
                OrganisationId::parse(&organisation).map_err(|e| corrupt("organisation", e))?,
                open.max(0) as u64,
            ))
        })
        .collect()
}

/// Counted from the outbox itself: the database counts an index range
/// quickly, and a count row per destination would make every commit to a
/// destination wait for the one before.
pub(super) async fn backlog(pool: &PgPool) -> Result<Vec<Backlog>, StoreError> {
    let rows = sqlx::query(
        "SELECT destination, count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead), \
           min(enqueued_at_ns) \
         FROM outbox GROUP BY destination ORDER BY destination",
    )
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let oldest: Option<i64> = row.try_get(3).map_err(unavailable)?;
            Ok(Backlog {
                destination: row.try_get(0).map_err(unavailable)?,
                pending: row.try_get::<i64, _>(1).map_err(unavailable)? as u64,
                dead: row.try_get::<i64, _>(2).map_err(unavailable)? as u64,
                oldest_enqueued_at: oldest.map(from_ns).transpose()?,
            })
        })
        .collect()
}
