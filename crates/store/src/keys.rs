//! The key layout. Everything lives in one sled keyspace so that each command is
//! one atomic `Batch`; a one-letter prefix names the table.
//!
//! | prefix | key | value |
//! |---|---|---|
//! | `m/` | `m/schema`, `m/seq/outbox`, `m/seq/alert`, `m/audit_head` | metadata |
//! | `r/` | `r/{referral}` | head: the version (u64 BE), the referral's timers (kind code and instant each), then the snapshot of its state |
//! | `b/` | `b/{referral}` | the referral's case bundle, kept once |
//! | `e/` | `e/{referral}/{version}` | the events of one commit, named by the first one's version (a `Received` event without its bundle); before schema 7, one event each |
//! | `c/` | `c/{court}\0{court referral id}` | referral id (idempotency) |
//! | `q/` | `q/{platform}/{court}\0{intake id}` | referral id of a platform's direct intake (idempotency, apart from the courts') |
//! | `t/` | `t/{fire at}/{referral}/{kind}` | timer, ordered by due time |
//! | `o/` | `o/{referral}\0{destination}\0{seq}` | outbox message, naming the bundle rather than holding it; a lane is one prefix, a referral's messages another |
//! | `s/` | `s/{destination}\0{next attempt}/{seq}` | schedule: lane heads only, per destination, ordered by due time |
//! | `d/` | `d/{seq}` | dead letters: the message's `o/` key |
//! | `x/` | `x/{referral}/{seq}` | the W3C trace context of the call that made the message, when it was traced; kept beside the message record so that the record's format is unchanged, and removed with the message |
//! | `w/` | `w/{destination}\0{seq}` | every waiting message that has failed once or more (retried, dead, replayed), by destination in order of arrival: the message's `o/` key (schema 7; before, every waiting message) |
//! | `n/` | `n/{destination}` | the destination's pending and dead messages (two u64 BE), kept with each write |
//! | `a/` | `a/{seq}` | alert |
//! | `k/` | `k/{seq}` | an operator's acknowledgement of alert `seq` |
//! | `u/` | `u/{seq}` | audit entry |
//! | `l/` | `l/{organisation}` | the organisation's open referrals (u64 BE), kept with each commit |
//! | `y/` | `y/{day}/{referral}` | empty: the referral has an event on that day (UTC); statistics read only the referrals of their period's days |
//!
//! Retired in schema 4: `T/{referral}/{kind}` (a timer's key: the head lists
//! them now) and `p/{referral}/{seq}` (a message's key: messages live under
//! their referral now). Retired in schema 2: `i/` and `S/`. [`Table`] names
//! every one, retired or not.
//!
//! Values are records of the store's own format (`mediation-records`), but
//! for the counts, the indexes (whose values are keys) and the idempotency
//! keys (whose values are referral ids).
//!
//! Numbers are fixed-width hexadecimal so that byte order is numeric order;
//! instants are milliseconds since 1970 with the sign bit flipped, so that they
//! sort correctly across the epoch too.

use jiff::Timestamp;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::outbox::Destination;
use mediation_core::store::{CourtKey, MessageId};
use mediation_core::timer::TimerKind;

