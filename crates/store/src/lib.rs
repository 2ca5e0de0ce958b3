//! The gateway's durable store, on sled.
//!
//! [`SledStore`] implements the storage traits of `mediation_core::store`. Reads
//! go straight to sled; every write goes to one writer thread ([`writer`]) that
//! applies each operation as an atomic batch and makes each group of operations
//! durable — sled flush plus `fdatasync` ([`durability`]) — before answering any
//! of them. No sled type appears in the public API.
//!
//! The store records a schema version at creation and refuses to open a store
//! with another one, or a sled database that is not a gateway store.

pub mod archive;
pub mod documents;
mod durability;
mod flusher;
mod format;
mod keys;
pub mod migrate;
pub mod migrate_v4;
mod prepare;
mod staged;
mod transfer;
mod v1;

use keys::Table;
mod writer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, Alert, AlertRecord};
use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::Event;
use mediation_core::store::{
    AlertLog, AuditLog, Backlog, BacklogTally, ChainWalk, Commit, CourtKey, DeliveryOutcome,
    MessageId, OutboxStore, PendingDelivery, Receipt, ReferralStore, StoreError, TimerStore,
};
use mediation_core::timer::Timer;
use tokio::sync::oneshot;

use mediation_core::bundle::CaseBundle;
use mediation_core::lifecycle::Referral;
use mediation_records::{
    decode_acknowledgement, decode_alert, decode_bundle, decode_delivery, decode_delivery_state,
    decode_event, decode_plain, decode_snapshot, decode_timer, encode_acknowledgement,
    encode_alert,
};

use crate::durability::Syncer;
use crate::format::{AuditHead, AuditLink, chain_hash, corrupt, split_head};
pub use crate::writer::CommitStats;
use crate::writer::{Counters, Op, Outcome, Request, Writer, unavailable};

/// The schema this build reads and writes: the store's own record format
/// (`mediation-records`). A store of schema 1, whose records were the
/// domain types' serde JSON, is migrated at its first open ([`migrate`]).
/// Schema 3 added the snapshot's record version 3 (the court's wait), a
/// timer, an alert and two events. Schema 4 keeps the records and moves
/// keys: a referral's messages under the referral, its timers listed in its
/// head ([`migrate_v4`]); a store of schema 2 or 3 is migrated at its first
/// open by this build.
pub const SCHEMA_VERSION: u32 = 4;

/// The schemas before this one whose records this build reads as they are,
/// with their keys moved at the first open.
pub const PREVIOUS_SCHEMA_VERSIONS: [u32; 2] = [2, 3];

/// The schema of stores written before the store's own format; migrated at
/// open.
pub const FIRST_SCHEMA_VERSION: u32 = 1;

/// How many schedule entries of a destination a relay pass may read for
/// each delivery it can start there, passing over those it must skip...
const SCAN_BUDGET_PER_DUE: usize = 16;

/// ...and how many more: at least the destination's attempts in flight.
const SCAN_BUDGET_FLOOR: usize = 1_024;

/// How much is written before a checkpoint, by default: sled replays its
/// log at about 1 GB a second, so a restart replays a quarter of a second
/// of it at most, while a checkpoint every 256 MiB costs little
/// (`docs/benchmarks.md`).
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 256 * 1024 * 1024;

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The data directory; created if missing.
    pub path: PathBuf,
    /// The most operations made durable by one flush.
    pub max_group: usize,
    /// sled's page cache, in bytes. sled's resident memory runs at about
    /// four times this under a draining outbox (its pages are copied on
    /// every write), so 128 MiB keeps the gateway near 512 MiB; a larger
    /// cache did not make the drain or the sweep faster
    /// (`docs/benchmarks.md`).
    pub cache_bytes: u64,
    /// How long to wait for the directory lock when it is held. sled's
    /// background threads can keep it for a moment after the last handle in
    /// this process is dropped (sled #1234); a gateway still running on the
    /// directory keeps it for good, and is reported as [`OpenError::Locked`].
    pub lock_wait: std::time::Duration,
    /// Bytes kept in a reserve file beside the database and given up when
    /// the disk fills: sled needs room even to read (it may rewrite pages)
    /// and to reopen, so the space freed keeps reads going while writes are
    /// refused. Writes resume only once the reserve can be made again.
    pub reserve_bytes: u64,
    /// Bytes of keys and values written after which the writer reopens the
    /// store at its next quiet moment (a checkpoint), so that a restart
    /// replays no more than about this much of sled's log
    /// (`docs/store.md`, "Restart").
    pub checkpoint_bytes: u64,
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_group: 1024,
            cache_bytes: 128 * 1024 * 1024,
            lock_wait: std::time::Duration::from_secs(2),
            reserve_bytes: 16 * 1024 * 1024,
            checkpoint_bytes: DEFAULT_CHECKPOINT_BYTES,
        }
    }
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot open the store at {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error(
        "the store at {path} has schema version {found}, but this build reads only version {supported}; \
         export it with the build that wrote it and import it here"
    )]
    UnsupportedSchema {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error(
        "the store at {path} is in use: its lock was still held after {waited:?} \
         (is a gateway running on it?)"
    )]
    Locked {
        path: PathBuf,
        waited: std::time::Duration,
    },
    #[error("{path} holds a sled database that is not a mediation-gateway store")]
    NotAGatewayStore { path: PathBuf },
    #[error(
        "{path} is not a store: it holds no sled database (no `db` and `conf` files); \
         give the store directory itself, e.g. data/store"
    )]
    NotAStore { path: PathBuf },
    #[error("the store at {path} is corrupt: {message}")]
    Corrupt { path: PathBuf, message: String },
}

/// The sled-backed store. Cheap to clone; all clones share one database and
/// one writer.
#[derive(Debug, Clone)]
pub struct SledStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    shared: Arc<Shared>,
    path: PathBuf,
    /// `None` only while dropping.
    requests: Option<Sender<Request>>,
    writer: Option<std::thread::JoinHandle<()>>,
    stats: Arc<CommitStats>,
    /// The writer's gate, held by the writer for each group; only the test
    /// hook [`SledStore::with_writer_held`] takes it from outside.
    #[cfg_attr(
        not(any(test, feature = "test-hooks")),
        expect(dead_code, reason = "read only by a test hook")
    )]
    gate: Arc<std::sync::Mutex<()>>,
    queued: std::sync::atomic::AtomicU64,
    failure: Arc<std::sync::Mutex<Option<String>>>,
}

