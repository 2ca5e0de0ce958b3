//! `mediation-gateway store …`: operator checks of the durable store.

use std::io::Write;

use anyhow::Context;
use mediation_core::audit::AuditVerification;
use mediation_store::{SledStore, StoreOptions};
use serde::Serialize;

use crate::cli::VerifyArgs;

/// What the walk of a staged store says when the database's load stopped
/// taking its records.
const LOAD_STOPPED: &str = "the database import stopped";

/// What `store verify` finds in either backend's store.
#[derive(Debug, Serialize)]
struct Findings {
    audit_entries: u64,
    /// The first broken link, if any.
    audit_broken_at: Option<u64>,
    audit_problem: Option<String>,
    backlog: Vec<mediation_core::store::Backlog>,
    dead_letters: usize,
    next_timer_at: Option<String>,
    /// Open referrals, as the histories say.
    open_referrals: u64,
    /// Organisations whose kept count of open referrals differs from the
    /// histories; empty when every count agrees.
    load_mismatches: Vec<mediation_store::LoadMismatch>,
    /// Referrals checked against their snapshots.
    referrals: u64,
    /// Referrals whose snapshot is not the state their history replays
    /// to; empty when every one agrees.
    snapshot_mismatches: Vec<String>,
}

impl Findings {
    fn new(
        audit: AuditVerification,
        check: mediation_store::HistoryCheck,
        backlog: Vec<mediation_core::store::Backlog>,
        dead_letters: usize,
        next_timer_at: Option<jiff::Timestamp>,
    ) -> Self {
        let (audit_entries, audit_broken_at, audit_problem) = match audit {
            AuditVerification::Intact { entries } => (entries, None, None),
            AuditVerification::Broken { seq, reason } => (seq, Some(seq), Some(reason)),
        };
        Self {
            audit_entries,
            audit_broken_at,
            audit_problem,
            backlog,
            dead_letters,
            next_timer_at: next_timer_at.map(mediation_core::calendar::cst::format),
            open_referrals: check.open,
            load_mismatches: check.load_mismatches,
            referrals: check.referrals,
            snapshot_mismatches: check
                .snapshot_mismatches
                .iter()
                .map(ToString::to_string)
                .collect(),
        }
    }

    /// The audit line (`chain` names what is intact) and the backlog.
    fn print_audit_and_backlog(&self, chain: &str, out: &mut dyn Write) -> std::io::Result<()> {
        match (&self.audit_broken_at, &self.audit_problem) {
            (Some(seq), Some(problem)) => {
                writeln!(out, "audit chain BROKEN at entry {seq}: {problem}")?
            }
            _ => writeln!(out, "{chain} intact: {} entries", self.audit_entries)?,
        }
        for b in &self.backlog {
            writeln!(
                out,
                "outbox {}: {} pending, {} dead",
                b.destination, b.pending, b.dead
            )?;
        }
        Ok(())
    }

    /// Dead letters, the histories' checks and the next timer.
    fn print_histories(&self, out: &mut dyn Write) -> std::io::Result<()> {
        writeln!(out, "dead letters: {}", self.dead_letters)?;
        if self.load_mismatches.is_empty() {
            writeln!(
                out,
                "organisations' loads agree with the histories: {} open referrals",
                self.open_referrals
            )?;
        }
        for m in &self.load_mismatches {
            writeln!(
                out,
                "load of {} DISAGREES: {} kept, {} in the histories",
                m.organisation, m.kept, m.counted
            )?;
        }
        if self.snapshot_mismatches.is_empty() {
            writeln!(
                out,
                "referrals' snapshots agree with their histories: {} referrals",
                self.referrals
            )?;
        }
        for id in &self.snapshot_mismatches {
            writeln!(
                out,
                "snapshot of {id} DISAGREES with the state its history replays to"
            )?;
        }
        if let Some(next) = &self.next_timer_at {
            writeln!(out, "next deadline timer: {next}")?;
        }
        Ok(())
    }

    /// A broken chain or a snapshot that disagrees: the exit's error.
    fn refuse_broken_history(&self) -> anyhow::Result<()> {
        if let Some(seq) = self.audit_broken_at {
            anyhow::bail!("the audit chain is broken at entry {seq}");
        }
        if !self.snapshot_mismatches.is_empty() {
            anyhow::bail!(
                "{} referrals' snapshots disagree with their histories; commands would decide on a wrong state",
                self.snapshot_mismatches.len()
            );
        }
        Ok(())
    }

