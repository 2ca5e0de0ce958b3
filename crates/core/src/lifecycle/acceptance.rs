//! The offer and its answer: routing to an organisation, the offer's
//! delivery that starts the acceptance period, acceptance (with the labour
//! committee's fifteen days), decline, and the acceptance deadline passing.

use jiff::Timestamp;
use mediation_calendar::{Calendar, cst};

use super::{
    Assignment, Change, Decision, LABOUR_MEDIATION_DAYS, Referral, Status, TransitionError,
    calendar_error, one,
};
use crate::bundle::ReferralKind;
use crate::deadline::{self, DeadlinePolicy, MediationTerm};
use crate::error::Violations;
use crate::ids::{MediationCaseNumber, MediatorId, OrganisationId};
use crate::outcome::DeclineReason;
use crate::partner::Partner;

impl Referral {
    /// Offers the referral to an organisation. The acceptance deadline starts
    /// when the offer is delivered ([`Referral::offer_delivered`]).
    pub fn route(&self, assignment: Assignment, reasons: Vec<String>, at: Timestamp) -> Decision {
        self.require(
            "route",
            &[
                Status::Received,
                Status::Declined,
                Status::AcceptanceOverdue,
            ],
        )?;
        if self.bundle.kind == ReferralKind::DirectIntake {
            return Err(self.not_allowed("route"));
        }
        if self.excluded.contains(&assignment.organisation) {
            return Err(TransitionError::AlreadyDeclined {
                organisation: assignment.organisation.to_string(),
            });
        }
        one(
            at,
            Change::Routed {
                assignment,
                reasons,
                acceptance_deadline: None,
            },
        )
    }

    /// The offer reached `organisation`'s platform: the delivery sent at
    /// `sent_at` was acknowledged. Starts the acceptance period from
    /// `sent_at`. Nothing happens when the referral is no longer waiting for
    /// that organisation or its offer was already delivered: deliveries are
    /// at least once, so the same acknowledgement may come again.
    pub fn offer_delivered(
        &self,
        organisation: &OrganisationId,
        sent_at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        let Some(assignment) = self
            .assignment
            .as_ref()
            .filter(|a| &a.organisation == organisation)
        else {
            return Ok(Vec::new());
        };
        if self.status != Status::AwaitingAcceptance || self.offered_at.is_some() {
            return Ok(Vec::new());
        }
        let acceptance_deadline =
            deadline::acceptance_deadline(calendar, policy, sent_at).map_err(calendar_error)?;
        one(
            sent_at,
            Change::OfferDelivered {
                partner: assignment.partner,
                organisation: organisation.clone(),
                acceptance_deadline,
            },
        )
    }

    /// The organisation accepts; mediation starts and its deadline runs.
    pub fn accept(
        &self,
        organisation: &OrganisationId,
        mediator: Option<MediatorId>,
        mediation_case_number: Option<MediationCaseNumber>,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require("accept", &[Status::AwaitingAcceptance])?;
        self.require_assigned(organisation)?;
        if let Some(d) = &self.acceptance_deadline
            && at >= d.due_at
        {
            return Err(TransitionError::DeadlinePassed {
                deadline: "acceptance",
                due_at: cst::format(d.due_at),
            });
        }
        let limit = policy.mediation.for_kind(&self.bundle.kind);
        let term = MediationTerm::new(cst::date_of(at), limit);
        let new_term = || TransitionError::Calendar("a new mediation term cannot be paused".into());
        let mediation_deadline = term
            .deadline(calendar, policy.warn_working_days)
            .map_err(calendar_error)?
            .ok_or_else(new_term)?;
        // LDMAL Art. 14: fifteen days, counted as CPL Art. 85 counts periods.
        // The article is about mediation before arbitration (a 委派 referral
        // or a dispute taken directly); a docketed (委托) case is already
        // before the court, so no notice that arbitration is open goes out.
        let before_arbitration = !matches!(self.bundle.kind, ReferralKind::Entrusted { .. });
        let arbitration_open_at = match self.assignment.as_ref().map(|a| a.partner) {
            Some(Partner::LabourArbitration) if before_arbitration => Some(
                MediationTerm::new(cst::date_of(at), LABOUR_MEDIATION_DAYS)
                    .deadline(calendar, 0)
                    .map_err(calendar_error)?
                    .ok_or_else(new_term)?
                    .due_at,
            ),
            _ => None,
        };
        one(
            at,
            Change::Accepted {
                mediator,
                mediation_case_number,
                term,
                mediation_deadline,
                arbitration_open_at,
            },
        )
    }

    /// Fifteen days after a labour committee accepted, mediation has not
    /// ended: the parties may apply for arbitration (LDMAL Art. 14).
    pub fn arbitration_available(&self, at: Timestamp) -> Decision {
        self.require(
            "note that arbitration is open for",
            &[
                Status::InMediation,
                Status::SuspendedForAppraisal,
                Status::MediationOverdue,
                Status::ShamMediationReported,
            ],
        )?;
        let Some(since) = self.arbitration_open_at.filter(|_| !self.arbitration_noted) else {
            return Err(self.not_allowed("note that arbitration is open for"));
        };
        if at < since {
            return Err(TransitionError::NotYetDue {
                deadline: "labour mediation (LDMAL Art. 14)",
                due_at: cst::format(since),
            });
        }
        one(at, Change::ArbitrationAvailable { since })
    }

    /// When the parties of a labour dispute may apply for arbitration, once
    /// that has come (LDMAL Art. 14).
    pub fn arbitration_open_since(&self) -> Option<Timestamp> {
        self.arbitration_open_at.filter(|_| self.arbitration_noted)
    }

    /// The timer of the labour mediation's 15 days, while it is due.
    pub(crate) fn arbitration_due(&self) -> Option<Timestamp> {
        let running = matches!(
            self.status,
            Status::InMediation
                | Status::SuspendedForAppraisal
                | Status::MediationOverdue
                | Status::ShamMediationReported
        );
        // A docketed (委托) case accepted before the notice was kept for
        // mediation before arbitration alone still carries the day: it
        // fires for none.
        let before_arbitration = !matches!(self.bundle.kind, ReferralKind::Entrusted { .. });
        self.arbitration_open_at
            .filter(|_| running && before_arbitration && !self.arbitration_noted)
    }

    /// The organisation declines, with reasons.
    pub fn decline(
        &self,
        organisation: &OrganisationId,
        reasons: Vec<DeclineReason>,
        at: Timestamp,
    ) -> Decision {
        self.require("decline", &[Status::AwaitingAcceptance])?;
        self.require_assigned(organisation)?;
        if reasons.is_empty() {
            let mut v = Violations::new();
            v.push("reasons", "a decline must give its reasons");
            return Err(v.into());
        }
        one(
            at,
            Change::Declined {
                organisation: organisation.clone(),
                reasons,
            },
        )
    }

    /// The acceptance deadline has passed without an answer.
    pub fn acceptance_deadline_passed(&self, at: Timestamp) -> Decision {
        self.require("mark acceptance overdue", &[Status::AwaitingAcceptance])?;
        let (Some(d), Some(a)) = (&self.acceptance_deadline, &self.assignment) else {
            return Err(self.not_allowed("mark acceptance overdue"));
        };
        if at < d.due_at {
            return Err(TransitionError::NotYetDue {
                deadline: "acceptance",
                due_at: cst::format(d.due_at),
            });
        }
        one(
            at,
            Change::AcceptanceOverdue {
                organisation: a.organisation.clone(),
                due_at: d.due_at,
                partner: Some(a.partner),
            },
        )
    }
}