/// Every kind of key the store has ever written, each a one-letter prefix:
/// the one place that maps a table to its prefix and a key back to its
/// table ([`Table::of_key`]). A retired kind keeps its letter, marked with
/// the schema that stopped writing it, so that the letter is never reused
/// and a migration can still name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    /// `m/`: metadata (schema version, counters, markers).
    Meta,
    /// `r/`: referral heads.
    Heads,
    /// `b/`: case bundles.
    Bundles,
    /// `e/`: events.
    Events,
    /// `c/`: the courts' idempotency keys.
    CourtKeys,
    /// `q/`: the platforms' direct intakes' idempotency keys.
    IntakeKeys,
    /// `t/`: timers by due time.
    Timers,
    /// `o/`: outbox messages, a lane per prefix.
    Outbox,
    /// `s/`: the outbox schedule by next attempt.
    Schedule,
    /// `d/`: dead letters.
    DeadLetters,
    /// `x/`: the trace contexts of messages.
    Traces,
    /// `w/`: waiting messages by destination, in order of arrival.
    Arrivals,
    /// `n/`: destinations' counts of pending and dead messages.
    Backlogs,
    /// `a/`: alerts.
    Alerts,
    /// `k/`: acknowledgements of alerts.
    Acknowledgements,
    /// `u/`: the audit log.
    Audit,
    /// `l/`: organisations' counts of open referrals.
    Loads,
    /// `y/`: referrals by the days of their events.
    Activity,
    /// `f/`: the case files of purged referrals still to be removed from
    /// disk (schema 5).
    PurgedFiles,
    /// `T/`: a referral's timer keys. Retired in schema 4 (the head lists
    /// its timers).
    TimerRefs,
    /// `p/`: a referral's message keys. Retired in schema 4 (messages live
    /// under their referral).
    MessageRefs,
    /// `i/`: messages by number. Retired in schema 2.
    FirstIndex,
    /// `S/`: lane heads of the one schedule. Retired in schema 2.
    FirstSchedule,
}

impl Table {
    pub(crate) const ALL: [Table; 23] = [
        Table::Meta,
        Table::Heads,
        Table::Bundles,
        Table::Events,
        Table::CourtKeys,
        Table::IntakeKeys,
        Table::Timers,
        Table::Outbox,
        Table::Schedule,
        Table::DeadLetters,
        Table::Traces,
        Table::Arrivals,
        Table::Backlogs,
        Table::Alerts,
        Table::Acknowledgements,
        Table::Audit,
        Table::Loads,
        Table::Activity,
        Table::PurgedFiles,
        Table::TimerRefs,
        Table::MessageRefs,
        Table::FirstIndex,
        Table::FirstSchedule,
    ];

    const fn letter(self) -> u8 {
        match self {
            Table::Meta => b'm',
            Table::Heads => b'r',
            Table::Bundles => b'b',
            Table::Events => b'e',
            Table::CourtKeys => b'c',
            Table::IntakeKeys => b'q',
            Table::Timers => b't',
            Table::Outbox => b'o',
            Table::Schedule => b's',
            Table::DeadLetters => b'd',
            Table::Traces => b'x',
            Table::Arrivals => b'w',
            Table::Backlogs => b'n',
            Table::Alerts => b'a',
            Table::Acknowledgements => b'k',
            Table::Audit => b'u',
            Table::Loads => b'l',
            Table::Activity => b'y',
            Table::PurgedFiles => b'f',
            Table::TimerRefs => b'T',
            Table::MessageRefs => b'p',
            Table::FirstIndex => b'i',
            Table::FirstSchedule => b'S',
        }
    }

    /// The schema that stopped writing the table, for a retired one.
    pub(crate) const fn retired_in(self) -> Option<u32> {
        match self {
            Table::TimerRefs | Table::MessageRefs => Some(4),
            Table::FirstIndex | Table::FirstSchedule => Some(2),
            _ => None,
        }
    }

    /// The table a key belongs to; `None` for a key no gateway wrote.
    pub(crate) fn of_key(key: &[u8]) -> Option<Table> {
        match key {
            [letter, b'/', ..] => Table::ALL.into_iter().find(|t| t.letter() == *letter),
            _ => None,
        }
    }

    /// Every key of the table starts with this.
    pub(crate) fn prefix(self) -> [u8; 2] {
        [self.letter(), b'/']
    }

    /// The table's keys in order: from its prefix up to, not including,
    /// the first key past it (`/` + 1 is `0`).
    pub(crate) fn bounds(self) -> std::ops::Range<Vec<u8>> {
        self.prefix().to_vec()..vec![self.letter(), b'/' + 1]
    }

    /// What follows the prefix in one of the table's keys.
    pub(crate) fn rest(self, key: &[u8]) -> Option<&[u8]> {
        key.strip_prefix(&self.prefix()[..])
    }
}

