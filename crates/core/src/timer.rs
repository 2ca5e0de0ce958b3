//! Deadline timers. A referral's timers are a pure function of its state:
//! whatever deadline is running yields a warning timer (until the warning was
//! given) and a breach timer, an overdue mediation the timer of its end, and
//! an appraisal pause the day operators are warned of it.
//! The store replaces a referral's timers with
//! [`Referral::timers`] in the same transaction as every change to it, so a timer
//! that fired disappears together with the event it produced — exactly once.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::deadline::{DeadlineKind, DeadlinePolicy};
use crate::ids::ReferralId;
use crate::lifecycle::TransitionError;
use crate::lifecycle::{Event, Referral};

/// What a timer does when it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    AcceptanceWarning,
    AcceptanceBreach,
    MediationWarning,
    MediationBreach,
    /// The end of the grace after the mediation limit: mediation ends and the
    /// referral goes back to the court (online rules Art. 25).
    MediationEnd,
    /// An appraisal pause reached its review day: operators are warned.
    AppraisalReview,
    /// A labour mediation reached 15 days: arbitration opens (LDMAL Art. 14).
    ArbitrationOpen,
    /// A referral back with the court has waited the policy's working days
    /// for the court's decision: the court is reminded (CPL Art. 126).
    CourtDecisionReminder,
}

impl TimerKind {
    pub const ALL: [TimerKind; 8] = [
        TimerKind::AcceptanceWarning,
        TimerKind::AcceptanceBreach,
        TimerKind::MediationWarning,
        TimerKind::MediationBreach,
        TimerKind::MediationEnd,
        TimerKind::AppraisalReview,
        TimerKind::ArbitrationOpen,
        TimerKind::CourtDecisionReminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::AcceptanceWarning => "acceptance_warning",
            TimerKind::AcceptanceBreach => "acceptance_breach",
            TimerKind::MediationWarning => "mediation_warning",
            TimerKind::MediationBreach => "mediation_breach",
            TimerKind::MediationEnd => "mediation_end",
            TimerKind::AppraisalReview => "appraisal_review",
            TimerKind::ArbitrationOpen => "arbitration_open",
            TimerKind::CourtDecisionReminder => "court_decision_reminder",
        }
    }

    pub fn deadline(self) -> DeadlineKind {
        match self {
            TimerKind::AcceptanceWarning | TimerKind::AcceptanceBreach => DeadlineKind::Acceptance,
            TimerKind::MediationWarning
            | TimerKind::MediationBreach
            | TimerKind::MediationEnd
            | TimerKind::AppraisalReview
            | TimerKind::ArbitrationOpen
            | TimerKind::CourtDecisionReminder => DeadlineKind::Mediation,
        }
    }

    pub fn is_breach(self) -> bool {
        matches!(
            self,
            TimerKind::AcceptanceBreach | TimerKind::MediationBreach
        )
    }
}

/// A scheduled deadline action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timer {
    pub referral: ReferralId,
    pub kind: TimerKind,
    pub fire_at: Timestamp,
}

impl Referral {
    /// The timers the referral's current state calls for.
    pub fn timers(&self) -> Vec<Timer> {
        let mut timers = self.deadline_timers();
        if let Some(open_at) = self.arbitration_due() {
            timers.push(Timer {
                referral: self.id().clone(),
                kind: TimerKind::ArbitrationOpen,
                fire_at: open_at,
            });
        }
        if let Some(remind_at) = self.court_reminder_due() {
            timers.push(Timer {
                referral: self.id().clone(),
                kind: TimerKind::CourtDecisionReminder,
                fire_at: remind_at,
            });
        }
        timers
    }

