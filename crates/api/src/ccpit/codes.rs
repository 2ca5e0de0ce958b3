//! The platform's string codes, both ways. An unknown or missing code is an
//! error naming the field.

use mediation_core::Invalid;
use mediation_core::identity::IdentityKind;
use mediation_core::outcome::{DeclineCode, PerformanceStatus, RulingOutcome};

fn pick<T: Copy>(field_what: &str, value: &str, table: &[(&str, T)]) -> Result<T, Invalid> {
    if value.trim().is_empty() {
        return Err(Invalid::new(format!("{field_what} is required")));
    }
    table
        .iter()
        .find(|(code, _)| *code == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let known: Vec<&str> = table.iter().map(|(c, _)| *c).collect();
            Invalid::new(format!(
                "{value:?} is not a known {field_what}; expected one of {}",
                known.join(", ")
            ))
        })
}

const DOCUMENTS: &[(&str, IdentityKind)] = &[
    ("ID_CARD", IdentityKind::ResidentIdCard),
    (
        "FOREIGN_PR_CARD",
        IdentityKind::ForeignPermanentResidentIdCard,
    ),
    ("HK_MACAO_PERMIT", IdentityKind::HongKongMacaoPermit),
    ("TAIWAN_PERMIT", IdentityKind::TaiwanPermit),
    ("PASSPORT", IdentityKind::Passport),
    ("USCC", IdentityKind::UnifiedSocialCreditCode),
    ("FOREIGN_REGISTRATION", IdentityKind::ForeignRegistration),
];

pub(crate) fn document_type(value: &str) -> Result<IdentityKind, Invalid> {
    pick("document type", value, DOCUMENTS)
}

pub(crate) fn document_code(kind: IdentityKind) -> &'static str {
    DOCUMENTS
        .iter()
        .find(|(_, k)| *k == kind)
        .map_or("", |(c, _)| c)
}

/// Documents that mark a party as foreign or from Hong Kong, Macao or Taiwan.
pub(crate) fn is_foreign(kind: IdentityKind) -> bool {
    matches!(
        kind,
        IdentityKind::ForeignPermanentResidentIdCard
            | IdentityKind::HongKongMacaoPermit
            | IdentityKind::TaiwanPermit
            | IdentityKind::Passport
            | IdentityKind::ForeignRegistration
    )
}

pub(crate) fn decline_code(value: &str) -> Result<DeclineCode, Invalid> {
    pick(
        "decline reason code",
        value,
        &[
            ("OUTSIDE_SCOPE", DeclineCode::OutsideScope),
            ("CONFLICT_OF_INTEREST", DeclineCode::ConflictOfInterest),
            ("NO_CAPACITY", DeclineCode::NoCapacity),
            ("PARTIES_UNREACHABLE", DeclineCode::PartiesUnreachable),
            ("PARTY_REFUSED", DeclineCode::PartyRefused),
            ("OTHER", DeclineCode::Other),
        ],
    )
}

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

pub(crate) fn ruling_code(outcome: RulingOutcome) -> &'static str {
    match outcome {
        RulingOutcome::Confirmed => "CONFIRMED",
        RulingOutcome::NotAccepted => "NOT_ACCEPTED",
        RulingOutcome::Dismissed => "DISMISSED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_both_ways_and_unknown_ones_are_named() {
        for (code, kind) in DOCUMENTS {
            assert_eq!(document_type(code).unwrap(), *kind);
            assert_eq!(document_code(*kind), *code);
        }
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
