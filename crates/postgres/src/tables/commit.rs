//! A commit: everything one command decided, written to every table at once
//! by one statement (`gateway_commit`, in the schema), which locks the
//! referral's row, checks its version and writes the referral, its events,
//! court key, loads, timers, messages, alerts and audit records. A commit
//! raising alerts once each (`subject`) first claims their subjects
//! ([`super::alerts::claim_subjects`]), in the same transaction.

use mediation_core::ids::ReferralId;
use mediation_core::store::{Commit, Purge, Receipt, StoreError};
use mediation_records::{
    DeliveryRecord, encode_alert, encode_audit_record, encode_bundle, encode_event,
    encode_purged_files, encode_snapshot, encode_timer,
};
use sqlx::PgConnection;

use super::alerts::claim_subjects;
use super::{Failure, retrying};
use crate::{PgStore, corrupt, day_of, ns, parse_message_id};

/// Writes `commit`, running it again if the database aborts it.
pub(super) async fn run(store: &PgStore, commit: Commit) -> Result<Receipt, StoreError> {
    // An alert raised once for the deployment (a year without a notice)
    // is recorded once however many replicas raise it at once.
    let subjects = subjects_of(&commit);
    if !subjects.is_empty() {
        return retrying(|| store.try_commit_claiming(&commit, &subjects)).await;
    }
    let encoded = Encoded::of(&commit)?;
    retrying(|| store.try_commit(&encoded)).await
}

/// A commit, encoded before its transaction starts.
struct Encoded<'c> {
    commit: &'c Commit,
    referral: &'c str,
    version: i64,
    bundle: Option<Vec<u8>>,
    snapshot: Vec<u8>,
    events: Vec<Vec<u8>>,
    timers: Vec<Vec<u8>>,
    messages: Vec<Vec<u8>>,
    alerts: Vec<Vec<u8>>,
    audit: Vec<Vec<u8>>,
}

impl<'c> Encoded<'c> {
    fn of(c: &'c Commit) -> Result<Self, StoreError> {
        let version = c.version_after()?;
        let bundle = c.new_bundle().map(encode_bundle);
        Ok(Self {
            commit: c,
            referral: c.referral.as_str(),
            version: version as i64,
            bundle,
            snapshot: encode_snapshot(&c.state),
            events: c.events.iter().map(encode_event).collect(),
            timers: c.timers.iter().map(encode_timer).collect(),
            messages: c
                .messages
                .iter()
                .map(|m| DeliveryRecord::new(m, c.at).encode())
                .collect(),
            alerts: c.alerts.iter().map(encode_alert).collect(),
            audit: c.audit.iter().map(encode_audit_record).collect(),
        })
    }
}

/// The subjects of a commit's alerts that are raised once each, each once,
/// in order (so that concurrent claims take their rows in one order).
fn subjects_of(commit: &Commit) -> Vec<String> {
    let mut subjects: Vec<String> = commit
        .alerts
        .iter()
        .filter_map(|a| a.subject.clone())
        .collect();
    subjects.sort();
    subjects.dedup();
    subjects
}

