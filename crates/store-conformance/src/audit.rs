//! The audit chain: appended by commits and alone, and verified.

use mediation_core::audit::{AuditRecord, AuditVerification};
use mediation_core::store::{AuditDetailsPurged, DetailCut, FullStore};

use crate::{audit, id, new_referral};

pub async fn the_audit_chain_verifies<S: FullStore>(store: S) {
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 0 }
    );
    store.commit(new_referral(&id(13))).await.unwrap();
    store
        .append_audit(vec![audit("get_referral"), audit("get_referral")])
        .await
        .unwrap();
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 3 }
    );
    let entries = store.audit_entries(0, 10).await.unwrap();
    assert_eq!(entries.iter().map(|e| e.seq).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(entries[1].prev_hash, entries[0].hash);
    assert_eq!(entries[2].prev_hash, entries[1].hash);
    // The same entries with the bytes each hash covers, which an export
    // gives a verifier outside the gateway: one record's bytes each.
    let hashed = store.hashed_audit_entries(1, 10).await.unwrap();
    assert_eq!(
        hashed.iter().map(|(e, _)| e.clone()).collect::<Vec<_>>(),
        entries[1..]
    );
    assert!(hashed.iter().all(|(_, bytes)| !bytes.is_empty()));
    // The two reads' records are the same, so are their bytes; the
    // commit's is another record.
    assert_eq!(hashed[0].1, hashed[1].1);
    let first = store.hashed_audit_entries(0, 1).await.unwrap();
    assert_ne!(first[0].1, hashed[0].1);
}

/// A cut of every detail there is, `limit` entries of each chain at a time.
pub fn cut_everything(limit: usize) -> DetailCut {
    DetailCut {
        before: jiff::Timestamp::MAX,
        now: jiff::Timestamp::MAX,
        limit,
    }
}

/// An audit record of `call` with `outcome`, as a refused call leaves it.
pub fn refused(outcome: &str) -> AuditRecord {
    AuditRecord {
        outcome: outcome.into(),
        ..audit("call")
    }
}

/// A cut of the details recorded before `before`, at a gateway time later
/// than every entry the cases write but the one dated ahead.
fn cut(before: jiff::Timestamp, limit: usize) -> DetailCut {
    DetailCut {
        before,
        now: mediation_core::fixtures::at("2100-01-01T00:00:00Z"),
        limit,
    }
}

fn purged(examined: u64, purged: u64, done: bool) -> AuditDetailsPurged {
    AuditDetailsPurged {
        examined,
        purged,
        dated_ahead: 0,
        done,
    }
}

/// A purge of the outcome details (PIPL Art. 47) removes them from the
/// entries recorded before the cut-off, walking from where the last purge
/// stopped; the chain verifies as before, with every hash unchanged.
pub async fn audit_details_are_purged_and_the_chain_still_verifies<S: FullStore>(store: S) {
    use crate::T0;
    use mediation_core::fixtures::at;
    let later = at(T0) + jiff::SignedDuration::from_hours(240);
    let record = |outcome: &str, when| AuditRecord {
        at: when,
        outcome: outcome.into(),
        ..audit("call /mediation.ccpit.v1.CcpitPlatform/RecordAgreement")
    };
    store
        .append_audit(vec![
            record("ok", at(T0)),
            record("InvalidArgument: party 张三 110101199003077777", at(T0)),
            record("rejected: party 李四 did not sign", at(T0)),
            record("NotFound: not yet due", later),
        ])
        .await
        .unwrap();
    let before = store.hashed_audit_entries(0, 10).await.unwrap();
    let day_after = at(T0) + jiff::SignedDuration::from_hours(24);

    // With no budget, nothing is looked at, and nothing is left to loop on.
    assert_eq!(
        store.purge_audit_details(cut(day_after, 0)).await.unwrap(),
        purged(0, 0, true)
    );
    assert_eq!(
        store.purge_audit_details(cut(day_after, 2)).await.unwrap(),
        purged(2, 1, false)
    );
    assert_eq!(
        store
            .purge_audit_details(cut(day_after, 100))
            .await
            .unwrap(),
        purged(1, 1, true),
        "the walk goes on from where it stopped and stops at the entry not yet due"
    );
    assert_eq!(
        store
            .purge_audit_details(cut(day_after, 100))
            .await
            .unwrap(),
        purged(0, 0, true)
    );
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 4 }
    );
    let after = store.hashed_audit_entries(0, 10).await.unwrap();
    for ((was, was_hashed), (now, now_hashed)) in before.iter().zip(&after) {
        assert_eq!(now.hash, was.hash, "entry {}", was.seq);
        assert_eq!(now_hashed, was_hashed, "entry {}", was.seq);
        assert!(!String::from_utf8_lossy(now_hashed).contains("张三"));
    }
    let outcomes: Vec<(&str, bool)> = after
        .iter()
        .map(|(e, _)| (e.record.outcome.as_str(), e.detail_purged))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("ok", false),
            ("InvalidArgument", true),
            ("rejected", true),
            ("NotFound: not yet due", false),
        ]
    );
    assert_eq!(after[1].0.record.actor, before[1].0.record.actor);

    let far = later + jiff::SignedDuration::from_hours(1);
    assert_eq!(
        store.purge_audit_details(cut(far, 100)).await.unwrap(),
        purged(1, 1, true)
    );

    // An entry not yet due holds the place, but not the purge of what is
    // due behind it; an entry dated far ahead of the gateway's time (a
    // clock gone wrong) is cut at once rather than hold everything after
    // it for as long.
    let soon = far + jiff::SignedDuration::from_hours(1000);
    store
        .append_audit(vec![
            record("NotFound: due later", soon),
            record("rejected: due behind it", at(T0)),
            record("Internal: dated ahead", at("2200-01-01T00:00:00Z")),
        ])
        .await
        .unwrap();
    assert_eq!(
        store.purge_audit_details(cut(far, 100)).await.unwrap(),
        AuditDetailsPurged {
            examined: 0,
            purged: 2,
            dated_ahead: 1,
            done: true
        }
    );
    let last = store.audit_entries(4, 10).await.unwrap();
    assert_eq!(
        last.iter()
            .map(|e| (e.record.outcome.as_str(), e.detail_purged))
            .collect::<Vec<_>>(),
        [
            ("NotFound: due later", false),
            ("rejected", true),
            ("Internal", true)
        ]
    );
    assert_eq!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { entries: 7 }
    );
}
