//! The court's own decisions on a referral: passing it to another
//! organisation, taking it back, deciding a sham-mediation report, ruling on
//! confirmation and recording what became of the case.

use jiff::Timestamp;
use mediation_calendar::{Calendar, cst};

use super::{
    Assignment, Change, Decision, Event, Referral, ReturnReason, Status, TransitionError, one,
};
use crate::bundle::ReferralKind;
use crate::court::{CaseNumber, CourtCode};
use crate::deadline::DeadlinePolicy;
use crate::error::Violations;
use crate::outcome::{CourtOutcome, Ruling};
use crate::routing::Router;
use crate::text::Narrative;

impl Referral {
    /// The statuses from which the court may give the referral to another
    /// organisation: waiting for an answer, or back with the court (or on its
    /// way back) before any mediation took place.
    pub(super) fn require_reassignable(
        &self,
        court: &CourtCode,
        action: &'static str,
    ) -> Result<(), TransitionError> {
        self.require_court(court)?;
        self.require(
            action,
            &[
                Status::AwaitingAcceptance,
                Status::Declined,
                Status::AcceptanceOverdue,
                Status::ReturnedToCourt,
            ],
        )?;
        if self.bundle.kind == ReferralKind::DirectIntake {
            return Err(self.not_allowed(action));
        }
        // Once an organisation mediated, the court dockets the case: the
        // failure and its record stand (online rules Art. 25).
        if self.accepted_at.is_some() {
            return Err(self.not_allowed(action));
        }
        Ok(())
    }

    /// The events that take the referral from the organisation waiting to
    /// answer, if one is, before it goes to another.
    pub(super) fn withdraw_for(&self, reason: &Narrative, at: Timestamp) -> Vec<Event> {
        match (&self.status, &self.assignment) {
            (Status::AwaitingAcceptance, Some(a)) => vec![Event {
                at,
                change: Change::Withdrawn {
                    partner: a.partner,
                    organisation: a.organisation.clone(),
                    reason: reason.clone(),
                },
            }],
            _ => Vec::new(),
        }
    }

    /// The court gives the referral to the organisation `assignment` names
    /// (online rules Art. 12; seed 000 §(十三): reassignment is the court's
    /// decision). An organisation waiting to answer loses it.
    pub fn reassign(
        &self,
        court: &CourtCode,
        assignment: Assignment,
        reason: Narrative,
        at: Timestamp,
    ) -> Decision {
        self.require_reassignable(court, "reassign")?;
        if self.status == Status::AwaitingAcceptance
            && self
                .assignment
                .as_ref()
                .is_some_and(|a| a.organisation == assignment.organisation)
        {
            let mut v = Violations::new();
            v.push("organisation", "the referral is already offered to it");
            return Err(v.into());
        }
        let mut events = self.withdraw_for(&reason, at);
        events.push(Event {
            at,
            change: Change::Routed {
                reasons: vec![format!(
                    "reassigned by court {court} to {}: {reason}",
                    assignment.organisation
                )],
                assignment,
                acceptance_deadline: None,
            },
        });
        Ok(events)
    }

    /// The court hands the referral back to routing: the next eligible
    /// organisation the router finds, never one that declined, lapsed or was
    /// passed over. With none, the call is refused and nothing changes.
    pub fn reroute_by_court(
        &self,
        court: &CourtCode,
        reason: Narrative,
        router: &dyn Router,
        at: Timestamp,
    ) -> Decision {
        self.require_reassignable(court, "hand back to routing")?;
        let mut events = self.withdraw_for(&reason, at);
        let mut after = self.clone();
        after.apply_all(&events);
        let (assignment, mut reasons) = router
            .route(&after)
            .map_err(|explanation| TransitionError::NoEligibleOrganisation { explanation })?;
        reasons.insert(
            0,
            format!("handed back to routing by court {court}: {reason}"),
        );
        events.push(Event {
            at,
            change: Change::Routed {
                assignment,
                reasons,
                acceptance_deadline: None,
            },
        });
        Ok(events)
    }

    /// Sends the referral back to the court without a mediation outcome.
    pub fn return_to_court(&self, reason: ReturnReason, at: Timestamp) -> Decision {
        self.require(
            "return to the court",
            &[
                Status::Received,
                Status::Declined,
                Status::AcceptanceOverdue,
            ],
        )?;
        one(at, Change::ReturnedToCourt { reason })
    }

    /// The court decides on a reported sham mediation (seed 000 §(十七): the
    /// mediator suspends and reports; the court decides). With `resume`,
    /// mediation goes on and the suspended days do not count against its
    /// limit, as an appraisal's do not; otherwise the court ends mediation
    /// and has the case back, and the organisation loses it (it sees nothing
    /// more of it, PIPL Art. 6).
    ///
    /// A report made during an appraisal does not end the appraisal: found
    /// genuine, mediation goes back to being suspended for it, and its days
    /// still do not count (online rules Art. 26) until the organisation
    /// reports the appraisal done.
    pub fn resolve_sham_mediation(
        &self,
        court: &CourtCode,
        resume: bool,
        note: Narrative,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require_court(court)?;
        self.require(
            "resolve a sham-mediation report on",
            &[Status::ShamMediationReported],
        )?;
        if !resume {
            return Ok(vec![
                Event {
                    at,
                    change: Change::ShamMediationResolved {
                        resume,
                        note: note.clone(),
                        mediation_deadline: None,
                    },
                },
                Event {
                    at,
                    change: Change::ReturnedToCourt {
                        reason: ReturnReason::ShamMediation { note },
                    },
                },
            ]);
        }
        // The court docketed the case meanwhile: it is before the court, and
        // mediation cannot resume beside it.
        if self.docketed.is_some() {
            return Err(self.not_allowed("resume, once the case was docketed, the mediation of"));
        }
        if self.appraisal.is_some() {
            return one(
                at,
                Change::ShamMediationResolved {
                    resume,
                    note,
                    mediation_deadline: None,
                },
            );
        }
        let mediation_deadline =
            self.resumed(cst::date_of(at), calendar, policy, "resume mediation of")?;
        one(
            at,
            Change::ShamMediationResolved {
                resume,
                note,
                mediation_deadline: Some(mediation_deadline),
            },
        )
    }

