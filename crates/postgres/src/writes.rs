//! Every write, each one transaction. A transaction that PostgreSQL aborts
//! for a deadlock or a serialisation failure is run again, a few times; any
//! other failure rolls back, so a refused write leaves nothing behind.

use std::future::Future;

use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, AlertRecord};
use mediation_core::audit::AuditRecord;
use mediation_core::ids::ReferralId;
use mediation_core::store::{
    AlertLog, AuditLog, Commit, DeliveryOutcome, MessageId, OutboxStore, Receipt, ReferralStore,
    StoreError, TimerStore,
};
use mediation_records::{
    DeliveryRecord, decode_acknowledgement, decode_delivery, encode_acknowledgement, encode_alert,
    encode_audit_record, encode_bundle, encode_event, encode_snapshot, encode_timer,
};
use sqlx::PgConnection;

use crate::{PgStore, corrupt, day_of, ns, parse_message_id, unavailable};

/// How often a transaction aborted by the database's concurrency control is
/// tried in all.
const ATTEMPTS: u32 = 5;

/// Why a transaction failed: a refusal of the store's own, or the
/// database's error, which may be worth another attempt.
pub(crate) enum Failure {
    Store(StoreError),
    Db(sqlx::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

impl Failure {
    /// A deadlock or a serialisation failure: the transaction did nothing
    /// and may simply run again.
    fn is_transient(&self) -> bool {
        matches!(self, Failure::Db(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40001" | "40P01")))
    }

    fn into_store(self) -> StoreError {
        match self {
            Failure::Store(e) => e,
            Failure::Db(e) => unavailable(e),
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been aborted
/// [`ATTEMPTS`] times.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && tries < ATTEMPTS => {
                tracing::debug!("transaction aborted by the database; running it again");
            }
            Err(e) => return Err(e.into_store()),
        }
    }
}

/// Locks a referral's row, which orders its commands and every change to
/// its outbox lanes; returns its version, or `None` if there is no such
/// referral.
async fn lock_referral(tx: &mut PgConnection, referral: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM referrals WHERE id = $1 FOR UPDATE")
        .bind(referral)
        .fetch_optional(tx)
        .await
}

/// Appends alerts, numbered from the counter row (`gateway_append_alerts`);
/// returns the last number.
async fn append_alerts(tx: &mut PgConnection, records: &[Vec<u8>]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT gateway_append_alerts($1)")
        .bind(records)
        .fetch_one(tx)
        .await
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
        let claimed: Vec<String> = sqlx::query_scalar(
            "INSERT INTO alert_subjects (subject) SELECT unnest($1::text[]) \
             ON CONFLICT DO NOTHING RETURNING subject",
        )
        .bind(subjects.to_vec())
        .fetch_all(&mut *tx)
        .await?;
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
            DeliveryOutcome::Delivered => {
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

    async fn try_append_audit(&self, records: &[Vec<u8>]) -> Result<(), Failure> {
        sqlx::query("SELECT gateway_append_audit($1)")
            .bind(records)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl ReferralStore for PgStore {
    async fn commit(&self, commit: Commit) -> Result<Receipt, StoreError> {
        // An alert raised once for the deployment (a year without a notice)
        // is recorded once however many replicas raise it at once.
        let subjects = subjects_of(&commit);
        if !subjects.is_empty() {
            return retrying(|| self.try_commit_claiming(&commit, &subjects)).await;
        }
        let encoded = Encoded::of(&commit)?;
        retrying(|| self.try_commit(&encoded)).await
    }

    fn referral(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<mediation_core::lifecycle::Referral>, StoreError>> + Send
    {
        crate::reads::referral(&self.pool, referral)
    }

    fn history(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Vec<mediation_core::lifecycle::Event>>, StoreError>> + Send
    {
        crate::reads::history(&self.pool, referral)
    }

    fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        crate::reads::referral_ids(&self.pool, after, limit)
    }

    fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        crate::reads::referrals_active(&self.pool, from, to)
    }

    fn loads(
        &self,
    ) -> impl Future<Output = Result<Vec<(mediation_core::ids::OrganisationId, u64)>, StoreError>> + Send
    {
        crate::reads::loads(&self.pool)
    }

    fn find_by_court_key(
        &self,
        key: &mediation_core::store::CourtKey,
    ) -> impl Future<Output = Result<Option<ReferralId>, StoreError>> + Send {
        crate::reads::find_court_key(&self.pool, key)
    }
}

impl TimerStore for PgStore {
    fn due_timers(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<mediation_core::timer::Timer>, StoreError>> + Send {
        crate::reads::due_timers(&self.pool, now, limit)
    }

    fn next_timer_at(&self) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        crate::reads::next_timer_at(&self.pool)
    }
}

impl OutboxStore for PgStore {
    fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<mediation_core::store::PendingDelivery>, StoreError>> + Send
    {
        crate::reads::lease_due(self, now, limit, room, skip)
    }

    fn next_delivery_at(
        &self,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        crate::reads::next_delivery_at(&self.pool)
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
    ) -> impl Future<Output = Result<Vec<mediation_core::store::PendingDelivery>, StoreError>> + Send
    {
        crate::reads::dead_letters(&self.pool, limit)
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        retrying(|| self.try_replay(id, at)).await
    }

    fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Vec<mediation_core::store::PendingDelivery>, StoreError>> + Send
    {
        crate::reads::pending_messages(&self.pool, referral)
    }

    fn backlog(
        &self,
    ) -> impl Future<Output = Result<Vec<mediation_core::store::Backlog>, StoreError>> + Send {
        crate::reads::backlog(&self.pool)
    }
}

impl AlertLog for PgStore {
    fn alerts_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<mediation_core::alert::Alert>, StoreError>> + Send {
        crate::reads::alerts_after(&self.pool, cursor, limit)
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
        crate::reads::acknowledgement(&self.pool, seq)
    }

    fn acknowledged(
        &self,
        seqs: &[u64],
    ) -> impl Future<Output = Result<std::collections::BTreeSet<u64>, StoreError>> + Send {
        crate::reads::acknowledged(&self.pool, seqs)
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
    ) -> impl Future<Output = Result<Vec<mediation_core::audit::AuditEntry>, StoreError>> + Send
    {
        crate::reads::audit_entries(&self.pool, from, limit)
    }

    fn verify_audit(
        &self,
    ) -> impl Future<Output = Result<mediation_core::audit::AuditVerification, StoreError>> + Send
    {
        crate::reads::verify_audit(&self.pool)
    }
}
