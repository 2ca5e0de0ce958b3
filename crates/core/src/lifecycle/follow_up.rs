//! The follow-through after a referral comes back to the court: a failure,
//! a lapse, an end at the limit, a sham mediation the court ended or a
//! refused confirmation leave the court to decide promptly whether to
//! docket the case (seed 003 二(二); seed 004 (十八)). The gateway records
//! that the referral awaits that decision, reminds the court once the
//! policy's working days have passed (the court has 7 days to docket a
//! suit, CPL Art. 126), and shows operators who is waiting.

use jiff::Timestamp;
use mediation_calendar::{Calendar, cst};

use super::{Change, CourtWait, Decision, Event, Referral, Status, TransitionError, one};
use crate::bundle::ReferralKind;
use crate::deadline::{self, DeadlinePolicy};

impl Referral {
    /// Whether the referral is back with the court for it to decide whether
    /// to docket the case: a pre-litigation (委派) referral, back after a
    /// failure, a lapse, an end of mediation or a refused confirmation, with
    /// no docketed case recorded. A 委托 case is docketed already and goes
    /// on in court; a dispute taken directly was never the court's to
    /// docket.
    pub fn awaits_court_decision(&self) -> bool {
        self.bundle.kind == ReferralKind::Delegated
            && matches!(
                self.status,
                Status::ReturnedToCourt | Status::MediationFailed | Status::ConfirmationRefused
            )
            && self.docketed.is_none()
    }

    /// Since when the referral has awaited the court's decision, when the
    /// court is (or was) reminded, and whether it was.
    pub fn court_wait(&self) -> Option<&CourtWait> {
        self.court_wait
            .as_ref()
            .filter(|_| self.awaits_court_decision())
    }

    /// What follows `events` decided on this referral: when they bring it
    /// back to the court for its decision, the event that says so, with the
    /// reminder's time under `policy`. Every command's events pass through
    /// here before they are committed, so no way back is missed.
    pub fn follow_up(
        &self,
        events: &[Event],
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        let Some(last) = events.last() else {
            return Ok(Vec::new());
        };
        // Only these bring a referral back to the court; every other
        // command is passed over without copying the referral.
        let returns = events.iter().any(|e| {
            matches!(
                e.change,
                Change::ReturnedToCourt { .. }
                    | Change::MediationFailed { .. }
                    | Change::RulingRecorded { .. }
            )
        });
        if !returns {
            return Ok(Vec::new());
        }
        let mut after = self.clone();
        after.apply_all(events);
        // The wait starts as the referral comes back, not again while it
        // is back (the court may close it without a suit and stay there).
        if self.awaits_court_decision() || !after.awaits_court_decision() {
            return Ok(Vec::new());
        }
        let since = last.at;
        let remind_at = match policy.court_decision_working_days {
            0 => None,
            days => Some(
                deadline::working_days_after(calendar, since, days)
                    .map_err(|e| TransitionError::Calendar(e.to_string()))?,
            ),
        };
        one(since, Change::CourtDecisionAwaited { since, remind_at })
    }

    /// The court's reminder counted again against `calendar` (a year's
    /// holiday notice loaded or corrected since it was counted: the working
    /// days that lead to it may fall otherwise). A wait still to be reminded
    /// whose reminder moves is stated again with the new time, from the
    /// same start (CPL Art. 126's 7 days are working days, as the policy
    /// counts them); one already reminded, or whose reminder stays, gives
    /// nothing.
    pub fn recompute_court_reminder(
        &self,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        let Some(wait) = self.court_wait().filter(|w| !w.reminded) else {
            return Ok(Vec::new());
        };
        let (Some(old), days @ 1..) = (wait.remind_at, policy.court_decision_working_days) else {
            return Ok(Vec::new());
        };
        let fresh = deadline::working_days_after(calendar, wait.since, days)
            .map_err(|e| TransitionError::Calendar(e.to_string()))?;
        if fresh == old {
            return Ok(Vec::new());
        }
        one(
            at,
            Change::CourtDecisionAwaited {
                since: wait.since,
                remind_at: Some(fresh),
            },
        )
    }

    /// The reminder is due and the court has still not decided.
    pub fn remind_court(&self, at: Timestamp) -> Decision {
        let action = "remind the court of";
        let Some(wait) = self.court_wait().filter(|w| !w.reminded) else {
            return Err(self.not_allowed(action));
        };
        let Some(remind_at) = wait.remind_at else {
            return Err(self.not_allowed(action));
        };
        if at < remind_at {
            return Err(TransitionError::NotYetDue {
                deadline: "the court's decision",
                due_at: cst::format(remind_at),
            });
        }
        one(
            at,
            Change::CourtDecisionOverdue {
                since: wait.since,
                remind_at,
            },
        )
    }

    /// When the court is to be reminded, while that is still to come.
    pub fn court_reminder_due(&self) -> Option<Timestamp> {
        self.court_wait()
            .filter(|w| !w.reminded)
            .and_then(|w| w.remind_at)
    }
}
