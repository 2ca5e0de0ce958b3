//! Folding decided events into a referral's state.

use mediation_calendar::cst;

use super::{AppraisalPause, Change, CourtWait, Event, Referral, Status};
use crate::deadline::DeadlineKind;
use crate::outcome::{CourtOutcome, RulingOutcome};

impl Referral {
    /// Applies decided events to the state. Events come from this type's own
    /// decisions (or from storage, where they were saved after being decided), so
    /// they are applied without being checked again.
    pub fn apply_all(&mut self, events: &[Event]) {
        for event in events {
            self.apply(event);
        }
    }

    /// Removes the personal data the state holds (PIPL Art. 47): what a
    /// purge leaves, whichever history it is replayed from
    /// ([`crate::retention::redact`] does the same to the events).
    fn redact(&mut self) {
        use crate::retention;
        retention::redact_bundle(&mut self.bundle);
        if let Some(agreement) = &mut self.agreement {
            retention::redact_agreement(agreement);
        }
        if let Some(ruling) = &mut self.ruling {
            retention::redact_ruling(ruling);
        }
        self.performance
            .iter_mut()
            .for_each(retention::redact_performance);
        if let Some(pause) = &mut self.appraisal {
            pause.note = crate::text::Narrative::purged();
        }
    }

    /// Applies one event.
    pub fn apply(&mut self, event: &Event) {
        self.version += 1;
        match &event.change {
            Change::Received { .. } => {}
            Change::Routed {
                assignment,
                acceptance_deadline,
                ..
            } => {
                // The court passed it on: its decision.
                self.court_wait = None;
                self.status = Status::AwaitingAcceptance;
                // Routing never offers it to an excluded organisation; the
                // court may, and that organisation has the case again.
                self.excluded.remove(&assignment.organisation);
                self.assignment = Some(assignment.clone());
                self.acceptance_deadline = acceptance_deadline.clone();
                self.routed_at = Some(event.at);
                self.offered_at = None;
            }
            Change::OfferDelivered {
                acceptance_deadline,
                ..
            } => {
                self.acceptance_deadline = Some(acceptance_deadline.clone());
                self.offered_at = Some(event.at);
            }
            Change::TakenDirectly { assignment } => {
                self.status = Status::InMediation;
                self.assignment = Some(assignment.clone());
                self.accepted_at = Some(event.at);
            }
            Change::ArbitrationAvailable { .. } => self.arbitration_noted = true,
            Change::Accepted {
                mediator,
                term,
                mediation_deadline,
                arbitration_open_at,
                ..
            } => {
                self.arbitration_open_at = *arbitration_open_at;
                self.arbitration_noted = false;
                self.status = Status::InMediation;
                if let (Some(a), Some(m)) = (&mut self.assignment, mediator) {
                    a.mediator = Some(m.clone());
                }
                self.accepted_at = Some(event.at);
                self.term = Some(term.clone());
                self.mediation_deadline = Some(mediation_deadline.clone());
            }
            Change::Declined { organisation, .. } => {
                self.status = Status::Declined;
                self.excluded.insert(organisation.clone());
            }
            Change::AcceptanceOverdue { organisation, .. } => {
                self.status = Status::AcceptanceOverdue;
                self.excluded.insert(organisation.clone());
            }
            Change::Withdrawn { organisation, .. } => {
                self.excluded.insert(organisation.clone());
                self.assignment = None;
                self.acceptance_deadline = None;
            }
            Change::ReturnedToCourt { .. } => self.status = Status::ReturnedToCourt,
            Change::AppraisalStarted {
                on,
                note,
                review_at,
            } => {
                self.appraisal = Some(AppraisalPause {
                    since: *on,
                    note: note.clone(),
                    review_at: *review_at,
                    reviewed: false,
                });
                self.status = Status::SuspendedForAppraisal;
                if let Some(term) = &mut self.term {
                    // Decided against this very term, so it cannot fail here.
                    let _ = term.pause(*on);
                }
            }
            Change::AppraisalOverlong { .. } => {
                if let Some(pause) = &mut self.appraisal {
                    pause.reviewed = true;
                }
            }
            Change::AppraisalEnded {
                on,
                mediation_deadline,
            } => {
                self.appraisal = None;
                self.status = Status::InMediation;
                if let Some(term) = &mut self.term {
                    let _ = term.resume(*on);
                }
                self.mediation_deadline = Some(mediation_deadline.clone());
            }
            Change::Extended {
                last_day,
                mediation_deadline,
                ..
            } => {
                if let Some(term) = &mut self.term {
                    term.record_extension(*last_day);
                }
                self.mediation_deadline = Some(mediation_deadline.clone());
            }
            Change::MediationOverdue { ends_at, .. } => {
                self.status = Status::MediationOverdue;
                self.mediation_ends_at = *ends_at;
            }
            Change::DeadlineWarning { kind, due_at } => self.warned.push((*kind, *due_at)),
            Change::DeadlineRecomputed { deadline } => match deadline.kind {
                DeadlineKind::Acceptance => self.acceptance_deadline = Some(deadline.clone()),
                DeadlineKind::Mediation => self.mediation_deadline = Some(deadline.clone()),
            },
            Change::AgreementReached { agreement } => {
                // After a refused confirmation, the parties' new agreement
                // is their decision; the court's wait is over.
                self.court_wait = None;
                self.status = Status::Agreed;
                self.agreement = Some((**agreement).clone());
            }
            Change::MediationFailed { .. } => self.status = Status::MediationFailed,
            Change::CourtOutcomeRecorded { outcome } => {
                // Whatever the court recorded, it decided.
                self.court_wait = None;
                match outcome {
                    CourtOutcome::Docketed { case_number } => {
                        self.docketed = Some(case_number.clone());
                    }
                    CourtOutcome::MediationPaper { .. } | CourtOutcome::SuitWithdrawn { .. } => {
                        self.status = Status::Concluded;
                    }
                    // Closed without a suit: it stays where it was, and the
                    // court's wait is over.
                    CourtOutcome::NotDocketed { .. } => {}
                }
            }
            Change::ShamMediationReported { .. } => {
                // Mediation is suspended (中止) until the court decides; the
                // days do not count. A pause already running (an appraisal)
                // simply goes on.
                if let Some(term) = &mut self.term
                    && !term.is_paused()
                {
                    let _ = term.pause(cst::date_of(event.at));
                }
                self.status = Status::ShamMediationReported;
            }
            // Found genuine during an appraisal: the appraisal goes on and
            // its days still do not count (online rules Art. 26). Decided
            // with no deadline for that reason; histories stored before
            // carry one and resumed mediation, which they keep doing.
            Change::ShamMediationResolved {
                resume: true,
                mediation_deadline: None,
                ..
            } if self.appraisal.is_some() => {
                self.status = Status::SuspendedForAppraisal;
            }
            Change::ShamMediationResolved {
                resume: true,
                mediation_deadline,
                ..
            } => {
                if let Some(term) = &mut self.term
                    && term.is_paused()
                {
                    let _ = term.resume(cst::date_of(event.at));
                }
                self.appraisal = None;
                self.mediation_deadline = mediation_deadline.clone();
                self.status = Status::InMediation;
            }
            // The court ended the mediation as a sham: the organisation
            // loses the case and sees nothing more of it (PIPL Art. 6).
            Change::ShamMediationResolved { resume: false, .. } => {
                if let Some(a) = &self.assignment {
                    self.excluded.insert(a.organisation.clone());
                }
            }
            Change::ConfirmationApplied { application } => {
                self.status = Status::ConfirmationRequested;
                self.application = Some(application.clone());
            }
            Change::RulingRecorded { ruling } => {
                self.status = match ruling.outcome {
                    RulingOutcome::Confirmed => Status::Confirmed,
                    RulingOutcome::NotAccepted | RulingOutcome::Dismissed => {
                        Status::ConfirmationRefused
                    }
                };
                self.ruling = Some(ruling.clone());
            }
            Change::PerformanceRecorded { report } => self.performance.push(report.clone()),
            Change::Recalled { .. } => {
                self.status = Status::Recalled;
                self.court_wait = None;
            }
            Change::CourtDecisionAwaited { since, remind_at } => {
                self.court_wait = Some(CourtWait {
                    since: *since,
                    remind_at: *remind_at,
                    reminded: false,
                });
            }
            Change::CourtDecisionOverdue { .. } => {
                if let Some(wait) = &mut self.court_wait {
                    wait.reminded = true;
                }
            }
            Change::PersonalDataPurged { .. } => self.redact(),
        }
    }
}
