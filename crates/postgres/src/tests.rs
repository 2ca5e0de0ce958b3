//! The conformance suite and the replica-specific promises, against a
//! throwaway cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicU32, Ordering};

use crate::cluster::Cluster;
use crate::{PgOptions, PgStore};

static DATABASES: AtomicU32 = AtomicU32::new(0);

fn cluster() -> &'static Cluster {
    static CLUSTER: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        Cluster::start(&std::env::temp_dir()).expect("a throwaway PostgreSQL cluster")
    })
}

/// A store on a database of its own, migrated.
async fn fresh() -> PgStore {
    let name = format!("conformance_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let url = cluster().create_database(&name).unwrap();
    PgStore::open(&PgOptions::new(url)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_store_conforms() {
    mediation_store_conformance::run_all(fresh).await;
}

/// Two replicas' stores on one database, each with a name of its own.
async fn replicas(lease: std::time::Duration) -> (PgStore, PgStore) {
    let name = format!("replicas_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let url = cluster().create_database(&name).unwrap();
    let mut a = PgOptions::new(url.clone());
    a.replica = "replica-a".into();
    a.lease = lease;
    let mut b = PgOptions::new(url);
    b.replica = "replica-b".into();
    b.lease = lease;
    (
        PgStore::open(&a).await.unwrap(),
        PgStore::open(&b).await.unwrap(),
    )
}

use mediation_core::store::{
    AlertLog as _, AuditLog as _, DeliveryOutcome, OutboxStore as _, ReferralStore as _, StoreError,
};
use mediation_store_conformance::{
    alert, audit, ccpit, follow_up, id, later, message, new_referral,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leased_head_is_delivered_by_one_replica_until_its_lease_runs_out() {
    let (a, b) = replicas(std::time::Duration::from_secs(60)).await;
    let r = id(1);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "one"), message(&r, ccpit(), "two")];
    a.commit(commit).await.unwrap();

    let taken = a.due_deliveries(later(1), 10).await.unwrap();
    assert_eq!(taken.len(), 1);
    // The other replica passes over the leased head, and over the lane
    // behind it.
    assert!(b.due_deliveries(later(1), 10).await.unwrap().is_empty());
    // A lease outlives its holder: once it runs out, the other replica
    // takes the head over.
    let taken_over = b.due_deliveries(later(2), 10).await.unwrap();
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].id, taken[0].id);
    assert!(a.due_deliveries(later(2), 10).await.unwrap().is_empty());
    // Delivered, the lane's next message is free for either.
    b.record_delivery(&taken[0].id, DeliveryOutcome::Delivered)
        .await
        .unwrap();
    let next = a.due_deliveries(later(2), 10).await.unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(next[0].id, taken[0].id);
    // A retry gives the head back: the other replica may take it when due.
    a.record_delivery(
        &next[0].id,
        DeliveryOutcome::Retry {
            at: later(3),
            error: "refused".into(),
        },
    )
    .await
    .unwrap();
    assert!(b.due_deliveries(later(2), 10).await.unwrap().is_empty());
    assert_eq!(
        b.due_deliveries(later(3), 10).await.unwrap()[0].id,
        next[0].id
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_claim_a_court_key_once_and_serialise_a_referrals_commands() {
    let (a, b) = replicas(std::time::Duration::from_secs(60)).await;
    // Sixteen referrals claim one court key, half through each replica, all
    // at once: one wins, every other is told which.
    let key = new_referral(&id(100)).court_key.unwrap();
    let claims = (0..16u32).map(|n| {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let mut commit = new_referral(&id(100 + n));
        commit.court_key = Some(key.clone());
        tokio::spawn(async move { store.commit(commit).await })
    });
    let results: Vec<_> = futures_join(claims).await;
    let won: Vec<u32> = (0..16u32)
        .filter(|n| results[*n as usize].is_ok())
        .collect();
    assert_eq!(won.len(), 1, "{results:?}");
    let winner = id(100 + won[0]);
    for result in &results {
        match result {
            Ok(_) => {}
            Err(StoreError::DuplicateCourtReferral { existing }) => assert_eq!(*existing, winner),
            Err(other) => panic!("{other}"),
        }
    }
    assert_eq!(
        a.find_by_court_key(&key).await.unwrap(),
        Some(winner.clone())
    );
    // A losing claim left nothing behind.
    assert!(
        b.referral(&id(100 + (won[0] + 1) % 16))
            .await
            .unwrap()
            .is_none()
    );

    // Two replicas deciding against the same version: one commits.
    let (x, y) = tokio::join!(
        a.commit(follow_up(&winner, 1, "from a")),
        b.commit(follow_up(&winner, 1, "from b"))
    );
    assert!(x.is_ok() != y.is_ok(), "{x:?} {y:?}");
    assert!(matches!(
        x.err().or(y.err()),
        Some(StoreError::VersionConflict { actual: 2, .. })
    ));
    assert_eq!(a.history(&winner).await.unwrap().unwrap().len(), 2);
}

async fn futures_join<T: Send + 'static>(
    tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
) -> Vec<T> {
    let mut out = Vec::new();
    for task in tasks.collect::<Vec<_>>() {
        out.push(task.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_replicas_number_alerts_without_gaps_and_keep_every_audit_chain_intact() {
    let (a, b) = replicas(std::time::Duration::from_secs(60)).await;
    let writers = (0..24u32).map(|n| {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        tokio::spawn(async move {
            let r = id(200 + n);
            let mut commit = new_referral(&r);
            commit.alerts = vec![alert("from a commit"), alert("and another")];
            commit.audit = vec![audit("submit_referral"), audit("and its call")];
            store.commit(commit).await.unwrap();
            store.raise_alert(alert("alone")).await.unwrap();
            store
                .append_audit(vec![audit("get_referral")])
                .await
                .unwrap();
        })
    });
    futures_join(writers).await;
    let alerts = a.alerts_after(0, 1_000).await.unwrap();
    let seqs: Vec<u64> = alerts.iter().map(|x| x.seq).collect();
    assert_eq!(seqs, (1..=72).collect::<Vec<u64>>());
    assert_eq!(
        b.verify_audit().await.unwrap(),
        mediation_core::audit::AuditVerification::Intact { entries: 72 }
    );
    // Each chain links entry to entry; tampering with one is found and named.
    let chains: i64 = cluster()
        .psql(&database_of(&a).await, "SELECT count(*) FROM audit_chains")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(chains >= 1);
    let tampered = cluster()
        .psql(
            &database_of(&a).await,
            "UPDATE audit SET record = record || '\\x00'::bytea \
             WHERE (chain, seq) = (SELECT chain, seq FROM audit WHERE seq = 1 ORDER BY chain LIMIT 1) \
             RETURNING chain",
        )
        .unwrap();
    let chain = tampered.trim();
    match a.verify_audit().await.unwrap() {
        mediation_core::audit::AuditVerification::Broken { seq, reason } => {
            assert_eq!(seq, 1);
            assert!(reason.starts_with(&format!("chain {chain}:")), "{reason}");
        }
        intact => panic!("{intact:?}"),
    }
}

async fn database_of(store: &PgStore) -> String {
    sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&store.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_replica_leads_and_the_lead_passes_on_when_it_goes() {
    let (a, b) = replicas(std::time::Duration::from_secs(60)).await;
    let mut leader = a.try_lead("alert-webhooks").await.unwrap().unwrap();
    assert!(leader.still_held().await);
    assert!(b.try_lead("alert-webhooks").await.unwrap().is_none());
    // Other work has a lead of its own.
    assert!(b.try_lead("something-else").await.unwrap().is_some());
    drop(leader);
    // A lead dropped is given up at once, not left to run out: the other
    // replica takes over within moments.
    let started = std::time::Instant::now();
    loop {
        if b.try_lead("alert-webhooks").await.unwrap().is_some() {
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_raising_one_subject_at_once_record_it_once_until_it_is_released() {
    let (a, b) = replicas(std::time::Duration::from_secs(60)).await;
    let missing = |detail: &str| {
        let mut record = alert(detail);
        record.subject = Some("calendar:2027".into());
        record
    };
    // Twelve commits through both replicas at once, each raising the
    // missing year beside an alert of its own.
    let writers = (0..12u32).map(|n| {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let mut commit = new_referral(&id(300 + n));
        commit.alerts = vec![missing(&format!("missing from {n}")), alert("its own")];
        tokio::spawn(async move { store.commit(commit).await })
    });
    for result in futures_join(writers).await {
        result.unwrap();
    }
    let subjects = |alerts: &[mediation_core::alert::Alert]| {
        alerts.iter().filter(|x| x.record.subject.is_some()).count()
    };
    let alerts = a.alerts_after(0, 1_000).await.unwrap();
    assert_eq!(subjects(&alerts), 1, "{alerts:?}");
    assert_eq!(alerts.len(), 13, "every commit's own alert is kept");
    // Twice in one commit: once.
    let mut commit = follow_up(&id(300), 1, "again");
    commit.alerts = vec![missing("x"), missing("y")];
    b.commit(commit).await.unwrap();
    assert_eq!(subjects(&a.alerts_after(0, 1_000).await.unwrap()), 1);

    // A commit refused leaves no claim: the next one records the subject.
    let other = |detail: &str| {
        let mut record = alert(detail);
        record.subject = Some("calendar:2028".into());
        record
    };
    let mut stale = follow_up(&id(301), 7, "stale");
    stale.alerts = vec![other("refused")];
    assert!(matches!(
        a.commit(stale).await,
        Err(StoreError::VersionConflict { .. })
    ));
    let mut fresh = follow_up(&id(301), 1, "fresh");
    fresh.alerts = vec![other("kept")];
    b.commit(fresh).await.unwrap();
    let alerts = a.alerts_after(0, 1_000).await.unwrap();
    assert_eq!(subjects(&alerts), 2);
    assert_eq!(alerts.last().unwrap().record.detail, "kept");

    // Released (the year's notice was loaded), it is recorded again, once.
    a.release_alert_subject("calendar:2027").await.unwrap();
    let mut commit = follow_up(&id(302), 1, "after the notice went");
    commit.alerts = vec![missing("missing again")];
    let mut twin = follow_up(&id(303), 1, "and through the other");
    twin.alerts = vec![missing("missing again, twice")];
    let (x, y) = tokio::join!(a.commit(commit), b.commit(twin));
    x.unwrap();
    y.unwrap();
    assert_eq!(subjects(&a.alerts_after(0, 1_000).await.unwrap()), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_not_renewed_passes_on_and_the_old_leader_is_fenced_out() {
    use std::time::Duration;
    let (a, b) = replicas(Duration::from_secs(60)).await;
    // Long enough that a loaded 2-core machine renews it in time.
    let lease = Duration::from_secs(4);
    let mut first = a
        .try_lead_for("alert-webhooks", lease)
        .await
        .unwrap()
        .unwrap();
    assert!(first.still_held().await);
    assert!(
        b.try_lead_for("alert-webhooks", lease)
            .await
            .unwrap()
            .is_none()
    );
    // The leader stops renewing (frozen, its connection still open): once
    // its lease has run out, the other replica takes the lead over, under a
    // new generation.
    tokio::time::sleep(lease + Duration::from_millis(500)).await;
    let mut second = b
        .try_lead_for("alert-webhooks", lease)
        .await
        .unwrap()
        .expect("a lease run out is taken over");
    assert!(second.generation() > first.generation());
    // The old leader wakes: its lead is lost, and it cannot take it back
    // while the new one renews it.
    assert!(!first.still_held().await);
    assert!(
        a.try_lead_for("alert-webhooks", lease)
            .await
            .unwrap()
            .is_none()
    );
    assert!(second.still_held().await);
    // Dropping the lost lead does not end the new one.
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(second.still_held().await);
    // Given up, it is free at once.
    second.release().await;
    let third = a.try_lead_for("alert-webhooks", lease).await.unwrap();
    assert!(third.is_some_and(|l| l.generation() == 3));
}

/// A database an older build (schema 4) wrote, with a chain of version 2
/// audit records hashed whole: the first build to connect after migration
/// 5 re-chains it once, closes it with the entry that says so, and its
/// details can then be purged with the chain still intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_schema_4_is_rechained_once_and_its_details_purged() {
    use mediation_core::audit::AuditVerification;
    use mediation_core::store::AuditLog;

    let name = format!("rechain_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    let url = cluster().create_database(&name).unwrap();
    let old = PgStore::connect(&PgOptions::new(url.clone()))
        .await
        .unwrap();
    crate::schema::migrator_to(4).run(&old.pool).await.unwrap();
    let records: Vec<Vec<u8>> = ["ok", "InvalidArgument: party 张三 110101199003077777"]
        .iter()
        .map(|outcome| version_2_record(outcome, 1_741_000_000))
        .collect();
    sqlx::query("SELECT gateway_append_audit($1)")
        .bind(&records)
        .execute(&old.pool)
        .await
        .unwrap();
    let former = old.hashed_audit_entries(0, 10).await.unwrap();
    assert_eq!(former.len(), 2);

    // Two replicas start together: the chain is re-chained once.
    let (first, second) = (PgOptions::new(url.clone()), PgOptions::new(url.clone()));
    let (a, b) = tokio::join!(PgStore::open(&first), PgStore::open(&second));
    let (a, _b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        a.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 3 }
    );
    let entries = a.audit_entries(0, 10).await.unwrap();
    assert_eq!(
        entries[1].record.outcome,
        "InvalidArgument: party 张三 110101199003077777"
    );
    assert!(
        entries[2]
            .record
            .action
            .starts_with("rechain_audit: entries 0..2")
            && entries[2].record.action.ends_with(&former[1].0.hash),
        "{}",
        entries[2].record.action
    );
    let purged = a
        .purge_audit_details(mediation_store_conformance::cut_everything(100))
        .await
        .unwrap();
    assert_eq!((purged.examined, purged.purged, purged.done), (3, 1, true));
    assert_eq!(
        a.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 3 }
    );
    let after = a.audit_entries(1, 1).await.unwrap();
    assert_eq!(after[0].record.outcome, "InvalidArgument");
    assert!(after[0].detail_purged);
    // New appends hash the part a purge keeps.
    a.append_audit(vec![mediation_core::audit::AuditRecord {
        at: jiff::Timestamp::from_second(1_741_000_100).unwrap(),
        actor: "gateway".into(),
        action: "after".into(),
        referral: None,
        outcome: "rejected: party 李四".into(),
    }])
    .await
    .unwrap();
    a.purge_audit_details(mediation_store_conformance::cut_everything(100))
        .await
        .unwrap();
    assert_eq!(
        a.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 4 }
    );
    // A replica of the older build, still running in a rolling upgrade,
    // appends a record of version 2: the purge finds it, re-chains the
    // chain, and the next purge cuts its detail too.
    let late: Vec<Vec<u8>> = vec![version_2_record("rejected: party 王五", 1_741_000_200)];
    sqlx::query("SELECT gateway_append_audit($1)")
        .bind(&late)
        .execute(&a.pool)
        .await
        .unwrap();
    assert_eq!(
        a.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 5 }
    );
    a.purge_audit_details(mediation_store_conformance::cut_everything(100))
        .await
        .unwrap();
    a.purge_audit_details(mediation_store_conformance::cut_everything(100))
        .await
        .unwrap();
    assert_eq!(
        a.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 6 }
    );
    let entries = a.audit_entries(0, 10).await.unwrap();
    let shown: Vec<(&str, bool)> = entries
        .iter()
        .map(|e| (e.record.outcome.as_str(), e.detail_purged))
        .collect();
    assert_eq!(
        shown[1],
        ("InvalidArgument", true),
        "purged before, still purged"
    );
    assert_eq!(shown[3], ("rejected", true));
    assert_eq!(shown[4], ("rejected", true));
    assert!(
        entries[5]
            .record
            .action
            .starts_with("rechain_audit: entries 0..5")
    );
}

/// An audit record of version 2 (hashed whole), as a build before schema 5
/// of the database wrote it.
fn version_2_record(outcome: &str, at_second: i64) -> Vec<u8> {
    mediation_records::encode_audit_record_version_2(&mediation_core::audit::AuditRecord {
        at: jiff::Timestamp::from_second(at_second).unwrap(),
        ..mediation_store_conformance::refused(outcome)
    })
}

/// An archive an older build exported, imported: each alert raised once
/// per subject keeps its claim, so no replica raises it again, and the
/// chain of older audit records is re-chained once it is in, its details
/// kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_claims_its_alerts_subjects_and_rechains_older_audit_records() {
    use mediation_core::audit::AuditVerification;
    use mediation_core::store::AuditLog;
    use mediation_records::transfer::StoredItem;

    let store = fresh().await;
    let subject = mediation_core::alert::calendar_subject(2027);
    let alert = mediation_core::alert::AlertRecord {
        subject: Some(subject.clone()),
        ..mediation_store_conformance::alert("no holiday notice for 2027")
    };
    let mut items = vec![StoredItem::Alert {
        seq: 1,
        record: mediation_records::encode_alert(&alert),
    }];
    let mut last = mediation_core::store::genesis_hash();
    for (seq, outcome) in ["ok", "rejected: party 赵六"].into_iter().enumerate() {
        let record = version_2_record(outcome, 1_741_000_000);
        let hash = mediation_records::chain_hash(seq as u64, &last, &record);
        items.push(StoredItem::Audit {
            seq: seq as u64,
            prev_hash: std::mem::replace(&mut last, hash.clone()),
            hash,
            record,
        });
    }
    items.push(StoredItem::AuditHead {
        next_seq: 2,
        last_hash: last,
    });
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        for item in items {
            tx.send(item).await.unwrap();
        }
    });
    store.import(rx, |_| {}).await.unwrap();
    let claimed: Vec<String> = sqlx::query_scalar("SELECT subject FROM alert_subjects")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert_eq!(claimed, [subject]);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 3 }
    );
    let entries = store.audit_entries(0, 10).await.unwrap();
    assert_eq!(entries[1].record.outcome, "rejected: party 赵六");
    assert!(!entries[1].detail_purged);
    assert!(
        entries[2]
            .record
            .action
            .starts_with("rechain_audit: entries 0..2")
    );
}

/// Several chains (replicas writing at once start new ones): a chain whose
/// place sits before many entries not yet due does not use up the purge
/// for the chains after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_chain_has_its_details_purged_however_long_the_one_before_it() {
    use mediation_core::audit::{AuditRecord, AuditVerification};
    use mediation_core::store::{AuditLog, DetailCut};

    let store = fresh().await;
    let record = |outcome: &str, second: i64| AuditRecord {
        at: jiff::Timestamp::from_second(second).unwrap(),
        outcome: outcome.into(),
        ..mediation_store_conformance::audit("call")
    };
    // Chain 0: one entry due, then six not yet due.
    let mut first = vec![record("rejected: party 张三", 1_741_000_000)];
    first.extend((0..6).map(|n| record("rejected: later", 1_800_000_000 + n)));
    store.append_audit(first).await.unwrap();
    // Chain 1: while chain 0 is held, an append starts another chain.
    let mut holder = store.pool.begin().await.unwrap();
    sqlx::query("SELECT chain FROM audit_chains WHERE chain = 0 FOR UPDATE")
        .execute(&mut *holder)
        .await
        .unwrap();
    store
        .append_audit(vec![record("rejected: party 李四", 1_741_000_000)])
        .await
        .unwrap();
    holder.rollback().await.unwrap();
    let chains: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_chains")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(chains, 2);

    let cut = DetailCut {
        before: jiff::Timestamp::from_second(1_750_000_000).unwrap(),
        now: jiff::Timestamp::from_second(1_800_001_000).unwrap(),
        limit: 3,
    };
    // As the retention pass calls it: until done, or until a call moves
    // nothing.
    loop {
        let run = store.purge_audit_details(cut).await.unwrap();
        if run.done || run.examined + run.purged == 0 {
            break;
        }
    }
    let entries = store.audit_entries(0, 100).await.unwrap();
    let kept: Vec<&str> = entries
        .iter()
        .filter(|e| !e.detail_purged && e.record.outcome.contains("party"))
        .map(|e| e.record.outcome.as_str())
        .collect();
    assert!(kept.is_empty(), "details kept past their period: {kept:?}");
    assert_eq!(
        entries.iter().filter(|e| e.detail_purged).count(),
        2,
        "{entries:#?}"
    );
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 8 }
    );
}
