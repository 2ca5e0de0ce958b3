//! The sled store against the conformance suite, and what is particular to it:
//! reopening, the schema check, group commit and audit tampering.

use mediation_core::audit::AuditVerification;
use mediation_core::store::{AuditLog, ReferralStore};

use super::*;

fn fresh() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap();
    (dir, store)
}

#[tokio::test]
async fn sled_store_conforms() {
    let mut dirs = Vec::new();
    conformance::run_all(|| {
        let (dir, store) = fresh();
        dirs.push(dir);
        store
    })
    .await;
}

#[tokio::test]
async fn data_survives_reopening() {
    let (dir, store) = fresh();
    let path = store.path().to_owned();
    let r: ReferralId = "01JD0000000000000000000001".parse().unwrap();
    let mut commit = conformance_commit(&r);
    commit.alerts.clear();
    store.commit(commit).await.unwrap();
    store.append_audit(vec![]).await.unwrap();
    drop(store);
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(store.history(&r).unwrap().unwrap().len(), 1);
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 1 }
    );
    drop(dir);
}

#[tokio::test]
async fn a_store_written_before_the_activity_index_is_indexed_once_on_open() {
    let (dir, store) = fresh();
    let path = store.path().to_owned();
    let ids: Vec<ReferralId> = (1..=3)
        .map(|n| format!("01JD{n:022}").parse().unwrap())
        .collect();
    for r in &ids {
        store.commit(conformance_commit(r)).await.unwrap();
    }
    drop(store);
    // As an older build left it: no activity keys, no marker.
    {
        let db = crate::sled_config(&StoreOptions::new(&path))
            .open()
            .unwrap();
        let keys: Vec<_> = db
            .scan_prefix(b"y/")
            .map(|entry| entry.unwrap().0)
            .collect();
        assert_eq!(keys.len(), 3, "one key per referral and day");
        for key in keys {
            db.remove(key).unwrap();
        }
        db.remove(keys::ACTIVITY_INDEXED).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    let day = |s: &str| mediation_core::fixtures::at(s);
    assert_eq!(
        store
            .referrals_active(
                day("2025-03-03T00:00:00+08:00"),
                day("2025-03-04T00:00:00+08:00")
            )
            .unwrap(),
        ids
    );
    drop(store);
    drop(dir);
}

#[tokio::test]
async fn a_store_written_before_loads_were_kept_counts_them_once_on_open() {
    use mediation_core::fixtures::{
        at, organisation, route_delivered, sample_bundle, shipped_calendar,
    };
    use mediation_core::lifecycle::{Assignment, Referral};
    use mediation_core::partner::Partner;
    let (dir, store) = fresh();
    let path = store.path().to_owned();
    // Two referrals offered to org-a, one to org-b, one never routed.
    for (n, org) in [
        (1, Some("org-a")),
        (2, Some("org-a")),
        (3, Some("org-b")),
        (4, None),
    ] {
        let id: ReferralId = format!("01JD{n:022}").parse().unwrap();
        let now = at("2025-03-03T09:00:00+08:00");
        let (mut r, received) = Referral::receive(id.clone(), sample_bundle(), now).unwrap();
        let mut events = vec![received];
        if let Some(org) = org {
            let routed = route_delivered(
                &r,
                Assignment {
                    partner: Partner::Ccpit,
                    organisation: organisation(org),
                    mediator: None,
                },
                vec![],
                now,
                &shipped_calendar(),
                &Default::default(),
            )
            .unwrap();
            r.apply_all(&routed);
            events.extend(routed);
        }
        let mut commit = conformance_commit(&id);
        commit.events = events;
        commit.loads = mediation_core::routing::load_changes(None, &r);
        store.commit(commit).await.unwrap();
    }
    let kept = {
        let mut l = store.loads().unwrap();
        l.sort();
        l
    };
    assert_eq!(
        kept,
        [(organisation("org-a"), 2), (organisation("org-b"), 1)]
    );
    drop(store);
    // As an older build left it: no counts, no marker.
    {
        let db = crate::sled_config(&StoreOptions::new(&path))
            .open()
            .unwrap();
        let keys: Vec<_> = db
            .scan_prefix(b"l/")
            .map(|entry| entry.unwrap().0)
            .collect();
        for key in keys {
            db.remove(key).unwrap();
        }
        db.remove(keys::LOADS_KEPT).unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    let mut counted = store.loads().unwrap();
    counted.sort();
    assert_eq!(counted, kept, "the same counts, from the histories");
    assert_eq!(store.verify_loads().unwrap(), (vec![], 3));
    drop(store);
    // A count that drifted from the histories is named by verify.
    {
        let db = crate::sled_config(&StoreOptions::new(&path))
            .open()
            .unwrap();
        db.insert(keys::load(&organisation("org-a")), &5u64.to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(
        store.verify_loads().unwrap(),
        (
            vec![LoadMismatch {
                organisation: organisation("org-a"),
                kept: 5,
                counted: 2
            }],
            3
        )
    );
    drop(store);
    drop(dir);
}

fn conformance_commit(r: &ReferralId) -> Commit {
    use mediation_core::fixtures::{at, sample_bundle};
    use mediation_core::lifecycle::Change;
    Commit {
        loads: vec![],
        referral: r.clone(),
        expected_version: 0,
        at: at("2025-03-03T09:00:00+08:00"),
        events: vec![Event {
            at: at("2025-03-03T09:00:00+08:00"),
            change: Change::Received {
                id: r.clone(),
                bundle: Box::new(sample_bundle()),
            },
        }],
        court_key: None,
        messages: vec![],
        timers: vec![],
        alerts: vec![],
        audit: vec![AuditRecord {
            at: at("2025-03-03T09:00:00+08:00"),
            actor: "test".into(),
            action: "submit".into(),
            referral: Some(r.clone()),
            outcome: "ok".into(),
        }],
    }
}

#[tokio::test]
async fn an_unknown_schema_version_is_refused() {
    let (dir, store) = fresh();
    let path = store.path().to_owned();
    drop(store);
    {
        let db = crate::sled_config(&StoreOptions::new(&path))
            .open()
            .unwrap();
        db.insert(keys::SCHEMA, &7u32.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(StoreOptions::new(&path)).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::UnsupportedSchema {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("schema version 7"), "{err}");
    drop(dir);
}

#[tokio::test]
async fn a_foreign_sled_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other");
    {
        // sled's own defaults, as another program would make it.
        let db = sled::open(&path).unwrap();
        db.insert(b"something", b"else").unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(StoreOptions::new(&path)).unwrap_err();
    assert!(matches!(err, OpenError::NotAGatewayStore { .. }), "{err}");
}

#[test]
fn a_store_in_use_is_reported_as_locked_once_the_wait_is_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let _running = SledStore::open(StoreOptions::new(&path)).unwrap();
    let mut second = StoreOptions::new(&path);
    second.lock_wait = std::time::Duration::from_millis(100);
    let started = std::time::Instant::now();
    let err = SledStore::open(second).unwrap_err();
    assert!(
        matches!(err, OpenError::Locked { ref waited, .. } if *waited == std::time::Duration::from_millis(100)),
        "{err}"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(100));
    assert!(err.to_string().contains("is in use"), "{err}");
}

#[test]
fn a_lock_released_while_waiting_lets_the_store_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let first = SledStore::open(StoreOptions::new(&path)).unwrap();
    // The first handle goes away while the second open is already waiting,
    // as sled's threads do after a one-shot handle is dropped.
    let releasing = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(first);
    });
    let mut second = StoreOptions::new(&path);
    second.lock_wait = std::time::Duration::from_secs(10);
    let store = SledStore::open(second).unwrap();
    releasing.join().unwrap();
    assert_eq!(store.path(), path.as_path());
}

#[tokio::test]
async fn tampering_and_loss_break_the_audit_chain() {
    let (_dir, store) = fresh();
    store
        .commit(conformance_commit(
            &"01JD0000000000000000000002".parse().unwrap(),
        ))
        .await
        .unwrap();
    let records = (0..4)
        .map(|i| AuditRecord {
            at: jiff::Timestamp::UNIX_EPOCH,
            actor: format!("op-{i}"),
            action: "read".into(),
            referral: None,
            outcome: "ok".into(),
        })
        .collect();
    store.append_audit(records).await.unwrap();
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 5 }
    );

    store.tamper_with_audit_entry(2, "someone-else").unwrap();
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Broken { seq: 2, .. }
    ));

    let (_dir, store) = fresh();
    store
        .append_audit(vec![
            conformance_commit(
                &"01JD0000000000000000000003".parse().unwrap()
            )
            .audit[0]
                .clone();
            3
        ])
        .await
        .unwrap();
    store.remove_audit_entry(1).unwrap();
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Broken { seq: 1, .. }
    ));
    store.remove_audit_entry(2).unwrap();
    // Losing the tail leaves a consistent but short chain: still detected.
    match store.verify_audit().unwrap() {
        AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 1);
            assert!(reason.contains("3 were written"), "{reason}");
        }
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_commits_share_one_flush() {
    let (_dir, store) = fresh();
    // Warm up: the first operation may be alone in its group.
    store.append_audit(vec![]).await.unwrap();
    let (groups_before, _) = store.commit_stats().snapshot();
    let tasks = store.with_writer_held(|| {
        let tasks: Vec<_> = (0..64u32)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    let r: ReferralId = format!("01JD{i:022}").parse().unwrap();
                    store.commit(conformance_commit(&r)).await.unwrap();
                    r
                })
            })
            .collect();
        // Wait until all 64 are queued behind the held writer.
        while store.operations_sent() < 65 {
            std::thread::yield_now();
        }
        tasks
    });
    for task in tasks {
        let r = task.await.unwrap();
        assert!(store.history(&r).unwrap().is_some());
    }
    let (groups, operations) = store.commit_stats().snapshot();
    assert_eq!(operations, 65);
    // The writer may have taken the first commit before it was held.
    assert!(
        groups - groups_before <= 2,
        "64 queued commits took {} flushes",
        groups - groups_before
    );
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 64 }
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped. Mounting needs
/// root, which CI has; elsewhere the test says why it cannot run.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("mount must be installed");
        assert!(
            status.success(),
            "mounting a tmpfs failed: the full-disk test needs root (CI runs as root)"
        );
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_keeps_reads_and_recovers_once_space_returns() {
    // Room for the reserve (as large as a segment, which sled needs to
    // reopen), the ballast and a few MiB of referrals.
    let disk = SmallDisk::mount("48m");
    let path = disk.path().join("store");
    let options = StoreOptions::new(&path);
    let store = SledStore::open(options.clone()).unwrap();
    assert!(
        path.join("reserve").is_file(),
        "the reserve is made at open"
    );
    // Ballast that fills most of the disk, to be removed once it is full.
    let ballast = disk.path().join("ballast");
    std::fs::write(&ballast, vec![7u8; 20 * 1024 * 1024]).unwrap();

    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for n in 0..100_000u32 {
        let id: ReferralId = format!("01JD{n:022}").parse().unwrap();
        match store.commit(conformance_commit(&id)).await {
            Ok(_) => acknowledged.push(id),
            Err(e) => {
                refusal = Some(e);
                break;
            }
        }
    }
    let refusal = refusal.expect("the disk filled up");
    assert!(matches!(refusal, StoreError::Unavailable(_)), "{refusal:?}");
    assert!(!acknowledged.is_empty());
    assert!(
        store.failure().is_some(),
        "the store says it takes no writes"
    );
    // Writes stay refused while the disk is full; reads go on.
    let id: ReferralId = "01JDZZZZZZZZZZZZZZZZZZZZZZ".parse().unwrap();
    assert!(matches!(
        store.commit(conformance_commit(&id)).await,
        Err(StoreError::Unavailable(_))
    ));
    for id in &acknowledged {
        assert!(store.history(id).unwrap().is_some(), "{id} is readable");
    }

    // Space returns: the store reopens itself from disk and takes writes.
    std::fs::remove_file(&ballast).unwrap();
    let waited = std::time::Instant::now();
    while store.failure().is_some() {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(30),
            "the store did not recover"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    store.commit(conformance_commit(&id)).await.unwrap();
    for id in &acknowledged {
        assert!(store.history(id).unwrap().is_some(), "{id} survived");
    }
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { .. }
    ));

    assert!(path.join("reserve").is_file(), "the reserve is back");

    // And everything acknowledged is there after a restart.
    drop(store);
    let store = SledStore::open(options).unwrap();
    for id in acknowledged.iter().chain([&id]) {
        assert!(store.history(id).unwrap().is_some(), "{id} after reopening");
    }
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { .. }
    ));
}

