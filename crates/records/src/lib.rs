//! The gateway's stored record format: how referrals, their events and
//! snapshots, the outbox, timers, alerts and the audit log are written to a
//! store, whatever the engine.
//!
//! The format belongs to the store, not to the domain or the wire. Each kind
//! of record is a struct of this crate, mirrored from the domain type by hand,
//! encoded with postcard (a compact, non-self-describing serde format) and
//! prefixed by one byte: the record's format version. So:
//!
//! - renaming a domain field, or a field of a gRPC contract, changes nothing
//!   stored; changing what a record holds means changing a struct here, which
//!   the pinned samples (`mediation-store`'s `samples/v2.txt`) catch until the
//!   version is raised;
//! - a record of this format never starts with `{`, which every record of the
//!   first format (the domain's serde JSON) did, so a reader can tell the two
//!   apart while a store is migrated;
//! - every validated value is parsed again when read, exactly as when it was
//!   received, so a stored record cannot bypass the domain's checks.
//!
//! Simple enums are stored as one-byte codes from explicit tables, never by
//! their position or their Rust name; an encoder's `match` is exhaustive, so a
//! new domain variant does not compile until it has a code.
//!
//! `docs/store.md` gives the reasons for the choice.

mod audit;
mod case;
mod history;
mod outcome;
mod records;
pub mod transfer;

pub use audit::{
    AUDIT_VERSION, ReadAudit, audit_hashed_part, audit_recorded_at, decode_audit_record,
    encode_audit_record, encode_audit_record_version_2, is_current_audit_record,
    purge_audit_detail, read_audit_record, rechain_record,
};
pub use history::{
    BUNDLE_VERSION, EVENTS_VERSION, EventRecord, SNAPSHOT_VERSION, decode_bundle, decode_event,
    decode_events, decode_snapshot, encode_bundle, encode_event, encode_events, encode_snapshot,
};
pub use records::{
    DeliveryRecord, DeliveryState, decode_acknowledgement, decode_alert, decode_delivery,
    decode_delivery_state, decode_purged_files, decode_timer, encode_acknowledgement, encode_alert,
    encode_delivery, encode_purged_files, encode_timer, timer_kind_code, timer_kind_of_code,
};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The version byte every record of this format starts with. A record kind
/// that changes gets a new version of its own, and the reader keeps the old
/// struct to read what was stored before.
pub const FORMAT_VERSION: u8 = 2;

/// Whether `bytes` is a record of the first format, the domain types' serde
/// JSON, which a migration rewrites.
pub fn is_first_format(bytes: &[u8]) -> bool {
    bytes.first() == Some(&b'{')
}

/// Why a stored record could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("record of format version {found}, not {expected}")]
    Version { found: u8, expected: u8 },
    #[error("empty record")]
    Empty,
    #[error("undecodable record: {0}")]
    Decode(String),
    #[error("stored {what} is invalid: {reason}")]
    Invalid { what: &'static str, reason: String },
    #[error("stored {what} has unknown code {code}")]
    UnknownCode { what: &'static str, code: u8 },
    #[error("the referral's bundle is needed to read this record and was not given")]
    BundleMissing,
}

/// Encodes a record of this format: the version byte, then the body.
pub fn encode_plain<T: Serialize>(value: &T) -> Vec<u8> {
    let out = vec![FORMAT_VERSION];
    // postcard fails only on types it cannot represent (maps with unknown
    // lengths, `deserialize_any`); the record structs hold none.
    match postcard::to_extend(value, out) {
        Ok(bytes) => bytes,
        Err(e) => unreachable_encoding(&e),
    }
}

#[cold]
#[expect(
    clippy::panic,
    reason = "every record struct is plain data that postcard always encodes; a failure is a bug in this crate, not a condition to handle"
)]
fn unreachable_encoding(e: &postcard::Error) -> ! {
    panic!("a stored record failed to encode: {e}")
}

/// Encodes a record of a kind whose format moved on: `version`, then the
/// body. The kind's reader keeps the older structs for what was stored before.
pub(crate) fn encode_versioned<T: Serialize>(version: u8, value: &T) -> Vec<u8> {
    match postcard::to_extend(value, vec![version]) {
        Ok(bytes) => bytes,
        Err(e) => unreachable_encoding(&e),
    }
}

/// Decodes a record written by [`encode_versioned`] with `version`.
pub(crate) fn decode_versioned<T: DeserializeOwned>(
    version: u8,
    bytes: &[u8],
) -> Result<T, FormatError> {
    let (&found, body) = bytes.split_first().ok_or(FormatError::Empty)?;
    if found != version {
        return Err(FormatError::Version {
            found,
            expected: version,
        });
    }
    decode_body(body)
}