    /// A kept load that disagrees: the exit's error.
    fn refuse_wrong_loads(&self) -> anyhow::Result<()> {
        if !self.load_mismatches.is_empty() {
            anyhow::bail!(
                "{} organisations' kept loads disagree with the histories; routing would misjudge their spare capacity",
                self.load_mismatches.len()
            );
        }
        Ok(())
    }
}

#[derive(Debug, Serialize)]
struct Report {
    data_dir: String,
    schema_version: u32,
    #[serde(flatten)]
    findings: Findings,
    size_on_disk_bytes: u64,
    /// Destinations whose kept counts of waiting messages differ from the
    /// messages; empty when every count agrees.
    backlog_mismatches: Vec<mediation_store::BacklogMismatch>,
}

pub fn verify(args: VerifyArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut args = args;
    if let Some(file) = &args.config {
        let config = crate::config::Config::load(file)?;
        match config.store.backend {
            crate::config::Backend::Postgres => return verify_postgres(&config, args.json, out),
            crate::config::Backend::Sled => args.data_dir = config.store_dir(),
        }
    }
    if !args.data_dir.exists() {
        anyhow::bail!(
            "no store at {} (set --data-dir or MEDIATION_GATEWAY_STORE_DIR)",
            args.data_dir.display()
        );
    }
    let store = SledStore::open_existing(StoreOptions::new(&args.data_dir)).map_err(|e| match e {
        mediation_store::OpenError::Locked { path, .. } => anyhow::anyhow!(
            "the store at {} is in use by a running gateway, and verify reads it directly: \
             stop the gateway (e.g. systemctl stop mediation-gateway) and run store verify again; \
             meanwhile /readyz, `ops backlog` and `ops dead-letters` show the running gateway's state",
            path.display()
        ),
        other => other.into(),
    })?;
    let audit = store.verify_audit().context("cannot read the audit log")?;
    let check = store
        .verify_histories()
        .context("cannot replay the referrals' histories")?;
    let report = Report {
        data_dir: args.data_dir.display().to_string(),
        schema_version: mediation_store::SCHEMA_VERSION,
        findings: Findings::new(
            audit,
            check,
            store.backlog()?,
            store.dead_letters(usize::MAX)?.len(),
            store.next_timer_at()?,
        ),
        size_on_disk_bytes: store.size_on_disk()?,
        backlog_mismatches: store.verify_backlog().context("cannot count the outbox")?,
    };
    if args.json {
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "store {} (schema {}) opened",
            report.data_dir, report.schema_version
        )?;
        report
            .findings
            .print_audit_and_backlog("audit chain", out)?;
        if report.backlog_mismatches.is_empty() {
            writeln!(out, "outbox counts agree with the messages waiting")?;
        }
        for m in &report.backlog_mismatches {
            writeln!(
                out,
                "outbox counts of {} DISAGREE: {} pending and {} dead kept, {} and {} waiting",
                m.destination, m.kept[0], m.kept[1], m.counted[0], m.counted[1]
            )?;
        }
        report.findings.print_histories(out)?;
    }
    report.findings.refuse_broken_history()?;
    if !report.backlog_mismatches.is_empty() {
        anyhow::bail!(
            "{} destinations' outbox counts disagree with the messages waiting; the backlog and its gauges would mislead",
            report.backlog_mismatches.len()
        );
    }
    report.findings.refuse_wrong_loads()
}

/// What `store verify` finds in a PostgreSQL store.
#[derive(Debug, Serialize)]
struct DatabaseReport {
    database: String,
    schema_version: i64,
    #[serde(flatten)]
    findings: Findings,
}

