//! How long the gateway keeps a referral's personal data, and what is left
//! of the referral once it is purged.
//!
//! PIPL Art. 47 (个人信息保护法 第四十七条): a handler deletes personal
//! information once the purpose of handling it is served, or the retention
//! period has ended. The gateway's purpose is to deliver a referral, to prove
//! what it delivered and when, and to count what the organisations did. The
//! court's case file is the court's, kept under its own archiving rules; the
//! gateway keeps only its working copy. So once a referral has ended, and
//! the period its policy gives for its outcome has passed since its last
//! event, the gateway removes the parties' names, identity numbers, contacts
//! and addresses, the claims' and reports' free text, and the case files;
//! it keeps the ids, the dates, the outcome, the codes the statistics count
//! by, and the audit trail, and records that the referral was purged, when
//! and by which policy.
//!
//! Everything here is pure: [`Verdict`] says whether a referral is due,
//! [`redact`] makes the history that replaces the referral's own.

use std::collections::{BTreeMap, BTreeSet};

use jiff::{SignedDuration, Timestamp};

use crate::bundle::{CaseBundle, Claim, Party};
use crate::document::{Document, Sha256Digest};
use crate::identity::Identity;
use crate::lifecycle::{Change, Event, Referral, ReturnReason, Status};
use crate::outcome::{
    Agreement, AgreementParty, CourtOutcome, FailureReport, PerformanceReport, Ruling,
};
use crate::particulars::{AccidentParticulars, LabourParticulars, Particulars, Vehicle};
use crate::text::{Line, Narrative};

/// The longest period a policy may give, in days: ten years. A longer one is
/// taken for a mistake (days typed for hours, a year typed in days twice).
pub const MAX_DAYS: u32 = 3_653;

/// How long a referral's personal data is kept after its last event, by the
/// status it ended in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// For a status the policy does not name.
    pub default_days: u32,
    /// Per status a referral rests in ([`rests`]).
    pub by_outcome: BTreeMap<Status, u32>,
}

impl Default for RetentionPolicy {
    /// What the shipped configuration says; see `docs/retention.md`.
    fn default() -> Self {
        Self {
            default_days: 180,
            by_outcome: BTreeMap::new(),
        }
    }
}

/// A policy that cannot be applied, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("{field}: a period is 1 to {MAX_DAYS} days, not {days}")]
    Period { field: String, days: u32 },
    #[error("{status}: not a status a referral rests in (one of: {resting})")]
    NotResting { status: String, resting: String },
    #[error(
        "agreed: {days} days would purge an agreement the parties may still take to the court for \
         confirmation; give at least {AGREED_MIN_DAYS} (CPL Art. 205)"
    )]
    AgreedTooShort { days: u32 },
}

/// The shortest period an agreed referral is kept. The parties have 30 days
/// from the agreement taking effect to apply for its confirmation (CPL
/// Art. 205), counted from the next day with a last day on a rest day moved
/// to the next working day (Art. 85–86), and the court needs the agreement
/// when they do: 45 days covers the window and its longest roll-forward.
pub const AGREED_MIN_DAYS: u32 = 45;

/// Whether nothing more is expected of the gateway for a referral in
/// `status`: it ended ([`Status::is_final`]), or it rests where the parties
/// may act outside the gateway and often never come back (an agreement the
/// parties perform without asking for its confirmation; a refused
/// confirmation, after which they may sue).
pub fn rests(status: Status) -> bool {
    status.is_final() || matches!(status, Status::Agreed | Status::ConfirmationRefused)
}

