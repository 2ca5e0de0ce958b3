//! The life of a referral, from the court's push to a final state.
//!
//! ```text
//!  Received ──route──▶ AwaitingAcceptance ──accept──▶ InMediation ──agreement──▶ Agreed
//!     │                  │        │                    │   ▲    │                 │
//!     │ no organisation  │decline │deadline       appraisal resume │deadline    apply
//!     ▼                  ▼        ▼                    ▼   │    ▼                 ▼
//!  ReturnedToCourt ◀── Declined  AcceptanceOverdue   Suspended  MediationOverdue  ConfirmationRequested
//!                      (either may be routed again                                 │ ruling
//!                       or returned to the court)                                  ▼
//!                                                           Confirmed / ConfirmationRefused
//! ```
//!
//! Mediation can also end in failure (MediationFailed), end early or at its
//! limit (ReturnedToCourt), or be suspended on a sham-mediation report
//! (ShamMediationReported) until the court resumes or ends it; the court can
//! recall the referral (Recalled) at any time before an outcome, and give a
//! referral it has back, or one still waiting for an answer, to another
//! organisation. A settled 委托 case ends with the court's mediation paper or a
//! withdrawal (Concluded). An extension agreed by every party keeps the
//! referral in mediation with a later deadline. The acceptance period starts
//! when the offer reaches the organisation's platform (OfferDelivered).
//!
//! Every command is a method that looks at the current state and either returns
//! the events it produces or a [`TransitionError`]; it changes nothing. The caller
//! persists the events and then [`Referral::apply`]s them. Replaying the stored
//! events with [`Referral::replay`] rebuilds the same state, so the events are the
//! referral's history and its timeline.

use std::collections::BTreeSet;
use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use mediation_calendar::{Calendar, cst};
use serde::{Deserialize, Serialize};

use crate::bundle::{CaseBundle, ReferralKind};
use crate::court::{CaseNumber, CourtCode};
use crate::deadline::{self, Deadline, DeadlineKind, DeadlinePolicy, MediationTerm};
mod error;

pub use error::TransitionError;

use crate::error::Violations;
use crate::ids::{MediationCaseNumber, MediatorId, OrganisationId, PartyRef, ReferralId};
use crate::outcome::{
    Agreement, ConfirmationApplication, CourtOutcome, DeclineReason, FailureReport,
    PerformanceReport, Ruling, RulingOutcome, ShamMediationReport,
};
use crate::partner::Partner;
use crate::routing::Router;
use crate::text::Narrative;

/// Where a referral is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Received,
    AwaitingAcceptance,
    Declined,
    AcceptanceOverdue,
    InMediation,
    SuspendedForAppraisal,
    MediationOverdue,
    Agreed,
    ConfirmationRequested,
    Confirmed,
    ConfirmationRefused,
    MediationFailed,
    ShamMediationReported,
    ReturnedToCourt,
    Recalled,
    /// A 委托 case the parties settled, ended by the court with a mediation
    /// paper or the suit's withdrawal.
    Concluded,
}

impl Status {
    /// Every status, in the order of a referral's life.
    pub const ALL: [Status; 16] = [
        Status::Received,
        Status::AwaitingAcceptance,
        Status::Declined,
        Status::AcceptanceOverdue,
        Status::InMediation,
        Status::SuspendedForAppraisal,
        Status::MediationOverdue,
        Status::Agreed,
        Status::ConfirmationRequested,
        Status::Confirmed,
        Status::ConfirmationRefused,
        Status::MediationFailed,
        Status::ShamMediationReported,
        Status::ReturnedToCourt,
        Status::Recalled,
        Status::Concluded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Received => "received",
            Status::AwaitingAcceptance => "awaiting_acceptance",
            Status::Declined => "declined",
            Status::AcceptanceOverdue => "acceptance_overdue",
            Status::InMediation => "in_mediation",
            Status::SuspendedForAppraisal => "suspended_for_appraisal",
            Status::MediationOverdue => "mediation_overdue",
            Status::Agreed => "agreed",
            Status::ConfirmationRequested => "confirmation_requested",
            Status::Confirmed => "confirmed",
            Status::ConfirmationRefused => "confirmation_refused",
            Status::MediationFailed => "mediation_failed",
            Status::ShamMediationReported => "sham_mediation_reported",
            Status::ReturnedToCourt => "returned_to_court",
            Status::Recalled => "recalled",
            Status::Concluded => "concluded",
        }
    }

    /// No command moves a referral out of a final state. Only reports on how a
    /// confirmed agreement was performed are still added, because voluntary
    /// performance is tracked after confirmation.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Confirmed
                | Status::ConfirmationRefused
                | Status::MediationFailed
                | Status::ReturnedToCourt
                | Status::Recalled
                | Status::Concluded
        )
    }

    /// Before any outcome: the court may still recall the referral.
    fn is_before_outcome(self) -> bool {
        matches!(
            self,
            Status::Received
                | Status::AwaitingAcceptance
                | Status::Declined
                | Status::AcceptanceOverdue
                | Status::InMediation
                | Status::SuspendedForAppraisal
                | Status::MediationOverdue
        )
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The organisation (and, once known, mediator) a referral is routed to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub partner: Partner,
    pub organisation: OrganisationId,
    pub mediator: Option<MediatorId>,
}

