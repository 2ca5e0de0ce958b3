//! A bundle's labour or road-traffic particulars, both ways between the court
//! contract and the domain.

use mediation_core::Invalid;
use mediation_core::Violations;
use mediation_core::ids::PartyRef;
use mediation_core::money::Amount;
use mediation_core::particulars::{
    AccidentParticulars, CompensationItem, CompensationKind, Injury, LabourClaimItem,
    LabourClaimKind, LabourParticulars, Liability, LiabilityShare, Particulars, Vehicle,
};
use mediation_core::text::Line;
use mediation_proto::court::v1 as pb;
use pb::case_bundle::Particulars as Wire;

use super::bundle::money;
use crate::partner::fields::date;
use crate::time;

/// Table of wire enum values and domain values; the one place each mapping is
/// written, read both ways.
const LABOUR_CLAIMS: &[(pb::LabourClaimKind, LabourClaimKind)] = &[
    (
        pb::LabourClaimKind::UnpaidWages,
        LabourClaimKind::UnpaidWages,
    ),
    (
        pb::LabourClaimKind::OvertimePay,
        LabourClaimKind::OvertimePay,
    ),
    (
        pb::LabourClaimKind::SeveranceCompensation,
        LabourClaimKind::SeveranceCompensation,
    ),
    (
        pb::LabourClaimKind::UnlawfulDismissalDamages,
        LabourClaimKind::UnlawfulDismissalDamages,
    ),
    (
        pb::LabourClaimKind::DoubleWagesWithoutContract,
        LabourClaimKind::DoubleWagesWithoutContract,
    ),
    (
        pb::LabourClaimKind::SocialInsurance,
        LabourClaimKind::SocialInsurance,
    ),
    (
        pb::LabourClaimKind::WorkInjuryBenefits,
        LabourClaimKind::WorkInjuryBenefits,
    ),
    (pb::LabourClaimKind::Other, LabourClaimKind::Other),
];

const LIABILITIES: &[(pb::Liability, Liability)] = &[
    (pb::Liability::Full, Liability::Full),
    (pb::Liability::Main, Liability::Main),
    (pb::Liability::Equal, Liability::Equal),
    (pb::Liability::Secondary, Liability::Secondary),
    (pb::Liability::None, Liability::None),
];

const COMPENSATION: &[(pb::CompensationKind, CompensationKind)] = &[
    (
        pb::CompensationKind::MedicalExpenses,
        CompensationKind::MedicalExpenses,
    ),
    (
        pb::CompensationKind::LostEarnings,
        CompensationKind::LostEarnings,
    ),
    (
        pb::CompensationKind::NursingCare,
        CompensationKind::NursingCare,
    ),
    (pb::CompensationKind::Transport, CompensationKind::Transport),
    (
        pb::CompensationKind::DisabilityCompensation,
        CompensationKind::DisabilityCompensation,
    ),
    (
        pb::CompensationKind::DeathCompensation,
        CompensationKind::DeathCompensation,
    ),
    (
        pb::CompensationKind::FuneralExpenses,
        CompensationKind::FuneralExpenses,
    ),
    (
        pb::CompensationKind::DependantsLiving,
        CompensationKind::DependantsLiving,
    ),
    (
        pb::CompensationKind::MentalDistress,
        CompensationKind::MentalDistress,
    ),
    (
        pb::CompensationKind::PropertyLoss,
        CompensationKind::PropertyLoss,
    ),
    (pb::CompensationKind::Other, CompensationKind::Other),
];

fn from_table<W: Copy + Into<i32>, D: Copy>(
    what: &str,
    value: i32,
    table: &[(W, D)],
) -> Result<D, Invalid> {
    if value == 0 {
        return Err(Invalid::new(format!("{what} is required")));
    }
    table
        .iter()
        .find(|(w, _)| (*w).into() == value)
        .map(|(_, d)| *d)
        .ok_or_else(|| Invalid::new(format!("{value} is not a known {what}")))
}

fn to_table<W: Copy, D: Copy + PartialEq>(value: D, table: &[(W, D)]) -> Option<W> {
    table.iter().find(|(_, d)| *d == value).map(|(w, _)| *w)
}