/// One statement (`gateway_commit`, in the schema): one round trip, and
/// atomic on its own; its refusals come back as errors of its own codes.
async fn commit_on(conn: &mut PgConnection, e: &Encoded<'_>) -> Result<Receipt, Failure> {
    let c = e.commit;
    let key = c.court_key.as_ref();
    let delivered = c.delivered.as_ref().and_then(parse_message_id);
    let result = sqlx::query(
        "SELECT gateway_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
         $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
    )
    .bind(e.referral)
    .bind(c.expected_version as i64)
    .bind(e.version)
    .bind(&e.snapshot)
    .bind(e.bundle.as_ref())
    .bind(key.map(|k| k.filed_by.map(|p| p.as_str()).unwrap_or("")))
    .bind(key.map(|k| k.court.to_string()))
    .bind(key.map(|k| k.court_referral_id.to_string()))
    .bind(
        c.loads
            .iter()
            .map(|l| l.organisation.to_string())
            .collect::<Vec<_>>(),
    )
    .bind(c.loads.iter().map(|l| l.delta.signum()).collect::<Vec<_>>())
    .bind(c.events.iter().map(|ev| day_of(ev.at)).collect::<Vec<_>>())
    .bind(&e.events)
    .bind(c.timers.iter().map(|t| t.kind.as_str()).collect::<Vec<_>>())
    .bind(c.timers.iter().map(|t| ns(t.fire_at)).collect::<Vec<_>>())
    .bind(&e.timers)
    .bind(
        c.messages
            .iter()
            .map(|m| m.destination.key())
            .collect::<Vec<_>>(),
    )
    .bind(
        c.messages
            .iter()
            .map(|m| m.referral.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(&e.messages)
    .bind(ns(c.at))
    .bind(&e.alerts)
    .bind(&e.audit)
    .bind(delivered.as_ref().map(|(r, _)| r.as_str()))
    .bind(delivered.as_ref().map(|(_, n)| *n))
    .bind(c.trace.as_ref().map(|t| t.as_str()))
    .execute(&mut *conn)
    .await;
    match result {
        Ok(_) => Ok(Receipt {
            version: e.version as u64,
        }),
        Err(sqlx::Error::Database(db)) => {
            let said = db.message().to_owned();
            Err(match db.code().as_deref() {
                Some("MGVER") => StoreError::VersionConflict {
                    referral: c.referral.clone(),
                    expected: c.expected_version,
                    actual: said.parse().unwrap_or(0),
                }
                .into(),
                Some("MGDUP") => StoreError::DuplicateCourtReferral {
                    existing: ReferralId::parse(&said)
                        .map_err(|e| corrupt("the referral holding a court key", e))?,
                }
                .into(),
                Some("MGNOB") => StoreError::Corrupt(format!("{}: {said}", c.referral)).into(),
                _ => Failure::Db(sqlx::Error::Database(db)),
            })
        }
        Err(e) => Err(Failure::Db(e)),
    }
}

/// Writes a purge in one transaction: its commit (with the version check),
/// the redacted bundle and events over the stored ones, and the files to
/// remove; run again if the database aborts it.
pub(super) async fn purge(store: &PgStore, purge: Purge) -> Result<Receipt, StoreError> {
    let bundle = encode_bundle(purge.check()?);
    let events: Vec<Vec<u8>> = purge.redacted.iter().map(encode_event).collect();
    let versions: Vec<i64> = (1..=events.len() as i64).collect();
    let files = (!purge.files.is_empty()).then(|| encode_purged_files(&purge.files));
    let encoded = Encoded::of(&purge.commit)?;
    let referral = encoded.referral;
    retrying(|| async {
        let mut tx = store.pool.begin().await?;
        let receipt = commit_on(&mut tx, &encoded).await?;
        sqlx::query("UPDATE referrals SET bundle = $2 WHERE id = $1")
            .bind(referral)
            .bind(&bundle)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE events SET record = r.record \
             FROM unnest($2::bigint[], $3::bytea[]) AS r(version, record) \
             WHERE events.referral = $1 AND events.version = r.version",
        )
        .bind(referral)
        .bind(&versions)
        .bind(&events)
        .execute(&mut *tx)
        .await?;
        if let Some(files) = &files {
            sqlx::query("INSERT INTO purged_files (referral, files) VALUES ($1, $2)")
                .bind(referral)
                .bind(files)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(receipt)
    })
    .await
}

impl PgStore {
    /// A commit on a connection of the pool.
    async fn try_commit(&self, e: &Encoded<'_>) -> Result<Receipt, Failure> {
        let mut conn = self.pool.acquire().await?;
        commit_on(&mut conn, e).await
    }

    /// A commit carrying alerts raised once each (`subject`): in one
    /// transaction, the subjects are claimed, and the alerts whose subject
    /// another commit (of this replica or another) claimed before are left
    /// out; the rest of the commit goes ahead. A claim made by a commit that
    /// fails is undone with it.
    async fn try_commit_claiming(
        &self,
        commit: &Commit,
        subjects: &[String],
    ) -> Result<Receipt, Failure> {
        let mut tx = self.pool.begin().await?;
        let claimed = claim_subjects(&mut tx, subjects).await?;
        let mut commit = commit.clone();
        let mut kept = std::collections::BTreeSet::new();
        commit.alerts.retain(|a| match &a.subject {
            None => true,
            Some(subject) => claimed.contains(subject) && kept.insert(subject.clone()),
        });
        let encoded = Encoded::of(&commit)?;
        let receipt = commit_on(&mut tx, &encoded).await?;
        tx.commit().await?;
        Ok(receipt)
    }
}