/// `store verify` of the database: every audit chain, every referral's
/// snapshot and the organisations' loads against the histories. It reads
/// through the storage traits, in pages, so the replicas may keep running;
/// a referral changed between its two reads shows as a mismatch, and a
/// second run tells.
fn verify_postgres(
    config: &crate::config::Config,
    json: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use mediation_core::store::{AuditLog as _, OutboxStore as _, TimerStore as _};
    let options = config.store.postgres.options()?;
    let database = mediation_store_postgres::redacted(&options.url);
    let report = crate::backend::block_on(async move {
        let store = mediation_store_postgres::PgStore::connect(&options).await?;
        let schema = store.check(&options.url).await?;
        let audit = store.verify_audit().await?;
        let mut last = std::time::Instant::now();
        let check = mediation_core::store::check_histories(&store, |n| {
            if last.elapsed() >= std::time::Duration::from_secs(2) {
                let _ = writeln!(std::io::stderr(), "verifying: {n} referrals replayed");
                last = std::time::Instant::now();
            }
        })
        .await?;
        let report = DatabaseReport {
            database,
            schema_version: schema.applied,
            findings: Findings::new(
                audit,
                check,
                store.backlog().await?,
                store.dead_letters(usize::MAX).await?.len(),
                store.next_timer_at().await?,
            ),
        };
        store.close().await;
        Ok(report)
    })?;
    if json {
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(
            out,
            "database {} (schema {}) opened",
            report.database, report.schema_version
        )?;
        report
            .findings
            .print_audit_and_backlog("audit chains", out)?;
        report.findings.print_histories(out)?;
    }
    report.findings.refuse_broken_history()?;
    report.findings.refuse_wrong_loads()
}

/// `store migrate`: brings the configured database to this build's schema.
pub fn migrate(args: crate::cli::MigrateArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    if config.store.backend != crate::config::Backend::Postgres {
        anyhow::bail!(
            "store.backend is \"sled\": the embedded store migrates itself when it opens; migrate applies to store.backend = \"postgres\""
        );
    }
    let options = config.store.postgres.options()?;
    let url = mediation_store_postgres::redacted(&options.url);
    let version = crate::backend::block_on(async move {
        let store = mediation_store_postgres::PgStore::connect(&options).await?;
        let version = store.migrate(&options.url).await;
        store.close().await;
        Ok(version?)
    })?;
    writeln!(out, "database {url} is at schema version {version}")?;
    Ok(())
}

