//! What the gateway needs from durable storage, as traits the domain defines and
//! a storage crate implements. Nothing here names a storage engine.
//!
//! The central promise is [`ReferralStore::commit`]: a command's events, the
//! messages they call for, the referral's new timers, its alerts and its audit
//! records are written all together or not at all, and the call returns only once
//! they are durable on disk.
//!
//! Every method is asynchronous, reads included, so that a store across a
//! network (a database server shared by several gateways) implements the
//! same traits as the embedded one, which answers its reads at once.

use std::future::Future;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::alert::{Acknowledgement, Alert, AlertRecord};
use crate::audit::{AuditEntry, AuditRecord, AuditVerification};
use crate::court::CourtCode;
use crate::document::{DocumentError, Sha256Digest};
use crate::ids::{CourtReferralId, OrganisationId, ReferralId};
use crate::lifecycle::{Event, Referral};
use crate::outbox::OutboundMessage;
use crate::timer::Timer;

/// Where case files are kept, once each by digest, with who uploaded each
/// one. Implemented beside the storage engine; the API edge reads and writes
/// files only through this.
pub trait DocumentFiles: Send + Sync + std::fmt::Debug {
    /// Whether `tenant` uploaded the file with `digest`, and it is kept.
    fn uploaded_by(&self, digest: &Sha256Digest, tenant: &str) -> bool;

    /// The kept file with `digest`, or `None`.
    fn open(&self, digest: &Sha256Digest) -> Result<Option<StoredFile>, DocumentError>;

    /// Starts receiving a file that must hash to `digest` and be `size` bytes.
    fn begin(
        &self,
        digest: Sha256Digest,
        size: u64,
    ) -> Result<Box<dyn DocumentUpload>, DocumentError>;
}

/// A kept file being read, and its size in bytes.
pub type StoredFile = (Box<dyn std::io::Read + Send>, u64);

/// A file being received. Dropping it unfinished keeps nothing.
pub trait DocumentUpload: Send {
    /// Appends the next bytes; refuses as soon as more arrive than declared.
    fn write(&mut self, bytes: &[u8]) -> Result<(), DocumentError>;

    /// Checks the size and digest, then makes the file and the record that
    /// `uploader` uploaded it durable. Returns whether the file was new.
    fn finish(self: Box<Self>, uploader: &str) -> Result<bool, DocumentError>;
}

/// The idempotency key of a referral: the referring court and its own id,
/// in the namespace of whoever filed it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CourtKey {
    pub court: CourtCode,
    pub court_referral_id: CourtReferralId,
    /// `None` for a court's own referral; the platform for a dispute one of
    /// its organisations took directly (自行受理). Each platform's intakes
    /// live apart from the courts' ids and from every other platform's, so
    /// a platform can neither collide with nor learn of a court's referral.
    #[serde(default)]
    pub filed_by: Option<crate::partner::Partner>,
}

/// Everything one command writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub referral: ReferralId,
    /// The version the command was decided against: 0 for a new referral. The
    /// commit fails if another command changed the referral in between.
    pub expected_version: u64,
    /// When the command was handled; new messages are due for delivery then.
    pub at: Timestamp,
    pub events: Vec<Event>,
    /// For a new referral, the idempotency key it claims.
    pub court_key: Option<CourtKey>,
    pub messages: Vec<OutboundMessage>,
    /// The referral's timers after the command; they replace the previous ones.
    pub timers: Vec<Timer>,
    pub alerts: Vec<AlertRecord>,
    pub audit: Vec<AuditRecord>,
    /// How the command moved organisations' loads
    /// ([`crate::routing::load_changes`]). The store keeps each
    /// organisation's count in the same batch, so start-up reads the counts
    /// rather than every history.
    pub loads: Vec<crate::routing::LoadChange>,
    /// The referral's state after the events: the store keeps it as the
    /// referral's snapshot, so that the next command reads it rather than
    /// replaying the history. Replaying the history gives the same state.
    pub state: crate::lifecycle::ReferralState,
    /// A message whose delivery this commit also records, as the relay's
    /// `Delivered` outcome would: the receipt of an offer records the offer
    /// delivered in the same write. Nothing if it was recorded already.
    pub delivered: Option<MessageId>,
    /// The trace of the call that made the command, kept with each of its
    /// messages; `None` for the gateway's own commands (a timer firing).
    pub trace: Option<crate::outbox::TraceContext>,
}