/// Why a referral went back to the court without a mediation outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReturnReason {
    /// No organisation on the roster could take it.
    NoEligibleOrganisation { explanation: String },
    /// The organisation declined it (its reasons are in the Declined event).
    Declined,
    /// No organisation accepted it in time.
    AcceptanceOverdue,
    /// The mediation limit passed without an agreement or an extension, and
    /// any grace after it too: mediation ends and the court dockets the case
    /// (online rules Art. 25).
    MediationEnded,
    /// The organisation ended mediation before its limit, on one of the
    /// grounds of online rules Art. 25.
    EndedEarly {
        ground: crate::outcome::EarlyEnd,
        explanation: Narrative,
    },
    /// The court found the reported sham mediation (虚假调解) real and ended
    /// the mediation (seed 000 §(十七)).
    ShamMediation { note: Narrative },
}

/// One thing that happened to a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub at: Timestamp,
    pub change: Change,
}

/// What changed. The variants are the referral's timeline entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum Change {
    Received {
        id: ReferralId,
        bundle: Box<CaseBundle>,
    },
    /// The referral is offered to an organisation. The acceptance period
    /// starts only when the offer reaches the organisation's platform
    /// ([`Change::OfferDelivered`]), so events stored since then carry no
    /// deadline; one stored before carries the deadline counted from routing,
    /// which it keeps.
    Routed {
        assignment: Assignment,
        reasons: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        acceptance_deadline: Option<Deadline>,
    },
    /// The organisation's platform acknowledged the offer; the event's
    /// instant is when the acknowledged delivery was sent. The 3 working days
    /// to accept or decline run from here (online rules Art. 12: the
    /// organisation confirms within 3 working days of receiving the case), so
    /// an outbox outage does not count against the organisation.
    OfferDelivered {
        partner: Partner,
        organisation: OrganisationId,
        acceptance_deadline: Deadline,
    },
    /// The organisation mediated a dispute it took directly from the parties
    /// (自行受理); no court referred it, so no deadline ran.
    TakenDirectly {
        assignment: Assignment,
    },
    Accepted {
        mediator: Option<MediatorId>,
        mediation_case_number: Option<MediationCaseNumber>,
        term: MediationTerm,
        mediation_deadline: Deadline,
        /// For a labour dispute: when the parties may apply for arbitration
        /// if mediation has not ended (Labour Dispute Mediation and
        /// Arbitration Law Art. 14: 15 days). Absent otherwise, and in
        /// events stored before the rule was watched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        arbitration_open_at: Option<Timestamp>,
    },
    /// Fifteen days after a labour committee accepted, mediation has not
    /// ended: the parties may apply for arbitration (LDMAL Art. 14).
    ArbitrationAvailable {
        since: Timestamp,
    },
    Declined {
        organisation: OrganisationId,
        reasons: Vec<DeclineReason>,
    },
    AcceptanceOverdue {
        organisation: OrganisationId,
        due_at: Timestamp,
        /// The platform of the organisation that let the time pass, which is
        /// told the case is withdrawn. Absent in events stored before.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        partner: Option<Partner>,
    },
    /// The court took the referral from the organisation it was offered to,
    /// to give it to another; the organisation's platform is told, and the
    /// organisation sees nothing more of it.
    Withdrawn {
        partner: Partner,
        organisation: OrganisationId,
        reason: Narrative,
    },
    ReturnedToCourt {
        reason: ReturnReason,
    },
    AppraisalStarted {
        on: Date,
        note: Narrative,
        /// When operators are warned that the pause has lasted too long:
        /// the end of the policy's review day. Absent where the policy warns
        /// of none, and in events stored before pauses were watched.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        review_at: Option<Timestamp>,
    },
    /// The appraisal pause reached its review day with mediation still
    /// suspended: operators are warned, and the court is told.
    AppraisalOverlong {
        since: Date,
        days: u32,
    },
    AppraisalEnded {
        on: Date,
        mediation_deadline: Deadline,
    },
    Extended {
        last_day: Date,
        consenting: Vec<PartyRef>,
        mediation_deadline: Deadline,
    },
    MediationOverdue {
        due_at: Timestamp,
        /// When mediation ends and the referral goes back to the court: the
        /// limit itself, or the end of the grace the policy allows. Absent
        /// in events stored before mediation ended on its own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ends_at: Option<Timestamp>,
    },
    DeadlineWarning {
        kind: DeadlineKind,
        due_at: Timestamp,
    },
    DeadlineRecomputed {
        deadline: Deadline,
    },
    AgreementReached {
        agreement: Box<Agreement>,
    },
    MediationFailed {
        report: Box<FailureReport>,
    },
    /// The organisation reports suspected sham mediation (虚假调解). Stored
    /// and sent to courts as `sham_mediation_suspected`, its name before the
    /// one name for the concept was chosen; the spelling stays so that stored
    /// histories and court systems keep reading it.
    #[serde(rename = "sham_mediation_suspected")]
    ShamMediationReported {
        report: ShamMediationReport,
    },
    /// The court recorded what became of the case: its docketing, or the
    /// mediation paper or withdrawal that ended a settled 委托 case.
    CourtOutcomeRecorded {
        outcome: CourtOutcome,
    },
    /// The court decided on a reported sham mediation: mediation resumes,
    /// with the time it was suspended not counted, or the court ends it
    /// (then a `ReturnedToCourt` follows).
    ShamMediationResolved {
        resume: bool,
        note: Narrative,
        /// With `resume`: the mediation deadline from then on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mediation_deadline: Option<Deadline>,
    },
    ConfirmationApplied {
        application: ConfirmationApplication,
    },
    RulingRecorded {
        ruling: Ruling,
    },
    PerformanceRecorded {
        report: PerformanceReport,
    },
    Recalled {
        reason: Narrative,
    },
}

