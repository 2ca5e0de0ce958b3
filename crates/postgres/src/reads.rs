//! Reads, and the one read that writes: taking leases on the lane heads a
//! relay pass will deliver.

use std::collections::HashMap;

use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, Alert};
use mediation_core::audit::{AuditEntry, AuditVerification};
use mediation_core::bundle::CaseBundle;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::store::{Backlog, ChainWalk, CourtKey, MessageId, PendingDelivery, StoreError};
use mediation_core::timer::Timer;
use mediation_records::{
    chain_hash, decode_acknowledgement, decode_alert, decode_audit_record, decode_bundle,
    decode_delivery, decode_event, decode_snapshot, decode_timer,
};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row as _};

use crate::{PgStore, corrupt, day_of, from_ns, message_id, ns, unavailable};

/// How many heads of a destination a pass may look at for each it can
/// start, passing over those its relay has in flight, and how many more.
const SCAN_PER_ROOM: usize = 16;
const SCAN_FLOOR: usize = 1_024;

fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

async fn bundle_of(
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

pub(crate) async fn referral(
    pool: &PgPool,
    referral: &ReferralId,
) -> Result<Option<Referral>, StoreError> {
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

pub(crate) async fn history(
    pool: &PgPool,
    referral: &ReferralId,
) -> Result<Option<Vec<Event>>, StoreError> {
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

pub(crate) async fn referral_ids(
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

pub(crate) async fn referrals_active(
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

pub(crate) async fn loads(pool: &PgPool) -> Result<Vec<(OrganisationId, u64)>, StoreError> {
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

pub(crate) async fn find_court_key(
    pool: &PgPool,
    key: &CourtKey,
) -> Result<Option<ReferralId>, StoreError> {
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

pub(crate) async fn due_timers(
    pool: &PgPool,
    now: Timestamp,
    limit: usize,
) -> Result<Vec<Timer>, StoreError> {
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

pub(crate) async fn next_timer_at(pool: &PgPool) -> Result<Option<Timestamp>, StoreError> {
    let next: Option<i64> = sqlx::query_scalar("SELECT min(fire_at_ns) FROM timers")
        .fetch_one(pool)
        .await
        .map_err(unavailable)?;
    next.map(from_ns).transpose()
}

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
pub(crate) async fn lease_due(
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
            let seq = crate::parse_message_id(&pending.id).map_or(0, |(_, n)| n);
            found.push((due_of.get(&seq).copied().unwrap_or(0), pending));
        }
    }
    // Earliest first across destinations, as within each.
    found.sort_by_key(|(due, _)| *due);
    found.truncate(limit);
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

pub(crate) async fn next_delivery_at(pool: &PgPool) -> Result<Option<Timestamp>, StoreError> {
    let next: Option<i64> =
        sqlx::query_scalar("SELECT min(due_ns) FROM outbox WHERE due_ns IS NOT NULL")
            .fetch_one(pool)
            .await
            .map_err(unavailable)?;
    next.map(from_ns).transpose()
}

pub(crate) async fn dead_letters(
    pool: &PgPool,
    limit: usize,
) -> Result<Vec<PendingDelivery>, StoreError> {
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

pub(crate) async fn pending_messages(
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

/// Counted from the outbox itself: the database counts an index range
/// quickly, and a count row per destination would make every commit to a
/// destination wait for the one before.
pub(crate) async fn backlog(pool: &PgPool) -> Result<Vec<Backlog>, StoreError> {
    let rows = sqlx::query(
        "SELECT destination, count(*) FILTER (WHERE NOT dead), count(*) FILTER (WHERE dead), \
           (SELECT o.enqueued_at_ns FROM outbox o WHERE o.destination = w.destination \
            ORDER BY o.seq LIMIT 1) \
         FROM outbox w GROUP BY destination ORDER BY destination",
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

pub(crate) async fn alerts_after(
    pool: &PgPool,
    cursor: u64,
    limit: usize,
) -> Result<Vec<Alert>, StoreError> {
    let rows = sqlx::query("SELECT seq, record FROM alerts WHERE seq > $1 ORDER BY seq LIMIT $2")
        .bind(i64::try_from(cursor).unwrap_or(i64::MAX))
        .bind(limit_of(limit))
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    rows.iter()
        .map(|row| {
            let seq: i64 = row.try_get(0).map_err(unavailable)?;
            let bytes: Vec<u8> = row.try_get(1).map_err(unavailable)?;
            Ok(Alert {
                seq: seq as u64,
                record: decode_alert(&bytes).map_err(|e| corrupt(&format!("alert {seq}"), e))?,
            })
        })
        .collect()
}

pub(crate) async fn acknowledgement(
    pool: &PgPool,
    seq: u64,
) -> Result<Option<Acknowledgement>, StoreError> {
    let Ok(seq) = i64::try_from(seq) else {
        return Ok(None);
    };
    let bytes: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT record FROM acknowledgements WHERE seq = $1")
            .bind(seq)
            .fetch_optional(pool)
            .await
            .map_err(unavailable)?;
    bytes
        .map(|b| {
            decode_acknowledgement(&b)
                .map_err(|e| corrupt(&format!("acknowledgement of alert {seq}"), e))
        })
        .transpose()
}

/// Which of `seqs` are acknowledged, in one query.
pub(crate) async fn acknowledged(
    pool: &PgPool,
    seqs: &[u64],
) -> Result<std::collections::BTreeSet<u64>, StoreError> {
    let wanted: Vec<i64> = seqs.iter().filter_map(|&s| i64::try_from(s).ok()).collect();
    let found: Vec<i64> =
        sqlx::query_scalar("SELECT seq FROM acknowledgements WHERE seq = ANY($1)")
            .bind(&wanted)
            .fetch_all(pool)
            .await
            .map_err(unavailable)?;
    Ok(found.into_iter().map(|s| s as u64).collect())
}

fn audit_entry(row: &sqlx::postgres::PgRow) -> Result<(i32, AuditEntry, Vec<u8>), StoreError> {
    let chain: i32 = row.try_get("chain").map_err(unavailable)?;
    let seq: i64 = row.try_get("seq").map_err(unavailable)?;
    let bytes: Vec<u8> = row.try_get("record").map_err(unavailable)?;
    let record = decode_audit_record(&bytes)
        .map_err(|e| corrupt(&format!("audit entry {seq} of chain {chain}"), e))?;
    Ok((
        chain,
        AuditEntry {
            seq: seq as u64,
            record,
            prev_hash: row.try_get("prev_hash").map_err(unavailable)?,
            hash: row.try_get("hash").map_err(unavailable)?,
        },
        bytes,
    ))
}

/// Entries numbered `from` on, in number order and then chain order: with
/// one chain, the chain itself.
pub(crate) async fn audit_entries(
    pool: &PgPool,
    from: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    let rows = sqlx::query(
        "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE seq >= $1 \
         ORDER BY seq, chain LIMIT $2",
    )
    .bind(i64::try_from(from).unwrap_or(i64::MAX))
    .bind(limit_of(limit))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.iter().map(|r| Ok(audit_entry(r)?.1)).collect()
}

/// Walks every chain from its start, in pages ([`ChainWalk`]), and checks
/// each against its head; reports the first broken link, naming its chain.
pub(crate) async fn verify_audit(pool: &PgPool) -> Result<AuditVerification, StoreError> {
    const PAGE: i64 = 10_000;
    let heads = sqlx::query("SELECT chain, next_seq, last_hash FROM audit_chains ORDER BY chain")
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    let mut entries = 0u64;
    for head in heads {
        let chain: i32 = head.try_get(0).map_err(unavailable)?;
        let next_seq: i64 = head.try_get(1).map_err(unavailable)?;
        let last_hash: String = head.try_get(2).map_err(unavailable)?;
        let broken = |link: mediation_core::store::BrokenLink| {
            Ok(AuditVerification::Broken {
                seq: link.seq,
                reason: format!("chain {chain}: {}", link.reason),
            })
        };
        let mut walk = ChainWalk::new(chain_hash);
        loop {
            let rows = sqlx::query(
                "SELECT chain, seq, prev_hash, hash, record FROM audit \
                 WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
            )
            .bind(chain)
            .bind(walk.next_seq() as i64)
            .bind(PAGE)
            .fetch_all(pool)
            .await
            .map_err(unavailable)?;
            let done = (rows.len() as i64) < PAGE;
            for row in &rows {
                let read = audit_entry(row).map(|(_, entry, hashed)| (entry, hashed));
                if let Err(link) = walk.step(read) {
                    return broken(link);
                }
            }
            if done {
                break;
            }
        }
        match walk.end(next_seq as u64, &last_hash) {
            Ok(walked) => entries += walked,
            Err(link) => return broken(link),
        }
    }
    Ok(AuditVerification::Intact { entries })
}
