//! The audit log: hash chains (`audit`, each with its head row in
//! `audit_chains`), appended by `gateway_append_audit` and walked chain by
//! chain to verify them.

use std::future::Future;

use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::store::{AuditLog, ChainWalk, StoreError};
use mediation_records::{chain_hash, decode_audit_record, encode_audit_record};
use sqlx::Row as _;
use sqlx::postgres::PgPool;

use super::{Failure, limit_of, retrying};
use crate::{PgStore, corrupt, unavailable};

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

impl PgStore {
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
}
