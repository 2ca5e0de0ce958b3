//! Alerts: numbered, read from a cursor, raised alone and acknowledged once.

use mediation_core::alert::Acknowledgement;
use mediation_core::fixtures::at;
use mediation_core::store::{FullStore, StoreError};

use crate::{alert, id, new_referral};

pub async fn alerts_resume_from_a_cursor<S: FullStore>(store: S) {
    let r = id(12);
    let mut commit = new_referral(&r);
    commit.alerts = vec![alert("first"), alert("second"), alert("third")];
    store.commit(commit).await.unwrap();
    let all = store.alerts_after(0, 10).await.unwrap();
    assert_eq!(all.iter().map(|a| a.seq).collect::<Vec<_>>(), [1, 2, 3]);
    let rest = store.alerts_after(all[0].seq, 10).await.unwrap();
    assert_eq!(
        rest.iter()
            .map(|a| a.record.detail.as_str())
            .collect::<Vec<_>>(),
        ["second", "third"]
    );
    assert!(store.alerts_after(3, 10).await.unwrap().is_empty());
}

pub async fn alerts_are_raised_alone_and_acknowledged_once<S: FullStore>(store: S) {
    let r = id(14);
    let mut commit = new_referral(&r);
    commit.alerts = vec![alert("from a commit")];
    store.commit(commit).await.unwrap();
    assert_eq!(store.raise_alert(alert("alone")).await.unwrap(), 2);
    let all = store.alerts_after(0, 10).await.unwrap();
    assert_eq!(all[1].record.detail, "alone");

    let ack = |by: &str| Acknowledgement {
        by: by.into(),
        at: at("2025-03-03T10:00:00+08:00"),
        note: format!("{by} is on it"),
    };
    assert_eq!(store.acknowledgement(2).await.unwrap(), None);
    assert_eq!(
        store.acknowledge_alert(2, ack("ops-1")).await.unwrap(),
        ack("ops-1")
    );
    // A second acknowledgement does not replace the first.
    assert_eq!(
        store.acknowledge_alert(2, ack("ops-2")).await.unwrap(),
        ack("ops-1")
    );
    assert_eq!(store.acknowledgement(2).await.unwrap(), Some(ack("ops-1")));
    assert_eq!(store.acknowledgement(1).await.unwrap(), None);
    // Asked of a page at once: only the acknowledged ones, unknown numbers
    // included and ignored.
    assert_eq!(
        store.acknowledged(&[1, 2, 9]).await.unwrap(),
        [2].into_iter().collect()
    );
    assert!(store.acknowledged(&[]).await.unwrap().is_empty());
    assert!(matches!(
        store.acknowledge_alert(9, ack("ops-1")).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.acknowledgement(9).await.unwrap(), None);
}
