//! The sled store against the conformance suite, and what is particular to it:
//! reopening, the schema check, group commit and audit tampering.

use crate::keys::Table;
use mediation_core::audit::{AuditRecord, AuditVerification};
use mediation_core::ids::ReferralId;
use mediation_core::lifecycle::Event;
use mediation_core::outbox::Destination;
use mediation_core::store::{
    AuditLog, Commit, CourtKey, DeliveryOutcome, OutboxStore, ReferralStore,
};
use mediation_core::timer::{Timer, TimerKind};

use super::*;

/// The raw sled database of a closed store, waiting (as the store does) for
/// the lock a just-dropped handle's background threads may still hold
/// (sled #1234): opened at once, the test would fail when the machine is
/// busy.
fn open_raw(path: &std::path::Path) -> sled::Db {
    let options = StoreOptions::new(path);
    match crate::open_waiting_for_lock(
        || crate::sled_config(&options).open(),
        std::time::Duration::from_secs(10),
    ) {
        Ok(db) => db,
        Err(crate::Opening::Locked) => panic!("{}: still locked after 10 s", path.display()),
        Err(crate::Opening::Failed(e)) => panic!("{}: {e}", path.display()),
    }
}

/// Changes a closed store's raw keys, as an older build or a fault would
/// have left them, and syncs.
fn rewrite_raw(path: &std::path::Path, change: impl FnOnce(&sled::Db)) {
    let db = open_raw(path);
    change(&db);
    db.flush().unwrap();
}

/// Removes every key under each of `prefixes`; returns how many there were.
fn remove_prefixes(db: &sled::Db, prefixes: &[&[u8]]) -> usize {
    let keys: Vec<_> = prefixes
        .iter()
        .flat_map(|prefix| db.scan_prefix(prefix))
        .map(|entry| entry.unwrap().0)
        .collect();
    for key in &keys {
        db.remove(key).unwrap();
    }
    keys.len()
}

fn fresh() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap();
    (dir, store)
}

