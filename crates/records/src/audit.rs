//! Audit records, as stored and as the audit chain hashes them.
//!
//! Version 3 splits a record in two so that the chain survives a purge
//! (PIPL Art. 47): an outcome's *detail* (the text after its code, e.g. a
//! refusal's message, which may quote a party's name or identity number)
//! is kept after the part the chain hashes, and that part holds the
//! detail's SHA-256 instead of the detail itself:
//!
//! ```text
//! 03 ‖ L: u32 big-endian ‖ header: L bytes ‖ SHA-256(detail): 32 bytes ‖ detail
//! └────────────── hashed by the chain ───────────────────────────────┘
//! ```
//!
//! The header is the postcard encoding of the instant, the actor, the
//! action, the referral and the outcome's code. A purge cuts the record
//! after the digest: the chain still verifies, and a detail that is kept
//! must still match its digest, so a changed detail is found as surely as
//! a changed header. The length comes first so that a reader that knows
//! nothing of postcard (the PostgreSQL function that chains entries, a
//! third party's checker) can find where the hashed part ends.
//!
//! Version 2 records hash whole; a store migrated to version 3 re-chains
//! them (the store's schema 6), and this module still reads them.

use mediation_core::audit::{AuditRecord, join_outcome, split_outcome};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{FormatError, Instant, Mirror, parse_opt, text_opt};

/// The version byte of an audit record whose detail can be purged.
pub const AUDIT_VERSION: u8 = 3;

/// The version byte of an audit record hashed whole.
const WHOLE_VERSION: u8 = 2;

const DIGEST_LEN: usize = 32;

/// The bytes before the header: the version and the header's length.
const LEAD_LEN: usize = 1 + 4;

/// A version 2 record: hashed whole, its outcome inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Whole {
    at: Instant,
    actor: String,
    action: String,
    referral: Option<String>,
    outcome: String,
}

/// The header of a version 3 record: everything but the outcome's detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Header {
    at: Instant,
    actor: String,
    action: String,
    referral: Option<String>,
    /// The outcome's code: `ok`, `rejected`, `InvalidArgument`, …
    code: String,
}

fn digest(detail: &str) -> [u8; DIGEST_LEN] {
    Sha256::digest(detail.as_bytes()).into()
}

/// An audit record in the current version (3). The chain hashes
/// [`audit_hashed_part`] of these bytes, so an entry's hash does not depend
/// on how the domain type serialises, nor on whether its detail was purged.
pub fn encode_audit_record(record: &AuditRecord) -> Vec<u8> {
    let (code, detail) = split_outcome(&record.outcome);
    let header = Header {
        at: Instant::of(&record.at),
        actor: record.actor.clone(),
        action: record.action.clone(),
        referral: text_opt(record.referral.as_ref()),
        code: code.to_owned(),
    };
    let header = match postcard::to_allocvec(&header) {
        Ok(bytes) => bytes,
        Err(e) => crate::unreachable_encoding(&e),
    };
    // A header is the size of a call's names: far below 4 GiB.
    let len = u32::try_from(header.len()).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(LEAD_LEN + header.len() + DIGEST_LEN + detail.len());
    out.push(AUDIT_VERSION);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&digest(detail));
    out.extend_from_slice(detail.as_bytes());
    out
}

/// An audit record in version 2, hashed whole, as a store of schema 5 or
/// before holds it: what tests and benchmarks of the re-chaining write, so
/// that the older format is written by the crate that reads it.
pub fn encode_audit_record_version_2(record: &AuditRecord) -> Vec<u8> {
    crate::encode_versioned(
        WHOLE_VERSION,
        &Whole {
            at: Instant::of(&record.at),
            actor: record.actor.clone(),
            action: record.action.clone(),
            referral: text_opt(record.referral.as_ref()),
            outcome: record.outcome.clone(),
        },
    )
}

/// Where a version 3 record's hashed part ends, or `None` for a record of
/// another version.
fn hashed_len(bytes: &[u8]) -> Result<Option<usize>, FormatError> {
    let Some((&version, rest)) = bytes.split_first() else {
        return Err(FormatError::Empty);
    };
    if version != AUDIT_VERSION {
        return Ok(None);
    }
    let len = rest
        .first_chunk::<4>()
        .map(|len| u32::from_be_bytes(*len) as usize)
        .ok_or_else(|| FormatError::Decode("an audit record cut inside its length".into()))?;
    let end = LEAD_LEN
        .checked_add(len)
        .and_then(|n| n.checked_add(DIGEST_LEN))
        .filter(|&end| end <= bytes.len())
        .ok_or_else(|| FormatError::Decode("an audit record cut before its digest".into()))?;
    Ok(Some(end))
}

/// The part of a stored audit record that the chain hashes: a version 3
/// record up to and including its detail's digest; a record of an older
/// version whole.
pub fn audit_hashed_part(bytes: &[u8]) -> Result<&[u8], FormatError> {
    Ok(match hashed_len(bytes)? {
        Some(end) => &bytes[..end],
        None => bytes,
    })
}

