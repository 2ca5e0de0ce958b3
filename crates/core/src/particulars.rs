//! What a labour or road-traffic dispute needs beyond the common bundle.
//!
//! The labour platform mediates between an employer and an employee over a
//! labour relationship; the road-traffic platform works from the police's
//! accident certificate, the liability it determined, the vehicles and their
//! insurers, the injuries and the compensation items the law lists. A court
//! states these facts once, in the bundle, so that each platform can be told the
//! case in its own terms and the court gets the same facts back.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::bundle::{CaseBundle, DisputeDomain, PersonKind};
use crate::error::Violations;
use crate::ids::PartyRef;
use crate::money::Amount;
use crate::text::Line;

/// The facts a domain's platform needs, by domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "domain")]
pub enum Particulars {
    Labour(LabourParticulars),
    RoadTraffic(AccidentParticulars),
}

impl Particulars {
    pub fn domain(&self) -> DisputeDomain {
        match self {
            Particulars::Labour(_) => DisputeDomain::Labour,
            Particulars::RoadTraffic(_) => DisputeDomain::RoadTraffic,
        }
    }
}

/// A labour dispute (劳动争议): who employed whom, on what terms, and what is
/// claimed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabourParticulars {
    pub employer: PartyRef,
    pub employee: PartyRef,
    /// Whether a written labour contract was signed; its absence is itself a
    /// claim (double pay) under the Labour Contract Law.
    pub written_contract: bool,
    pub employment_start: Date,
    /// When the employment ended, if it has.
    pub employment_end: Option<Date>,
    pub position: Option<Line>,
    /// The employee's monthly wage, which most compensation is counted in.
    pub monthly_wage: Option<Amount>,
    /// The labour-dispute arbitration committee (劳动人事争议仲裁委员会) with
    /// jurisdiction, if one is known.
    pub arbitration_committee: Option<Line>,
    pub claim_items: Vec<LabourClaimItem>,
}

/// The heads of claim a labour dispute is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabourClaimKind {
    /// 拖欠工资.
    UnpaidWages,
    /// 加班费.
    OvertimePay,
    /// 经济补偿金.
    SeveranceCompensation,
    /// 违法解除赔偿金.
    UnlawfulDismissalDamages,
    /// 未签书面劳动合同二倍工资.
    DoubleWagesWithoutContract,
    /// 社会保险.
    SocialInsurance,
    /// 工伤保险待遇.
    WorkInjuryBenefits,
    Other,
}

/// One head of claim with its amount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabourClaimItem {
    pub kind: LabourClaimKind,
    pub amount: Amount,
}

/// A road-traffic accident (道路交通事故) as the police determined it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccidentParticulars {
    /// 道路交通事故认定书编号.
    pub certificate_number: Line,
    pub occurred_at: Timestamp,
    pub place: Line,
    pub liability: Vec<LiabilityShare>,
    pub vehicles: Vec<Vehicle>,
    pub injuries: Vec<Injury>,
    pub compensation: Vec<CompensationItem>,
}

/// An insurer with a stake in the claim: a party, or named on a vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insurer {
    /// Its reference, when it is a party.
    pub party: Option<PartyRef>,
    /// Its name, when it is not.
    pub name: Option<Line>,
    /// The policies it wrote on the vehicles involved.
    pub policies: Vec<Line>,
    /// The plates of the vehicles it insures.
    pub plates: Vec<Line>,
    /// The drivers of the vehicles it insures: what they pay, its policies
    /// answer for.
    pub insured: Vec<PartyRef>,
}

impl Insurer {
    /// Whether a payment by `payer` concerns this insurer's policies: it
    /// pays itself, or an insured driver pays.
    pub fn answers_for(&self, payer: &PartyRef) -> bool {
        self.party.as_ref() == Some(payer) || self.insured.contains(payer)
    }
}

