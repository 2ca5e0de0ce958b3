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
use serde::{Deserialize, Serialize};

use crate::bundle::CaseBundle;
use crate::court::{CaseNumber, CourtCode};
use crate::deadline::{self, Deadline, DeadlineKind, MediationTerm};
mod acceptance;
mod apply;
mod court;
mod error;
mod follow_up;
mod mediation;
mod outcome;

pub use error::TransitionError;

use crate::error::Violations;
use crate::ids::{MediationCaseNumber, MediatorId, OrganisationId, PartyRef, ReferralId};
use crate::outcome::{
    Agreement, ConfirmationApplication, CourtOutcome, DeclineReason, FailureReport,
    PerformanceReport, Ruling, ShamMediationReport,
};
use crate::partner::Partner;
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
    /// performance is tracked after confirmation, and the court's record of
    /// the case it docketed afterwards. A refused confirmation is not final:
    /// the parties may change their agreement or reach a new one through
    /// mediation, or sue (CPL Art. 206).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Status::Confirmed
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
    /// The referral came back to the court (a failure, a lapse, an end at
    /// the limit, a refused confirmation) and awaits its decision: to docket
    /// the case or pass it on. The court is reminded at `remind_at`, the
    /// policy's working days later (CPL Art. 126); absent where the policy
    /// reminds of none.
    CourtDecisionAwaited {
        since: Timestamp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        remind_at: Option<Timestamp>,
    },
    /// The court has not decided by `remind_at`: it is reminded, and
    /// operators see which courts let referrals wait.
    CourtDecisionOverdue {
        since: Timestamp,
        remind_at: Timestamp,
    },
    /// The referral's personal data was purged under the named retention
    /// policy (PIPL Art. 47; [`crate::retention`]): the events before this
    /// one, and the state, keep their ids, instants, codes and amounts and
    /// lose names, identity numbers, contacts, free text and case files.
    PersonalDataPurged {
        policy: String,
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
            Change::CourtDecisionAwaited { .. } => "court_decision_awaited",
            Change::CourtDecisionOverdue { .. } => "court_decision_overdue",
            Change::PersonalDataPurged { .. } => "personal_data_purged",
        }
    }
}

/// A referral back with the court, awaiting its decision: since when, when
/// the court is reminded, and whether it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CourtWait {
    pub since: Timestamp,
    pub remind_at: Option<Timestamp>,
    pub reminded: bool,
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
    /// While the referral is back with the court awaiting its decision.
    #[serde(default)]
    court_wait: Option<CourtWait>,
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
    pub court_wait: Option<CourtWait>,
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
            court_wait: None,
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
            court_wait: self.court_wait.clone(),
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
            court_wait,
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
            court_wait,
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

    /// The mediation deadline as the parties and the court are to read it:
    /// none while mediation is suspended, for an appraisal (online rules
    /// Art. 26) or by a sham-mediation report, whose days do not count, so
    /// that the deadline it had before is not shown as if it still ran; it
    /// is set anew when mediation resumes.
    pub fn running_mediation_deadline(&self) -> Option<&Deadline> {
        // Suspended for an appraisal, or by a sham-mediation report (whose
        // days do not count either), the term is paused.
        let suspended = self.appraisal.is_some()
            || self.term.as_ref().is_some_and(|term| term.is_paused())
            || matches!(
                self.status,
                Status::SuspendedForAppraisal | Status::ShamMediationReported
            );
        if suspended {
            None
        } else {
            self.mediation_deadline.as_ref()
        }
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
}

#[cfg(test)]
mod tests;