impl Change {
    /// A short stable name for logs and timelines.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Received { .. } => "received",
            Change::Routed { .. } => "routed",
            Change::OfferDelivered { .. } => "offer_delivered",
            Change::TakenDirectly { .. } => "taken_directly",
            Change::Accepted { .. } => "accepted",
            Change::ArbitrationAvailable { .. } => "arbitration_available",
            Change::Declined { .. } => "declined",
            Change::AcceptanceOverdue { .. } => "acceptance_overdue",
            Change::Withdrawn { .. } => "withdrawn",
            Change::ReturnedToCourt { .. } => "returned_to_court",
            Change::AppraisalStarted { .. } => "appraisal_started",
            Change::AppraisalOverlong { .. } => "appraisal_overlong",
            Change::AppraisalEnded { .. } => "appraisal_ended",
            Change::Extended { .. } => "extended",
            Change::MediationOverdue { .. } => "mediation_overdue",
            Change::DeadlineWarning { .. } => "deadline_warning",
            Change::DeadlineRecomputed { .. } => "deadline_recomputed",
            Change::AgreementReached { .. } => "agreement_reached",
            Change::MediationFailed { .. } => "mediation_failed",
            Change::CourtOutcomeRecorded { .. } => "court_outcome_recorded",
            Change::ShamMediationResolved { .. } => "sham_mediation_resolved",
            Change::ShamMediationReported { .. } => "sham_mediation_suspected",
            Change::ConfirmationApplied { .. } => "confirmation_applied",
            Change::RulingRecorded { .. } => "ruling_recorded",
            Change::PerformanceRecorded { .. } => "performance_recorded",
            Change::Recalled { .. } => "recalled",
        }
    }
}