/// What the writer and the readers share: the database handle, which the
/// writer replaces when it recovers from a failed sync, and how far the
/// outbox and the alert log are durable.
#[derive(Debug)]
pub(crate) struct Shared {
    /// `None` only for the moment the writer reopens the database.
    /// Readers hold it only for a read or a scan: the writer reopens the
    /// database only once nobody else holds it.
    pub(crate) db: std::sync::RwLock<Option<Arc<sled::Db>>>,
    /// The highest outbox sequence number whose commit is durable. The relay
    /// is shown no message above it: nothing leaves the gateway before the
    /// commit that made it survives a power cut.
    pub(crate) durable_outbox: std::sync::atomic::AtomicU64,
    /// Likewise for alerts, which leave by webhook and by the alert stream.
    pub(crate) durable_alert: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub(crate) fn db(&self) -> Result<Arc<sled::Db>, StoreError> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| StoreError::Unavailable("the store is being reopened".into()))
    }

    pub(crate) fn publish_durable(&self, counters: &Counters) {
        use std::sync::atomic::Ordering::Release;
        self.durable_outbox.store(counters.outbox_seq, Release);
        self.durable_alert.store(counters.alert_seq, Release);
    }
}

impl Drop for Inner {
    /// Closes the request channel and waits for the writer to finish what was
    /// queued, so that dropping the last handle releases the database.
    fn drop(&mut self) {
        self.requests.take();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Request")
    }
}

enum Opening {
    Locked,
    Failed(sled::Error),
}

/// Opens a sled database, retrying for up to `wait` while its directory lock
/// is held elsewhere.
fn open_waiting_for_lock(
    open: impl FnMut() -> sled::Result<sled::Db>,
    wait: std::time::Duration,
) -> Result<sled::Db, Opening> {
    use backon::{BlockingRetryable, ConstantBuilder};
    const STEP: std::time::Duration = std::time::Duration::from_millis(25);
    let attempts = usize::try_from(wait.as_millis() / STEP.as_millis()).unwrap_or(usize::MAX);
    open.retry(
        ConstantBuilder::default()
            .with_delay(STEP)
            .with_max_times(attempts),
    )
    .when(lock_is_held)
    .call()
    .map_err(|e| {
        if lock_is_held(&e) {
            Opening::Locked
        } else {
            Opening::Failed(e)
        }
    })
}

/// sled reports a held lock only as an I/O error of kind `Other` with this
/// message (sled 0.34 `config.rs`), so the message is what can be matched.
fn lock_is_held(error: &sled::Error) -> bool {
    matches!(error, sled::Error::Io(e)
        if e.kind() == std::io::ErrorKind::Other
            && e.to_string().starts_with("could not acquire lock"))
}

/// Creates `dir` and any missing parents, and makes their entries durable:
/// a store created in a fresh data directory must not vanish with the
/// directory entry that named it when the power goes.
pub fn create_durable_dir(dir: &Path) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.exists() {
            break;
        }
        missing.push(d.to_owned());
        at = d.parent();
    }
    std::fs::create_dir_all(dir)?;
    // Each new directory, then the one that holds it.
    for d in &missing {
        std::fs::File::open(d)?.sync_all()?;
        if let Some(parent) = d.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::File::open(parent)?.sync_all()?;
        }
    }
    Ok(())
}

/// The reserve file's path (see [`StoreOptions::reserve_bytes`]).
pub(crate) fn reserve_path(options: &StoreOptions) -> PathBuf {
    options.path.join("reserve")
}

