//! The gateway's durable store, on sled.
//!
//! [`SledStore`] implements the storage traits of `mediation_core::store`, one
//! module per table ([`tables`]). Reads go straight to sled; every write goes
//! to one writer thread ([`writer`]) that applies each operation as an atomic
//! batch and makes each group of operations durable — sled flush plus
//! `fdatasync` ([`durability`]) — before answering any of them. No sled type
//! appears in the public API.
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
pub mod migrate_v6;
pub mod migrate_v7;
mod prepare;
mod staged;
mod stats;
mod tables;
mod transfer;
mod v1;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::Sender;

use mediation_core::store::{Receipt, StoreError};
use mediation_records::decode_plain;
use tokio::sync::oneshot;

use crate::durability::Syncer;
use crate::format::{AuditHead, corrupt};
use crate::format::{Counters, unavailable};
pub use crate::stats::CommitStats;
use crate::writer::{Op, Request, Writer};

/// The schema this build reads and writes: the store's own record format
/// (`mediation-records`). A store of schema 1, whose records were the
/// domain types' serde JSON, is migrated at its first open ([`migrate`]).
/// Schema 3 added the snapshot's record version 3 (the court's wait), a
/// timer, an alert and two events. Schema 4 keeps the records and moves
/// keys: a referral's messages under the referral, its timers listed in its
/// head ([`migrate_v4`]); a store of schema 2 or 3 is migrated at its first
/// open by this build. Schema 5 adds an event (`personal_data_purged`) and
/// a table (`f/`, the case files of purged referrals still to remove) and
/// rewrites nothing. Schema 6 writes audit records in their version 3,
/// whose hash covers a digest of the outcome's detail so that the detail
/// can be purged; a store of schema 5 or before has its audit chain
/// re-chained at its first open by this build ([`migrate_v6`]). Schema 7
/// writes a commit's events under one key, and keeps in the order of
/// arrival (`w/`) only the messages that have failed; a store of schema 6
/// or before has the other entries removed at its first open by this build
/// ([`migrate_v7`]).
pub const SCHEMA_VERSION: u32 = 7;

/// The schemas before this one whose records this build reads as they are:
/// those before 4 have their keys moved at the first open, those before 6
/// have their audit chain re-chained, and every one has its order of
/// arrival trimmed.
pub const PREVIOUS_SCHEMA_VERSIONS: [u32; 5] = [2, 3, 4, 5, 6];

/// The schema of stores written before the store's own format; migrated at
/// open.
pub const FIRST_SCHEMA_VERSION: u32 = 1;

/// How much is written before a checkpoint, by default. At a million
/// referrals sled replays its log at roughly 200–300 MB a second and each
/// checkpoint pauses the store for its open (1.5 s or so) and that replay,
/// so a smaller amount shortens the worst restart and costs more pauses
/// (`docs/store.md`, "Restart: checkpoints").
pub const DEFAULT_CHECKPOINT_BYTES: u64 = 256 * 1024 * 1024;

/// How long the writer waits with nothing to do before a checkpoint, by
/// default: longer than the gaps between the groups of a steady load.
pub const DEFAULT_CHECKPOINT_QUIET: std::time::Duration = std::time::Duration::from_millis(250);

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
    /// replays little of sled's log: about this much after a quiet spell,
    /// half as much again at most under a load that leaves none
    /// (`docs/store.md`, "Restart: checkpoints").
    pub checkpoint_bytes: u64,
    /// How long the writer must have had nothing to do for a moment to be
    /// quiet enough for a checkpoint: a store between two groups of a
    /// steady load is not quiet, and a checkpoint there would hold every
    /// caller through the reopening. A store never quiet that long gets its
    /// checkpoint once half as much again as `checkpoint_bytes` is written.
    pub checkpoint_quiet: std::time::Duration,
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
            checkpoint_quiet: DEFAULT_CHECKPOINT_QUIET,
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
            let known = found == FIRST_SCHEMA_VERSION
                || found == SCHEMA_VERSION
                || PREVIOUS_SCHEMA_VERSIONS.contains(&found);
            if !known {
                return Err(OpenError::UnsupportedSchema {
                    path,
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            let to_open = |e: StoreError| match e {
                StoreError::Corrupt(_) => corrupt_err(e),
                other => io(&other),
            };
            if found == FIRST_SCHEMA_VERSION {
                migrate::from_first_format(&db, &path).map_err(to_open)?;
            }
            if found == FIRST_SCHEMA_VERSION || (2..4).contains(&found) {
                // Records of schemas 2 and 3 read as they are; their keys move.
                migrate_v4::to_schema_4(&db, &path, found).map_err(to_open)?;
            }
            // Schema 5 only added (the purge event, the table of files to
            // remove); schema 6 re-chains the audit chain, also when a
            // migration to it stopped part way.
            let rechaining =
                found == 6 && db.get(keys::MIGRATING_AUDIT).map_err(|e| io(&e))?.is_some();
            if found < 6 || rechaining {
                migrate_v6::to_schema_6(&db, &path, found).map_err(to_open)?;
            }
            if found < SCHEMA_VERSION || migrate_v7::under_way(&db).map_err(to_open)? {
                migrate_v7::to_schema_7(&db, &path).map_err(to_open)?;
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
        tables::referrals::index_activity(&db, &path).map_err(|e| match e {
            StoreError::Corrupt(_) => corrupt_err(e),
            other => io(&other),
        })?;
    }
    if db.get(keys::LOADS_KEPT).map_err(|e| io(&e))?.is_none() {
        tables::counters::count_loads(&db, &path).map_err(|e| match e {
            StoreError::Corrupt(_) => corrupt_err(e),
            other => io(&other),
        })?;
    }
    if db.get(keys::BACKLOG_KEPT).map_err(|e| io(&e))?.is_none() {
        tables::counters::keep_backlog(&db, &path).map_err(|e| match e {
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
            reopened: std::sync::atomic::AtomicU64::new(0),
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
            checkpoint_not_before: std::time::Instant::now(),
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
        self.rewrite_audit_link(seq, |key, link| {
            let mut record = format::audit_record(key, &link.record)?.record;
            record.actor = actor.to_owned();
            link.record = mediation_records::encode_audit_record(&record);
            Ok(())
        })
    }

    /// Overwrites the kept outcome detail of one audit entry, leaving its
    /// digest; only for tests that prove a changed detail is detected.
    pub fn tamper_with_audit_detail(&self, seq: u64, detail: &str) -> Result<(), StoreError> {
        self.rewrite_audit_link(seq, |key, link| {
            link.record = format::audit_hashed(key, &link.record)?;
            link.record.extend_from_slice(detail.as_bytes());
            Ok(())
        })
    }

    /// Reads the link of audit entry `seq`, changes it with `change`, and
    /// writes it back, behind the writer's back (the tampering hooks).
    fn rewrite_audit_link(
        &self,
        seq: u64,
        change: impl FnOnce(&[u8], &mut format::AuditLink) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let key = keys::audit(seq);
        let bytes = self
            .db()?
            .get(&key)
            .map_err(unavailable)?
            .ok_or_else(|| StoreError::NotFound(format!("audit entry {seq}")))?;
        let mut link: format::AuditLink = decode_plain(&bytes).map_err(|e| corrupt(&key, e))?;
        change(&key, &mut link)?;
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