pub(crate) const SCHEMA: &[u8] = b"m/schema";
pub(crate) const OUTBOX_SEQ: &[u8] = b"m/seq/outbox";
pub(crate) const ALERT_SEQ: &[u8] = b"m/seq/alert";
pub(crate) const AUDIT_HEAD: &[u8] = b"m/audit_head";
/// Present once every referral's events are in the `y/` activity index:
/// written with the first index of a new store, or after the one-time
/// rebuild of an older one.
pub(crate) const ACTIVITY_INDEXED: &[u8] = b"m/activity_indexed";
/// Present once the `l/` load counts hold every referral: written when a
/// new store is made, or after the one-time count of an older one.
pub(crate) const LOADS_KEPT: &[u8] = b"m/loads_kept";
/// Present once the `n/` counts hold every waiting message and the `w/`
/// order of arrival every one that has failed: written when a new store is made, or after the
/// one-time count of an older one.
pub(crate) const BACKLOG_KEPT: &[u8] = b"m/backlog_kept";
/// While a store moves to schema 4: the last referral whose head lists its
/// timers.
pub(crate) const MIGRATING_HEADS: &[u8] = b"m/migrating/heads";
/// While a store moves to schema 6: how far the audit chain is re-chained
/// (`migrate_v6::Progress`).
pub(crate) const MIGRATING_AUDIT: &[u8] = b"m/migrating/audit";
/// While a store moves to schema 7: present until the order of arrival
/// keeps only the messages that have failed (`migrate_v7`).
pub(crate) const MIGRATING_ARRIVALS: &[u8] = b"m/migrating/arrivals";
/// The number of the first audit entry whose outcome detail the retention
/// pass has not yet looked at (u64 big-endian; 0 when absent).
pub(crate) const AUDIT_DETAILS_PURGED_TO: &[u8] = b"m/audit_details_purged_to";

/// An organisation's count of open referrals.
pub(crate) fn load(organisation: &OrganisationId) -> Vec<u8> {
    format!("l/{organisation}").into_bytes()
}

/// The organisation a load key names.
pub(crate) fn organisation_of_load(key: &[u8]) -> Option<OrganisationId> {
    let id = std::str::from_utf8(key.strip_prefix(b"l/")?).ok()?;
    OrganisationId::parse(id).ok()
}

/// The day (UTC, counted from 1970) of an instant, for the activity index.
pub(crate) fn day_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(86_400)
}

/// `referral` has an event on `day`.
pub(crate) fn activity(day: i64, referral: &ReferralId) -> Vec<u8> {
    format!("y/{}/{referral}", day_bits(day)).into_bytes()
}

/// The activity keys of days `first` to `last`, both included.
pub(crate) fn activity_days(first: i64, last: i64) -> std::ops::Range<Vec<u8>> {
    format!("y/{}/", day_bits(first)).into_bytes()
        ..format!("y/{}/", day_bits(last.saturating_add(1))).into_bytes()
}

/// The referral an activity key names.
pub(crate) fn referral_of_activity(key: &[u8]) -> Option<ReferralId> {
    let rest = key.strip_prefix(b"y/")?;
    let id = std::str::from_utf8(rest.get(17..)?).ok()?;
    ReferralId::parse(id).ok()
}

/// A day as 16 hexadecimal digits that sort as the days do.
fn day_bits(day: i64) -> String {
    format!("{:016x}", day as u64 ^ (1 << 63))
}

/// An instant as 16 hexadecimal digits that sort as the instants do.
fn instant_bits(t: Timestamp) -> u64 {
    t.as_millisecond() as u64 ^ (1 << 63)
}

pub(crate) fn instant(t: Timestamp) -> String {
    format!("{:016x}", instant_bits(t))
}

pub(crate) fn seq(n: u64) -> String {
    format!("{n:016x}")
}

pub(crate) fn head(referral: &ReferralId) -> Vec<u8> {
    format!("r/{referral}").into_bytes()
}

pub(crate) fn bundle(referral: &ReferralId) -> Vec<u8> {
    format!("b/{referral}").into_bytes()
}

pub(crate) fn purged_files(referral: &ReferralId) -> Vec<u8> {
    format!("f/{referral}").into_bytes()
}