fn optional<T>(
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, Invalid> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

fn amount(v: &mut Violations, path: String, m: Option<&pb::Money>) -> Option<Amount> {
    let Some(m) = m else {
        v.push(path, "is required");
        return None;
    };
    match money(m) {
        Ok(a) => Some(a),
        Err((field, e)) => {
            v.push(format!("{path}.{field}"), e.rule);
            None
        }
    }
}

/// Reads the particulars; `path` is the bundle's path in the request.
pub(crate) fn from_wire(
    v: &mut Violations,
    path: &str,
    wire: Option<&Wire>,
) -> Option<Option<Particulars>> {
    match wire {
        None => Some(None),
        Some(Wire::Labour(l)) => {
            labour(v, &format!("{path}.labour"), l).map(|l| Some(Particulars::Labour(l)))
        }
        Some(Wire::RoadTraffic(a)) => accident(v, &format!("{path}.road_traffic"), a)
            .map(|a| Some(Particulars::RoadTraffic(a))),
    }
}

fn labour(v: &mut Violations, path: &str, w: &pb::LabourParticulars) -> Option<LabourParticulars> {
    let at = |f: &str| format!("{path}.{f}");
    let employer = v.check(at("employer"), PartyRef::parse(&w.employer));
    let employee = v.check(at("employee"), PartyRef::parse(&w.employee));
    let start = v.check(at("employment_start"), date(&w.employment_start));
    let end = v.check(at("employment_end"), optional(&w.employment_end, date));
    let position = v.check(at("position"), optional(&w.position, Line::parse));
    let monthly_wage = match &w.monthly_wage {
        None => Some(None),
        Some(m) => amount(v, at("monthly_wage"), Some(m)).map(Some),
    };
    let committee = v.check(
        at("arbitration_committee"),
        optional(&w.arbitration_committee, Line::parse),
    );
    let items: Vec<Option<LabourClaimItem>> = w
        .claim_items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let kind = v.check(
                at(&format!("claim_items[{i}].kind")),
                from_table("labour claim kind", item.kind, LABOUR_CLAIMS),
            );
            let amount = amount(
                v,
                at(&format!("claim_items[{i}].amount")),
                item.amount.as_ref(),
            );
            Some(LabourClaimItem {
                kind: kind?,
                amount: amount?,
            })
        })
        .collect();
    Some(LabourParticulars {
        employer: employer?,
        employee: employee?,
        written_contract: w.written_contract,
        employment_start: start?,
        employment_end: end?,
        position: position?,
        monthly_wage: monthly_wage?,
        arbitration_committee: committee?,
        claim_items: items.into_iter().collect::<Option<_>>()?,
    })
}

fn accident(
    v: &mut Violations,
    path: &str,
    w: &pb::AccidentParticulars,
) -> Option<AccidentParticulars> {
    let at = |f: &str| format!("{path}.{f}");
    let certificate = v.check(at("certificate_number"), Line::parse(&w.certificate_number));
    let occurred_at = v.check(
        at("occurred_at"),
        w.occurred_at
            .as_ref()
            .ok_or_else(|| Invalid::new("is required"))
            .and_then(time::from_wire),
    );
    let place = v.check(at("place"), Line::parse(&w.place));
    let liability: Vec<Option<LiabilityShare>> = w
        .liability
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let party = v.check(
                at(&format!("liability[{i}].party")),
                PartyRef::parse(&s.party),
            );
            let liability = v.check(
                at(&format!("liability[{i}].liability")),
                from_table("liability", s.liability, LIABILITIES),
            );
            Some(LiabilityShare {
                party: party?,
                liability: liability?,
            })
        })
        .collect();
    let vehicles: Vec<Option<Vehicle>> = w
        .vehicles
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let f = |name: &str| at(&format!("vehicles[{i}].{name}"));
            let plate = v.check(f("plate"), Line::parse(&x.plate));
            let driver = v.check(f("driver"), optional(&x.driver, PartyRef::parse));
            let insurer = v.check(f("insurer"), optional(&x.insurer, PartyRef::parse));
            let compulsory = v.check(
                f("compulsory_policy"),
                optional(&x.compulsory_policy, Line::parse),
            );
            let commercial = v.check(
                f("commercial_policy"),
                optional(&x.commercial_policy, Line::parse),
            );
            Some(Vehicle {
                plate: plate?,
                driver: driver?,
                insurer: insurer?,
                compulsory_policy: compulsory?,
                commercial_policy: commercial?,
            })
        })
        .collect();
    let injuries: Vec<Option<Injury>> = w
        .injuries
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let party = v.check(
                at(&format!("injuries[{i}].party")),
                PartyRef::parse(&x.party),
            );
            let grade = v.check(
                at(&format!("injuries[{i}].disability_grade")),
                match x.disability_grade {
                    0 => Ok(None),
                    g @ 1..=10 => Ok(Some(g as u8)),
                    g => Err(Invalid::new(format!(
                        "must be from 1 to 10, or 0 when not assessed; got {g}"
                    ))),
                },
            );
            Some(Injury {
                party: party?,
                disability_grade: grade?,
                deceased: x.deceased,
            })
        })
        .collect();
    let compensation: Vec<Option<CompensationItem>> = w
        .compensation
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let kind = v.check(
                at(&format!("compensation[{i}].kind")),
                from_table("compensation kind", x.kind, COMPENSATION),
            );
            let amount = amount(
                v,
                at(&format!("compensation[{i}].amount")),
                x.amount.as_ref(),
            );
            Some(CompensationItem {
                kind: kind?,
                amount: amount?,
            })
        })
        .collect();
    Some(AccidentParticulars {
        certificate_number: certificate?,
        occurred_at: occurred_at?,
        place: place?,
        liability: liability.into_iter().collect::<Option<_>>()?,
        vehicles: vehicles.into_iter().collect::<Option<_>>()?,
        injuries: injuries.into_iter().collect::<Option<_>>()?,
        compensation: compensation.into_iter().collect::<Option<_>>()?,
    })
}

