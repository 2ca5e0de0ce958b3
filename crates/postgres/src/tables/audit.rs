//! The audit log: hash chains (`audit`, each with its head row in
//! `audit_chains`), appended by `gateway_append_audit` and walked chain by
//! chain to verify them.

use std::future::Future;

use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::store::{
    AuditDetailsPurged, AuditLog, ChainWalk, DetailCut, DetailPurgeWalk, StoreError,
};
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

/// Rows a purge or a re-chaining reads at a time.
const PAGE: i64 = 1_000;

/// What a purge of one chain's details did, and whether the chain holds a
/// record of an older version (an older replica's, in a rolling upgrade),
/// which it must be re-chained to purge.
struct ChainPurge {
    done: AuditDetailsPurged,
    older: bool,
}

/// Purges the details of one chain's entries due under `cut`, from the
/// place the last purge left ([`DetailPurgeWalk`]); in one transaction that
/// holds the chain's place, so replicas purging together take turns and
/// the place only moves on.
async fn purge_chain_details(
    pool: &PgPool,
    chain: i32,
    cut: DetailCut,
) -> Result<ChainPurge, Failure> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO audit_details_purged_to (chain, next_seq) VALUES ($1, 0) \
         ON CONFLICT (chain) DO NOTHING",
    )
    .bind(chain)
    .execute(&mut *tx)
    .await?;
    let from: i64 = sqlx::query_scalar(
        "SELECT next_seq FROM audit_details_purged_to WHERE chain = $1 FOR UPDATE",
    )
    .bind(chain)
    .fetch_one(&mut *tx)
    .await?;
    let mut walk = DetailPurgeWalk::new(from as u64, cut);
    let (mut seqs, mut records) = (Vec::new(), Vec::new());
    let mut older = false;
    let mut after = from - 1;
    let mut at_end = false;
    while walk.wants_more() {
        let page = walk.budget_left().min(PAGE as usize);
        let rows = sqlx::query(
            "SELECT seq, record FROM audit WHERE chain = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(after)
        .bind(limit_of(page))
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            let bytes: Vec<u8> = row.try_get(1)?;
            after = seq;
            older |= !mediation_records::is_current_audit_record(&bytes);
            let at = match mediation_records::audit_recorded_at(&bytes) {
                Ok(at) => Some(at),
                Err(error) => {
                    tracing::error!(chain, seq, %error, "an audit entry cannot be read; passed over, for `store verify` to report");
                    None
                }
            };
            if !walk.look(seq as u64, at) {
                continue;
            }
            // A detail that no longer matches its digest is evidence: kept.
            if let Err(error) = read_audit_record(&bytes) {
                tracing::error!(chain, seq, %error, "an audit entry's detail does not read; it is kept for `store verify` to report");
                continue;
            }
            if let Ok(Some(cut)) = purge_audit_detail(&bytes) {
                seqs.push(seq);
                records.push(cut);
                walk.cut();
            }
        }
        if (rows.len() as i64) < limit_of(page) {
            at_end = true;
            break;
        }
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
    let (to, done) = walk.finish(at_end);
    sqlx::query("UPDATE audit_details_purged_to SET next_seq = $2 WHERE chain = $1")
        .bind(chain)
        .bind(to as i64)
        .execute(&mut *tx)
        .await?;
    if older {
        sqlx::query("INSERT INTO audit_rechain_pending (chain) VALUES ($1) ON CONFLICT DO NOTHING")
            .bind(chain)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(ChainPurge { done, older })
}

/// [`AuditLog::purge_audit_details`] over every chain, in chain order,
/// each with the whole budget: a chain's look past its place must not
/// starve the chains after it. A chain found to hold records of an older
/// version is re-chained, and its details purged from its start at the
/// next call; a re-chaining that fails is logged and left listed (the
/// purges made stand).
async fn purge_audit_details(
    store: &PgStore,
    cut: DetailCut,
) -> Result<AuditDetailsPurged, StoreError> {
    let chains: Vec<i32> = sqlx::query_scalar("SELECT chain FROM audit_chains ORDER BY chain")
        .fetch_all(&store.pool)
        .await
        .map_err(unavailable)?;
    let mut total = AuditDetailsPurged {
        done: true,
        ..Default::default()
    };
    let mut older = false;
    for chain in chains {
        let purge = retrying(|| purge_chain_details(&store.pool, chain, cut)).await?;
        older |= purge.older;
        total.examined += purge.done.examined;
        total.purged += purge.done.purged;
        total.dated_ahead += purge.done.dated_ahead;
        total.done &= purge.done.done;
    }
    if older && let Err(error) = store.rechain_audit().await {
        tracing::error!(%error, "an audit chain holding older records could not be re-chained; it stays listed");
    }
    Ok(total)
}

/// Re-chains one chain holding records older than version 3, after
/// checking it as it was, and appends the entry that records it; in one
/// transaction that holds the chain's head row, so no append to it runs
/// meanwhile, reading and rewriting [`PAGE`] rows at a time. A record of
/// version 3 keeps its bytes (a purged detail stays purged); only its link
/// is made anew. The purge's place in the chain goes back to its start.
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
    // The purge's place first, as a purge takes it (before the chain's
    // rows), so the two never wait on each other in opposite orders: a
    // purge under way finishes first, and the next starts from the
    // chain's start.
    sqlx::query("DELETE FROM audit_details_purged_to WHERE chain = $1")
        .bind(chain)
        .execute(&mut *tx)
        .await?;
    let head =
        sqlx::query("SELECT next_seq, last_hash FROM audit_chains WHERE chain = $1 FOR UPDATE")
            .bind(chain)
            .fetch_one(&mut *tx)
            .await?;
    let next_seq: i64 = head.try_get(0)?;
    let former: String = head.try_get(1)?;
    let refuse = |link: mediation_core::store::BrokenLink| {
        Failure::Store(StoreError::Corrupt(format!(
            "audit chain {chain} breaks at entry {}: {}; it is not re-chained, since re-hashing \
             it would hide the break (see `store verify`)",
            link.seq, link.reason
        )))
    };
    // The whole chain is checked before a row changes.
    let mut old = ChainWalk::new(chain_hash);
    loop {
        let rows = sqlx::query(
            "SELECT chain, seq, prev_hash, hash, record FROM audit \
             WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(old.next_seq() as i64)
        .bind(PAGE)
        .fetch_all(&mut *tx)
        .await?;
        for row in &rows {
            let (_, entry, hashed) = audit_entry(row)?;
            old.step(Ok::<_, StoreError>((entry, hashed)))
                .map_err(refuse)?;
        }
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
    old.end(next_seq as u64, &former).map_err(refuse)?;
    let mut last = mediation_core::store::genesis_hash();
    let mut from = 0i64;
    loop {
        let rows = sqlx::query(
            "SELECT seq, record FROM audit WHERE chain = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
        )
        .bind(chain)
        .bind(from)
        .bind(PAGE)
        .fetch_all(&mut *tx)
        .await?;
        let (mut seqs, mut prevs, mut hashes, mut records) = (vec![], vec![], vec![], vec![]);
        for row in &rows {
            let seq: i64 = row.try_get(0)?;
            let stored: Vec<u8> = row.try_get(1)?;
            // A record of version 3 keeps its bytes (a detail cut stays
            // cut); only its link is made anew.
            let (hashed, rewritten) = if mediation_records::is_current_audit_record(&stored) {
                (audit_hashed_part(&stored).unwrap_or(&stored).to_vec(), None)
            } else {
                let read = read_audit_record(&stored)
                    .map_err(|e| corrupt(&format!("audit entry {seq} of chain {chain}"), e))?;
                let record = encode_audit_record(&read.record);
                (
                    audit_hashed_part(&record).unwrap_or(&record).to_vec(),
                    Some(record),
                )
            };
            let hash = chain_hash(seq as u64, &last, &hashed);
            seqs.push(seq);
            prevs.push(std::mem::replace(&mut last, hash.clone()));
            hashes.push(hash);
            records.push(rewritten);
            from = seq + 1;
        }
        sqlx::query(
            "UPDATE audit SET prev_hash = u.prev_hash, hash = u.hash, \
             record = coalesce(u.record, audit.record) \
             FROM unnest($2::bigint[], $3::text[], $4::text[], $5::bytea[]) AS u(seq, prev_hash, hash, record) \
             WHERE audit.chain = $1 AND audit.seq = u.seq",
        )
        .bind(chain)
        .bind(&seqs)
        .bind(&prevs)
        .bind(&hashes)
        .bind(&records)
        .execute(&mut *tx)
        .await?;
        if (rows.len() as i64) < PAGE {
            break;
        }
    }
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
    sqlx::query(
        "INSERT INTO audit (chain, seq, prev_hash, hash, record) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(chain)
    .bind(next_seq)
    .bind(&last)
    .bind(&anchor_hash)
    .bind(&anchor)
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
        cut: DetailCut,
    ) -> impl Future<Output = Result<AuditDetailsPurged, StoreError>> + Send {
        purge_audit_details(self, cut)
    }
}
