//! Referrals: their histories, snapshots and idempotency keys, and the
//! commit that writes everything one command decided.

use std::future::Future;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{MessageId, StoreError, TimerStore};
use crate::alert::AlertRecord;
use crate::audit::AuditRecord;
use crate::court::CourtCode;
use crate::document::Sha256Digest;
use crate::ids::{CourtReferralId, OrganisationId, ReferralId};
use crate::lifecycle::{Event, Referral};
use crate::outbox::OutboundMessage;
use crate::timer::Timer;

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

/// Referrals, their histories and idempotency keys. A commit also replaces
/// the referral's timers, so a referral store is a [`TimerStore`] too.
pub trait ReferralStore: TimerStore + Send + Sync {
    /// Writes `commit` atomically; returns once it is durable.
    fn commit(&self, commit: Commit) -> impl Future<Output = Result<Receipt, StoreError>> + Send;

    /// A referral as its last commit left it, read from its snapshot and
    /// bundle without replaying its history.
    fn referral(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send;

    /// The same as [`ReferralStore::referral`], given the referral's bundle
    /// as a message of it carries it (a referral has one bundle, kept once):
    /// a store may then read the snapshot alone, so that an offer's bundle
    /// is decoded once on its way out.
    fn referral_with_bundle(
        &self,
        referral: &ReferralId,
        bundle: &crate::bundle::CaseBundle,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send {
        let _ = bundle;
        self.referral(referral)
    }

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
    /// needs at start, without reading a history. [`super::check_histories`]
    /// checks the counts against the histories.
    fn loads(&self) -> impl Future<Output = Result<Vec<(OrganisationId, u64)>, StoreError>> + Send;

    /// The referral a court key belongs to.
    fn find_by_court_key(
        &self,
        key: &CourtKey,
    ) -> impl Future<Output = Result<Option<ReferralId>, StoreError>> + Send;

    /// Writes a purge atomically, with its commit's version check (so that
    /// of two replicas purging one referral, one succeeds and the other
    /// gets `VersionConflict`); returns once it is durable.
    fn purge(&self, purge: Purge) -> impl Future<Output = Result<Receipt, StoreError>> + Send;

    /// Purged referrals whose case files are still to be removed from
    /// disk, at most `limit`, with the files each listed.
    fn files_to_remove(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(ReferralId, Vec<Sha256Digest>)>, StoreError>> + Send;

    /// The purged referral's files are gone from disk (or kept because
    /// another referral lists them): nothing more to remove for it.
    fn files_removed(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A referral's personal data removed (PIPL Art. 47; [`crate::retention`]):
/// the commit of its [`crate::lifecycle::Change::PersonalDataPurged`] event,
/// and the history before it, redacted, which replaces the stored one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purge {
    /// The purge event, the state after it, the gateway's audit record.
    pub commit: Commit,
    /// The events before the purge, redacted: exactly
    /// `commit.expected_version` of them, starting with the received event
    /// (whose bundle replaces the stored one).
    pub redacted: Vec<Event>,
    /// The case files the referral listed, to be removed from disk once no
    /// other referral lists them.
    pub files: Vec<Sha256Digest>,
}

impl Purge {
    /// Checks what every backend relies on before writing anything: the
    /// commit holds the purge event alone, the redacted history has the
    /// stored one's length and starts with the received event.
    pub fn check(&self) -> Result<&crate::bundle::CaseBundle, StoreError> {
        let bad = |what: &str| {
            Err(StoreError::Corrupt(format!(
                "purge of {}: {what}",
                self.commit.referral
            )))
        };
        if !matches!(
            self.commit.events[..],
            [Event {
                change: crate::lifecycle::Change::PersonalDataPurged { .. },
                ..
            }]
        ) {
            return bad("the commit must hold the purge event alone");
        }
        if self.redacted.len() as u64 != self.commit.expected_version {
            return bad("the redacted history is not the stored one's length");
        }
        match self.redacted.first().map(|e| &e.change) {
            Some(crate::lifecycle::Change::Received { bundle, .. }) => Ok(bundle),
            _ => bad("the redacted history does not start with the received event"),
        }
    }
}