#[tokio::test]
async fn sled_store_conforms() {
    let mut dirs = Vec::new();
    mediation_store_conformance::run_all(|| {
        let (dir, store) = fresh();
        dirs.push(dir);
        std::future::ready(store)
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
    rewrite_raw(&path, |db| {
        let removed = remove_prefixes(db, &[b"y/"]);
        assert_eq!(removed, 3, "one key per referral and day");
        db.remove(keys::ACTIVITY_INDEXED).unwrap();
    });
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
        commit.state = r.state();
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
    rewrite_raw(&path, |db| {
        remove_prefixes(db, &[b"l/"]);
        db.remove(keys::LOADS_KEPT).unwrap();
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    let mut counted = store.loads().unwrap();
    counted.sort();
    assert_eq!(counted, kept, "the same counts, from the histories");
    let check = store.verify_histories().unwrap();
    assert_eq!((check.load_mismatches, check.open), (vec![], 3));
    drop(store);
    // A count that drifted from the histories is named by verify.
    rewrite_raw(&path, |db| {
        db.insert(keys::load(&organisation("org-a")), &5u64.to_be_bytes())
            .unwrap();
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    let check = store.verify_histories().unwrap();
    assert_eq!(
        (check.load_mismatches, check.open),
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
    let received = Event {
        at: at("2025-03-03T09:00:00+08:00"),
        change: Change::Received {
            id: r.clone(),
            bundle: Box::new(sample_bundle()),
        },
    };
    Commit {
        trace: None,
        delivered: None,
        state: mediation_core::Referral::replay(std::slice::from_ref(&received))
            .unwrap()
            .state(),
        loads: vec![],
        referral: r.clone(),
        expected_version: 0,
        at: at("2025-03-03T09:00:00+08:00"),
        events: vec![received],
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

/// The backlog is read from counts each write keeps, not from a walk of the
/// outbox; the counts must stay what the messages say through every
/// outcome, be made once for a store written before them, and a count
/// that drifted must be named.
#[tokio::test]
async fn the_backlog_is_kept_with_each_write_and_counted_once_for_an_older_store() {
    use mediation_core::alert::{AlertKind, AlertRecord};
    use mediation_core::fixtures::at;
    use mediation_core::outbox::{Destination, OutboundMessage};
    use mediation_core::partner::Partner;
    use mediation_core::store::{DeliveryOutcome, OutboxStore as _};
    let (_dir, store) = fresh();
    let path = store.path().to_owned();
    let message = |r: &ReferralId, destination: Destination| OutboundMessage {
        destination,
        referral: r.clone(),
        court_referral_id: "court-ref".parse().unwrap(),
        event: conformance_commit(r).events[0].clone(),
        bundle: None,
        holder: None,
    };
    for n in 1..=5u32 {
        let r: ReferralId = format!("01JD{n:022}").parse().unwrap();
        let mut commit = conformance_commit(&r);
        commit.messages = vec![
            message(&r, Destination::Partner(Partner::Ccpit)),
            message(&r, Destination::Partner(Partner::Ccpit)),
            message(&r, Destination::Partner(Partner::RoadTraffic)),
        ];
        ReferralStore::commit(&store, commit).await.unwrap();
    }
    let now = at("2025-03-04T09:00:00+08:00");
    let heads = store.due_deliveries(now, 100).await.unwrap();
    assert_eq!(heads.len(), 10);
    for (i, head) in heads.iter().enumerate() {
        let outcome = match i % 3 {
            0 => DeliveryOutcome::Delivered,
            1 => DeliveryOutcome::Dead {
                at: now,
                error: "refused".into(),
                alert: AlertRecord {
                    kind: AlertKind::DeadLetter,
                    raised_at: now,
                    referral: None,
                    due_at: None,
                    detail: "dead".into(),
                    subject: None,
                },
            },
            _ => DeliveryOutcome::Retry {
                at: now,
                error: "busy".into(),
            },
        };
        OutboxStore::record_delivery(&store, &head.id, outcome)
            .await
            .unwrap();
    }
    let dead = store.dead_letters(10).unwrap();
    OutboxStore::replay_dead_letter(&store, &dead[0].id, now)
        .await
        .unwrap();
    let kept = store.backlog().unwrap();
    // 15 messages; of the 10 lane heads, 4 delivered, 3 dead (one of them
    // replayed) and 3 to be retried.
    let total = |b: &[mediation_core::store::Backlog]| {
        b.iter()
            .fold((0, 0), |(p, d), b| (p + b.pending, d + b.dead))
    };
    assert_eq!(total(&kept), (9, 2));
    assert_eq!(
        kept.iter()
            .map(|b| b.destination.as_str())
            .collect::<Vec<_>>(),
        ["partner:ccpit", "partner:road_traffic"]
    );
    assert_eq!(store.verify_backlog().unwrap(), vec![]);
    drop(store);

    // As schema 6 left it: every waiting message in the order of arrival.
    // Schema 7 keeps the six that failed (three retried, two dead, one
    // replayed), and an interrupted migration is finished at the next open.
    let as_schema_6 = || {
        rewrite_raw(&path, |db| {
            assert_eq!(db.scan_prefix(b"w/").count(), 6);
            for entry in db.scan_prefix(b"o/") {
                let (key, _) = entry.unwrap();
                let n = keys::trailing_seq(&key).unwrap();
                db.insert(keys::waiting(&key, n), key.to_vec()).unwrap();
            }
            db.insert(keys::SCHEMA, &6u32.to_be_bytes()).unwrap();
        })
    };
    as_schema_6();
    assert_eq!(open_raw(&path).scan_prefix(b"w/").count(), 11);
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(
        store.backlog().unwrap(),
        kept,
        "the same after the migration"
    );
    assert_eq!(store.verify_backlog().unwrap(), vec![]);
    drop(store);
    as_schema_6();
    rewrite_raw(&path, |db| {
        let done = crate::migrate_v7::to_schema_7_stopping(db, &path, 2, 1).unwrap();
        assert_eq!(done.removed, 2, "one batch of two");
        assert_eq!(
            db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
            &7u32.to_be_bytes(),
            "a build of schema 6 refuses it from the first batch on"
        );
        assert!(db.get(keys::MIGRATING_ARRIVALS).unwrap().is_some());
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(store.backlog().unwrap(), kept);
    assert_eq!(store.verify_backlog().unwrap(), vec![]);
    drop(store);
    let db = open_raw(&path);
    assert_eq!(db.scan_prefix(b"w/").count(), 6);
    assert_eq!(db.get(keys::MIGRATING_ARRIVALS).unwrap(), None);
    drop(db);

    // An entry for a message that never failed is named by `store verify`.
    rewrite_raw(&path, |db| {
        let (key, _) = db
            .scan_prefix(b"o/")
            .map(Result::unwrap)
            .find(|(_, value)| {
                !mediation_records::decode_delivery_state(value)
                    .unwrap()
                    .failed
            })
            .unwrap();
        let n = keys::trailing_seq(&key).unwrap();
        db.insert(keys::waiting(&key, n), key.to_vec()).unwrap();
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    let named = store.verify_backlog().unwrap();
    assert_eq!(named.len(), 1, "{named:?}");
    assert!(
        named[0]
            .destination
            .contains("1 for messages that never failed"),
        "{named:?}"
    );
    assert_eq!((named[0].kept, named[0].counted), ([7, 0], [6, 0]));
    drop(store);
    rewrite_raw(&path, |db| {
        // Put back as it was.
        let stray: Vec<_> = db
            .scan_prefix(b"w/")
            .map(Result::unwrap)
            .filter(|(_, message)| {
                !mediation_records::decode_delivery_state(&db.get(message).unwrap().unwrap())
                    .unwrap()
                    .failed
            })
            .collect();
        assert_eq!(stray.len(), 1);
        db.remove(&stray[0].0).unwrap();
    });

    // As an older build left it: no counts, no order of arrival, no marker.
    rewrite_raw(&path, |db| {
        let removed = remove_prefixes(db, &[b"n/", b"w/"]);
        assert_eq!(removed, 2 + 6, "two counts and six that failed");
        db.remove(keys::BACKLOG_KEPT).unwrap();
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(store.backlog().unwrap(), kept, "the same, counted at open");
    assert_eq!(store.verify_backlog().unwrap(), vec![]);
    drop(store);

    // A count that drifted from the messages is named.
    rewrite_raw(&path, |db| {
        db.insert(
            keys::backlog(b"partner:ccpit"),
            &crate::writer::encode_backlog([9, 1])[..],
        )
        .unwrap();
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(
        store.verify_backlog().unwrap(),
        [crate::BacklogMismatch {
            destination: "partner:ccpit".into(),
            kept: [9, 1],
            counted: [7, 1],
        }]
    );
}

#[tokio::test]
async fn an_unknown_schema_version_is_refused() {
    let (dir, store) = fresh();
    let path = store.path().to_owned();
    drop(store);
    let next = SCHEMA_VERSION + 1;
    rewrite_raw(&path, |db| {
        db.insert(keys::SCHEMA, &next.to_be_bytes()).unwrap();
    });
    let err = SledStore::open(StoreOptions::new(&path)).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::UnsupportedSchema {
                found,
                supported: SCHEMA_VERSION,
                ..
            } if found == next
        ),
        "{err}"
    );
    assert!(
        err.to_string().contains(&format!("schema version {next}")),
        "{err}"
    );
    drop(dir);
}

/// Writes a store of schema 4 back in the keys of schema 3 (and its
/// snapshots back in schema 2's records when `schema` is 2): messages
/// grouped by destination with their `p/` index, timers found through
/// their `T/` index, heads without timers.
fn write_back_as(db: &sled::Db, schema: u32) {
    use crate::format::{head_value_v3, read_head};
    let mut moved = Vec::new();
    for entry in db.scan_prefix(b"o/") {
        let (key, value) = entry.unwrap();
        let referral = keys::referral_of_message(&key).unwrap();
        let n = keys::trailing_seq(&key).unwrap();
        let destination = String::from_utf8(keys::destination_in(&key).to_vec()).unwrap();
        let mut old = format!("o/{destination}\0{referral}\0").into_bytes();
        old.extend_from_slice(keys::seq(n).as_bytes());
        moved.push((key.to_vec(), old, value.to_vec(), referral, n));
    }
    for (key, old, value, referral, n) in moved {
        db.remove(&key).unwrap();
        db.insert(&old, value).unwrap();
        db.insert(keys::v3::referral_message(&referral, n), old.clone())
            .unwrap();
        for index in [&b"s/"[..], b"w/", b"d/"] {
            for entry in db.scan_prefix(index) {
                let (k, v) = entry.unwrap();
                if v.as_ref() == key.as_slice() {
                    db.insert(k, old.clone()).unwrap();
                }
            }
        }
    }
    for entry in db.scan_prefix(b"r/") {
        let (key, value) = entry.unwrap();
        let referral = keys::referral_of_head(&key).unwrap();
        let head = read_head(&key, &value).unwrap();
        for (kind, at) in &head.timers {
            db.insert(
                keys::v3::timer_ref(&referral, *kind),
                keys::timer(*at, &referral, *kind),
            )
            .unwrap();
        }
        let mut snapshot = head.snapshot.to_vec();
        if schema == 2 {
            // A snapshot of schema 3 with no court's wait is schema 2's
            // bytes, a version byte of 3 and a trailing 0 for the absent
            // wait (postcard writes fields in order).
            assert_eq!(snapshot[0], 3);
            assert_eq!(snapshot.last(), Some(&0));
            snapshot.pop();
            snapshot[0] = 2;
        }
        db.insert(&key, head_value_v3(head.version, &snapshot))
            .unwrap();
    }
    db.insert(keys::SCHEMA, &schema.to_be_bytes()).unwrap();
}

/// Everything a store answers about its referrals and outbox, to compare
/// before and after a migration.
async fn everything(store: &SledStore, ids: &[ReferralId]) -> String {
    let mut seen = String::new();
    for id in ids {
        seen += &format!(
            "{:?}\n{:?}\n{:?}\n",
            store.referral(id).unwrap(),
            store.history(id).unwrap(),
            store.pending_messages(id).unwrap()
        );
    }
    seen += &format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n",
        store
            .due_timers(
                mediation_core::fixtures::at("2100-01-01T00:00:00Z"),
                usize::MAX
            )
            .unwrap(),
        OutboxStore::due_deliveries(
            store,
            mediation_core::fixtures::at("2100-01-01T00:00:00Z"),
            usize::MAX
        )
        .await
        .unwrap(),
        store.dead_letters(usize::MAX).unwrap(),
        store.backlog().unwrap(),
        store.loads().unwrap(),
        // The chain verifies and holds the same records; a migration to
        // schema 6 re-chains it and appends the entry that says so.
        matches!(
            store.verify_audit().unwrap(),
            AuditVerification::Intact { .. }
        ),
        store
            .audit_entries(0, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|e| e.record)
            .filter(|r| !r.action.starts_with("rechain_audit"))
            .collect::<Vec<_>>(),
    );
    seen
}

/// A store of schema 3 (or 2) moves its keys at its first open by this
/// build, and answers every read as it did: referrals, histories, messages
/// pending and dead, timers, counts, the audit chain.
#[tokio::test]
async fn a_store_of_schemas_2_and_3_moves_to_schema_4_and_loses_nothing() {
    use mediation_store_conformance::{follow_up, id, new_referral};
    for schema in [3u32, 2] {
        let (dir, store) = fresh();
        let path = store.path().to_owned();
        let ids: Vec<ReferralId> = (1..=5).map(id).collect();
        for r in &ids {
            let court = Destination::Court(mediation_core::fixtures::court("京0105"));
            let timer = |kind, minutes| Timer {
                referral: r.clone(),
                kind,
                fire_at: mediation_store_conformance::later(minutes),
            };
            let mut first = new_referral(r);
            first.messages = vec![
                mediation_store_conformance::message(
                    r,
                    mediation_store_conformance::ccpit(),
                    "offer",
                ),
                mediation_store_conformance::message(r, court.clone(), "notice"),
            ];
            first.timers = vec![
                timer(TimerKind::AcceptanceWarning, 10),
                timer(TimerKind::AcceptanceBreach, 20),
            ];
            store.commit(first).await.unwrap();
            let mut second = follow_up(r, 1, "second");
            second.messages = vec![mediation_store_conformance::message(r, court, "again")];
            second.timers = vec![
                timer(TimerKind::AcceptanceBreach, 20),
                timer(TimerKind::MediationBreach, 30),
            ];
            store.commit(second).await.unwrap();
        }
        // One message delivered, one dead: every index the move touches.
        let pending = store.pending_messages(&ids[0]).unwrap();
        OutboxStore::record_delivery(&store, &pending[0].id, DeliveryOutcome::Delivered)
            .await
            .unwrap();
        let pending = store.pending_messages(&ids[1]).unwrap();
        OutboxStore::record_delivery(
            &store,
            &pending[0].id,
            DeliveryOutcome::Dead {
                at: mediation_core::fixtures::at("2025-03-04T00:00:00Z"),
                error: "refused".into(),
                alert: mediation_store_conformance::alert("dead"),
            },
        )
        .await
        .unwrap();
        let before = everything(&store, &ids).await;
        assert!(before.contains("Dead") || !store.dead_letters(10).unwrap().is_empty());
        drop(store);
        rewrite_raw(&path, |db| write_back_as(db, schema));
        {
            let db = open_raw(&path);
            assert!(db.scan_prefix(b"T/").next().is_some());
            assert!(db.scan_prefix(b"p/").next().is_some());
        }
        let store = SledStore::open(StoreOptions::new(&path)).unwrap();
        assert_eq!(
            everything(&store, &ids).await,
            before,
            "from schema {schema}"
        );
        // The moved store takes writes as a new one would.
        let pending = store.pending_messages(&ids[1]).unwrap();
        OutboxStore::replay_dead_letter(
            &store,
            &pending[0].id,
            mediation_core::fixtures::at("2025-03-05T00:00:00Z"),
        )
        .await
        .unwrap();
        store.commit(follow_up(&ids[2], 2, "third")).await.unwrap();
        assert!(store.verify_backlog().unwrap().is_empty());
        assert!(
            store
                .verify_histories()
                .unwrap()
                .snapshot_mismatches
                .is_empty()
        );
        drop(store);
        let db = open_raw(&path);
        assert_eq!(
            db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
            &SCHEMA_VERSION.to_be_bytes()
        );
        assert!(db.scan_prefix(b"T/").next().is_none());
        assert!(db.scan_prefix(b"p/").next().is_none());
        assert!(db.get(b"m/migrating/heads").unwrap().is_none());
        drop(db);
        drop(dir);
    }
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
    let _ = open_raw(&path);
}

/// A store as a build of the first format (schema 1) wrote it: every value
/// the domain types' JSON, a referral's bundle inside its receipt and every
/// offer, the audit chain hashed over the records' JSON; and, as a build
/// before the activity index and the kept loads left it, neither.
fn write_first_format_store(path: &std::path::Path) -> Vec<(mediation_core::Referral, Vec<Event>)> {
    use mediation_core::alert::{Acknowledgement, Alert, alerts_for};
    use mediation_core::audit::{AuditEntry, AuditRecord};
    use mediation_core::outbox::messages_for;
    use mediation_core::store::{MessageId, PendingDelivery};
    let json = |v: &dyn erased::Json| v.json();
    let db = open_raw(path);
    db.insert(keys::SCHEMA, &FIRST_SCHEMA_VERSION.to_be_bytes())
        .unwrap();
    let histories = mediation_core::fixtures::sample_histories();
    let (mut outbox_seq, mut alert_seq) = (0_u64, 0_u64);
    let mut lanes = std::collections::HashSet::new();
    let mut last_hash = "0".repeat(64);
    let mut audit_seq = 0_u64;
    for (referral, history) in &histories {
        let id = referral.id();
        db.insert(
            keys::head(id),
            json(&serde_json::json!({ "version": history.len() })),
        )
        .unwrap();
        db.insert(
            keys::court(&CourtKey {
                court: referral.bundle().court.clone(),
                court_referral_id: referral.bundle().court_referral_id.clone(),
                filed_by: None,
            }),
            id.as_str().as_bytes(),
        )
        .unwrap();
        let mut replayed = mediation_core::Referral::replay(&history[..1]).unwrap();
        for (n, event) in history.iter().enumerate() {
            db.insert(keys::event(id, n as u64 + 1), json(event))
                .unwrap();
            if n > 0 {
                replayed.apply(event);
            }
            for message in messages_for(&replayed, std::slice::from_ref(event)) {
                outbox_seq += 1;
                let lane = keys::v3::lane(&message.destination, id);
                let key = keys::message(&lane, outbox_seq);
                let pending = PendingDelivery {
                    id: MessageId(format!("{id}-{}", keys::seq(outbox_seq))),
                    message,
                    enqueued_at: event.at,
                    attempts: 0,
                    next_attempt_at: event.at,
                    last_error: None,
                    trace: None,
                    dead_at: None,
                };
                db.insert(&key, json(&pending)).unwrap();
                db.insert(format!("i/{}", keys::seq(outbox_seq)), key.clone())
                    .unwrap();
                db.insert(keys::v3::referral_message(id, outbox_seq), key.clone())
                    .unwrap();
                if lanes.insert(lane) {
                    // The first format's schedule: one for all
                    // destinations, by due time.
                    let schedule =
                        format!("s/{}/{}", keys::instant(event.at), keys::seq(outbox_seq))
                            .into_bytes();
                    db.insert(format!("S/{}", keys::seq(outbox_seq)), schedule.clone())
                        .unwrap();
                    db.insert(schedule, key).unwrap();
                }
            }
            for record in alerts_for(id, std::slice::from_ref(event)) {
                alert_seq += 1;
                db.insert(
                    keys::alert(alert_seq),
                    json(&Alert {
                        seq: alert_seq,
                        record,
                    }),
                )
                .unwrap();
            }
            let record = AuditRecord {
                at: event.at,
                actor: "tenant=court-bj".into(),
                action: event.change.name().into(),
                referral: Some(id.clone()),
                outcome: "ok".into(),
            };
            let hash = crate::format::chain_hash(
                audit_seq,
                &last_hash,
                &crate::v1::audit_record_bytes(&record),
            );
            db.insert(
                keys::audit(audit_seq),
                json(&AuditEntry {
                    seq: audit_seq,
                    record,
                    prev_hash: last_hash.clone(),
                    hash: hash.clone(),
                    detail_purged: false,
                }),
            )
            .unwrap();
            audit_seq += 1;
            last_hash = hash;
        }
        for timer in referral.timers() {
            let key = keys::timer(timer.fire_at, id, timer.kind);
            db.insert(keys::v3::timer_ref(id, timer.kind), key.clone())
                .unwrap();
            db.insert(key, json(&timer)).unwrap();
        }
    }
    alert_seq += 1;
    db.insert(
        keys::alert(alert_seq),
        json(&Alert {
            seq: alert_seq,
            record: mediation_core::alert::AlertRecord {
                kind: mediation_core::alert::AlertKind::DestinationUnreachable,
                raised_at: mediation_core::fixtures::days_after_t0(2),
                referral: None,
                due_at: None,
                detail: "partner:ccpit does not answer".into(),
                subject: Some("partner:ccpit".into()),
            },
        }),
    )
    .unwrap();
    assert!(outbox_seq > 0);
    db.insert(
        keys::acknowledgement(1),
        json(&Acknowledgement {
            by: "operators/alice".into(),
            at: mediation_core::fixtures::days_after_t0(3),
            note: "已联系".into(),
        }),
    )
    .unwrap();
    db.insert(
        keys::AUDIT_HEAD,
        json(&serde_json::json!({ "next_seq": audit_seq, "last_hash": last_hash })),
    )
    .unwrap();
    db.insert(keys::OUTBOX_SEQ, &outbox_seq.to_be_bytes())
        .unwrap();
    db.insert(keys::ALERT_SEQ, &alert_seq.to_be_bytes())
        .unwrap();
    db.flush().unwrap();
    histories
}

/// Type-erased JSON for the first-format writer above.
mod erased {
    pub(super) trait Json {
        fn json(&self) -> Vec<u8>;
    }
    impl<T: serde::Serialize> Json for T {
        fn json(&self) -> Vec<u8> {
            serde_json::to_vec(self).unwrap()
        }
    }
}

#[tokio::test]
async fn a_first_format_store_is_migrated_on_open_and_loses_nothing() {
    use mediation_core::store::OutboxStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let histories = write_first_format_store(&path);
    // What the first format's store holds, read the way it was written.
    let (messages_before, timers_before) = {
        let db = open_raw(&path);
        let messages: Vec<mediation_core::store::PendingDelivery> = db
            .scan_prefix(b"o/")
            .map(|e| {
                let (k, v) = e.unwrap();
                crate::v1::decode(&k, &v).unwrap()
            })
            .collect();
        (messages, db.scan_prefix(b"t/").count())
    };

    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    for (referral, history) in &histories {
        let id = referral.id();
        assert_eq!(&store.history(id).unwrap().unwrap(), history, "{id}");
        assert_eq!(&store.referral(id).unwrap().unwrap(), referral, "{id}");
    }
    let mut messages_after = Vec::new();
    for (referral, _) in &histories {
        messages_after.extend(store.pending_messages(referral.id()).unwrap());
    }
    let mut before = messages_before.clone();
    before.sort_by(|a, b| a.id.cmp(&b.id));
    messages_after.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(messages_after, before, "every message, bundle and all");
    let far = mediation_core::fixtures::days_after_t0(10_000);
    assert_eq!(
        store.due_timers(far, usize::MAX).unwrap().len(),
        timers_before
    );
    let due = store.due_deliveries(far, usize::MAX).await.unwrap();
    assert_eq!(
        due.len(),
        before
            .iter()
            .map(|m| (m.message.destination.key(), m.message.referral.clone()))
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        "every lane's head is in its destination's schedule"
    );
    assert!(store.next_delivery_at().unwrap().is_some());
    let alerts = store.alerts_after(0, usize::MAX).unwrap();
    assert!(!alerts.is_empty());
    assert_eq!(alerts[0].seq, 1);
    assert_eq!(
        store.acknowledgement(1).unwrap().unwrap().by,
        "operators/alice"
    );
    // The chain was checked over the first format's JSON, re-chained in
    // audit record version 3, and closed by the entry that says so.
    let entries = histories.iter().map(|(_, h)| h.len() as u64).sum::<u64>() + 1;
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries },
        "the chain hashed over the first format's JSON was re-chained whole"
    );
    let last = store.audit_entries(entries - 1, 1).unwrap();
    assert!(
        last[0]
            .record
            .action
            .starts_with(&format!("rechain_audit: entries 0..{}", entries - 1))
    );
    let check = store.verify_histories().unwrap();
    assert_eq!(check.load_mismatches, vec![]);
    assert_eq!(check.snapshot_mismatches, Vec::<ReferralId>::new());
    assert_eq!(check.referrals, histories.len() as u64);
    assert_eq!(
        check.open,
        store.loads().unwrap().iter().map(|(_, n)| n).sum::<u64>()
    );
    // The chain goes on in the new format.
    store
        .append_audit(vec![mediation_core::audit::AuditRecord {
            at: far,
            actor: "operators/alice".into(),
            action: "after migration".into(),
            referral: None,
            outcome: "ok".into(),
        }])
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact {
            entries: entries + 1
        }
    );
    drop(store);
    // Nothing of the first format is left, and the schema says so.
    let db = open_raw(&path);
    assert_eq!(
        db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
        &SCHEMA_VERSION.to_be_bytes()
    );
    let first_format: Vec<String> = db
        .iter()
        .map(|e| e.unwrap())
        .filter(|(_, v)| mediation_records::is_first_format(v))
        .map(|(k, _)| String::from_utf8_lossy(&k).into_owned())
        .collect();
    assert_eq!(first_format, Vec::<String>::new());
    // Nor its indexes that the keys now make needless.
    assert_eq!(db.scan_prefix(b"i/").count(), 0);
    assert_eq!(db.scan_prefix(b"S/").count(), 0);
    drop(db);
    drop(dir);
}

#[tokio::test]
async fn an_interrupted_migration_is_finished_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let histories = write_first_format_store(&path);
    // Half the referrals and none of the rest were rewritten when the
    // migration stopped: the schema still says 1.
    {
        let db = open_raw(&path);
        let (referral, history) = &histories[0];
        let id = referral.id();
        for (n, event) in history.iter().enumerate() {
            db.insert(
                keys::event(id, n as u64 + 1),
                mediation_records::encode_event(event),
            )
            .unwrap();
        }
        db.insert(
            keys::bundle(id),
            mediation_records::encode_bundle(referral.bundle()),
        )
        .unwrap();
        db.insert(
            keys::head(id),
            crate::format::head_value_v3(
                referral.version(),
                &mediation_records::encode_snapshot(&referral.state()),
            ),
        )
        .unwrap();
        db.flush().unwrap();
    }
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    for (referral, history) in &histories {
        assert_eq!(&store.history(referral.id()).unwrap().unwrap(), history);
        assert_eq!(&store.referral(referral.id()).unwrap().unwrap(), referral);
    }
    drop(store);
    drop(dir);
}

/// Once enough is written, the writer reopens the store at a quiet moment,
/// so that a restart replays only what came after: everything written
/// before stays readable, and writes go on.
#[tokio::test]
async fn the_writer_checkpoints_once_enough_is_written_and_loses_nothing() {
    use mediation_store_conformance::{follow_up, id, new_referral};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let options = StoreOptions {
        checkpoint_bytes: 16 * 1024,
        ..StoreOptions::new(&path)
    };
    let store = SledStore::open(options.clone()).unwrap();
    let ids: Vec<ReferralId> = (1..=40).map(id).collect();
    for r in &ids {
        store.commit(new_referral(r)).await.unwrap();
    }
    let mut waited = 0;
    while store.commit_stats().checkpoints() == 0 && waited < 500 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    assert!(
        store.commit_stats().checkpoints() >= 1,
        "no checkpoint after 5 s"
    );
    // Reads and writes carry on through the new handle.
    for r in &ids {
        assert_eq!(store.referral(r).unwrap().unwrap().version(), 1);
        store.commit(follow_up(r, 1, "after")).await.unwrap();
    }
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 40 }
    ));
    drop(store);
    let store = SledStore::open(options).unwrap();
    for r in &ids {
        assert_eq!(store.history(r).unwrap().unwrap().len(), 2);
    }
    drop(dir);
}

/// A store written to steadily is not quiet between its writes: it takes
/// its checkpoint once left alone for `checkpoint_quiet`, and, under
/// writes that leave it no such pause, once half as much again as
/// `checkpoint_bytes` is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_waits_for_the_writer_to_be_left_alone() {
    use mediation_store_conformance::{id, new_referral};
    use std::time::{Duration, Instant};
    // What one referral's commit writes, in the bytes checkpoints count.
    let dir = tempfile::tempdir().unwrap();
    let probe = SledStore::open(StoreOptions::new(dir.path().join("probe"))).unwrap();
    probe.commit(new_referral(&id(1))).await.unwrap();
    let one = probe.commit_stats().bytes_written();
    drop(probe);
    assert!(one > 0);
    let quiet = Duration::from_secs(2);
    let store = SledStore::open(StoreOptions {
        checkpoint_bytes: 4 * one,
        checkpoint_quiet: quiet,
        ..StoreOptions::new(dir.path().join("store"))
    })
    .unwrap();
    // A commit, then 50 ms; when its answer came.
    let steady = |n: u32| {
        let store = store.clone();
        async move {
            store.commit(new_referral(&id(n))).await.unwrap();
            let answered = Instant::now();
            std::thread::sleep(Duration::from_millis(50));
            answered
        }
    };
    // Past the amount, never more than 50 ms apart: no checkpoint.
    let mut last_write = Instant::now();
    for n in 10..15 {
        last_write = steady(n).await;
    }
    let written = store.commit_stats().bytes_written();
    assert!((4 * one..6 * one).contains(&written), "{written} of {one}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        store.commit_stats().checkpoints(),
        0,
        "taken between writes"
    );
    // Left alone: taken.
    while store.commit_stats().checkpoints() == 0 && last_write.elapsed() < quiet * 3 {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        store.commit_stats().checkpoints(),
        1,
        "not taken when quiet"
    );
    // Not before the quiet period, give or take the answer's way back.
    assert!(last_write.elapsed() + Duration::from_millis(100) >= quiet);
    // Writes that leave no quiet pause: taken at half as much again, without
    // waiting for a pause that does not come.
    let mut n = 20;
    while store.commit_stats().checkpoints() == 1 {
        assert!(n < 40, "no checkpoint after {} commits", n - 20);
        steady(n).await;
        n += 1;
    }
    assert!(n - 20 >= 6, "taken after {} commits", n - 20);
    // Everything written before and after reads.
    for r in (10..15).chain(20..n) {
        assert_eq!(store.referral(&id(r)).unwrap().unwrap().version(), 1);
    }
}

/// Under writes that never stop, with readers reading all along, the
/// writer still checkpoints, and no read or write fails for it: readers
/// wait for the new handle.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoints_under_load_fail_no_reader_and_no_writer() {
    use mediation_store_conformance::{follow_up, id, new_referral};
    let dir = tempfile::tempdir().unwrap();
    let options = StoreOptions {
        checkpoint_bytes: 8 * 1024,
        ..StoreOptions::new(dir.path().join("store"))
    };
    let store = SledStore::open(options).unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    for writer in 0..4u32 {
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let r = id(1_000 * (writer + 1) + n);
                store.commit(new_referral(&r)).await.unwrap();
                store.commit(follow_up(&r, 1, "more")).await.unwrap();
                n += 1;
            }
            n
        }));
    }
    for _ in 0..2 {
        let (store, stop) = (store.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut reads = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store.referral(&id(1_000)).unwrap();
                store.backlog().unwrap();
                reads += 1;
                tokio::task::yield_now().await;
            }
            reads
        }));
    }
    let mut waited = 0;
    while store.commit_stats().checkpoints() < 3 && waited < 1_000 {
        std::thread::sleep(std::time::Duration::from_millis(10));
        waited += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut written = 0;
    for task in tasks {
        written += task.await.unwrap();
    }
    assert!(
        store.commit_stats().checkpoints() >= 3,
        "{} checkpoints",
        store.commit_stats().checkpoints()
    );
    assert!(written > 0);
    assert!(
        store
            .verify_histories()
            .unwrap()
            .snapshot_mismatches
            .is_empty()
    );
}