pub(crate) fn events_prefix(referral: &ReferralId) -> Vec<u8> {
    format!("e/{referral}/").into_bytes()
}

pub(crate) fn event(referral: &ReferralId, version: u64) -> Vec<u8> {
    format!("e/{referral}/{}", seq(version)).into_bytes()
}

pub(crate) fn court(key: &CourtKey) -> Vec<u8> {
    match key.filed_by {
        None => format!("c/{}\0{}", key.court, key.court_referral_id).into_bytes(),
        Some(platform) => format!(
            "q/{}/{}\0{}",
            platform.as_str(),
            key.court,
            key.court_referral_id
        )
        .into_bytes(),
    }
}

pub(crate) fn timer(fire_at: Timestamp, referral: &ReferralId, kind: TimerKind) -> Vec<u8> {
    format!("t/{}/{referral}/{}", instant(fire_at), kind.as_str()).into_bytes()
}

/// The keys of a table ordered by instant, up to and including `now`.
fn until(table: Table, now: Timestamp) -> (Vec<u8>, Vec<u8>) {
    let mut end = table.prefix().to_vec();
    end.extend_from_slice(format!("{:016x}", instant_bits(now) + 1).as_bytes());
    (table.prefix().to_vec(), end)
}

pub(crate) fn timers_until(now: Timestamp) -> (Vec<u8>, Vec<u8>) {
    until(Table::Timers, now)
}

/// A lane: the messages of one referral to one destination, in order.
/// Every message of a referral is under one prefix ([`referral_outbox`]),
/// so that a message is found by its id, and a referral's messages listed,
/// without an index of their own.
pub(crate) fn lane(destination: &Destination, referral: &ReferralId) -> Vec<u8> {
    format!("o/{referral}\0{}\0", destination.key()).into_bytes()
}

/// Every message of `referral`, lane by lane.
pub(crate) fn referral_outbox(referral: &ReferralId) -> Vec<u8> {
    format!("o/{referral}\0").into_bytes()
}

/// The key of message `n` in a lane.
pub(crate) fn message(lane: &[u8], n: u64) -> Vec<u8> {
    let mut key = lane.to_vec();
    key.extend_from_slice(seq(n).as_bytes());
    key
}

/// The parts of a message key: referral, destination key, number.
fn message_parts(key: &[u8]) -> Option<(&str, &[u8], &str)> {
    let rest = Table::Outbox.rest(key)?;
    let first = rest.iter().position(|&b| b == 0)?;
    let (referral, rest) = (&rest[..first], &rest[first + 1..]);
    let second = rest.iter().position(|&b| b == 0)?;
    let (destination, n) = (&rest[..second], &rest[second + 1..]);
    Some((
        std::str::from_utf8(referral).ok()?,
        destination,
        std::str::from_utf8(n).ok()?,
    ))
}

/// The destination key and message id a message key names, read from the key
/// alone (the id is `{referral}-{seq}`, as the writer gives it).
pub(crate) fn message_id_of(key: &[u8]) -> Option<(&str, MessageId)> {
    let (referral, destination, n) = message_parts(key)?;
    Some((
        std::str::from_utf8(destination).ok()?,
        MessageId(format!("{referral}-{n}")),
    ))
}

/// The referral a message key names.
pub(crate) fn referral_of_message(key: &[u8]) -> Option<ReferralId> {
    ReferralId::parse(message_parts(key)?.0).ok()
}

/// The destination key a message key names.
pub(crate) fn destination_in(message_key: &[u8]) -> &[u8] {
    message_parts(message_key).map_or(&[][..], |(_, destination, _)| destination)
}

/// Where the head of a lane waits: in its destination's schedule, by when
/// its next attempt is due.
pub(crate) fn schedule(message_key: &[u8], next_attempt_at: Timestamp, n: u64) -> Vec<u8> {
    let mut key = destination_schedule(destination_in(message_key));
    key.extend_from_slice(format!("{}/{}", instant(next_attempt_at), seq(n)).as_bytes());
    key
}

