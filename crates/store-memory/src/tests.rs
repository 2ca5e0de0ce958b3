//! The memory store against the conformance suite, and what is its own:
//! a crash keeps what was synced and nothing else, and a failed write or
//! sync keeps nothing of what it was to write.

use mediation_core::audit::AuditVerification;
use mediation_core::store::{
    AlertLog, AuditLog, Commit, DeliveryOutcome, OutboxStore, ReferralStore, StoreError,
};
use mediation_store_conformance::{
    alert, audit, ccpit, follow_up, id, later, message, new_referral,
};

use super::*;

#[tokio::test]
async fn the_memory_store_conforms() {
    mediation_store_conformance::run_all(|| std::future::ready(MemoryStore::new())).await;
}

/// A new referral `id(n)` with a message and an alert beside its receipt
/// and its audit record.
fn busy(n: u32) -> Commit {
    let r = id(n);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "offer")];
    commit.alerts = vec![alert("raised")];
    commit
}

fn unavailable<T>(result: Result<T, StoreError>) -> bool {
    matches!(result, Err(StoreError::Unavailable(_)))
}

#[tokio::test]
async fn a_crash_keeps_what_was_synced_and_nothing_else() {
    let store = MemoryStore::unsynced();
    let (a, b) = (id(1), id(2));
    store.commit(busy(1)).await.unwrap();
    store.sync().unwrap();
    assert_eq!(store.unsynced_writes(), 0);
    let synced = store.state_digest();

    let commit_b = busy(2);
    let key_b = commit_b.court_key.clone().unwrap();
    store.commit(commit_b.clone()).await.unwrap();
    let mut more = follow_up(&a, 1, "unsynced");
    more.messages = vec![message(&a, ccpit(), "unsynced follow-up")];
    store.commit(more).await.unwrap();
    store
        .append_audit(vec![audit("get_referral")])
        .await
        .unwrap();
    assert_eq!(store.unsynced_writes(), 3);
    assert_ne!(store.state_digest(), synced);

    // Written, B reads back...
    assert!(store.history(&b).await.unwrap().is_some());
    assert_eq!(
        store.find_by_court_key(&key_b).await.unwrap(),
        Some(b.clone())
    );
    let b_messages = store.pending_messages(&b).await.unwrap();
    assert_eq!(b_messages.len(), 1);
    assert_eq!(store.pending_messages(&a).await.unwrap().len(), 2);
    // ...but neither its message nor its alert leaves the store before it
    // is synced: a crash could undo them.
    let due = store.due_deliveries(later(1), 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|d| d.message.referral.clone())
            .collect::<Vec<_>>(),
        std::slice::from_ref(&a)
    );
    assert_eq!(store.alerts_after(0, 10).await.unwrap().len(), 1);

    store.crash();
    assert_eq!(store.unsynced_writes(), 0);
    assert_eq!(store.state_digest(), synced);
    assert_eq!(store.history(&a).await.unwrap().unwrap().len(), 1);
    assert_eq!(store.history(&b).await.unwrap(), None);
    assert_eq!(store.referral(&b).await.unwrap(), None);
    assert_eq!(
        store.referral_ids(None, 10).await.unwrap(),
        std::slice::from_ref(&a)
    );
    assert_eq!(store.find_by_court_key(&key_b).await.unwrap(), None);
    assert!(store.pending_messages(&b).await.unwrap().is_empty());
    assert_eq!(store.pending_messages(&a).await.unwrap().len(), 1);
    assert_eq!(store.alerts_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 1 }
    );

    // The court key is free again, and the numbering goes on from what was
    // synced: B's message gets the id it had before the crash.
    store.commit(commit_b).await.unwrap();
    assert_eq!(store.pending_messages(&b).await.unwrap(), b_messages);
    store.sync().unwrap();
    let alerts = store.alerts_after(0, 10).await.unwrap();
    assert_eq!(alerts.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 2 }
    );
    assert_eq!(store.due_deliveries(later(1), 10).await.unwrap().len(), 2);

    // A crash right after a sync loses nothing.
    let digest = store.state_digest();
    store.crash();
    assert_eq!(store.state_digest(), digest);
}

