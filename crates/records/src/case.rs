//! The case bundle as stored: parties, claims, files, consents and the
//! particulars of a labour or road-traffic dispute.

use mediation_core::bundle::{
    CaseBundle, Claim, Consent, ConsentMethod, DisputeDomain, Party, PartyRole, PersonKind,
    Procedure, ReferralKind, TrialStage,
};
use mediation_core::document::{Document, DocumentLocation, Sha256Digest};
use mediation_core::identity::{Identity, IdentityKind};
use mediation_core::money::Amount;
use mediation_core::particulars::{
    AccidentParticulars, CompensationItem, CompensationKind, Injury, LabourClaimItem,
    LabourClaimKind, LabourParticulars, Liability, LiabilityShare, Particulars, Vehicle,
};
use serde::{Deserialize, Serialize};

use crate::{
    Coded, Day, FormatError, Instant, Mirror, codes, load_all, load_opt, many, opt, parse,
    parse_opt, text, text_opt,
};

codes!(PartyRole, "party role" {
    PartyRole::Claimant = 1,
    PartyRole::Respondent = 2,
    PartyRole::ThirdParty = 3,
});

codes!(PersonKind, "person kind" {
    PersonKind::Natural = 1,
    PersonKind::Legal = 2,
});

codes!(ConsentMethod, "consent method" {
    ConsentMethod::Written = 1,
    ConsentMethod::Online = 2,
    ConsentMethod::RecordedOral = 3,
});

codes!(TrialStage, "trial stage" {
    TrialStage::FirstInstance = 1,
    TrialStage::SecondInstance = 2,
    TrialStage::Retrial = 3,
});

codes!(Procedure, "procedure" {
    Procedure::Ordinary = 1,
    Procedure::Summary = 2,
});

codes!(DisputeDomain, "dispute domain" {
    DisputeDomain::Commercial = 1,
    DisputeDomain::Labour = 2,
    DisputeDomain::RoadTraffic = 3,
    DisputeDomain::Other = 4,
});

codes!(IdentityKind, "identity kind" {
    IdentityKind::ResidentIdCard = 1,
    IdentityKind::ForeignPermanentResidentIdCard = 2,
    IdentityKind::HongKongMacaoPermit = 3,
    IdentityKind::TaiwanPermit = 4,
    IdentityKind::Passport = 5,
    IdentityKind::UnifiedSocialCreditCode = 6,
    IdentityKind::ForeignRegistration = 7,
});

codes!(LabourClaimKind, "labour claim kind" {
    LabourClaimKind::UnpaidWages = 1,
    LabourClaimKind::OvertimePay = 2,
    LabourClaimKind::SeveranceCompensation = 3,
    LabourClaimKind::UnlawfulDismissalDamages = 4,
    LabourClaimKind::DoubleWagesWithoutContract = 5,
    LabourClaimKind::SocialInsurance = 6,
    LabourClaimKind::WorkInjuryBenefits = 7,
    LabourClaimKind::Other = 8,
});

codes!(Liability, "liability" {
    Liability::Full = 1,
    Liability::Main = 2,
    Liability::Equal = 3,
    Liability::Secondary = 4,
    Liability::None = 5,
});

codes!(CompensationKind, "compensation kind" {
    CompensationKind::MedicalExpenses = 1,
    CompensationKind::LostEarnings = 2,
    CompensationKind::NursingCare = 3,
    CompensationKind::Transport = 4,
    CompensationKind::DisabilityCompensation = 5,
    CompensationKind::DeathCompensation = 6,
    CompensationKind::FuneralExpenses = 7,
    CompensationKind::DependantsLiving = 8,
    CompensationKind::MentalDistress = 9,
    CompensationKind::PropertyLoss = 10,
    CompensationKind::Other = 11,
});

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredIdentity {
    kind: u8,
    number: String,
}