impl RetentionPolicy {
    /// Checks every period and that each status named is one a referral
    /// ends in; all problems at once.
    pub fn check(&self) -> Result<(), Vec<PolicyError>> {
        let mut problems = Vec::new();
        let mut period = |field: String, days: u32| {
            if days == 0 || days > MAX_DAYS {
                problems.push(PolicyError::Period { field, days });
            }
        };
        period("days".into(), self.default_days);
        for (status, days) in &self.by_outcome {
            period(status.as_str().to_owned(), *days);
        }
        for status in self.by_outcome.keys().filter(|s| !rests(**s)) {
            problems.push(PolicyError::NotResting {
                status: status.as_str().to_owned(),
                resting: resting_statuses(),
            });
        }
        let (agreed, _) = self.period(Status::Agreed);
        if (1..AGREED_MIN_DAYS).contains(&agreed) {
            problems.push(PolicyError::AgreedTooShort { days: agreed });
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    /// The period for a referral that rests in `status`, and the policy's
    /// name for it as a purge records it (`particulars.confirmed`,
    /// `particulars.default`).
    pub fn period(&self, status: Status) -> (u32, String) {
        match self.by_outcome.get(&status) {
            Some(days) => (*days, format!("particulars.{}", status.as_str())),
            None => (self.default_days, "particulars.default".to_owned()),
        }
    }
}

/// The statuses a referral rests in, for messages.
pub fn resting_statuses() -> String {
    Status::ALL
        .iter()
        .filter(|s| rests(**s))
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether a referral's personal data is due to be purged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It has not ended, nor rests ([`rests`]).
    Open,
    /// It rests but still has work: a timer (the court's decision awaited)
    /// or a message not yet delivered.
    Busy,
    /// It rests; its policy keeps it until then.
    KeptUntil(Timestamp),
    /// Its period has passed: purge it under the named policy.
    Due { policy: String },
}

/// The verdict on `referral`, whose last event was at `last_event_at`, at
/// `now`. `pending` says whether it has a message waiting for delivery.
pub fn verdict(
    referral: &Referral,
    last_event_at: Timestamp,
    pending: bool,
    policy: &RetentionPolicy,
    now: Timestamp,
) -> Verdict {
    if !rests(referral.status()) {
        return Verdict::Open;
    }
    if pending || !referral.timers().is_empty() {
        return Verdict::Busy;
    }
    let (days, name) = policy.period(referral.status());
    let until = last_event_at
        .checked_add(SignedDuration::from_hours(24 * i64::from(days)))
        .unwrap_or(Timestamp::MAX);
    if now >= until {
        Verdict::Due { policy: name }
    } else {
        Verdict::KeptUntil(until)
    }
}

/// Whether `bundle` is what a purge left. Every party of a bundle has an
/// identity, and no input can make a withheld one ([`Identity::parse`]
/// refuses an empty number), so a bundle whose parties' identities are all
/// withheld was purged.
pub fn is_purged(bundle: &CaseBundle) -> bool {
    !bundle.parties.is_empty() && bundle.parties.iter().all(|p| p.identity.is_withheld())
}

/// The event that purges `referral` at `now`, if the verdict says it is due.
pub fn purge_event(
    referral: &Referral,
    last_event_at: Timestamp,
    pending: bool,
    policy: &RetentionPolicy,
    now: Timestamp,
) -> Option<Event> {
    match verdict(referral, last_event_at, pending, policy, now) {
        Verdict::Due { policy } => Some(Event {
            at: now,
            change: Change::PersonalDataPurged { policy },
        }),
        Verdict::Open | Verdict::Busy | Verdict::KeptUntil(_) => None,
    }
}

/// The case files the gateway keeps for these events (uploaded, not held at
/// a url), each once.
pub fn stored_files(events: &[Event]) -> BTreeSet<Sha256Digest> {
    let mut files = BTreeSet::new();
    let mut add = |docs: &[Document]| {
        for d in docs.iter().filter(|d| d.location.url().is_none()) {
            files.insert(d.sha256.clone());
        }
    };
    for event in events {
        match &event.change {
            Change::Received { bundle, .. } => add(&bundle.documents),
            Change::AgreementReached { agreement } => add(&agreement.documents),
            _ => {}
        }
    }
    files
}

/// The history that replaces a purged referral's: the same events, at the
/// same instants, in the same order, with the same ids, codes, dates,
/// amounts and outcomes, and no personal data. Texts become
/// [`crate::text::PURGED_TEXT`], identity numbers are withheld, and no
/// document is listed (take [`stored_files`] from the history first).
/// Replaying it gives the same statuses, deadlines and
/// statistics as the original.
pub fn redact(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .map(|e| Event {
            at: e.at,
            change: redact_change(&e.change),
        })
        .collect()
}

fn redact_change(change: &Change) -> Change {
    let mut change = change.clone();
    match &mut change {
        Change::Received { bundle, .. } => redact_bundle(bundle),
        Change::Declined { reasons, .. } => {
            for r in reasons {
                r.explanation = Narrative::purged();
            }
        }
        Change::Withdrawn { reason, .. } | Change::Recalled { reason } => {
            *reason = Narrative::purged();
        }
        Change::ReturnedToCourt { reason } => match reason {
            ReturnReason::EndedEarly { explanation, .. } => *explanation = Narrative::purged(),
            ReturnReason::ShamMediation { note } => *note = Narrative::purged(),
            ReturnReason::NoEligibleOrganisation { .. }
            | ReturnReason::Declined
            | ReturnReason::AcceptanceOverdue
            | ReturnReason::MediationEnded => {}
        },
        Change::AppraisalStarted { note, .. } | Change::ShamMediationResolved { note, .. } => {
            *note = Narrative::purged();
        }
        Change::AgreementReached { agreement } => redact_agreement(agreement),
        Change::MediationFailed { report } => redact_report(report),
        Change::ShamMediationReported { report } => report.grounds = Narrative::purged(),
        Change::CourtOutcomeRecorded { outcome } => {
            if let CourtOutcome::NotDocketed { reason } = outcome {
                *reason = Narrative::purged();
            }
        }
        Change::RulingRecorded { ruling } => redact_ruling(ruling),
        Change::PerformanceRecorded { report } => redact_performance(report),
        // Ids, codes, instants and deadlines only.
        Change::Routed { .. }
        | Change::OfferDelivered { .. }
        | Change::TakenDirectly { .. }
        | Change::Accepted { .. }
        | Change::ArbitrationAvailable { .. }
        | Change::AcceptanceOverdue { .. }
        | Change::AppraisalOverlong { .. }
        | Change::AppraisalEnded { .. }
        | Change::Extended { .. }
        | Change::MediationOverdue { .. }
        | Change::DeadlineWarning { .. }
        | Change::DeadlineRecomputed { .. }
        | Change::ConfirmationApplied { .. }
        | Change::CourtDecisionAwaited { .. }
        | Change::CourtDecisionOverdue { .. }
        | Change::PersonalDataPurged { .. } => {}
    }
    change
}

pub(crate) fn redact_ruling(ruling: &mut Ruling) {
    if ruling.reasons.is_some() {
        ruling.reasons = Some(Narrative::purged());
    }
}

pub(crate) fn redact_performance(report: &mut PerformanceReport) {
    if report.note.is_some() {
        report.note = Some(Narrative::purged());
    }
}

fn purged_if_some(line: &mut Option<Line>) {
    if line.is_some() {
        *line = Some(Line::purged());
    }
}

/// A purged referral lists no document: the files it uploaded are removed
/// from disk (the store's list of them, [`crate::store::Purge::files`], is
/// taken before), and an address at
/// which the sender holds one is the sender's.
fn redact_documents(documents: &mut Vec<Document>) {
    documents.clear();
}

// Each struct below is taken apart field by field, every field named: a
// field added to a party, a bundle or the particulars does not compile
// until it is decided here whether a purge keeps it.

fn redact_party(party: &mut Party) {
    let Party {
        reference: _,
        role: _,
        person: _,
        name,
        identity,
        contact,
        service_address,
        resides_abroad: _,
        region,
    } = party;
    *name = Line::purged();
    *identity = Identity::withheld(identity.kind());
    *contact = Line::purged();
    *service_address = Line::purged();
    *region = None;
}

pub(crate) fn redact_bundle(bundle: &mut CaseBundle) {
    let CaseBundle {
        court_referral_id: _,
        court: _,
        case_number: _,
        kind: _,
        cause_of_action: _,
        domain: _,
        parties,
        claims,
        amount_in_dispute: _,
        documents,
        consents: _,
        preferred_organisation: _,
        summary,
        particulars,
        reassignment_allowed: _,
        designated_organisation: _,
        cross_border: _,
        subject_matter_abroad: _,
        language: _,
        interpreter_needed: _,
        model_case: _,
    } = bundle;
    parties.iter_mut().for_each(redact_party);
    for Claim {
        description,
        amount: _,
    } in claims
    {
        *description = Narrative::purged();
    }
    redact_documents(documents);
    if summary.is_some() {
        *summary = Some(Narrative::purged());
    }
    match particulars {
        Some(Particulars::Labour(LabourParticulars {
            employer: _,
            employee: _,
            written_contract: _,
            employment_start: _,
            employment_end: _,
            position,
            monthly_wage: _,
            arbitration_committee: _,
            claim_items: _,
        })) => purged_if_some(position),
        Some(Particulars::RoadTraffic(AccidentParticulars {
            certificate_number,
            occurred_at: _,
            place,
            liability: _,
            vehicles,
            injuries,
            compensation: _,
        })) => {
            *certificate_number = Line::purged();
            *place = Line::purged();
            // Who was hurt, how badly and who died: health data (PIPL
            // Art. 28), which no figure counts.
            injuries.clear();
            for Vehicle {
                plate,
                driver: _,
                insurer: _,
                insurer_name: _,
                compulsory_policy,
                commercial_policy,
            } in vehicles
            {
                *plate = Line::purged();
                purged_if_some(compulsory_policy);
                purged_if_some(commercial_policy);
            }
        }
        None => {}
    }
}

pub(crate) fn redact_agreement(agreement: &mut Agreement) {
    let Agreement {
        parties,
        disputed_matters,
        terms,
        performance_method,
        performance_deadline: _,
        signatures: _,
        documents,
        compensation: _,
    } = agreement;
    for AgreementParty {
        party: _,
        name,
        identity,
    } in parties
    {
        *name = Line::purged();
        *identity = Identity::withheld(identity.kind());
    }
    if disputed_matters.is_some() {
        *disputed_matters = Some(Narrative::purged());
    }
    terms.iter_mut().for_each(|t| *t = Narrative::purged());
    if performance_method.is_some() {
        *performance_method = Some(Narrative::purged());
    }
    redact_documents(documents);
}

fn redact_report(report: &mut FailureReport) {
    let FailureReport {
        course,
        reasons,
        cost_raising_conduct,
        notes_for_court,
        undisputed_facts,
        confirmed_service_addresses,
    } = report;
    *course = Narrative::purged();
    *reasons = Narrative::purged();
    if cost_raising_conduct.is_some() {
        *cost_raising_conduct = Some(Narrative::purged());
    }
    if notes_for_court.is_some() {
        *notes_for_court = Some(Narrative::purged());
    }
    undisputed_facts
        .iter_mut()
        .for_each(|f| *f = Narrative::purged());
    for confirmed in confirmed_service_addresses {
        confirmed.address = Line::purged();
    }
}

#[cfg(test)]
mod tests;
