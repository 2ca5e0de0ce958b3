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
}

/// The result of walking the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AuditVerification {
    /// Every entry links to the one before and hashes to its stored hash.
    Intact { entries: u64 },
    /// The first entry that does not.
    Broken { seq: u64, reason: String },
}