impl Mirror for StoredIdentity {
    type Domain = Identity;
    fn of(d: &Identity) -> Self {
        Self {
            kind: d.kind().code(),
            number: d.number().to_owned(),
        }
    }
    fn load(self) -> Result<Identity, FormatError> {
        let kind = IdentityKind::decode(self.kind)?;
        // A purge leaves the number empty (`mediation_core::retention`);
        // input can never (`Identity::parse` refuses it).
        if self.number.is_empty() {
            return Ok(Identity::withheld(kind));
        }
        Identity::parse(kind, &self.number).map_err(|e| FormatError::Invalid {
            what: "identity",
            reason: e.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredAmount {
    minor: u64,
    currency: String,
}

impl Mirror for StoredAmount {
    type Domain = Amount;
    fn of(d: &Amount) -> Self {
        Self {
            minor: d.minor,
            currency: text(&d.currency),
        }
    }
    fn load(self) -> Result<Amount, FormatError> {
        Amount::from_minor(self.minor, parse("currency", self.currency)?).map_err(|e| {
            FormatError::Invalid {
                what: "amount",
                reason: e.to_string(),
            }
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredDocument {
    name: String,
    media_type: String,
    size_bytes: u64,
    sha256: String,
    /// `None` for a file kept by the gateway, else where the court keeps it.
    url: Option<String>,
}

impl Mirror for StoredDocument {
    type Domain = Document;
    fn of(d: &Document) -> Self {
        Self {
            name: text(&d.name),
            media_type: text(&d.media_type),
            size_bytes: d.size_bytes,
            sha256: text(&d.sha256),
            url: match &d.location {
                DocumentLocation::Stored => None,
                DocumentLocation::Url(url) => Some(text(url)),
            },
        }
    }
    fn load(self) -> Result<Document, FormatError> {
        Ok(Document {
            name: parse("document name", self.name)?,
            media_type: parse("media type", self.media_type)?,
            size_bytes: self.size_bytes,
            sha256: parse::<Sha256Digest>("digest", self.sha256)?,
            location: match self.url {
                None => DocumentLocation::Stored,
                Some(url) => DocumentLocation::Url(parse("document url", url)?),
            },
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredParty {
    reference: String,
    role: u8,
    person: u8,
    name: String,
    identity: StoredIdentity,
    contact: String,
    service_address: String,
    resides_abroad: bool,
    region: Option<String>,
}

impl Mirror for StoredParty {
    type Domain = Party;
    fn of(d: &Party) -> Self {
        Self {
            reference: text(&d.reference),
            role: d.role.code(),
            person: d.person.code(),
            name: text(&d.name),
            identity: StoredIdentity::of(&d.identity),
            contact: text(&d.contact),
            service_address: text(&d.service_address),
            resides_abroad: d.resides_abroad,
            region: text_opt(d.region.as_ref()),
        }
    }
    fn load(self) -> Result<Party, FormatError> {
        Ok(Party {
            reference: parse("party reference", self.reference)?,
            role: PartyRole::decode(self.role)?,
            person: PersonKind::decode(self.person)?,
            name: parse("party name", self.name)?,
            identity: self.identity.load()?,
            contact: parse("contact", self.contact)?,
            service_address: parse("service address", self.service_address)?,
            resides_abroad: self.resides_abroad,
            region: parse_opt("region", self.region)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredConsent {
    party: String,
    given_at: Instant,
    method: u8,
}

impl Mirror for StoredConsent {
    type Domain = Consent;
    fn of(d: &Consent) -> Self {
        Self {
            party: text(&d.party),
            given_at: Instant::of(&d.given_at),
            method: d.method.code(),
        }
    }
    fn load(self) -> Result<Consent, FormatError> {
        Ok(Consent {
            party: parse("party reference", self.party)?,
            given_at: self.given_at.load()?,
            method: ConsentMethod::decode(self.method)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredClaim {
    description: String,
    amount: Option<StoredAmount>,
}

impl Mirror for StoredClaim {
    type Domain = Claim;
    fn of(d: &Claim) -> Self {
        Self {
            description: text(&d.description),
            amount: opt(d.amount.as_ref()),
        }
    }
    fn load(self) -> Result<Claim, FormatError> {
        Ok(Claim {
            description: parse("claim", self.description)?,
            amount: load_opt(self.amount)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredKind {
    Delegated,
    Entrusted { stage: u8, procedure: u8 },
    DirectIntake,
}

impl Mirror for StoredKind {
    type Domain = ReferralKind;
    fn of(d: &ReferralKind) -> Self {
        match *d {
            ReferralKind::Delegated => Self::Delegated,
            ReferralKind::Entrusted { stage, procedure } => Self::Entrusted {
                stage: stage.code(),
                procedure: procedure.code(),
            },
            ReferralKind::DirectIntake => Self::DirectIntake,
        }
    }
    fn load(self) -> Result<ReferralKind, FormatError> {
        Ok(match self {
            Self::Delegated => ReferralKind::Delegated,
            Self::Entrusted { stage, procedure } => ReferralKind::Entrusted {
                stage: TrialStage::decode(stage)?,
                procedure: Procedure::decode(procedure)?,
            },
            Self::DirectIntake => ReferralKind::DirectIntake,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredLabourClaim {
    kind: u8,
    amount: StoredAmount,
}

impl Mirror for StoredLabourClaim {
    type Domain = LabourClaimItem;
    fn of(d: &LabourClaimItem) -> Self {
        Self {
            kind: d.kind.code(),
            amount: StoredAmount::of(&d.amount),
        }
    }
    fn load(self) -> Result<LabourClaimItem, FormatError> {
        Ok(LabourClaimItem {
            kind: LabourClaimKind::decode(self.kind)?,
            amount: self.amount.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredLabour {
    employer: String,
    employee: String,
    written_contract: bool,
    employment_start: Day,
    employment_end: Option<Day>,
    position: Option<String>,
    monthly_wage: Option<StoredAmount>,
    arbitration_committee: Option<String>,
    claim_items: Vec<StoredLabourClaim>,
}

impl Mirror for StoredLabour {
    type Domain = LabourParticulars;
    fn of(d: &LabourParticulars) -> Self {
        Self {
            employer: text(&d.employer),
            employee: text(&d.employee),
            written_contract: d.written_contract,
            employment_start: Day::of(&d.employment_start),
            employment_end: opt(d.employment_end.as_ref()),
            position: text_opt(d.position.as_ref()),
            monthly_wage: opt(d.monthly_wage.as_ref()),
            arbitration_committee: text_opt(d.arbitration_committee.as_ref()),
            claim_items: many(&d.claim_items),
        }
    }
    fn load(self) -> Result<LabourParticulars, FormatError> {
        Ok(LabourParticulars {
            employer: parse("party reference", self.employer)?,
            employee: parse("party reference", self.employee)?,
            written_contract: self.written_contract,
            employment_start: self.employment_start.load()?,
            employment_end: load_opt(self.employment_end)?,
            position: parse_opt("position", self.position)?,
            monthly_wage: load_opt(self.monthly_wage)?,
            arbitration_committee: parse_opt("arbitration committee", self.arbitration_committee)?,
            claim_items: load_all(self.claim_items)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredLiability {
    party: String,
    liability: u8,
}

impl Mirror for StoredLiability {
    type Domain = LiabilityShare;
    fn of(d: &LiabilityShare) -> Self {
        Self {
            party: text(&d.party),
            liability: d.liability.code(),
        }
    }
    fn load(self) -> Result<LiabilityShare, FormatError> {
        Ok(LiabilityShare {
            party: parse("party reference", self.party)?,
            liability: Liability::decode(self.liability)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredVehicle {
    plate: String,
    driver: Option<String>,
    insurer: Option<String>,
    insurer_name: Option<String>,
    compulsory_policy: Option<String>,
    commercial_policy: Option<String>,
}

impl Mirror for StoredVehicle {
    type Domain = Vehicle;
    fn of(d: &Vehicle) -> Self {
        Self {
            plate: text(&d.plate),
            driver: text_opt(d.driver.as_ref()),
            insurer: text_opt(d.insurer.as_ref()),
            insurer_name: text_opt(d.insurer_name.as_ref()),
            compulsory_policy: text_opt(d.compulsory_policy.as_ref()),
            commercial_policy: text_opt(d.commercial_policy.as_ref()),
        }
    }
    fn load(self) -> Result<Vehicle, FormatError> {
        Ok(Vehicle {
            plate: parse("plate", self.plate)?,
            driver: parse_opt("party reference", self.driver)?,
            insurer: parse_opt("party reference", self.insurer)?,
            insurer_name: parse_opt("insurer name", self.insurer_name)?,
            compulsory_policy: parse_opt("policy", self.compulsory_policy)?,
            commercial_policy: parse_opt("policy", self.commercial_policy)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredInjury {
    party: String,
    disability_grade: Option<u8>,
    deceased: bool,
}

impl Mirror for StoredInjury {
    type Domain = Injury;
    fn of(d: &Injury) -> Self {
        Self {
            party: text(&d.party),
            disability_grade: d.disability_grade,
            deceased: d.deceased,
        }
    }
    fn load(self) -> Result<Injury, FormatError> {
        Ok(Injury {
            party: parse("party reference", self.party)?,
            disability_grade: self.disability_grade,
            deceased: self.deceased,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredCompensation {
    kind: u8,
    amount: StoredAmount,
}

impl Mirror for StoredCompensation {
    type Domain = CompensationItem;
    fn of(d: &CompensationItem) -> Self {
        Self {
            kind: d.kind.code(),
            amount: StoredAmount::of(&d.amount),
        }
    }
    fn load(self) -> Result<CompensationItem, FormatError> {
        Ok(CompensationItem {
            kind: CompensationKind::decode(self.kind)?,
            amount: self.amount.load()?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredAccident {
    certificate_number: String,
    occurred_at: Instant,
    place: String,
    liability: Vec<StoredLiability>,
    vehicles: Vec<StoredVehicle>,
    injuries: Vec<StoredInjury>,
    compensation: Vec<StoredCompensation>,
}

impl Mirror for StoredAccident {
    type Domain = AccidentParticulars;
    fn of(d: &AccidentParticulars) -> Self {
        Self {
            certificate_number: text(&d.certificate_number),
            occurred_at: Instant::of(&d.occurred_at),
            place: text(&d.place),
            liability: many(&d.liability),
            vehicles: many(&d.vehicles),
            injuries: many(&d.injuries),
            compensation: many(&d.compensation),
        }
    }
    fn load(self) -> Result<AccidentParticulars, FormatError> {
        Ok(AccidentParticulars {
            certificate_number: parse("certificate number", self.certificate_number)?,
            occurred_at: self.occurred_at.load()?,
            place: parse("place", self.place)?,
            liability: load_all(self.liability)?,
            vehicles: load_all(self.vehicles)?,
            injuries: load_all(self.injuries)?,
            compensation: load_all(self.compensation)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum StoredParticulars {
    Labour(StoredLabour),
    RoadTraffic(StoredAccident),
}

impl Mirror for StoredParticulars {
    type Domain = Particulars;
    fn of(d: &Particulars) -> Self {
        match d {
            Particulars::Labour(l) => Self::Labour(StoredLabour::of(l)),
            Particulars::RoadTraffic(a) => Self::RoadTraffic(StoredAccident::of(a)),
        }
    }
    fn load(self) -> Result<Particulars, FormatError> {
        Ok(match self {
            Self::Labour(l) => Particulars::Labour(l.load()?),
            Self::RoadTraffic(a) => Particulars::RoadTraffic(a.load()?),
        })
    }
}

/// The case bundle, kept once per referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredBundle {
    court_referral_id: String,
    court: String,
    case_number: Option<String>,
    kind: StoredKind,
    cause_of_action: String,
    domain: u8,
    parties: Vec<StoredParty>,
    claims: Vec<StoredClaim>,
    amount_in_dispute: Option<StoredAmount>,
    documents: Vec<StoredDocument>,
    consents: Vec<StoredConsent>,
    preferred_organisation: Option<String>,
    summary: Option<String>,
    particulars: Option<StoredParticulars>,
    reassignment_allowed: bool,
    designated_organisation: Option<String>,
    cross_border: bool,
    subject_matter_abroad: bool,
    language: Option<String>,
    interpreter_needed: bool,
}

impl Mirror for StoredBundle {
    type Domain = CaseBundle;
    fn of(d: &CaseBundle) -> Self {
        Self {
            court_referral_id: text(&d.court_referral_id),
            court: text(&d.court),
            case_number: text_opt(d.case_number.as_ref()),
            kind: StoredKind::of(&d.kind),
            cause_of_action: text(&d.cause_of_action),
            domain: d.domain.code(),
            parties: many(&d.parties),
            claims: many(&d.claims),
            amount_in_dispute: opt(d.amount_in_dispute.as_ref()),
            documents: many(&d.documents),
            consents: many(&d.consents),
            preferred_organisation: text_opt(d.preferred_organisation.as_ref()),
            summary: text_opt(d.summary.as_ref()),
            particulars: opt(d.particulars.as_ref()),
            reassignment_allowed: d.reassignment_allowed,
            designated_organisation: text_opt(d.designated_organisation.as_ref()),
            cross_border: d.cross_border,
            subject_matter_abroad: d.subject_matter_abroad,
            language: text_opt(d.language.as_ref()),
            interpreter_needed: d.interpreter_needed,
        }
    }
    fn load(self) -> Result<CaseBundle, FormatError> {
        Ok(CaseBundle {
            court_referral_id: parse("court referral id", self.court_referral_id)?,
            court: parse("court", self.court)?,
            case_number: parse_opt("case number", self.case_number)?,
            kind: self.kind.load()?,
            cause_of_action: parse("cause of action", self.cause_of_action)?,
            domain: DisputeDomain::decode(self.domain)?,
            parties: load_all(self.parties)?,
            claims: load_all(self.claims)?,
            amount_in_dispute: load_opt(self.amount_in_dispute)?,
            documents: load_all(self.documents)?,
            consents: load_all(self.consents)?,
            preferred_organisation: parse_opt("organisation", self.preferred_organisation)?,
            summary: parse_opt("summary", self.summary)?,
            particulars: load_opt(self.particulars)?,
            reassignment_allowed: self.reassignment_allowed,
            designated_organisation: parse_opt("organisation", self.designated_organisation)?,
            cross_border: self.cross_border,
            subject_matter_abroad: self.subject_matter_abroad,
            language: parse_opt("language", self.language)?,
            interpreter_needed: self.interpreter_needed,
            model_case: None,
        })
    }
}