impl Commit {
    /// The referral's version after the commit, once its state is checked
    /// to be that version's: a commit carrying another state is refused
    /// before anything is written.
    pub fn version_after(&self) -> Result<u64, StoreError> {
        let version = self.expected_version + self.events.len() as u64;
        if self.state.version != version || self.state.id != self.referral {
            return Err(StoreError::Corrupt(format!(
                "the commit of {} at version {} carries the state of {} at version {}",
                self.referral, version, self.state.id, self.state.version
            )));
        }
        Ok(version)
    }

    /// A new referral's bundle, from its receipt, the first event of its
    /// first commit; the store keeps it once. `None` for a later commit, or
    /// a first one that does not start with the receipt (which the store
    /// refuses once the version check has passed).
    pub fn new_bundle(&self) -> Option<&crate::bundle::CaseBundle> {
        match self.events.first().map(|e| &e.change) {
            Some(crate::lifecycle::Change::Received { bundle, .. })
                if self.expected_version == 0 =>
            {
                Some(bundle)
            }
            _ => None,
        }
    }
}

/// What a durable commit returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The referral's version after the commit.
    pub version: u64,
}

/// A message's stable id, carried to the receiver so it can drop duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub String);

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A message waiting in the outbox, with its delivery history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingDelivery {
    pub id: MessageId,
    pub message: OutboundMessage,
    pub enqueued_at: Timestamp,
    pub attempts: u32,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    /// Set when the message was moved to the dead letters.
    pub dead_at: Option<Timestamp>,
    /// The trace of the call whose command made the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::outbox::TraceContext>,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryOutcome {
    /// Received by the destination: the message leaves the outbox and the next
    /// one of its lane becomes due.
    Delivered,
    /// Failed; try again at `at`.
    Retry { at: Timestamp, error: String },
    /// Failed for good: set aside as a dead letter, with an alert. Later messages
    /// of the lane wait until it is replayed.
    Dead {
        at: Timestamp,
        error: String,
        alert: AlertRecord,
    },
}

/// The outbox backlog of one destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backlog {
    pub destination: String,
    pub pending: u64,
    pub dead: u64,
    /// When the destination's first waiting message, in the order the
    /// store took them, was enqueued. Commands handled at nearly the same
    /// moment may reach the store in either order, so this can be a few
    /// milliseconds later than the earliest enqueue time waiting.
    pub oldest_enqueued_at: Option<Timestamp>,
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Another command changed the referral first; reload and decide again.
    #[error("referral {referral} is at version {actual}, not {expected}")]
    VersionConflict {
        referral: ReferralId,
        expected: u64,
        actual: u64,
    },
    /// The court already submitted a referral with this id.
    #[error("the court referral id is already used by referral {existing}")]
    DuplicateCourtReferral { existing: ReferralId },
    /// No such referral, message or dead letter.
    #[error("{0} not found")]
    NotFound(String),
    /// The store cannot take writes: an I/O error, or it stopped after one.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Stored data could not be read back.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// Referrals, their histories, idempotency keys and timers.
pub trait ReferralStore: Send + Sync {
    /// Writes `commit` atomically; returns once it is durable.
    fn commit(&self, commit: Commit) -> impl Future<Output = Result<Receipt, StoreError>> + Send;

