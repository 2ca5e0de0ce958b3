//! The case bundle a court pushes when it refers a dispute for mediation: who the
//! parties are, what they claim, the cause of action, the documents, and the
//! parties' consent to mediation.
//!
//! The types hold validated values; [`CaseBundle::validate`] checks the rules
//! that span fields, and names every field that breaks one.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::court::{CaseNumber, CourtCode};
use crate::document::Document;
use crate::error::Violations;
use crate::identity::Identity;
use crate::ids::{CourtReferralId, OrganisationId, PartyRef};
use crate::money::Amount;
use crate::particulars::Particulars;
use crate::text::{Line, Narrative};

/// Which side of the dispute a party is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartyRole {
    /// 申请人 / 原告: the party who brings the claim.
    Claimant,
    /// 被申请人 / 被告: the party the claim is against.
    Respondent,
    /// 第三人: a third party with an interest in the outcome.
    ThirdParty,
}

/// Natural or legal person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonKind {
    Natural,
    /// A company or other organisation.
    Legal,
}

/// A party to the dispute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Party {
    /// How the rest of the bundle refers to this party.
    pub reference: PartyRef,
    pub role: PartyRole,
    pub person: PersonKind,
    pub name: Line,
    pub identity: Identity,
    /// A telephone number or other contact.
    pub contact: Line,
    /// The address at which documents are served (送达地址).
    pub service_address: Line,
    /// Whether the party's habitual residence (or seat) is outside the
    /// mainland, whatever document it holds.
    #[serde(default)]
    pub resides_abroad: bool,
    /// The region of the party's domicile or seat (e.g. 北京市朝阳区), as
    /// the court states it: what an organisation deciding on an offer learns
    /// of where the party is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Line>,
}

/// How a party's consent to mediation was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentMethod {
    /// A signed written statement.
    Written,
    /// Confirmed on the court's or the mediation platform's online service.
    Online,
    /// Given orally and recorded by the court.
    RecordedOral,
}

/// One party's consent to mediation (征得当事人同意).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub party: PartyRef,
    pub given_at: Timestamp,
    pub method: ConsentMethod,
}

/// One claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub description: Narrative,
    pub amount: Option<Amount>,
}

/// The stage of proceedings a docketed case is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialStage {
    FirstInstance,
    SecondInstance,
    Retrial,
}

/// Ordinary or summary procedure; the summary one has a shorter mediation limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Procedure {
    Ordinary,
    Summary,
}

/// Whether the case was referred before or after it was docketed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum ReferralKind {
    /// 委派调解: pre-litigation, before the case is docketed.
    Delegated,
    /// 委托调解: after docketing, at some stage of the proceedings.
    Entrusted {
        stage: TrialStage,
        procedure: Procedure,
    },
    /// 自行受理: the organisation took the dispute directly from the parties,
    /// and the court is asked only to confirm the agreement they reached. The
    /// court named is the one the application is made to.
    DirectIntake,
}

/// The field of law a dispute belongs to; it decides which partner platform can
/// take it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeDomain {
    /// Contracts, e-commerce, cross-border trade: the trade-promotion council.
    Commercial,
    /// Labour disputes: labour-dispute mediation and arbitration.
    Labour,
    /// Road-traffic-accident damages.
    RoadTraffic,
    Other,
}

impl DisputeDomain {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeDomain::Commercial => "commercial",
            DisputeDomain::Labour => "labour",
            DisputeDomain::RoadTraffic => "road_traffic",
            DisputeDomain::Other => "other",
        }
    }
}

