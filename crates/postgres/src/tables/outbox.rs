//! The outbox (`outbox`): the messages commits enqueued, in lanes of a
//! destination and a referral; the leases a relay pass takes on the lane
//! heads it will deliver, the outcomes of its attempts, and the dead letters
//! set aside and replayed. Every change to a referral's lanes first locks
//! the referral's row ([`lock_referral`]).

use std::collections::HashMap;
use std::future::Future;

use jiff::Timestamp;
use mediation_core::bundle::CaseBundle;
use mediation_core::ids::ReferralId;
use mediation_core::store::{
    Backlog, DeliveryOutcome, MessageId, OutboxStore, PendingDelivery, StoreError,
};
use mediation_records::{decode_delivery, encode_alert};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row as _};

use super::alerts::append_alerts;
use super::referrals::{bundle_of, lock_referral};
use super::{Failure, limit_of, retrying};
use crate::{PgStore, corrupt, from_ns, message_id, ns, parse_message_id, unavailable};

/// How many heads of a destination a pass may look at for each it can
/// start, passing over those its relay has in flight, and how many more.
const SCAN_PER_ROOM: usize = 16;
const SCAN_FLOOR: usize = 1_024;

/// Messages from their rows (`seq`, `referral`, `trace_context`, `record`),
/// with their referrals' bundles where they carry them.
async fn deliveries(
    db: &mut PgConnection,
    rows: Vec<sqlx::postgres::PgRow>,
) -> Result<Vec<PendingDelivery>, StoreError> {
    let mut bundles: HashMap<String, CaseBundle> = HashMap::new();
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        let seq: i64 = row.try_get("seq").map_err(unavailable)?;
        let referral: String = row.try_get("referral").map_err(unavailable)?;
        let bytes: Vec<u8> = row.try_get("record").map_err(unavailable)?;
        // A trace context that does not read only loses the link.
        let trace: Option<String> = row.try_get("trace_context").map_err(unavailable)?;
        let trace = trace.and_then(|t| mediation_core::outbox::TraceContext::parse(&t).ok());
        let what = || format!("message {seq}");
        let record = decode_delivery(&bytes).map_err(|e| corrupt(&what(), e))?;
        let bundle = if record.needs_bundle() {
            if !bundles.contains_key(&referral) {
                let bundle = bundle_of(db, &referral).await?.ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "{referral}: the bundle a message names is missing"
                    ))
                })?;
                bundles.insert(referral.clone(), bundle);
            }
            bundles.get(&referral)
        } else {
            None
        };
        let mut pending = record
            .load(message_id(&referral, seq), bundle)
            .map_err(|e| corrupt(&what(), e))?;
        pending.trace = trace;
        found.push(pending);
    }
    Ok(found)
}

/// The destinations with a lane head waiting, one index probe each.
async fn scheduled_destinations(db: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "WITH RECURSIVE d (destination) AS ( \
           (SELECT destination FROM outbox WHERE due_ns IS NOT NULL ORDER BY destination LIMIT 1) \
           UNION ALL \
           SELECT (SELECT o.destination FROM outbox o WHERE o.due_ns IS NOT NULL \
                   AND o.destination > d.destination ORDER BY o.destination LIMIT 1) \
           FROM d WHERE d.destination IS NOT NULL) \
         SELECT destination FROM d WHERE destination IS NOT NULL",
    )
    .fetch_all(db)
    .await
}

