//! Loads another store's records (`mediation_records::transfer`) into an
//! empty database, in one transaction: a cut-off or refused import leaves
//! the database as it was.

use std::collections::HashMap;

use mediation_core::store::StoreError;
use mediation_records::transfer::StoredItem;
use sqlx::PgConnection;

use crate::{PgStore, ns, unavailable};

/// Rows sent to the database at once.
const BATCH: usize = 1_000;

/// What an import loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub referrals: u64,
    pub events: u64,
    pub messages: u64,
    pub timers: u64,
    pub alerts: u64,
    pub audit_entries: u64,
}

impl Imported {
    /// Every row loaded.
    pub fn rows(&self) -> u64 {
        self.referrals
            + self.events
            + self.messages
            + self.timers
            + self.alerts
            + self.audit_entries
    }
}

/// An outbox row: number, destination, referral, enqueued, next attempt,
/// dead, due, record.
type MessageRow = (i64, String, String, i64, i64, bool, Option<i64>, Vec<u8>);

/// Rows of one table waiting to be sent.
#[derive(Default)]
struct Pending {
    referrals: Vec<(String, i64, Vec<u8>, Vec<u8>)>,
    events: Vec<(String, i64, i64, Vec<u8>)>,
    messages: Vec<MessageRow>,
}

fn too_big(n: u64) -> StoreError {
    StoreError::Corrupt(format!("{n} does not fit the database's bigint"))
}

fn big(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| too_big(n))
}