/// An appraisal pause: since when, why, and when operators are warned of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppraisalPause {
    pub since: Date,
    pub note: Narrative,
    pub review_at: Option<Timestamp>,
    /// Whether the warning was given.
    pub reviewed: bool,
}

/// A referral's current state, built from its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    id: ReferralId,
    bundle: CaseBundle,
    received_at: Timestamp,
    status: Status,
    assignment: Option<Assignment>,
    /// Organisations that declined or let the acceptance deadline pass; they are
    /// not offered this referral again.
    excluded: BTreeSet<OrganisationId>,
    acceptance_deadline: Option<Deadline>,
    /// When the referral was last routed.
    routed_at: Option<Timestamp>,
    /// When the offer of the last routing reached the organisation's
    /// platform: the acceptance period runs from it.
    #[serde(default)]
    offered_at: Option<Timestamp>,
    accepted_at: Option<Timestamp>,
    term: Option<MediationTerm>,
    mediation_deadline: Option<Deadline>,
    /// The `due_at` of each deadline a warning was given for, so a warning fires
    /// once per deadline, and again only if the deadline moves.
    warned: Vec<(DeadlineKind, Timestamp)>,
    agreement: Option<Agreement>,
    application: Option<ConfirmationApplication>,
    ruling: Option<Ruling>,
    performance: Vec<PerformanceReport>,
    /// While mediation is overdue, when it ends (see `Change::MediationOverdue`).
    mediation_ends_at: Option<Timestamp>,
    /// The appraisal pause under way or last taken.
    #[serde(default)]
    appraisal: Option<AppraisalPause>,
    /// The case the court docketed after mediation, once recorded.
    #[serde(default)]
    docketed: Option<CaseNumber>,
    /// For a labour dispute: when arbitration opens (LDMAL Art. 14), and
    /// whether that was noted.
    #[serde(default)]
    arbitration_open_at: Option<Timestamp>,
    #[serde(default)]
    arbitration_noted: bool,
    version: u64,
}

/// A referral's state apart from its bundle, field by field: what a store
/// keeps as the referral's snapshot beside its events, so that a command
/// reads one record instead of replaying the history. The bundle never
/// changes after the referral is received, so a store keeps it once, apart.
/// [`Referral::restore`] trusts its input, as replaying trusts stored events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferralState {
    pub id: ReferralId,
    pub received_at: Timestamp,
    pub status: Status,
    pub assignment: Option<Assignment>,
    pub excluded: BTreeSet<OrganisationId>,
    pub acceptance_deadline: Option<Deadline>,
    pub routed_at: Option<Timestamp>,
    pub offered_at: Option<Timestamp>,
    pub accepted_at: Option<Timestamp>,
    pub term: Option<MediationTerm>,
    pub mediation_deadline: Option<Deadline>,
    pub warned: Vec<(DeadlineKind, Timestamp)>,
    pub agreement: Option<Agreement>,
    pub application: Option<ConfirmationApplication>,
    pub ruling: Option<Ruling>,
    pub performance: Vec<PerformanceReport>,
    pub mediation_ends_at: Option<Timestamp>,
    pub appraisal: Option<AppraisalPause>,
    pub docketed: Option<CaseNumber>,
    pub arbitration_open_at: Option<Timestamp>,
    pub arbitration_noted: bool,
    pub version: u64,
}

/// Why stored events could not be replayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("a referral's history must start with its received event")]
    MissingReceived,
}

type Decision = Result<Vec<Event>, TransitionError>;

/// Labour Dispute Mediation and Arbitration Law Art. 14: when mediation has
/// reached no agreement this many days after the committee took the dispute,
/// the parties may apply for arbitration.
pub const LABOUR_MEDIATION_DAYS: u32 = 15;

fn one(at: Timestamp, change: Change) -> Decision {
    Ok(vec![Event { at, change }])
}

