//! The hash-chained audit log, and the walk that checks a chain, written
//! once for every backend: a backend reads its entries in order and feeds
//! them to a [`ChainWalk`], which says where the chain first breaks.

use std::future::Future;

use super::StoreError;
use crate::audit::{AuditEntry, AuditRecord, AuditVerification};

/// The hash-chained audit log.
pub trait AuditLog: Send + Sync {
    /// Appends records outside a referral commit (e.g. reads); durable on return.
    fn append_audit(
        &self,
        records: Vec<AuditRecord>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Entries from `from` on, at most `limit`.
    fn audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>, StoreError>> + Send;

    /// [`AuditLog::audit_entries`], each with the bytes its hash covers
    /// (the record as it was hashed, which a store migrated from an older
    /// format keeps as it was): what an export gives a verifier outside
    /// the gateway.
    fn hashed_audit_entries(
        &self,
        from: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(AuditEntry, Vec<u8>)>, StoreError>> + Send;

    /// Walks the whole chain and reports the first broken link.
    fn verify_audit(&self) -> impl Future<Output = Result<AuditVerification, StoreError>> + Send;

    /// Purges the outcome details (PIPL Art. 47) of entries recorded before
    /// `cut.before`, walking each chain in number order from where the last
    /// call stopped and looking at most at `cut.limit` entries of each
    /// ([`DetailPurgeWalk`]): the place stops at a chain's first entry not
    /// yet due, so none is skipped. Each entry keeps its hash, which covers
    /// the detail's digest, so the chain verifies as before. Durable on
    /// return; safe to run from several replicas.
    fn purge_audit_details(
        &self,
        cut: DetailCut,
    ) -> impl Future<Output = Result<AuditDetailsPurged, StoreError>> + Send;
}

/// What a purge of audit details is asked to do: cut the details of the
/// entries recorded before `before`, looking at no more than `limit`
/// entries of each chain, at the gateway's time `now`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetailCut {
    pub before: jiff::Timestamp,
    pub now: jiff::Timestamp,
    pub limit: usize,
}

impl DetailCut {
    /// How far ahead of `now` an entry may be dated (replicas' clocks
    /// differ by seconds, not by a day) and still be held to its period.
    pub const SKEW: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);
}

/// How a purge of audit details walks one chain from its place (written
/// once for every backend): each entry recorded before the cut-off has its
/// detail cut; the place moves past every entry up to the first one not
/// yet due, which a later purge starts from. Entries do not come in strict
/// order of time (a refused call's record is written after the answer;
/// replicas' clocks differ by seconds), so the walk looks on past an entry
/// not yet due, within its budget, and cuts what is due behind it. An entry
/// dated more than [`DetailCut::SKEW`] ahead of the gateway's time was
/// written by a clock gone wrong: its period cannot be told, and rather
/// than hold every later entry's purge behind it for as long, its detail is
/// cut now (counted in `dated_ahead`). An entry whose instant cannot be
/// read is passed over, kept as it is for `store verify` to report; it
/// never stops the walk.
#[derive(Debug, Clone)]
pub struct DetailPurgeWalk {
    cut: DetailCut,
    /// Entries dated after this are dated ahead; `None` when `now` is too
    /// near the end of time to tell.
    ahead_after: Option<jiff::Timestamp>,
    looked: usize,
    first_not_due: Option<u64>,
    next: u64,
    result: AuditDetailsPurged,
}

impl DetailPurgeWalk {
    /// A walk from entry `from`.
    pub fn new(from: u64, cut: DetailCut) -> Self {
        Self {
            cut,
            ahead_after: cut.now.checked_add(DetailCut::SKEW).ok(),
            looked: 0,
            first_not_due: None,
            next: from,
            result: AuditDetailsPurged::default(),
        }
    }

    /// Whether the walk may look at another entry.
    pub fn wants_more(&self) -> bool {
        self.looked < self.cut.limit
    }

