//! Mediation while it runs: appraisal pauses, agreed extensions, warnings,
//! deadlines recomputed on a new calendar, and mediation ending at or before
//! its limit.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use mediation_calendar::{Calendar, cst};

use super::{
    AppraisalPause, Change, Decision, Event, Referral, ReturnReason, Status, TransitionError,
    calendar_error, one,
};
use crate::deadline::{self, Deadline, DeadlineKind, DeadlinePolicy};
use crate::error::Violations;
use crate::ids::{OrganisationId, PartyRef};
use crate::text::Narrative;

/// How an agreed extension lengthens the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lengthen {
    To(Date),
    By(u32),
}

impl Referral {
    /// Mediation is suspended while an appraisal or evaluation is done; its days
    /// do not count.
    pub fn start_appraisal(
        &self,
        organisation: &OrganisationId,
        note: Narrative,
        at: Timestamp,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require("suspend for appraisal", &[Status::InMediation])?;
        self.require_assigned(organisation)?;
        let on = cst::date_of(at);
        let mut term = self
            .term
            .clone()
            .ok_or_else(|| self.not_allowed("suspend for appraisal"))?;
        term.pause(on).map_err(calendar_error)?;
        let review_at = match policy.appraisal_review_days {
            0 => None,
            days => on
                .checked_add(jiff::Span::new().days(i64::from(days)))
                .ok()
                .map(cst::end_of),
        };
        one(
            at,
            Change::AppraisalStarted {
                on,
                note,
                review_at,
            },
        )
    }

    /// The appraisal pause reached its review day and mediation is still
    /// suspended.
    pub fn appraisal_overlong(&self, at: Timestamp) -> Decision {
        self.require("warn of a long appraisal", &[Status::SuspendedForAppraisal])?;
        let Some(pause) = &self.appraisal else {
            return Err(self.not_allowed("warn of a long appraisal"));
        };
        match pause.review_at {
            Some(review_at) if at >= review_at && !pause.reviewed => {}
            Some(review_at) if !pause.reviewed => {
                return Err(TransitionError::NotYetDue {
                    deadline: "appraisal review",
                    due_at: cst::format(review_at),
                });
            }
            _ => return Err(self.not_allowed("warn of a long appraisal")),
        }
        let days = u32::try_from((cst::date_of(at) - pause.since).get_days()).unwrap_or(0);
        one(
            at,
            Change::AppraisalOverlong {
                since: pause.since,
                days,
            },
        )
    }

    /// The appraisal pause under way, if mediation is suspended for one.
    pub fn appraisal(&self) -> Option<&AppraisalPause> {
        self.appraisal
            .as_ref()
            .filter(|_| self.status == Status::SuspendedForAppraisal)
    }

    /// The appraisal is done; mediation resumes with a later deadline.
    pub fn end_appraisal(
        &self,
        organisation: &OrganisationId,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require("resume after appraisal", &[Status::SuspendedForAppraisal])?;
        self.require_assigned(organisation)?;
        let on = cst::date_of(at);
        let mediation_deadline = self.resumed(on, calendar, policy, "resume after appraisal")?;
        one(
            at,
            Change::AppraisalEnded {
                on,
                mediation_deadline,
            },
        )
    }

    /// Every party agreed to extend mediation by `days` from the day the
    /// period ends on now (its last day, moved past rest days by CPL
    /// Art. 85): online rules Art. 24, an agreed extension lengthens the
    /// period. A refusal names `days`.
    pub fn extend_by_days(
        &self,
        organisation: &OrganisationId,
        days: u32,
        consenting: Vec<PartyRef>,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.extend_as(
            organisation,
            Lengthen::By(days),
            consenting,
            at,
            calendar,
            policy,
        )
    }

