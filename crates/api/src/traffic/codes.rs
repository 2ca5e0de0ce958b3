//! The road-traffic platform's string codes, both ways.

use mediation_core::outcome::PerformanceStatus;
use mediation_core::particulars::{CompensationKind, Liability};

use crate::wire::CodeTable;

/// The standard heads of compensation.
pub(crate) const ITEMS: CodeTable<&str, CompensationKind> = CodeTable::new(
    "compensation item",
    &[
        ("MEDICAL", CompensationKind::MedicalExpenses),
        ("LOST_EARNINGS", CompensationKind::LostEarnings),
        ("NURSING", CompensationKind::NursingCare),
        ("TRANSPORT", CompensationKind::Transport),
        ("DISABILITY", CompensationKind::DisabilityCompensation),
        ("DEATH", CompensationKind::DeathCompensation),
        ("FUNERAL", CompensationKind::FuneralExpenses),
        ("DEPENDANTS", CompensationKind::DependantsLiving),
        ("MENTAL_DISTRESS", CompensationKind::MentalDistress),
        ("PROPERTY", CompensationKind::PropertyLoss),
        ("OTHER", CompensationKind::Other),
    ],
);

/// The head of compensation as an agreement's terms name it.
pub(crate) const ITEM_NAMES: CodeTable<&str, CompensationKind> = CodeTable::new(
    "head of compensation",
    &[
        ("医疗费", CompensationKind::MedicalExpenses),
        ("误工费", CompensationKind::LostEarnings),
        ("护理费", CompensationKind::NursingCare),
        ("交通费", CompensationKind::Transport),
        ("残疾赔偿金", CompensationKind::DisabilityCompensation),
        ("死亡赔偿金", CompensationKind::DeathCompensation),
        ("丧葬费", CompensationKind::FuneralExpenses),
        ("被扶养人生活费", CompensationKind::DependantsLiving),
        ("精神损害抚慰金", CompensationKind::MentalDistress),
        ("财产损失", CompensationKind::PropertyLoss),
        ("其他费用", CompensationKind::Other),
    ],
);

pub(crate) const LIABILITIES: CodeTable<&str, Liability> = CodeTable::new(
    "liability",
    &[
        ("FULL", Liability::Full),
        ("MAIN", Liability::Main),
        ("EQUAL", Liability::Equal),
        ("SECONDARY", Liability::Secondary),
        ("NONE", Liability::None),
    ],
);

pub(crate) const PAYMENTS: CodeTable<&str, PerformanceStatus> = CodeTable::new(
    "payment status",
    &[
        ("PAID", PerformanceStatus::PerformedVoluntarily),
        ("PARTLY_PAID", PerformanceStatus::PartlyPerformed),
        ("UNPAID", PerformanceStatus::NotPerformed),
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_map_both_ways_and_have_names() {
        for (code, kind) in ITEMS.pairs() {
            assert_eq!(ITEMS.read(code).unwrap(), *kind);
            assert_eq!(ITEMS.code(*kind), *code);
            assert!(!ITEM_NAMES.code(*kind).is_empty(), "{kind:?}");
        }
        assert!(
            ITEMS.read("CAR_WASH").unwrap_err().rule.starts_with(
                "\"CAR_WASH\" is not a known compensation item; expected one of MEDICAL"
            )
        );
    }
}
