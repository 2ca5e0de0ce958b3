//! Codes more than one platform uses for the same thing, both ways. An unknown
//! or missing code is an error naming what was expected.

use mediation_core::Invalid;
use mediation_core::identity::IdentityKind;
use mediation_core::outcome::{DeclineCode, RulingOutcome};

/// Looks `value` up in `table`, or says which codes are known.
pub(crate) fn pick<T: Copy>(
    field_what: &str,
    value: &str,
    table: &[(&str, T)],
) -> Result<T, Invalid> {
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

/// Why an organisation declines, as the CCPIT and road-traffic platforms name it.
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
    fn document_codes_map_both_ways() {
        for (code, kind) in DOCUMENTS {
            assert_eq!(document_type(code).unwrap(), *kind);
            assert_eq!(document_code(*kind), *code);
        }
    }
}
