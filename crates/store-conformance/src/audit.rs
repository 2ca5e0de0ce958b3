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
}
