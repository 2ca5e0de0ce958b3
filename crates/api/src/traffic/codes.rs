//! The platform's string codes, both ways.

use mediation_core::Invalid;
use mediation_core::outcome::PerformanceStatus;
use mediation_core::particulars::{CompensationKind, Liability};

use crate::partner::codes::pick;

const ITEMS: &[(&str, CompensationKind, &str)] = &[
    ("MEDICAL", CompensationKind::MedicalExpenses, "医疗费"),
    ("LOST_EARNINGS", CompensationKind::LostEarnings, "误工费"),
    ("NURSING", CompensationKind::NursingCare, "护理费"),
    ("TRANSPORT", CompensationKind::Transport, "交通费"),
    (
        "DISABILITY",
        CompensationKind::DisabilityCompensation,
        "残疾赔偿金",
    ),
    ("DEATH", CompensationKind::DeathCompensation, "死亡赔偿金"),
    ("FUNERAL", CompensationKind::FuneralExpenses, "丧葬费"),
    (
        "DEPENDANTS",
        CompensationKind::DependantsLiving,
        "被扶养人生活费",
    ),
    (
        "MENTAL_DISTRESS",
        CompensationKind::MentalDistress,
        "精神损害抚慰金",
    ),
    ("PROPERTY", CompensationKind::PropertyLoss, "财产损失"),
    ("OTHER", CompensationKind::Other, "其他费用"),
];

pub(crate) fn item(value: &str) -> Result<CompensationKind, Invalid> {
    let table: Vec<(&str, CompensationKind)> = ITEMS.iter().map(|(c, k, _)| (*c, *k)).collect();
    pick("compensation item", value, &table)
}

pub(crate) fn item_code(kind: CompensationKind) -> &'static str {
    ITEMS
        .iter()
        .find(|(_, k, _)| *k == kind)
        .map_or("OTHER", |(c, _, _)| c)
}

pub(crate) fn item_name(kind: CompensationKind) -> &'static str {
    ITEMS
        .iter()
        .find(|(_, k, _)| *k == kind)
        .map_or("其他费用", |(_, _, n)| n)
}

pub(crate) fn liability_code(liability: Liability) -> &'static str {
    match liability {
        Liability::Full => "FULL",
        Liability::Main => "MAIN",
        Liability::Equal => "EQUAL",
        Liability::Secondary => "SECONDARY",
        Liability::None => "NONE",
    }
}

pub(crate) fn payment(value: &str) -> Result<PerformanceStatus, Invalid> {
    pick(
        "payment status",
        value,
        &[
            ("PAID", PerformanceStatus::PerformedVoluntarily),
            ("PARTLY_PAID", PerformanceStatus::PartlyPerformed),
            ("UNPAID", PerformanceStatus::NotPerformed),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_map_both_ways_and_unknown_ones_are_named() {
        for (code, kind, _) in ITEMS {
            assert_eq!(item(code).unwrap(), *kind);
            assert_eq!(item_code(*kind), *code);
        }
        let e = item("CAR_WASH").unwrap_err();
        assert!(
            e.rule
                .contains("\"CAR_WASH\" is not a known compensation item"),
            "{e}"
        );
    }
}
