//! Every write, each one transaction. A transaction that PostgreSQL aborts
//! for a deadlock or a serialisation failure is run again, a few times; any
//! other failure rolls back, so a refused write leaves nothing behind.

use std::future::Future;

use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, AlertRecord};
use mediation_core::audit::AuditRecord;
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::Change;
use mediation_core::store::{
    AlertLog, AuditLog, Commit, DeliveryOutcome, MessageId, OutboxStore, Receipt, ReferralStore,
    StoreError,
};
use mediation_records::{
    DeliveryRecord, chain_hash, decode_acknowledgement, decode_delivery, encode_acknowledgement,
    encode_alert, encode_audit_record, encode_bundle, encode_event, encode_snapshot, encode_timer,
};
use sqlx::{PgConnection, Row as _};

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

/// Appends alerts, numbered from the counter row; returns the last number.
async fn append_alerts(tx: &mut PgConnection, records: &[Vec<u8>]) -> Result<i64, sqlx::Error> {
    if records.is_empty() {
        return Ok(0);
    }
    let last: i64 = sqlx::query_scalar(
        "UPDATE counters SET value = value + $1 WHERE name = 'alert' RETURNING value",
    )
    .bind(records.len() as i64)
    .fetch_one(&mut *tx)
    .await?;
    let first = last - records.len() as i64 + 1;
    let seqs: Vec<i64> = (first..=last).collect();
    sqlx::query("INSERT INTO alerts (seq, record) SELECT * FROM UNNEST($1::bigint[], $2::bytea[])")
        .bind(&seqs)
        .bind(records)
        .execute(&mut *tx)
        .await?;
    Ok(last)
}

/// Appends audit records to the first chain no other transaction holds,
/// starting a new chain when every one is held.
async fn append_audit(tx: &mut PgConnection, records: &[Vec<u8>]) -> Result<(), sqlx::Error> {
    if records.is_empty() {
        return Ok(());
    }
    let (chain, mut next_seq, mut last_hash) = take_chain(tx).await?;
    let mut seqs = Vec::with_capacity(records.len());
    let mut prevs = Vec::with_capacity(records.len());
    let mut hashes = Vec::with_capacity(records.len());
    for record in records {
        let hash = chain_hash(next_seq as u64, &last_hash, record);
        seqs.push(next_seq);
        prevs.push(std::mem::replace(&mut last_hash, hash.clone()));
        hashes.push(hash);
        next_seq += 1;
    }
    sqlx::query(
        "INSERT INTO audit (chain, seq, prev_hash, hash, record) \
         SELECT $1, * FROM UNNEST($2::bigint[], $3::text[], $4::text[], $5::bytea[])",
    )
    .bind(chain)
    .bind(&seqs)
    .bind(&prevs)
    .bind(&hashes)
    .bind(records)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE audit_chains SET next_seq = $2, last_hash = $3 WHERE chain = $1")
        .bind(chain)
        .bind(next_seq)
        .bind(&last_hash)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

/// Locks the first audit chain no other transaction holds, or starts a new
/// one when every chain is held; returns its number and head.
async fn take_chain(tx: &mut PgConnection) -> Result<(i32, i64, String), sqlx::Error> {
    // Each round either finds a free chain or starts one; a round loses
    // only to another transaction starting the same number at once, and
    // the next round sees that chain.
    for _ in 0..16 {
        let free = sqlx::query(
            "SELECT chain, next_seq, last_hash FROM audit_chains ORDER BY chain \
             LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(row) = free {
            return Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?));
        }
        let genesis = "0".repeat(64);
        let started: Option<i32> = sqlx::query_scalar(
            "INSERT INTO audit_chains (chain, next_seq, last_hash) \
             SELECT coalesce(max(chain), -1) + 1, 0, $1 FROM audit_chains \
             ON CONFLICT (chain) DO NOTHING RETURNING chain",
        )
        .bind(&genesis)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(chain) = started {
            return Ok((chain, 0, genesis));
        }
    }
    Err(sqlx::Error::Protocol(
        "no audit chain could be taken or started".into(),
    ))
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
        let version = c.expected_version + c.events.len() as u64;
        if c.state.version != version || c.state.id != c.referral {
            return Err(StoreError::Corrupt(format!(
                "the commit of {} at version {} carries the state of {} at version {}",
                c.referral, version, c.state.id, c.state.version
            )));
        }
        let bundle = match c.events.first().map(|e| &e.change) {
            Some(Change::Received { bundle, .. }) if c.expected_version == 0 => {
                Some(encode_bundle(bundle))
            }
            _ => None,
        };
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