fn money_to_wire(a: &Amount) -> pb::Money {
    pb::Money {
        amount: a.decimal(),
        currency: a.currency.to_string(),
    }
}

fn text(value: Option<&impl ToString>) -> String {
    value.map(ToString::to_string).unwrap_or_default()
}

fn enum_value<W: Copy + Into<i32>, D: Copy + PartialEq>(value: D, table: &[(W, D)]) -> i32 {
    to_table(value, table).map_or(0, Into::into)
}

pub(crate) fn to_wire(p: &Particulars) -> Wire {
    match p {
        Particulars::Labour(l) => Wire::Labour(pb::LabourParticulars {
            employer: l.employer.to_string(),
            employee: l.employee.to_string(),
            written_contract: l.written_contract,
            employment_start: l.employment_start.to_string(),
            employment_end: text(l.employment_end.as_ref()),
            position: text(l.position.as_ref()),
            monthly_wage: l.monthly_wage.as_ref().map(money_to_wire),
            arbitration_committee: text(l.arbitration_committee.as_ref()),
            claim_items: l
                .claim_items
                .iter()
                .map(|i| pb::LabourClaimItem {
                    kind: enum_value(i.kind, LABOUR_CLAIMS),
                    amount: Some(money_to_wire(&i.amount)),
                })
                .collect(),
        }),
        Particulars::RoadTraffic(a) => Wire::RoadTraffic(pb::AccidentParticulars {
            certificate_number: a.certificate_number.to_string(),
            occurred_at: Some(time::to_wire(a.occurred_at)),
            place: a.place.to_string(),
            liability: a
                .liability
                .iter()
                .map(|s| pb::LiabilityShare {
                    party: s.party.to_string(),
                    liability: enum_value(s.liability, LIABILITIES),
                })
                .collect(),
            vehicles: a
                .vehicles
                .iter()
                .map(|x| pb::Vehicle {
                    plate: x.plate.to_string(),
                    driver: text(x.driver.as_ref()),
                    insurer: text(x.insurer.as_ref()),
                    compulsory_policy: text(x.compulsory_policy.as_ref()),
                    commercial_policy: text(x.commercial_policy.as_ref()),
                })
                .collect(),
            injuries: a
                .injuries
                .iter()
                .map(|x| pb::Injury {
                    party: x.party.to_string(),
                    disability_grade: x.disability_grade.map_or(0, u32::from),
                    deceased: x.deceased,
                })
                .collect(),
            compensation: a
                .compensation
                .iter()
                .map(|x| pb::CompensationItem {
                    kind: enum_value(x.kind, COMPENSATION),
                    amount: Some(money_to_wire(&x.amount)),
                })
                .collect(),
        }),
    }
}