    /// The timers of the running deadline, the end of an overdue mediation
    /// or an appraisal's review day.
    fn deadline_timers(&self) -> Vec<Timer> {
        if let Some(ends_at) = self.mediation_ends_at() {
            return vec![Timer {
                referral: self.id().clone(),
                kind: TimerKind::MediationEnd,
                fire_at: ends_at,
            }];
        }
        if let Some(pause) = self.appraisal()
            && let Some(review_at) = pause.review_at.filter(|_| !pause.reviewed)
        {
            return vec![Timer {
                referral: self.id().clone(),
                kind: TimerKind::AppraisalReview,
                fire_at: review_at,
            }];
        }
        let Some(deadline) = self.running_deadline() else {
            return Vec::new();
        };
        let (warning, breach) = match deadline.kind {
            DeadlineKind::Acceptance => (TimerKind::AcceptanceWarning, TimerKind::AcceptanceBreach),
            DeadlineKind::Mediation => (TimerKind::MediationWarning, TimerKind::MediationBreach),
        };
        let mut timers = Vec::with_capacity(2);
        if let Some(warn_at) = deadline.warn_at
            && !self.was_warned(deadline.kind, deadline.due_at)
            && warn_at < deadline.due_at
        {
            timers.push(Timer {
                referral: self.id().clone(),
                kind: warning,
                fire_at: warn_at,
            });
        }
        timers.push(Timer {
            referral: self.id().clone(),
            kind: breach,
            fire_at: deadline.due_at,
        });
        timers
    }

    /// What firing a timer of `kind` at `at` produces, under `policy`.
    pub fn fire(
        &self,
        kind: TimerKind,
        at: Timestamp,
        policy: &DeadlinePolicy,
    ) -> Result<Vec<Event>, TransitionError> {
        match kind {
            TimerKind::AcceptanceWarning | TimerKind::MediationWarning => {
                self.warn(kind.deadline(), at)
            }
            TimerKind::AcceptanceBreach => self.acceptance_deadline_passed(at),
            TimerKind::MediationBreach => {
                self.mediation_deadline_passed(at, policy.agreement_grace_days)
            }
            TimerKind::MediationEnd => self.end_mediation(at),
            TimerKind::AppraisalReview => self.appraisal_overlong(at),
            TimerKind::ArbitrationOpen => self.arbitration_available(at),
            TimerKind::CourtDecisionReminder => self.remind_court(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deadline::DeadlinePolicy;
    use crate::fixtures::*;
    use crate::lifecycle::Assignment;
    use crate::partner::Partner;

    #[test]
    fn timers_follow_the_running_deadline_and_vanish_once_fired() {
        let calendar = shipped_calendar();
        let policy = DeadlinePolicy::default();
        let (mut r, _) = Referral::receive(
            referral_id(),
            sample_bundle(),
            at("2025-03-03T09:00:00+08:00"),
        )
        .unwrap();
        assert!(r.timers().is_empty());
        let assignment = Assignment {
            partner: Partner::Ccpit,
            organisation: organisation("o1"),
            mediator: None,
        };
        let events = route_delivered(
            &r,
            assignment,
            vec![],
            at("2025-03-03T10:00:00+08:00"),
            &calendar,
            &policy,
        )
        .unwrap();
        r.apply_all(&events);
        let timers = r.timers();
        let kinds: Vec<_> = timers.iter().map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [TimerKind::AcceptanceWarning, TimerKind::AcceptanceBreach]
        );
        // Due Thursday 6 March: warning at the end of Wednesday, breach at the end of Thursday.
        assert_eq!(timers[0].fire_at, at("2025-03-06T00:00:00+08:00"));
        assert_eq!(timers[1].fire_at, at("2025-03-07T00:00:00+08:00"));

        let events = r
            .fire(TimerKind::AcceptanceWarning, timers[0].fire_at, &policy)
            .unwrap();
        r.apply_all(&events);
        assert_eq!(
            r.timers().iter().map(|t| t.kind).collect::<Vec<_>>(),
            [TimerKind::AcceptanceBreach]
        );
        // Firing the same warning again produces nothing.
        assert!(
            r.fire(TimerKind::AcceptanceWarning, timers[0].fire_at, &policy)
                .unwrap()
                .is_empty()
        );

        let events = r
            .fire(TimerKind::AcceptanceBreach, timers[1].fire_at, &policy)
            .unwrap();
        r.apply_all(&events);
        assert!(r.timers().is_empty());
        assert!(
            r.fire(TimerKind::AcceptanceBreach, timers[1].fire_at, &policy)
                .is_err()
        );
    }
}