#[tokio::test]
async fn a_store_of_schema_4_opens_as_schema_6_with_only_its_audit_chain_rewritten() {
    use mediation_store_conformance::{follow_up, id, new_referral};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    let r = id(5);
    let (history, referral) = {
        let store = SledStore::open(StoreOptions::new(&path)).unwrap();
        store.commit(new_referral(&r)).await.unwrap();
        store.commit(follow_up(&r, 1, "kept")).await.unwrap();
        let read = (
            store.history(&r).unwrap().unwrap(),
            store.referral(&r).unwrap().unwrap(),
        );
        drop(store);
        read
    };
    let mut before = Vec::new();
    rewrite_raw(&path, |db| {
        db.insert(keys::SCHEMA, &4u32.to_be_bytes()).unwrap();
        before = db.iter().map(|e| e.unwrap()).collect::<Vec<_>>();
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(store.history(&r).unwrap().unwrap(), history);
    assert_eq!(store.referral(&r).unwrap().unwrap(), referral);
    drop(store);
    let db = open_raw(&path);
    assert_eq!(
        db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
        &SCHEMA_VERSION.to_be_bytes()
    );
    // Every key and value but the audit chain's is as schema 4 left it.
    let after: Vec<_> = db.iter().map(|e| e.unwrap()).collect();
    let strip = |all: &[(sled::IVec, sled::IVec)]| {
        all.iter()
            .filter(|(k, _)| {
                k.as_ref() != keys::SCHEMA
                    && k.as_ref() != keys::AUDIT_HEAD
                    && Table::of_key(k) != Some(Table::Audit)
            })
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(&after), strip(&before));
}

/// A chain as raw keys and values: its links, and its head.
type RawChain = (Vec<(Vec<u8>, Vec<u8>)>, Vec<u8>);

/// A chain of version 2 audit records (hashed whole), as a store of schema
/// 5 or before holds it.
fn version_2_chain(outcomes: &[&str], tamper: Option<usize>) -> RawChain {
    let mut last = mediation_core::store::genesis_hash();
    let mut links = Vec::new();
    for (seq, outcome) in outcomes.iter().enumerate() {
        let record = mediation_records::encode_audit_record_version_2(&AuditRecord {
            at: jiff::Timestamp::from_second(1_741_000_000 + seq as i64).unwrap(),
            ..mediation_store_conformance::refused(outcome)
        });
        assert_eq!(record[0], 2);
        let mut hash = format::chain_hash(seq as u64, &last, &record);
        if tamper == Some(seq) {
            hash = "f".repeat(64);
        }
        let link = format::AuditLink {
            prev_hash: std::mem::replace(&mut last, hash.clone()),
            hash,
            record,
        };
        links.push((
            keys::audit(seq as u64),
            mediation_records::encode_plain(&link),
        ));
    }
    let head = mediation_records::encode_plain(&format::AuditHead {
        next_seq: outcomes.len() as u64,
        last_hash: last,
    });
    (links, head)
}

/// Puts a version 2 chain in a closed store and moves its schema back to 5.
fn as_schema_5_with(path: &std::path::Path, chain: RawChain) {
    rewrite_raw(path, |db| {
        for key in db.scan_prefix(Table::Audit.prefix()).keys() {
            db.remove(key.unwrap()).unwrap();
        }
        for (key, value) in chain.0 {
            db.insert(key, value).unwrap();
        }
        db.insert(keys::AUDIT_HEAD, chain.1).unwrap();
        db.insert(keys::SCHEMA, &5u32.to_be_bytes()).unwrap();
    });
}

#[tokio::test]
async fn a_store_of_schema_5_has_its_audit_chain_rechained_so_details_can_be_purged() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    drop(SledStore::open(StoreOptions::new(&path)).unwrap());
    let outcomes = [
        "ok",
        "InvalidArgument: party 张三 110101199003077777",
        "rejected: party 李四 did not sign",
    ];
    let chain = version_2_chain(&outcomes, None);
    let (_, former_head) = (chain.0.clone(), chain.1.clone());
    as_schema_5_with(&path, chain);
    let former: format::AuditHead = decode_plain(&former_head).unwrap();

    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 4 }
    );
    let entries = store.audit_entries(0, 10).unwrap();
    for (entry, outcome) in entries.iter().zip(outcomes) {
        assert_eq!(entry.record.outcome, outcome, "re-chained as it was");
    }
    let anchor = &entries[3].record;
    assert!(
        anchor.action.starts_with("rechain_audit: entries 0..3")
            && anchor.action.ends_with(&former.last_hash),
        "{}",
        anchor.action
    );
    let hashed = store.hashed_audit_entries(0, 10).unwrap();
    assert!(
        hashed
            .iter()
            .all(|(_, b)| b[0] == mediation_records::AUDIT_VERSION)
    );

    // The details can now be purged, and the chain still verifies.
    let purged = store
        .purge_audit_details(mediation_store_conformance::cut_everything(100))
        .await
        .unwrap();
    assert_eq!((purged.examined, purged.purged, purged.done), (4, 2, true));
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 4 }
    );
    assert_eq!(
        store.audit_entries(1, 1).unwrap()[0].record.outcome,
        "InvalidArgument"
    );
    drop(store);
    let db = open_raw(&path);
    assert_eq!(
        db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
        &SCHEMA_VERSION.to_be_bytes()
    );
    assert_eq!(db.get(keys::MIGRATING_AUDIT).unwrap(), None);
    for entry in db.scan_prefix(Table::Audit.prefix()) {
        let (_, value) = entry.unwrap();
        assert!(!String::from_utf8_lossy(&value).contains("张三"));
    }
}