/// Everything a court pushes with a referral.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseBundle {
    /// The court system's own id; the idempotency key.
    pub court_referral_id: CourtReferralId,
    pub court: CourtCode,
    /// The docketed case number (案号); only 委托 referrals have one.
    pub case_number: Option<CaseNumber>,
    pub kind: ReferralKind,
    /// 案由, as the court's classification names it, e.g. 买卖合同纠纷.
    pub cause_of_action: Line,
    pub domain: DisputeDomain,
    pub parties: Vec<Party>,
    pub claims: Vec<Claim>,
    pub amount_in_dispute: Option<Amount>,
    pub documents: Vec<Document>,
    pub consents: Vec<Consent>,
    /// The organisation the parties chose together, if they did.
    pub preferred_organisation: Option<OrganisationId>,
    /// Facts and background the court wants the mediator to know.
    pub summary: Option<Narrative>,
    /// What a labour or road-traffic dispute needs beyond the rest; required
    /// for those domains.
    #[serde(default)]
    pub particulars: Option<Particulars>,
    /// Whether the court lets the gateway offer the referral to another
    /// organisation after a decline or a missed acceptance; false: it comes
    /// back to the court (online rules Art. 12; seed 000 §(十三)).
    #[serde(default)]
    pub reassignment_allowed: bool,
    /// The organisation the court itself names for the referral (the
    /// parties' own choice is `preferred_organisation`). The court's choice
    /// wins; if it cannot take the referral, the referral comes back to the
    /// court rather than going to someone the court did not name.
    #[serde(default)]
    pub designated_organisation: Option<OrganisationId>,
    /// The court states the case is cross-border (涉外, or 涉港澳台).
    #[serde(default)]
    pub cross_border: bool,
    /// The subject matter is outside the mainland.
    #[serde(default)]
    pub subject_matter_abroad: bool,
    /// The language the case is conducted in, when not Chinese, e.g. "en".
    #[serde(default)]
    pub language: Option<Line>,
    /// Whether a party needs an interpreter.
    #[serde(default)]
    pub interpreter_needed: bool,
    /// For a dispute referred with others like it behind a model case
    /// (示范性诉讼 + 批量化调解, seed 000 (十八)): the docketed model case
    /// whose judgment its mediation follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_case: Option<CaseNumber>,
}

impl CaseBundle {
    /// Whether the case is cross-border: the court says so, or it follows
    /// from the case — a foreign party (by its document or its habitual
    /// residence outside the mainland) or subject matter abroad, the
    /// elements courts use (SPC interpretation of the CPL, Art. 520).
    pub fn is_cross_border(&self) -> bool {
        self.cross_border
            || self.subject_matter_abroad
            || self
                .parties
                .iter()
                .any(|p| p.resides_abroad || p.identity.kind().is_foreign())
    }

    /// Checks the dates of the bundle against `now`, the moment it is
    /// received: a consent given later than that, a party born after today
    /// (by the date of birth in a resident identity card number), an
    /// employment that starts after today or an accident that has not yet
    /// happened cannot be true, and are refused by their fields. A few
    /// minutes of clock difference between the court's system and the
    /// gateway are allowed.
    /// Checks what the referring court's level decides: only a basic court
    /// tries a case under the summary procedure (CPL Art. 160), so a
    /// docketed case at any other court cannot be in it.
    pub fn check_at_court(&self, level: crate::court::CourtLevel) -> Result<(), Violations> {
        let mut v = Violations::new();
        if let ReferralKind::Entrusted {
            procedure: Procedure::Summary,
            ..
        } = self.kind
            && level != crate::court::CourtLevel::Basic
        {
            v.push(
                "procedure",
                format!(
                    "the summary procedure is for basic courts (CPL Art. 160); court {} is {} court",
                    self.court,
                    match level {
                        crate::court::CourtLevel::Intermediate => "an intermediate",
                        _ => "a higher",
                    }
                ),
            );
        }
        v.into_result(())
    }

    pub fn check_as_of(&self, now: jiff::Timestamp) -> Result<(), Violations> {
        let mut v = Violations::new();
        let latest = crate::clock::latest_past(now);
        let today = crate::calendar::cst::date_of(now);
        for (i, consent) in self.consents.iter().enumerate() {
            if consent.given_at > latest {
                v.push(
                    format!("consents[{i}].given_at"),
                    format!("{} is later than now", consent.given_at),
                );
            }
        }
        for (i, party) in self.parties.iter().enumerate() {
            if let Some(born) = party.identity.birth_date()
                && born > today
            {
                v.push(
                    format!("parties[{i}].identity.number"),
                    format!("holds the date of birth {born}, which is after today"),
                );
            }
        }
        match &self.particulars {
            Some(crate::particulars::Particulars::Labour(l)) if l.employment_start > today => {
                v.push(
                    "particulars.labour.employment_start",
                    format!("{} is after today", l.employment_start),
                );
            }
            Some(crate::particulars::Particulars::RoadTraffic(a)) if a.occurred_at > latest => {
                v.push(
                    "particulars.road_traffic.occurred_at",
                    format!(
                        "{} is later than now: the accident has not happened",
                        a.occurred_at
                    ),
                );
            }
            _ => {}
        }
        if v.is_empty() { Ok(()) } else { Err(v) }
    }