/// Whether a stored audit record is of the current version: a store
/// re-chains the others once (they hash their detail with them).
pub fn is_current_audit_record(bytes: &[u8]) -> bool {
    bytes.first() == Some(&AUDIT_VERSION)
}

/// An audit record as read back, and whether its detail was purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAudit {
    /// The record; once its detail is purged, its outcome is the code alone.
    pub record: AuditRecord,
    pub detail_purged: bool,
}

/// Reads an audit record of version 3 (whole or purged) or 2. A version 3
/// detail that does not match its digest is refused: it was changed after
/// the entry was chained.
pub fn read_audit_record(bytes: &[u8]) -> Result<ReadAudit, FormatError> {
    let Some(end) = hashed_len(bytes)? else {
        let whole: Whole = crate::decode_versioned(WHOLE_VERSION, bytes).map_err(|e| match e {
            FormatError::Version { found, .. } => FormatError::Version {
                found,
                expected: AUDIT_VERSION,
            },
            other => other,
        })?;
        let record = AuditRecord {
            at: whole.at.load()?,
            actor: whole.actor,
            action: whole.action,
            referral: parse_opt("referral id", whole.referral)?,
            outcome: whole.outcome,
        };
        return Ok(ReadAudit {
            record,
            detail_purged: false,
        });
    };
    let (header_bytes, kept) = (&bytes[LEAD_LEN..end - DIGEST_LEN], &bytes[end..]);
    let held = &bytes[end - DIGEST_LEN..end];
    let header = read_header(header_bytes)?;
    let detail = std::str::from_utf8(kept).map_err(|_| FormatError::Invalid {
        what: "audit detail",
        reason: "not UTF-8".into(),
    })?;
    let empty = digest("");
    let detail_purged = kept.is_empty() && held != empty;
    if !detail_purged && held != digest(detail) {
        return Err(FormatError::Invalid {
            what: "audit detail",
            reason: "it does not match the digest the entry's hash covers".into(),
        });
    }
    Ok(ReadAudit {
        record: AuditRecord {
            at: header.at.load()?,
            actor: header.actor,
            action: header.action,
            referral: parse_opt("referral id", header.referral)?,
            outcome: join_outcome(&header.code, detail),
        },
        detail_purged,
    })
}

/// When an audit record was recorded, read from its header alone (for
/// version 3), so that a detail that cannot be read does not hide it.
pub fn audit_recorded_at(bytes: &[u8]) -> Result<jiff::Timestamp, FormatError> {
    match hashed_len(bytes)? {
        Some(end) => read_header(&bytes[LEAD_LEN..end - DIGEST_LEN])?.at.load(),
        None => read_audit_record(bytes).map(|read| read.record.at),
    }
}

fn read_header(bytes: &[u8]) -> Result<Header, FormatError> {
    let (header, rest) = postcard::take_from_bytes::<Header>(bytes)
        .map_err(|e| FormatError::Decode(format!("audit header: {e}")))?;
    if !rest.is_empty() {
        return Err(FormatError::Decode(format!(
            "{} bytes follow the audit header",
            rest.len()
        )));
    }
    Ok(header)
}

/// Reads an audit record ([`read_audit_record`]), whatever became of its detail.
pub fn decode_audit_record(bytes: &[u8]) -> Result<AuditRecord, FormatError> {
    read_audit_record(bytes).map(|read| read.record)
}

/// The record with its detail purged: cut after the digest. `None` when
/// there is nothing to purge: an empty or purged detail, or a record of an
/// older version (whose hash covers its detail).
pub fn purge_audit_detail(bytes: &[u8]) -> Result<Option<Vec<u8>>, FormatError> {
    Ok(match hashed_len(bytes)? {
        Some(end) if end < bytes.len() => Some(bytes[..end].to_vec()),
        _ => None,
    })
}