#[tokio::test]
async fn a_new_store_keeps_pages_in_the_log_and_an_old_one_keeps_its_segments() {
    let (dir, store) = fresh();
    let path = store.path().to_owned();
    // A referral with a bundle of about 1 MiB: on 512 KiB segments sled
    // would write its pages to blob files, which are not crash-safe.
    let id: ReferralId = "01JD0000000000000000000001".parse().unwrap();
    let mut commit = conformance_commit(&id);
    if let Some(mediation_core::lifecycle::Change::Received { bundle, .. }) =
        commit.events.first_mut().map(|e| &mut e.change)
    {
        let long = mediation_core::fixtures::narrative(&"长".repeat(20_000));
        bundle.summary = Some(long.clone());
        let mut claim = bundle.claims[0].clone();
        claim.description = long;
        bundle.claims = vec![claim; 16];
    }
    store.commit(commit).await.unwrap();
    drop(store);
    assert_eq!(existing_segment_size(&path), Some(NEW_STORE_SEGMENT_BYTES));
    let blobs = std::fs::read_dir(path.join("blobs")).map_or(0, |d| d.count());
    assert_eq!(blobs, 0, "a page of a new store went to a blob file");
    drop(dir);

    // A store made before, with sled's 512 KiB segments, opens as it is.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old");
    drop(
        sled::Config::new()
            .path(&path)
            .segment_size(512 * 1024)
            .open()
            .unwrap(),
    );
    assert_eq!(existing_segment_size(&path), Some(512 * 1024));
    let _ = crate::sled_config(&StoreOptions::new(&path))
        .open()
        .unwrap();
}