/// Every key of a destination's schedule starts with this.
pub(crate) fn destination_schedule(destination: &[u8]) -> Vec<u8> {
    let mut key = b"s/".to_vec();
    key.extend_from_slice(destination);
    key.push(0);
    key
}

/// A destination's schedule, up to and including `now`.
pub(crate) fn schedule_until(destination: &[u8], now: Timestamp) -> std::ops::Range<Vec<u8>> {
    let start = destination_schedule(destination);
    let mut end = start.clone();
    end.extend_from_slice(format!("{:016x}", instant_bits(now) + 1).as_bytes());
    start..end
}

/// The first schedule key of the destination after `destination`'s keys.
pub(crate) fn after_destination(destination: &[u8]) -> Vec<u8> {
    let mut key = b"s/".to_vec();
    key.extend_from_slice(destination);
    key.push(1);
    key
}

/// The destination key a schedule key names, and whether it is a key of
/// the first format (`s/{next attempt}/{seq}`, with no destination).
pub(crate) fn destination_of_schedule(key: &[u8]) -> Option<&[u8]> {
    let rest = Table::Schedule.rest(key)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(&rest[..end])
}

/// Where message `n` waits in its destination's order of arrival, once an
/// attempt to deliver it has failed. A message that never failed needs no
/// such key: it is its lane's head or behind one, and a head that never
/// failed is in the schedule at the instant it was enqueued. So the
/// destination's oldest waiting message is the earlier of its first `w/`
/// message and its first schedule entry (a failed message in the schedule
/// is due after it was enqueued, so after its own `w/` entry's age).
pub(crate) fn waiting(message_key: &[u8], n: u64) -> Vec<u8> {
    let mut key = destination_waiting(destination_in(message_key));
    key.extend_from_slice(seq(n).as_bytes());
    key
}

/// Every key of a destination's messages in order of arrival starts with this.
pub(crate) fn destination_waiting(destination: &[u8]) -> Vec<u8> {
    let mut key = b"w/".to_vec();
    key.extend_from_slice(destination);
    key.push(0);
    key
}

/// A destination's counts of pending and dead messages.
pub(crate) fn backlog(destination: &[u8]) -> Vec<u8> {
    let mut key = b"n/".to_vec();
    key.extend_from_slice(destination);
    key
}

/// The destination a backlog key names.
pub(crate) fn destination_of_backlog(key: &[u8]) -> Option<&[u8]> {
    key.strip_prefix(b"n/")
}

/// The referral and number a message id names (`{referral}-{seq}`, as the
/// writer gives it).
pub(crate) fn message_of_id(id: &MessageId) -> Option<(ReferralId, u64)> {
    let (referral, n) = id.0.rsplit_once('-')?;
    Some((
        ReferralId::parse(referral).ok()?,
        u64::from_str_radix(n, 16).ok()?,
    ))
}

pub(crate) fn trace(referral: &ReferralId, n: u64) -> Vec<u8> {
    format!("x/{referral}/{}", seq(n)).into_bytes()
}

pub(crate) fn dead(n: u64) -> Vec<u8> {
    format!("d/{}", seq(n)).into_bytes()
}

pub(crate) fn acknowledgement(n: u64) -> Vec<u8> {
    format!("k/{n:016x}").into_bytes()
}

pub(crate) fn alert(n: u64) -> Vec<u8> {
    format!("a/{}", seq(n)).into_bytes()
}

pub(crate) fn audit(n: u64) -> Vec<u8> {
    format!("u/{}", seq(n)).into_bytes()
}

/// The key layout of schemas 1 to 3, where it differs: what the migration
/// to schema 4 reads (and the tests that build older stores write).
pub(crate) mod v3 {
    use super::*;

    /// `o/{destination}\0{referral}\0`: lanes grouped by destination.
    #[cfg(test)]
    pub(crate) fn lane(destination: &Destination, referral: &ReferralId) -> Vec<u8> {
        format!("o/{}\0{referral}\0", destination.key()).into_bytes()
    }

