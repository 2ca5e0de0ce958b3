//! A bundle's labour or road-traffic particulars as the court contract
//! carries them.

use mediation_core::particulars::Particulars;
use mediation_proto::court::v1 as pb;
use pb::case_bundle::Particulars as Wire;

use super::super::codes::{COMPENSATION, LABOUR_CLAIMS, LIABILITIES};
use crate::time;
use crate::wire::write::{money, text};

pub(crate) fn to_wire(p: &Particulars) -> Wire {
    match p {
        Particulars::Labour(l) => Wire::Labour(pb::LabourParticulars {
            employer: l.employer.to_string(),
            employee: l.employee.to_string(),
            written_contract: l.written_contract,
            employment_start: l.employment_start.to_string(),
            employment_end: text(l.employment_end.as_ref()),
            position: text(l.position.as_ref()),
            monthly_wage: l.monthly_wage.as_ref().map(money),
            arbitration_committee: text(l.arbitration_committee.as_ref()),
            claim_items: l
                .claim_items
                .iter()
                .map(|i| pb::LabourClaimItem {
                    kind: LABOUR_CLAIMS.number(i.kind),
                    amount: Some(money(&i.amount)),
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
                    liability: LIABILITIES.number(s.liability),
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
                    insurer_name: text(x.insurer_name.as_ref()),
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
                    kind: COMPENSATION.number(x.kind),
                    amount: Some(money(&x.amount)),
                })
                .collect(),
        }),
    }
}