#[tokio::test]
async fn a_failed_write_keeps_nothing_and_later_writes_go_on() {
    let store = MemoryStore::new();
    store.commit(busy(1)).await.unwrap();
    let before = store.state_digest();

    // A full disk: every write is refused; reads go on.
    store.fail_writes(true);
    assert!(unavailable(store.commit(busy(2)).await));
    assert!(unavailable(store.raise_alert(alert("alone")).await));
    assert!(unavailable(
        store.append_audit(vec![audit("get_referral")]).await
    ));
    assert!(store.history(&id(1)).await.unwrap().is_some());
    assert_eq!(store.state_digest(), before);
    store.fail_writes(false);

    // A failed sync undoes the write that waited for it, whatever it
    // touched. A write refused on its merits is not synced, and leaves the
    // failure to the next.
    store.fail_next_syncs(1);
    assert!(matches!(
        store.commit(follow_up(&id(1), 0, "stale")).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert!(unavailable(store.commit(busy(2)).await));
    assert_eq!(store.state_digest(), before);
    assert_eq!(store.history(&id(2)).await.unwrap(), None);
    assert_eq!(store.alerts_after(0, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 1 }
    );

    // Later writes work, numbered as if the failed ones had never been.
    store.commit(busy(2)).await.unwrap();
    let due = store.due_deliveries(later(1), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    assert_eq!(due[1].id.0, format!("{}-{:016x}", id(2), 2));
    assert_eq!(store.raise_alert(alert("alone")).await.unwrap(), 3);
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 2 }
    );

    // A delivery outcome whose sync fails is not recorded either.
    let dead = || DeliveryOutcome::Dead {
        at: later(2),
        error: "rejected".into(),
        alert: alert("dead"),
    };
    store.fail_next_syncs(1);
    assert!(unavailable(store.record_delivery(&due[0].id, dead()).await));
    assert!(store.dead_letters(10).await.unwrap().is_empty());
    assert_eq!(store.alerts_after(0, 10).await.unwrap().len(), 3);
    store.record_delivery(&due[0].id, dead()).await.unwrap();
    assert_eq!(store.dead_letters(10).await.unwrap().len(), 1);
    assert_eq!(store.alerts_after(3, 10).await.unwrap()[0].seq, 4);
}

#[tokio::test]
async fn a_failed_sync_loses_what_it_was_to_make_durable() {
    let store = MemoryStore::unsynced();
    store.commit(busy(1)).await.unwrap();
    store.sync().unwrap();
    store.commit(busy(2)).await.unwrap();
    store.fail_next_syncs(1);
    assert!(unavailable(store.sync()));
    assert_eq!(store.unsynced_writes(), 0);
    assert!(store.history(&id(1)).await.unwrap().is_some());
    assert_eq!(store.history(&id(2)).await.unwrap(), None);
    // The store goes on: written again and synced, B survives a crash.
    store.commit(busy(2)).await.unwrap();
    store.sync().unwrap();
    store.crash();
    assert!(store.history(&id(2)).await.unwrap().is_some());
}

#[tokio::test]
async fn the_same_writes_leave_the_same_state() {
    async fn run(store: &MemoryStore, last: u32) {
        for n in 1..=last {
            store.commit(busy(n)).await.unwrap();
        }
        let head = store.due_deliveries(later(1), 1).await.unwrap().remove(0);
        store
            .record_delivery(&head.id, DeliveryOutcome::Delivered)
            .await
            .unwrap();
        store
            .append_audit(vec![audit("get_referral")])
            .await
            .unwrap();
    }
    let (first, second, other) = (MemoryStore::new(), MemoryStore::new(), MemoryStore::new());
    run(&first, 3).await;
    run(&second, 3).await;
    run(&other, 4).await;
    assert_eq!(first.state_dump(), second.state_dump());
    assert_eq!(first.state_digest(), second.state_digest());
    assert_ne!(first.state_digest(), other.state_digest());
}
