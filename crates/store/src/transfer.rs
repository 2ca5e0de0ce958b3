//! Hands every record of the store to another backend, table by table, in
//! the form `mediation_records::transfer` gives it: the records unchanged,
//! and what their keys hold, parsed.

use mediation_core::store::StoreError;
use mediation_records::transfer::StoredItem;
use mediation_records::{decode_delivery_state, decode_events, decode_plain, decode_timer};

use crate::SledStore;
use crate::format::unavailable;
use crate::format::{AuditHead, AuditLink, corrupt, split_head};
use crate::keys::{self, Table};
use crate::tables::audit::read_audit_entry;
use crate::writer::read_count;

fn text(key: &[u8], part: Option<&[u8]>) -> Result<String, StoreError> {
    part.and_then(|p| std::str::from_utf8(p).ok())
        .map(str::to_owned)
        .ok_or_else(|| StoreError::Corrupt(format!("{}: not a key", String::from_utf8_lossy(key))))
}

impl SledStore {
    /// Calls `each` with every record, referrals first (so that what names
    /// a referral comes after it), then the rest; stops at `each`'s first
    /// error. For `store import` into another backend.
    pub fn transfer(
        &self,
        mut each: impl FnMut(StoredItem) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let db = self.inner.shared.db()?;
        let scan = |table: Table| db.scan_prefix(table.prefix());
        for entry in db.range(Table::Heads.bounds()) {
            let (key, value) = entry.map_err(unavailable)?;
            let id = keys::referral_of_head(&key)
                .ok_or_else(|| StoreError::Corrupt("referral head key".into()))?;
            let (version, snapshot) = split_head(&key, &value)?;
            let bundle = db
                .get(keys::bundle(&id))
                .map_err(unavailable)?
                .ok_or_else(|| StoreError::Corrupt(format!("{id}: its bundle is missing")))?;
            each(StoredItem::Referral {
                id: id.to_string(),
                version,
                snapshot: snapshot.to_vec(),
                bundle: bundle.to_vec(),
            })?;
        }
        for entry in scan(Table::Events) {
            let (key, value) = entry.map_err(unavailable)?;
            // e/{referral}/{version, 16 hex}
            let rest = text(&key, key.get(2..))?;
            let (referral, version) = rest
                .rsplit_once('/')
                .and_then(|(r, v)| Some((r.to_owned(), u64::from_str_radix(v, 16).ok()?)))
                .ok_or_else(|| StoreError::Corrupt(format!("{rest}: not an event key")))?;
            // A key holds one event, or (from schema 7) a commit's events
            // from `version` on: each goes on alone.
            let records = decode_events(&value).map_err(|e| corrupt(&key, e))?;
            for (n, record) in records.into_iter().enumerate() {
                each(StoredItem::Event {
                    referral: referral.clone(),
                    version: version + n as u64,
                    at: record.at(),
                    record: record.lone_record(),
                })?;
            }
        }
        for (prefix, platform) in [
            (Table::CourtKeys.prefix(), false),
            (Table::IntakeKeys.prefix(), true),
        ] {
            for entry in db.scan_prefix(prefix) {
                let (key, value) = entry.map_err(unavailable)?;
                // c/{court}\0{id}, or q/{platform}/{court}\0{id}
                let rest = text(&key, key.get(2..))?;
                let (filed_by, rest) = if platform {
                    let (p, rest) = rest
                        .split_once('/')
                        .ok_or_else(|| StoreError::Corrupt(format!("{rest}: not a court key")))?;
                    (Some(p.to_owned()), rest.to_owned())
                } else {
                    (None, rest)
                };
                let (court, court_referral_id) = filed_by_parts(&rest)?;
                each(StoredItem::CourtKey {
                    filed_by,
                    court,
                    court_referral_id,
                    referral: text(&key, Some(&value))?,
                })?;
            }
        }
        for entry in db.range(Table::PurgedFiles.bounds()) {
            let (key, value) = entry.map_err(unavailable)?;
            each(StoredItem::PurgedFiles {
                referral: text(&key, Table::PurgedFiles.rest(&key))?,
                record: value.to_vec(),
            })?;
        }
        for entry in scan(Table::Loads) {
            let (key, value) = entry.map_err(unavailable)?;
            let organisation = keys::organisation_of_load(&key)
                .ok_or_else(|| StoreError::Corrupt("load key".into()))?;
            each(StoredItem::Load {
                organisation: organisation.to_string(),
                open: read_count(Some(&value)),
            })?;
        }
        for entry in db.range(Table::Timers.bounds()) {
            let (key, value) = entry.map_err(unavailable)?;
            let timer = decode_timer(&value).map_err(|e| corrupt(&key, e))?;
            each(StoredItem::Timer {
                referral: timer.referral.to_string(),
                kind: timer.kind.as_str().to_owned(),
                fire_at: timer.fire_at,
                record: value.to_vec(),
            })?;
        }
        // Lane by lane, each in order: the key is {destination}\0{referral}\0{seq}.
        for entry in db.range(Table::Outbox.bounds()) {
            let (key, value) = entry.map_err(unavailable)?;
            let state = decode_delivery_state(&value).map_err(|e| corrupt(&key, e))?;
            let (destination, _) = keys::message_id_of(&key)
                .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
            let referral = keys::referral_of_message(&key)
                .ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
            let seq =
                keys::trailing_seq(&key).ok_or_else(|| StoreError::Corrupt("outbox key".into()))?;
            each(StoredItem::Message {
                seq,
                destination: destination.to_owned(),
                referral: referral.to_string(),
                enqueued_at: state.enqueued_at,
                next_attempt_at: state.next_attempt_at,
                dead: state.dead,
                record: value.to_vec(),
            })?;
        }
        for entry in scan(Table::Alerts) {
            let (key, value) = entry.map_err(unavailable)?;
            let seq =
                keys::trailing_seq(&key).ok_or_else(|| StoreError::Corrupt("alert key".into()))?;
            each(StoredItem::Alert {
                seq,
                record: value.to_vec(),
            })?;
        }
        for entry in scan(Table::Acknowledgements) {
            let (key, value) = entry.map_err(unavailable)?;
            let seq = keys::trailing_seq(&key)
                .ok_or_else(|| StoreError::Corrupt("acknowledgement key".into()))?;
            each(StoredItem::Acknowledgement {
                seq,
                record: value.to_vec(),
            })?;
        }
        for entry in db.range(Table::Audit.bounds()) {
            let (key, value) = entry.map_err(unavailable)?;
            // Read whole, so an entry that cannot be read stops the move;
            // carried as stored, the detail beside its digest with it.
            let (entry, _) = read_audit_entry(&key, &value)?;
            let link: AuditLink = decode_plain(&value).map_err(|e| corrupt(&key, e))?;
            each(StoredItem::Audit {
                seq: entry.seq,
                prev_hash: entry.prev_hash,
                hash: entry.hash,
                record: link.record,
            })?;
        }
        let head: AuditHead = match db.get(keys::AUDIT_HEAD).map_err(unavailable)? {
            Some(bytes) => decode_plain(&bytes).map_err(|e| corrupt(keys::AUDIT_HEAD, e))?,
            None => AuditHead::genesis(),
        };
        each(StoredItem::AuditHead {
            next_seq: head.next_seq,
            last_hash: head.last_hash,
        })
    }
}

/// The court and its id in `{court}\0{id}`.
fn filed_by_parts(rest: &str) -> Result<(String, String), StoreError> {
    rest.split_once('\0')
        .map(|(c, i)| (c.to_owned(), i.to_owned()))
        .ok_or_else(|| StoreError::Corrupt(format!("{rest}: not a court key")))
}