/// The entry a store appends once it has re-chained a chain of older
/// records in version 3: it names how many entries were re-chained and
/// the old chain's last hash, so that a hash an auditor kept from before
/// ties to the new chain. Its action says it all; its outcome has no
/// detail to purge.
pub fn rechain_record(entries: u64, former_last_hash: &str, at: jiff::Timestamp) -> AuditRecord {
    AuditRecord {
        at,
        actor: "gateway".into(),
        action: format!(
            "rechain_audit: entries 0..{entries} moved from audit record version 2 to 3; \
             the former chain's last hash was {former_last_hash}"
        ),
        referral: None,
        outcome: "ok".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(outcome: &str) -> AuditRecord {
        AuditRecord {
            at: jiff::Timestamp::from_second(1_796_630_400).unwrap(),
            actor: "tenant=ccpit sub=svc cert=none".into(),
            action: "call /mediation.ccpit.v1.Ccpit/RecordAgreement".into(),
            referral: Some("01JABCDEFGHJKMNPQRSTVWXYZ0".parse().unwrap()),
            outcome: outcome.into(),
        }
    }

    #[test]
    fn an_outcome_splits_at_its_first_colon_and_joins_back_exactly() {
        for (outcome, code, detail) in [
            ("ok", "ok", ""),
            (
                "ok: policy particulars.default",
                "ok",
                "policy particulars.default",
            ),
            ("InvalidArgument: a: b", "InvalidArgument", "a: b"),
            ("Unknown: ", "Unknown: ", ""),
            ("", "", ""),
        ] {
            assert_eq!(split_outcome(outcome), (code, detail), "{outcome:?}");
            assert_eq!(join_outcome(code, detail), outcome);
        }
    }

    #[test]
    fn a_purge_keeps_the_hashed_part_and_drops_only_the_detail() {
        let whole = record("FailedPrecondition: 张三 110101199003077777 does not match");
        let bytes = encode_audit_record(&whole);
        let hashed = audit_hashed_part(&bytes).unwrap().to_vec();
        assert!(!String::from_utf8_lossy(&hashed).contains("张三"));
        let read = read_audit_record(&bytes).unwrap();
        assert_eq!(read.record, whole);
        assert!(!read.detail_purged);

        let purged = purge_audit_detail(&bytes).unwrap().unwrap();
        assert_eq!(purged, hashed, "a purge cuts the record after its digest");
        let read = read_audit_record(&purged).unwrap();
        assert!(read.detail_purged);
        assert_eq!(read.record.outcome, "FailedPrecondition");
        assert_eq!(audit_hashed_part(&purged).unwrap(), &hashed[..]);
        assert_eq!(
            purge_audit_detail(&purged).unwrap(),
            None,
            "nothing left to purge"
        );
    }

    #[test]
    fn an_outcome_without_detail_has_nothing_to_purge_and_is_not_called_purged() {
        let bytes = encode_audit_record(&record("ok"));
        assert_eq!(purge_audit_detail(&bytes).unwrap(), None);
        let read = read_audit_record(&bytes).unwrap();
        assert!(!read.detail_purged);
        assert_eq!(read.record.outcome, "ok");
    }

    #[test]
    fn a_changed_detail_is_refused_and_a_changed_header_changes_the_hashed_part() {
        let bytes = encode_audit_record(&record("rejected: party 2 is a minor"));
        let mut changed = bytes.clone();
        let last = changed.len() - 1;
        changed[last] = b'X';
        let err = read_audit_record(&changed).unwrap_err();
        assert!(err.to_string().contains("digest"), "{err}");

        let other = encode_audit_record(&AuditRecord {
            actor: "tenant=ccpit sub=someone-else cert=none".into(),
            ..record("rejected: party 2 is a minor")
        });
        assert_ne!(
            audit_hashed_part(&other).unwrap(),
            audit_hashed_part(&bytes).unwrap()
        );
    }

    #[test]
    fn a_record_of_version_2_reads_whole_and_cannot_be_purged() {
        let whole = Whole {
            at: Instant::of(&record("ok").at),
            actor: "a".into(),
            action: "b".into(),
            referral: None,
            outcome: "InvalidArgument: c".into(),
        };
        let bytes = crate::encode_versioned(WHOLE_VERSION, &whole);
        assert_eq!(audit_hashed_part(&bytes).unwrap(), &bytes[..]);
        assert_eq!(purge_audit_detail(&bytes).unwrap(), None);
        assert!(!is_current_audit_record(&bytes));
        let read = read_audit_record(&bytes).unwrap();
        assert_eq!(read.record.outcome, "InvalidArgument: c");
        assert!(!read.detail_purged);
    }

    #[test]
    fn bytes_after_the_header_are_refused_and_the_instant_reads_without_the_detail() {
        let bytes = encode_audit_record(&record("rejected: x"));
        let len = u32::from_be_bytes(bytes[1..5].try_into().unwrap()) as usize;
        let mut longer = bytes[..LEAD_LEN + len].to_vec();
        longer.push(0);
        longer.extend_from_slice(&bytes[LEAD_LEN + len..]);
        longer[1..5].copy_from_slice(&((len + 1) as u32).to_be_bytes());
        let err = read_audit_record(&longer).unwrap_err();
        assert!(
            err.to_string().contains("1 bytes follow the audit header"),
            "{err}"
        );
        // A detail changed after the fact: the record is refused, its
        // instant still reads.
        let mut changed = bytes.clone();
        *changed.last_mut().unwrap() = b'y';
        assert!(read_audit_record(&changed).is_err());
        assert_eq!(audit_recorded_at(&changed).unwrap(), record("ok").at);
    }

    #[test]
    fn a_cut_or_unknown_record_is_refused_by_name() {
        let bytes = encode_audit_record(&record("ok"));
        assert!(matches!(
            read_audit_record(&bytes[..3]),
            Err(FormatError::Decode(_))
        ));
        assert!(matches!(
            read_audit_record(&bytes[..bytes.len() - 1]),
            Err(FormatError::Decode(_))
        ));
        assert!(matches!(
            read_audit_record(&[9, 0]),
            Err(FormatError::Version {
                found: 9,
                expected: 3
            })
        ));
    }
}