    /// The next entry, numbered `seq` and recorded at `at` (`None` when that
    /// cannot be read): whether its detail is to be cut.
    pub fn look(&mut self, seq: u64, at: Option<jiff::Timestamp>) -> bool {
        self.looked += 1;
        let ahead = matches!((at, self.ahead_after), (Some(at), Some(after)) if at > after);
        let due = ahead || at.is_some_and(|at| at < self.cut.before);
        if ahead {
            self.result.dated_ahead += 1;
        }
        if at.is_some() && !due {
            self.first_not_due.get_or_insert(seq);
        }
        if self.first_not_due.is_none() {
            self.next = seq + 1;
            self.result.examined += 1;
        }
        due
    }

    /// How many more entries the walk may look at.
    pub fn budget_left(&self) -> usize {
        self.cut.limit.saturating_sub(self.looked)
    }

    /// The detail of the entry just looked at was cut.
    pub fn cut(&mut self) {
        self.result.purged += 1;
    }

    /// The walk's end: where the next purge starts, and what this one did.
    /// `at_end` says the chain had no more entries.
    pub fn finish(mut self, at_end: bool) -> (u64, AuditDetailsPurged) {
        self.result.done = at_end || self.first_not_due.is_some() || self.cut.limit == 0;
        (self.next, self.result)
    }
}

/// What one call of [`AuditLog::purge_audit_details`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AuditDetailsPurged {
    /// Entries the place moved past.
    pub examined: u64,
    /// Entries whose detail was removed (the rest had none).
    pub purged: u64,
    /// Entries dated more than [`DetailCut::SKEW`] ahead of the gateway's
    /// time, cut at once.
    pub dated_ahead: u64,
    /// Whether every chain's walk reached an entry not yet due, or its end
    /// (or the call was given no budget): another call now would find
    /// nothing new.
    pub done: bool,
}

/// The `prev_hash` of a chain's first entry, and the last hash of a chain
/// with none: 64 zeros.
pub fn genesis_hash() -> String {
    "0".repeat(64)
}

/// How an entry's hash is made from its number, the previous entry's hash
/// and the record's bytes as hashed: the record format's
/// (`mediation_records::chain_hash`), which the writers use too.
pub type ChainHash = fn(u64, &str, &[u8]) -> String;

/// The first link of a chain that does not hold, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The number of the entry the chain breaks at.
    pub seq: u64,
    pub reason: String,
}

impl From<BrokenLink> for AuditVerification {
    fn from(broken: BrokenLink) -> Self {
        AuditVerification::Broken {
            seq: broken.seq,
            reason: broken.reason,
        }
    }
}

/// A walk along one audit chain from its start. The backend feeds it every
/// entry in the order of their numbers ([`ChainWalk::step`]), then where
/// its writer recorded the chain's end ([`ChainWalk::end`]); each entry
/// must carry the next number, link to the entry before and hash to its
/// own hash.
#[derive(Clone)]
pub struct ChainWalk {
    /// The number the next entry must carry: the entries walked so far.
    next_seq: u64,
    /// The hash the next entry must link to.
    last_hash: String,
    hash: ChainHash,
}

impl std::fmt::Debug for ChainWalk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainWalk")
            .field("next_seq", &self.next_seq)
            .field("last_hash", &self.last_hash)
            .finish_non_exhaustive()
    }
}

impl ChainWalk {
    /// A walk from a chain's start, checking each entry's hash with `hash`.
    pub fn new(hash: ChainHash) -> Self {
        Self {
            next_seq: 0,
            last_hash: genesis_hash(),
            hash,
        }
    }

    /// A walk that goes on from entry `next_seq`, whose predecessor's hash
    /// is `last_hash` (as checked by an earlier walk).
    pub fn resume(hash: ChainHash, next_seq: u64, last_hash: String) -> Self {
        Self {
            next_seq,
            last_hash,
            hash,
        }
    }