/// A new store whose audit chain holds three refused calls, each with a
/// detail naming a party.
async fn with_three_refusals() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap();
    store
        .append_audit(vec![
            mediation_store_conformance::refused(
                "InvalidArgument: party 张三"
            );
            3
        ])
        .await
        .unwrap();
    (dir, store)
}

#[tokio::test]
async fn a_detail_changed_after_its_entry_was_chained_breaks_the_chain_at_that_entry() {
    let (_dir, store) = with_three_refusals().await;
    store.tamper_with_audit_detail(1, "party 王五").unwrap();
    let AuditVerification::Broken { seq, reason } = store.verify_audit().unwrap() else {
        panic!("a changed detail went unnoticed");
    };
    assert_eq!(seq, 1);
    assert!(reason.contains("digest"), "{reason}");
}

/// A migration to schema 6 stopped part way (a power cut) goes on at the
/// next open where it stopped, and an older build refuses the store
/// meanwhile rather than misread its records.
#[tokio::test]
async fn a_migration_to_schema_6_stopped_part_way_goes_on_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    drop(SledStore::open(StoreOptions::new(&path)).unwrap());
    let outcomes = ["ok", "rejected: a", "ok", "InvalidArgument: b", "ok"];
    as_schema_5_with(&path, version_2_chain(&outcomes, None));
    rewrite_raw(&path, |db| {
        let stopped = crate::migrate_v6::rechain(db, &path, 5, 2, Some(1));
        assert!(stopped.is_err());
        assert_eq!(
            db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
            &6u32.to_be_bytes()
        );
        assert!(db.get(keys::MIGRATING_AUDIT).unwrap().is_some());
    });
    let store = SledStore::open(StoreOptions::new(&path)).unwrap();
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 6 }
    );
    let entries = store.audit_entries(0, 10).unwrap();
    for (entry, outcome) in entries.iter().zip(outcomes) {
        assert_eq!(entry.record.outcome, outcome);
    }
    assert!(
        entries[5]
            .record
            .action
            .starts_with("rechain_audit: entries 0..5")
    );
    drop(store);
    assert_eq!(open_raw(&path).get(keys::MIGRATING_AUDIT).unwrap(), None);
}