    /// The court rules on the application.
    pub fn record_ruling(&self, court: &CourtCode, ruling: Ruling, at: Timestamp) -> Decision {
        self.require("record a ruling for", &[Status::ConfirmationRequested])?;
        self.require_court(court)?;
        one(at, Change::RulingRecorded { ruling })
    }

    /// The court records what became of the case (`CourtOutcome`).
    ///
    /// - Docketed: after mediation failed or ended, the referral came back,
    ///   or the court refused to confirm the agreement and the parties sued
    ///   (CPL Art. 206), with the docketed case's number (not a
    ///   pre-litigation one), once.
    /// - A mediation paper: for a settled 委托 referral under the case's own
    ///   number; for a settled 委派 referral, where the parties ask for a
    ///   paper instead of confirmation (seed 003 四(四)2), under a
    ///   pre-litigation mediation paper number (诉前调书, seed 004 (十六)) of
    ///   the referring court.
    /// - A withdrawal: only for a settled 委托 referral, whose suit it ends.
    /// - Not docketed: a referral awaiting the court's decision that the
    ///   court closes without a suit (the application withdrawn, 不予立案).
    pub fn record_court_outcome(
        &self,
        court: &CourtCode,
        outcome: CourtOutcome,
        at: Timestamp,
    ) -> Decision {
        self.require_court(court)?;
        let mut v = Violations::new();
        match &outcome {
            CourtOutcome::Docketed { case_number } => {
                self.require(
                    "record the docketing of",
                    &[
                        Status::MediationFailed,
                        Status::ShamMediationReported,
                        Status::ReturnedToCourt,
                        Status::ConfirmationRefused,
                    ],
                )?;
                if self.docketed.is_some() {
                    return Err(self.not_allowed("record the docketing again of"));
                }
                if case_number.is_pre_litigation() {
                    v.push(
                        "case_number",
                        "must be the docketed case's number, not a pre-litigation one (诉前调)",
                    );
                }
            }
            CourtOutcome::NotDocketed { .. } => {
                if !self.awaits_court_decision() {
                    return Err(self.not_allowed("close without a suit"));
                }
            }
            CourtOutcome::MediationPaper { case_number }
                if self.bundle.kind == ReferralKind::Delegated =>
            {
                self.require("end with a mediation paper", &[Status::Agreed])?;
                if !case_number.case_type().ends_with("诉前调书") {
                    v.push(
                        "case_number",
                        "a pre-litigation (委派) settlement's mediation paper carries a \
                         pre-litigation mediation paper number (诉前调书, e.g. \
                         （2026）京0105民诉前调书12号; seed 004 (十六))",
                    );
                } else if case_number.court() != self.bundle.court {
                    v.push(
                        "case_number",
                        format!(
                            "belongs to court {}, not to the referring court {}",
                            case_number.court(),
                            self.bundle.court
                        ),
                    );
                }
            }
            CourtOutcome::MediationPaper { case_number }
            | CourtOutcome::SuitWithdrawn { case_number } => {
                if !matches!(self.bundle.kind, ReferralKind::Entrusted { .. }) {
                    return Err(TransitionError::NotForKind {
                        action: match outcome {
                            CourtOutcome::SuitWithdrawn { .. } => "end with a withdrawal",
                            _ => "end with a mediation paper",
                        },
                        kind: match self.bundle.kind {
                            ReferralKind::Delegated => {
                                "a pre-litigation (委派) referral: no suit was brought to withdraw"
                            }
                            _ => {
                                "a dispute taken directly (自行受理), which the court confirms instead"
                            }
                        },
                    });
                }
                self.require(
                    "end with a mediation paper or a withdrawal",
                    &[Status::Agreed],
                )?;
                if let Some(own) = &self.bundle.case_number
                    && own != case_number
                {
                    v.push("case_number", format!("must be the referral's case, {own}"));
                }
            }
        }
        if !v.is_empty() {
            return Err(v.into());
        }
        one(at, Change::CourtOutcomeRecorded { outcome })
    }

    /// The docketed case's number, once the court recorded it.
    pub fn docketed(&self) -> Option<&CaseNumber> {
        self.docketed.as_ref()
    }

    /// The court takes the referral back before any outcome.
    pub fn recall(&self, court: &CourtCode, reason: Narrative, at: Timestamp) -> Decision {
        self.require_court(court)?;
        if !self.status.is_before_outcome() {
            return Err(self.not_allowed("recall"));
        }
        one(at, Change::Recalled { reason })
    }
}
