//! A referral as stored: its bundle (kept once), its events, and the snapshot
//! of its state beside them.
//!
//! Stored enums with data are encoded by the index of their variant, so the
//! variants of [`StoredChange`], [`StoredReturn`] and the others are only ever
//! appended to, never reordered or removed.

use jiff::Timestamp;
use mediation_core::bundle::CaseBundle;
use mediation_core::deadline::{Deadline, DeadlineKind, MediationTerm, Pause};
use mediation_core::lifecycle::{
    AppraisalPause, Assignment, Change, CourtWait, Event, ReferralState, ReturnReason, Status,
};
use mediation_core::partner::Partner;
use serde::{Deserialize, Serialize};

use crate::case::StoredBundle;
use crate::outcome::{
    StoredAgreement, StoredApplication, StoredCourtOutcome, StoredDecline, StoredFailure,
    StoredPerformance, StoredRuling, StoredShamReport,
};
use crate::{
    Coded, Day, FormatError, Instant, Mirror, codes, decode_plain, decode_versioned, encode_plain,
    encode_versioned, load_all, load_opt, many, opt, parse, parse_opt, text, text_opt,
};

codes!(DeadlineKind, "deadline kind" {
    DeadlineKind::Acceptance = 1,
    DeadlineKind::Mediation = 2,
});

codes!(Partner, "partner" {
    Partner::Ccpit = 1,
    Partner::LabourArbitration = 2,
    Partner::RoadTraffic = 3,
});

