//! What operators receive, from domain values: alerts, deadlines, outbox
//! messages and figures.

use jiff::SignedDuration;
use mediation_core::alert::{Acknowledgement, Alert};
use mediation_core::audit::AuditEntry;
use mediation_core::deadline::Deadline;
use mediation_core::statistics::Tally;
use mediation_core::store::PendingDelivery;
use mediation_proto::operations::v1 as pb;

use super::codes::{ALERT_KINDS, SEVERITIES};
use crate::time::to_wire;
use crate::wire::write::text;

pub(crate) fn acknowledgement(a: &Acknowledgement) -> pb::Acknowledgement {
    pb::Acknowledgement {
        by: a.by.clone(),
        at: Some(to_wire(a.at)),
        note: a.note.clone(),
    }
}

pub(crate) fn alert(a: &Alert, ack: Option<&Acknowledgement>) -> pb::Alert {
    let r = &a.record;
    pb::Alert {
        seq: a.seq,
        kind: ALERT_KINDS.number(r.kind),
        severity: SEVERITIES.number(r.kind.severity()),
        raised_at: Some(to_wire(r.raised_at)),
        referral_id: text(r.referral.as_ref()),
        due_at: r.due_at.map(to_wire),
        detail: r.detail.clone(),
        acknowledgement: ack.map(acknowledgement),
    }
}

pub(crate) fn deadline(d: &Deadline) -> pb::Deadline {
    pb::Deadline {
        kind: d.kind.as_str().into(),
        due_date: d.due_date.to_string(),
        due_at: Some(to_wire(d.due_at)),
        provisional: d.is_provisional(),
    }
}

pub(crate) fn message(d: &PendingDelivery) -> pb::OutboxMessage {
    pb::OutboxMessage {
        message_id: d.id.to_string(),
        destination: d.message.destination.key(),
        referral_id: d.message.referral.to_string(),
        event: d.message.event.change.name().into(),
        enqueued_at: Some(to_wire(d.enqueued_at)),
        attempts: d.attempts,
        next_attempt_at: Some(to_wire(d.next_attempt_at)),
        last_error: d.last_error.clone().unwrap_or_default(),
        dead_at: d.dead_at.map(to_wire),
    }
}

fn duration(d: SignedDuration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs(),
        nanos: d.subsec_nanos(),
    }
}

pub(crate) fn figures(t: &Tally) -> pb::Figures {
    pb::Figures {
        referrals: t.referrals,
        accepted: t.accepted,
        declined: t.declined,
        agreements: t.agreements,
        failures: t.failures,
        success_rate: t.success_rate(),
        median_time_to_accept: t.median_time_to_accept().map(duration),
        median_mediation_duration: t.median_mediation_duration().map(duration),
        acceptance_breaches: t.acceptance_breaches,
        mediation_breaches: t.mediation_breaches,
        voluntarily_performed: t.voluntarily_performed,
        ended_at_limit: t.ended_at_limit,
        ended_early: t
            .ended_early
            .iter()
            .map(|(ground, n)| ((*ground).to_owned(), *n))
            .collect(),
        rulings: t.rulings,
        confirmed: t.confirmed,
        confirmation_rate: t.confirmation_rate(),
    }
}

/// An entry of the audit chain, with the record's bytes its hash covers
/// (`mediation_records::audit_hashed_part`: for version 3, up to the
/// detail's digest) and the detail beside them.
pub(super) fn audit_entry((entry, hashed): &(AuditEntry, Vec<u8>)) -> pb::AuditEntry {
    let record = &entry.record;
    pb::AuditEntry {
        seq: entry.seq,
        at: Some(to_wire(record.at)),
        actor: record.actor.clone(),
        action: record.action.clone(),
        referral_id: record
            .referral
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        outcome: record.outcome.clone(),
        prev_hash: entry.prev_hash.clone(),
        hash: entry.hash.clone(),
        record: hashed.clone(),
        detail_purged: entry.detail_purged,
        detail: if entry.detail_purged {
            String::new()
        } else {
            mediation_core::audit::split_outcome(&record.outcome)
                .1
                .to_owned()
        },
    }
}