/// Makes the reserve file whole and durable. Fails, leaving no partial file,
/// when the disk lacks the room.
pub(crate) fn make_reserve(options: &StoreOptions) -> std::io::Result<()> {
    use std::io::Write as _;
    let path = reserve_path(options);
    if options.reserve_bytes == 0 {
        return Ok(());
    }
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= options.reserve_bytes) {
        return Ok(());
    }
    let written = (|| {
        let mut file = std::fs::File::create(&path)?;
        let chunk = vec![0u8; 1 << 20];
        let mut left = options.reserve_bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            file.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        file.sync_all()?;
        std::fs::File::open(&options.path)?.sync_all()
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    written
}

/// How every handle on the store's database is opened.
/// The segment size of a new store: sled's largest. sled writes a page
/// larger than a quarter of a segment to a blob file of its own, and blob
/// files are not crash-safe: a read can consolidate a page into a new blob
/// while the writer syncs, so the log can become durable naming a blob whose
/// contents are not (found by the power-cut test, `docs/store.md`). With
/// 16 MiB segments a page stays in the log up to 4 MiB; only a bundle near
/// the 4 MiB message limit can still reach that.
pub const NEW_STORE_SEGMENT_BYTES: usize = 16 * 1024 * 1024;

/// The segment size an existing store was made with (sled refuses another),
/// read from its `conf`; `None` for a new store.
fn existing_segment_size(path: &std::path::Path) -> Option<usize> {
    let text = std::fs::read(path.join("conf")).ok()?;
    String::from_utf8_lossy(&text)
        .lines()
        .find_map(|line| line.strip_prefix("segment_size: "))
        .and_then(|n| n.trim().parse().ok())
}

pub(crate) fn sled_config(options: &StoreOptions) -> sled::Config {
    // No periodic flusher of sled's own: the writer flushes every group
    // itself, and a background flush racing the writer's sync could remove a
    // blob file the synced log still names.
    sled::Config::new()
        .path(&options.path)
        .cache_capacity(options.cache_bytes)
        .segment_size(existing_segment_size(&options.path).unwrap_or(NEW_STORE_SEGMENT_BYTES))
        .flush_every_ms(None)
}

/// Opens the database at `options.path`, checks it is a gateway store of this
/// schema (creating one in an empty directory), reads the writer's counters,
/// and syncs it once: at start, and again when the writer recovers from a
/// failed sync.
pub(crate) fn open_db(options: &StoreOptions) -> Result<(sled::Db, Counters, Syncer), OpenError> {
    let path = options.path.clone();
    let io = |e: &dyn std::fmt::Display| OpenError::Io {
        path: path.clone(),
        message: e.to_string(),
    };
    let db =
        open_waiting_for_lock(|| sled_config(options).open(), options.lock_wait).map_err(|e| {
            match e {
                Opening::Locked => OpenError::Locked {
                    path: path.clone(),
                    waited: options.lock_wait,
                },
                Opening::Failed(e) => io(&e),
            }
        })?;
    let corrupt_err = |e: StoreError| OpenError::Corrupt {
        path: path.clone(),
        message: e.to_string(),
    };
    match db.get(keys::SCHEMA).map_err(|e| io(&e))? {
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| corrupt_err(StoreError::Corrupt("schema version".into())))?;
            if found == FIRST_SCHEMA_VERSION {
                migrate::from_first_format(&db, &path).map_err(|e| match e {
                    StoreError::Corrupt(_) => corrupt_err(e),
                    other => io(&other),
                })?;
            }
            if found == FIRST_SCHEMA_VERSION || PREVIOUS_SCHEMA_VERSIONS.contains(&found) {
                // Records of schemas 2 and 3 read as they are; their keys move.
                migrate_v4::to_schema_4(&db, &path, found).map_err(|e| match e {
                    StoreError::Corrupt(_) => corrupt_err(e),
                    other => io(&other),
                })?;
            } else if found != SCHEMA_VERSION {
                return Err(OpenError::UnsupportedSchema {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
        }
        None if !db.is_empty() => return Err(OpenError::NotAGatewayStore { path }),
        None => {
            db.insert(keys::SCHEMA, &SCHEMA_VERSION.to_be_bytes())
                .map_err(|e| io(&e))?;
            db.insert(keys::ACTIVITY_INDEXED, &[][..])
                .map_err(|e| io(&e))?;
            db.insert(keys::LOADS_KEPT, &[][..]).map_err(|e| io(&e))?;
            db.insert(keys::BACKLOG_KEPT, &[][..]).map_err(|e| io(&e))?;
            db.flush().map_err(|e| io(&e))?;
        }
    }
    if db
        .get(keys::ACTIVITY_INDEXED)
        .map_err(|e| io(&e))?
        .is_none()
    {
        index_activity(&db, &path).map_err(|e| match e {
            StoreError::Corrupt(_) => corrupt_err(e),
            other => io(&other),
        })?;
    }
    if db.get(keys::LOADS_KEPT).map_err(|e| io(&e))?.is_none() {
        count_loads(&db, &path).map_err(|e| match e {
            StoreError::Corrupt(_) => corrupt_err(e),
            other => io(&other),
        })?;
    }
    if db.get(keys::BACKLOG_KEPT).map_err(|e| io(&e))?.is_none() {
        keep_backlog(&db, &path).map_err(|e| match e {
            StoreError::Corrupt(_) => corrupt_err(e),
            other => io(&other),
        })?;
    }
    let read_u64 = |key: &[u8]| -> Result<u64, OpenError> {
        Ok(db
            .get(key)
            .map_err(|e| io(&e))?
            .and_then(|b| <[u8; 8]>::try_from(b.as_ref()).ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0))
    };
    let audit = match db.get(keys::AUDIT_HEAD).map_err(|e| io(&e))? {
        Some(bytes) => {
            decode_plain(&bytes).map_err(|e| corrupt_err(corrupt(keys::AUDIT_HEAD, e)))?
        }
        None => AuditHead::genesis(),
    };
    let counters = Counters {
        outbox_seq: read_u64(keys::OUTBOX_SEQ)?,
        alert_seq: read_u64(keys::ALERT_SEQ)?,
        audit,
    };
    let mut syncer = Syncer::new(&path).map_err(|e| io(&e))?;
    syncer.sync().map_err(|e| io(&e))?;
    Ok((db, counters, syncer))
}

/// Builds the activity index of a store written before it existed: one pass
/// over every event, reading only its instant, with a line of progress every
/// million events. Safe to interrupt: the marker is written last, so an
/// interrupted pass starts again at the next open.
fn index_activity(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "indexing referrals by the days of their events (once, for a store written before the index)");
    let started = std::time::Instant::now();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0_usize;
    let mut events = 0_u64;
    for entry in db.scan_prefix(Table::Events.prefix()) {
        let (key, value) = entry.map_err(unavailable)?;
        let referral = std::str::from_utf8(&key[2..])
            .ok()
            .and_then(|rest| rest.rsplit_once('/'))
            .and_then(|(id, _)| ReferralId::parse(id).ok())
            .ok_or_else(|| StoreError::Corrupt("event key".into()))?;
        let at = decode_event(&value).map_err(|e| corrupt(&key, e))?.at();
        batch.insert(keys::activity(keys::day_of(at), &referral), &[][..]);
        in_batch += 1;
        events += 1;
        if in_batch == 10_000 {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
            in_batch = 0;
        }
        if events.is_multiple_of(1_000_000) {
            tracing::info!(events, elapsed = ?started.elapsed(), "indexing referrals' activity");
        }
    }
    batch.insert(keys::ACTIVITY_INDEXED, &[][..]);
    db.apply_batch(batch).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(events, elapsed = ?started.elapsed(), "referrals' activity indexed");
    Ok(())
}

/// Replays every referral's history, in id order, handing each to `each`,
/// with a line of progress every 100,000 referrals. Returns how many.
fn replay_all(
    db: &sled::Db,
    mut each: impl FnMut(ReferralId, Referral) -> Result<(), StoreError>,
) -> Result<u64, StoreError> {
    let started = std::time::Instant::now();
    let mut referrals = 0_u64;
    for entry in db.range(Table::Heads.bounds()) {
        let (key, _) = entry.map_err(unavailable)?;
        let id = keys::referral_of_head(&key)
            .ok_or_else(|| StoreError::Corrupt("referral head key".into()))?;
        let events = read_history(db, &id)?.unwrap_or_default();
        let referral = Referral::replay(&events)
            .map_err(|e| StoreError::Corrupt(format!("history of {id}: {e}")))?;
        each(id, referral)?;
        referrals += 1;
        if referrals.is_multiple_of(100_000) {
            tracing::info!(referrals, elapsed = ?started.elapsed(), "replaying referrals' histories");
        }
    }
    Ok(referrals)
}

/// Each organisation's open referrals as the histories say.
fn count_open(db: &sled::Db) -> Result<BTreeMap<OrganisationId, u64>, StoreError> {
    let mut loads: BTreeMap<OrganisationId, u64> = BTreeMap::new();
    replay_all(db, |_, referral| {
        if let Some(organisation) = mediation_core::routing::occupies(&referral) {
            *loads.entry(organisation.clone()).or_default() += 1;
        }
        Ok(())
    })?;
    Ok(loads)
}

/// Counts each organisation's open referrals in a store written before the
/// counts were kept: one replay of every history, once. The marker is
/// written with the counts, so an interrupted count is simply done again.
fn count_loads(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "counting organisations' open referrals (once, for a store written before the counts were kept)");
    let started = std::time::Instant::now();
    let loads = count_open(db)?;
    let mut batch = sled::Batch::default();
    for (organisation, open) in &loads {
        batch.insert(keys::load(organisation), &open.to_be_bytes());
    }
    batch.insert(keys::LOADS_KEPT, &[][..]);
    db.apply_batch(batch).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(organisations = loads.len(), open = loads.values().sum::<u64>(), elapsed = ?started.elapsed(), "organisations' open referrals counted");
    Ok(())
}