    /// Checks the rules that span fields. Returns every violation found.
    pub fn validate(&self) -> Result<(), Violations> {
        let mut v = Violations::new();
        self.check_model_case(&mut v);
        self.check_kind(&mut v);
        let references = self.check_parties(&mut v);
        self.check_consents(&references, &mut v);
        if self.claims.is_empty() {
            v.push("claims", "at least one claim is required");
        }
        for (i, claim) in self.claims.iter().enumerate() {
            if let (Some(amount), Some(total)) = (&claim.amount, &self.amount_in_dispute)
                && amount.currency != total.currency
            {
                v.push(
                    format!("claims[{i}].amount.currency"),
                    format!("must match amount_in_dispute ({})", total.currency),
                );
            }
        }
        crate::particulars::check(self, &mut v);
        let mut digests = BTreeSet::new();
        for (i, document) in self.documents.iter().enumerate() {
            v.nest(&format!("documents[{i}]"), document.validate());
            if !digests.insert(document.sha256.as_str()) {
                v.push(
                    format!("documents[{i}].sha256"),
                    "the same document is listed twice",
                );
            }
        }
        v.into_result(())
    }

    fn check_model_case(&self, v: &mut Violations) {
        let Some(model) = &self.model_case else {
            return;
        };
        if model.is_pre_litigation() {
            v.push(
                "model_case_number",
                "a model case (示范案件) is a docketed suit whose judgment the batch follows: \
                 its number cannot be a pre-litigation one",
            );
        } else if self.case_number.as_ref() == Some(model) {
            v.push(
                "model_case_number",
                "is this referral's own case; a model case is another, already docketed",
            );
        }
    }

    fn check_kind(&self, v: &mut Violations) {
        // CPL Art. 160: the summary procedure is for simple civil cases at
        // first instance before basic courts and their tribunals.
        if let ReferralKind::Entrusted {
            stage: stage @ (TrialStage::SecondInstance | TrialStage::Retrial),
            procedure: Procedure::Summary,
        } = self.kind
        {
            v.push(
                "procedure",
                format!(
                    "the summary procedure is for first-instance cases (CPL Art. 160), not a {} one",
                    match stage {
                        TrialStage::SecondInstance => "second-instance",
                        _ => "retrial",
                    }
                ),
            );
        }
        match (&self.kind, &self.case_number) {
            (ReferralKind::Delegated, Some(number)) if !number.is_pre_litigation() => v.push(
                "case_number",
                "a pre-litigation (委派) referral is not docketed: its number can only be a \
                 pre-litigation mediation number (诉前调, e.g. （2025）京0105民诉前调123号)",
            ),
            (ReferralKind::Entrusted { .. }, Some(number)) if number.is_pre_litigation() => v.push(
                "case_number",
                "an entrusted (委托) referral is docketed: its number is the docketed case's, \
                 not a pre-litigation mediation number",
            ),
            (ReferralKind::DirectIntake, Some(_)) => v.push(
                "case_number",
                "a dispute an organisation took directly has no court case number yet",
            ),
            (ReferralKind::Entrusted { .. }, None) => v.push(
                "case_number",
                "an entrusted (委托) referral is docketed and needs its case number",
            ),
            (_, Some(number)) if number.court() != self.court => v.push(
                "case_number",
                format!(
                    "belongs to court {}, not to the referring court {}",
                    number.court(),
                    self.court
                ),
            ),
            _ => {}
        }
    }

    fn check_parties(&self, v: &mut Violations) -> BTreeSet<&PartyRef> {
        let mut references = BTreeSet::new();
        for (i, party) in self.parties.iter().enumerate() {
            if !references.insert(&party.reference) {
                v.push(
                    format!("parties[{i}].reference"),
                    format!("{} is used by another party", party.reference),
                );
            }
            let natural_document = party.identity.kind().is_for_natural_persons();
            match party.person {
                PersonKind::Natural if !natural_document => v.push(
                    format!("parties[{i}].identity.kind"),
                    "a natural person needs a personal identity document",
                ),
                PersonKind::Legal if natural_document => v.push(
                    format!("parties[{i}].identity.kind"),
                    "a legal person needs a unified social credit code or a foreign registration",
                ),
                _ => {}
            }
        }
        for (role, name) in [
            (PartyRole::Claimant, "a claimant"),
            (PartyRole::Respondent, "a respondent"),
        ] {
            if !self.parties.iter().any(|p| p.role == role) {
                v.push("parties", format!("at least {name} is required"));
            }
        }
        references
    }