    /// The destination key, referral and number of a message key of this
    /// layout; `None` for a key of schema 4's, which starts with a referral.
    pub(crate) fn parts(key: &[u8]) -> Option<(&[u8], ReferralId, u64)> {
        let (first, second, n) = message_parts(key)?;
        if ReferralId::parse(first).is_ok() {
            return None;
        }
        let referral = ReferralId::parse(std::str::from_utf8(second).ok()?).ok()?;
        Some((first.as_bytes(), referral, u64::from_str_radix(n, 16).ok()?))
    }

    /// The message's lane-head entry in its destination's schedule.
    pub(crate) fn schedule(message_key: &[u8], at: Timestamp, n: u64) -> Vec<u8> {
        let destination = parts(message_key).map_or(&[][..], |(destination, _, _)| destination);
        let mut key = destination_schedule(destination);
        key.extend_from_slice(format!("{}/{}", instant(at), seq(n)).as_bytes());
        key
    }

    /// `p/{referral}/{seq}`: the message's `o/` key (retired in schema 4).
    pub(crate) fn referral_message(referral: &ReferralId, n: u64) -> Vec<u8> {
        format!("p/{referral}/{}", seq(n)).into_bytes()
    }

    /// `T/{referral}/{kind}`: a timer's key (retired in schema 4, where the
    /// head lists its referral's timers).
    #[cfg(test)]
    pub(crate) fn timer_ref(referral: &ReferralId, kind: TimerKind) -> Vec<u8> {
        format!("T/{referral}/{}", kind.as_str()).into_bytes()
    }
}

/// The instant encoded in a `t/` or `s/` key.
pub(crate) fn instant_in(key: &[u8]) -> Option<Timestamp> {
    let rest = match Table::Timers.rest(key) {
        Some(rest) => rest,
        None => {
            let rest = Table::Schedule.rest(key)?;
            &rest[rest.iter().position(|&b| b == 0)? + 1..]
        }
    };
    let hex = std::str::from_utf8(rest.get(..16)?).ok()?;
    let ms = u64::from_str_radix(hex, 16).ok()? ^ (1 << 63);
    Timestamp::from_millisecond(ms as i64).ok()
}

/// The referral a `r/` key names.
pub(crate) fn referral_of_head(key: &[u8]) -> Option<ReferralId> {
    let id = std::str::from_utf8(Table::Heads.rest(key)?).ok()?;
    ReferralId::parse(id).ok()
}

