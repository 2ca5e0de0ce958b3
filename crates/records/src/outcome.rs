//! What mediation and the court produced, as stored: agreements, failure
//! reports, applications, rulings and the like.

use mediation_core::outcome::{
    Agreement, AgreementParty, CompensationPayment, ConfirmationApplication, ConfirmedAddress,
    CourtOutcome, DeclineCode, DeclineReason, EarlyEnd, FailureReport, PerformanceReport,
    PerformanceStatus, Ruling, RulingOutcome, ShamMediationReport, Signature, Signer,
};
use mediation_core::particulars::CompensationKind;
use serde::{Deserialize, Serialize};

use crate::case::{StoredAmount, StoredDocument, StoredIdentity};
use crate::{
    Coded, Day, FormatError, Instant, Mirror, codes, load_all, load_opt, many, opt, parse,
    parse_opt, text, text_opt,
};

codes!(EarlyEnd, "early end" {
    EarlyEnd::PartyWithdrew = 1,
    EarlyEnd::PartyUnreachable = 2,
    EarlyEnd::RefusedToSign = 3,
    EarlyEnd::Unsuitable = 4,
});

codes!(RulingOutcome, "ruling outcome" {
    RulingOutcome::Confirmed = 1,
    RulingOutcome::NotAccepted = 2,
    RulingOutcome::Dismissed = 3,
});

codes!(PerformanceStatus, "performance status" {
    PerformanceStatus::PerformedVoluntarily = 1,
    PerformanceStatus::PartlyPerformed = 2,
    PerformanceStatus::NotPerformed = 3,
});

