//! Referrals: commits, their histories and snapshots, the version check,
//! court keys and paging through the ids.

use mediation_core::audit::AuditVerification;
use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::lifecycle::{Change, Event, Referral};
use mediation_core::retention;
use mediation_core::store::{CourtKey, FullStore, Purge, StoreError};
use mediation_core::timer::{Timer, TimerKind};

use crate::{
    T0, alert, audit, ccpit, follow_up, id, later, message, new_referral, note, received, state_at,
    texts,
};

pub async fn commits_append_to_the_history<S: FullStore>(store: S) {
    let r = id(1);
    assert_eq!(store.history(&r).await.unwrap(), None);
    assert_eq!(store.commit(new_referral(&r)).await.unwrap().version, 1);
    assert_eq!(
        store
            .commit(follow_up(&r, 1, "second"))
            .await
            .unwrap()
            .version,
        2
    );
    let history = store.history(&r).await.unwrap().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0], received(&r));
    assert_eq!(history[1], note("second"));
}

pub async fn the_snapshot_is_the_state_the_history_replays_to<S: FullStore>(store: S) {
    let r = id(30);
    assert_eq!(store.referral(&r).await.unwrap(), None);
    store.commit(new_referral(&r)).await.unwrap();
    let first = store.referral(&r).await.unwrap().unwrap();
    assert_eq!(first, Referral::replay(&[received(&r)]).unwrap());
    store.commit(follow_up(&r, 1, "second")).await.unwrap();
    store.commit(follow_up(&r, 2, "third")).await.unwrap();
    let referral = store.referral(&r).await.unwrap().unwrap();
    let history = store.history(&r).await.unwrap().unwrap();
    assert_eq!(referral.version(), 3);
    assert_eq!(referral, Referral::replay(&history).unwrap());
    // The bundle is the one received, read back whole.
    assert_eq!(referral.bundle(), &sample_bundle());
    // A commit whose state does not follow from its version is refused
    // before anything is written.
    let mut wrong = follow_up(&r, 3, "fourth");
    wrong.state = state_at(&r, 9);
    assert!(matches!(
        store.commit(wrong).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.history(&r).await.unwrap().unwrap().len(), 3);
    // A new referral's first commit must hold its receipt, which has the
    // bundle.
    let s = id(31);
    let mut headless = follow_up(&s, 0, "no receipt");
    headless.state = state_at(&s, 1);
    assert!(matches!(
        store.commit(headless).await,
        Err(StoreError::Corrupt(_))
    ));
    assert_eq!(store.referral(&s).await.unwrap(), None);
}

pub async fn a_commit_records_a_delivery_with_its_events<S: FullStore>(store: S) {
    let r = id(40);
    let mut commit = new_referral(&r);
    commit.messages = vec![message(&r, ccpit(), "offer"), message(&r, ccpit(), "then")];
    store.commit(commit).await.unwrap();
    let offer = store.due_deliveries(later(1), 10).await.unwrap();
    assert_eq!(texts(&offer), ["offer"]);
    // The receipt of the offer, with the offer recorded delivered in it.
    let mut receipt = follow_up(&r, 1, "received");
    receipt.delivered = Some(offer[0].id.clone());
    store.commit(receipt).await.unwrap();
    assert_eq!(
        texts(&store.due_deliveries(later(1), 10).await.unwrap()),
        ["then"]
    );
    assert_eq!(texts(&store.pending_messages(&r).await.unwrap()), ["then"]);
    // A delivery recorded already is not an error: the commit stands.
    let mut again = follow_up(&r, 2, "again");
    again.delivered = Some(offer[0].id.clone());
    assert_eq!(store.commit(again).await.unwrap().version, 3);
    // A commit refused records no delivery either.
    let then = store.due_deliveries(later(1), 10).await.unwrap()[0]
        .id
        .clone();
    let mut stale = follow_up(&r, 1, "stale");
    stale.delivered = Some(then);
    assert!(matches!(
        store.commit(stale).await,
        Err(StoreError::VersionConflict { .. })
    ));
    assert_eq!(
        texts(&store.due_deliveries(later(1), 10).await.unwrap()),
        ["then"]
    );
}

pub async fn a_stale_version_writes_nothing<S: FullStore>(store: S) {
    let r = id(2);
    store.commit(new_referral(&r)).await.unwrap();
    let mut stale = follow_up(&r, 0, "stale");
    stale
        .messages
        .push(message(&r, ccpit(), "must not be sent"));
    stale.timers.push(Timer {
        referral: r.clone(),
        kind: TimerKind::AcceptanceBreach,
        fire_at: at(T0),
    });
    stale.alerts.push(alert("must not be raised"));
    stale.audit.push(audit("must not be audited"));
    let err = store.commit(stale).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::VersionConflict {
            referral: r.clone(),
            expected: 0,
            actual: 1
        }
    );
    assert_eq!(store.history(&r).await.unwrap().unwrap().len(), 1);
    assert!(
        store
            .due_deliveries(later(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(store.due_timers(later(60), 10).await.unwrap().is_empty());
    assert!(store.alerts_after(0, 10).await.unwrap().is_empty());
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 1 }
    );
}

pub async fn a_court_key_is_claimed_once<S: FullStore>(store: S) {
    let (first, second) = (id(3), id(4));
    let commit = new_referral(&first);
    let key = commit.court_key.clone().unwrap();
    store.commit(commit).await.unwrap();
    assert_eq!(
        store.find_by_court_key(&key).await.unwrap(),
        Some(first.clone())
    );
    let mut again = new_referral(&second);
    again.court_key = Some(key.clone());
    let err = store.commit(again).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::DuplicateCourtReferral {
            existing: first.clone()
        }
    );
    assert_eq!(store.history(&second).await.unwrap(), None);
    // The same court and id filed by a platform is another key: a platform's
    // intakes neither collide with nor find a court's referrals.
    let platform_key = CourtKey {
        filed_by: Some(mediation_core::partner::Partner::Ccpit),
        ..key.clone()
    };
    assert_eq!(store.find_by_court_key(&platform_key).await.unwrap(), None);
    let mut intake = new_referral(&second);
    intake.court_key = Some(platform_key.clone());
    store.commit(intake).await.unwrap();
    assert_eq!(
        store.find_by_court_key(&platform_key).await.unwrap(),
        Some(second.clone())
    );
    assert_eq!(store.find_by_court_key(&key).await.unwrap(), Some(first));
    let labour_key = CourtKey {
        filed_by: Some(mediation_core::partner::Partner::LabourArbitration),
        ..key
    };
    assert_eq!(store.find_by_court_key(&labour_key).await.unwrap(), None);
}

