//! The audit log: hash chains (`audit`, each with its head row in
//! `audit_chains`), appended by `gateway_append_audit` and walked chain by
//! chain to verify them.

use std::future::Future;

use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::store::{AuditDetailsPurged, AuditLog, ChainWalk, StoreError};
use mediation_records::{
    audit_hashed_part, chain_hash, encode_audit_record, purge_audit_detail, read_audit_record,
};
use sqlx::Row as _;
use sqlx::postgres::PgPool;

use super::{Failure, limit_of, retrying};
use crate::{PgStore, corrupt, unavailable};

fn audit_entry(row: &sqlx::postgres::PgRow) -> Result<(i32, AuditEntry, Vec<u8>), StoreError> {
    let chain: i32 = row.try_get("chain").map_err(unavailable)?;
    let seq: i64 = row.try_get("seq").map_err(unavailable)?;
    let bytes: Vec<u8> = row.try_get("record").map_err(unavailable)?;
    let what = || format!("audit entry {seq} of chain {chain}");
    let read = read_audit_record(&bytes).map_err(|e| corrupt(&what(), e))?;
    let hashed = audit_hashed_part(&bytes)
        .map_err(|e| corrupt(&what(), e))?
        .to_vec();
    Ok((
        chain,
        AuditEntry {
            seq: seq as u64,
            record: read.record,
            prev_hash: row.try_get("prev_hash").map_err(unavailable)?,
            hash: row.try_get("hash").map_err(unavailable)?,
            detail_purged: read.detail_purged,
        },
        hashed,
    ))
}

/// Entries numbered `from` on, in number order and then chain order: with
/// one chain, the chain itself.
async fn audit_entries(
    pool: &PgPool,
    from: u64,
    limit: usize,
) -> Result<Vec<AuditEntry>, StoreError> {
    Ok(hashed_audit_entries(pool, from, limit)
        .await?
        .into_iter()
        .map(|(entry, _)| entry)
        .collect())
}

/// The same, each with the bytes its hash covers.
async fn hashed_audit_entries(
    pool: &PgPool,
    from: u64,
    limit: usize,
) -> Result<Vec<(AuditEntry, Vec<u8>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE seq >= $1 \
         ORDER BY seq, chain LIMIT $2",
    )
    .bind(i64::try_from(from).unwrap_or(i64::MAX))
    .bind(limit_of(limit))
    .fetch_all(pool)
    .await
    .map_err(unavailable)?;
    rows.iter()
        .map(|r| {
            let (_, entry, bytes) = audit_entry(r)?;
            Ok((entry, bytes))
        })
        .collect()
}

