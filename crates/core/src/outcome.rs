//! What a mediation ends in, and what follows it: the agreement, the failure
//! report, a suspicion of sham mediation, the application for judicial
//! confirmation and the court's ruling on it, and whether the agreement was
//! performed.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::bundle::CaseBundle;
use crate::court::CaseNumber;
use crate::document::Document;
use crate::error::Violations;
use crate::identity::Identity;
use crate::ids::{MediatorId, OrganisationId, PartyRef};
use crate::text::{Line, Narrative};

/// A party as an agreement states it: its identity information.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgreementParty {
    pub party: PartyRef,
    pub name: Line,
    pub identity: Identity,
}

/// Who signed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Signer {
    Organisation(OrganisationId),
    Mediator(MediatorId),
    Party(PartyRef),
}

/// One signature, electronic or on the uploaded paper agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub signer: Signer,
    pub signed_at: Timestamp,
}

/// A mediation agreement (调解协议). Every element the rules require is an
/// `Option` or a list here so that [`Agreement::check`] can name exactly what a
/// partner left out, instead of failing on the first gap.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// The parties' identity information.
    pub parties: Vec<AgreementParty>,
    /// The matters in dispute.
    pub disputed_matters: Option<Narrative>,
    /// The main terms agreed.
    pub terms: Vec<Narrative>,
    /// How the terms are performed.
    pub performance_method: Option<Narrative>,
    /// By when they are performed.
    pub performance_deadline: Option<Date>,
    pub signatures: Vec<Signature>,
    /// The signed agreement itself, when uploaded.
    pub documents: Vec<Document>,
    /// Compensation item by item, payer by payer, where the platform states
    /// it so (road traffic): what tells each insurer what its policy answers
    /// for. The terms say the same in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub compensation: Vec<CompensationPayment>,
}

/// One compensation payment an agreement provides for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationPayment {
    pub payer: PartyRef,
    pub payee: PartyRef,
    pub kind: crate::particulars::CompensationKind,
    pub amount: crate::money::Amount,
}

impl Agreement {
    /// Checks the agreement is complete for `bundle`, mediated by `organisation`
    /// and `mediator`: every element present, every party named with the identity
    /// the court gave, and signed by the organisation, the mediator and every
    /// party, each signature at a time the gateway has reached by `now` (an
    /// agreement takes effect when it is signed, so a signature dated later
    /// than now is not one yet; [`crate::clock::CLOCK_SKEW`] allows for
    /// clocks that differ). Each missing item is a separate violation.
    pub fn check(
        &self,
        bundle: &CaseBundle,
        organisation: &OrganisationId,
        mediator: Option<&MediatorId>,
        now: Timestamp,
    ) -> Result<(), Violations> {
        let mut v = Violations::new();
        let latest = crate::clock::latest_past(now);
        for (i, signature) in self.signatures.iter().enumerate() {
            if signature.signed_at > latest {
                v.push(
                    format!("signatures[{i}].signed_at"),
                    format!(
                        "{} is later than now ({now}): a signature cannot be dated in the future",
                        signature.signed_at
                    ),
                );
            }
        }
        let named: BTreeSet<&PartyRef> = self.parties.iter().map(|p| &p.party).collect();
        for (i, stated) in self.parties.iter().enumerate() {
            match bundle.party(&stated.party) {
                None => v.push(
                    format!("parties[{i}].party"),
                    format!("{} is not a party of this referral", stated.party),
                ),
                Some(party) if party.identity != stated.identity => v.push(
                    format!("parties[{i}].identity"),
                    format!(
                        "does not match the identity the court gave for {}",
                        stated.party
                    ),
                ),
                Some(_) => {}
            }
        }
        for party in bundle.party_refs() {
            if !named.contains(party) {
                v.push(
                    "parties",
                    format!("missing the identity information of party {party}"),
                );
            }
        }
        if self.disputed_matters.is_none() {
            v.push("disputed_matters", "missing the matters in dispute");
        }
        if self.terms.is_empty() {
            v.push("terms", "missing the terms agreed");
        }
        if self.performance_method.is_none() {
            v.push("performance_method", "missing how the terms are performed");
        }
        if self.performance_deadline.is_none() {
            v.push(
                "performance_deadline",
                "missing by when the terms are performed",
            );
        }
        let signed: BTreeSet<&Signer> = self.signatures.iter().map(|s| &s.signer).collect();
        let mut required = vec![Signer::Organisation(organisation.clone())];
        match mediator {
            Some(m) => required.push(Signer::Mediator(m.clone())),
            None => {
                if !self
                    .signatures
                    .iter()
                    .any(|s| matches!(s.signer, Signer::Mediator(_)))
                {
                    v.push("signatures", "missing the signature of the mediator");
                }
            }
        }
        required.extend(bundle.party_refs().cloned().map(Signer::Party));
        for signer in required {
            if !signed.contains(&signer) {
                let who = match &signer {
                    Signer::Organisation(id) => format!("the organisation {id}"),
                    Signer::Mediator(id) => format!("the mediator {id}"),
                    Signer::Party(p) => format!("party {p}"),
                };
                v.push("signatures", format!("missing the signature of {who}"));
            }
        }
        v.into_result(())
    }