    /// Every party agreed to extend mediation to `last_day`, which must be
    /// after the day the period ends on now. A refusal names `last_day`.
    pub fn extend(
        &self,
        organisation: &OrganisationId,
        last_day: Date,
        consenting: Vec<PartyRef>,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.extend_as(
            organisation,
            Lengthen::To(last_day),
            consenting,
            at,
            calendar,
            policy,
        )
    }

    fn extend_as(
        &self,
        organisation: &OrganisationId,
        lengthen: Lengthen,
        consenting: Vec<PartyRef>,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require("extend", &[Status::InMediation])?;
        self.require_assigned(organisation)?;
        let mut v = Violations::new();
        if lengthen == Lengthen::By(0) {
            v.push("days", "an extension must add at least one day");
        }
        let agreeing: BTreeSet<&PartyRef> = consenting.iter().collect();
        for party in self.bundle.party_refs() {
            if !agreeing.contains(party) {
                v.push(
                    "consenting",
                    format!("an extension needs every party's consent; {party} has not given it"),
                );
            }
        }
        for (i, party) in consenting.iter().enumerate() {
            if self.bundle.party(party).is_none() {
                v.push(
                    format!("consenting[{i}]"),
                    format!("{party} is not a party of this referral"),
                );
            }
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        if let Some(d) = &self.mediation_deadline
            && at >= d.due_at
        {
            return Err(TransitionError::DeadlinePassed {
                deadline: "mediation",
                due_at: cst::format(d.due_at),
            });
        }
        let mut term = self
            .term
            .clone()
            .ok_or_else(|| self.not_allowed("extend"))?;
        let (field, lengthened) = match lengthen {
            Lengthen::To(day) => ("last_day", term.extend_to(day, calendar)),
            Lengthen::By(days) => ("days", term.extend_by(days, calendar)),
        };
        lengthened.map_err(|e| match e {
            deadline::Error::Calendar(_) => calendar_error(e),
            e => {
                let mut v = Violations::new();
                v.push(field, e.to_string());
                TransitionError::from(v)
            }
        })?;
        let last_day = term.extended_to.ok_or_else(|| self.not_allowed("extend"))?;
        let mediation_deadline = term
            .deadline(calendar, policy.warn_working_days)
            .map_err(calendar_error)?
            .ok_or_else(|| self.not_allowed("extend"))?;
        one(
            at,
            Change::Extended {
                last_day,
                consenting,
                mediation_deadline,
            },
        )
    }

    /// The mediation deadline has passed without an outcome. With no grace
    /// (the default), mediation ends at once and the referral goes back to
    /// the court for docketing (online rules Art. 25); with `grace_days`, an
    /// agreement or failure reported within them still counts, and mediation
    /// ends after them.
    pub fn mediation_deadline_passed(&self, at: Timestamp, grace_days: u32) -> Decision {
        self.require("mark mediation overdue", &[Status::InMediation])?;
        let d = self
            .mediation_deadline
            .as_ref()
            .ok_or_else(|| self.not_allowed("mark mediation overdue"))?;
        if at < d.due_at {
            return Err(TransitionError::NotYetDue {
                deadline: "mediation",
                due_at: cst::format(d.due_at),
            });
        }
        let ends_at = d
            .due_at
            .checked_add(jiff::SignedDuration::from_hours(24 * i64::from(grace_days)))
            .map_err(|e| TransitionError::Calendar(e.to_string()))?;
        let overdue = Event {
            at,
            change: Change::MediationOverdue {
                due_at: d.due_at,
                ends_at: Some(ends_at),
            },
        };
        if grace_days > 0 {
            return Ok(vec![overdue]);
        }
        let ended = Event {
            at,
            change: Change::ReturnedToCourt {
                reason: ReturnReason::MediationEnded,
            },
        };
        Ok(vec![overdue, ended])
    }

    /// The grace after the mediation limit is over without an outcome:
    /// mediation ends and the referral goes back to the court.
    pub fn end_mediation(&self, at: Timestamp) -> Decision {
        self.require("end the mediation of", &[Status::MediationOverdue])?;
        let ends_at = self
            .mediation_ends_at
            .ok_or_else(|| self.not_allowed("end the mediation of"))?;
        if at < ends_at {
            return Err(TransitionError::NotYetDue {
                deadline: "mediation grace",
                due_at: cst::format(ends_at),
            });
        }
        one(
            at,
            Change::ReturnedToCourt {
                reason: ReturnReason::MediationEnded,
            },
        )
    }

    /// The organisation ends mediation before its limit, on one of the
    /// grounds of online rules Art. 25; the court dockets the case.
    pub fn end_mediation_early(
        &self,
        organisation: &OrganisationId,
        ground: crate::outcome::EarlyEnd,
        explanation: Narrative,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "end the mediation of",
            &[
                Status::InMediation,
                Status::SuspendedForAppraisal,
                Status::MediationOverdue,
            ],
        )?;
        self.require_assigned(organisation)?;
        one(
            at,
            Change::ReturnedToCourt {
                reason: ReturnReason::EndedEarly {
                    ground,
                    explanation,
                },
            },
        )
    }