/// Counts one waiting message, from its key and stored record, into
/// `count`; returns its number, which is its place in its destination's
/// order of arrival (`w/`).
fn count_message(count: &mut BacklogTally, key: &[u8], value: &[u8]) -> Result<u64, StoreError> {
    // Where the message stands, without the message.
    let state = decode_delivery_state(value).map_err(|e| corrupt(key, e))?;
    let not_a_message = || {
        StoreError::Corrupt(format!(
            "{}: not a message key",
            String::from_utf8_lossy(key)
        ))
    };
    let (destination, _) = keys::message_id_of(key).ok_or_else(not_a_message)?;
    let n = keys::trailing_seq(key).ok_or_else(not_a_message)?;
    count.add(destination, n, state.dead, state.enqueued_at);
    Ok(n)
}

/// Every destination's waiting messages, counted from the messages
/// themselves.
fn count_backlog(db: &sled::Db) -> Result<BTreeMap<String, Backlog>, StoreError> {
    let mut count = BacklogTally::default();
    for entry in db.scan_prefix(Table::Outbox.prefix()) {
        let (key, value) = entry.map_err(unavailable)?;
        count_message(&mut count, &key, &value)?;
    }
    Ok(count.into_backlogs())
}

/// Once, for a store written before the backlog was kept: puts every
/// waiting message in its destination's order of arrival and counts them,
/// in one pass. The counts and the marker go last, in one batch, so an
/// interrupted run is simply run again.
fn keep_backlog(db: &sled::Db, path: &Path) -> Result<(), StoreError> {
    tracing::info!(path = %path.display(), "counting the outbox's waiting messages (once, for a store written before the counts were kept)");
    let started = std::time::Instant::now();
    let mut batch = sled::Batch::default();
    let mut in_batch = 0;
    let mut messages = 0u64;
    let mut count = BacklogTally::default();
    for entry in db.scan_prefix(Table::Outbox.prefix()) {
        let (key, value) = entry.map_err(unavailable)?;
        let n = count_message(&mut count, &key, &value)?;
        batch.insert(keys::waiting(&key, n), key.to_vec());
        in_batch += 1;
        messages += 1;
        if in_batch == 10_000 {
            db.apply_batch(std::mem::take(&mut batch))
                .map_err(unavailable)?;
            in_batch = 0;
        }
        if messages.is_multiple_of(1_000_000) {
            tracing::info!(messages, "counting the outbox");
        }
    }
    let counts = count.into_backlogs();
    for backlog in counts.values() {
        batch.insert(
            keys::backlog(backlog.destination.as_bytes()),
            &writer::encode_backlog([backlog.pending, backlog.dead])[..],
        );
    }
    batch.insert(keys::BACKLOG_KEPT, &[][..]);
    db.apply_batch(batch).map_err(unavailable)?;
    db.flush().map_err(unavailable)?;
    tracing::info!(messages, destinations = counts.len(), elapsed = ?started.elapsed(), "the outbox's waiting messages counted");
    Ok(())
}

pub use mediation_core::store::{BacklogMismatch, HistoryCheck, LoadMismatch};

impl SledStore {
    /// Opens the store at `options.path`, which must already be one: for
    /// tools that read a store (verify, export) and must never create an
    /// empty one where the operator pointed by mistake.
    pub fn open_existing(options: StoreOptions) -> Result<Self, OpenError> {
        let path = &options.path;
        if !(path.join("db").is_file() && path.join("conf").is_file()) {
            return Err(OpenError::NotAStore { path: path.clone() });
        }
        Self::open(options)
    }

