//! The hash-chained audit log ([`AuditLog`]), linked with the hash the
//! other backends use and checked with the walk they use, so that a chain
//! verifies, or breaks, alike on each.

use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::store::{AuditDetailsPurged, AuditLog, ChainWalk, DetailCut, StoreError};

use crate::MemoryStore;

impl AuditLog for MemoryStore {
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        self.write(|state| {
            state.append_audit(records);
            Ok(())
        })
    }

    async fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let hashed = self.hashed_audit_entries(from, limit).await?;
        Ok(hashed.into_iter().map(|(entry, _)| entry).collect())
    }

    async fn hashed_audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(AuditEntry, Vec<u8>)>, StoreError> {
        Ok(self.read(|inner| {
            let from = usize::try_from(from).unwrap_or(usize::MAX);
            inner
                .written
                .audit
                .iter()
                .skip(from)
                .take(limit)
                .map(|link| (link.entry.clone(), link.hashed.clone()))
                .collect()
        }))
    }

    async fn purge_audit_details(&self, cut: DetailCut) -> Result<AuditDetailsPurged, StoreError> {
        self.write(|state| Ok(state.purge_audit_details(cut)))
    }

    /// Walks the chain ([`ChainWalk`]) to the end the writes recorded.
    async fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        Ok(self.read(|inner| {
            let state = &inner.written;
            let mut walk = ChainWalk::new(mediation_records::chain_hash);
            for link in &state.audit {
                let read =
                    Ok::<_, std::convert::Infallible>((link.entry.clone(), link.hashed.clone()));
                if let Err(broken) = walk.step(read) {
                    return AuditVerification::from(broken);
                }
            }
            match walk.end(state.audit_next_seq, &state.audit_last_hash) {
                Ok(entries) => AuditVerification::Intact { entries },
                Err(broken) => broken.into(),
            }
        }))
    }
}