impl PgStore {
    async fn try_commit(&self, e: &Encoded<'_>) -> Result<Receipt, Failure> {
        let c = e.commit;
        let mut tx = self.pool.begin().await?;
        let expected = c.expected_version as i64;
        let conflict = |actual: i64| {
            Failure::Store(StoreError::VersionConflict {
                referral: c.referral.clone(),
                expected: c.expected_version,
                actual: actual as u64,
            })
        };
        if expected == 0 {
            let Some(bundle) = &e.bundle else {
                if let Some(actual) = lock_referral(&mut tx, e.referral).await? {
                    return Err(conflict(actual));
                }
                return Err(StoreError::Corrupt(format!(
                    "the first commit of {} does not start with its receipt",
                    c.referral
                ))
                .into());
            };
            let inserted = sqlx::query(
                "INSERT INTO referrals (id, version, snapshot, bundle) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(e.referral)
            .bind(e.version)
            .bind(&e.snapshot)
            .bind(bundle)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if inserted == 0 {
                let actual = lock_referral(&mut tx, e.referral).await?.unwrap_or(0);
                return Err(conflict(actual));
            }
        } else {
            match lock_referral(&mut tx, e.referral).await? {
                Some(actual) if actual == expected => {}
                actual => return Err(conflict(actual.unwrap_or(0))),
            }
            sqlx::query("UPDATE referrals SET version = $2, snapshot = $3 WHERE id = $1")
                .bind(e.referral)
                .bind(e.version)
                .bind(&e.snapshot)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(key) = &c.court_key {
            // The unique key decides: of two replicas claiming it at once,
            // the second waits for the first's commit, then finds it taken.
            let filed_by = key.filed_by.map(|p| p.as_str()).unwrap_or("");
            let claimed = sqlx::query(
                "INSERT INTO court_keys (filed_by, court, court_referral_id, referral) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(filed_by)
            .bind(key.court.to_string())
            .bind(key.court_referral_id.to_string())
            .bind(e.referral)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if claimed == 0 {
                drop(tx);
                let existing = self
                    .find_court_key(key)
                    .await?
                    .ok_or_else(|| StoreError::Unavailable("a court key vanished".into()))?;
                return Err(StoreError::DuplicateCourtReferral { existing }.into());
            }
        }
        for change in &c.loads {
            sqlx::query(
                "INSERT INTO loads (organisation, open) VALUES ($1, greatest($2, 0)) \
                 ON CONFLICT (organisation) DO UPDATE SET open = greatest(loads.open + $2, 0)",
            )
            .bind(change.organisation.to_string())
            .bind(change.delta.signum())
            .execute(&mut *tx)
            .await?;
        }
        if !e.events.is_empty() {
            let versions: Vec<i64> = (1..=e.events.len() as i64).map(|n| expected + n).collect();
            let days: Vec<i64> = c.events.iter().map(|ev| day_of(ev.at)).collect();
            sqlx::query(
                "INSERT INTO events (referral, version, day, record) \
                 SELECT $1, * FROM UNNEST($2::bigint[], $3::bigint[], $4::bytea[])",
            )
            .bind(e.referral)
            .bind(&versions)
            .bind(&days)
            .bind(&e.events)
            .execute(&mut *tx)
            .await?;
        }
        sqlx::query("DELETE FROM timers WHERE referral = $1")
            .bind(e.referral)
            .execute(&mut *tx)
            .await?;
        if !e.timers.is_empty() {
            let kinds: Vec<&str> = c.timers.iter().map(|t| t.kind.as_str()).collect();
            let fire: Vec<i64> = c.timers.iter().map(|t| ns(t.fire_at)).collect();
            sqlx::query(
                "INSERT INTO timers (referral, kind, fire_at_ns, record) \
                 SELECT $1, * FROM UNNEST($2::text[], $3::bigint[], $4::bytea[])",
            )
            .bind(e.referral)
            .bind(&kinds)
            .bind(&fire)
            .bind(&e.timers)
            .execute(&mut *tx)
            .await?;
        }
        for (message, record) in c.messages.iter().zip(&e.messages) {
            // The referral's lock is held, so no other transaction adds to
            // or delivers from its lanes meanwhile: the lane is empty or not
            // as this transaction sees it.
            let destination = message.destination.key();
            sqlx::query(
                "INSERT INTO outbox (seq, destination, referral, enqueued_at_ns, due_ns, record) \
                 SELECT nextval('outbox_seq'), $1, $2, $3, \
                   CASE WHEN EXISTS (SELECT 1 FROM outbox WHERE destination = $1 AND referral = $2) \
                   THEN NULL ELSE $3 END, $4",
            )
            .bind(&destination)
            .bind(message.referral.as_str())
            .bind(ns(c.at))
            .bind(record)
            .execute(&mut *tx)
            .await?;
        }
        if let Some(id) = &c.delivered {
            match self
                .delivery_in(&mut tx, id, &DeliveryOutcome::Delivered)
                .await
            {
                Ok(()) | Err(Failure::Store(StoreError::NotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
        // The shared rows last, so that their locks are held for as short a
        // time as the commit allows.
        append_alerts(&mut tx, &e.alerts).await?;
        append_audit(&mut tx, &e.audit).await?;
        tx.commit().await?;
        Ok(Receipt {
            version: e.version as u64,
        })
    }

    /// Records a delivery outcome inside `tx`.
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
        let row =
            sqlx::query("SELECT destination, record FROM outbox WHERE seq = $1 AND referral = $2")
                .bind(seq)
                .bind(referral.as_str())
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(not_found)?;
        let destination: String = row.try_get(0)?;
        let bytes: Vec<u8> = row.try_get(1)?;
        let mut record =
            decode_delivery(&bytes).map_err(|e| corrupt(&format!("message {id}"), e))?;
        match outcome {
            DeliveryOutcome::Delivered => {
                sqlx::query("DELETE FROM outbox WHERE seq = $1")
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                // The lane's next message, if any and not set aside, is its
                // new head.
                let next = sqlx::query(
                    "SELECT seq, record FROM outbox WHERE destination = $1 AND referral = $2 \
                     ORDER BY seq LIMIT 1",
                )
                .bind(&destination)
                .bind(referral.as_str())
                .fetch_optional(&mut *tx)
                .await?;
                if let Some(next) = next {
                    let next_seq: i64 = next.try_get(0)?;
                    let bytes: Vec<u8> = next.try_get(1)?;
                    let next = decode_delivery(&bytes)
                        .map_err(|e| corrupt(&format!("message {next_seq}"), e))?;
                    if !next.is_dead() {
                        let due = next
                            .next_attempt_at()
                            .map_err(|e| corrupt(&format!("message {next_seq}"), e))?;
                        sqlx::query("UPDATE outbox SET due_ns = $2 WHERE seq = $1")
                            .bind(next_seq)
                            .bind(ns(due))
                            .execute(&mut *tx)
                            .await?;
                    }
                }
            }
            DeliveryOutcome::Retry { at, error } => {
                record.retry(*at, error.clone());
                sqlx::query(
                    "UPDATE outbox SET record = $2, due_ns = $3, leased_by = NULL, \
                     lease_until_ns = NULL WHERE seq = $1",
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
        sqlx::query("UPDATE outbox SET record = $2, dead = false, due_ns = $3 WHERE seq = $1")
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
        let mut tx = self.pool.begin().await?;
        append_audit(&mut tx, records).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn find_court_key(
        &self,
        key: &mediation_core::store::CourtKey,
    ) -> Result<Option<ReferralId>, StoreError> {
        crate::reads::find_court_key(&self.pool, key).await
    }
}

impl ReferralStore for PgStore {
    async fn commit(&self, commit: Commit) -> Result<Receipt, StoreError> {
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