/// Walks every chain from its start, in pages ([`ChainWalk`]), and checks
/// each against its head; reports the first broken link, naming its chain.
async fn verify_audit(pool: &PgPool) -> Result<AuditVerification, StoreError> {
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

/// Purges the details of one chain's entries before `before`, from its
/// cursor on, at most `limit`; whether the chain's walk reached an entry
/// not yet due or its end.
async fn purge_chain_details(
    pool: &PgPool,
    chain: i32,
    before: jiff::Timestamp,
    limit: usize,
) -> Result<(AuditDetailsPurged, bool), Failure> {
    let mut tx = pool.begin().await?;
    let from: i64 =
        sqlx::query_scalar("SELECT next_seq FROM audit_details_purged_to WHERE chain = $1")
            .bind(chain)
            .fetch_optional(&mut *tx)
            .await?
            .unwrap_or(0);
    let rows = sqlx::query(
        "SELECT chain, seq, prev_hash, hash, record FROM audit \
         WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
    )
    .bind(chain)
    .bind(from)
    .bind(limit_of(limit))
    .fetch_all(&mut *tx)
    .await?;
    let mut done = AuditDetailsPurged::default();
    let mut reached = rows.len() < limit;
    let (mut seqs, mut records) = (Vec::new(), Vec::new());
    let mut next = from;
    for row in &rows {
        let (_, entry, _) = audit_entry(row)?;
        if entry.record.at >= before {
            reached = true;
            break;
        }
        let bytes: Vec<u8> = row.try_get("record")?;
        let cut = purge_audit_detail(&bytes)
            .map_err(|e| corrupt(&format!("audit entry {} of chain {chain}", entry.seq), e))?;
        if let Some(cut) = cut {
            seqs.push(entry.seq as i64);
            records.push(cut);
            done.purged += 1;
        }
        done.examined += 1;
        next = entry.seq as i64 + 1;
    }
    if !seqs.is_empty() {
        sqlx::query(
            "UPDATE audit SET record = u.record \
             FROM unnest($2::bigint[], $3::bytea[]) AS u(seq, record) \
             WHERE audit.chain = $1 AND audit.seq = u.seq",
        )
        .bind(chain)
        .bind(&seqs)
        .bind(&records)
        .execute(&mut *tx)
        .await?;
    }
    if next != from {
        // Two replicas may purge at once: the cursor only moves on.
        sqlx::query(
            "INSERT INTO audit_details_purged_to (chain, next_seq) VALUES ($1, $2) \
             ON CONFLICT (chain) DO UPDATE \
             SET next_seq = greatest(audit_details_purged_to.next_seq, excluded.next_seq)",
        )
        .bind(chain)
        .bind(next)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((done, reached))
}

/// [`AuditLog::purge_audit_details`] over every chain, in chain order.
async fn purge_audit_details(
    pool: &PgPool,
    before: jiff::Timestamp,
    limit: usize,
) -> Result<AuditDetailsPurged, StoreError> {
    let chains: Vec<i32> = sqlx::query_scalar("SELECT chain FROM audit_chains ORDER BY chain")
        .fetch_all(pool)
        .await
        .map_err(unavailable)?;
    let mut total = AuditDetailsPurged {
        done: true,
        ..Default::default()
    };
    for chain in chains {
        let left = limit.saturating_sub(total.examined as usize);
        if left == 0 {
            total.done = false;
            break;
        }
        let (done, reached) = retrying(|| purge_chain_details(pool, chain, before, left)).await?;
        total.examined += done.examined;
        total.purged += done.purged;
        if !reached {
            total.done = false;
            break;
        }
    }
    Ok(total)
}

/// Re-chains one chain of records older than version 3, after checking it
/// as it was, and appends the entry that records it; in one transaction
/// that holds the chain's head row, so no append to it runs meanwhile.
async fn rechain_one(pool: &PgPool, chain: i32) -> Result<Option<(u64, String)>, Failure> {
    let mut tx = pool.begin().await?;
    let pending: Option<i32> =
        sqlx::query_scalar("SELECT chain FROM audit_rechain_pending WHERE chain = $1 FOR UPDATE")
            .bind(chain)
            .fetch_optional(&mut *tx)
            .await?;
    if pending.is_none() {
        // Another replica re-chained it first.
        return Ok(None);
    }
    let head =
        sqlx::query("SELECT next_seq, last_hash FROM audit_chains WHERE chain = $1 FOR UPDATE")
            .bind(chain)
            .fetch_one(&mut *tx)
            .await?;
    let next_seq: i64 = head.try_get(0)?;
    let former: String = head.try_get(1)?;
    let rows = sqlx::query(
        "SELECT chain, seq, prev_hash, hash, record FROM audit WHERE chain = $1 ORDER BY seq",
    )
    .bind(chain)
    .fetch_all(&mut *tx)
    .await?;
    let refuse = |link: mediation_core::store::BrokenLink| {
        Failure::Store(StoreError::Corrupt(format!(
            "audit chain {chain} breaks at entry {}: {}; it is not re-chained, since re-hashing \
             it would hide the break (see `store verify`)",
            link.seq, link.reason
        )))
    };
    let mut old = ChainWalk::new(chain_hash);
    let mut last = mediation_core::store::genesis_hash();
    let (mut seqs, mut prevs, mut hashes, mut records) = (vec![], vec![], vec![], vec![]);
    for row in &rows {
        let (_, entry, hashed) = audit_entry(row)?;
        old.step(Ok::<_, StoreError>((entry.clone(), hashed)))
            .map_err(refuse)?;
        let record = encode_audit_record(&entry.record);
        let hash = chain_hash(
            entry.seq,
            &last,
            audit_hashed_part(&record).unwrap_or(&record),
        );
        seqs.push(entry.seq as i64);
        prevs.push(std::mem::replace(&mut last, hash.clone()));
        hashes.push(hash);
        records.push(record);
    }
    old.end(next_seq as u64, &former).map_err(refuse)?;
    let anchor = encode_audit_record(&mediation_records::rechain_record(
        next_seq as u64,
        &former,
        jiff::Timestamp::now(),
    ));
    let anchor_hash = chain_hash(
        next_seq as u64,
        &last,
        audit_hashed_part(&anchor).unwrap_or(&anchor),
    );
    seqs.push(next_seq);
    prevs.push(last);
    hashes.push(anchor_hash.clone());
    records.push(anchor);
    sqlx::query(
        "INSERT INTO audit (chain, seq, prev_hash, hash, record) \
         SELECT $1, u.seq, u.prev_hash, u.hash, u.record \
         FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bytea[]) AS u(seq, prev_hash, hash, record) \
         ON CONFLICT (chain, seq) DO UPDATE \
         SET prev_hash = excluded.prev_hash, hash = excluded.hash, record = excluded.record",
    )
    .bind(chain)
    .bind(&seqs)
    .bind(&prevs)
    .bind(&hashes)
    .bind(&records)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE audit_chains SET next_seq = $2, last_hash = $3 WHERE chain = $1")
        .bind(chain)
        .bind(next_seq + 1)
        .bind(&anchor_hash)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM audit_rechain_pending WHERE chain = $1")
        .bind(chain)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some((next_seq as u64, former)))
}

impl PgStore {
    /// Re-chains every chain migration 5 listed (`schema::V5`), each once
    /// whichever replicas connect together; a chain that does not verify
    /// as it was is refused, and stays listed.
    pub(crate) async fn rechain_audit(&self) -> Result<(), StoreError> {
        let pending: Vec<i32> =
            sqlx::query_scalar("SELECT chain FROM audit_rechain_pending ORDER BY chain")
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        for chain in pending {
            let started = std::time::Instant::now();
            if let Some((entries, former)) = retrying(|| rechain_one(&self.pool, chain)).await? {
                tracing::info!(
                    chain,
                    entries,
                    former_last_hash = %former,
                    elapsed = ?started.elapsed(),
                    "audit chain re-chained in audit record version 3"
                );
            }
        }
        Ok(())
    }

    async fn try_append_audit(&self, records: &[Vec<u8>]) -> Result<(), Failure> {
        sqlx::query("SELECT gateway_append_audit($1)")
            .bind(records)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl AuditLog for PgStore {
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        let encoded: Vec<Vec<u8>> = records.iter().map(encode_audit_record).collect();
        retrying(|| self.try_append_audit(&encoded)).await
    }

    fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send {
        audit_entries(&self.pool, from, limit)
    }

    fn hashed_audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(AuditEntry, Vec<u8>)>, StoreError>> + Send {
        hashed_audit_entries(&self.pool, from, limit)
    }

    fn verify_audit(&self) -> impl Future<Output = Result<AuditVerification, StoreError>> + Send {
        verify_audit(&self.pool)
    }

    fn purge_audit_details(
        &self,
        before: jiff::Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<AuditDetailsPurged, StoreError>> + Send {
        purge_audit_details(&self.pool, before, limit)
    }
}
