//! The records beside the referrals: outbox messages, timers, alerts, their
//! acknowledgements and audit records.

use jiff::Timestamp;
use mediation_core::alert::{Acknowledgement, AlertKind, AlertRecord};
use mediation_core::bundle::CaseBundle;
use mediation_core::outbox::{Destination, OutboundMessage};
use mediation_core::partner::Partner;
use mediation_core::store::{MessageId, PendingDelivery};
use mediation_core::timer::{Timer, TimerKind};
use serde::{Deserialize, Serialize};

use crate::history::StoredEvent;
use crate::{
    Coded, FormatError, Instant, Mirror, codes, decode_plain, encode_plain, load_opt, opt, parse,
    parse_opt, text, text_opt,
};

codes!(TimerKind, "timer kind" {
    TimerKind::AcceptanceWarning = 1,
    TimerKind::AcceptanceBreach = 2,
    TimerKind::MediationWarning = 3,
    TimerKind::MediationBreach = 4,
    TimerKind::MediationEnd = 5,
    TimerKind::AppraisalReview = 6,
    TimerKind::ArbitrationOpen = 7,
    // Schema 3.
    TimerKind::CourtDecisionReminder = 8,
});

/// A timer kind's one-byte code, as every record that names one stores it.
pub fn timer_kind_code(kind: TimerKind) -> u8 {
    kind.code()
}

/// The timer kind of a stored code.
pub fn timer_kind_of_code(code: u8) -> Result<TimerKind, FormatError> {
    TimerKind::decode(code)
}

