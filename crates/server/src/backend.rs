//! The store the configuration chose: the embedded sled store, or
//! PostgreSQL shared by several replicas. Both implement the storage
//! traits; this enum passes each call to the one in use, so the rest of the
//! gateway holds one type whichever it is.

use std::future::Future;

use anyhow::Context as _;
use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, Alert, AlertRecord};
use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Event, Referral};
use mediation_core::store::{
    AlertLog, AuditLog, Backlog, Commit, CourtKey, DeliveryOutcome, MessageId, OutboxStore,
    PendingDelivery, Receipt, ReferralStore, StoreError, TimerStore,
};
use mediation_core::timer::Timer;
use mediation_store::{SledStore, StoreOptions};
use mediation_store_postgres::PgStore;

use crate::config::{Backend, Config};

/// The gateway's store.
#[derive(Debug, Clone)]
pub enum GatewayStore {
    Sled(SledStore),
    Postgres(PgStore),
}

/// Whether this replica leads some work that one replica at a time must
/// do; see [`GatewayStore::keep_lead`].
#[derive(Debug, Default)]
pub struct Lead(Option<mediation_store_postgres::Leader>);

impl Lead {
    /// Whether a lease is held (on PostgreSQL); never on the embedded
    /// store, which needs none.
    pub fn is_held(&self) -> bool {
        self.0.is_some()
    }
}

/// How long health waits for the database to answer.
const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl GatewayStore {
    /// Opens the configured store; for PostgreSQL, connects and applies the
    /// migrations the database lacks.
    pub async fn open(config: &Config) -> anyhow::Result<Self> {
        match config.store.backend {
            Backend::Sled => {
                let dir = config.store_dir();
                let options = StoreOptions {
                    checkpoint_bytes: config.store.checkpoint_bytes(),
                    ..StoreOptions::new(&dir)
                };
                let store = tokio::task::spawn_blocking(move || {
                    SledStore::open(options)
                        .with_context(|| format!("cannot open the store at {}", dir.display()))
                })
                .await
                .context("opening the store")??;
                Ok(Self::Sled(store))
            }
            Backend::Postgres => {
                let options = config.store.postgres.options()?;
                Ok(Self::Postgres(PgStore::open(&options).await?))
            }
        }
    }

    /// The embedded store, when it is the one in use: for what only it has
    /// (its directory, group-commit figures, test hooks).
    pub fn sled(&self) -> Option<&SledStore> {
        match self {
            Self::Sled(s) => Some(s),
            Self::Postgres(_) => None,
        }
    }

    /// The backend's name, as the configuration spells it.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Sled(_) => "sled",
            Self::Postgres(_) => "postgres",
        }
    }

    /// Whether this process leads the work called `name`, taking the lead
    /// when nobody holds it: always, on the embedded store (one process);
    /// on PostgreSQL, while this replica holds the work's lease, which each
    /// call renews. Called before each pass of the work: a replica that
    /// stopped (frozen, cut off) loses the lead once its lease runs out
    /// (`mediation_store_postgres::LEAD_LEASE`), another takes it over, and
    /// the first, on waking, finds it lost and does not work in its name.
    /// Says so in the log when the lead is taken or lost.
    pub async fn keep_lead(&self, name: &str, lead: &mut Lead) -> bool {
        let Self::Postgres(p) = self else {
            return true;
        };
        if let Some(leader) = &mut lead.0 {
            if leader.still_held().await {
                return true;
            }
            tracing::warn!(
                work = name,
                generation = leader.generation(),
                "lost the lead (its lease ran out, or the database did not answer)"
            );
            lead.0 = None;
        }
        match p.try_lead(name).await {
            Ok(Some(leader)) => {
                tracing::info!(
                    work = name,
                    replica = p.replica(),
                    generation = leader.generation(),
                    "took the lead"
                );
                lead.0 = Some(leader);
                true
            }
            Ok(None) => false,
            Err(error) => {
                tracing::warn!(work = name, %error, "cannot take the lead");
                false
            }
        }
    }

    /// Whether this process still leads the work `lead` was kept for,
    /// renewing the lease: for work done in the lead's name one step at a
    /// time (each webhook post), so that a leader that lost the lead while
    /// stopped does not go on with what it had begun. Always, on the
    /// embedded store; never without the lead.
    pub async fn still_leads(&self, lead: &mut Lead) -> bool {
        match self {
            Self::Sled(_) => true,
            Self::Postgres(_) => match &mut lead.0 {
                Some(leader) => leader.still_held().await,
                None => false,
            },
        }
    }

    /// Lets an alert with `subject` be raised again: what it reported has
    /// ended (a year's holiday notice was loaded). On PostgreSQL the
    /// replicas record such an alert once between them, by a claim on its
    /// subject that this gives up; the embedded store has nothing to give up.
    pub async fn release_alert_subject(&self, subject: &str) -> Result<(), StoreError> {
        match self {
            Self::Sled(_) => Ok(()),
            Self::Postgres(p) => p.release_alert_subject(subject).await,
        }
    }

    /// Why the store cannot take writes now, if it cannot: the embedded
    /// store after a failed sync, the database when it does not answer.
    pub async fn failure(&self) -> Option<String> {
        match self {
            Self::Sled(s) => s.failure(),
            Self::Postgres(p) => match tokio::time::timeout(PING_TIMEOUT, p.ping()).await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(_) => Some(format!(
                    "the database did not answer within {PING_TIMEOUT:?}"
                )),
            },
        }
    }
}

