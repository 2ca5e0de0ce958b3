//! Codes more than one platform uses for the same thing, both ways. An unknown
//! or missing code is an error naming what was expected.

use mediation_core::Violations;
use mediation_core::identity::{Identity, IdentityKind};
use mediation_core::ids::PartyRef;
use mediation_core::outcome::{AgreementParty, DeclineCode, EarlyEnd, RulingOutcome};
use mediation_core::text::Line;

use crate::wire::CodeTable;

/// Identity documents, as the CCPIT, labour and road-traffic platforms name
/// them.
pub(crate) const DOCUMENT_TYPES: CodeTable<&str, IdentityKind> = CodeTable::new(
    "document type",
    &[
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
    ],
);

/// An identity sent as a document type code and a number, checked under
/// `{path}.{type_field}` and `{path}.{number_field}`.
pub(crate) fn identity(
    v: &mut Violations,
    path: &str,
    (type_field, code): (&str, &str),
    (number_field, number): (&str, &str),
) -> Option<Identity> {
    let kind = v.check(format!("{path}.{type_field}"), DOCUMENT_TYPES.read(code))?;
    v.check(
        format!("{path}.{number_field}"),
        Identity::parse(kind, number),
    )
}

/// A party as an agreement states it, read under `{path}.reference`,
/// `{path}.name`, `{path}.document_type` and `{path}.document_number`.
pub(crate) fn agreement_party(
    v: &mut Violations,
    path: &str,
    (reference, name): (&str, &str),
    (document_type, document_number): (&str, &str),
) -> Option<AgreementParty> {
    let party = v.check(format!("{path}.reference"), PartyRef::parse(reference));
    let name = v.check(format!("{path}.name"), Line::parse(name));
    let identity = identity(
        v,
        path,
        ("document_type", document_type),
        ("document_number", document_number),
    );
    Some(AgreementParty {
        party: party?,
        name: name?,
        identity: identity?,
    })
}

/// Why an organisation declines, as the CCPIT and road-traffic platforms name it.
pub(crate) const DECLINE_CODES: CodeTable<&str, DeclineCode> = CodeTable::new(
    "decline reason code",
    &[
        ("OUTSIDE_SCOPE", DeclineCode::OutsideScope),
        ("CONFLICT_OF_INTEREST", DeclineCode::ConflictOfInterest),
        ("NO_CAPACITY", DeclineCode::NoCapacity),
        ("PARTIES_UNREACHABLE", DeclineCode::PartiesUnreachable),
        ("PARTY_REFUSED", DeclineCode::PartyRefused),
        ("OTHER", DeclineCode::Other),
    ],
);

/// Why mediation ends early (online rules Art. 25), as the CCPIT and
/// road-traffic platforms name it.
pub(crate) const EARLY_ENDS: CodeTable<&str, EarlyEnd> = CodeTable::new(
    "ground for ending mediation",
    &[
        ("PARTY_WITHDREW", EarlyEnd::PartyWithdrew),
        ("PARTY_UNREACHABLE", EarlyEnd::PartyUnreachable),
        ("REFUSED_TO_SIGN", EarlyEnd::RefusedToSign),
        ("UNSUITABLE", EarlyEnd::Unsuitable),
    ],
);

/// A court's ruling on a confirmation, as the CCPIT and road-traffic
/// platforms name it.
pub(crate) const RULINGS: CodeTable<&str, RulingOutcome> = CodeTable::new(
    "ruling outcome",
    &[
        ("CONFIRMED", RulingOutcome::Confirmed),
        ("NOT_ACCEPTED", RulingOutcome::NotAccepted),
        ("DISMISSED", RulingOutcome::Dismissed),
    ],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_codes_map_both_ways() {
        for (code, kind) in DOCUMENT_TYPES.pairs() {
            assert_eq!(DOCUMENT_TYPES.read(code).unwrap(), *kind);
            assert_eq!(DOCUMENT_TYPES.code(*kind), *code);
        }
    }

    #[test]
    fn unknown_codes_are_named_with_the_known_ones() {
        let e = DOCUMENT_TYPES.read("DRIVING_LICENCE").unwrap_err();
        assert!(
            e.rule.starts_with(
                "\"DRIVING_LICENCE\" is not a known document type; expected one of ID_CARD"
            ),
            "{e}"
        );
        assert_eq!(
            DECLINE_CODES.read("").unwrap_err().rule,
            "decline reason code is required"
        );
    }
}
