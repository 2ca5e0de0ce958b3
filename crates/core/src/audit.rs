//! The audit trail: who did what to which referral, with what outcome.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::ids::ReferralId;

/// One audited action, before the store chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub at: Timestamp,
    /// Who acted: an organisation, a court system, an operator, or the gateway.
    pub actor: String,
    /// What was asked, e.g. `submit_referral`.
    pub action: String,
    pub referral: Option<ReferralId>,
    /// `ok`, or the error returned.
    pub outcome: String,
}

/// An outcome's code and its detail: split at the first `": "` that has
/// text after it (`ok`, `ok: policy particulars.default`,
/// `InvalidArgument: party 1 …`). Joined again by [`join_outcome`], exactly.
pub fn split_outcome(outcome: &str) -> (&str, &str) {
    match outcome.split_once(": ") {
        Some((code, detail)) if !detail.is_empty() => (code, detail),
        _ => (outcome, ""),
    }
}

/// The outcome of a code and a detail: `code`, or `code: detail`.
pub fn join_outcome(code: &str, detail: &str) -> String {
    if detail.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {detail}")
    }
}

/// A stored audit entry: the record, its place in the chain, the hash of the
/// entry before it and its own hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    pub record: AuditRecord,
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over `seq`, `prev_hash` and the record.
    pub hash: String,
    /// Whether the outcome's detail was purged under the retention policy
    /// (PIPL Art. 47): the record's outcome is then its code alone, and
    /// the chain still holds the detail's digest.
    #[serde(default)]
    pub detail_purged: bool,
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditVerification {
    /// Every entry links to the one before and hashes to its stored hash.
    Intact { entries: u64 },
    /// The first entry that does not.
    Broken { seq: u64, reason: String },
}

/// Who makes a command: the name its audit record gives, and, for a call
/// through the gateway's API, the call's own audit ([`CallAudit`]).
#[derive(Debug, Clone)]
pub struct Actor {
    pub name: String,
    pub call: Option<CallAudit>,
    /// The trace the call is part of, which the messages its commands make
    /// carry on to their deliveries.
    pub trace: Option<crate::outbox::TraceContext>,
}

impl Actor {
    /// An actor inside the gateway (the relay, the deadline engine), with no
    /// call of its own.
    pub fn internal(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            call: None,
            trace: None,
        }
    }
}

impl From<&str> for Actor {
    fn from(name: &str) -> Self {
        Self::internal(name)
    }
}

impl From<&String> for Actor {
    fn from(name: &String) -> Self {
        Self::internal(name.as_str())
    }
}

impl From<&Actor> for Actor {
    fn from(actor: &Actor) -> Self {
        actor.clone()
    }
}

/// The audit of one call through the gateway's API, shared by the call
/// guard and the command the call makes, so that a call costs one durable
/// write rather than two:
///
/// - a command that commits takes the call's record into its own commit
///   ([`CallAudit::take`]); once that commit is durable the guard writes
///   nothing more for the call;
/// - a command that is refused leaves its record here
///   ([`CallAudit::refused`]), and the guard writes it with the call's record
///   in its next batch of call records, with no write of its own.
#[derive(Debug, Clone)]
pub struct CallAudit(std::sync::Arc<std::sync::Mutex<CallAuditState>>);

#[derive(Debug)]
struct CallAuditState {
    /// The call's record, until a commit takes it.
    record: Option<AuditRecord>,
    /// Whether a durable commit holds the call's record.
    committed: bool,
    refused: Vec<AuditRecord>,
}

impl CallAudit {
    /// The audit of a call whose record, if it succeeds, is `record`.
    pub fn new(record: AuditRecord) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(CallAuditState {
            record: Some(record),
            committed: false,
            refused: Vec::new(),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, CallAuditState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The call's record for a commit about `referral`, at `at`; `None`
    /// once a commit holds it (a call that commits several times, as a batch
    /// of submissions does, records itself with the first).
    pub fn take(&self, referral: &ReferralId, at: Timestamp) -> Option<AuditRecord> {
        let mut state = self.state();
        if state.committed {
            return None;
        }
        state.record.take().map(|mut record| {
            record.at = at;
            record.referral = Some(referral.clone());
            record
        })
    }

    /// The commit that took the record is durable.
    pub fn committed(&self) {
        self.state().committed = true;
    }

    /// The commit that took the record failed: the record comes back.
    pub fn put_back(&self, record: AuditRecord) {
        let mut state = self.state();
        if !state.committed {
            state.record = Some(record);
        }
    }

    /// A refused command's record, for the guard's batch.
    pub fn refused(&self, record: AuditRecord) {
        self.state().refused.push(record);
    }

    /// When the call ends: whether a durable commit holds the call's
    /// record, and the records of the commands it had refused.
    pub fn finish(&self) -> (bool, Vec<AuditRecord>) {
        let mut state = self.state();
        (state.committed, std::mem::take(&mut state.refused))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calls_record_goes_with_one_commit_and_comes_back_when_a_commit_fails() {
        let at = |s: &str| s.parse::<Timestamp>().unwrap();
        let call = CallAudit::new(AuditRecord {
            at: at("2025-03-03T01:00:00Z"),
            actor: "tenant=court-bj".into(),
            action: "call /x".into(),
            referral: None,
            outcome: "ok".into(),
        });
        let referral: ReferralId = "01JD0000000000000000000001".parse().unwrap();
        let first = call.take(&referral, at("2025-03-03T02:00:00Z")).unwrap();
        assert_eq!(first.referral.as_ref(), Some(&referral));
        assert_eq!(first.at, at("2025-03-03T02:00:00Z"));
        // The commit lost a race: the retry takes the record again.
        assert!(call.take(&referral, first.at).is_none());
        call.put_back(first);
        let again = call.take(&referral, at("2025-03-03T03:00:00Z")).unwrap();
        call.committed();
        // Later commits of the same call (a batch) do not repeat it.
        call.put_back(again);
        assert!(call.take(&referral, at("2025-03-03T04:00:00Z")).is_none());
        let (committed, refused) = call.finish();
        assert!(committed);
        assert!(refused.is_empty());
    }
}