codes!(AlertKind, "alert kind" {
    AlertKind::AcceptanceWarning = 1,
    AlertKind::AcceptanceBreach = 2,
    AlertKind::MediationWarning = 3,
    AlertKind::MediationBreach = 4,
    AlertKind::DeadLetter = 5,
    AlertKind::CalendarYearMissing = 6,
    AlertKind::DestinationUnreachable = 7,
    AlertKind::ShamMediationReported = 8,
    AlertKind::AppraisalOverlong = 9,
    AlertKind::ArbitrationAvailable = 10,
    // Schema 3.
    AlertKind::CourtDecisionOverdue = 11,
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredTimer {
    referral: String,
    kind: u8,
    fire_at: Instant,
}

/// A timer.
pub fn encode_timer(timer: &Timer) -> Vec<u8> {
    encode_plain(&StoredTimer {
        referral: text(&timer.referral),
        kind: timer.kind.code(),
        fire_at: Instant::of(&timer.fire_at),
    })
}

/// Reads a timer written by [`encode_timer`].
pub fn decode_timer(bytes: &[u8]) -> Result<Timer, FormatError> {
    let stored: StoredTimer = decode_plain(bytes)?;
    Ok(Timer {
        referral: parse("referral id", stored.referral)?,
        kind: TimerKind::decode(stored.kind)?,
        fire_at: stored.fire_at.load()?,
    })
}

/// The case files of a purged referral still to be removed from disk
/// (schema 5): their digests.
pub fn encode_purged_files(files: &[mediation_core::document::Sha256Digest]) -> Vec<u8> {
    encode_plain(&files.iter().map(text).collect::<Vec<String>>())
}

/// Reads what [`encode_purged_files`] wrote.
pub fn decode_purged_files(
    bytes: &[u8],
) -> Result<Vec<mediation_core::document::Sha256Digest>, FormatError> {
    let stored: Vec<String> = decode_plain(bytes)?;
    stored
        .into_iter()
        .map(|digest| parse("case file digest", digest))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAlert {
    kind: u8,
    raised_at: Instant,
    referral: Option<String>,
    due_at: Option<Instant>,
    detail: String,
    subject: Option<String>,
}

/// An alert's record; its number is the key's.
pub fn encode_alert(record: &AlertRecord) -> Vec<u8> {
    encode_plain(&StoredAlert {
        kind: record.kind.code(),
        raised_at: Instant::of(&record.raised_at),
        referral: text_opt(record.referral.as_ref()),
        due_at: opt(record.due_at.as_ref()),
        detail: record.detail.clone(),
        subject: record.subject.clone(),
    })
}

/// Reads an alert's record written by [`encode_alert`].
pub fn decode_alert(bytes: &[u8]) -> Result<AlertRecord, FormatError> {
    let stored: StoredAlert = decode_plain(bytes)?;
    Ok(AlertRecord {
        kind: AlertKind::decode(stored.kind)?,
        raised_at: stored.raised_at.load()?,
        referral: parse_opt("referral id", stored.referral)?,
        due_at: load_opt(stored.due_at)?,
        detail: stored.detail,
        subject: stored.subject,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAcknowledgement {
    by: String,
    at: Instant,
    note: String,
}

/// An operator's acknowledgement of an alert.
pub fn encode_acknowledgement(ack: &Acknowledgement) -> Vec<u8> {
    encode_plain(&StoredAcknowledgement {
        by: ack.by.clone(),
        at: Instant::of(&ack.at),
        note: ack.note.clone(),
    })
}

/// Reads an acknowledgement written by [`encode_acknowledgement`].
pub fn decode_acknowledgement(bytes: &[u8]) -> Result<Acknowledgement, FormatError> {
    let stored: StoredAcknowledgement = decode_plain(bytes)?;
    Ok(Acknowledgement {
        by: stored.by,
        at: stored.at.load()?,
        note: stored.note,
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredDestination {
    Partner(u8),
    Court(String),
}

/// An outbox message as stored: its delivery history first (so that
/// [`decode_delivery_state`] reads it alone), then the message without its
/// bundle (it names the referral's bundle record instead) and without its
/// id (the key gives it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    enqueued_at: Instant,
    attempts: u32,
    next_attempt_at: Instant,
    last_error: Option<String>,
    dead_at: Option<Instant>,
    destination: StoredDestination,
    referral: String,
    court_referral_id: String,
    event: StoredEvent,
    /// Whether the message carries the referral's bundle.
    with_bundle: bool,
    holder: Option<String>,
}

/// The leading fields of a [`DeliveryRecord`]: where a message stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredStanding {
    enqueued_at: Instant,
    attempts: u32,
    next_attempt_at: Instant,
    last_error: Option<String>,
    dead_at: Option<Instant>,
}

/// Where a message stands, read without the message: for counting a
/// backlog of millions without decoding each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryState {
    pub enqueued_at: Timestamp,
    pub next_attempt_at: Timestamp,
    pub dead: bool,
    /// Whether an attempt has ever failed (see [`DeliveryRecord::has_failed`]).
    pub failed: bool,
}

/// Reads only the delivery history at the head of a message record.
pub fn decode_delivery_state(bytes: &[u8]) -> Result<DeliveryState, FormatError> {
    let (&version, body) = bytes.split_first().ok_or(FormatError::Empty)?;
    if version != crate::FORMAT_VERSION {
        return Err(FormatError::Version {
            found: version,
            expected: crate::FORMAT_VERSION,
        });
    }
    let (state, _message): (StoredStanding, _) =
        postcard::take_from_bytes(body).map_err(|e| FormatError::Decode(e.to_string()))?;
    Ok(DeliveryState {
        enqueued_at: state.enqueued_at.load()?,
        next_attempt_at: state.next_attempt_at.load()?,
        dead: state.dead_at.is_some(),
        failed: state.last_error.is_some(),
    })
}

impl DeliveryRecord {
    /// A new message, due at `at`.
    pub fn new(message: &OutboundMessage, at: Timestamp) -> Self {
        Self {
            destination: match &message.destination {
                Destination::Partner(p) => StoredDestination::Partner(p.code()),
                Destination::Court(c) => StoredDestination::Court(text(c)),
            },
            referral: text(&message.referral),
            court_referral_id: text(&message.court_referral_id),
            event: StoredEvent::of(&message.event),
            with_bundle: message.bundle.is_some(),
            holder: text_opt(message.holder.as_ref()),
            enqueued_at: Instant::of(&at),
            attempts: 0,
            next_attempt_at: Instant::of(&at),
            last_error: None,
            dead_at: None,
        }
    }

    /// Whether reading the message needs the referral's bundle.
    pub fn needs_bundle(&self) -> bool {
        self.with_bundle || self.event.is_received()
    }

    pub fn is_dead(&self) -> bool {
        self.dead_at.is_some()
    }

    /// Whether an attempt has ever failed: a retried message, a dead
    /// letter, or one replayed after it died. A message that never failed
    /// is due at the instant it was enqueued; one that did is due later,
    /// or not at all (a dead letter).
    pub fn has_failed(&self) -> bool {
        self.last_error.is_some()
    }

    pub fn enqueued_at(&self) -> Result<Timestamp, FormatError> {
        self.enqueued_at.load()
    }

    pub fn next_attempt_at(&self) -> Result<Timestamp, FormatError> {
        self.next_attempt_at.load()
    }

    /// A failed attempt; the next one at `at`.
    pub fn retry(&mut self, at: Timestamp, error: String) {
        self.attempts = self.attempts.saturating_add(1);
        self.next_attempt_at = Instant::of(&at);
        self.last_error = Some(error);
    }

    /// A failed attempt after which the message is a dead letter.
    pub fn dead(&mut self, at: Timestamp, error: String) {
        self.attempts = self.attempts.saturating_add(1);
        self.last_error = Some(error);
        self.dead_at = Some(Instant::of(&at));
    }

    /// A dead letter put back, due at `at`, with its attempts reset.
    pub fn replay(&mut self, at: Timestamp) {
        self.dead_at = None;
        self.attempts = 0;
        self.next_attempt_at = Instant::of(&at);
    }

    pub fn encode(&self) -> Vec<u8> {
        encode_plain(self)
    }

    /// The message with id `id`; `bundle` is the referral's, needed when
    /// [`Self::needs_bundle`].
    pub fn load(
        self,
        id: MessageId,
        bundle: Option<&CaseBundle>,
    ) -> Result<PendingDelivery, FormatError> {
        let message_bundle = if self.with_bundle {
            Some(Box::new(bundle.ok_or(FormatError::BundleMissing)?.clone()))
        } else {
            None
        };
        Ok(PendingDelivery {
            id,
            message: OutboundMessage {
                destination: match self.destination {
                    StoredDestination::Partner(p) => Destination::Partner(Partner::decode(p)?),
                    StoredDestination::Court(c) => Destination::Court(parse("court", c)?),
                },
                referral: parse("referral id", self.referral)?,
                court_referral_id: parse("court referral id", self.court_referral_id)?,
                event: self.event.load(bundle)?,
                bundle: message_bundle,
                holder: parse_opt("organisation", self.holder)?,
            },
            enqueued_at: self.enqueued_at.load()?,
            attempts: self.attempts,
            next_attempt_at: self.next_attempt_at.load()?,
            last_error: self.last_error,
            dead_at: load_opt(self.dead_at)?,
            // Kept beside the record, not in it: the store adds it.
            trace: None,
        })
    }
}

/// A message and its delivery history, as stored.
pub fn encode_delivery(pending: &PendingDelivery) -> Vec<u8> {
    let mut record = DeliveryRecord::new(&pending.message, pending.enqueued_at);
    record.attempts = pending.attempts;
    record.next_attempt_at = Instant::of(&pending.next_attempt_at);
    record.last_error = pending.last_error.clone();
    record.dead_at = opt(pending.dead_at.as_ref());
    record.encode()
}

/// Reads a message written by [`encode_delivery`] or
/// [`DeliveryRecord::encode`].
pub fn decode_delivery(bytes: &[u8]) -> Result<DeliveryRecord, FormatError> {
    decode_plain(bytes)
}