codes!(DeclineCode, "decline code" {
    DeclineCode::OutsideScope = 1,
    DeclineCode::ConflictOfInterest = 2,
    DeclineCode::NoCapacity = 3,
    DeclineCode::PartiesUnreachable = 4,
    DeclineCode::PartyRefused = 5,
    DeclineCode::Other = 6,
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAgreementParty {
    party: String,
    name: String,
    identity: StoredIdentity,
}

impl Mirror for StoredAgreementParty {
    type Domain = AgreementParty;
    fn of(d: &AgreementParty) -> Self {
        Self {
            party: text(&d.party),
            name: text(&d.name),
            identity: StoredIdentity::of(&d.identity),
        }
    }
    fn load(self) -> Result<AgreementParty, FormatError> {
        Ok(AgreementParty {
            party: parse("party reference", self.party)?,
            name: parse("party name", self.name)?,
            identity: self.identity.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredSigner {
    Organisation(String),
    Mediator(String),
    Party(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredSignature {
    signer: StoredSigner,
    signed_at: Instant,
}

impl Mirror for StoredSignature {
    type Domain = Signature;
    fn of(d: &Signature) -> Self {
        Self {
            signer: match &d.signer {
                Signer::Organisation(o) => StoredSigner::Organisation(text(o)),
                Signer::Mediator(m) => StoredSigner::Mediator(text(m)),
                Signer::Party(p) => StoredSigner::Party(text(p)),
            },
            signed_at: Instant::of(&d.signed_at),
        }
    }
    fn load(self) -> Result<Signature, FormatError> {
        Ok(Signature {
            signer: match self.signer {
                StoredSigner::Organisation(o) => Signer::Organisation(parse("organisation", o)?),
                StoredSigner::Mediator(m) => Signer::Mediator(parse("mediator", m)?),
                StoredSigner::Party(p) => Signer::Party(parse("party reference", p)?),
            },
            signed_at: self.signed_at.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPayment {
    payer: String,
    payee: String,
    kind: u8,
    amount: StoredAmount,
}

impl Mirror for StoredPayment {
    type Domain = CompensationPayment;
    fn of(d: &CompensationPayment) -> Self {
        Self {
            payer: text(&d.payer),
            payee: text(&d.payee),
            kind: d.kind.code(),
            amount: StoredAmount::of(&d.amount),
        }
    }
    fn load(self) -> Result<CompensationPayment, FormatError> {
        Ok(CompensationPayment {
            payer: parse("party reference", self.payer)?,
            payee: parse("party reference", self.payee)?,
            kind: CompensationKind::decode(self.kind)?,
            amount: self.amount.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAgreement {
    parties: Vec<StoredAgreementParty>,
    disputed_matters: Option<String>,
    terms: Vec<String>,
    performance_method: Option<String>,
    performance_deadline: Option<Day>,
    signatures: Vec<StoredSignature>,
    documents: Vec<StoredDocument>,
    compensation: Vec<StoredPayment>,
}

impl Mirror for StoredAgreement {
    type Domain = Agreement;
    fn of(d: &Agreement) -> Self {
        Self {
            parties: many(&d.parties),
            disputed_matters: text_opt(d.disputed_matters.as_ref()),
            terms: d.terms.iter().map(text).collect(),
            performance_method: text_opt(d.performance_method.as_ref()),
            performance_deadline: opt(d.performance_deadline.as_ref()),
            signatures: many(&d.signatures),
            documents: many(&d.documents),
            compensation: many(&d.compensation),
        }
    }
    fn load(self) -> Result<Agreement, FormatError> {
        Ok(Agreement {
            parties: load_all(self.parties)?,
            disputed_matters: parse_opt("disputed matters", self.disputed_matters)?,
            terms: self
                .terms
                .into_iter()
                .map(|t| parse("term", t))
                .collect::<Result<_, _>>()?,
            performance_method: parse_opt("performance method", self.performance_method)?,
            performance_deadline: load_opt(self.performance_deadline)?,
            signatures: load_all(self.signatures)?,
            documents: load_all(self.documents)?,
            compensation: load_all(self.compensation)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAddress {
    party: String,
    address: String,
}

impl Mirror for StoredAddress {
    type Domain = ConfirmedAddress;
    fn of(d: &ConfirmedAddress) -> Self {
        Self {
            party: text(&d.party),
            address: text(&d.address),
        }
    }
    fn load(self) -> Result<ConfirmedAddress, FormatError> {
        Ok(ConfirmedAddress {
            party: parse("party reference", self.party)?,
            address: parse("address", self.address)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredFailure {
    course: String,
    reasons: String,
    cost_raising_conduct: Option<String>,
    notes_for_court: Option<String>,
    undisputed_facts: Vec<String>,
    confirmed_service_addresses: Vec<StoredAddress>,
}

impl Mirror for StoredFailure {
    type Domain = FailureReport;
    fn of(d: &FailureReport) -> Self {
        Self {
            course: text(&d.course),
            reasons: text(&d.reasons),
            cost_raising_conduct: text_opt(d.cost_raising_conduct.as_ref()),
            notes_for_court: text_opt(d.notes_for_court.as_ref()),
            undisputed_facts: d.undisputed_facts.iter().map(text).collect(),
            confirmed_service_addresses: many(&d.confirmed_service_addresses),
        }
    }
    fn load(self) -> Result<FailureReport, FormatError> {
        Ok(FailureReport {
            course: parse("course", self.course)?,
            reasons: parse("reasons", self.reasons)?,
            cost_raising_conduct: parse_opt("conduct", self.cost_raising_conduct)?,
            notes_for_court: parse_opt("notes", self.notes_for_court)?,
            undisputed_facts: self
                .undisputed_facts
                .into_iter()
                .map(|f| parse("undisputed fact", f))
                .collect::<Result<_, _>>()?,
            confirmed_service_addresses: load_all(self.confirmed_service_addresses)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredShamReport {
    grounds: String,
}

impl Mirror for StoredShamReport {
    type Domain = ShamMediationReport;
    fn of(d: &ShamMediationReport) -> Self {
        Self {
            grounds: text(&d.grounds),
        }
    }
    fn load(self) -> Result<ShamMediationReport, FormatError> {
        Ok(ShamMediationReport {
            grounds: parse("grounds", self.grounds)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredApplication {
    applicants: Vec<String>,
    applied_at: Instant,
}

impl Mirror for StoredApplication {
    type Domain = ConfirmationApplication;
    fn of(d: &ConfirmationApplication) -> Self {
        Self {
            applicants: d.applicants.iter().map(text).collect(),
            applied_at: Instant::of(&d.applied_at),
        }
    }
    fn load(self) -> Result<ConfirmationApplication, FormatError> {
        Ok(ConfirmationApplication {
            applicants: self
                .applicants
                .into_iter()
                .map(|a| parse("party reference", a))
                .collect::<Result<_, _>>()?,
            applied_at: self.applied_at.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredRuling {
    outcome: u8,
    case_number: Option<String>,
    reasons: Option<String>,
    ruled_at: Instant,
}

impl Mirror for StoredRuling {
    type Domain = Ruling;
    fn of(d: &Ruling) -> Self {
        Self {
            outcome: d.outcome.code(),
            case_number: text_opt(d.case_number.as_ref()),
            reasons: text_opt(d.reasons.as_ref()),
            ruled_at: Instant::of(&d.ruled_at),
        }
    }
    fn load(self) -> Result<Ruling, FormatError> {
        Ok(Ruling {
            outcome: RulingOutcome::decode(self.outcome)?,
            case_number: parse_opt("case number", self.case_number)?,
            reasons: parse_opt("reasons", self.reasons)?,
            ruled_at: self.ruled_at.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum StoredCourtOutcome {
    Docketed(String),
    MediationPaper(String),
    SuitWithdrawn(String),
    // Schema 3: the reason.
    NotDocketed(String),
}

impl Mirror for StoredCourtOutcome {
    type Domain = CourtOutcome;
    fn of(d: &CourtOutcome) -> Self {
        match d {
            CourtOutcome::Docketed { case_number } => Self::Docketed(text(case_number)),
            CourtOutcome::MediationPaper { case_number } => Self::MediationPaper(text(case_number)),
            CourtOutcome::SuitWithdrawn { case_number } => Self::SuitWithdrawn(text(case_number)),
            CourtOutcome::NotDocketed { reason } => Self::NotDocketed(text(reason)),
        }
    }
    fn load(self) -> Result<CourtOutcome, FormatError> {
        Ok(match self {
            Self::Docketed(n) => CourtOutcome::Docketed {
                case_number: parse("case number", n)?,
            },
            Self::MediationPaper(n) => CourtOutcome::MediationPaper {
                case_number: parse("case number", n)?,
            },
            Self::SuitWithdrawn(n) => CourtOutcome::SuitWithdrawn {
                case_number: parse("case number", n)?,
            },
            Self::NotDocketed(reason) => CourtOutcome::NotDocketed {
                reason: parse("reason", reason)?,
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredPerformance {
    status: u8,
    note: Option<String>,
}

impl Mirror for StoredPerformance {
    type Domain = PerformanceReport;
    fn of(d: &PerformanceReport) -> Self {
        Self {
            status: d.status.code(),
            note: text_opt(d.note.as_ref()),
        }
    }
    fn load(self) -> Result<PerformanceReport, FormatError> {
        Ok(PerformanceReport {
            status: PerformanceStatus::decode(self.status)?,
            note: parse_opt("note", self.note)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredDecline {
    code: u8,
    explanation: String,
}

impl Mirror for StoredDecline {
    type Domain = DeclineReason;
    fn of(d: &DeclineReason) -> Self {
        Self {
            code: d.code.code(),
            explanation: text(&d.explanation),
        }
    }
    fn load(self) -> Result<DeclineReason, FormatError> {
        Ok(DeclineReason {
            code: DeclineCode::decode(self.code)?,
            explanation: parse("explanation", self.explanation)?,
        })
    }
}
