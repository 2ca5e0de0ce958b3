//! The platform's enums to and from the domain's values.

use mediation_core::Invalid;
use mediation_core::outcome::{DeclineCode, PerformanceStatus, RulingOutcome};
use mediation_core::particulars::LabourClaimKind;
use mediation_proto::labour::v1 as pb;

const CLAIMS: &[(pb::ClaimKind, LabourClaimKind, &str)] = &[
    (
        pb::ClaimKind::UnpaidWages,
        LabourClaimKind::UnpaidWages,
        "拖欠工资",
    ),
    (
        pb::ClaimKind::OvertimePay,
        LabourClaimKind::OvertimePay,
        "加班费",
    ),
    (
        pb::ClaimKind::Severance,
        LabourClaimKind::SeveranceCompensation,
        "经济补偿金",
    ),
    (
        pb::ClaimKind::UnlawfulDismissal,
        LabourClaimKind::UnlawfulDismissalDamages,
        "违法解除劳动合同赔偿金",
    ),
    (
        pb::ClaimKind::DoubleWages,
        LabourClaimKind::DoubleWagesWithoutContract,
        "未签书面劳动合同二倍工资差额",
    ),
    (
        pb::ClaimKind::SocialInsurance,
        LabourClaimKind::SocialInsurance,
        "社会保险费",
    ),
    (
        pb::ClaimKind::WorkInjury,
        LabourClaimKind::WorkInjuryBenefits,
        "工伤保险待遇",
    ),
    (pb::ClaimKind::Other, LabourClaimKind::Other, "其他"),
];

fn required(what: &str, value: i32) -> Invalid {
    if value == 0 {
        Invalid::new(format!("{what} is required"))
    } else {
        Invalid::new(format!("{value} is not a known {what}"))
    }
}

pub(crate) fn claim_kind(value: i32) -> Result<LabourClaimKind, Invalid> {
    CLAIMS
        .iter()
        .find(|(w, _, _)| i32::from(*w) == value)
        .map(|(_, d, _)| *d)
        .ok_or_else(|| required("claim kind", value))
}

pub(crate) fn claim_to_wire(kind: LabourClaimKind) -> pb::ClaimKind {
    CLAIMS
        .iter()
        .find(|(_, d, _)| *d == kind)
        .map_or(pb::ClaimKind::Other, |(w, _, _)| *w)
}

/// The head of claim as an agreement's terms name it.
pub(crate) fn claim_name(kind: LabourClaimKind) -> &'static str {
    CLAIMS
        .iter()
        .find(|(_, d, _)| *d == kind)
        .map_or("其他", |(_, _, n)| n)
}

pub(crate) fn decline(value: i32) -> Result<DeclineCode, Invalid> {
    match pb::DeclineReason::try_from(value) {
        Ok(pb::DeclineReason::NotALabourDispute) => Ok(DeclineCode::OutsideScope),
        Ok(pb::DeclineReason::ConflictOfInterest) => Ok(DeclineCode::ConflictOfInterest),
        Ok(pb::DeclineReason::NoCapacity) => Ok(DeclineCode::NoCapacity),
        Ok(pb::DeclineReason::PartiesUnreachable) => Ok(DeclineCode::PartiesUnreachable),
        Ok(pb::DeclineReason::PartyRefused) => Ok(DeclineCode::PartyRefused),
        Ok(pb::DeclineReason::Other) => Ok(DeclineCode::Other),
        _ => Err(required("decline reason", value)),
    }
}

pub(crate) fn performance(value: i32) -> Result<PerformanceStatus, Invalid> {
    match pb::Performance::try_from(value) {
        Ok(pb::Performance::PaidInFull) => Ok(PerformanceStatus::PerformedVoluntarily),
        Ok(pb::Performance::PartlyPaid) => Ok(PerformanceStatus::PartlyPerformed),
        Ok(pb::Performance::NotPaid) => Ok(PerformanceStatus::NotPerformed),
        _ => Err(required("performance", value)),
    }
}

pub(crate) fn ruling(outcome: RulingOutcome) -> pb::RulingOutcome {
    match outcome {
        RulingOutcome::Confirmed => pb::RulingOutcome::Confirmed,
        RulingOutcome::NotAccepted => pb::RulingOutcome::NotAccepted,
        RulingOutcome::Dismissed => pb::RulingOutcome::Dismissed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_kinds_map_both_ways_and_zero_is_required() {
        for (wire, kind, _) in CLAIMS {
            assert_eq!(claim_kind(i32::from(*wire)).unwrap(), *kind);
            assert_eq!(claim_to_wire(*kind), *wire);
        }
        assert!(claim_kind(0).unwrap_err().rule.contains("is required"));
        assert!(decline(42).unwrap_err().rule.contains("42 is not a known"));
    }
}