fn calendar_error(e: deadline::Error) -> TransitionError {
    TransitionError::Calendar(e.to_string())
}

impl Referral {
    /// Takes in a new referral: checks its bundle and returns the referral with
    /// its first event.
    pub fn receive(
        id: ReferralId,
        bundle: CaseBundle,
        at: Timestamp,
    ) -> Result<(Referral, Event), Violations> {
        bundle.validate()?;
        bundle.check_as_of(at)?;
        let event = Event {
            at,
            change: Change::Received {
                id,
                bundle: Box::new(bundle),
            },
        };
        let referral = Self::replay(std::slice::from_ref(&event)).map_err(|_| Violations::new())?;
        Ok((referral, event))
    }

    /// Rebuilds a referral from its history.
    pub fn replay(events: &[Event]) -> Result<Referral, ReplayError> {
        let (first, rest) = events.split_first().ok_or(ReplayError::MissingReceived)?;
        let Change::Received { id, bundle } = &first.change else {
            return Err(ReplayError::MissingReceived);
        };
        let mut referral = Referral {
            id: id.clone(),
            bundle: (**bundle).clone(),
            received_at: first.at,
            status: Status::Received,
            assignment: None,
            excluded: BTreeSet::new(),
            acceptance_deadline: None,
            routed_at: None,
            offered_at: None,
            accepted_at: None,
            term: None,
            mediation_deadline: None,
            warned: Vec::new(),
            agreement: None,
            application: None,
            ruling: None,
            performance: Vec::new(),
            mediation_ends_at: None,
            appraisal: None,
            docketed: None,
            arbitration_open_at: None,
            arbitration_noted: false,
            version: 1,
        };
        for event in rest {
            referral.apply(event);
        }
        Ok(referral)
    }

    /// The state apart from the bundle, for a store's snapshot.
    pub fn state(&self) -> ReferralState {
        ReferralState {
            id: self.id.clone(),
            received_at: self.received_at,
            status: self.status,
            assignment: self.assignment.clone(),
            excluded: self.excluded.clone(),
            acceptance_deadline: self.acceptance_deadline.clone(),
            routed_at: self.routed_at,
            offered_at: self.offered_at,
            accepted_at: self.accepted_at,
            term: self.term.clone(),
            mediation_deadline: self.mediation_deadline.clone(),
            warned: self.warned.clone(),
            agreement: self.agreement.clone(),
            application: self.application.clone(),
            ruling: self.ruling.clone(),
            performance: self.performance.clone(),
            mediation_ends_at: self.mediation_ends_at,
            appraisal: self.appraisal.clone(),
            docketed: self.docketed.clone(),
            arbitration_open_at: self.arbitration_open_at,
            arbitration_noted: self.arbitration_noted,
            version: self.version,
        }
    }

    /// The referral a store's snapshot and the bundle kept beside it
    /// describe: the same as replaying its history.
    pub fn restore(bundle: CaseBundle, state: ReferralState) -> Referral {
        let ReferralState {
            id,
            received_at,
            status,
            assignment,
            excluded,
            acceptance_deadline,
            routed_at,
            offered_at,
            accepted_at,
            term,
            mediation_deadline,
            warned,
            agreement,
            application,
            ruling,
            performance,
            mediation_ends_at,
            appraisal,
            docketed,
            arbitration_open_at,
            arbitration_noted,
            version,
        } = state;
        Referral {
            id,
            bundle,
            received_at,
            status,
            assignment,
            excluded,
            acceptance_deadline,
            routed_at,
            offered_at,
            accepted_at,
            term,
            mediation_deadline,
            warned,
            agreement,
            application,
            ruling,
            performance,
            mediation_ends_at,
            appraisal,
            docketed,
            arbitration_open_at,
            arbitration_noted,
            version,
        }
    }

    pub fn id(&self) -> &ReferralId {
        &self.id
    }

    pub fn bundle(&self) -> &CaseBundle {
        &self.bundle
    }

