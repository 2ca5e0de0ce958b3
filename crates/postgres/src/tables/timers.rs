//! The deadline timers (`timers`), which a commit replaces
//! ([`super::commit`]) and the deadline engine reads.

use std::future::Future;

use jiff::Timestamp;
use mediation_core::store::{StoreError, TimerStore};
use mediation_core::timer::Timer;
use mediation_records::decode_timer;
use sqlx::postgres::PgPool;

use super::limit_of;
use crate::{PgStore, corrupt, from_ns, ns, unavailable};

async fn due_timers(pool: &PgPool, now: Timestamp, limit: usize) -> Result<Vec<Timer>, StoreError> {
    let records: Vec<Vec<u8>> = sqlx::query_scalar(
        "SELECT record FROM timers WHERE fire_at_ns <= $1 ORDER BY fire_at_ns, referral, kind LIMIT $2",
    )
    .bind(ns(now))
    .bind(limit_of(limit))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    records
        .iter()
        .map(|b| decode_timer(b).map_err(|e| corrupt("timer", e)))
        .collect()
}

async fn next_timer_at(pool: &PgPool) -> Result<Option<Timestamp>, StoreError> {
    let next: Option<i64> = sqlx::query_scalar("SELECT min(fire_at_ns) FROM timers")
        .fetch_one(pool)
        .await
        .map_err(unavailable)?;
    next.map(from_ns).transpose()
}

impl TimerStore for PgStore {
    fn due_timers(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Timer>, StoreError>> + Send {
        due_timers(&self.pool, now, limit)
    }

    fn next_timer_at(&self) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        next_timer_at(&self.pool)
    }
}