/// The sequence number at the end of a key such as `i/…` or `S/…`.
pub(crate) fn trailing_seq(key: &[u8]) -> Option<u64> {
    let hex = std::str::from_utf8(key.get(key.len().checked_sub(16)?..)?).ok()?;
    u64::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_key_names_its_destination_and_id() {
        let referral: ReferralId = "01JD0000000000000000000000".parse().unwrap();
        let destination = Destination::Partner(mediation_core::partner::Partner::Ccpit);
        let key = message(&lane(&destination, &referral), 255);
        let (named, id) = message_id_of(&key).unwrap();
        assert_eq!(named, destination.key());
        assert_eq!(id.0, format!("{referral}-{}", seq(255)));
        assert!(message_id_of(b"s/whatever").is_none());
        assert_eq!(referral_of_message(&key), Some(referral));
    }

    /// Every key the builders make names its table, and no two tables
    /// share a letter.
    #[test]
    fn every_key_maps_to_its_table_and_back() {
        let referral: ReferralId = "01JD0000000000000000000000".parse().unwrap();
        let destination = Destination::Partner(mediation_core::partner::Partner::Ccpit);
        let at: Timestamp = "2025-03-03T01:00:00Z".parse().unwrap();
        let message = message(&lane(&destination, &referral), 3);
        let court = CourtKey {
            court: "京0105".parse().unwrap(),
            court_referral_id: "X-1".parse().unwrap(),
            filed_by: None,
        };
        let intake = CourtKey {
            filed_by: Some(mediation_core::partner::Partner::Ccpit),
            ..court.clone()
        };
        let organisation = OrganisationId::parse("org-a").unwrap();
        let cases: Vec<(Vec<u8>, Table)> = vec![
            (SCHEMA.to_vec(), Table::Meta),
            (MIGRATING_HEADS.to_vec(), Table::Meta),
            (MIGRATING_AUDIT.to_vec(), Table::Meta),
            (MIGRATING_ARRIVALS.to_vec(), Table::Meta),
            (AUDIT_DETAILS_PURGED_TO.to_vec(), Table::Meta),
            (head(&referral), Table::Heads),
            (bundle(&referral), Table::Bundles),
            (event(&referral, 1), Table::Events),
            (self::court(&court), Table::CourtKeys),
            (self::court(&intake), Table::IntakeKeys),
            (
                timer(at, &referral, TimerKind::AcceptanceBreach),
                Table::Timers,
            ),
            (message.clone(), Table::Outbox),
            (schedule(&message, at, 3), Table::Schedule),
            (dead(3), Table::DeadLetters),
            (trace(&referral, 3), Table::Traces),
            (waiting(&message, 3), Table::Arrivals),
            (backlog(destination.key().as_bytes()), Table::Backlogs),
            (alert(1), Table::Alerts),
            (acknowledgement(1), Table::Acknowledgements),
            (audit(0), Table::Audit),
            (load(&organisation), Table::Loads),
            (activity(day_of(at), &referral), Table::Activity),
            (v3::referral_message(&referral, 3), Table::MessageRefs),
            (
                v3::timer_ref(&referral, TimerKind::AcceptanceBreach),
                Table::TimerRefs,
            ),
        ];
        for (key, table) in cases {
            assert_eq!(
                Table::of_key(&key),
                Some(table),
                "{}",
                String::from_utf8_lossy(&key)
            );
            assert!(table.bounds().contains(&key));
        }
        let letters: std::collections::HashSet<u8> =
            Table::ALL.iter().map(|t| t.letter()).collect();
        assert_eq!(letters.len(), Table::ALL.len());
        assert_eq!(Table::MessageRefs.retired_in(), Some(4));
        assert_eq!(Table::Heads.retired_in(), None);
        assert_eq!(Table::of_key(b"z/unknown"), None);
    }

    #[test]
    fn a_tables_bounds_hold_its_keys_and_no_other() {
        let referral: ReferralId = "01JD0000000000000000000000".parse().unwrap();
        let bounds = Table::Heads.bounds();
        assert!(bounds.contains(&head(&referral)));
        assert!(!bounds.contains(&events_prefix(&referral)));
        assert!(!bounds.contains(&b"s/0".to_vec()));
        assert_eq!(referral_of_head(&head(&referral)), Some(referral));
    }

    #[test]
    fn instants_sort_across_the_epoch_and_round_trip() {
        let times = [
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00Z",
            "2025-03-03T01:00:00Z",
        ];
        let keys: Vec<_> = times
            .iter()
            .map(|t| {
                timer(
                    t.parse().unwrap(),
                    &"01JD0000000000000000000000".parse().unwrap(),
                    TimerKind::AcceptanceBreach,
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        for (t, key) in times.iter().zip(&keys) {
            assert_eq!(instant_in(key), Some(t.parse().unwrap()));
        }
        let id = MessageId(format!("01JD0000000000000000000000-{}", seq(42)));
        assert_eq!(
            message_of_id(&id),
            Some(("01JD0000000000000000000000".parse().unwrap(), 42))
        );
        assert_eq!(message_of_id(&MessageId("nonsense".into())), None);
        let referral: ReferralId = "01JD0000000000000000000000".parse().unwrap();
        let destination = Destination::Court("京0105".parse().unwrap());
        let message = message(&lane(&destination, &referral), 7);
        let at: Timestamp = times[2].parse().unwrap();
        let scheduled = schedule(&message, at, 7);
        assert_eq!(instant_in(&scheduled), Some(at));
        assert_eq!(
            destination_of_schedule(&scheduled),
            Some(destination.key().as_bytes())
        );
        assert!(schedule_until(destination.key().as_bytes(), at).contains(&scheduled));
        assert!(after_destination(destination.key().as_bytes()) > scheduled);
        assert_eq!(trailing_seq(&scheduled), Some(7));
    }
}