    /// Opens or creates the store at `options.path`.
    pub fn open(options: StoreOptions) -> Result<Self, OpenError> {
        let path = options.path.clone();
        let io = |e: &dyn std::fmt::Display| OpenError::Io {
            path: path.clone(),
            message: e.to_string(),
        };
        create_durable_dir(&path).map_err(|e| io(&e))?;
        if let Err(e) = make_reserve(&options) {
            tracing::warn!(error = %e, path = %path.display(), "no room for the store's reserve file; a full disk will also stop reads");
        }
        let (db, counters, syncer) = open_db(&options)?;
        let db = Arc::new(db);
        let shared = Arc::new(Shared {
            db: std::sync::RwLock::new(Some(Arc::clone(&db))),
            durable_outbox: std::sync::atomic::AtomicU64::new(0),
            durable_alert: std::sync::atomic::AtomicU64::new(0),
        });
        shared.publish_durable(&counters);
        let stats = Arc::new(CommitStats::default());
        let gate = Arc::new(std::sync::Mutex::new(()));
        let failure = Arc::new(std::sync::Mutex::new(None));
        let flushing = Arc::new(flusher::Flushing {
            outstanding: std::sync::atomic::AtomicUsize::new(0),
            sync_failed: std::sync::atomic::AtomicBool::new(false),
        });
        let (jobs, job_receiver) = std::sync::mpsc::channel();
        let flusher = flusher::Flusher {
            syncer,
            shared: Arc::clone(&shared),
            failure: Arc::clone(&failure),
            stats: Arc::clone(&stats),
            flushing: Arc::clone(&flushing),
        };
        let flusher = std::thread::Builder::new()
            .name("store-flusher".into())
            .spawn(move || flusher.run(job_receiver))
            .map_err(|e| io(&e))?;
        let writer = Writer {
            gate: Arc::clone(&gate),
            db: Some(db),
            shared: Arc::clone(&shared),
            counters,
            jobs: Some(jobs),
            flusher: Some(flusher),
            flushing,
            written_since_open: 0,
            failure: Arc::clone(&failure),
            stats: Arc::clone(&stats),
            max_group: options.max_group.max(1),
            options,
            recovery: None,
        };
        let (requests, receiver) = std::sync::mpsc::channel();
        let writer = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || writer.run(receiver))
            .map_err(|e| io(&e))?;
        Ok(Self {
            inner: Arc::new(Inner {
                shared,
                path,
                requests: Some(requests),
                writer: Some(writer),
                stats,
                gate,
                queued: std::sync::atomic::AtomicU64::new(0),
                failure,
            }),
        })
    }

    /// Replays every history and checks what the commits kept against
    /// it: each referral's snapshot, and each organisation's count of open
    /// referrals. For `store verify`.
    pub fn verify_histories(&self) -> Result<HistoryCheck, StoreError> {
        let db = self.db()?;
        let mut counted: BTreeMap<OrganisationId, u64> = BTreeMap::new();
        let mut snapshot_mismatches = Vec::new();
        let referrals = replay_all(&db, |id, replayed| {
            if let Some(organisation) = mediation_core::routing::occupies(&replayed) {
                *counted.entry(organisation.clone()).or_default() += 1;
            }
            if read_referral(&db, &id)?.as_ref() != Some(&replayed) {
                snapshot_mismatches.push(id);
            }
            Ok(())
        })?;
        let kept: BTreeMap<OrganisationId, u64> = self.loads()?.into_iter().collect();
        let load_mismatches = mediation_core::store::load_mismatches(&kept, &counted);
        Ok(HistoryCheck {
            referrals,
            open: counted.values().sum(),
            load_mismatches,
            snapshot_mismatches,
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Why the store is not taking writes, if it is not: after a failed
    /// sync nothing is acknowledged until the writer has reopened the store
    /// from disk (see [`writer`]).
    pub fn failure(&self) -> Option<String> {
        self.inner
            .failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Group-commit counters since open.
    pub fn commit_stats(&self) -> &CommitStats {
        &self.inner.stats
    }

    fn db(&self) -> Result<Arc<sled::Db>, StoreError> {
        self.inner.shared.db()
    }

    /// Bytes sled uses on disk.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        self.db()?.size_on_disk().map_err(unavailable)
    }

    async fn submit(&self, op: Op) -> Result<Receipt, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .queued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner
            .requests
            .as_ref()
            .ok_or_else(|| StoreError::Unavailable("the store is closing".into()))?
            .send(Request { op, reply })
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?
    }

    /// Follows index entries (whose values are keys) to the messages they
    /// name.
    fn follow(
        &self,
        index: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        limit: usize,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let db = self.db()?;
        let mut found = Vec::new();
        for entry in index.take(limit) {
            let (_, target) = entry.map_err(unavailable)?;
            if let Some(bytes) = db.get(&target).map_err(unavailable)? {
                found.push(read_delivery(&db, &target, &bytes)?);
            }
        }
        Ok(found)
    }

    fn first_instant(&self, table: Table) -> Result<Option<Timestamp>, StoreError> {
        match self.db()?.scan_prefix(table.prefix()).next() {
            Some(entry) => {
                let (key, _) = entry.map_err(unavailable)?;
                Ok(keys::instant_in(&key))
            }
            None => Ok(None),
        }
    }
}

/// The destinations with a lane head in the schedule, in key order, each
/// with when its earliest head is due (its first key's): one seek per
/// destination, whatever waits for each.
fn scheduled_destinations(db: &sled::Db) -> Result<Vec<(Vec<u8>, Timestamp)>, StoreError> {
    let corrupt = || StoreError::Corrupt("schedule key".into());
    let mut found = Vec::new();
    let mut from = Table::Schedule.prefix().to_vec();
    let end = Table::Schedule.bounds().end;
    while let Some(entry) = db.range(from..end.clone()).next() {
        let (key, _) = entry.map_err(unavailable)?;
        let destination = keys::destination_of_schedule(&key)
            .ok_or_else(corrupt)?
            .to_vec();
        let earliest = keys::instant_in(&key).ok_or_else(corrupt)?;
        from = keys::after_destination(&destination);
        found.push((destination, earliest));
    }
    Ok(found)
}

/// A referral's bundle.
fn read_bundle(db: &sled::Db, referral: &ReferralId) -> Result<Option<CaseBundle>, StoreError> {
    let key = keys::bundle(referral);
    match db.get(&key).map_err(unavailable)? {
        Some(bytes) => decode_bundle(&bytes)
            .map(Some)
            .map_err(|e| corrupt(&key, e)),
        None => Ok(None),
    }
}

/// A referral's events, with its bundle in the first.
fn read_history(db: &sled::Db, referral: &ReferralId) -> Result<Option<Vec<Event>>, StoreError> {
    let mut bundle: Option<CaseBundle> = None;
    let mut events = Vec::new();
    for entry in db.scan_prefix(keys::events_prefix(referral)) {
        let (key, value) = entry.map_err(unavailable)?;
        let record = decode_event(&value).map_err(|e| corrupt(&key, e))?;
        if record.needs_bundle() && bundle.is_none() {
            bundle = read_bundle(db, referral)?;
        }
        events.push(record.load(bundle.as_ref()).map_err(|e| corrupt(&key, e))?);
    }
    Ok((!events.is_empty()).then_some(events))
}

/// A referral from its snapshot and bundle.
fn read_referral(db: &sled::Db, referral: &ReferralId) -> Result<Option<Referral>, StoreError> {
    read_referral_with(db, referral, None)
}

/// A referral from its snapshot, and its bundle: `known`, or read.
fn read_referral_with(
    db: &sled::Db,
    referral: &ReferralId,
    known: Option<&CaseBundle>,
) -> Result<Option<Referral>, StoreError> {
    let key = keys::head(referral);
    let Some(head) = db.get(&key).map_err(unavailable)? else {
        return Ok(None);
    };
    let (_, snapshot) = split_head(&key, &head)?;
    let state = decode_snapshot(snapshot).map_err(|e| corrupt(&key, e))?;
    let bundle = match known {
        Some(bundle) => bundle.clone(),
        None => read_bundle(db, referral)?
            .ok_or_else(|| StoreError::Corrupt(format!("{referral}: its bundle is missing")))?,
    };
    Ok(Some(Referral::restore(bundle, state)))
}

/// A message from its key and stored record, with the referral's bundle
/// when it carries it.
fn read_delivery(db: &sled::Db, key: &[u8], bytes: &[u8]) -> Result<PendingDelivery, StoreError> {
    let record = decode_delivery(bytes).map_err(|e| corrupt(key, e))?;
    let (_, id) =
        keys::message_id_of(key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
    let bundle = if record.needs_bundle() {
        let referral = keys::referral_of_message(key)
            .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
        Some(read_bundle(db, &referral)?.ok_or_else(|| {
            StoreError::Corrupt(format!("{referral}: the bundle a message names is missing"))
        })?)
    } else {
        None
    };
    let trace = match keys::message_of_id(&id) {
        Some((referral, n)) => db
            .get(keys::trace(&referral, n))
            .map_err(unavailable)?
            .and_then(|bytes| {
                // A trace context that does not read is dropped: it only
                // links spans, and the message must still go.
                std::str::from_utf8(&bytes)
                    .ok()
                    .and_then(|t| mediation_core::outbox::TraceContext::parse(t).ok())
            }),
        None => None,
    };
    let mut pending = record
        .load(id, bundle.as_ref())
        .map_err(|e| corrupt(key, e))?;
    pending.trace = trace;
    Ok(pending)
}

/// The sled store's reads, answered at once on the caller's thread: its
/// trait implementations wrap them in ready futures, and the gateway's own
/// tools, which hold a `SledStore`, call them directly.
impl SledStore {
    pub fn referral(&self, referral: &ReferralId) -> Result<Option<Referral>, StoreError> {
        read_referral(&*self.db()?, referral)
    }
    pub fn history(&self, referral: &ReferralId) -> Result<Option<Vec<Event>>, StoreError> {
        read_history(&*self.db()?, referral)
    }
    pub fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> Result<Vec<ReferralId>, StoreError> {
        let start = match after {
            // The byte after the id's last one: strictly after it.
            Some(id) => {
                let mut key = keys::head(id);
                key.push(0);
                key
            }
            None => Table::Heads.prefix().to_vec(),
        };
        self.db()?
            .range(start..Table::Heads.bounds().end)
            .take(limit)
            .map(|entry| {
                let (key, _) = entry.map_err(unavailable)?;
                keys::referral_of_head(&key)
                    .ok_or_else(|| StoreError::Corrupt("referral head key".into()))
            })
            .collect()
    }
    pub fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<ReferralId>, StoreError> {
        if to <= from {
            return Ok(Vec::new());
        }
        let last = to
            .checked_sub(jiff::SignedDuration::from_nanos(1))
            .unwrap_or(to);
        let mut found = std::collections::BTreeSet::new();
        for entry in self
            .db()?
            .range(keys::activity_days(keys::day_of(from), keys::day_of(last)))
        {
            let (key, _) = entry.map_err(unavailable)?;
            found.insert(
                keys::referral_of_activity(&key)
                    .ok_or_else(|| StoreError::Corrupt("activity key".into()))?,
            );
        }
        Ok(found.into_iter().collect())
    }
    pub fn loads(&self) -> Result<Vec<(OrganisationId, u64)>, StoreError> {
        let mut loads = Vec::new();
        for entry in self.db()?.scan_prefix(Table::Loads.prefix()) {
            let (key, value) = entry.map_err(unavailable)?;
            let organisation = keys::organisation_of_load(&key)
                .ok_or_else(|| StoreError::Corrupt("load key".into()))?;
            loads.push((organisation, writer::read_count(Some(&value))));
        }
        Ok(loads)
    }
    pub fn find_by_court_key(&self, key: &CourtKey) -> Result<Option<ReferralId>, StoreError> {
        match self.db()?.get(keys::court(key)).map_err(unavailable)? {
            Some(bytes) => String::from_utf8_lossy(&bytes)
                .parse()
                .map(Some)
                .map_err(|_| StoreError::Corrupt("idempotency index".into())),
            None => Ok(None),
        }
    }
    pub fn due_timers(&self, now: Timestamp, limit: usize) -> Result<Vec<Timer>, StoreError> {
        let (start, end) = keys::timers_until(now);
        self.db()?
            .range(start..end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                decode_timer(&value).map_err(|e| corrupt(&key, e))
            })
            .collect()
    }
    pub fn next_timer_at(&self) -> Result<Option<Timestamp>, StoreError> {
        self.first_instant(Table::Timers)
    }
    pub fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &dyn Fn(&str) -> usize,
        skip: &dyn Fn(&str, &MessageId) -> bool,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let durable = self
            .inner
            .shared
            .durable_outbox
            .load(std::sync::atomic::Ordering::Acquire);
        let db = self.db()?;
        let mut found: Vec<(Timestamp, PendingDelivery)> = Vec::new();
        for (destination, earliest) in scheduled_destinations(&db)? {
            if earliest > now {
                continue;
            }
            let name = String::from_utf8_lossy(&destination);
            let room = room(&name).min(limit);
            if room == 0 {
                continue;
            }
            // The heads skipped count toward a budget well beyond the room:
            // a destination's own attempts in flight are at its head, and a
            // pass must not walk everything waiting to find them.
            let budget = room
                .saturating_mul(SCAN_BUDGET_PER_DUE)
                .saturating_add(SCAN_BUDGET_FLOOR);
            let mut taken = 0;
            for entry in db
                .range(keys::schedule_until(&destination, now))
                .take(budget)
            {
                if taken == room {
                    break;
                }
                let (key, target) = entry.map_err(unavailable)?;
                // A message whose commit is applied but not yet durable
                // could be undone by a power cut; the destination must not
                // hear of it.
                if keys::trailing_seq(&target).is_none_or(|n| n > durable) {
                    continue;
                }
                if let Some((destination, id)) = keys::message_id_of(&target)
                    && skip(destination, &id)
                {
                    continue;
                }
                if let Some(bytes) = db.get(&target).map_err(unavailable)? {
                    let due = keys::instant_in(&key)
                        .ok_or_else(|| StoreError::Corrupt("schedule key".into()))?;
                    found.push((due, read_delivery(&db, &target, &bytes)?));
                    taken += 1;
                }
            }
        }
        // Earliest first across destinations, as within each.
        found.sort_by_key(|(due, _)| *due);
        found.truncate(limit);
        Ok(found.into_iter().map(|(_, pending)| pending).collect())
    }
    pub fn next_delivery_at(&self) -> Result<Option<Timestamp>, StoreError> {
        Ok(scheduled_destinations(&*self.db()?)?
            .into_iter()
            .map(|(_, earliest)| earliest)
            .min())
    }
    pub fn dead_letters(&self, limit: usize) -> Result<Vec<PendingDelivery>, StoreError> {
        self.follow(self.db()?.scan_prefix(Table::DeadLetters.prefix()), limit)
    }
    pub fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> Result<Vec<PendingDelivery>, StoreError> {
        let db = self.db()?;
        let mut found = Vec::new();
        for entry in db.scan_prefix(keys::referral_outbox(referral)) {
            let (key, bytes) = entry.map_err(unavailable)?;
            let n =
                keys::trailing_seq(&key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
            found.push((n, read_delivery(&db, &key, &bytes)?));
        }
        // Lane by lane in the store; in the order they were enqueued here.
        found.sort_by_key(|(n, _)| *n);
        Ok(found.into_iter().map(|(_, d)| d).collect())
    }
    /// Read from the counts each write keeps, and the oldest waiting
    /// message of each destination: as fast with a million waiting as
    /// with none.
    pub fn backlog(&self) -> Result<Vec<Backlog>, StoreError> {
        let db = self.db()?;
        let mut found = Vec::new();
        for entry in db.scan_prefix(Table::Backlogs.prefix()) {
            let (key, value) = entry.map_err(unavailable)?;
            let destination = keys::destination_of_backlog(&key)
                .ok_or_else(|| StoreError::Corrupt("backlog key".into()))?;
            let [pending, dead] = writer::read_backlog(Some(&value));
            let oldest = match db
                .scan_prefix(keys::destination_waiting(destination))
                .next()
            {
                Some(entry) => {
                    let (_, message_key) = entry.map_err(unavailable)?;
                    match db.get(&message_key).map_err(unavailable)? {
                        Some(bytes) => Some(
                            decode_delivery_state(&bytes)
                                .map_err(|e| corrupt(&message_key, e))?
                                .enqueued_at,
                        ),
                        None => None,
                    }
                }
                None => None,
            };
            found.push(Backlog {
                destination: String::from_utf8_lossy(destination).into_owned(),
                pending,
                dead,
                oldest_enqueued_at: oldest,
            });
        }
        Ok(found)
    }

    /// Destinations whose kept counts, or order of arrival, differ from
    /// their messages: for `store verify` and the crash tests.
    pub fn verify_backlog(&self) -> Result<Vec<BacklogMismatch>, StoreError> {
        let db = self.db()?;
        let counted = count_backlog(&db)?;
        let kept: BTreeMap<String, Backlog> = self
            .backlog()?
            .into_iter()
            .map(|b| (b.destination.clone(), b))
            .collect();
        let mut waiting = 0u64;
        for entry in db.scan_prefix(Table::Arrivals.prefix()) {
            let (_, message_key) = entry.map_err(unavailable)?;
            if db.get(&message_key).map_err(unavailable)?.is_none() {
                return Err(StoreError::Corrupt(format!(
                    "the order of arrival names {}, which is not waiting",
                    String::from_utf8_lossy(&message_key)
                )));
            }
            waiting += 1;
        }
        let mut mismatches = mediation_core::store::backlog_mismatches(&kept, &counted);
        let total: u64 = counted.values().map(|b| b.pending + b.dead).sum();
        if waiting != total && mismatches.is_empty() {
            mismatches.push(BacklogMismatch {
                destination: format!("(order of arrival: {waiting} entries for {total} messages)"),
                kept: [waiting, 0],
                counted: [total, 0],
            });
        }
        Ok(mismatches)
    }
    pub fn alerts_after(&self, cursor: u64, limit: usize) -> Result<Vec<Alert>, StoreError> {
        // Only alerts whose commit is durable: they leave the gateway by
        // webhook and alert stream, and must not be undone by a power cut.
        let durable = self
            .inner
            .shared
            .durable_alert
            .load(std::sync::atomic::Ordering::Acquire);
        if cursor >= durable {
            return Ok(Vec::new());
        }
        let start = keys::alert(cursor.saturating_add(1));
        let end = keys::alert(durable.saturating_add(1));
        self.db()?
            .range(start..end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                let seq = keys::trailing_seq(&key)
                    .ok_or_else(|| StoreError::Corrupt("alert key".into()))?;
                let record = decode_alert(&value).map_err(|e| corrupt(&key, e))?;
                Ok(Alert { seq, record })
            })
            .collect()
    }
    pub fn acknowledgement(&self, seq: u64) -> Result<Option<Acknowledgement>, StoreError> {
        let key = keys::acknowledgement(seq);
        match self.db()?.get(&key).map_err(unavailable)? {
            Some(bytes) => decode_acknowledgement(&bytes)
                .map(Some)
                .map_err(|e| corrupt(&key, e)),
            None => Ok(None),
        }
    }
    pub fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.db()?
            .range(keys::audit(from)..Table::Audit.bounds().end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                Ok(read_audit_entry(&key, &value)?.0)
            })
            .collect()
    }
    /// Walks the chain ([`ChainWalk`]) to the head the writer recorded.
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let mut walk = ChainWalk::new(chain_hash);
        for entry in self.db()?.scan_prefix(Table::Audit.prefix()) {
            let (key, value) = entry.map_err(unavailable)?;
            if let Err(broken) = walk.step(read_audit_entry(&key, &value)) {
                return Ok(broken.into());
            }
        }
        let head: AuditHead = match self.db()?.get(keys::AUDIT_HEAD).map_err(unavailable)? {
            Some(bytes) => decode_plain(&bytes).map_err(|e| corrupt(keys::AUDIT_HEAD, e))?,
            None => AuditHead::genesis(),
        };
        Ok(match walk.end(head.next_seq, &head.last_hash) {
            Ok(entries) => AuditVerification::Intact { entries },
            Err(broken) => broken.into(),
        })
    }
}

