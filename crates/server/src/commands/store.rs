//! `mediation-gateway store …`: operator checks of the durable store.

use std::io::Write;

use anyhow::Context;
use mediation_core::audit::AuditVerification;
use mediation_core::store::{AuditLog, OutboxStore, ReferralStore};
use mediation_store::{Options, SledStore};
use serde::Serialize;

use crate::cli::VerifyArgs;

#[derive(Debug, Serialize)]
struct Report {
    data_dir: String,
    schema_version: u32,
    audit_entries: u64,
    /// The first broken link, if any.
    audit_broken_at: Option<u64>,
    audit_problem: Option<String>,
    backlog: Vec<mediation_core::store::Backlog>,
    dead_letters: usize,
    next_timer_at: Option<String>,
    size_on_disk_bytes: u64,
}

pub fn verify(args: VerifyArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !args.data_dir.exists() {
        anyhow::bail!(
            "no store at {} (set --data-dir or MEDIATION_GATEWAY_DATA_DIR)",
            args.data_dir.display()
        );
    }
    let store = SledStore::open(Options::new(&args.data_dir))?;
    let verification = store.verify_audit().context("cannot read the audit log")?;
    let (entries, broken_at, problem) = match verification {
        AuditVerification::Intact { entries } => (entries, None, None),
        AuditVerification::Broken { seq, reason } => (seq, Some(seq), Some(reason)),
    };
    let report = Report {
        data_dir: args.data_dir.display().to_string(),
        schema_version: mediation_store::SCHEMA_VERSION,
        audit_entries: entries,
        audit_broken_at: broken_at,
        audit_problem: problem,
        backlog: store.backlog()?,
        dead_letters: store.dead_letters(usize::MAX)?.len(),
        next_timer_at: store
            .next_timer_at()?
            .map(mediation_core::calendar::cst::format),
        size_on_disk_bytes: store.size_on_disk()?,
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
        match (&report.audit_broken_at, &report.audit_problem) {
            (Some(seq), Some(problem)) => {
                writeln!(out, "audit chain BROKEN at entry {seq}: {problem}")?
            }
            _ => writeln!(out, "audit chain intact: {} entries", report.audit_entries)?,
        }
        for b in &report.backlog {
            writeln!(
                out,
                "outbox {}: {} pending, {} dead",
                b.destination, b.pending, b.dead
            )?;
        }
        writeln!(out, "dead letters: {}", report.dead_letters)?;
        if let Some(next) = &report.next_timer_at {
            writeln!(out, "next deadline timer: {next}")?;
        }
    }
    if let Some(seq) = report.audit_broken_at {
        anyhow::bail!("the audit chain is broken at entry {seq}");
    }
    Ok(())
}
