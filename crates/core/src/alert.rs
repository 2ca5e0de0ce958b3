//! Operator alerts: what an operator must see as it happens.

use jiff::Timestamp;
use mediation_calendar::cst;
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
    /// An organisation reported suspected sham mediation (虚假调解): the
    /// parties may be using the court to harm another; seed 000 §(十七).
    ShamMediationReported,
    /// Mediation has been suspended for an appraisal longer than the
    /// policy's review days; appraisal time does not count against the limit
    /// (online rules Art. 26), so nothing else would show it.
    AppraisalOverlong,
    /// Fifteen days after a labour committee accepted, mediation has not
    /// ended: the parties may apply for arbitration (LDMAL Art. 14).
    ArbitrationAvailable,
    /// A referral back with the court has waited the policy's working days
    /// for the court's decision (CPL Art. 126: 7 days to docket).
    CourtDecisionOverdue,
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
    /// What the alert is about when that is more than one referral, e.g.
    /// `calendar:2027` for a year without a holiday notice. An alert with a
    /// subject is raised once for it, not once per referral it touches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
}

/// The subject of the alert that a year has no holiday notice.
pub fn calendar_subject(year: i16) -> String {
    format!("calendar:{year}")
}

/// A stored alert, numbered so that a watcher can resume after the last one it saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub seq: u64,
    pub record: AlertRecord,
}

impl AlertKind {
    pub const ALL: [AlertKind; 11] = [
        AlertKind::AcceptanceWarning,
        AlertKind::AcceptanceBreach,
        AlertKind::MediationWarning,
        AlertKind::MediationBreach,
        AlertKind::DeadLetter,
        AlertKind::CalendarYearMissing,
        AlertKind::DestinationUnreachable,
        AlertKind::ShamMediationReported,
        AlertKind::AppraisalOverlong,
        AlertKind::ArbitrationAvailable,
        AlertKind::CourtDecisionOverdue,
    ];

    /// A stable snake_case name, as in webhooks, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::AcceptanceWarning => "acceptance_warning",
            AlertKind::AcceptanceBreach => "acceptance_breach",
            AlertKind::MediationWarning => "mediation_warning",
            AlertKind::MediationBreach => "mediation_breach",
            AlertKind::DeadLetter => "dead_letter",
            AlertKind::CalendarYearMissing => "calendar_year_missing",
            AlertKind::DestinationUnreachable => "destination_unreachable",
            AlertKind::ShamMediationReported => "sham_mediation_reported",
            AlertKind::AppraisalOverlong => "appraisal_overlong",
            AlertKind::ArbitrationAvailable => "arbitration_available",
            AlertKind::CourtDecisionOverdue => "court_decision_overdue",
        }
    }

    pub fn parse(name: &str) -> Option<AlertKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// A breach is a deadline that has passed; it stays open until an
    /// operator acknowledges it.
    pub fn is_breach(self) -> bool {
        matches!(
            self,
            AlertKind::AcceptanceBreach | AlertKind::MediationBreach
        )
    }

    /// Whether this warns of a deadline about to pass.
    pub fn is_deadline_warning(self) -> bool {
        matches!(
            self,
            AlertKind::AcceptanceWarning | AlertKind::MediationWarning
        )
    }

    /// How urgent the alert is, for paging rules: breaches, dead letters and
    /// unreachable destinations need someone now.
    pub fn severity(self) -> Severity {
        match self {
            AlertKind::AcceptanceWarning
            | AlertKind::MediationWarning
            | AlertKind::CalendarYearMissing
            | AlertKind::AppraisalOverlong
            | AlertKind::ArbitrationAvailable
            | AlertKind::CourtDecisionOverdue => Severity::Warning,
            AlertKind::AcceptanceBreach
            | AlertKind::MediationBreach
            | AlertKind::DeadLetter
            | AlertKind::DestinationUnreachable
            | AlertKind::ShamMediationReported => Severity::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// An operator's acknowledgement of an alert: someone has seen it and owns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acknowledgement {
    pub by: String,
    pub at: Timestamp,
    pub note: String,
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
            subject: None,
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
                ..
            } => alerts.push(alert(
                AlertKind::AcceptanceBreach,
                Some(*due_at),
                format!("organisation {organisation} did not accept or decline in time"),
            )),
            Change::MediationOverdue { due_at, .. } => alerts.push(alert(
                AlertKind::MediationBreach,
                Some(*due_at),
                "mediation did not end in time".into(),
            )),
            // The grounds are case content: they stay in the referral, which
            // operators may read; the alert, which webhooks carry out, only
            // says that it happened.
            Change::ArbitrationAvailable { since } => alerts.push(alert(
                AlertKind::ArbitrationAvailable,
                Some(*since),
                "15 days after the labour committee accepted, mediation has not ended: the parties may apply for arbitration (LDMAL Art. 14)".into(),
            )),
            Change::AppraisalOverlong { since, days } => alerts.push(alert(
                AlertKind::AppraisalOverlong,
                None,
                format!(
                    "mediation has been suspended for an appraisal since {since} ({days} days); ask the organisation how it stands"
                ),
            )),
            Change::CourtDecisionOverdue { since, remind_at } => alerts.push(alert(
                AlertKind::CourtDecisionOverdue,
                Some(*remind_at),
                format!(
                    "back with the court since {} and still awaiting its decision to docket the case or pass it on (CPL Art. 126); the court is reminded",
                    cst::format(*since)
                ),
            )),
            Change::ShamMediationReported { .. } => alerts.push(alert(
                AlertKind::ShamMediationReported,
                None,
                "the organisation reported suspected sham mediation; the court is told and decides"
                    .into(),
            )),
            _ => {}
        }
        let deadline = match &event.change {
            Change::Routed {
                acceptance_deadline,
                ..
            } => acceptance_deadline.as_ref(),
            Change::OfferDelivered {
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
            // One alert per missing year: the command path raises each
            // subject once (until the notice is loaded), however many
            // referrals' deadlines reach into that year.
            for year in &d.missing_years {
                let mut record = alert(
                    AlertKind::CalendarYearMissing,
                    Some(d.due_at),
                    format!(
                        "no holiday notice is loaded for {year}: deadlines reaching into it are provisional (first: the {} deadline of this referral); load the State Council's notice for {year}",
                        d.kind.as_str()
                    ),
                );
                record.subject = Some(calendar_subject(*year));
                alerts.push(record);
            }
        }
    }
    alerts
}