impl ReferralStore for SledStore {
    async fn commit(&self, commit: Commit) -> Result<Receipt, StoreError> {
        let prepared = prepare::Prepared::of(commit)?;
        self.submit(Op::Commit(Box::new(prepared))).await
    }

    fn referral(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send {
        std::future::ready(SledStore::referral(self, referral))
    }

    fn referral_with_bundle(
        &self,
        referral: &ReferralId,
        bundle: &CaseBundle,
    ) -> impl Future<Output = Result<Option<Referral>, StoreError>> + Send {
        std::future::ready(
            self.db()
                .and_then(|db| read_referral_with(&db, referral, Some(bundle))),
        )
    }

    fn history(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Option<Vec<Event>>, StoreError>> + Send {
        std::future::ready(SledStore::history(self, referral))
    }

    fn referral_ids(
        &self,
        after: Option<&ReferralId>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        std::future::ready(SledStore::referral_ids(self, after, limit))
    }

    fn referrals_active(
        &self,
        from: Timestamp,
        to: Timestamp,
    ) -> impl Future<Output = Result<Vec<ReferralId>, StoreError>> + Send {
        std::future::ready(SledStore::referrals_active(self, from, to))
    }

    fn loads(&self) -> impl Future<Output = Result<Vec<(OrganisationId, u64)>, StoreError>> + Send {
        std::future::ready(SledStore::loads(self))
    }

    fn find_by_court_key(
        &self,
        key: &CourtKey,
    ) -> impl Future<Output = Result<Option<ReferralId>, StoreError>> + Send {
        std::future::ready(SledStore::find_by_court_key(self, key))
    }
}

impl TimerStore for SledStore {
    fn due_timers(
        &self,
        now: Timestamp,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Timer>, StoreError>> + Send {
        std::future::ready(SledStore::due_timers(self, now, limit))
    }

    fn next_timer_at(&self) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        std::future::ready(SledStore::next_timer_at(self))
    }
}

impl OutboxStore for SledStore {
    fn due_deliveries_except(
        &self,
        now: Timestamp,
        limit: usize,
        room: &(dyn Fn(&str) -> usize + Sync),
        skip: &(dyn Fn(&str, &MessageId) -> bool + Sync),
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        std::future::ready(SledStore::due_deliveries_except(
            self, now, limit, room, skip,
        ))
    }

    fn next_delivery_at(
        &self,
    ) -> impl Future<Output = Result<Option<Timestamp>, StoreError>> + Send {
        std::future::ready(SledStore::next_delivery_at(self))
    }

    async fn record_delivery(
        &self,
        id: &MessageId,
        outcome: DeliveryOutcome,
    ) -> Result<(), StoreError> {
        let outcome = match outcome {
            DeliveryOutcome::Delivered => Outcome::Delivered,
            DeliveryOutcome::Retry { at, error } => Outcome::Retry { at, error },
            DeliveryOutcome::Dead { at, error, alert } => Outcome::Dead {
                at,
                error,
                alert: encode_alert(&alert),
            },
        };
        self.submit(Op::Delivery {
            id: id.clone(),
            outcome,
        })
        .await
        .map(|_| ())
    }

    fn dead_letters(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        std::future::ready(SledStore::dead_letters(self, limit))
    }

    async fn replay_dead_letter(&self, id: &MessageId, at: Timestamp) -> Result<(), StoreError> {
        self.submit(Op::Replay { id: id.clone(), at })
            .await
            .map(|_| ())
    }

    fn pending_messages(
        &self,
        referral: &ReferralId,
    ) -> impl Future<Output = Result<Vec<PendingDelivery>, StoreError>> + Send {
        std::future::ready(SledStore::pending_messages(self, referral))
    }

    fn backlog(&self) -> impl Future<Output = Result<Vec<Backlog>, StoreError>> + Send {
        std::future::ready(SledStore::backlog(self))
    }
}

impl AlertLog for SledStore {
    fn alerts_after(
        &self,
        cursor: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Alert>, StoreError>> + Send {
        std::future::ready(SledStore::alerts_after(self, cursor, limit))
    }

    async fn raise_alert(&self, record: AlertRecord) -> Result<u64, StoreError> {
        self.submit(Op::RaiseAlert(encode_alert(&record)))
            .await
            .map(|r| r.version)
    }

    async fn acknowledge_alert(
        &self,
        seq: u64,
        acknowledgement: Acknowledgement,
    ) -> Result<Acknowledgement, StoreError> {
        self.submit(Op::Acknowledge {
            seq,
            acknowledgement: encode_acknowledgement(&acknowledgement),
        })
        .await?;
        self.acknowledgement(seq)?
            .ok_or_else(|| StoreError::Corrupt(format!("acknowledgement of alert {seq}")))
    }

    fn acknowledgement(
        &self,
        seq: u64,
    ) -> impl Future<Output = Result<Option<Acknowledgement>, StoreError>> + Send {
        std::future::ready(SledStore::acknowledgement(self, seq))
    }
}

/// An audit entry from its key and stored link.
pub(crate) fn read_audit_entry(
    key: &[u8],
    value: &[u8],
) -> Result<(AuditEntry, Vec<u8>), StoreError> {
    let seq = keys::trailing_seq(key).ok_or_else(|| StoreError::Corrupt("audit key".into()))?;
    let link: AuditLink = decode_plain(value).map_err(|e| corrupt(key, e))?;
    let record = format::audit_record(key, &link.record)?;
    Ok((
        AuditEntry {
            seq,
            record,
            prev_hash: link.prev_hash,
            hash: link.hash,
        },
        link.record,
    ))
}

impl AuditLog for SledStore {
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        self.submit(Op::Audit(prepare::audit(&records)))
            .await
            .map(|_| ())
    }

    fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send {
        std::future::ready(SledStore::audit_entries(self, from, limit))
    }

    fn verify_audit(&self) -> impl Future<Output = Result<AuditVerification, StoreError>> + Send {
        std::future::ready(SledStore::verify_audit(self))
    }
}

/// Hooks for tests of failure and tampering, compiled only for this crate's
/// own tests and with the `test-hooks` feature, which no production build
/// enables.
#[cfg(any(test, feature = "test-hooks"))]
impl SledStore {
    /// Stops the store taking writes, as a failed flush would; only for tests
    /// of what the gateway does when its store fails.
    pub fn fail_for_test(&self, why: &str) {
        *self.inner.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(why.to_owned());
    }

    /// Undoes [`SledStore::fail_for_test`]: the cause has gone.
    pub fn clear_failure_for_test(&self) {
        *self.inner.failure.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// Runs `f` while the writer is held, so that operations sent meanwhile
    /// queue up and are taken as one group afterwards; only for tests of group
    /// commit.
    pub fn with_writer_held<T>(&self, f: impl FnOnce() -> T) -> T {
        let _held = self.inner.gate.lock().unwrap_or_else(|p| p.into_inner());
        f()
    }

    /// Operations sent to the writer since open.
    pub fn operations_sent(&self) -> u64 {
        self.inner.queued.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Overwrites one raw audit entry; only for tests that prove tampering is
    /// detected.
    pub fn tamper_with_audit_entry(&self, seq: u64, actor: &str) -> Result<(), StoreError> {
        let key = keys::audit(seq);
        let bytes = self
            .db()?
            .get(&key)
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::NotFound(format!("audit entry {seq}")))?;
        let mut link: AuditLink = decode_plain(&bytes).map_err(|e| corrupt(&key, e))?;
        let mut record = format::audit_record(&key, &link.record)?;
        record.actor = actor.to_owned();
        link.record = mediation_records::encode_audit_record(&record);
        self.db()?
            .insert(key, mediation_records::encode_plain(&link))
            .map_err(unavailable)?;
        Ok(())
    }

    /// Overwrites a destination's kept counts of pending and dead messages;
    /// only for tests that prove drift is detected.
    pub fn tamper_with_backlog_count(
        &self,
        destination: &str,
        counts: [u64; 2],
    ) -> Result<(), StoreError> {
        self.db()?
            .insert(
                keys::backlog(destination.as_bytes()),
                &writer::encode_backlog(counts)[..],
            )
            .map_err(unavailable)?;
        self.db()?.flush().map_err(unavailable)?;
        Ok(())
    }

    /// Removes one raw audit entry; only for tests that prove loss is detected.
    pub fn remove_audit_entry(&self, seq: u64) -> Result<(), StoreError> {
        self.db()?.remove(keys::audit(seq)).map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(test)]
mod samples;
#[cfg(test)]
mod tests;
