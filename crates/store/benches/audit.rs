//! What the audit chain's move to record version 3 (schema 6) and the purge
//! of its outcome details cost at scale.
//!
//! ```sh
//! cargo bench -p mediation-store --bench audit            # 1,000,000 entries
//! cargo bench -p mediation-store --bench audit -- --quick # 100,000
//! ```
//!
//! A store of schema 5 is written as that schema laid out its audit chain
//! (`docs/store.md`: a `u/{seq:016x}` link per entry holding a record of
//! version 2, hashed whole; the head in `m/audit_head`; the version in
//! `m/schema`), one entry in four with an outcome detail, the entries
//! spread over 2025. Then, timed one after another: the first open by this
//! build (which checks the old chain and re-chains it), a walk of the new
//! chain (`store verify`'s), the purge of every detail at the end of 2026
//! (as the retention pass calls it: 10,000 entries a call), and a walk
//! again. Results and their reading are in `docs/benchmarks.md`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use mediation_core::audit::{AuditRecord, AuditVerification};
use mediation_core::store::{AuditLog as _, DetailCut};
use mediation_records::{chain_hash, encode_audit_record_version_2, encode_plain};
use mediation_store::{SledStore, StoreOptions};
use serde::Serialize;

/// A link of the chain, as every schema writes it.
#[derive(Serialize)]
struct Link {
    prev_hash: String,
    hash: String,
    record: Vec<u8>,
}

/// The chain's head.
#[derive(Serialize)]
struct Head {
    next_seq: u64,
    last_hash: String,
}

/// 2025-01-01T00:00:00Z.
const YEAR_START: i64 = 1_735_689_600;

/// Writes a store of schema 5 holding `total` audit entries.
fn write_schema_5(path: &std::path::Path, total: u64) {
    let db = sled::Config::new()
        .path(path)
        .flush_every_ms(None)
        .open()
        .unwrap();
    let mut last = "0".repeat(64);
    let mut batch = sled::Batch::default();
    for seq in 0..total {
        let outcome = if seq % 4 == 3 {
            format!(
                "InvalidArgument: bundle.parties[0].name: 张{seq} 110101199003077777 does not match"
            )
        } else {
            "ok".to_owned()
        };
        let record = encode_audit_record_version_2(&AuditRecord {
            // Spread over 2025, in order.
            at: jiff::Timestamp::from_second(YEAR_START + (seq * 31_536_000 / total) as i64)
                .unwrap(),
            actor: format!("tenant=court-bj sub=clerk-{} cert=none", seq % 50),
            action: "call /mediation.court.v1.CourtGateway/SubmitReferral".into(),
            referral: Some(format!("01JR{seq:022}").parse().unwrap()),
            outcome,
        });
        let hash = chain_hash(seq, &last, &record);
        let link = Link {
            prev_hash: std::mem::replace(&mut last, hash.clone()),
            hash,
            record,
        };
        batch.insert(format!("u/{seq:016x}").into_bytes(), encode_plain(&link));
        if seq % 50_000 == 49_999 {
            db.apply_batch(std::mem::take(&mut batch)).unwrap();
        }
    }
    db.apply_batch(batch).unwrap();
    db.insert(
        "m/audit_head",
        encode_plain(&Head {
            next_seq: total,
            last_hash: last,
        }),
    )
    .unwrap();
    db.insert("m/schema", &5u32.to_be_bytes()).unwrap();
    db.flush().unwrap();
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("mediation_store=info"))
        .init();
    let quick = std::env::args().any(|a| a == "--quick");
    let total: u64 = std::env::var("MG_AUDIT_ENTRIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { 100_000 } else { 1_000_000 });
    let root = tempfile::Builder::new()
        .prefix("mg-audit-")
        .tempdir_in(std::env::temp_dir())
        .unwrap();
    let path = root.path().join("store");
    let started = Instant::now();
    write_schema_5(&path, total);
    println!(
        "a store of schema 5 with {total} audit entries written in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    let migrated = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let verified = store.verify_audit().unwrap();
    let walk = started.elapsed().as_secs_f64();
    assert_eq!(verified, AuditVerification::Intact { entries: total + 1 });

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let before: jiff::Timestamp = "2026-12-31T00:00:00Z".parse().unwrap();
    let started = Instant::now();
    let (mut examined, mut purged, mut calls) = (0, 0, 0);
    loop {
        let run = runtime
            .block_on(store.purge_audit_details(DetailCut {
                before,
                now: before,
                limit: 10_000,
            }))
            .unwrap();
        examined += run.examined;
        purged += run.purged;
        calls += 1;
        if run.done {
            break;
        }
    }
    let purge = started.elapsed().as_secs_f64();
    assert_eq!(purged, total / 4, "one entry in four has a detail");

    let started = Instant::now();
    let verified = store.verify_audit().unwrap();
    let walk_after = started.elapsed().as_secs_f64();
    assert_eq!(verified, AuditVerification::Intact { entries: total + 1 });

    println!("\nsummary ({total} audit entries of version 2, one in four with a detail)");
    println!(
        "first open (check, re-chain, close): {migrated:.1} s = {:.0} entries/s",
        total as f64 / migrated
    );
    println!(
        "walk of the chain: {walk:.1} s = {:.0} entries/s",
        total as f64 / walk
    );
    println!(
        "purge of details: {purge:.1} s, {calls} calls, {examined} examined, {purged} cut = {:.0} entries/s",
        examined as f64 / purge
    );
    println!(
        "walk after the purge: {walk_after:.1} s = {:.0} entries/s",
        total as f64 / walk_after
    );
    println!(
        "store size: {} MiB",
        store.size_on_disk().unwrap() / (1024 * 1024)
    );
}
