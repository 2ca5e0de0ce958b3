//! `mediation-gateway store verify` on a store written by the gateway's own code.

use std::process::Command;
use std::sync::{Arc, RwLock};

use mediation_core::clock::{Clock, ManualClock};
use mediation_core::fixtures::{at, sample_bundle, shipped_calendar};
use mediation_core::routing::NoRoster;
use mediation_service::{Commands, Policies};
use mediation_store::{SledStore, StoreOptions};

fn verify(dir: &std::path::Path, json: bool) -> std::process::Output {
    let mut args = vec!["store", "verify", "--data-dir", dir.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .args(args)
        .output()
        .unwrap()
}

#[tokio::test]
async fn verify_reports_an_intact_chain_and_then_the_first_broken_link() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    {
        let store = SledStore::open(StoreOptions::new(&dir)).unwrap();
        let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(at("2025-03-03T09:00:00+08:00")));
        let gateway = Commands::new(
            store,
            Arc::new(RwLock::new(shipped_calendar())),
            Policies::default(),
            Arc::new(NoRoster),
            mediation_core::fixtures::courts(),
            clock,
        );
        // No roster: the referral goes straight back to the court, with a message.
        gateway
            .submit(sample_bundle(), "court:京0105")
            .await
            .unwrap();
        let mut second = sample_bundle();
        second.court_referral_id = "second".parse().unwrap();
        gateway.submit(second, "court:京0105").await.unwrap();
    }
    let output = verify(&dir, false);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(text.contains("audit chain intact: 2 entries"), "{text}");
    // Both went back to the court: no organisation holds one.
    assert!(
        text.contains("organisations' loads agree with the histories: 0 open referrals"),
        "{text}"
    );
    assert!(
        text.contains("outbox court:京0105: 2 pending, 0 dead"),
        "{text}"
    );
    assert!(
        text.contains("outbox counts agree with the messages waiting"),
        "{text}"
    );

    // A kept count that drifted from the messages is named, and fails.
    SledStore::open(StoreOptions::new(&dir))
        .unwrap()
        .tamper_with_backlog_count("court:京0105", [5, 0])
        .unwrap();
    let output = verify(&dir, false);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(!output.status.success());
    assert!(
        text.contains(
            "outbox counts of court:京0105 DISAGREE: 5 pending and 0 dead kept, 2 and 0 waiting"
        ),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("outbox counts disagree"));
    let report: serde_json::Value = serde_json::from_slice(&verify(&dir, true).stdout).unwrap();
    assert_eq!(
        report["backlog_mismatches"][0]["kept"],
        serde_json::json!([5, 0])
    );

    SledStore::open(StoreOptions::new(&dir))
        .unwrap()
        .tamper_with_audit_entry(1, "intruder")
        .unwrap();
    let output = verify(&dir, true);
    assert!(!output.status.success());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["audit_broken_at"], 1);
    assert!(String::from_utf8_lossy(&output.stderr).contains("broken at entry 1"));
}

#[test]
fn verify_says_when_there_is_no_store() {
    let output = verify(std::path::Path::new("/nonexistent/store"), false);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no store at /nonexistent/store"));
}

#[test]
fn verify_on_a_store_in_use_says_so_after_a_short_wait() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("store");
    // Held open here as a running gateway would hold it.
    let _running = SledStore::open(StoreOptions::new(&dir)).unwrap();
    let output = verify(&dir, false);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("is in use by a running gateway"), "{said}");
    assert!(said.contains("stop the gateway"), "{said}");
}

#[test]
fn verify_refuses_a_directory_that_is_not_a_store_and_creates_nothing() {
    let work = tempfile::tempdir().unwrap();
    // An operator points at the data directory instead of the store in it.
    let dir = work.path().join("data");
    std::fs::create_dir_all(dir.join("documents")).unwrap();
    let output = verify(&dir, false);
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("is not a store"), "{said}");
    assert!(said.contains("data/store"), "{said}");
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["documents"], "verify created nothing");
}