#[tokio::test]
async fn a_broken_chain_of_schema_5_is_not_rechained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store");
    drop(SledStore::open(StoreOptions::new(&path)).unwrap());
    // Broken near its end: the whole chain is checked before any entry
    // is rewritten, so none is.
    let chain = version_2_chain(&["ok"; 25], Some(23));
    let links = chain.0.clone();
    as_schema_5_with(&path, chain);
    rewrite_raw(&path, |db| {
        let err = crate::migrate_v6::rechain(db, &path, 5, 10, None).unwrap_err();
        assert!(err.to_string().contains("breaks at entry 23"), "{err}");
    });
    let err = SledStore::open(StoreOptions::new(&path)).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("breaks at entry 23") && message.contains("not re-chained"),
        "{message}"
    );
    drop(err);
    let db = open_raw(&path);
    assert_eq!(
        db.get(keys::SCHEMA).unwrap().unwrap().as_ref(),
        &5u32.to_be_bytes()
    );
    for (key, value) in links {
        assert_eq!(db.get(&key).unwrap().unwrap().as_ref(), &value[..]);
    }
}

/// A move to another backend carries each audit record as stored: a detail
/// not yet purged goes with it, and a purged one stays purged.
#[tokio::test]
async fn a_transfer_carries_audit_details_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap();
    let old = mediation_store_conformance::refused("InvalidArgument: party 张三");
    let new = AuditRecord {
        at: jiff::Timestamp::MAX,
        outcome: "rejected: party 李四".into(),
        ..old.clone()
    };
    store.append_audit(vec![old, new]).await.unwrap();
    store
        .purge_audit_details(mediation_core::store::DetailCut {
            before: mediation_core::fixtures::at("2030-01-01T00:00:00Z"),
            now: jiff::Timestamp::MAX,
            limit: 10,
        })
        .await
        .unwrap();
    let mut carried = Vec::new();
    store
        .transfer(|item| {
            if let mediation_records::transfer::StoredItem::Audit { record, .. } = item {
                carried.push(mediation_records::read_audit_record(&record).unwrap());
            }
            Ok(())
        })
        .unwrap();
    let outcomes: Vec<(&str, bool)> = carried
        .iter()
        .map(|r| (r.record.outcome.as_str(), r.detail_purged))
        .collect();
    assert_eq!(
        outcomes,
        [("InvalidArgument", true), ("rejected: party 李四", false)]
    );
}