/// Decodes a record written by [`encode_plain`].
pub fn decode_plain<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, FormatError> {
    let (&version, body) = bytes.split_first().ok_or(FormatError::Empty)?;
    if version != FORMAT_VERSION {
        return Err(FormatError::Version {
            found: version,
            expected: FORMAT_VERSION,
        });
    }
    decode_body(body)
}

fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FormatError> {
    let (value, rest) =
        postcard::take_from_bytes(body).map_err(|e| FormatError::Decode(e.to_string()))?;
    if !rest.is_empty() {
        return Err(FormatError::Decode(format!(
            "{} bytes after the record",
            rest.len()
        )));
    }
    Ok(value)
}

/// A stored struct and the domain type it mirrors.
pub(crate) trait Mirror: Sized {
    type Domain;
    fn of(domain: &Self::Domain) -> Self;
    fn load(self) -> Result<Self::Domain, FormatError>;
}

pub(crate) fn many<M: Mirror>(domain: &[M::Domain]) -> Vec<M> {
    domain.iter().map(M::of).collect()
}

pub(crate) fn load_all<M: Mirror>(stored: Vec<M>) -> Result<Vec<M::Domain>, FormatError> {
    stored.into_iter().map(M::load).collect()
}

pub(crate) fn opt<M: Mirror>(domain: Option<&M::Domain>) -> Option<M> {
    domain.map(M::of)
}

pub(crate) fn load_opt<M: Mirror>(stored: Option<M>) -> Result<Option<M::Domain>, FormatError> {
    stored.map(M::load).transpose()
}

/// A validated string as stored: its text.
pub(crate) fn text<T: AsRef<str>>(value: &T) -> String {
    value.as_ref().to_owned()
}

/// Parses a stored validated string again.
pub(crate) fn parse<T>(what: &'static str, value: String) -> Result<T, FormatError>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    T::try_from(value).map_err(|e| FormatError::Invalid {
        what,
        reason: e.to_string(),
    })
}

pub(crate) fn text_opt<T: AsRef<str>>(value: Option<&T>) -> Option<String> {
    value.map(text)
}

pub(crate) fn parse_opt<T>(
    what: &'static str,
    value: Option<String>,
) -> Result<Option<T>, FormatError>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    value.map(|v| parse(what, v)).transpose()
}

/// An instant: seconds since 1970 and the nanoseconds past them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Instant(i64, i32);

impl Mirror for Instant {
    type Domain = jiff::Timestamp;
    fn of(t: &jiff::Timestamp) -> Self {
        Self(t.as_second(), t.subsec_nanosecond())
    }
    fn load(self) -> Result<jiff::Timestamp, FormatError> {
        jiff::Timestamp::new(self.0, self.1).map_err(|e| FormatError::Invalid {
            what: "instant",
            reason: e.to_string(),
        })
    }
}

/// A civil date: year, month, day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Day(i16, i8, i8);

impl Mirror for Day {
    type Domain = jiff::civil::Date;
    fn of(d: &jiff::civil::Date) -> Self {
        Self(d.year(), d.month(), d.day())
    }
    fn load(self) -> Result<jiff::civil::Date, FormatError> {
        jiff::civil::Date::new(self.0, self.1, self.2).map_err(|e| FormatError::Invalid {
            what: "date",
            reason: e.to_string(),
        })
    }
}

/// A fieldless domain enum stored as a one-byte code.
pub(crate) trait Coded: Sized + Copy {
    const WHAT: &'static str;
    fn code(self) -> u8;
    fn from_code(code: u8) -> Option<Self>;
    fn decode(code: u8) -> Result<Self, FormatError> {
        Self::from_code(code).ok_or(FormatError::UnknownCode {
            what: Self::WHAT,
            code,
        })
    }
}

/// Gives a fieldless enum its table of codes. The codes are the format:
/// never reuse or renumber one.
macro_rules! codes {
    ($ty:ty, $what:literal { $($variant:path = $code:literal),* $(,)? }) => {
        impl $crate::Coded for $ty {
            const WHAT: &'static str = $what;
            fn code(self) -> u8 {
                match self {
                    $($variant => $code),*
                }
            }
            fn from_code(code: u8) -> Option<Self> {
                match code {
                    $($code => Some($variant),)*
                    _ => None,
                }
            }
        }
    };
}
pub(crate) use codes;

#[cfg(test)]
mod tests;

/// The hash of an audit entry: SHA-256 over its number (8 bytes,
/// big-endian), the previous entry's hash and the record's hashed part
/// ([`audit_hashed_part`]), in hex.
/// Every backend chains its audit log with it, so one verifier reads both.
pub fn chain_hash(seq: u64, prev_hash: &str, record: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(seq.to_be_bytes());
    hasher.update(prev_hash.as_bytes());
    hasher.update(record);
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