    fn check_consents(&self, references: &BTreeSet<&PartyRef>, v: &mut Violations) {
        if self.consents.is_empty() {
            v.push(
                "consents",
                "the parties' consent to mediation is required; a referral without it is invalid",
            );
            return;
        }
        let mut consenting = BTreeSet::new();
        for (i, consent) in self.consents.iter().enumerate() {
            if !references.contains(&consent.party) {
                v.push(
                    format!("consents[{i}].party"),
                    format!("{} is not a party of this referral", consent.party),
                );
            }
            consenting.insert(&consent.party);
        }
        for party in &self.parties {
            if !consenting.contains(&party.reference) {
                v.push(
                    "consents",
                    format!("party {} has not consented to mediation", party.reference),
                );
            }
        }
    }

    /// The references of every party.
    pub fn party_refs(&self) -> impl Iterator<Item = &PartyRef> {
        self.parties.iter().map(|p| &p.reference)
    }

    /// The party with `reference`.
    pub fn party(&self, reference: &PartyRef) -> Option<&Party> {
        self.parties.iter().find(|p| &p.reference == reference)
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures::sample_bundle;

    #[test]
    fn a_delegated_referral_may_carry_only_a_pre_litigation_number() {
        use super::{Procedure, ReferralKind, TrialStage};
        use crate::court::CaseNumber;
        let fields = |b: &super::CaseBundle| -> Vec<String> {
            b.validate()
                .err()
                .map(|v| v.fields().map(str::to_owned).collect())
                .unwrap_or_default()
        };
        // Seed 004 (十六): pre-litigation mediation has numbers of its own.
        let mut delegated = sample_bundle();
        delegated.case_number = Some(CaseNumber::parse("（2025）京0105民诉前调123号").unwrap());
        assert!(fields(&delegated).is_empty(), "{:?}", delegated.validate());
        delegated.case_number = Some(CaseNumber::parse("（2025）京0105民初123号").unwrap());
        assert_eq!(fields(&delegated), ["case_number"]);
        let mut entrusted = sample_bundle();
        entrusted.kind = ReferralKind::Entrusted {
            stage: TrialStage::FirstInstance,
            procedure: Procedure::Ordinary,
        };
        entrusted.case_number = Some(CaseNumber::parse("（2025）京0105民诉前调123号").unwrap());
        assert_eq!(fields(&entrusted), ["case_number"]);
        entrusted.case_number = Some(CaseNumber::parse("（2025）京0105民初123号").unwrap());
        assert!(fields(&entrusted).is_empty());
    }

    #[test]
    fn dates_that_cannot_yet_be_true_are_refused_by_their_fields() {
        use crate::fixtures::at;
        let received = at("2025-03-03T09:00:00+08:00");
        let bundle = sample_bundle();
        assert!(bundle.check_as_of(received).is_ok());
        let mut future = bundle.clone();
        future.consents[0].given_at = at("9999-01-01T00:00:00Z");
        // A party born in 2099, with a correct check digit.
        future.parties[0].identity = crate::identity::Identity::parse(
            crate::identity::IdentityKind::ResidentIdCard,
            &with_check_digit("11010520990101001"),
        )
        .unwrap();
        let fields: Vec<String> = future
            .check_as_of(received)
            .unwrap_err()
            .0
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            ["consents[0].given_at", "parties[0].identity.number"]
        );
        // A few minutes of clock difference are allowed.
        let mut skewed = bundle;
        skewed.consents[0].given_at = at("2025-03-03T09:05:00+08:00");
        assert!(skewed.check_as_of(received).is_ok());
    }

    /// The 18th character of a resident identity card number (GB 11643).
    fn with_check_digit(first17: &str) -> String {
        const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
        let sum: u32 = first17
            .bytes()
            .zip(WEIGHTS)
            .map(|(d, w)| u32::from(d - b'0') * w)
            .sum();
        format!("{first17}{}", b"10X98765432"[(sum % 11) as usize] as char)
    }
}
