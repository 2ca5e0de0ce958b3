//! The audit chain (`u/`, with its head in `m/`): its reads, its check, and
//! the [`AuditLog`] implementation, whose records are submitted to the
//! writer, which links them.

use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::store::{AuditLog, ChainWalk, StoreError};
use mediation_records::decode_plain;

use crate::format::unavailable;
use crate::format::{self, AuditHead, AuditLink, chain_hash, corrupt};
use crate::keys::{self, Table};
use crate::writer::Op;
use crate::{SledStore, prepare};

/// An audit entry from its key and stored link.
pub(crate) fn read_audit_entry(
    key: &[u8],
    value: &[u8],
) -> Result<(AuditEntry, Vec<u8>), StoreError> {
    let seq = keys::trailing_seq(key).ok_or_else(|| StoreError::Corrupt("audit key".into()))?;
    let link: AuditLink = decode_plain(value).map_err(|e| corrupt(key, e))?;
    let record = format::audit_record(key, &link.record)?;
    Ok((
        AuditEntry {
            seq,
            record,
            prev_hash: link.prev_hash,
            hash: link.hash,
        },
        link.record,
    ))
}

/// The audit chain's reads, answered at once on the caller's thread (see
/// [`super`]).
impl SledStore {
    pub fn audit_entries(&self, from: u64, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .hashed_audit_entries(from, limit)?
            .into_iter()
            .map(|(entry, _)| entry)
            .collect())
    }

    /// The entries with the bytes each hash covers.
    pub fn hashed_audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(AuditEntry, Vec<u8>)>, StoreError> {
        self.db()?
            .range(keys::audit(from)..Table::Audit.bounds().end)
            .take(limit)
            .map(|entry| {
                let (key, value) = entry.map_err(unavailable)?;
                read_audit_entry(&key, &value)
            })
            .collect()
    }
    /// Walks the chain ([`ChainWalk`]) to the head the writer recorded.
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        let mut walk = ChainWalk::new(chain_hash);
        for entry in self.db()?.scan_prefix(Table::Audit.prefix()) {
            let (key, value) = entry.map_err(unavailable)?;
            if let Err(broken) = walk.step(read_audit_entry(&key, &value)) {
                return Ok(broken.into());
            }
        }
        let head: AuditHead = match self.db()?.get(keys::AUDIT_HEAD).map_err(unavailable)? {
            Some(bytes) => decode_plain(&bytes).map_err(|e| corrupt(keys::AUDIT_HEAD, e))?,
            None => AuditHead::genesis(),
        };
        Ok(match walk.end(head.next_seq, &head.last_hash) {
            Ok(entries) => AuditVerification::Intact { entries },
            Err(broken) => broken.into(),
        })
    }
}

impl AuditLog for SledStore {
    async fn append_audit(&self, records: Vec<AuditRecord>) -> Result<(), StoreError> {
        self.submit(Op::Audit(prepare::audit(&records)))
            .await
            .map(|_| ())
    }

    fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send {
        std::future::ready(SledStore::audit_entries(self, from, limit))
    }

    fn hashed_audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(AuditEntry, Vec<u8>)>, StoreError>> + Send {
        std::future::ready(SledStore::hashed_audit_entries(self, from, limit))
    }

    fn verify_audit(&self) -> impl Future<Output = Result<AuditVerification, StoreError>> + Send {
        std::future::ready(SledStore::verify_audit(self))
    }
}