codes!(Status, "status" {
    Status::Received = 1,
    Status::AwaitingAcceptance = 2,
    Status::Declined = 3,
    Status::AcceptanceOverdue = 4,
    Status::InMediation = 5,
    Status::SuspendedForAppraisal = 6,
    Status::MediationOverdue = 7,
    Status::Agreed = 8,
    Status::ConfirmationRequested = 9,
    Status::Confirmed = 10,
    Status::ConfirmationRefused = 11,
    Status::MediationFailed = 12,
    Status::ShamMediationReported = 13,
    Status::ReturnedToCourt = 14,
    Status::Recalled = 15,
    Status::Concluded = 16,
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredDeadline {
    kind: u8,
    due_date: Day,
    due_at: Instant,
    warn_at: Option<Instant>,
    missing_years: Vec<i16>,
}

impl Mirror for StoredDeadline {
    type Domain = Deadline;
    fn of(d: &Deadline) -> Self {
        Self {
            kind: d.kind.code(),
            due_date: Day::of(&d.due_date),
            due_at: Instant::of(&d.due_at),
            warn_at: opt(d.warn_at.as_ref()),
            missing_years: d.missing_years.iter().copied().collect(),
        }
    }
    fn load(self) -> Result<Deadline, FormatError> {
        Ok(Deadline {
            kind: DeadlineKind::decode(self.kind)?,
            due_date: self.due_date.load()?,
            due_at: self.due_at.load()?,
            warn_at: load_opt(self.warn_at)?,
            missing_years: self.missing_years.into_iter().collect(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPause {
    from: Day,
    to: Day,
}

impl Mirror for StoredPause {
    type Domain = Pause;
    fn of(d: &Pause) -> Self {
        Self {
            from: Day::of(&d.from),
            to: Day::of(&d.to),
        }
    }
    fn load(self) -> Result<Pause, FormatError> {
        Ok(Pause {
            from: self.from.load()?,
            to: self.to.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredTerm {
    accepted_on: Day,
    limit_days: u32,
    pauses: Vec<StoredPause>,
    paused_since: Option<Day>,
    extended_to: Option<Day>,
    paused_before_extension: i64,
}

impl Mirror for StoredTerm {
    type Domain = MediationTerm;
    fn of(d: &MediationTerm) -> Self {
        Self {
            accepted_on: Day::of(&d.accepted_on),
            limit_days: d.limit_days,
            pauses: many(&d.pauses),
            paused_since: opt(d.paused_since.as_ref()),
            extended_to: opt(d.extended_to.as_ref()),
            paused_before_extension: d.paused_before_extension,
        }
    }
    fn load(self) -> Result<MediationTerm, FormatError> {
        Ok(MediationTerm {
            accepted_on: self.accepted_on.load()?,
            limit_days: self.limit_days,
            pauses: load_all(self.pauses)?,
            paused_since: load_opt(self.paused_since)?,
            extended_to: load_opt(self.extended_to)?,
            paused_before_extension: self.paused_before_extension,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAssignment {
    partner: u8,
    organisation: String,
    mediator: Option<String>,
}

impl Mirror for StoredAssignment {
    type Domain = Assignment;
    fn of(d: &Assignment) -> Self {
        Self {
            partner: d.partner.code(),
            organisation: text(&d.organisation),
            mediator: text_opt(d.mediator.as_ref()),
        }
    }
    fn load(self) -> Result<Assignment, FormatError> {
        Ok(Assignment {
            partner: Partner::decode(self.partner)?,
            organisation: parse("organisation", self.organisation)?,
            mediator: parse_opt("mediator", self.mediator)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredReturn {
    NoEligibleOrganisation(String),
    Declined,
    AcceptanceOverdue,
    MediationEnded,
    EndedEarly { ground: u8, explanation: String },
    ShamMediation(String),
}

impl Mirror for StoredReturn {
    type Domain = ReturnReason;
    fn of(d: &ReturnReason) -> Self {
        match d {
            ReturnReason::NoEligibleOrganisation { explanation } => {
                Self::NoEligibleOrganisation(explanation.clone())
            }
            ReturnReason::Declined => Self::Declined,
            ReturnReason::AcceptanceOverdue => Self::AcceptanceOverdue,
            ReturnReason::MediationEnded => Self::MediationEnded,
            ReturnReason::EndedEarly {
                ground,
                explanation,
            } => Self::EndedEarly {
                ground: ground.code(),
                explanation: text(explanation),
            },
            ReturnReason::ShamMediation { note } => Self::ShamMediation(text(note)),
        }
    }
    fn load(self) -> Result<ReturnReason, FormatError> {
        Ok(match self {
            Self::NoEligibleOrganisation(explanation) => {
                ReturnReason::NoEligibleOrganisation { explanation }
            }
            Self::Declined => ReturnReason::Declined,
            Self::AcceptanceOverdue => ReturnReason::AcceptanceOverdue,
            Self::MediationEnded => ReturnReason::MediationEnded,
            Self::EndedEarly {
                ground,
                explanation,
            } => ReturnReason::EndedEarly {
                ground: mediation_core::outcome::EarlyEnd::decode(ground)?,
                explanation: parse("explanation", explanation)?,
            },
            Self::ShamMediation(note) => ReturnReason::ShamMediation {
                note: parse("note", note)?,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAppraisal {
    since: Day,
    note: String,
    review_at: Option<Instant>,
    reviewed: bool,
}

impl Mirror for StoredAppraisal {
    type Domain = AppraisalPause;
    fn of(d: &AppraisalPause) -> Self {
        Self {
            since: Day::of(&d.since),
            note: text(&d.note),
            review_at: opt(d.review_at.as_ref()),
            reviewed: d.reviewed,
        }
    }
    fn load(self) -> Result<AppraisalPause, FormatError> {
        Ok(AppraisalPause {
            since: self.since.load()?,
            note: parse("note", self.note)?,
            review_at: load_opt(self.review_at)?,
            reviewed: self.reviewed,
        })
    }
}

/// What changed, as stored. `Received` names the referral only: its bundle
/// is the referral's bundle record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredChange {
    Received {
        id: String,
    },
    Routed {
        assignment: StoredAssignment,
        reasons: Vec<String>,
        acceptance_deadline: Option<StoredDeadline>,
    },
    OfferDelivered {
        partner: u8,
        organisation: String,
        acceptance_deadline: StoredDeadline,
    },
    TakenDirectly {
        assignment: StoredAssignment,
    },
    Accepted {
        mediator: Option<String>,
        mediation_case_number: Option<String>,
        term: StoredTerm,
        mediation_deadline: StoredDeadline,
        arbitration_open_at: Option<Instant>,
    },
    ArbitrationAvailable {
        since: Instant,
    },
    Declined {
        organisation: String,
        reasons: Vec<StoredDecline>,
    },
    AcceptanceOverdue {
        organisation: String,
        due_at: Instant,
        partner: Option<u8>,
    },
    Withdrawn {
        partner: u8,
        organisation: String,
        reason: String,
    },
    ReturnedToCourt {
        reason: StoredReturn,
    },
    AppraisalStarted {
        on: Day,
        note: String,
        review_at: Option<Instant>,
    },
    AppraisalOverlong {
        since: Day,
        days: u32,
    },
    AppraisalEnded {
        on: Day,
        mediation_deadline: StoredDeadline,
    },
    Extended {
        last_day: Day,
        consenting: Vec<String>,
        mediation_deadline: StoredDeadline,
    },
    MediationOverdue {
        due_at: Instant,
        ends_at: Option<Instant>,
    },
    DeadlineWarning {
        kind: u8,
        due_at: Instant,
    },
    DeadlineRecomputed {
        deadline: StoredDeadline,
    },
    AgreementReached {
        agreement: StoredAgreement,
    },
    MediationFailed {
        report: StoredFailure,
    },
    ShamMediationReported {
        report: StoredShamReport,
    },
    CourtOutcomeRecorded {
        outcome: StoredCourtOutcome,
    },
    ShamMediationResolved {
        resume: bool,
        note: String,
        mediation_deadline: Option<StoredDeadline>,
    },
    ConfirmationApplied {
        application: StoredApplication,
    },
    RulingRecorded {
        ruling: StoredRuling,
    },
    PerformanceRecorded {
        report: StoredPerformance,
    },
    Recalled {
        reason: String,
    },
    // Schema 3.
    CourtDecisionAwaited {
        since: Instant,
        remind_at: Option<Instant>,
    },
    CourtDecisionOverdue {
        since: Instant,
        remind_at: Instant,
    },
    // Schema 5.
    PersonalDataPurged {
        policy: String,
    },
}

fn parties(refs: Vec<String>) -> Result<Vec<mediation_core::ids::PartyRef>, FormatError> {
    refs.into_iter()
        .map(|r| parse("party reference", r))
        .collect()
}

impl StoredChange {
    fn of(d: &Change) -> Self {
        match d {
            Change::Received { id, .. } => Self::Received { id: text(id) },
            Change::Routed {
                assignment,
                reasons,
                acceptance_deadline,
            } => Self::Routed {
                assignment: StoredAssignment::of(assignment),
                reasons: reasons.clone(),
                acceptance_deadline: opt(acceptance_deadline.as_ref()),
            },
            Change::OfferDelivered {
                partner,
                organisation,
                acceptance_deadline,
            } => Self::OfferDelivered {
                partner: partner.code(),
                organisation: text(organisation),
                acceptance_deadline: StoredDeadline::of(acceptance_deadline),
            },
            Change::TakenDirectly { assignment } => Self::TakenDirectly {
                assignment: StoredAssignment::of(assignment),
            },
            Change::Accepted {
                mediator,
                mediation_case_number,
                term,
                mediation_deadline,
                arbitration_open_at,
            } => Self::Accepted {
                mediator: text_opt(mediator.as_ref()),
                mediation_case_number: text_opt(mediation_case_number.as_ref()),
                term: StoredTerm::of(term),
                mediation_deadline: StoredDeadline::of(mediation_deadline),
                arbitration_open_at: opt(arbitration_open_at.as_ref()),
            },
            Change::ArbitrationAvailable { since } => Self::ArbitrationAvailable {
                since: Instant::of(since),
            },
            Change::Declined {
                organisation,
                reasons,
            } => Self::Declined {
                organisation: text(organisation),
                reasons: many(reasons),
            },
            Change::AcceptanceOverdue {
                organisation,
                due_at,
                partner,
            } => Self::AcceptanceOverdue {
                organisation: text(organisation),
                due_at: Instant::of(due_at),
                partner: partner.map(Coded::code),
            },
            Change::Withdrawn {
                partner,
                organisation,
                reason,
            } => Self::Withdrawn {
                partner: partner.code(),
                organisation: text(organisation),
                reason: text(reason),
            },
            Change::ReturnedToCourt { reason } => Self::ReturnedToCourt {
                reason: StoredReturn::of(reason),
            },
            Change::AppraisalStarted {
                on,
                note,
                review_at,
            } => Self::AppraisalStarted {
                on: Day::of(on),
                note: text(note),
                review_at: opt(review_at.as_ref()),
            },
            Change::AppraisalOverlong { since, days } => Self::AppraisalOverlong {
                since: Day::of(since),
                days: *days,
            },
            Change::AppraisalEnded {
                on,
                mediation_deadline,
            } => Self::AppraisalEnded {
                on: Day::of(on),
                mediation_deadline: StoredDeadline::of(mediation_deadline),
            },
            Change::Extended {
                last_day,
                consenting,
                mediation_deadline,
            } => Self::Extended {
                last_day: Day::of(last_day),
                consenting: consenting.iter().map(text).collect(),
                mediation_deadline: StoredDeadline::of(mediation_deadline),
            },
            Change::MediationOverdue { due_at, ends_at } => Self::MediationOverdue {
                due_at: Instant::of(due_at),
                ends_at: opt(ends_at.as_ref()),
            },
            Change::DeadlineWarning { kind, due_at } => Self::DeadlineWarning {
                kind: kind.code(),
                due_at: Instant::of(due_at),
            },
            Change::DeadlineRecomputed { deadline } => Self::DeadlineRecomputed {
                deadline: StoredDeadline::of(deadline),
            },
            Change::AgreementReached { agreement } => Self::AgreementReached {
                agreement: StoredAgreement::of(agreement),
            },
            Change::MediationFailed { report } => Self::MediationFailed {
                report: StoredFailure::of(report),
            },
            Change::ShamMediationReported { report } => Self::ShamMediationReported {
                report: StoredShamReport::of(report),
            },
            Change::CourtOutcomeRecorded { outcome } => Self::CourtOutcomeRecorded {
                outcome: StoredCourtOutcome::of(outcome),
            },
            Change::ShamMediationResolved {
                resume,
                note,
                mediation_deadline,
            } => Self::ShamMediationResolved {
                resume: *resume,
                note: text(note),
                mediation_deadline: opt(mediation_deadline.as_ref()),
            },
            Change::ConfirmationApplied { application } => Self::ConfirmationApplied {
                application: StoredApplication::of(application),
            },
            Change::RulingRecorded { ruling } => Self::RulingRecorded {
                ruling: StoredRuling::of(ruling),
            },
            Change::PerformanceRecorded { report } => Self::PerformanceRecorded {
                report: StoredPerformance::of(report),
            },
            Change::Recalled { reason } => Self::Recalled {
                reason: text(reason),
            },
            Change::CourtDecisionAwaited { since, remind_at } => Self::CourtDecisionAwaited {
                since: Instant::of(since),
                remind_at: opt(remind_at.as_ref()),
            },
            Change::CourtDecisionOverdue { since, remind_at } => Self::CourtDecisionOverdue {
                since: Instant::of(since),
                remind_at: Instant::of(remind_at),
            },
            Change::PersonalDataPurged { policy } => Self::PersonalDataPurged {
                policy: policy.clone(),
            },
        }
    }

    fn load(self, bundle: Option<&CaseBundle>) -> Result<Change, FormatError> {
        Ok(match self {
            Self::Received { id } => Change::Received {
                id: parse("referral id", id)?,
                bundle: Box::new(bundle.ok_or(FormatError::BundleMissing)?.clone()),
            },
            Self::Routed {
                assignment,
                reasons,
                acceptance_deadline,
            } => Change::Routed {
                assignment: assignment.load()?,
                reasons,
                acceptance_deadline: load_opt(acceptance_deadline)?,
            },
            Self::OfferDelivered {
                partner,
                organisation,
                acceptance_deadline,
            } => Change::OfferDelivered {
                partner: Partner::decode(partner)?,
                organisation: parse("organisation", organisation)?,
                acceptance_deadline: acceptance_deadline.load()?,
            },
            Self::TakenDirectly { assignment } => Change::TakenDirectly {
                assignment: assignment.load()?,
            },
            Self::Accepted {
                mediator,
                mediation_case_number,
                term,
                mediation_deadline,
                arbitration_open_at,
            } => Change::Accepted {
                mediator: parse_opt("mediator", mediator)?,
                mediation_case_number: parse_opt("mediation case number", mediation_case_number)?,
                term: term.load()?,
                mediation_deadline: mediation_deadline.load()?,
                arbitration_open_at: load_opt(arbitration_open_at)?,
            },
            Self::ArbitrationAvailable { since } => Change::ArbitrationAvailable {
                since: since.load()?,
            },
            Self::Declined {
                organisation,
                reasons,
            } => Change::Declined {
                organisation: parse("organisation", organisation)?,
                reasons: load_all(reasons)?,
            },
            Self::AcceptanceOverdue {
                organisation,
                due_at,
                partner,
            } => Change::AcceptanceOverdue {
                organisation: parse("organisation", organisation)?,
                due_at: due_at.load()?,
                partner: partner.map(Partner::decode).transpose()?,
            },
            Self::Withdrawn {
                partner,
                organisation,
                reason,
            } => Change::Withdrawn {
                partner: Partner::decode(partner)?,
                organisation: parse("organisation", organisation)?,
                reason: parse("reason", reason)?,
            },
            Self::ReturnedToCourt { reason } => Change::ReturnedToCourt {
                reason: reason.load()?,
            },
            Self::AppraisalStarted {
                on,
                note,
                review_at,
            } => Change::AppraisalStarted {
                on: on.load()?,
                note: parse("note", note)?,
                review_at: load_opt(review_at)?,
            },
            Self::AppraisalOverlong { since, days } => Change::AppraisalOverlong {
                since: since.load()?,
                days,
            },
            Self::AppraisalEnded {
                on,
                mediation_deadline,
            } => Change::AppraisalEnded {
                on: on.load()?,
                mediation_deadline: mediation_deadline.load()?,
            },
            Self::Extended {
                last_day,
                consenting,
                mediation_deadline,
            } => Change::Extended {
                last_day: last_day.load()?,
                consenting: parties(consenting)?,
                mediation_deadline: mediation_deadline.load()?,
            },
            Self::MediationOverdue { due_at, ends_at } => Change::MediationOverdue {
                due_at: due_at.load()?,
                ends_at: load_opt(ends_at)?,
            },
            Self::DeadlineWarning { kind, due_at } => Change::DeadlineWarning {
                kind: DeadlineKind::decode(kind)?,
                due_at: due_at.load()?,
            },
            Self::DeadlineRecomputed { deadline } => Change::DeadlineRecomputed {
                deadline: deadline.load()?,
            },
            Self::AgreementReached { agreement } => Change::AgreementReached {
                agreement: Box::new(agreement.load()?),
            },
            Self::MediationFailed { report } => Change::MediationFailed {
                report: Box::new(report.load()?),
            },
            Self::ShamMediationReported { report } => Change::ShamMediationReported {
                report: report.load()?,
            },
            Self::CourtOutcomeRecorded { outcome } => Change::CourtOutcomeRecorded {
                outcome: outcome.load()?,
            },
            Self::ShamMediationResolved {
                resume,
                note,
                mediation_deadline,
            } => Change::ShamMediationResolved {
                resume,
                note: parse("note", note)?,
                mediation_deadline: load_opt(mediation_deadline)?,
            },
            Self::ConfirmationApplied { application } => Change::ConfirmationApplied {
                application: application.load()?,
            },
            Self::RulingRecorded { ruling } => Change::RulingRecorded {
                ruling: ruling.load()?,
            },
            Self::PerformanceRecorded { report } => Change::PerformanceRecorded {
                report: report.load()?,
            },
            Self::Recalled { reason } => Change::Recalled {
                reason: parse("reason", reason)?,
            },
            Self::CourtDecisionAwaited { since, remind_at } => Change::CourtDecisionAwaited {
                since: since.load()?,
                remind_at: load_opt(remind_at)?,
            },
            Self::CourtDecisionOverdue { since, remind_at } => Change::CourtDecisionOverdue {
                since: since.load()?,
                remind_at: remind_at.load()?,
            },
            Self::PersonalDataPurged { policy } => Change::PersonalDataPurged { policy },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredEvent {
    at: Instant,
    change: StoredChange,
}

impl StoredEvent {
    pub(crate) fn is_received(&self) -> bool {
        matches!(self.change, StoredChange::Received { .. })
    }

    pub(crate) fn of(event: &Event) -> Self {
        Self {
            at: Instant::of(&event.at),
            change: StoredChange::of(&event.change),
        }
    }

    pub(crate) fn load(self, bundle: Option<&CaseBundle>) -> Result<Event, FormatError> {
        Ok(Event {
            at: self.at.load()?,
            change: self.change.load(bundle)?,
        })
    }
}

/// A stored event, read: its instant at once, the rest once the bundle is at
/// hand (a `Received` event needs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRecord {
    at: Timestamp,
    stored: StoredEvent,
}

impl EventRecord {
    /// When the event happened.
    pub fn at(&self) -> Timestamp {
        self.at
    }

    /// Whether the event is the referral's receipt, which needs its bundle.
    pub fn needs_bundle(&self) -> bool {
        self.stored.is_received()
    }

    /// The event; `bundle` is the referral's, needed for its `Received` event.
    pub fn load(self, bundle: Option<&CaseBundle>) -> Result<Event, FormatError> {
        self.stored.load(bundle)
    }

    /// The event's record as [`encode_event`] writes one alone: how each of
    /// a commit's events goes to a backend that keeps a record per event.
    pub fn lone_record(&self) -> Vec<u8> {
        encode_plain(&self.stored)
    }
}

/// An event as stored. A `Received` event leaves its bundle out: the bundle
/// is kept once, by [`encode_bundle`].
pub fn encode_event(event: &Event) -> Vec<u8> {
    encode_plain(&StoredEvent::of(event))
}

/// Reads an event written by [`encode_event`].
pub fn decode_event(bytes: &[u8]) -> Result<EventRecord, FormatError> {
    let stored: StoredEvent = decode_plain(bytes)?;
    Ok(EventRecord {
        at: stored.at.load()?,
        stored,
    })
}

/// The record version of a commit's events kept under one key (schema 7
/// on): the events in order, each as [`encode_event`] writes one alone.
/// Distinct from [`crate::FORMAT_VERSION`], which leads a lone event.
pub const EVENTS_VERSION: u8 = 3;

/// A commit's events, under one key whatever their number.
pub fn encode_events(events: &[Event]) -> Vec<u8> {
    let stored: Vec<StoredEvent> = events.iter().map(StoredEvent::of).collect();
    encode_versioned(EVENTS_VERSION, &stored)
}

/// Reads the events under one key: a commit's (written by
/// [`encode_events`]), or one event alone, as every event was written
/// before schema 7 ([`encode_event`]).
pub fn decode_events(bytes: &[u8]) -> Result<Vec<EventRecord>, FormatError> {
    if bytes.first() != Some(&EVENTS_VERSION) {
        return Ok(vec![decode_event(bytes)?]);
    }
    decode_versioned::<Vec<StoredEvent>>(EVENTS_VERSION, bytes)?
        .into_iter()
        .map(|stored| {
            Ok(EventRecord {
                at: stored.at.load()?,
                stored,
            })
        })
        .collect()
}

/// A referral's bundle, kept once.
pub fn encode_bundle(bundle: &CaseBundle) -> Vec<u8> {
    encode_versioned(
        BUNDLE_VERSION,
        &StoredBundleV3 {
            bundle: StoredBundle::of(bundle),
            model_case: text_opt(bundle.model_case.as_ref()),
        },
    )
}

/// The record version of a bundle written now.
pub const BUNDLE_VERSION: u8 = 3;

/// The bundle of schema 3: schema 2's, then the model case it follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredBundleV3 {
    bundle: StoredBundle,
    model_case: Option<String>,
}

/// Reads a bundle written by [`encode_bundle`].
pub fn decode_bundle(bytes: &[u8]) -> Result<CaseBundle, FormatError> {
    match bytes.first() {
        // Schema 2's bundles name no model case.
        Some(&crate::FORMAT_VERSION) => decode_plain::<StoredBundle>(bytes)?.load(),
        _ => {
            let v3 = decode_versioned::<StoredBundleV3>(BUNDLE_VERSION, bytes)?;
            Ok(CaseBundle {
                model_case: parse_opt("model case", v3.model_case)?,
                ..v3.bundle.load()?
            })
        }
    }
}

/// The snapshot of a referral's state, apart from its bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredState {
    id: String,
    received_at: Instant,
    status: u8,
    assignment: Option<StoredAssignment>,
    excluded: Vec<String>,
    acceptance_deadline: Option<StoredDeadline>,
    routed_at: Option<Instant>,
    offered_at: Option<Instant>,
    accepted_at: Option<Instant>,
    term: Option<StoredTerm>,
    mediation_deadline: Option<StoredDeadline>,
    warned: Vec<(u8, Instant)>,
    agreement: Option<StoredAgreement>,
    application: Option<StoredApplication>,
    ruling: Option<StoredRuling>,
    performance: Vec<StoredPerformance>,
    mediation_ends_at: Option<Instant>,
    appraisal: Option<StoredAppraisal>,
    docketed: Option<String>,
    arbitration_open_at: Option<Instant>,
    arbitration_noted: bool,
    version: u64,
}

impl Mirror for StoredState {
    type Domain = ReferralState;
    fn of(d: &ReferralState) -> Self {
        Self {
            id: text(&d.id),
            received_at: Instant::of(&d.received_at),
            status: d.status.code(),
            assignment: opt(d.assignment.as_ref()),
            excluded: d.excluded.iter().map(text).collect(),
            acceptance_deadline: opt(d.acceptance_deadline.as_ref()),
            routed_at: opt(d.routed_at.as_ref()),
            offered_at: opt(d.offered_at.as_ref()),
            accepted_at: opt(d.accepted_at.as_ref()),
            term: opt(d.term.as_ref()),
            mediation_deadline: opt(d.mediation_deadline.as_ref()),
            warned: d
                .warned
                .iter()
                .map(|(kind, due)| (kind.code(), Instant::of(due)))
                .collect(),
            agreement: opt(d.agreement.as_ref()),
            application: opt(d.application.as_ref()),
            ruling: opt(d.ruling.as_ref()),
            performance: many(&d.performance),
            mediation_ends_at: opt(d.mediation_ends_at.as_ref()),
            appraisal: opt(d.appraisal.as_ref()),
            docketed: text_opt(d.docketed.as_ref()),
            arbitration_open_at: opt(d.arbitration_open_at.as_ref()),
            arbitration_noted: d.arbitration_noted,
            version: d.version,
        }
    }
    fn load(self) -> Result<ReferralState, FormatError> {
        Ok(ReferralState {
            id: parse("referral id", self.id)?,
            received_at: self.received_at.load()?,
            status: Status::decode(self.status)?,
            assignment: load_opt(self.assignment)?,
            excluded: self
                .excluded
                .into_iter()
                .map(|o| parse("organisation", o))
                .collect::<Result<_, _>>()?,
            acceptance_deadline: load_opt(self.acceptance_deadline)?,
            routed_at: load_opt(self.routed_at)?,
            offered_at: load_opt(self.offered_at)?,
            accepted_at: load_opt(self.accepted_at)?,
            term: load_opt(self.term)?,
            mediation_deadline: load_opt(self.mediation_deadline)?,
            warned: self
                .warned
                .into_iter()
                .map(|(kind, due)| Ok((DeadlineKind::decode(kind)?, due.load()?)))
                .collect::<Result<_, FormatError>>()?,
            agreement: load_opt(self.agreement)?,
            application: load_opt(self.application)?,
            ruling: load_opt(self.ruling)?,
            performance: load_all(self.performance)?,
            mediation_ends_at: load_opt(self.mediation_ends_at)?,
            appraisal: load_opt(self.appraisal)?,
            docketed: parse_opt("case number", self.docketed)?,
            arbitration_open_at: load_opt(self.arbitration_open_at)?,
            arbitration_noted: self.arbitration_noted,
            court_wait: None,
            version: self.version,
        })
    }
}

/// A referral back with the court awaiting its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredCourtWait {
    since: Instant,
    remind_at: Option<Instant>,
    reminded: bool,
}

impl Mirror for StoredCourtWait {
    type Domain = CourtWait;
    fn of(d: &CourtWait) -> Self {
        Self {
            since: Instant::of(&d.since),
            remind_at: opt(d.remind_at.as_ref()),
            reminded: d.reminded,
        }
    }
    fn load(self) -> Result<CourtWait, FormatError> {
        Ok(CourtWait {
            since: self.since.load()?,
            remind_at: load_opt(self.remind_at)?,
            reminded: self.reminded,
        })
    }
}

/// The snapshot of schema 3: schema 2's, then the court's wait. postcard
/// writes a struct's fields one after the other, so its bytes are schema
/// 2's snapshot with the new field after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredStateV3 {
    state: StoredState,
    court_wait: Option<StoredCourtWait>,
}

/// The record version of a snapshot written now.
pub const SNAPSHOT_VERSION: u8 = 3;

/// A referral's snapshot: its state after its last event, without the bundle.
pub fn encode_snapshot(state: &ReferralState) -> Vec<u8> {
    encode_versioned(
        SNAPSHOT_VERSION,
        &StoredStateV3 {
            state: StoredState::of(state),
            court_wait: opt(state.court_wait.as_ref()),
        },
    )
}

/// Reads a snapshot written by [`encode_snapshot`], or by a build of schema
/// 2, whose snapshots hold no court's wait (a referral back with the court
/// then is taken as not yet waiting: the wait starts at its next return).
pub fn decode_snapshot(bytes: &[u8]) -> Result<ReferralState, FormatError> {
    match bytes.first() {
        Some(&crate::FORMAT_VERSION) => decode_plain::<StoredState>(bytes)?.load(),
        _ => {
            let v3 = decode_versioned::<StoredStateV3>(SNAPSHOT_VERSION, bytes)?;
            Ok(ReferralState {
                court_wait: load_opt(v3.court_wait)?,
                ..v3.state.load()?
            })
        }
    }
}
