//! Identity documents of parties, with the check digits the national standards
//! define, so that a mistyped number is caught at the door rather than by a court
//! clerk weeks later.

use serde::{Deserialize, Serialize};

use crate::error::Invalid;

/// The kinds of identity document a party can present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    /// 居民身份证: 18 characters, GB 11643 check digit.
    ResidentIdCard,
    /// 外国人永久居留身份证 (2023 format): 18 characters starting with 9, same check.
    ForeignPermanentResidentIdCard,
    /// 港澳居民来往内地通行证.
    HongKongMacaoPermit,
    /// 台湾居民来往大陆通行证.
    TaiwanPermit,
    /// A passport.
    Passport,
    /// 统一社会信用代码 of a company or other organisation: 18 characters, GB 32100
    /// check character.
    UnifiedSocialCreditCode,
    /// A foreign organisation's registration number.
    ForeignRegistration,
}

impl IdentityKind {
    /// Whether the document marks its holder as foreign, or from Hong Kong,
    /// Macao or Taiwan, whose cases courts handle as foreign-related.
    pub fn is_foreign(self) -> bool {
        matches!(
            self,
            IdentityKind::ForeignPermanentResidentIdCard
                | IdentityKind::HongKongMacaoPermit
                | IdentityKind::TaiwanPermit
                | IdentityKind::Passport
                | IdentityKind::ForeignRegistration
        )
    }

    /// Whether a natural person (as opposed to a legal person) can hold it.
    pub fn is_for_natural_persons(self) -> bool {
        !matches!(
            self,
            IdentityKind::UnifiedSocialCreditCode | IdentityKind::ForeignRegistration
        )
    }
}

/// An identity document: its kind and a number valid for that kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawIdentity", into = "RawIdentity")]
pub struct Identity {
    kind: IdentityKind,
    number: String,
}

#[derive(Serialize, Deserialize)]
struct RawIdentity {
    kind: IdentityKind,
    number: String,
}

impl TryFrom<RawIdentity> for Identity {
    type Error = Invalid;
    fn try_from(raw: RawIdentity) -> Result<Self, Invalid> {
        Identity::parse(raw.kind, &raw.number)
    }
}

impl From<Identity> for RawIdentity {
    fn from(id: Identity) -> Self {
        RawIdentity {
            kind: id.kind,
            number: id.number,
        }
    }
}

impl Identity {
    /// Checks `number` against the rules of `kind`. Letters are upper-cased.
    pub fn parse(kind: IdentityKind, number: &str) -> Result<Self, Invalid> {
        let number = number.trim().to_ascii_uppercase();
        match kind {
            IdentityKind::ResidentIdCard => check_resident_id(&number, false)?,
            IdentityKind::ForeignPermanentResidentIdCard => check_resident_id(&number, true)?,
            IdentityKind::UnifiedSocialCreditCode => check_social_credit_code(&number)?,
            IdentityKind::HongKongMacaoPermit
            | IdentityKind::TaiwanPermit
            | IdentityKind::Passport
            | IdentityKind::ForeignRegistration => check_plain_number(&number)?,
        }
        Ok(Self { kind, number })
    }

    /// An identity whose number was purged (`crate::retention`): its kind
    /// stays, its number is empty. Never made from input: [`Identity::parse`]
    /// refuses an empty number; a store reads one back as withheld.
    pub fn withheld(kind: IdentityKind) -> Self {
        Self {
            kind,
            number: String::new(),
        }
    }

    /// Whether the number was purged.
    pub fn is_withheld(&self) -> bool {
        self.number.is_empty()
    }

    pub fn kind(&self) -> IdentityKind {
        self.kind
    }

    /// The holder's date of birth, which a resident identity card number
    /// carries in its characters 7 to 14.
    pub fn birth_date(&self) -> Option<jiff::civil::Date> {
        match self.kind {
            IdentityKind::ResidentIdCard => {
                jiff::civil::Date::strptime("%Y%m%d", self.number.get(6..14)?).ok()
            }
            _ => None,
        }
    }

    pub fn number(&self) -> &str {
        &self.number
    }
}

