//! The labour platform's enums to and from the domain's values.

use mediation_core::outcome::{DeclineCode, EarlyEnd, PerformanceStatus, RulingOutcome};
use mediation_core::particulars::LabourClaimKind;
use mediation_proto::labour::v1 as pb;

use crate::wire::CodeTable;

pub(crate) const CLAIM_KINDS: CodeTable<pb::ClaimKind, LabourClaimKind> = CodeTable::new(
    "claim kind",
    &[
        (pb::ClaimKind::UnpaidWages, LabourClaimKind::UnpaidWages),
        (pb::ClaimKind::OvertimePay, LabourClaimKind::OvertimePay),
        (
            pb::ClaimKind::Severance,
            LabourClaimKind::SeveranceCompensation,
        ),
        (
            pb::ClaimKind::UnlawfulDismissal,
            LabourClaimKind::UnlawfulDismissalDamages,
        ),
        (
            pb::ClaimKind::DoubleWages,
            LabourClaimKind::DoubleWagesWithoutContract,
        ),
        (
            pb::ClaimKind::SocialInsurance,
            LabourClaimKind::SocialInsurance,
        ),
        (
            pb::ClaimKind::WorkInjury,
            LabourClaimKind::WorkInjuryBenefits,
        ),
        (pb::ClaimKind::Other, LabourClaimKind::Other),
    ],
);

/// The head of claim as an agreement's terms name it.
pub(crate) const CLAIM_NAMES: CodeTable<&str, LabourClaimKind> = CodeTable::new(
    "head of claim",
    &[
        ("拖欠工资", LabourClaimKind::UnpaidWages),
        ("加班费", LabourClaimKind::OvertimePay),
        ("经济补偿金", LabourClaimKind::SeveranceCompensation),
        (
            "违法解除劳动合同赔偿金",
            LabourClaimKind::UnlawfulDismissalDamages,
        ),
        (
            "未签书面劳动合同二倍工资差额",
            LabourClaimKind::DoubleWagesWithoutContract,
        ),
        ("社会保险费", LabourClaimKind::SocialInsurance),
        ("工伤保险待遇", LabourClaimKind::WorkInjuryBenefits),
        ("其他", LabourClaimKind::Other),
    ],
);

pub(crate) const DECLINE_REASONS: CodeTable<pb::DeclineReason, DeclineCode> = CodeTable::new(
    "decline reason",
    &[
        (
            pb::DeclineReason::NotALabourDispute,
            DeclineCode::OutsideScope,
        ),
        (
            pb::DeclineReason::ConflictOfInterest,
            DeclineCode::ConflictOfInterest,
        ),
        (pb::DeclineReason::NoCapacity, DeclineCode::NoCapacity),
        (
            pb::DeclineReason::PartiesUnreachable,
            DeclineCode::PartiesUnreachable,
        ),
        (pb::DeclineReason::PartyRefused, DeclineCode::PartyRefused),
        (pb::DeclineReason::Other, DeclineCode::Other),
    ],
);

pub(crate) const EARLY_ENDS: CodeTable<pb::EndGround, EarlyEnd> = CodeTable::new(
    "ground for ending mediation",
    &[
        (pb::EndGround::PartyWithdrew, EarlyEnd::PartyWithdrew),
        (pb::EndGround::PartyUnreachable, EarlyEnd::PartyUnreachable),
        (pb::EndGround::RefusedToSign, EarlyEnd::RefusedToSign),
        (pb::EndGround::Unsuitable, EarlyEnd::Unsuitable),
    ],
);

pub(crate) const PERFORMANCE: CodeTable<pb::Performance, PerformanceStatus> = CodeTable::new(
    "performance",
    &[
        (
            pb::Performance::PaidInFull,
            PerformanceStatus::PerformedVoluntarily,
        ),
        (
            pb::Performance::PartlyPaid,
            PerformanceStatus::PartlyPerformed,
        ),
        (pb::Performance::NotPaid, PerformanceStatus::NotPerformed),
    ],
);

pub(crate) const RULINGS: CodeTable<pb::RulingOutcome, RulingOutcome> = CodeTable::new(
    "ruling outcome",
    &[
        (pb::RulingOutcome::Confirmed, RulingOutcome::Confirmed),
        (pb::RulingOutcome::NotAccepted, RulingOutcome::NotAccepted),
        (pb::RulingOutcome::Dismissed, RulingOutcome::Dismissed),
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_kinds_map_both_ways_and_have_names() {
        for (wire, kind) in CLAIM_KINDS.pairs() {
            assert_eq!(CLAIM_KINDS.read_number((*wire).into()).unwrap(), *kind);
            assert_eq!(CLAIM_KINDS.wire_of(*kind), Some(*wire));
            assert!(!CLAIM_NAMES.code(*kind).is_empty(), "{kind:?}");
        }
        assert_eq!(
            CLAIM_KINDS.read_number(0).unwrap_err().rule,
            "claim kind is required"
        );
        assert!(
            DECLINE_REASONS
                .read_number(42)
                .unwrap_err()
                .rule
                .starts_with("42 is not a known decline reason; expected one of ")
        );
    }
}
