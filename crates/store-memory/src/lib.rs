//! A store held in memory, for two uses:
//!
//! - the deterministic simulation's store: a whole gateway run in one
//!   process under a simulated clock and network, where a run is repeated
//!   from its seed and must come out the same. Nothing here reads a clock,
//!   draws a random number or iterates a hash map: every collection is a
//!   `BTreeMap` or `BTreeSet`, so two runs that make the same calls leave
//!   the same state ([`MemoryStore::state_digest`]);
//! - a third backend of the storage traits beside sled and PostgreSQL,
//!   which runs the same conformance suite (`mediation-store-conformance`):
//!   one with no engine of its own to lean on, so a case the suite does
//!   not state is a case no backend is held to.
//!
//! # Durability
//!
//! The store keeps two copies of its state: what was **written**, which
//! every read sees, and what was **synced**, which is what a power cut
//! keeps. A write applies to the written copy; then, unless the store
//! leaves syncing to its caller, it is synced at once, so that every write
//! the store acknowledges is durable, as the traits promise:
//!
//! - [`MemoryStore::new`] syncs every write: the store the conformance
//!   suite runs against;
//! - [`MemoryStore::unsynced`] leaves writes unsynced until
//!   [`MemoryStore::sync`]: the window between a write and its `fsync`,
//!   stretched as far as a simulation wants it;
//! - [`MemoryStore::crash`] drops whatever was written and not synced, as a
//!   power cut does: histories, messages, court keys, and the numbering of
//!   messages, alerts and audit entries go back to the last sync;
//! - [`MemoryStore::fail_writes`] and [`MemoryStore::fail_next_syncs`] make
//!   writes fail with [`StoreError::Unavailable`], as a full disk or a
//!   failed `fsync` does. Nothing of a failed write is kept in either copy;
//!   a failed sync loses every write it was to make durable, as a store
//!   that recovers from its disk after a failed `fsync` does (see
//!   `mediation-store`'s writer).
//!
//! As the sled store does while a write waits for its sync, the relay and
//! the alert stream are not told of what a crash could undo:
//! [`OutboxStore::due_deliveries_except`] leaves out the messages, and
//! [`AlertLog::alerts_after`] the alerts, that are not synced yet. Every
//! other read answers from what was written.
//!
//! The synced copy is kept apart only while it differs from the written
//! one: a store that syncs every write holds one copy, and one that does
//! not takes its copy at the first unsynced write after a sync.
//!
//! One module per table implements its trait (`referrals`, with the
//! timers that commits write; `outbox`; `alerts`; `audit`) over the plain
//! state and its writes (`state`).
//!
//! [`OutboxStore::due_deliveries_except`]: mediation_core::store::OutboxStore::due_deliveries_except
//! [`AlertLog::alerts_after`]: mediation_core::store::AlertLog::alerts_after

mod alerts;
mod audit;
mod outbox;
mod referrals;
mod state;

use std::sync::{Arc, Mutex, MutexGuard};

use mediation_core::store::StoreError;

use crate::state::State;

/// The store. Clones are handles to the same store, as the other
/// backends' are.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Mutex<Inner>>,
}

/// Both copies of the state, and how the store syncs and fails.
struct Inner {
    /// What was written: what every read sees.
    written: State,
    /// What was synced, when it differs from what was written: what a
    /// crash keeps. `None` while everything written is synced.
    synced: Option<State>,
    /// Whether writes wait for [`MemoryStore::sync`] to be durable.
    manual_sync: bool,
    /// Writes acknowledged since the last sync: what a crash would lose.
    unsynced_writes: u64,
    /// Every write fails while set.
    refuse_writes: bool,
    /// How many of the next syncs fail.
    failing_syncs: u32,
    /// Whether a commit is refused when its referral moved past the
    /// version it was decided against. Only a planted defect turns it off.
    check_versions: bool,
    /// Whether the calls that race in a gateway (reading a referral, its
    /// due timers and messages, committing) give way to other tasks first.
    yielding: bool,
}

impl Inner {
    fn new(manual_sync: bool) -> Self {
        Self {
            written: State::default(),
            synced: None,
            manual_sync,
            unsynced_writes: 0,
            refuse_writes: false,
            failing_syncs: 0,
            check_versions: true,
            yielding: false,
        }
    }

    /// What a crash would keep.
    fn durable(&self) -> &State {
        self.synced.as_ref().unwrap_or(&self.written)
    }

    /// Makes what was written durable. A sync that fails loses what it was
    /// to make durable: the written copy goes back to the synced one.
    fn sync(&mut self) -> Result<(), StoreError> {
        if self.failing_syncs > 0 {
            self.failing_syncs -= 1;
            if let Some(synced) = self.synced.take() {
                self.written = synced;
            }
            self.unsynced_writes = 0;
            return Err(StoreError::Unavailable(
                "the sync failed (simulated); what it was to make durable is lost".into(),
            ));
        }
        self.synced = None;
        self.unsynced_writes = 0;
        Ok(())
    }
}