fn check_resident_id(number: &str, foreign: bool) -> Result<(), Invalid> {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: &[u8; 11] = b"10X98765432";
    let bytes = number.as_bytes();
    if bytes.len() != 18 {
        return Err(Invalid::new(format!(
            "must have 18 characters, got {}",
            number.chars().count()
        )));
    }
    if !bytes[..17].iter().all(u8::is_ascii_digit) {
        return Err(Invalid::new("the first 17 characters must be digits"));
    }
    if foreign && bytes[0] != b'9' {
        return Err(Invalid::new(
            "a foreign permanent resident id card number starts with 9",
        ));
    }
    if !foreign {
        // Digits 7–14 are the holder's date of birth.
        let birth = &number[6..14];
        let valid = jiff::civil::Date::strptime("%Y%m%d", birth).ok();
        let Some(born) = valid else {
            return Err(Invalid::new(format!(
                "characters 7 to 14 must be a date of birth, got {birth}"
            )));
        };
        // Resident identity cards were first issued in 1984, to the living.
        if born.year() < 1900 {
            return Err(Invalid::new(format!(
                "characters 7 to 14 hold the date of birth {born}, before 1900"
            )));
        }
    }
    let sum: u32 = bytes[..17]
        .iter()
        .zip(WEIGHTS)
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    let expected = CHECK[(sum % 11) as usize];
    if bytes[17] != expected {
        return Err(Invalid::new(format!(
            "check digit is wrong: expected {}, got {}",
            expected as char, bytes[17] as char
        )));
    }
    Ok(())
}

fn check_social_credit_code(code: &str) -> Result<(), Invalid> {
    // GB 32100-2015: 31 symbols, the letters I, O, Z, S and V left out.
    const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let bytes = code.as_bytes();
    if bytes.len() != 18 {
        return Err(Invalid::new(format!(
            "must have 18 characters, got {}",
            code.chars().count()
        )));
    }
    let mut values = [0u32; 18];
    for (i, b) in bytes.iter().enumerate() {
        values[i] = ALPHABET
            .iter()
            .position(|a| a == b)
            .map(|p| p as u32)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "character {} ({:?}) is not allowed in a unified social credit code",
                    i + 1,
                    *b as char
                ))
            })?;
    }
    let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
    let check = (31 - sum % 31) % 31;
    if values[17] != check {
        return Err(Invalid::new(format!(
            "check character is wrong: expected {}, got {}",
            ALPHABET[check as usize] as char, bytes[17] as char
        )));
    }
    Ok(())
}

fn check_plain_number(number: &str) -> Result<(), Invalid> {
    let len = number.len();
    if !(5..=20).contains(&len) || !number.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Invalid::new("must be 5 to 20 ASCII letters and digits"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn valid_resident_id_cards_pass() {
        for n in ["11010519491231002X", "11010519491231002x"] {
            let id = Identity::parse(IdentityKind::ResidentIdCard, n).unwrap();
            assert_eq!(id.number(), n.to_ascii_uppercase());
        }
    }

    #[test]
    fn resident_id_cards_with_bad_check_digit_or_birth_date_fail() {
        let e = Identity::parse(IdentityKind::ResidentIdCard, "110105194912310021").unwrap_err();
        assert!(e.rule.contains("expected X"), "{e}");
        let e = Identity::parse(IdentityKind::ResidentIdCard, "110105194913310021").unwrap_err();
        assert!(e.rule.contains("date of birth"), "{e}");
        // The standard's own example: check digit right, but born in 1880.
        let e = Identity::parse(IdentityKind::ResidentIdCard, "440524188001010014").unwrap_err();
        assert!(e.rule.contains("before 1900"), "{e}");
        let e = Identity::parse(IdentityKind::ResidentIdCard, "1101051949").unwrap_err();
        assert!(e.rule.contains("18 characters"), "{e}");
    }

    #[test]
    fn social_credit_codes_are_checked() {
        assert!(
            Identity::parse(IdentityKind::UnifiedSocialCreditCode, "91350100M000100Y43").is_ok()
        );
        let e = Identity::parse(IdentityKind::UnifiedSocialCreditCode, "91350100M000100Y44")
            .unwrap_err();
        assert!(e.rule.contains("expected 3"), "{e}");
        let e = Identity::parse(IdentityKind::UnifiedSocialCreditCode, "91350100M0001O0Y43")
            .unwrap_err();
        assert!(e.rule.contains("not allowed"), "{e}");
    }

    #[test]
    fn other_documents_need_a_plausible_number() {
        assert!(Identity::parse(IdentityKind::Passport, "E12345678").is_ok());
        assert!(Identity::parse(IdentityKind::Passport, "E1 2345").is_err());
        assert!(Identity::parse(IdentityKind::TaiwanPermit, "123").is_err());
    }

    proptest! {
        // Any single-digit change to a valid number is caught by the check digit.
        #[test]
        fn one_changed_digit_is_always_caught(pos in 0usize..17, delta in 1u8..10) {
            let mut bytes = b"11010519491231002X".to_vec();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap();
            prop_assert!(Identity::parse(IdentityKind::ResidentIdCard, &changed).is_err());
        }
    }
}