/// Takes leases on the due lane heads this replica will deliver: at most
/// `room(destination)` of each, earliest first, passing over heads another
/// replica holds and the ones `skip` names. A head stays leased until its
/// outcome is recorded or the lease runs out, when any replica may take it.
async fn lease_due(
    store: &PgStore,
    now: Timestamp,
    limit: usize,
    room: &(dyn Fn(&str) -> usize + Sync),
    skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
) -> Result<Vec<PendingDelivery>, StoreError> {
    let mut db = store.pool.acquire().await.map_err(unavailable)?;
    let mut found: Vec<(i64, PendingDelivery)> = Vec::new();
    let lease_until = ns(now
        .checked_add(
            jiff::SignedDuration::try_from(store.lease).unwrap_or(jiff::SignedDuration::MAX),
        )
        .unwrap_or(Timestamp::MAX));
    for destination in scheduled_destinations(&mut db).await.map_err(unavailable)? {
        let room = room(&destination).min(limit);
        if room == 0 {
            continue;
        }
        let budget = room
            .saturating_mul(SCAN_PER_ROOM)
            .saturating_add(SCAN_FLOOR);
        // The candidates, without a lock or their records...
        let candidates = sqlx::query(
            "SELECT seq, referral FROM outbox \
             WHERE destination = $1 AND due_ns IS NOT NULL AND due_ns <= $2 \
               AND (leased_by IS NULL OR leased_by = $3 OR lease_until_ns <= $2) \
             ORDER BY due_ns, seq LIMIT $4",
        )
        .bind(&destination)
        .bind(ns(now))
        .bind(store.replica.as_ref())
        .bind(limit_of(budget))
        .fetch_all(&mut *db)
        .await
        .map_err(unavailable)?;
        let mut taken: Vec<i64> = Vec::new();
        for row in candidates {
            if taken.len() == room {
                break;
            }
            let seq: i64 = row.try_get(0).map_err(unavailable)?;
            let referral: String = row.try_get(1).map_err(unavailable)?;
            if !skip(&destination, &message_id(&referral, seq)) {
                taken.push(seq);
            }
        }
        if taken.is_empty() {
            continue;
        }
        // ...then the lease, in one statement that checks each again: a head
        // another replica leased meanwhile, or that left, is not taken. Its
        // commit does not wait for the disk (the lease pool's setting).
        let rows = sqlx::query(
            "UPDATE outbox SET leased_by = $2, lease_until_ns = $3 \
             WHERE seq = ANY($1) AND due_ns IS NOT NULL AND due_ns <= $4 \
               AND (leased_by IS NULL OR leased_by = $2 OR lease_until_ns <= $4) \
             RETURNING seq, referral, trace_context, record, due_ns",
        )
        .bind(&taken)
        .bind(store.replica.as_ref())
        .bind(lease_until)
        .bind(ns(now))
        .fetch_all(&store.lease_pool)
        .await
        .map_err(unavailable)?;
        let due_of: HashMap<i64, i64> = rows
            .iter()
            .map(|row| Ok((row.try_get("seq")?, row.try_get("due_ns")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(unavailable)?;
        for pending in deliveries(&mut db, rows).await? {
            let seq = parse_message_id(&pending.id).map_or(0, |(_, n)| n);
            found.push((due_of.get(&seq).copied().unwrap_or(0), pending));
        }
    }
    // Earliest first across destinations, as within each.
    found.sort_by_key(|(due, _)| *due);
    found.truncate(limit);
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

async fn next_delivery_at(pool: &PgPool) -> Result<Option<Timestamp>, StoreError> {
    let next: Option<i64> =
        sqlx::query_scalar("SELECT min(due_ns) FROM outbox WHERE due_ns IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(unavailable)?;
    next.map(from_ns).transpose()
}

async fn dead_letters(pool: &PgPool, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
    let mut db = pool.acquire().await.map_err(unavailable)?;
    let rows = sqlx::query(
        "SELECT seq, referral, trace_context, record FROM outbox WHERE dead ORDER BY seq LIMIT $1",
    )
    .bind(limit_of(limit))
    .fetch_all(&mut *db)
    .await
    .map_err(unavailable)?;
    deliveries(&mut db, rows).await
}

async fn pending_messages(
    pool: &PgPool,
    referral: &ReferralId,
) -> Result<Vec<PendingDelivery>, StoreError> {
    let mut db = pool.acquire().await.map_err(unavailable)?;
    let rows = sqlx::query(
        "SELECT seq, referral, trace_context, record FROM outbox WHERE referral = $1 ORDER BY seq",
    )
    .bind(referral.as_str())
    .fetch_all(&mut *db)
    .await
    .map_err(unavailable)?;
    deliveries(&mut db, rows).await
}

/// Records message `seq` of `referral` delivered (`gateway_delivered`):
/// false if there is no such message.
async fn delivered(conn: &mut PgConnection, referral: &str, seq: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT gateway_delivered($1, $2)")
        .bind(referral)
        .bind(seq)
        .fetch_one(conn)
        .await
}

impl PgStore {
    /// Records a failed attempt's outcome inside `tx`: its record is read,
    /// changed and written back.
    async fn delivery_in(
        &self,
        tx: &mut PgConnection,
        id: &MessageId,
        outcome: &DeliveryOutcome,
    ) -> Result<(), Failure> {
        let not_found = || Failure::Store(StoreError::NotFound(format!("message {id}")));
        let (referral, seq) = parse_message_id(id).ok_or_else(not_found)?;
        if lock_referral(tx, referral.as_str()).await?.is_none() {
            return Err(not_found());
        }
        let bytes: Vec<u8> =
            sqlx::query_scalar("SELECT record FROM outbox WHERE seq = $1 AND referral = $2")
                .bind(seq)
                .bind(referral.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(not_found)?;
        let mut record =
            decode_delivery(&bytes).map_err(|e| corrupt(&format!("message {id}"), e))?;
        match outcome {
            // A dead letter replayed meanwhile is a message again: the
            // referral is locked, so it cannot be replayed between the
            // check and the removal.
            DeliveryOutcome::Discarded if !record.is_dead() => return Err(not_found()),
            DeliveryOutcome::Delivered | DeliveryOutcome::Discarded => {
                if !delivered(&mut *tx, referral.as_str(), seq).await? {
                    return Err(not_found());
                }
            }
            DeliveryOutcome::Retry { at, error } => {
                record.retry(*at, error.clone());
                sqlx::query(
                    "UPDATE outbox SET record = $2, due_ns = $3, next_attempt_ns = $3, \
                     leased_by = NULL, lease_until_ns = NULL WHERE seq = $1",
                )
                .bind(seq)
                .bind(record.encode())
                .bind(ns(*at))
                .execute(&mut *tx)
                .await?;
            }
            DeliveryOutcome::Dead { at, error, alert } => {
                record.dead(*at, error.clone());
                sqlx::query(
                    "UPDATE outbox SET record = $2, dead = true, due_ns = NULL, leased_by = NULL, \
                     lease_until_ns = NULL WHERE seq = $1",
                )
                .bind(seq)
                .bind(record.encode())
                .execute(&mut *tx)
                .await?;
                append_alerts(tx, &[encode_alert(alert)]).await?;
            }
        }
        Ok(())
    }

    async fn try_record_delivery(
        &self,
        id: &MessageId,
        outcome: &DeliveryOutcome,
    ) -> Result<(), Failure> {
        if matches!(outcome, DeliveryOutcome::Delivered) {
            // One statement: the common outcome is one round trip.
            let (referral, seq) = parse_message_id(id)
                .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
            let mut conn = self.pool.acquire().await?;
            if !delivered(&mut conn, referral.as_str(), seq).await? {
                return Err(StoreError::NotFound(format!("message {id}")).into());
            }
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        self.delivery_in(&mut tx, id, outcome).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn try_replay(&self, id: &MessageId, at: Timestamp) -> Result<(), Failure> {
        let not_found = || Failure::Store(StoreError::NotFound(format!("dead letter {id}")));
        let (referral, seq) = parse_message_id(id).ok_or_else(not_found)?;
        let mut tx = self.pool.begin().await?;
        if lock_referral(&mut tx, referral.as_str()).await?.is_none() {
            return Err(not_found());
        }
        let bytes: Vec<u8> = sqlx::query_scalar(
            "SELECT record FROM outbox WHERE seq = $1 AND referral = $2 AND dead",
        )
        .bind(seq)
        .bind(referral.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(not_found)?;
        let mut record =
            decode_delivery(&bytes).map_err(|e| corrupt(&format!("message {id}"), e))?;
        record.replay(at);
        sqlx::query(
            "UPDATE outbox SET record = $2, dead = false, due_ns = $3, next_attempt_ns = $3 \
             WHERE seq = $1",
        )
        .bind(seq)
        .bind(record.encode())
        .bind(ns(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

impl OutboxStore for PgStore {
    fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        lease_due(self, now, limit, room, skip)
    }

    fn next_delivery_at(
        &self,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        next_delivery_at(&self.pool)
    }

    async fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        retrying(|| self.try_record_delivery(id, &outcome)).await
    }

    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        dead_letters(&self.pool, limit)
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        retrying(|| self.try_replay(id, at)).await
    }

    fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        pending_messages(&self.pool, referral)
    }

    fn backlog(&self) -> impl Future<Output = Result<Vec<Backlog>, StoreError>> + Send {
        super::counters::backlog(&self.pool)
    }
}