    /// When the agreement took effect, under `rule`: the last signature
    /// that rule waits for.
    pub fn effective_at(&self, rule: TakesEffect) -> Option<Timestamp> {
        self.signatures
            .iter()
            .filter(|s| match rule {
                TakesEffect::PartiesSigned => matches!(s.signer, Signer::Party(_)),
                TakesEffect::SignedAndSealed => true,
            })
            .map(|s| s.signed_at)
            .max()
    }
}

/// What makes an agreement take effect, which starts the 30 days to apply
/// for judicial confirmation (CPL Art. 205).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakesEffect {
    /// Once every party has signed it (People's Mediation Law Art. 29, and
    /// the commercial and road-traffic platforms' agreements).
    PartiesSigned,
    /// Once the parties and the mediator have signed it and the committee
    /// has sealed it (Labour Dispute Mediation and Arbitration Law Art. 14):
    /// the last of every signature, the committee's seal included.
    SignedAndSealed,
}

impl TakesEffect {
    /// The rule for agreements made on `partner`'s platform.
    pub fn on(partner: crate::partner::Partner) -> Self {
        match partner {
            crate::partner::Partner::LabourArbitration => TakesEffect::SignedAndSealed,
            _ => TakesEffect::PartiesSigned,
        }
    }
}

/// The record of a mediation that ended without agreement (调解不成), which the
/// court uses when it takes the case back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    /// The basic course of the mediation.
    pub course: Narrative,
    /// Why it failed.
    pub reasons: Narrative,
    /// Conduct of a party that raised the others' litigation costs.
    pub cost_raising_conduct: Option<Narrative>,
    /// Anything else the court should know.
    pub notes_for_court: Option<Narrative>,
    /// Facts the parties did not dispute (无争议事实), usable in litigation.
    pub undisputed_facts: Vec<Narrative>,
    /// Service addresses the parties confirmed during mediation.
    pub confirmed_service_addresses: Vec<ConfirmedAddress>,
}

/// A service address a party confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmedAddress {
    pub party: PartyRef,
    pub address: Line,
}

impl FailureReport {
    /// Checks that confirmed addresses name parties of `bundle`.
    pub fn check(&self, bundle: &CaseBundle) -> Result<(), Violations> {
        let mut v = Violations::new();
        for (i, confirmed) in self.confirmed_service_addresses.iter().enumerate() {
            if bundle.party(&confirmed.party).is_none() {
                v.push(
                    format!("confirmed_service_addresses[{i}].party"),
                    format!("{} is not a party of this referral", confirmed.party),
                );
            }
        }
        v.into_result(())
    }
}

/// A mediator's report that the mediation looks like a sham (虚假调解): the
/// parties may be colluding to harm others. Mediation stops and the court is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShamMediationReport {
    pub grounds: Narrative,
}

/// The parties' joint application for judicial confirmation (司法确认) of their
/// agreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfirmationApplication {
    /// Every party must apply: the application is joint.
    pub applicants: Vec<PartyRef>,
    pub applied_at: Timestamp,
}

impl ConfirmationApplication {
    /// The parties have 30 days from the agreement taking effect to apply (Civil
    /// Procedure Law art. 205).
    pub const WINDOW_DAYS: i64 = 30;

    /// Checks the application is joint and in time: within 30 days of the
    /// agreement taking effect, counted as CPL Art. 85 counts periods (from
    /// the next day; a last day that is a rest day moves to the next working
    /// day).
    pub fn check(
        &self,
        bundle: &CaseBundle,
        agreement: &Agreement,
        takes_effect: TakesEffect,
        calendar: &mediation_calendar::Calendar,
    ) -> Result<(), Violations> {
        let mut v = Violations::new();
        let applying: BTreeSet<&PartyRef> = self.applicants.iter().collect();
        for (i, applicant) in self.applicants.iter().enumerate() {
            if bundle.party(applicant).is_none() {
                v.push(
                    format!("applicants[{i}]"),
                    format!("{applicant} is not a party of this referral"),
                );
            }
        }
        for party in bundle.party_refs() {
            if !applying.contains(party) {
                v.push(
                    "applicants",
                    format!("party {party} must join the application: it is made jointly"),
                );
            }
        }
        if let Some(effective) = agreement.effective_at(takes_effect) {
            let effective_day = mediation_calendar::cst::date_of(effective);
            let applied_day = mediation_calendar::cst::date_of(self.applied_at);
            let elapsed = mediation_calendar::period::days_between(effective_day, applied_day);
            let last_day = mediation_calendar::period::add_days(effective_day, Self::WINDOW_DAYS)
                .and_then(|day| {
                    mediation_calendar::period::roll_forward_to_working_day(calendar, day)
                })
                .map(|reckoning| reckoning.date);
            match last_day {
                Ok(last_day) if applied_day > last_day => v.push(
                    "applied_at",
                    format!(
                        "an application must be made within {} days of the agreement taking effect on {effective_day}, by {last_day}; {elapsed} days have passed",
                        Self::WINDOW_DAYS
                    ),
                ),
                Ok(_) => {}
                Err(e) => v.push("applied_at", format!("the window cannot be counted: {e}")),
            }
            if elapsed < 0 {
                v.push("applied_at", "is before the agreement took effect");
            }
        }
        v.into_result(())
    }
}