    /// When mediation ends, while it is overdue and a grace runs.
    pub fn mediation_ends_at(&self) -> Option<Timestamp> {
        self.mediation_ends_at
            .filter(|_| self.status == Status::MediationOverdue)
    }

    /// Warns that the running deadline of `kind` is near. Returns no event when
    /// the warning for this deadline was already given.
    pub fn warn(&self, kind: DeadlineKind, at: Timestamp) -> Decision {
        let deadline = self
            .running_deadline()
            .filter(|d| d.kind == kind)
            .ok_or_else(|| self.not_allowed("warn about a deadline of"))?;
        let warn_at = deadline
            .warn_at
            .ok_or_else(|| self.not_allowed("warn about a deadline of"))?;
        if at < warn_at {
            return Err(TransitionError::NotYetDue {
                deadline: kind.as_str(),
                due_at: cst::format(warn_at),
            });
        }
        if self.warned.contains(&(kind, deadline.due_at)) {
            return Ok(Vec::new());
        }
        one(
            at,
            Change::DeadlineWarning {
                kind,
                due_at: deadline.due_at,
            },
        )
    }

    /// Recomputes the running deadline after the calendar changed (a new year's
    /// notice was loaded). Returns an event only if the deadline changed.
    pub fn recompute_deadline(
        &self,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        let Some(current) = self.running_deadline() else {
            return Ok(Vec::new());
        };
        let fresh = match current.kind {
            DeadlineKind::Acceptance => {
                // The acceptance period runs from the offer's delivery, or
                // for a referral routed before deliveries were recorded,
                // from its routing.
                let start = self
                    .offered_at
                    .or(self.routed_at)
                    .ok_or_else(|| self.not_allowed("recompute the deadline of"))?;
                deadline::acceptance_deadline(calendar, policy, start).map_err(calendar_error)?
            }
            DeadlineKind::Mediation => self
                .term
                .as_ref()
                .ok_or_else(|| self.not_allowed("recompute the deadline of"))?
                .deadline(calendar, policy.warn_working_days)
                .map_err(calendar_error)?
                .ok_or_else(|| self.not_allowed("recompute the deadline of"))?,
        };
        if &fresh == current {
            return Ok(Vec::new());
        }
        one(at, Change::DeadlineRecomputed { deadline: fresh })
    }

    /// The mediation deadline once the pause running now ends on `on`: the
    /// paused days do not count.
    pub(super) fn resumed(
        &self,
        on: Date,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
        action: &'static str,
    ) -> Result<Deadline, TransitionError> {
        let mut term = self.term.clone().ok_or_else(|| self.not_allowed(action))?;
        if term.is_paused() {
            term.resume(on).map_err(calendar_error)?;
        }
        term.deadline(calendar, policy.warn_working_days)
            .map_err(calendar_error)?
            .ok_or_else(|| self.not_allowed(action))
    }
}
