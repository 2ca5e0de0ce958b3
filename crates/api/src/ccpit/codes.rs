//! The CCPIT platform's string codes, both ways. The codes it shares with the
//! other platforms are in [`crate::partner::codes`].

use mediation_core::outcome::PerformanceStatus;

use crate::wire::CodeTable;

pub(crate) use crate::partner::codes::{DECLINE_CODES, DOCUMENT_TYPES, RULINGS};

pub(crate) const PERFORMANCE: CodeTable<&str, PerformanceStatus> = CodeTable::new(
    "performance status",
    &[
        (
            "PERFORMED_VOLUNTARILY",
            PerformanceStatus::PerformedVoluntarily,
        ),
        ("PARTLY_PERFORMED", PerformanceStatus::PartlyPerformed),
        ("NOT_PERFORMED", PerformanceStatus::NotPerformed),
    ],
);

/// Who signed an agreement, as the platform sorts signers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignerType {
    Centre,
    Mediator,
    Party,
}

pub(crate) const SIGNER_TYPES: CodeTable<&str, SignerType> = CodeTable::new(
    "signer type",
    &[
        ("CENTRE", SignerType::Centre),
        ("MEDIATOR", SignerType::Mediator),
        ("PARTY", SignerType::Party),
    ],
);