/// `store export`: the whole store and its case files to one archive.
pub fn export(args: crate::cli::ExportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    if args.out.exists() {
        anyhow::bail!("{} exists; choose a new file", args.out.display());
    }
    let store = open_existing(&config.store_dir())?;
    let documents = mediation_store::documents::DocumentStore::open(config.documents_dir())?;
    // Written beside the target and renamed when complete, so a failed export
    // never leaves something that looks like an archive.
    let partial = args.out.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot create {}", partial.display()))?;
    let mut last = std::time::Instant::now();
    let summary = store
        .export(&documents, &file, |s| {
            if last.elapsed() >= std::time::Duration::from_secs(2) {
                let _ = writeln!(
                    std::io::stderr(),
                    "exporting: {} keys, {} files, {} bytes",
                    s.keys,
                    s.documents,
                    s.bytes
                );
                last = std::time::Instant::now();
            }
        })
        .with_context(|| format!("cannot export to {}", partial.display()));
    let summary = match summary {
        Ok(summary) => summary,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    file.sync_all()?;
    std::fs::rename(&partial, &args.out)?;
    writeln!(
        out,
        "exported {} keys and {} case files ({} bytes) to {}",
        summary.keys,
        summary.documents,
        summary.bytes,
        args.out.display()
    )?;
    Ok(())
}

/// `store import`: an archive into the configured, empty data directory,
/// or, with `store.backend = "postgres"`, into the configured, empty
/// database.
pub fn import(args: crate::cli::ImportArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    if config.store.backend == crate::config::Backend::Postgres {
        return import_into_postgres(&config, &args.from, out);
    }
    let input = std::fs::File::open(&args.from)
        .with_context(|| format!("cannot open {}", args.from.display()))?;
    std::fs::create_dir_all(&config.data_dir)?;
    let documents = mediation_store::documents::DocumentStore::open(config.documents_dir())?;
    let mut last = std::time::Instant::now();
    let summary = mediation_store::archive::import(
        std::io::BufReader::new(input),
        &config.store_dir(),
        &documents,
        |s| {
            if last.elapsed() >= std::time::Duration::from_secs(2) {
                let _ = writeln!(
                    std::io::stderr(),
                    "importing: {} keys, {} files, {} bytes",
                    s.keys,
                    s.documents,
                    s.bytes
                );
                last = std::time::Instant::now();
            }
        },
    )
    .with_context(|| format!("cannot import {}", args.from.display()))?;
    // Open it once, as serve will: schema and counters must read back.
    let store = open_existing(&config.store_dir())?;
    let audit = store.verify_audit()?;
    writeln!(
        out,
        "imported {} keys and {} case files into {}; audit chain: {}",
        summary.keys,
        summary.documents,
        config.store_dir().display(),
        match audit {
            AuditVerification::Intact { entries } => format!("intact, {entries} entries"),
            AuditVerification::Broken { seq, reason } => format!("BROKEN at {seq}: {reason}"),
        }
    )?;
    Ok(())
}

/// `store import` into PostgreSQL: the archive becomes an embedded store in a
/// staging directory beside the data (checked as every import is), whose
/// records are then loaded into the database in one transaction; the
/// staging store is removed either way. The case files go to the data
/// directory the replicas share.
fn import_into_postgres(
    config: &crate::config::Config,
    from: &std::path::Path,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    use mediation_core::store::AuditLog as _;
    let input =
        std::fs::File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    std::fs::create_dir_all(&config.data_dir)?;
    let staging = config.data_dir.join("import-staging");
    if staging.exists() {
        anyhow::bail!(
            "{} exists: an earlier import was interrupted; remove it and import again",
            staging.display()
        );
    }
    let documents = mediation_store::documents::DocumentStore::open(config.documents_dir())?;
    let mut last = std::time::Instant::now();
    let staged = mediation_store::archive::import(
        std::io::BufReader::new(input),
        &staging,
        &documents,
        |s| {
            if last.elapsed() >= std::time::Duration::from_secs(2) {
                let _ = writeln!(
                    std::io::stderr(),
                    "reading the archive: {} keys, {} files, {} bytes",
                    s.keys,
                    s.documents,
                    s.bytes
                );
                last = std::time::Instant::now();
            }
        },
    )
    .with_context(|| format!("cannot import {}", from.display()));
    let loaded = staged.and_then(|staged| {
        let store = open_existing(&staging)?;
        let options = config.store.postgres.options()?;
        let (sender, receiver) = tokio::sync::mpsc::channel(1_024);
        let walker = std::thread::spawn(move || {
            store.transfer(|item| {
                sender.blocking_send(item).map_err(|_| {
                    mediation_core::store::StoreError::Unavailable(LOAD_STOPPED.into())
                })
            })
        });
        let url = mediation_store_postgres::redacted(&options.url);
        let imported = crate::backend::block_on(async move {
            let store = mediation_store_postgres::PgStore::open(&options).await?;
            let mut last = std::time::Instant::now();
            let imported = store
                .import(receiver, |done| {
                    if last.elapsed() >= std::time::Duration::from_secs(2) {
                        let _ = writeln!(
                            std::io::stderr(),
                            "loading into the database: {} referrals, {} events, {} messages",
                            done.referrals,
                            done.events,
                            done.messages
                        );
                        last = std::time::Instant::now();
                    }
                })
                .await;
            let audit = match &imported {
                Ok(_) => Some(store.verify_audit().await?),
                Err(_) => None,
            };
            store.close().await;
            Ok((imported, audit))
        });
        let walked = walker
            .join()
            .map_err(|_| anyhow::anyhow!("reading the staged store panicked"))?;
        let (imported, audit) = imported?;
        // A load that failed stops the walk (its sends find no one
        // listening): then the load's error is the cause. Otherwise the
        // walk's own error says why the load saw the records end early.
        let walk_stopped_by_load = matches!(
            &walked,
            Err(mediation_core::store::StoreError::Unavailable(m)) if m == LOAD_STOPPED
        );
        let imported = match (imported, walk_stopped_by_load) {
            (Err(load), true) => return Err(load.into()),
            (imported, _) => imported,
        };
        walked.context("cannot read the staged store")?;
        Ok((url, staged, imported?, audit))
    });
    let _ = std::fs::remove_dir_all(&staging);
    let (url, staged, imported, audit) = loaded?;
    writeln!(
        out,
        "imported {} keys and {} case files into {url} ({} referrals, {} events, {} messages, {} timers, {} alerts, {} audit entries); audit chain: {}",
        staged.keys,
        staged.documents,
        imported.referrals,
        imported.events,
        imported.messages,
        imported.timers,
        imported.alerts,
        imported.audit_entries,
        match audit {
            Some(AuditVerification::Intact { entries }) => format!("intact, {entries} entries"),
            Some(AuditVerification::Broken { seq, reason }) => {
                format!("BROKEN at {seq}: {reason}")
            }
            None => "not read".into(),
        }
    )?;
    Ok(())
}

fn open_existing(dir: &std::path::Path) -> anyhow::Result<SledStore> {
    if !dir.is_dir() {
        anyhow::bail!("no store at {}", dir.display());
    }
    Ok(SledStore::open_existing(StoreOptions::new(dir))?)
}
