//! Alerts (`alerts`, numbered from one counter row by
//! `gateway_append_alerts`), their acknowledgements (`acknowledgements`,
//! the first one standing) and the subjects of alerts raised once each
//! (`alert_subjects`).

use std::future::Future;

use mediation_core::alert::{Acknowledgement, Alert, AlertRecord};
use mediation_core::store::{AlertLog, StoreError};
use mediation_records::{
    decode_acknowledgement, decode_alert, encode_acknowledgement, encode_alert,
};
use sqlx::postgres::PgPool;
use sqlx::{PgConnection, Row as _};

use super::{Failure, limit_of, retrying};
use crate::{PgStore, corrupt, unavailable};

/// Appends alerts, numbered from the counter row (`gateway_append_alerts`);
/// returns the last number.
pub(super) async fn append_alerts(
    tx: &mut PgConnection,
    records: &[Vec<u8>],
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT gateway_append_alerts($1)")
        .bind(records)
        .fetch_one(tx)
        .await
}

/// Claims `subjects` inside `tx`; returns those claimed, leaving out the
/// ones another commit claimed before.
pub(super) async fn claim_subjects(
    tx: &mut PgConnection,
    subjects: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO alert_subjects (subject) SELECT unnest($1::text[]) \
         ON CONFLICT DO NOTHING RETURNING subject",
    )
    .bind(subjects.to_vec())
    .fetch_all(tx)
    .await
}

async fn alerts_after(pool: &PgPool, cursor: u64, limit: usize) -> Result<Vec<Alert>, StoreError> {
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

async fn acknowledgement(pool: &PgPool, seq: u64) -> Result<Option<Acknowledgement>, StoreError> {
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
async fn acknowledged(
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

impl PgStore {
    /// Gives up the claim on alerts with `subject` (see the schema): what
    /// they reported has ended, and another alert may be raised should it
    /// come back.
    pub async fn release_alert_subject(&self, subject: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM alert_subjects WHERE subject = $1")
            .bind(subject)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn try_raise(&self, record: &[u8]) -> Result<u64, Failure> {
        let mut tx = self.pool.begin().await?;
        let seq = append_alerts(&mut tx, &[record.to_vec()]).await?;
        tx.commit().await?;
        Ok(seq as u64)
    }

    async fn try_acknowledge(&self, seq: u64, record: &[u8]) -> Result<Acknowledgement, Failure> {
        let seq = i64::try_from(seq).map_err(|_| StoreError::NotFound(format!("alert {seq}")))?;
        let mut tx = self.pool.begin().await?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM alerts WHERE seq = $1)")
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
        if !exists {
            return Err(StoreError::NotFound(format!("alert {seq}")).into());
        }
        // The first acknowledgement stands: a second one, from this replica
        // or another, inserts nothing and reads the first.
        sqlx::query(
            "INSERT INTO acknowledgements (seq, record) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(seq)
        .bind(record)
        .execute(&mut *tx)
        .await?;
        let kept: Vec<u8> =
            sqlx::query_scalar("SELECT record FROM acknowledgements WHERE seq = $1")
                .bind(seq)
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(decode_acknowledgement(&kept)
            .map_err(|e| corrupt(&format!("acknowledgement of alert {seq}"), e))?)
    }
}

impl AlertLog for PgStore {
    fn alerts_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send {
        alerts_after(&self.pool, cursor, limit)
    }

    async fn raise_alert(&self, record: AlertRecord) -> Result<u64, StoreError> {
        let encoded = encode_alert(&record);
        retrying(|| self.try_raise(&encoded)).await
    }

    async fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        let encoded = encode_acknowledgement(&acknowledgement);
        retrying(|| self.try_acknowledge(seq, &encoded)).await
    }

    fn acknowledgement(
        &self,
        seq: u64,
    ) -> impl Future<Output = Result<Option<Acknowledgement>, StoreError>> + Send {
        acknowledgement(&self.pool, seq)
    }

    fn acknowledged(
        &self,
        seqs: &[u64],
    ) -> impl Future<Output = Result<std::collections::BTreeSet<u64>, StoreError>> + Send {
        acknowledged(&self.pool, seqs)
    }
}