impl PgStore {
    /// Loads `items` into this database, which must hold no referral, alert
    /// or audit entry; `progress` is told what was loaded every 10,000
    /// rows. Everything or nothing is kept.
    pub async fn import(
        &self,
        mut items: tokio::sync::mpsc::Receiver<StoredItem>,
        mut progress: impl FnMut(&Imported),
    ) -> Result<Imported, StoreError> {
        let mut tx = self.pool.begin().await.map_err(unavailable)?;
        let occupied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM referrals) OR EXISTS (SELECT 1 FROM alerts) \
             OR EXISTS (SELECT 1 FROM audit)",
        )
        .fetch_one(&mut *tx)
        .await
        .map_err(unavailable)?;
        if occupied {
            return Err(StoreError::Unavailable(
                "the database already holds a store; import only into an empty one".into(),
            ));
        }
        let mut done = Imported::default();
        let mut pending = Pending::default();
        let mut last_lane: Option<(String, String)> = None;
        let mut max_seq = 0i64;
        let mut max_alert = 0i64;
        let mut audit_head = None;
        let mut audit_started = false;
        // Records of an older version (an archive an older build wrote):
        // the chain is re-chained once it is in (`rechain_audit`).
        let mut older_audit = false;
        let mut loads: HashMap<String, i64> = HashMap::new();
        let mut reported = 0u64;
        while let Some(item) = items.recv().await {
            match item {
                StoredItem::Referral {
                    id,
                    version,
                    snapshot,
                    bundle,
                } => {
                    pending
                        .referrals
                        .push((id, big(version)?, snapshot, bundle));
                    done.referrals += 1;
                }
                StoredItem::Event {
                    referral,
                    version,
                    at,
                    record,
                } => {
                    flush_referrals(&mut tx, &mut pending).await?;
                    pending
                        .events
                        .push((referral, big(version)?, crate::day_of(at), record));
                    done.events += 1;
                }
                StoredItem::CourtKey {
                    filed_by,
                    court,
                    court_referral_id,
                    referral,
                } => {
                    flush_all(&mut tx, &mut pending).await?;
                    sqlx::query(
                        "INSERT INTO court_keys (filed_by, court, court_referral_id, referral) \
                         VALUES ($1, $2, $3, $4)",
                    )
                    .bind(filed_by.unwrap_or_default())
                    .bind(court)
                    .bind(court_referral_id)
                    .bind(referral)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                }
                StoredItem::PurgedFiles { referral, record } => {
                    flush_all(&mut tx, &mut pending).await?;
                    sqlx::query("INSERT INTO purged_files (referral, files) VALUES ($1, $2)")
                        .bind(referral)
                        .bind(record)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                }
                StoredItem::Load { organisation, open } => {
                    loads.insert(organisation, big(open)?);
                }
                StoredItem::Timer {
                    referral,
                    kind,
                    fire_at,
                    record,
                } => {
                    flush_all(&mut tx, &mut pending).await?;
                    sqlx::query(
                        "INSERT INTO timers (referral, kind, fire_at_ns, record) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(referral)
                    .bind(kind)
                    .bind(ns(fire_at))
                    .bind(record)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    done.timers += 1;
                }
                StoredItem::Message {
                    seq,
                    destination,
                    referral,
                    enqueued_at,
                    next_attempt_at,
                    dead,
                    record,
                } => {
                    flush_referrals(&mut tx, &mut pending).await?;
                    // Messages come lane by lane, each in order: the first
                    // of a lane is its head, due when its next attempt is,
                    // unless it was set aside.
                    let lane = (destination.clone(), referral.clone());
                    let head = last_lane.as_ref() != Some(&lane);
                    last_lane = Some(lane);
                    let seq = big(seq)?;
                    max_seq = max_seq.max(seq);
                    let due = (head && !dead).then(|| ns(next_attempt_at));
                    pending.messages.push((
                        seq,
                        destination,
                        referral,
                        ns(enqueued_at),
                        ns(next_attempt_at),
                        dead,
                        due,
                        record,
                    ));
                    done.messages += 1;
                }
                StoredItem::Alert { seq, record } => {
                    flush_all(&mut tx, &mut pending).await?;
                    let seq = big(seq)?;
                    max_alert = max_alert.max(seq);
                    // An alert raised once per subject keeps its claim, so
                    // that no replica raises it again after the move.
                    let subject = mediation_records::decode_alert(&record)
                        .map_err(|e| crate::corrupt(&format!("alert {seq}"), e))?
                        .subject;
                    sqlx::query("INSERT INTO alerts (seq, record) VALUES ($1, $2)")
                        .bind(seq)
                        .bind(record)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    if let Some(subject) = subject {
                        sqlx::query(
                            "INSERT INTO alert_subjects (subject) VALUES ($1) ON CONFLICT DO NOTHING",
                        )
                        .bind(subject)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                    }
                    done.alerts += 1;
                }
                StoredItem::Acknowledgement { seq, record } => {
                    sqlx::query("INSERT INTO acknowledgements (seq, record) VALUES ($1, $2)")
                        .bind(big(seq)?)
                        .bind(record)
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                }
                StoredItem::Audit {
                    seq,
                    prev_hash,
                    hash,
                    record,
                } => {
                    flush_all(&mut tx, &mut pending).await?;
                    if !audit_started {
                        // The embedded store's one chain becomes chain 0;
                        // its head row is set once the entries are in.
                        sqlx::query(
                            "INSERT INTO audit_chains (chain, next_seq, last_hash) VALUES (0, 0, $1) \
                             ON CONFLICT (chain) DO NOTHING",
                        )
                        .bind(mediation_core::store::genesis_hash())
                        .execute(&mut *tx)
                        .await
                        .map_err(unavailable)?;
                        audit_started = true;
                    }
                    older_audit |= !mediation_records::is_current_audit_record(&record);
                    sqlx::query(
                        "INSERT INTO audit (chain, seq, prev_hash, hash, record) VALUES (0, $1, $2, $3, $4)",
                    )
                    .bind(big(seq)?)
                    .bind(prev_hash)
                    .bind(hash)
                    .bind(record)
                    .execute(&mut *tx)
                    .await
                    .map_err(unavailable)?;
                    done.audit_entries += 1;
                }
                StoredItem::AuditHead {
                    next_seq,
                    last_hash,
                } => audit_head = Some((big(next_seq)?, last_hash)),
            }
            if pending.referrals.len() >= BATCH
                || pending.events.len() >= BATCH
                || pending.messages.len() >= BATCH
            {
                flush_all(&mut tx, &mut pending).await?;
            }
            if done.rows() >= reported + 10_000 {
                reported = done.rows();
                progress(&done);
            }
        }
        flush_all(&mut tx, &mut pending).await?;
        // The sender stops early only on an error of its own, which the
        // caller reports; without the chain's head the import is not whole.
        let Some((next_seq, last_hash)) = audit_head else {
            return Err(StoreError::Unavailable(
                "the store being imported ended early; nothing was kept".into(),
            ));
        };
        if next_seq > 0 || audit_started {
            sqlx::query(
                "INSERT INTO audit_chains (chain, next_seq, last_hash) VALUES (0, $1, $2) \
                 ON CONFLICT (chain) DO UPDATE SET next_seq = $1, last_hash = $2",
            )
            .bind(next_seq)
            .bind(&last_hash)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
            if older_audit {
                sqlx::query(
                    "INSERT INTO audit_rechain_pending (chain) VALUES (0) ON CONFLICT DO NOTHING",
                )
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
            }
            // The next chain a busy moment starts is chain 1.
            sqlx::query("SELECT setval('audit_chain_seq', 0, true)")
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        for (organisation, open) in loads {
            sqlx::query("INSERT INTO loads (organisation, shard, open) VALUES ($1, 0, $2)")
                .bind(organisation)
                .bind(open)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        // Numbers go on from where the store left them.
        if max_seq > 0 {
            sqlx::query("SELECT setval('outbox_seq', $1)")
                .bind(max_seq)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("UPDATE counters SET value = $1 WHERE name = 'alert'")
            .bind(max_alert)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        tx.commit().await.map_err(unavailable)?;
        if older_audit {
            self.rechain_audit().await?;
        }
        progress(&done);
        Ok(done)
    }
}

async fn flush_referrals(tx: &mut PgConnection, pending: &mut Pending) -> Result<(), StoreError> {
    if pending.referrals.is_empty() {
        return Ok(());
    }
    let rows = std::mem::take(&mut pending.referrals);
    let (mut ids, mut versions, mut snapshots, mut bundles) = (vec![], vec![], vec![], vec![]);
    for (id, version, snapshot, bundle) in rows {
        ids.push(id);
        versions.push(version);
        snapshots.push(snapshot);
        bundles.push(bundle);
    }
    sqlx::query(
        "INSERT INTO referrals (id, version, snapshot, bundle) \
         SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bytea[], $4::bytea[])",
    )
    .bind(ids)
    .bind(versions)
    .bind(snapshots)
    .bind(bundles)
    .execute(tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// Sends every waiting row, referrals first: the others name them.
async fn flush_all(tx: &mut PgConnection, pending: &mut Pending) -> Result<(), StoreError> {
    flush_referrals(tx, pending).await?;
    if !pending.events.is_empty() {
        let rows = std::mem::take(&mut pending.events);
        let (mut referrals, mut versions, mut days, mut records) = (vec![], vec![], vec![], vec![]);
        for (referral, version, day, record) in rows {
            referrals.push(referral);
            versions.push(version);
            days.push(day);
            records.push(record);
        }
        sqlx::query(
            "INSERT INTO events (referral, version, day, record) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[], $4::bytea[])",
        )
        .bind(referrals)
        .bind(versions)
        .bind(days)
        .bind(records)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    }
    if !pending.messages.is_empty() {
        let rows = std::mem::take(&mut pending.messages);
        let mut columns = (
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
            vec![],
        );
        for (seq, destination, referral, enqueued, next, dead, due, record) in rows {
            columns.0.push(seq);
            columns.1.push(destination);
            columns.2.push(referral);
            columns.3.push(enqueued);
            columns.4.push(next);
            columns.5.push(dead);
            columns.6.push(due);
            columns.7.push(record);
        }
        sqlx::query(
            "INSERT INTO outbox (seq, destination, referral, enqueued_at_ns, next_attempt_ns, \
               dead, due_ns, record) \
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::bigint[], \
               $5::bigint[], $6::boolean[], $7::bigint[], $8::bytea[])",
        )
        .bind(columns.0)
        .bind(columns.1)
        .bind(columns.2)
        .bind(columns.3)
        .bind(columns.4)
        .bind(columns.5)
        .bind(columns.6)
        .bind(columns.7)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
    }
    Ok(())
}