    pub fn received_at(&self) -> Timestamp {
        self.received_at
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn assignment(&self) -> Option<&Assignment> {
        self.assignment.as_ref()
    }

    /// Organisations that may not be offered this referral again.
    pub fn excluded(&self) -> &BTreeSet<OrganisationId> {
        &self.excluded
    }

    /// The acceptance deadline, once the offer reached the organisation's
    /// platform.
    pub fn acceptance_deadline(&self) -> Option<&Deadline> {
        self.acceptance_deadline.as_ref()
    }

    /// When the referral was last routed.
    pub fn routed_at(&self) -> Option<Timestamp> {
        self.routed_at
    }

    /// When the offer of the last routing reached the organisation's
    /// platform; `None` while it has not, and for a referral routed before
    /// deliveries were recorded.
    pub fn offered_at(&self) -> Option<Timestamp> {
        self.offered_at
    }

    pub fn mediation_deadline(&self) -> Option<&Deadline> {
        self.mediation_deadline.as_ref()
    }

    pub fn mediation_term(&self) -> Option<&MediationTerm> {
        self.term.as_ref()
    }

    pub fn accepted_at(&self) -> Option<Timestamp> {
        self.accepted_at
    }

    pub fn agreement(&self) -> Option<&Agreement> {
        self.agreement.as_ref()
    }

    pub fn ruling(&self) -> Option<&Ruling> {
        self.ruling.as_ref()
    }

    pub fn performance(&self) -> &[PerformanceReport] {
        &self.performance
    }

    /// Whether the warning for the deadline of `kind` due at `due_at` was given.
    pub fn was_warned(&self, kind: DeadlineKind, due_at: Timestamp) -> bool {
        self.warned.contains(&(kind, due_at))
    }

    /// How many events the referral has had.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The deadline that is running now, if any: acceptance while awaiting
    /// acceptance, mediation while in mediation.
    pub fn running_deadline(&self) -> Option<&Deadline> {
        match self.status {
            Status::AwaitingAcceptance => self.acceptance_deadline.as_ref(),
            Status::InMediation => self.mediation_deadline.as_ref(),
            _ => None,
        }
    }

    fn not_allowed(&self, action: &'static str) -> TransitionError {
        TransitionError::NotAllowed {
            action,
            status: self.status,
        }
    }

    fn require(&self, action: &'static str, allowed: &[Status]) -> Result<(), TransitionError> {
        if allowed.contains(&self.status) {
            Ok(())
        } else {
            Err(self.not_allowed(action))
        }
    }

    fn require_assigned(
        &self,
        organisation: &OrganisationId,
    ) -> Result<&Assignment, TransitionError> {
        match &self.assignment {
            Some(a) if &a.organisation == organisation => Ok(a),
            _ => Err(TransitionError::NotAssigned {
                organisation: organisation.to_string(),
            }),
        }
    }

    fn require_court(&self, court: &CourtCode) -> Result<(), TransitionError> {
        if court == &self.bundle.court {
            Ok(())
        } else {
            Err(TransitionError::NotReferringCourt {
                court: court.to_string(),
            })
        }
    }

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
        let arbitration_open_at = match self.assignment.as_ref().map(|a| a.partner) {
            Some(Partner::LabourArbitration) => Some(
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
        self.arbitration_open_at
            .filter(|_| running && !self.arbitration_noted)
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

    /// The statuses from which the court may give the referral to another
    /// organisation: waiting for an answer, or back with the court (or on its
    /// way back) before any mediation took place.
    fn require_reassignable(
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
    fn withdraw_for(&self, reason: &Narrative, at: Timestamp) -> Vec<Event> {
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

    /// Every party agreed to extend mediation to `last_day`.
    /// Every party agreed to extend mediation by `days` from its current
    /// last day: the same as an extension to that day.
    pub fn extend_by_days(
        &self,
        organisation: &OrganisationId,
        days: u32,
        consenting: Vec<PartyRef>,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require("extend", &[Status::InMediation])?;
        let mut term = self
            .term
            .clone()
            .ok_or_else(|| self.not_allowed("extend"))?;
        if days == 0 {
            let mut v = Violations::new();
            v.push("days", "an extension must add at least one day");
            return Err(v.into());
        }
        term.extend_by(days).map_err(calendar_error)?;
        let last_day = term.extended_to.ok_or_else(|| self.not_allowed("extend"))?;
        self.extend(organisation, last_day, consenting, at, calendar, policy)
    }

    pub fn extend(
        &self,
        organisation: &OrganisationId,
        last_day: Date,
        consenting: Vec<PartyRef>,
        at: Timestamp,
        calendar: &Calendar,
        policy: &DeadlinePolicy,
    ) -> Decision {
        self.require("extend", &[Status::InMediation])?;
        self.require_assigned(organisation)?;
        let mut v = Violations::new();
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
        term.extend_to(last_day).map_err(|e| {
            let mut v = Violations::new();
            v.push("last_day", e.to_string());
            TransitionError::from(v)
        })?;
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

    /// The organisation holding the referral: the one it is offered to or
    /// mediated by, until it declines, lets the time pass, or the referral
    /// goes back to the court or is recalled.
    pub fn holder(&self) -> Option<&OrganisationId> {
        match self.status {
            Status::Received
            | Status::Declined
            | Status::AcceptanceOverdue
            | Status::ReturnedToCourt
            | Status::Recalled => None,
            _ => self.assignment.as_ref().map(|a| &a.organisation),
        }
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

    /// The parties reached an agreement.
    pub fn record_agreement(
        &self,
        organisation: &OrganisationId,
        agreement: Agreement,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "record an agreement for",
            &[Status::InMediation, Status::MediationOverdue],
        )?;
        let assignment = self.require_assigned(organisation)?;
        agreement.check(&self.bundle, organisation, assignment.mediator.as_ref())?;
        one(
            at,
            Change::AgreementReached {
                agreement: Box::new(agreement),
            },
        )
    }

    /// Mediation failed; the report goes to the court.
    pub fn report_failure(
        &self,
        organisation: &OrganisationId,
        report: FailureReport,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "report failure of",
            &[
                Status::InMediation,
                Status::SuspendedForAppraisal,
                Status::MediationOverdue,
            ],
        )?;
        self.require_assigned(organisation)?;
        report.check(&self.bundle)?;
        one(
            at,
            Change::MediationFailed {
                report: Box::new(report),
            },
        )
    }

    /// The court decides on a reported sham mediation (seed 000 §(十七): the
    /// mediator suspends and reports; the court decides). With `resume`,
    /// mediation goes on and the suspended days do not count against its
    /// limit, as an appraisal's do not; otherwise the court ends mediation
    /// and has the case back.
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

    /// The mediation deadline once the pause running now ends on `on`: the
    /// paused days do not count.
    fn resumed(
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

    /// The mediator suspects a sham mediation: mediation stops, the court is told.
    pub fn report_sham_mediation(
        &self,
        organisation: &OrganisationId,
        report: ShamMediationReport,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "report sham mediation in",
            &[
                Status::InMediation,
                Status::SuspendedForAppraisal,
                Status::MediationOverdue,
            ],
        )?;
        self.require_assigned(organisation)?;
        one(at, Change::ShamMediationReported { report })
    }

    /// The parties jointly apply for judicial confirmation of their agreement.
    ///
    /// Only the organisation that mediated files the parties' joint
    /// application (CPL Art. 205): the agreement it presided over is what the
    /// court is asked to confirm, and no other organisation holds one.
    ///
    /// Judicial confirmation is for agreements reached before a case is
    /// docketed (CPL Art. 205; seed 003 四(四)2): a 委托 referral ends with a
    /// mediation paper or a withdrawal instead. The application's instant is
    /// `at`, when the gateway received it; what the platform says of when it
    /// applied is not trusted.
    pub fn apply_for_confirmation(
        &self,
        organisation: &OrganisationId,
        application: ConfirmationApplication,
        at: Timestamp,
        calendar: &Calendar,
    ) -> Decision {
        self.require("apply for confirmation of", &[Status::Agreed])?;
        self.require_assigned(organisation)?;
        if let ReferralKind::Entrusted { .. } = self.bundle.kind {
            return Err(TransitionError::NotForKind {
                action: "apply for judicial confirmation of",
                kind: "an entrusted (委托) referral, which ends with a mediation paper or a withdrawal (CPL Art. 205)",
            });
        }
        let application = ConfirmationApplication {
            applied_at: at,
            ..application
        };
        let agreement = self
            .agreement
            .as_ref()
            .ok_or_else(|| self.not_allowed("apply for confirmation of"))?;
        application.check(&self.bundle, agreement, calendar)?;
        one(at, Change::ConfirmationApplied { application })
    }

    /// An organisation that took the dispute directly from the parties files
    /// their agreement and their joint application for confirmation with the
    /// court the bundle names. Only a received direct-intake referral can be
    /// filed this way, and the agreement and application are checked as for a
    /// referred case.
    pub fn file_direct_intake(
        &self,
        assignment: Assignment,
        agreement: Agreement,
        application: ConfirmationApplication,
        at: Timestamp,
        calendar: &Calendar,
    ) -> Decision {
        self.require("file a direct-intake application for", &[Status::Received])?;
        // The instant the gateway received the filing, as for a referred case.
        let application = ConfirmationApplication {
            applied_at: at,
            ..application
        };
        if self.bundle.kind != ReferralKind::DirectIntake {
            return Err(self.not_allowed("file a direct-intake application for"));
        }
        agreement.check(
            &self.bundle,
            &assignment.organisation,
            assignment.mediator.as_ref(),
        )?;
        application.check(&self.bundle, &agreement, calendar)?;
        Ok(vec![
            Event {
                at,
                change: Change::TakenDirectly { assignment },
            },
            Event {
                at,
                change: Change::AgreementReached {
                    agreement: Box::new(agreement),
                },
            },
            Event {
                at,
                change: Change::ConfirmationApplied { application },
            },
        ])
    }

    /// The court rules on the application.
    pub fn record_ruling(&self, court: &CourtCode, ruling: Ruling, at: Timestamp) -> Decision {
        self.require("record a ruling for", &[Status::ConfirmationRequested])?;
        self.require_court(court)?;
        one(at, Change::RulingRecorded { ruling })
    }

    /// Whether the parties performed the agreement, as the organisation that
    /// mediated it reports.
    pub fn record_performance(
        &self,
        organisation: &OrganisationId,
        report: PerformanceReport,
        at: Timestamp,
    ) -> Decision {
        self.require(
            "record performance of",
            &[
                Status::Agreed,
                Status::ConfirmationRequested,
                Status::Confirmed,
            ],
        )?;
        self.require_assigned(organisation)?;
        one(at, Change::PerformanceRecorded { report })
    }

    /// The court records what became of the case (`CourtOutcome`).
    ///
    /// - Docketed: after mediation failed or ended, or the referral came
    ///   back, with the docketed case's number (not a pre-litigation one),
    ///   once.
    /// - A mediation paper or withdrawal: only for a 委托 referral the
    ///   parties settled (judicial confirmation is for the others, CPL
    ///   Art. 205), under the case's own number.
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
            CourtOutcome::MediationPaper { case_number }
            | CourtOutcome::SuitWithdrawn { case_number } => {
                if !matches!(self.bundle.kind, ReferralKind::Entrusted { .. }) {
                    return Err(TransitionError::NotForKind {
                        action: "end with a mediation paper or a withdrawal",
                        kind: "a referral that was not docketed (委派 or taken directly); it is confirmed instead",
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

    /// Applies decided events to the state. Events come from this type's own
    /// decisions (or from storage, where they were saved after being decided), so
    /// they are applied without being checked again.
    pub fn apply_all(&mut self, events: &[Event]) {
        for event in events {
            self.apply(event);
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
                self.status = Status::Agreed;
                self.agreement = Some((**agreement).clone());
            }
            Change::MediationFailed { .. } => self.status = Status::MediationFailed,
            Change::CourtOutcomeRecorded { outcome } => match outcome {
                CourtOutcome::Docketed { case_number } => {
                    self.docketed = Some(case_number.clone());
                }
                CourtOutcome::MediationPaper { .. } | CourtOutcome::SuitWithdrawn { .. } => {
                    self.status = Status::Concluded;
                }
            },
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
            Change::ShamMediationResolved { resume: false, .. } => {}
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
            Change::Recalled { .. } => self.status = Status::Recalled,
        }
    }
}

#[cfg(test)]
mod tests;