impl AccidentParticulars {
    /// Every insurer of a vehicle involved, once each, in the order their
    /// vehicles are listed.
    pub fn insurers(&self) -> Vec<Insurer> {
        let mut found: Vec<Insurer> = Vec::new();
        for vehicle in &self.vehicles {
            let (party, name) = match (&vehicle.insurer, &vehicle.insurer_name) {
                (Some(party), _) => (Some(party.clone()), None),
                (None, Some(name)) => (None, Some(name.clone())),
                (None, None) => continue,
            };
            let index = match found
                .iter()
                .position(|i| i.party == party && i.name == name)
            {
                Some(index) => index,
                None => {
                    found.push(Insurer {
                        party,
                        name,
                        policies: Vec::new(),
                        plates: Vec::new(),
                        insured: Vec::new(),
                    });
                    found.len() - 1
                }
            };
            let insurer = &mut found[index];
            insurer.plates.push(vehicle.plate.clone());
            insurer.policies.extend(
                [&vehicle.compulsory_policy, &vehicle.commercial_policy]
                    .into_iter()
                    .flatten()
                    .cloned(),
            );
            if let Some(driver) = &vehicle.driver
                && !insurer.insured.contains(driver)
            {
                insurer.insured.push(driver.clone());
            }
        }
        found
    }
}

/// The share of responsibility the police determined (事故责任).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liability {
    /// 全部责任.
    Full,
    /// 主要责任.
    Main,
    /// 同等责任.
    Equal,
    /// 次要责任.
    Secondary,
    /// 无责任.
    None,
}

/// One party's share of responsibility.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiabilityShare {
    pub party: PartyRef,
    pub liability: Liability,
}

/// A vehicle involved, with who drove it and who insures it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vehicle {
    /// The number plate.
    pub plate: Line,
    pub driver: Option<PartyRef>,
    /// The insurer, when it is a party to the dispute.
    pub insurer: Option<PartyRef>,
    /// The insurer's name, when it is not a party. An insurer takes part in
    /// a road-traffic mediation whether or not it is sued: it is told of
    /// the case and of the agreement's items its policy answers for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insurer_name: Option<Line>,
    /// 交强险 policy number.
    pub compulsory_policy: Option<Line>,
    /// 商业三者险 policy number.
    pub commercial_policy: Option<Line>,
}

/// A person injured or killed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Injury {
    pub party: PartyRef,
    /// The disability grade (伤残等级), 1 (gravest) to 10, once assessed.
    pub disability_grade: Option<u8>,
    pub deceased: bool,
}

/// The compensation items of a personal-injury or property claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompensationKind {
    /// 医疗费.
    MedicalExpenses,
    /// 误工费.
    LostEarnings,
    /// 护理费.
    NursingCare,
    /// 交通费.
    Transport,
    /// 残疾赔偿金.
    DisabilityCompensation,
    /// 死亡赔偿金.
    DeathCompensation,
    /// 丧葬费.
    FuneralExpenses,
    /// 被扶养人生活费.
    DependantsLiving,
    /// 精神损害抚慰金.
    MentalDistress,
    /// 财产损失, e.g. vehicle repair.
    PropertyLoss,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompensationItem {
    pub kind: CompensationKind,
    pub amount: Amount,
}

