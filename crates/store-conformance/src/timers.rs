//! Timers: replaced by each commit, found by when they fire.

use mediation_core::store::FullStore;
use mediation_core::timer::{Timer, TimerKind};

use crate::{follow_up, id, later, new_referral};

pub async fn timers_are_replaced_and_found_by_due_time<S: FullStore>(store: S) {
    let (a, b) = (id(5), id(6));
    let mut commit = new_referral(&a);
    commit.timers = vec![
        Timer {
            referral: a.clone(),
            kind: TimerKind::AcceptanceWarning,
            fire_at: later(10),
        },
        Timer {
            referral: a.clone(),
            kind: TimerKind::AcceptanceBreach,
            fire_at: later(20),
        },
    ];
    store.commit(commit).await.unwrap();
    let mut commit = new_referral(&b);
    commit.timers = vec![Timer {
        referral: b.clone(),
        kind: TimerKind::MediationBreach,
        fire_at: later(15),
    }];
    store.commit(commit).await.unwrap();

    assert!(store.due_timers(later(9), 10).await.unwrap().is_empty());
    assert_eq!(store.next_timer_at().await.unwrap(), Some(later(10)));
    let due = store.due_timers(later(15), 10).await.unwrap();
    assert_eq!(
        due.iter()
            .map(|t| (t.referral.clone(), t.kind))
            .collect::<Vec<_>>(),
        [
            (a.clone(), TimerKind::AcceptanceWarning),
            (b.clone(), TimerKind::MediationBreach)
        ]
    );
    assert_eq!(
        store.due_timers(later(60), 1).await.unwrap().len(),
        1,
        "the limit is respected"
    );

    // A commit replaces all of the referral's timers, and only its own.
    let mut replace = follow_up(&a, 1, "warned");
    replace.timers = vec![Timer {
        referral: a.clone(),
        kind: TimerKind::AcceptanceBreach,
        fire_at: later(20),
    }];
    store.commit(replace).await.unwrap();
    let due: Vec<_> = store
        .due_timers(later(60), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        due,
        [TimerKind::MediationBreach, TimerKind::AcceptanceBreach]
    );
    store.commit(follow_up(&a, 2, "done")).await.unwrap();
    let due: Vec<_> = store
        .due_timers(later(60), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.referral)
        .collect();
    assert_eq!(due, [b]);
}
