//! The audit chain: appended by commits and alone, and verified.

use mediation_core::audit::AuditVerification;
use mediation_core::store::FullStore;

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