    /// The number the next entry must carry: how many entries were walked.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The hash the next entry must link to.
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Checks the next entry as the backend read it, with the record's
    /// bytes as they were hashed, or why it could not be read. The first
    /// entry that does not hold ends the walk.
    pub fn step<E: std::fmt::Display>(
        &mut self,
        read: Result<(AuditEntry, Vec<u8>), E>,
    ) -> Result<(), BrokenLink> {
        let (entry, hashed) = match read {
            Ok(read) => read,
            Err(e) => return Err(self.broken(format!("unreadable: {e}"))),
        };
        if entry.seq != self.next_seq {
            return Err(self.broken(format!(
                "entry {} is missing (found {} next)",
                self.next_seq, entry.seq
            )));
        }
        if entry.prev_hash != self.last_hash {
            return Err(self.broken("does not link to the previous entry".into()));
        }
        if (self.hash)(entry.seq, &entry.prev_hash, &hashed) != entry.hash {
            return Err(self.broken("its content does not match its hash".into()));
        }
        self.next_seq += 1;
        self.last_hash = entry.hash;
        Ok(())
    }

    /// Ends the walk against the end the writer recorded, `next_seq` and
    /// `last_hash`: entries cut off the end leave the chain consistent but
    /// shorter than that. Returns how many entries the chain holds.
    pub fn end(self, next_seq: u64, last_hash: &str) -> Result<u64, BrokenLink> {
        if next_seq != self.next_seq || last_hash != self.last_hash {
            return Err(self.broken(format!(
                "the chain ends at {} entries but {next_seq} were written",
                self.next_seq
            )));
        }
        Ok(self.next_seq)
    }

    fn broken(&self, reason: String) -> BrokenLink {
        BrokenLink {
            seq: self.next_seq,
            reason,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stand-in for the record format's hash: enough to tell links apart.
    fn hash(seq: u64, prev_hash: &str, record: &[u8]) -> String {
        format!("{seq}:{}:{}", prev_hash.len(), record.len())
    }

    fn entry(seq: u64, prev_hash: &str, record: &[u8]) -> (AuditEntry, Vec<u8>) {
        let entry = AuditEntry {
            seq,
            record: AuditRecord {
                at: jiff::Timestamp::UNIX_EPOCH,
                actor: "court:京0105".into(),
                action: "get_referral".into(),
                referral: None,
                outcome: "ok".into(),
            },
            prev_hash: prev_hash.to_owned(),
            hash: hash(seq, prev_hash, record),
            detail_purged: false,
        };
        (entry, record.to_vec())
    }

    fn ok(read: (AuditEntry, Vec<u8>)) -> Result<(AuditEntry, Vec<u8>), String> {
        Ok(read)
    }

    #[test]
    fn an_intact_chain_counts_its_entries() {
        let mut walk = ChainWalk::new(hash);
        assert_eq!(walk.clone().end(0, &genesis_hash()), Ok(0));
        let first = entry(0, &genesis_hash(), b"one");
        let second = entry(1, &first.0.hash, b"two");
        let last = second.0.hash.clone();
        walk.step(ok(first)).unwrap();
        walk.step(ok(second)).unwrap();
        assert_eq!(walk.end(2, &last), Ok(2));
    }

    #[test]
    fn the_first_broken_link_is_named() {
        let mut walk = ChainWalk::new(hash);
        let first = entry(0, &genesis_hash(), b"one");
        let last = first.0.hash.clone();
        walk.step(ok(first)).unwrap();
        let mut tampered = entry(1, &last, b"two");
        tampered.1 = b"TWO!".to_vec();
        assert_eq!(
            walk.clone().step(ok(tampered)),
            Err(BrokenLink {
                seq: 1,
                reason: "its content does not match its hash".into()
            })
        );
        assert_eq!(
            walk.clone().step(ok(entry(2, &last, b"three"))),
            Err(BrokenLink {
                seq: 1,
                reason: "entry 1 is missing (found 2 next)".into()
            })
        );
        assert_eq!(
            walk.clone().step(ok(entry(1, "elsewhere", b"two"))),
            Err(BrokenLink {
                seq: 1,
                reason: "does not link to the previous entry".into()
            })
        );
        assert_eq!(
            walk.clone().step(Err("bad bytes")),
            Err(BrokenLink {
                seq: 1,
                reason: "unreadable: bad bytes".into()
            })
        );
        assert_eq!(
            walk.end(2, "later"),
            Err(BrokenLink {
                seq: 1,
                reason: "the chain ends at 1 entries but 2 were written".into()
            })
        );
    }
}
