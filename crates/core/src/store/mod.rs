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
//!
//! One module per table, each with its trait and the rules about it that
//! hold whatever the backend:
//! - [`referrals`]: referrals, their histories and idempotency keys, and
//!   the [`Commit`];
//! - [`timers`]: the deadline timers a commit leaves;
//! - [`outbox`]: the messages waiting for delivery and the dead letters;
//! - [`alerts`]: operator alerts and their acknowledgements;
//! - [`audit`]: the hash-chained audit log and the walk that checks it;
//! - [`documents`]: the case files, kept beside the storage engine;
//! - [`counters`]: the counts a store keeps with its writes (organisations'
//!   loads, destinations' backlogs) and how they are checked.
//!
//! Every item is also here, at `mediation_core::store`. The conformance
//! suite every backend passes is the crate `mediation-store-conformance`.

pub mod alerts;
pub mod audit;
pub mod counters;
pub mod documents;
mod error;
pub mod outbox;
pub mod referrals;
pub mod timers;

pub use alerts::AlertLog;
pub use audit::{
    AuditDetailsPurged, AuditLog, BrokenLink, ChainHash, ChainWalk, DetailCut, DetailPurgeWalk,
    genesis_hash,
};
pub use counters::{
    BacklogMismatch, BacklogTally, HistoryCheck, LoadMismatch, backlog_mismatches, check_histories,
    load_mismatches,
};
pub use documents::{DocumentFiles, DocumentUpload, StoredFile};
pub use error::StoreError;
pub use outbox::{Backlog, DeliveryOutcome, MessageId, OutboxStore, PendingDelivery};
pub use referrals::{Commit, CourtKey, Purge, Receipt, ReferralStore};
pub use timers::TimerStore;

/// Every table a backend implements: what the conformance suite runs
/// against.
pub trait FullStore: ReferralStore + OutboxStore + AlertLog + AuditLog {}

impl<T: ReferralStore + OutboxStore + AlertLog + AuditLog> FullStore for T {}
