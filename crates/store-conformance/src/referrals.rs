//! Referrals: commits, their histories and snapshots, the version check,
//! court keys and paging through the ids.

use mediation_core::audit::AuditVerification;
use mediation_core::fixtures::{at, sample_bundle};
use mediation_core::lifecycle::Referral;
use mediation_core::store::{CourtKey, FullStore, StoreError};
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
