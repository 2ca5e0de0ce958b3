//! The platform's string codes, both ways. An unknown or missing code is an
//! error naming the field.

use mediation_core::Invalid;

pub(crate) use crate::partner::codes::{
    decline_code, document_code, document_type, is_foreign, pick, ruling_code,
};
use mediation_core::outcome::PerformanceStatus;

pub(crate) fn performance(value: &str) -> Result<PerformanceStatus, Invalid> {
    pick(
        "performance status",
        value,
        &[
            (
                "PERFORMED_VOLUNTARILY",
                PerformanceStatus::PerformedVoluntarily,
            ),
            ("PARTLY_PERFORMED", PerformanceStatus::PartlyPerformed),
            ("NOT_PERFORMED", PerformanceStatus::NotPerformed),
        ],
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignerType {
    Centre,
    Mediator,
    Party,
}

pub(crate) fn signer_type(value: &str) -> Result<SignerType, Invalid> {
    pick(
        "signer type",
        value,
        &[
            ("CENTRE", SignerType::Centre),
            ("MEDIATOR", SignerType::Mediator),
            ("PARTY", SignerType::Party),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_codes_are_named() {
        let e = document_type("DRIVING_LICENCE").unwrap_err();
        assert!(
            e.rule
                .contains("\"DRIVING_LICENCE\" is not a known document type"),
            "{e}"
        );
        assert!(e.rule.contains("PASSPORT"), "{e}");
        assert!(decline_code("").unwrap_err().rule.contains("is required"));
    }
}
