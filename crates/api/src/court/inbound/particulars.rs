//! A bundle's labour or road-traffic particulars, from the court contract to
//! the domain.

use mediation_core::Invalid;
use mediation_core::Violations;
use mediation_core::ids::PartyRef;
use mediation_core::particulars::{
    AccidentParticulars, CompensationItem, Injury, LabourClaimItem, LabourParticulars,
    LiabilityShare, Particulars, Vehicle,
};
use mediation_core::text::Line;
use mediation_proto::court::v1 as pb;
use pb::case_bundle::Particulars as Wire;

use super::super::codes::{COMPENSATION, LABOUR_CLAIMS, LIABILITIES};
use crate::wire::read::{date, optional, optional_money, required_money, required_time};

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
    let monthly_wage = optional_money(v, &at("monthly_wage"), w.monthly_wage.as_ref());
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
                LABOUR_CLAIMS.read_number(item.kind),
            );
            let amount = required_money(
                v,
                &at(&format!("claim_items[{i}].amount")),
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
    let occurred_at = required_time(v, &at("occurred_at"), w.occurred_at.as_ref());
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
                LIABILITIES.read_number(s.liability),
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
            let insurer_name = v.check(f("insurer_name"), optional(&x.insurer_name, Line::parse));
            Some(Vehicle {
                plate: plate?,
                driver: driver?,
                insurer: insurer?,
                compulsory_policy: compulsory?,
                commercial_policy: commercial?,
                insurer_name: insurer_name?,
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
                COMPENSATION.read_number(x.kind),
            );
            let amount = required_money(
                v,
                &at(&format!("compensation[{i}].amount")),
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
