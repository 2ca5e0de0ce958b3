//! Operator alerts: what an operator must see as it happens.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadline::DeadlineKind;
use crate::ids::ReferralId;
use crate::lifecycle::{Change, Event};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    AcceptanceWarning,
    AcceptanceBreach,
    MediationWarning,
    MediationBreach,
    /// A message could not be delivered and was set aside.
    DeadLetter,
    /// A deadline depends on a year whose holiday notice is not loaded.
    CalendarYearMissing,
    /// A destination has failed repeatedly.
    DestinationUnreachable,
}

/// An alert as raised, before the store numbers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlertRecord {
    pub kind: AlertKind,
    pub raised_at: Timestamp,
    pub referral: Option<ReferralId>,
    /// The deadline's due instant, for deadline alerts.
    pub due_at: Option<Timestamp>,
    pub detail: String,
}

/// A stored alert, numbered so that a watcher can resume after the last one it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub seq: u64,
    pub record: AlertRecord,
}

/// The alerts `events` of `referral` raise.
pub fn alerts_for(referral: &ReferralId, events: &[Event]) -> Vec<AlertRecord> {
    let mut alerts = Vec::new();
    for event in events {
        let alert = |kind, due_at, detail: String| AlertRecord {
            kind,
            raised_at: event.at,
            referral: Some(referral.clone()),
            due_at,
            detail,
        };
        match &event.change {
            Change::DeadlineWarning { kind, due_at } => {
                let alert_kind = match kind {
                    DeadlineKind::Acceptance => AlertKind::AcceptanceWarning,
                    DeadlineKind::Mediation => AlertKind::MediationWarning,
                };
                alerts.push(alert(
                    alert_kind,
                    Some(*due_at),
                    format!("{} deadline is near", kind.as_str()),
                ));
            }
            Change::AcceptanceOverdue {
                organisation,
                due_at,
            } => alerts.push(alert(
                AlertKind::AcceptanceBreach,
                Some(*due_at),
                format!("organisation {organisation} did not accept or decline in time"),
            )),
            Change::MediationOverdue { due_at } => alerts.push(alert(
                AlertKind::MediationBreach,
                Some(*due_at),
                "mediation did not end in time".into(),
            )),
            _ => {}
        }
        let deadline = match &event.change {
            Change::Routed {
                acceptance_deadline,
                ..
            } => Some(acceptance_deadline),
            Change::Accepted {
                mediation_deadline, ..
            }
            | Change::AppraisalEnded {
                mediation_deadline, ..
            }
            | Change::Extended {
                mediation_deadline, ..
            } => Some(mediation_deadline),
            Change::DeadlineRecomputed { deadline } => Some(deadline),
            _ => None,
        };
        if let Some(d) = deadline.filter(|d| d.is_provisional()) {
            let years: Vec<String> = d.missing_years.iter().map(i16::to_string).collect();
            alerts.push(alert(
                AlertKind::CalendarYearMissing,
                Some(d.due_at),
                format!(
                    "{} deadline is provisional: no holiday notice loaded for {}",
                    d.kind.as_str(),
                    years.join(", ")
                ),
            ));
        }
    }
    alerts
}