/// Why an organisation ends mediation before its limit: the grounds online
/// rules Art. 25 gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyEnd {
    /// A party withdrew, or refuses to go on.
    PartyWithdrew,
    /// A party cannot be reached.
    PartyUnreachable,
    /// A party refused to sign the agreement reached.
    RefusedToSign,
    /// The dispute is not suitable for mediation.
    Unsuitable,
}

impl EarlyEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            EarlyEnd::PartyWithdrew => "party_withdrew",
            EarlyEnd::PartyUnreachable => "party_unreachable",
            EarlyEnd::RefusedToSign => "refused_to_sign",
            EarlyEnd::Unsuitable => "unsuitable",
        }
    }
}

/// The court's decision on a confirmation application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RulingOutcome {
    /// 裁定确认有效: the agreement is confirmed and enforceable.
    Confirmed,
    /// 不予受理: the application is not accepted.
    NotAccepted,
    /// 驳回申请: the application is dismissed.
    Dismissed,
}

/// The court's ruling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruling {
    pub outcome: RulingOutcome,
    /// The confirmation case's own number, e.g. （2025）京0105民特12号.
    pub case_number: Option<CaseNumber>,
    pub reasons: Option<Narrative>,
    pub ruled_at: Timestamp,
}

/// What the court recorded of a referral's case once mediation was over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CourtOutcome {
    /// The court docketed the case (立案) after mediation failed or ended, or
    /// after the referral came back: the docketed case's number. The failure
    /// record's undisputed facts and confirmed addresses serve that case
    /// (seed 004 (十六)).
    Docketed { case_number: CaseNumber },
    /// A 委托 case the parties settled ended with the court's mediation
    /// paper (调解书).
    MediationPaper { case_number: CaseNumber },
    /// A 委托 case the parties settled ended with the plaintiff's withdrawal
    /// of the suit (撤诉).
    SuitWithdrawn { case_number: CaseNumber },
    /// A 委派 referral back with the court that the court closes without a
    /// suit: the plaintiff withdrew the application, or the dispute does not
    /// meet the conditions to be docketed (不予立案). Ends the court's wait.
    NotDocketed { reason: Narrative },
}

impl CourtOutcome {
    /// The case the outcome names; none when no case was docketed.
    pub fn case_number(&self) -> Option<&CaseNumber> {
        match self {
            CourtOutcome::Docketed { case_number }
            | CourtOutcome::MediationPaper { case_number }
            | CourtOutcome::SuitWithdrawn { case_number } => Some(case_number),
            CourtOutcome::NotDocketed { .. } => None,
        }
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            CourtOutcome::Docketed { .. } => "docketed",
            CourtOutcome::MediationPaper { .. } => "mediation_paper",
            CourtOutcome::SuitWithdrawn { .. } => "suit_withdrawn",
            CourtOutcome::NotDocketed { .. } => "not_docketed",
        }
    }
}

/// Whether the parties did what they agreed (自动履行).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PerformanceStatus {
    /// Performed in full without enforcement.
    PerformedVoluntarily,
    PartlyPerformed,
    NotPerformed,
}

/// A report on the agreement's performance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerformanceReport {
    pub status: PerformanceStatus,
    pub note: Option<Narrative>,
}

/// Why an organisation declined a referral; a reason must always be given
/// (说明理由).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeclineCode {
    /// The dispute is outside the organisation's accepted scope.
    OutsideScope,
    /// The organisation or its mediators have a conflict of interest.
    ConflictOfInterest,
    /// No mediator is free to take the case in time.
    NoCapacity,
    /// The parties could not be reached.
    PartiesUnreachable,
    /// A party refused mediation by this organisation.
    PartyRefused,
    Other,
}

/// The reasons given with a decline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeclineReason {
    pub code: DeclineCode,
    pub explanation: Narrative,
}
