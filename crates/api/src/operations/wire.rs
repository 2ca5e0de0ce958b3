//! Domain values to the operations contract's messages.

use jiff::SignedDuration;
use mediation_core::alert::{Acknowledgement, Alert, AlertKind, Severity};
use mediation_core::deadline::Deadline;
use mediation_core::statistics::Tally;
use mediation_core::store::PendingDelivery;
use mediation_proto::operations::v1 as pb;

use crate::time::to_wire;

pub(crate) fn kind_to_wire(kind: AlertKind) -> pb::AlertKind {
    match kind {
        AlertKind::AcceptanceWarning => pb::AlertKind::AcceptanceWarning,
        AlertKind::AcceptanceBreach => pb::AlertKind::AcceptanceBreach,
        AlertKind::MediationWarning => pb::AlertKind::MediationWarning,
        AlertKind::MediationBreach => pb::AlertKind::MediationBreach,
        AlertKind::DeadLetter => pb::AlertKind::DeadLetter,
        AlertKind::CalendarYearMissing => pb::AlertKind::CalendarYearMissing,
        AlertKind::DestinationUnreachable => pb::AlertKind::DestinationUnreachable,
    }
}

pub(crate) fn kind_from_wire(kind: pb::AlertKind) -> Option<AlertKind> {
    AlertKind::ALL
        .into_iter()
        .find(|k| kind_to_wire(*k) == kind)
}

fn severity(s: Severity) -> pb::Severity {
    match s {
        Severity::Warning => pb::Severity::Warning,
        Severity::Critical => pb::Severity::Critical,
    }
}

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
        kind: kind_to_wire(r.kind).into(),
        severity: severity(r.kind.severity()).into(),
        raised_at: Some(to_wire(r.raised_at)),
        referral_id: r
            .referral
            .as_ref()
            .map(|id| id.to_string())
            .unwrap_or_default(),
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
    }
}