/// A commit's events are stored under one key (schema 7), and a move to a
/// backend that keeps a record per event hands them over one by one, each
/// with its own version and instant, as a lone event is encoded; a history
/// stored one event per key (schema 6) goes over the same, and a purge of
/// it leaves none of its keys behind.
#[tokio::test]
async fn a_commits_events_share_a_key_and_a_transfer_hands_them_over_one_by_one() {
    use mediation_core::fixtures::sample_bundle;
    use mediation_records::transfer::StoredItem;
    use mediation_store_conformance::{follow_up, id, new_referral};
    let (_dir, store) = fresh();
    let r = id(7);
    store.commit(new_referral(&r)).await.unwrap();
    let mut two = follow_up(&r, 1, "first");
    let mut second = two.events[0].clone();
    second.at = mediation_core::fixtures::at("2025-03-04T09:00:00+08:00");
    two.events.push(second);
    two.state = mediation_store_conformance::state_at(&r, 3);
    store.commit(two).await.unwrap();
    let history = store.history(&r).unwrap().unwrap();
    assert_eq!(history.len(), 3);
    let db = store.db().unwrap();
    let keys_of = |db: &sled::Db| -> Vec<u64> {
        db.scan_prefix(keys::events_prefix(&r))
            .map(|e| keys::trailing_seq(&e.unwrap().0).unwrap())
            .collect()
    };
    assert_eq!(
        keys_of(&db),
        [1, 2],
        "the second commit's two events under one key"
    );
    let carried = |store: &SledStore| {
        let mut events = Vec::new();
        store
            .transfer(|item| {
                if let StoredItem::Event {
                    version,
                    at,
                    record,
                    ..
                } = item
                {
                    let lone = mediation_records::decode_event(&record).unwrap();
                    assert_eq!(lone.at(), at);
                    events.push((version, lone.load(Some(&sample_bundle())).unwrap()));
                }
                Ok(())
            })
            .unwrap();
        events
    };
    let expected: Vec<(u64, Event)> = (1..).zip(history.iter().cloned()).collect();
    assert_eq!(carried(&store), expected);

    // The same history one event per key, as schema 6 wrote it.
    for key in db
        .scan_prefix(keys::events_prefix(&r))
        .map(|e| e.unwrap().0)
    {
        db.remove(key).unwrap();
    }
    for (n, event) in history.iter().enumerate() {
        db.insert(
            keys::event(&r, n as u64 + 1),
            mediation_records::encode_event(event),
        )
        .unwrap();
    }
    assert_eq!(keys_of(&db), [1, 2, 3]);
    assert_eq!(store.history(&r).unwrap().unwrap(), history);
    assert_eq!(carried(&store), expected);

    // A purge of that history removes every key it was stored under and
    // writes it redacted under one, its own event after.
    let purge = mediation_store_conformance::referrals::purge_of(&history, 3);
    store.purge(purge).await.unwrap();
    assert_eq!(keys_of(&db), [1, 4]);
    let purged = store.history(&r).unwrap().unwrap();
    assert_eq!(
        purged[..3],
        mediation_core::retention::redact(&history)[..],
        "the redacted history, whole"
    );
    assert_eq!(purged[3].change.name(), "personal_data_purged");
}

