//! The audit chain (`u/`, with its head in `m/`): its reads, its check, and
//! the [`AuditLog`] implementation, whose records are submitted to the
//! writer, which links them.

use mediation_core::audit::{AuditEntry, AuditRecord, AuditVerification};
use mediation_core::store::{
    AuditDetailsPurged, AuditLog, ChainWalk, DetailCut, DetailPurgeWalk, StoreError,
};
use mediation_records::{decode_plain, encode_plain};

use crate::format::unavailable;
use crate::format::{self, AuditHead, AuditLink, chain_hash, corrupt};
use crate::keys::{self, Table};
use crate::writer::{Op, read_count};
use crate::{SledStore, prepare};

/// An audit entry from its key and stored link.
pub(crate) fn read_audit_entry(
    key: &[u8],
    value: &[u8],
) -> Result<(AuditEntry, Vec<u8>), StoreError> {
    let seq = keys::trailing_seq(key).ok_or_else(|| StoreError::Corrupt("audit key".into()))?;
    let link: AuditLink = decode_plain(value).map_err(|e| corrupt(key, e))?;
    let read = format::audit_record(key, &link.record)?;
    let hashed = format::audit_hashed(key, &link.record)?;
    Ok((
        AuditEntry {
            seq,
            record: read.record,
            prev_hash: link.prev_hash,
            hash: link.hash,
            detail_purged: read.detail_purged,
        },
        hashed,
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

    async fn purge_audit_details(&self, cut: DetailCut) -> Result<AuditDetailsPurged, StoreError> {
        let (from, to, cuts, done) = self.details_to_purge(cut)?;
        if to != from || !cuts.is_empty() {
            let applied = self
                .submit(Op::CutAuditDetails { from, to, cuts })
                .await?
                .version
                == 1;
            if !applied {
                // Another purge moved first: the next call goes on from
                // where it left the place.
                return Ok(AuditDetailsPurged::default());
            }
        }
        Ok(done)
    }
}

/// The links a purge cuts: each key, its value as read, and the value cut.
type Cuts = Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>;

impl SledStore {
    /// Reads from the purge's place on ([`DetailPurgeWalk`]): the place it
    /// read, where it moves to, the links to cut and what the walk did.
    /// The writer applies the cuts only if nothing moved meanwhile
    /// (`Op::CutAuditDetails`).
    pub(crate) fn details_to_purge(
        &self,
        cut: DetailCut,
    ) -> Result<(u64, u64, Cuts, AuditDetailsPurged), StoreError> {
        let db = self.db()?;
        let from = read_count(
            db.get(keys::AUDIT_DETAILS_PURGED_TO)
                .map_err(unavailable)?
                .as_deref(),
        );
        let mut walk = DetailPurgeWalk::new(from, cut);
        let mut cuts = Vec::new();
        let mut at_end = true;
        for entry in db.range(keys::audit(from)..Table::Audit.bounds().end) {
            if !walk.wants_more() {
                at_end = false;
                break;
            }
            let (key, value) = entry.map_err(unavailable)?;
            let Some(seq) = keys::trailing_seq(&key) else {
                tracing::error!(key = %String::from_utf8_lossy(&key), "not an audit key; passed over, for `store verify` to report");
                continue;
            };
            let read = decode_plain::<AuditLink>(&value)
                .map_err(|e| e.to_string())
                .and_then(|link| {
                    mediation_records::audit_recorded_at(&link.record)
                        .map(|at| (link, at))
                        .map_err(|e| e.to_string())
                });
            let (link, at) = match read {
                Ok(read) => read,
                Err(error) => {
                    tracing::error!(seq, %error, "an audit entry cannot be read; passed over, for `store verify` to report");
                    walk.look(seq, None);
                    continue;
                }
            };
            if !walk.look(seq, Some(at)) {
                continue;
            }
            // A detail that no longer matches its digest is evidence: it
            // stays for `store verify` to report, not cut out of sight.
            if let Err(error) = mediation_records::read_audit_record(&link.record) {
                tracing::error!(seq, %error, "an audit entry's detail does not read; it is kept for `store verify` to report");
                continue;
            }
            if let Ok(Some(cut)) = mediation_records::purge_audit_detail(&link.record) {
                let mut now = link.clone();
                now.record = cut;
                cuts.push((key.to_vec(), value.to_vec(), encode_plain(&now)));
                walk.cut();
            }
        }
        let (to, done) = walk.finish(at_end);
        Ok((from, to, cuts, done))
    }
}
