//! The operations contract's enums and the domain's values, read both ways.

use mediation_core::alert::{AlertKind, Severity};
use mediation_proto::operations::v1 as pb;

use crate::wire::CodeTable;

pub(crate) const ALERT_KINDS: CodeTable<pb::AlertKind, AlertKind> = CodeTable::new(
    "alert kind",
    &[
        (
            pb::AlertKind::AcceptanceWarning,
            AlertKind::AcceptanceWarning,
        ),
        (pb::AlertKind::AcceptanceBreach, AlertKind::AcceptanceBreach),
        (pb::AlertKind::MediationWarning, AlertKind::MediationWarning),
        (pb::AlertKind::MediationBreach, AlertKind::MediationBreach),
        (pb::AlertKind::DeadLetter, AlertKind::DeadLetter),
        (
            pb::AlertKind::CalendarYearMissing,
            AlertKind::CalendarYearMissing,
        ),
        (
            pb::AlertKind::DestinationUnreachable,
            AlertKind::DestinationUnreachable,
        ),
        (
            pb::AlertKind::ShamMediationReported,
            AlertKind::ShamMediationReported,
        ),
        (
            pb::AlertKind::AppraisalOverlong,
            AlertKind::AppraisalOverlong,
        ),
        (
            pb::AlertKind::ArbitrationAvailable,
            AlertKind::ArbitrationAvailable,
        ),
        (
            pb::AlertKind::CourtDecisionOverdue,
            AlertKind::CourtDecisionOverdue,
        ),
    ],
);

pub(crate) const SEVERITIES: CodeTable<pb::Severity, Severity> = CodeTable::new(
    "severity",
    &[
        (pb::Severity::Warning, Severity::Warning),
        (pb::Severity::Critical, Severity::Critical),
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_alert_kind_has_a_wire_code_and_back() {
        for kind in AlertKind::ALL {
            let wire = ALERT_KINDS.wire_of(kind).unwrap();
            assert_eq!(ALERT_KINDS.domain_of(wire), Some(kind));
            assert!(SEVERITIES.wire_of(kind.severity()).is_some());
        }
        assert_eq!(ALERT_KINDS.pairs().len(), AlertKind::ALL.len());
    }
}