macro_rules! either {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            GatewayStore::Sled($s) => $call.await,
            GatewayStore::Postgres($s) => $call.await,
        }
    };
}

impl ReferralStore for GatewayStore {
    async fn commit(&self, commit: Commit) -> Result<Receipt, StoreError> {
        either!(self, s => ReferralStore::commit(s, commit))
    }

    async fn referral(&self, referral: &ReferralId) -> Result<Option<Referral>, StoreError> {
        either!(self, s => ReferralStore::referral(s, referral))
    }

    async fn referral_with_bundle(
        &self,
        referral: &ReferralId,
        bundle: &mediation_core::bundle::CaseBundle,
    ) -> Result<Option<Referral>, StoreError> {
        either!(self, s => ReferralStore::referral_with_bundle(s, referral, bundle))
    }

    async fn history(&self, referral: &ReferralId) -> Result<Option<Vec<Event>>, StoreError> {
        either!(self, s => ReferralStore::history(s, referral))
    }

    async fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> Result<Vec<ReferralId>, StoreError> {
        either!(self, s => ReferralStore::referral_ids(s, after, limit))
    }

    async fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReferralId>, StoreError> {
        either!(self, s => ReferralStore::referrals_active(s, from, to))
    }

    async fn loads(&self) -> Result<Vec<(OrganisationId, u64)>, StoreError> {
        either!(self, s => ReferralStore::loads(s))
    }

    async fn find_by_court_key(&self, key: &CourtKey) -> Result<Option<ReferralId>, StoreError> {
        either!(self, s => ReferralStore::find_by_court_key(s, key))
    }

    async fn purge(&self, purge: mediation_core::store::Purge) -> Result<Receipt, StoreError> {
        either!(self, s => ReferralStore::purge(s, purge))
    }

    async fn files_to_remove(
        &self,
        limit: usize,
    ) -> Result<Vec<(ReferralId, Vec<mediation_core::document::Sha256Digest>)>, StoreError> {
        either!(self, s => ReferralStore::files_to_remove(s, limit))
    }

    async fn files_removed(&self, referral: &ReferralId) -> Result<(), StoreError> {
        either!(self, s => ReferralStore::files_removed(s, referral))
    }
}

impl TimerStore for GatewayStore {
    async fn due_timers(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>, StoreError> {
        either!(self, s => TimerStore::due_timers(s, now, limit))
    }

    async fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        either!(self, s => TimerStore::next_timer_at(s))
    }
}

impl OutboxStore for GatewayStore {
    async fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        either!(self, s => OutboxStore::due_deliveries_except(s, now, limit, room, skip))
    }

    async fn next_delivery_at(&self) -> Result<Option<Timestamp>, StoreError> {
        either!(self, s => OutboxStore::next_delivery_at(s))
    }

    async fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        either!(self, s => OutboxStore::record_delivery(s, id, outcome))
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        either!(self, s => OutboxStore::dead_letters(s, limit))
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        either!(self, s => OutboxStore::replay_dead_letter(s, id, at))
    }

    async fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        either!(self, s => OutboxStore::pending_messages(s, referral))
    }

    async fn backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        either!(self, s => OutboxStore::backlog(s))
    }
}

impl AlertLog for GatewayStore {
    async fn alerts_after(&self, cursor: u64, limit: usize) -> Result<Vec<Alert>, StoreError> {
        either!(self, s => AlertLog::alerts_after(s, cursor, limit))
    }

    async fn raise_alert(&self, record: AlertRecord) -> Result<u64, StoreError> {
        either!(self, s => AlertLog::raise_alert(s, record))
    }

    async fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        either!(self, s => AlertLog::acknowledge_alert(s, seq, acknowledgement))
    }

    async fn acknowledgement(&self, seq: u64) -> Result<Option<Acknowledgement>, StoreError> {
        either!(self, s => AlertLog::acknowledgement(s, seq))
    }

    async fn acknowledged(
        &self,
        seqs: &[u64],
    ) -> Result<std::collections::BTreeSet<u64>, StoreError> {
        either!(self, s => AlertLog::acknowledged(s, seqs))
    }
}

impl AuditLog for GatewayStore {
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        either!(self, s => AuditLog::append_audit(s, records))
    }

    async fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        either!(self, s => AuditLog::audit_entries(s, from, limit))
    }

    async fn hashed_audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(AuditEntry, Vec<u8>)>, StoreError> {
        either!(self, s => AuditLog::hashed_audit_entries(s, from, limit))
    }

    async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        either!(self, s => AuditLog::verify_audit(s))
    }

    async fn purge_audit_details(
        &self,
        cut: mediation_core::store::DetailCut,
    ) -> Result<mediation_core::store::AuditDetailsPurged, StoreError> {
        either!(self, s => AuditLog::purge_audit_details(s, cut))
    }
}

/// Runs `future` on a runtime of its own, on a thread of its own: for the
/// synchronous commands (`check-config`, `store`) that reach the database,
/// whether or not their caller is inside a runtime already.
pub fn block_on<T: Send + 'static>(
    future: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start a runtime")?
            .block_on(future)
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the database task panicked"))?
}
