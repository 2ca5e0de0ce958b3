//! Identifiers of referrals, organisations, mediators and parties.

use crate::error::Invalid;
use crate::newtype::{checked_identifier, checked_text, validated_string};

validated_string!(
    /// The gateway's own id of a referral: a ULID (26 characters of Crockford
    /// base 32), so ids sort by creation time. Generated at the edge, never by
    /// the domain, which stays free of randomness.
    ReferralId
);

impl ReferralId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        const ALPHABET: &str = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
        if value.len() != 26 {
            return Err(Invalid::new(format!(
                "must be a 26-character ULID, got {} characters",
                value.len()
            )));
        }
        let upper = value.to_ascii_uppercase();
        if let Some(c) = upper.chars().find(|c| !ALPHABET.contains(*c)) {
            return Err(Invalid::new(format!(
                "must be a ULID in Crockford base 32, found {c:?}"
            )));
        }
        if upper.as_bytes()[0] > b'7' {
            return Err(Invalid::new("is larger than the largest ULID"));
        }
        Ok(Self(upper))
    }
}

validated_string!(
    /// The court system's own id of a referral. It is the idempotency key: a
    /// second submission with the same id is the same referral.
    CourtReferralId
);

impl CourtReferralId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_identifier(value, 64).map(Self)
    }
}

validated_string!(
    /// A mediation organisation on a court's roster (特邀调解组织), by the id the
    /// roster gives it.
    OrganisationId
);

impl OrganisationId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_identifier(value, 64).map(Self)
    }
}

validated_string!(
    /// A mediator (调解员) of an organisation.
    MediatorId
);

impl MediatorId {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_identifier(value, 64).map(Self)
    }
}

validated_string!(
    /// How a case bundle refers to one of its parties, e.g. `P1`; consents,
    /// signatures and applications name parties by it.
    PartyRef
);

impl PartyRef {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_identifier(value, 32).map(Self)
    }
}

validated_string!(
    /// The mediation case number (调解案号) the partner platform gives the case
    /// when it accepts it. Each platform has its own numbering, so only its shape
    /// is checked: one line of at most 64 characters.
    MediationCaseNumber
);

impl MediationCaseNumber {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_text(value, 64, false).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referral_ids_are_ulids() {
        let id = ReferralId::parse("01arz3ndektsv4rrffq69g5fav").unwrap();
        assert_eq!(id.as_str(), "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        assert!(ReferralId::parse("01ARZ3NDEKTSV4RRFFQ69G5FA").is_err());
        assert!(
            ReferralId::parse("01ARZ3NDEKTSV4RRFFQ69G5FAU")
                .unwrap_err()
                .rule
                .contains("'U'")
        );
        assert!(ReferralId::parse("81ARZ3NDEKTSV4RRFFQ69G5FAV").is_err());
    }

    #[test]
    fn identifiers_reject_spaces_and_overlong_values() {
        assert!(CourtReferralId::parse("BJ-2025:0001").is_ok());
        assert!(
            CourtReferralId::parse("BJ 2025")
                .unwrap_err()
                .rule
                .contains("' '")
        );
        assert!(
            OrganisationId::parse(&"x".repeat(65))
                .unwrap_err()
                .rule
                .contains("at most 64")
        );
        assert!(PartyRef::parse("").is_err());
    }
}