/// Two purges of audit details read the same place: the first applies, the
/// second, read before the first moved it, is not applied and writes
/// nothing (the writer checks the place and every link it would cut).
#[tokio::test]
async fn a_purge_of_details_read_before_another_moved_the_place_is_not_applied() {
    let (_dir, store) = with_three_refusals().await;
    let cut = mediation_store_conformance::cut_everything(100);
    let (from, to, cuts, _) = store.details_to_purge(cut).unwrap();
    assert_eq!((from, to, cuts.len()), (0, 3, 3));
    let first = store.purge_audit_details(cut).await.unwrap();
    assert_eq!((first.examined, first.purged), (3, 3));
    let stale = store
        .submit(crate::writer::Op::CutAuditDetails { from, to, cuts })
        .await
        .unwrap();
    assert_eq!(stale.version, 0, "a stale purge is not applied");
    assert_eq!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { entries: 3 }
    );
    // A stale purge whose place still holds, but one of whose links changed
    // meanwhile, is not applied either.
    store
        .append_audit(vec![mediation_store_conformance::refused(
            "rejected: party 李四",
        )])
        .await
        .unwrap();
    let (from, to, mut cuts, _) = store.details_to_purge(cut).unwrap();
    assert_eq!((from, to, cuts.len()), (3, 4, 1));
    cuts[0].1.push(0);
    let changed = store
        .submit(crate::writer::Op::CutAuditDetails { from, to, cuts })
        .await
        .unwrap();
    assert_eq!(changed.version, 0);
    assert_eq!(
        store.audit_entries(3, 1).unwrap()[0].record.outcome,
        "rejected: party 李四"
    );
}