pub async fn referral_ids_page_in_order<S: FullStore>(store: S) {
    assert!(store.referral_ids(None, 10).await.unwrap().is_empty());
    for n in [3, 1, 2, 10] {
        store.commit(new_referral(&id(n))).await.unwrap();
    }
    // A follow-up adds events, not referrals.
    store.commit(follow_up(&id(2), 1, "again")).await.unwrap();
    assert_eq!(store.referral_ids(None, 2).await.unwrap(), [id(1), id(2)]);
    assert_eq!(
        store.referral_ids(Some(&id(2)), 10).await.unwrap(),
        [id(3), id(10)]
    );
    assert!(
        store
            .referral_ids(Some(&id(10)), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A purge of `r` at `version`: its event, committed with the state after
/// it, and the stored history before it redacted.
pub fn purge_of(history: &[mediation_core::lifecycle::Event], version: u64) -> Purge {
    let r = match &history[0].change {
        Change::Received { id, .. } => id.clone(),
        _ => panic!("a history starts with its received event"),
    };
    let event = Event {
        at: later(60),
        change: Change::PersonalDataPurged {
            policy: "particulars.default".into(),
        },
    };
    let mut after = history.to_vec();
    after.push(event.clone());
    let mut commit = follow_up(&r, version, "unused");
    commit.events = vec![event];
    commit.state = Referral::replay(&after).unwrap().state();
    commit.audit = vec![audit("purge_personal_data")];
    Purge {
        commit,
        redacted: retention::redact(history),
        files: retention::stored_files(history).into_iter().collect(),
    }
}

pub async fn a_purge_rewrites_the_history_and_keeps_the_rest<S: FullStore>(store: S) {
    let r = id(200);
    store.commit(new_referral(&r)).await.unwrap();
    store
        .commit(follow_up(&r, 1, "张三 at 13800000000"))
        .await
        .unwrap();
    let history = store.history(&r).await.unwrap().unwrap();
    let purge = purge_of(&history, 2);
    assert!(!purge.files.is_empty(), "the sample bundle lists an upload");
    let files = purge.files.clone();

    // Refused before anything is written: a redacted history of another
    // length, and a purge decided against a stale version.
    let mut short = purge.clone();
    short.redacted.pop();
    assert!(matches!(
        store.purge(short).await,
        Err(StoreError::Corrupt(_))
    ));
    let stale = purge_of(&history[..1], 1);
    assert!(matches!(
        store.purge(stale).await,
        Err(StoreError::VersionConflict { actual: 2, .. })
    ));
    assert_eq!(store.history(&r).await.unwrap().unwrap(), history);
    assert!(store.files_to_remove(10).await.unwrap().is_empty());

    assert_eq!(store.purge(purge.clone()).await.unwrap().version, 3);
    let purged = store.history(&r).await.unwrap().unwrap();
    assert_eq!(purged.len(), 3);
    assert_eq!(&purged[..2], &retention::redact(&history)[..]);
    assert!(matches!(
        purged[2].change,
        Change::PersonalDataPurged { .. }
    ));
    let stored = format!("{purged:?}");
    for text in [
        "张三",
        "13800000000",
        "11010519491231002X",
        "北京市朝阳区某街道1号",
    ] {
        assert!(!stored.contains(text), "'{text}' is still in the history");
    }
    // The snapshot and the bundle are the purged ones, and still what the
    // history replays to.
    let referral = store.referral(&r).await.unwrap().unwrap();
    assert_eq!(referral, Referral::replay(&purged).unwrap());
    assert!(
        referral
            .bundle()
            .parties
            .iter()
            .all(|p| p.identity.is_withheld())
    );
    assert_eq!(referral.bundle().court, sample_bundle().court);

    // The same purge again (a second replica's) is refused: one purge.
    assert!(matches!(
        store.purge(purge).await,
        Err(StoreError::VersionConflict { actual: 3, .. })
    ));
    assert_eq!(store.history(&r).await.unwrap().unwrap().len(), 3);

    // The files wait until they are removed from disk.
    assert_eq!(
        store.files_to_remove(10).await.unwrap(),
        vec![(r.clone(), files)]
    );
    store.files_removed(&r).await.unwrap();
    assert!(store.files_to_remove(10).await.unwrap().is_empty());

    // Later events go on as before, and the audit trail has the purge.
    store
        .commit(follow_up(&r, 3, "the court's note"))
        .await
        .unwrap();
    assert_eq!(store.referral(&r).await.unwrap().unwrap().version(), 4);
    let entries = store.audit_entries(0, 100).await.unwrap();
    assert!(
        entries
            .iter()
            .any(|e| e.record.action == "purge_personal_data")
    );
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { .. }
    ));
}
