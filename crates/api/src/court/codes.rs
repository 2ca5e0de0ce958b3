//! The court contract's enums and the domain's values, one table each, read
//! both ways.

use mediation_core::bundle::{
    ConsentMethod, DisputeDomain, PartyRole, PersonKind, Procedure, TrialStage,
};
use mediation_core::identity::IdentityKind;
use mediation_core::lifecycle::Status;
use mediation_core::particulars::{CompensationKind, LabourClaimKind, Liability};
use mediation_proto::court::v1 as pb;

use crate::wire::CodeTable;

pub(crate) const TRIAL_STAGES: CodeTable<pb::TrialStage, TrialStage> = CodeTable::new(
    "trial stage of an entrusted referral",
    &[
        (pb::TrialStage::FirstInstance, TrialStage::FirstInstance),
        (pb::TrialStage::SecondInstance, TrialStage::SecondInstance),
        (pb::TrialStage::Retrial, TrialStage::Retrial),
    ],
);

pub(crate) const PROCEDURES: CodeTable<pb::Procedure, Procedure> = CodeTable::new(
    "procedure of an entrusted referral",
    &[
        (pb::Procedure::Ordinary, Procedure::Ordinary),
        (pb::Procedure::Summary, Procedure::Summary),
    ],
);

pub(crate) const DOMAINS: CodeTable<pb::DisputeDomain, DisputeDomain> = CodeTable::new(
    "dispute domain",
    &[
        (pb::DisputeDomain::Commercial, DisputeDomain::Commercial),
        (pb::DisputeDomain::Labour, DisputeDomain::Labour),
        (pb::DisputeDomain::RoadTraffic, DisputeDomain::RoadTraffic),
        (pb::DisputeDomain::Other, DisputeDomain::Other),
    ],
);

pub(crate) const IDENTITY_KINDS: CodeTable<pb::IdentityKind, IdentityKind> = CodeTable::new(
    "identity document kind",
    &[
        (
            pb::IdentityKind::ResidentIdCard,
            IdentityKind::ResidentIdCard,
        ),
        (
            pb::IdentityKind::ForeignPermanentResidentIdCard,
            IdentityKind::ForeignPermanentResidentIdCard,
        ),
        (
            pb::IdentityKind::HongKongMacaoPermit,
            IdentityKind::HongKongMacaoPermit,
        ),
        (pb::IdentityKind::TaiwanPermit, IdentityKind::TaiwanPermit),
        (pb::IdentityKind::Passport, IdentityKind::Passport),
        (
            pb::IdentityKind::UnifiedSocialCreditCode,
            IdentityKind::UnifiedSocialCreditCode,
        ),
        (
            pb::IdentityKind::ForeignRegistration,
            IdentityKind::ForeignRegistration,
        ),
    ],
);

pub(crate) const PARTY_ROLES: CodeTable<pb::PartyRole, PartyRole> = CodeTable::new(
    "party role",
    &[
        (pb::PartyRole::Claimant, PartyRole::Claimant),
        (pb::PartyRole::Respondent, PartyRole::Respondent),
        (pb::PartyRole::ThirdParty, PartyRole::ThirdParty),
    ],
);

pub(crate) const PERSON_KINDS: CodeTable<pb::PersonKind, PersonKind> = CodeTable::new(
    "person kind",
    &[
        (pb::PersonKind::Natural, PersonKind::Natural),
        (pb::PersonKind::Legal, PersonKind::Legal),
    ],
);

pub(crate) const CONSENT_METHODS: CodeTable<pb::ConsentMethod, ConsentMethod> = CodeTable::new(
    "consent method",
    &[
        (pb::ConsentMethod::Written, ConsentMethod::Written),
        (pb::ConsentMethod::Online, ConsentMethod::Online),
        (pb::ConsentMethod::RecordedOral, ConsentMethod::RecordedOral),
    ],
);

pub(crate) const STATUSES: CodeTable<pb::ReferralStatus, Status> = CodeTable::new(
    "referral status",
    &[
        (pb::ReferralStatus::Received, Status::Received),
        (
            pb::ReferralStatus::AwaitingAcceptance,
            Status::AwaitingAcceptance,
        ),
        (pb::ReferralStatus::Declined, Status::Declined),
        (
            pb::ReferralStatus::AcceptanceOverdue,
            Status::AcceptanceOverdue,
        ),
        (pb::ReferralStatus::InMediation, Status::InMediation),
        (
            pb::ReferralStatus::SuspendedForAppraisal,
            Status::SuspendedForAppraisal,
        ),
        (
            pb::ReferralStatus::MediationOverdue,
            Status::MediationOverdue,
        ),
        (pb::ReferralStatus::Agreed, Status::Agreed),
        (
            pb::ReferralStatus::ConfirmationRequested,
            Status::ConfirmationRequested,
        ),
        (pb::ReferralStatus::Confirmed, Status::Confirmed),
        (
            pb::ReferralStatus::ConfirmationRefused,
            Status::ConfirmationRefused,
        ),
        (pb::ReferralStatus::MediationFailed, Status::MediationFailed),
        (
            pb::ReferralStatus::ShamMediationReported,
            Status::ShamMediationReported,
        ),
        (pb::ReferralStatus::ReturnedToCourt, Status::ReturnedToCourt),
        (pb::ReferralStatus::Recalled, Status::Recalled),
        (pb::ReferralStatus::Concluded, Status::Concluded),
    ],
);

pub(crate) const LABOUR_CLAIMS: CodeTable<pb::LabourClaimKind, LabourClaimKind> = CodeTable::new(
    "labour claim kind",
    &[
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
    ],
);

pub(crate) const LIABILITIES: CodeTable<pb::Liability, Liability> = CodeTable::new(
    "liability",
    &[
        (pb::Liability::Full, Liability::Full),
        (pb::Liability::Main, Liability::Main),
        (pb::Liability::Equal, Liability::Equal),
        (pb::Liability::Secondary, Liability::Secondary),
        (pb::Liability::None, Liability::None),
    ],
);

pub(crate) const COMPENSATION: CodeTable<pb::CompensationKind, CompensationKind> = CodeTable::new(
    "compensation kind",
    &[
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
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_wire_code_and_back() {
        for status in Status::ALL {
            let wire = STATUSES.wire_of(status).unwrap();
            assert_eq!(STATUSES.domain_of(wire), Some(status));
        }
        assert_eq!(STATUSES.pairs().len(), Status::ALL.len());
    }

    #[test]
    fn the_particulars_tables_read_both_ways() {
        for (wire, kind) in LABOUR_CLAIMS.pairs() {
            assert_eq!(LABOUR_CLAIMS.read_number((*wire).into()).unwrap(), *kind);
            assert_eq!(LABOUR_CLAIMS.wire_of(*kind), Some(*wire));
        }
        for (wire, kind) in COMPENSATION.pairs() {
            assert_eq!(COMPENSATION.read_number((*wire).into()).unwrap(), *kind);
        }
        for (wire, kind) in IDENTITY_KINDS.pairs() {
            assert_eq!(IDENTITY_KINDS.read_number((*wire).into()).unwrap(), *kind);
        }
    }
}