    /// A referral as its last commit left it, read from its snapshot and
    /// bundle without replaying its history.
    fn referral(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send;

    /// A referral's events, oldest first.
    fn history(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Vec<Event>>, StoreError>> + Send;

    /// Referral ids in order, after `after` (from the first when `None`), at
    /// most `limit`: to page through every referral, e.g. to rebuild
    /// organisations' loads at start.
    fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send;

    /// Every referral with an event at an instant in `[from, to)`, once
    /// each, in id order; a store may add referrals with events on the same
    /// days just outside, so the caller still judges each event's instant.
    /// Statistics read these histories rather than every one.
    fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send;

    /// Every organisation's count of open referrals
    /// ([`crate::routing::occupies`]), as the commits kept it: what routing
    /// needs at start, without reading a history.
    fn loads(&self) -> impl Future<Output = Result<Vec<(OrganisationId, u64)>, StoreError>> + Send;

    /// The referral a court key belongs to.
    fn find_by_court_key(
        &self,
        key: &CourtKey,
    ) -> impl Future<Output = Result<Option<ReferralId>, StoreError>> + Send;

    /// Timers due at or before `now`, earliest first, at most `limit`.
    fn due_timers(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Timer>, StoreError>> + Send;

    /// When the earliest timer fires.
    fn next_timer_at(&self) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;
}

/// The outbox and its dead letters.
pub trait OutboxStore: Send + Sync {
    /// The first message of every lane whose next attempt is due at or before
    /// `now`, earliest first, at most `limit`. A lane whose first message is a
    /// dead letter yields nothing.
    fn due_deliveries(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        async move {
            self.due_deliveries_except(now, limit, &|_| usize::MAX, &|_, _| false)
                .await
        }
    }

    /// The same, destination by destination: at most `room(destination
    /// key)` heads of each destination, and none read at all of one with no
    /// room; leaving out, without reading them, the messages for which
    /// `skip(destination key, id)` holds. A store may bound the heads it
    /// looks at in a destination, skipped or not, but to well beyond its
    /// room. The relay gives each destination the attempts it has to spare
    /// and skips its attempts in flight: a busy relay passes over the store
    /// after every answer, so a pass must cost what it can start, not what
    /// is waiting.
    fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send;

    /// When the next attempt of any lane is due.
    fn next_delivery_at(
        &self,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send;

    /// Records how an attempt ended; durable before it returns.
    fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Dead letters, oldest first.
    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send;

    /// Puts a dead letter back at the head of its lane, due at `at`, with its
    /// attempts reset.
    fn replay_dead_letter(
        &self,
        id: &MessageId,
        at: Timestamp,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Every message of `referral` still in the outbox (pending or dead), in
    /// the order they were enqueued.
    fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send;

    /// Pending and dead messages per destination.
    fn backlog(&self) -> impl Future<Output = Result<Vec<Backlog>, StoreError>> + Send;
}

/// Operator alerts, numbered in the order they were raised.
pub trait AlertLog: Send + Sync {
    /// Alerts with a number greater than `cursor`, at most `limit`.
    fn alerts_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send;

    /// Raises an alert that no command's commit carries (e.g. a destination
    /// that stopped answering); returns its number once it is durable.
    fn raise_alert(
        &self,
        record: AlertRecord,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Records that an operator acknowledged alert `seq`, durably. Acknowledging
    /// again keeps and returns the first acknowledgement. `NotFound` if there is
    /// no such alert.
    fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> impl Future<Output = Result<Acknowledgement, StoreError>> + Send;

    /// The acknowledgement of alert `seq`, if any.
    fn acknowledgement(
        &self,
        seq: u64,
    ) -> impl Future<Output = Result<Option<Acknowledgement>, StoreError>> + Send;

    /// Which of the alerts `seqs` have been acknowledged: one read for a
    /// page of alerts, where a store across a network would otherwise
    /// answer one call per alert.
    fn acknowledged(
        &self,
        seqs: &[u64],
    ) -> impl Future<Output = Result<std::collections::BTreeSet<u64>, StoreError>> + Send {
        async move {
            let mut acknowledged = std::collections::BTreeSet::new();
            for &seq in seqs {
                if self.acknowledgement(seq).await?.is_some() {
                    acknowledged.insert(seq);
                }
            }
            Ok(acknowledged)
        }
    }
}

/// The hash-chained audit log.
pub trait AuditLog: Send + Sync {
    /// Appends records outside a referral commit (e.g. reads); durable on return.
    fn append_audit(
        &self,
        records: Vec<AuditRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Entries from `from` on, at most `limit`.
    fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// Walks the whole chain and reports the first broken link.
    fn verify_audit(&self) -> impl Future<Output = Result<AuditVerification, StoreError>> + Send;
}

/// An organisation whose kept count of open referrals differs from what
/// its histories say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadMismatch {
    pub organisation: OrganisationId,
    pub kept: u64,
    pub counted: u64,
}

/// What replaying every history found against what the commits kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCheck {
    pub referrals: u64,
    /// Open referrals, as the histories say.
    pub open: u64,
    /// Organisations whose kept count differs from the histories.
    pub load_mismatches: Vec<LoadMismatch>,
    /// Referrals whose snapshot is not the state their history replays to.
    pub snapshot_mismatches: Vec<ReferralId>,
}

/// Replays every referral's history, through the storage traits, and checks
/// what the commits kept against it: each snapshot, and each organisation's
/// count of open referrals. `progress` is told how many referrals were
/// checked, every thousand. For `store verify` on a store without a faster
/// way of its own.
pub async fn check_histories<S: ReferralStore>(
    store: &S,
    mut progress: impl FnMut(u64),
) -> Result<HistoryCheck, StoreError> {
    use std::collections::BTreeMap;
    let mut counted: BTreeMap<OrganisationId, u64> = BTreeMap::new();
    let mut snapshot_mismatches = Vec::new();
    let mut referrals = 0u64;
    let mut after: Option<ReferralId> = None;
    loop {
        let page = store.referral_ids(after.as_ref(), 1_000).await?;
        let Some(last) = page.last().cloned() else {
            break;
        };
        for id in page {
            let history = store
                .history(&id)
                .await?
                .ok_or_else(|| StoreError::Corrupt(format!("{id}: no history")))?;
            let replayed = Referral::replay(&history)
                .map_err(|e| StoreError::Corrupt(format!("history of {id}: {e}")))?;
            if let Some(organisation) = crate::routing::occupies(&replayed) {
                *counted.entry(organisation.clone()).or_default() += 1;
            }
            if store.referral(&id).await?.as_ref() != Some(&replayed) {
                snapshot_mismatches.push(id);
            }
            referrals += 1;
        }
        progress(referrals);
        after = Some(last);
    }
    let kept: BTreeMap<OrganisationId, u64> = store.loads().await?.into_iter().collect();
    Ok(HistoryCheck {
        referrals,
        open: counted.values().sum(),
        load_mismatches: load_mismatches(&kept, &counted),
        snapshot_mismatches,
    })
}

/// The organisations whose kept count of open referrals differs from the
/// count the histories give, in order; an organisation missing from one
/// side counts 0 there.
pub fn load_mismatches(
    kept: &std::collections::BTreeMap<OrganisationId, u64>,
    counted: &std::collections::BTreeMap<OrganisationId, u64>,
) -> Vec<LoadMismatch> {
    let organisations: std::collections::BTreeSet<&OrganisationId> =
        counted.keys().chain(kept.keys()).collect();
    organisations
        .into_iter()
        .filter_map(|o| {
            let (kept, counted) = (
                kept.get(o).copied().unwrap_or(0),
                counted.get(o).copied().unwrap_or(0),
            );
            (kept != counted).then(|| LoadMismatch {
                organisation: o.clone(),
                kept,
                counted,
            })
        })
        .collect()
}