/// Checks the particulars against the bundle they belong to; field paths start
/// at `particulars`.
pub(crate) fn check(bundle: &CaseBundle, v: &mut Violations) {
    let needs = matches!(
        bundle.domain,
        DisputeDomain::Labour | DisputeDomain::RoadTraffic
    );
    let Some(particulars) = &bundle.particulars else {
        if needs {
            v.push(
                "particulars",
                format!(
                    "a {} dispute needs its particulars: the platform that mediates it works from them",
                    match bundle.domain {
                        DisputeDomain::Labour => "labour",
                        _ => "road-traffic",
                    }
                ),
            );
        }
        return;
    };
    if particulars.domain() != bundle.domain {
        v.push(
            "particulars",
            format!(
                "are for a {:?} dispute, but the bundle's domain is {:?}",
                particulars.domain(),
                bundle.domain
            ),
        );
        return;
    }
    let party = |field: String, reference: &PartyRef, v: &mut Violations| {
        if bundle.party(reference).is_none() {
            v.push(
                field,
                format!("{reference} is not a party of this referral"),
            );
        }
    };
    match particulars {
        Particulars::Labour(l) => {
            party("particulars.labour.employer".into(), &l.employer, v);
            party("particulars.labour.employee".into(), &l.employee, v);
            if l.employer == l.employee {
                v.push(
                    "particulars.labour.employee",
                    "the employee cannot be the employer",
                );
            }
            if bundle
                .party(&l.employee)
                .is_some_and(|p| p.person != PersonKind::Natural)
            {
                v.push(
                    "particulars.labour.employee",
                    "an employee is a natural person",
                );
            }
            if let Some(end) = l.employment_end
                && end < l.employment_start
            {
                v.push(
                    "particulars.labour.employment_end",
                    "must not be before employment_start",
                );
            }
        }
        Particulars::RoadTraffic(a) => {
            if a.liability.is_empty() {
                v.push(
                    "particulars.road_traffic.liability",
                    "the accident certificate's determination of liability is required",
                );
            }
            let mut seen = BTreeSet::new();
            for (i, share) in a.liability.iter().enumerate() {
                let field = format!("particulars.road_traffic.liability[{i}].party");
                party(field.clone(), &share.party, v);
                if !seen.insert(&share.party) {
                    v.push(field, format!("{} is listed twice", share.party));
                }
            }
            for (i, vehicle) in a.vehicles.iter().enumerate() {
                let at = |f: &str| format!("particulars.road_traffic.vehicles[{i}].{f}");
                if let Some(driver) = &vehicle.driver {
                    party(at("driver"), driver, v);
                }
                if let Some(insurer) = &vehicle.insurer {
                    party(at("insurer"), insurer, v);
                    if bundle
                        .party(insurer)
                        .is_some_and(|p| p.person != PersonKind::Legal)
                    {
                        v.push(at("insurer"), "an insurer is a legal person");
                    }
                }
            }
            for (i, injury) in a.injuries.iter().enumerate() {
                let at = |f: &str| format!("particulars.road_traffic.injuries[{i}].{f}");
                party(at("party"), &injury.party, v);
                if let Some(grade) = injury.disability_grade
                    && !(1..=10).contains(&grade)
                {
                    v.push(
                        at("disability_grade"),
                        format!("must be from 1 to 10, got {grade}"),
                    );
                }
            }
            let mut same_currency = true;
            for (i, item) in a.compensation.iter().enumerate() {
                if let Some(total) = &bundle.amount_in_dispute
                    && item.amount.currency != total.currency
                {
                    same_currency = false;
                    v.push(
                        format!("particulars.road_traffic.compensation[{i}].amount.currency"),
                        format!("must match amount_in_dispute ({})", total.currency),
                    );
                }
            }
            // The amount in dispute is what the items claim, head by head:
            // a total that differs from their sum misstates the claim.
            if let Some(total) = &bundle.amount_in_dispute
                && same_currency
                && !a.compensation.is_empty()
            {
                let sum: u64 = a.compensation.iter().map(|c| c.amount.minor).sum();
                if sum != total.minor {
                    let stated = Amount::from_minor(sum, total.currency.clone())
                        .map_or_else(|_| sum.to_string(), |s| s.decimal());
                    v.push(
                        "amount_in_dispute",
                        format!(
                            "must equal the sum of the compensation items, {stated} {}",
                            total.currency
                        ),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{accident_bundle, labour_bundle, party_ref, sample_bundle};

    fn fields(bundle: &CaseBundle) -> Vec<String> {
        match bundle.validate() {
            Ok(()) => Vec::new(),
            Err(v) => v.fields().map(str::to_owned).collect(),
        }
    }

    #[test]
    fn insurers_are_found_once_each_whether_parties_or_only_named() {
        let Some(Particulars::RoadTraffic(mut a)) = accident_bundle().particulars else {
            panic!("an accident bundle has accident particulars")
        };
        let named = Line::parse("某保险公司").unwrap();
        let mut second = a.vehicles[0].clone();
        second.plate = Line::parse("京B00001").unwrap();
        second.driver = Some(party_ref("P1"));
        second.compulsory_policy = Some(Line::parse("POLICY-2").unwrap());
        let mut third = second.clone();
        third.insurer = None;
        third.insurer_name = Some(named.clone());
        third.compulsory_policy = None;
        let mut uninsured = third.clone();
        uninsured.insurer_name = None;
        a.vehicles.extend([second, third, uninsured]);
        let insurers = a.insurers();
        assert_eq!(insurers.len(), 2, "{insurers:?}");
        assert_eq!(insurers[0].party, Some(party_ref("P3")));
        assert_eq!(insurers[0].policies.len(), 2, "both of P3's policies");
        assert_eq!(insurers[0].insured, [party_ref("P2"), party_ref("P1")]);
        assert_eq!(insurers[1].name, Some(named));
        assert!(insurers[1].answers_for(&party_ref("P1")));
        assert!(!insurers[1].answers_for(&party_ref("P2")));
        assert!(
            insurers[0].answers_for(&party_ref("P3")),
            "its own payments"
        );
    }

    #[test]
    fn the_amount_in_dispute_is_the_sum_of_the_compensation_items() {
        let mut b = accident_bundle();
        b.amount_in_dispute = Some(crate::fixtures::cny("60000.00"));
        let err = b.validate().unwrap_err();
        let said: Vec<String> = err.0.iter().map(ToString::to_string).collect();
        assert!(
            said.iter().any(|s| s
                == "amount_in_dispute: must equal the sum of the compensation items, 58000.00 CNY"),
            "{said:?}"
        );
    }

    #[test]
    fn the_sample_labour_and_accident_bundles_are_valid() {
        assert_eq!(fields(&labour_bundle()), Vec::<String>::new());
        assert_eq!(fields(&accident_bundle()), Vec::<String>::new());
    }

    #[test]
    fn labour_and_road_traffic_disputes_need_their_particulars() {
        let mut b = labour_bundle();
        b.particulars = None;
        assert_eq!(fields(&b), ["particulars"]);
        let mut b = sample_bundle();
        b.particulars = accident_bundle().particulars;
        assert_eq!(fields(&b), ["particulars"], "particulars of another domain");
    }

    #[test]
    fn labour_particulars_name_real_parties_and_a_natural_employee() {
        let mut b = labour_bundle();
        let Some(Particulars::Labour(l)) = &mut b.particulars else {
            unreachable!()
        };
        l.employee = party_ref("P2");
        l.employment_end = Some(jiff::civil::date(2020, 1, 1));
        let f = fields(&b);
        assert!(
            f.contains(&"particulars.labour.employee".to_owned()),
            "{f:?}"
        );
        assert!(
            f.contains(&"particulars.labour.employment_end".to_owned()),
            "{f:?}"
        );
        let Some(Particulars::Labour(l)) = &mut b.particulars else {
            unreachable!()
        };
        l.employee = party_ref("P9");
        assert!(fields(&b).contains(&"particulars.labour.employee".to_owned()));
    }

    #[test]
    fn accident_particulars_check_parties_grades_and_duplicates() {
        let mut b = accident_bundle();
        let Some(Particulars::RoadTraffic(a)) = &mut b.particulars else {
            unreachable!()
        };
        a.injuries[0].disability_grade = Some(11);
        a.vehicles[0].insurer = Some(party_ref("P2"));
        a.liability.push(a.liability[0].clone());
        assert_eq!(
            fields(&b),
            [
                "particulars.road_traffic.liability[2].party",
                "particulars.road_traffic.vehicles[0].insurer",
                "particulars.road_traffic.injuries[0].disability_grade",
            ]
        );
    }
}
