//! Everything a store holds, record by record, as one backend hands it to
//! another (`store import` from a sled archive into PostgreSQL). The records
//! are this crate's format, passed through unchanged; beside each are the
//! fields its key held, which the receiving backend keeps in columns.

use jiff::Timestamp;

/// One stored thing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredItem {
    /// A referral's version, its snapshot record and its bundle record.
    Referral {
        id: String,
        version: u64,
        snapshot: Vec<u8>,
        bundle: Vec<u8>,
    },
    /// Event `version` of a referral, with its instant.
    Event {
        referral: String,
        version: u64,
        at: Timestamp,
        record: Vec<u8>,
    },
    /// A claimed court key: the platform that filed it (none for a court),
    /// the court and its id, and the referral that holds it.
    CourtKey {
        filed_by: Option<String>,
        court: String,
        court_referral_id: String,
        referral: String,
    },
    /// A purged referral's case files still to be removed from disk
    /// (`encode_purged_files`).
    PurgedFiles {
        referral: String,
        record: Vec<u8>,
    },
    /// An organisation's count of open referrals.
    Load {
        organisation: String,
        open: u64,
    },
    Timer {
        referral: String,
        kind: String,
        fire_at: Timestamp,
        record: Vec<u8>,
    },
    /// A waiting message. Messages come lane by lane, each lane's in order,
    /// so the first of a lane is its head.
    Message {
        seq: u64,
        destination: String,
        referral: String,
        enqueued_at: Timestamp,
        next_attempt_at: Timestamp,
        dead: bool,
        record: Vec<u8>,
    },
    Alert {
        seq: u64,
        record: Vec<u8>,
    },
    Acknowledgement {
        seq: u64,
        record: Vec<u8>,
    },
    /// An audit entry: its number, the hash before it, its own hash and
    /// the record as stored: its hashed part and, until it is purged, the
    /// outcome's detail after it (`audit_hashed_part`).
    Audit {
        seq: u64,
        prev_hash: String,
        hash: String,
        record: Vec<u8>,
    },
    /// Where the audit chain ends.
    AuditHead {
        next_seq: u64,
        last_hash: String,
    },
}