impl MemoryStore {
    /// An empty store that syncs every write before acknowledging it.
    pub fn new() -> Self {
        Self::with(Inner::new(false))
    }

    /// An empty store whose writes are durable only once [`Self::sync`]
    /// is called: [`Self::crash`] before then drops them.
    pub fn unsynced() -> Self {
        Self::with(Inner::new(true))
    }

    fn with(inner: Inner) -> Self {
        Self {
            inner: Arc::new(Mutex::new(inner)),
        }
    }

    /// Makes every write so far durable. Fails, losing every write not yet
    /// synced, when a failure was asked for ([`Self::fail_next_syncs`]).
    pub fn sync(&self) -> Result<(), StoreError> {
        self.lock().sync()
    }

    /// A power cut: what was written and not synced is gone, and the store
    /// goes on from what was synced. The failures asked for stay asked.
    pub fn crash(&self) {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(synced) = inner.synced.take() {
            inner.written = synced;
        }
        inner.unsynced_writes = 0;
    }

    /// Makes the next `n` syncs fail with [`StoreError::Unavailable`]: in
    /// a store that syncs every write, the next `n` writes that pass their
    /// own checks (a write refused on its merits is not synced) fail and
    /// keep nothing; in one that leaves syncing to its caller, the next `n`
    /// calls of [`Self::sync`] fail and lose every write not yet synced.
    pub fn fail_next_syncs(&self, n: u32) {
        self.lock().failing_syncs = n;
    }

    /// While `failing`, every write fails with [`StoreError::Unavailable`]
    /// before it is applied (a full disk); reads go on.
    pub fn fail_writes(&self, failing: bool) {
        self.lock().refuse_writes = failing;
    }

    /// While set, the calls that race in a gateway (reading a referral,
    /// its due timers or its due messages, committing) first give way to
    /// the runtime's other tasks, as a call to a database server does: two
    /// replicas' tasks on one thread then interleave at those points, the
    /// same way for the same schedule.
    pub fn yield_on_calls(&self, yielding: bool) {
        self.lock().yielding = yielding;
    }

    /// **A planted defect**, for showing that the simulation finds it: a
    /// commit decided against an older version of its referral is applied
    /// anyway, on top of whatever was committed since (a lost
    /// compare-and-set). Never set outside such a test.
    pub fn plant_lost_version_check(&self, planted: bool) {
        self.lock().check_versions = !planted;
    }

    /// Gives way to other tasks when [`Self::yield_on_calls`] asked for it.
    async fn give_way(&self) {
        if self.read(|inner| inner.yielding) {
            tokio::task::yield_now().await;
        }
    }

    /// How many acknowledged writes a crash now would lose.
    pub fn unsynced_writes(&self) -> u64 {
        self.lock().unsynced_writes
    }

    /// The whole state, as text that is the same for the same state: the
    /// written copy, and the synced one when a crash would lose writes.
    pub fn state_dump(&self) -> String {
        use std::fmt::Write as _;
        let inner = self.lock();
        let mut dump = format!("{:#?}", inner.written);
        if inner.unsynced_writes > 0
            && let Some(synced) = &inner.synced
        {
            let _ = write!(
                dump,
                "\n{} unsynced writes; synced: {synced:#?}",
                inner.unsynced_writes
            );
        }
        dump
    }

    /// A short digest of [`Self::state_dump`] (hex SHA-256, the record
    /// format's hash), for comparing two runs.
    pub fn state_digest(&self) -> String {
        mediation_records::chain_hash(0, "", self.state_dump().as_bytes())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic under the lock is a reader's (a caller's `room` or `skip`)
        // or a bug; a write changes nothing until it cannot fail.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Answers a read from the store as it stands. `read` must not call the
    /// store.
    fn read<T>(&self, read: impl FnOnce(&Inner) -> T) -> T {
        read(&self.lock())
    }

    /// Applies a write to the written copy, then syncs it unless the store
    /// leaves that to its caller. `write` must change nothing when it
    /// fails.
    fn write<T>(
        &self,
        write: impl FnOnce(&mut State) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if inner.refuse_writes {
            return Err(StoreError::Unavailable(
                "the store refuses writes (simulated: its disk is full)".into(),
            ));
        }
        // What a crash keeps, taken before the write touches anything when
        // the write may have to be undone: while writes go unsynced, or
        // when the sync after it is to fail.
        if (inner.manual_sync || inner.failing_syncs > 0) && inner.synced.is_none() {
            inner.synced = Some(inner.written.clone());
        }
        let answer = write(&mut inner.written)?;
        if inner.manual_sync {
            inner.unsynced_writes += 1;
        } else {
            inner.sync()?;
        }
        Ok(answer)
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("MemoryStore")
            .field("referrals", &inner.written.referrals.len())
            .field("messages", &inner.written.messages.len())
            .field("alerts", &inner.written.alert_seq)
            .field("audit_entries", &inner.written.audit.len())
            .field("manual_sync", &inner.manual_sync)
            .field("unsynced_writes", &inner.unsynced_writes)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
