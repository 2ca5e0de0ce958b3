//! Courts and their case numbers.
//!
//! A court is named by the code it uses in its case numbers (法院代字, as set by the
//! Supreme People's Court's rules on case numbers): `最高法` for the Supreme People's
//! Court, a province's one-character abbreviation for its high court (`京`), two
//! more digits for an intermediate or specialised court (`京01`, `沪72`), and two
//! more for a basic court (`京0105`). The code says which province a court is in,
//! but not which court is above it: that is the [`registry`]'s to say.

mod registry;

pub use registry::{Court, CourtRegistry, Courts, RegistryError};

use crate::error::Invalid;
use crate::newtype::validated_string;

/// The one-character abbreviations of the provincial-level high courts, and 兵 for
/// the Xinjiang Production and Construction Corps branch.
const PROVINCES: &str = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川黔滇藏陕甘青宁新兵";
const SUPREME: &str = "最高法";

/// Where a court stands in the hierarchy. The special courts stand at the
/// level of the courts they sit beside: internet and railway-transport courts
/// are basic courts; intellectual-property, financial and maritime courts are
/// intermediate ones.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum CourtLevel {
    Basic,
    Intermediate,
    High,
    Supreme,
}

impl CourtLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            CourtLevel::Basic => "basic",
            CourtLevel::Intermediate => "intermediate",
            CourtLevel::High => "high",
            CourtLevel::Supreme => "supreme",
        }
    }
}

validated_string!(
    /// A court, by its case-number code.
    CourtCode
);

impl CourtCode {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let code = value.trim();
        if code == SUPREME {
            return Ok(Self(code.to_owned()));
        }
        let mut chars = code.chars();
        let Some(province) = chars.next() else {
            return Err(Invalid::new("must not be empty"));
        };
        if !PROVINCES.contains(province) {
            return Err(Invalid::new(format!(
                "must start with a province's abbreviation (e.g. 京, 粤) or be {SUPREME}, found {province:?}"
            )));
        }
        let digits: String = chars.collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) || ![0, 2, 4].contains(&digits.len()) {
            return Err(Invalid::new(format!(
                "after the province must come 2 digits (intermediate court) or 4 digits (basic court), found {digits:?}"
            )));
        }
        if digits.len() >= 2 && &digits[..2] == "00" {
            return Err(Invalid::new("the intermediate court digits must not be 00"));
        }
        Ok(Self(code.to_owned()))
    }
}

validated_string!(
    /// A case number (案号) as courts write it: `（2025）京0105民初12345号` — the year
    /// in brackets, the court's code, the case type (one to five Chinese
    /// characters, e.g. 民初 for first-instance civil), a sequence number and 号.
    /// ASCII brackets are accepted and stored as the full-width ones.
    CaseNumber
);

impl CaseNumber {
    pub fn parse(value: &str) -> Result<Self, Invalid> {
        let shape = || {
            Invalid::new(format!(
                "must look like （2025）京0105民初12345号, got {value:?}"
            ))
        };
        let text = value.trim().replace('(', "（").replace(')', "）");
        let rest = text.strip_prefix('（').ok_or_else(shape)?;
        let (year, rest) = rest.split_once('）').ok_or_else(shape)?;
        if year.len() != 4 || !year.chars().all(|c| c.is_ascii_digit()) {
            return Err(Invalid::new(format!(
                "the year in brackets must have four digits, got {year:?}"
            )));
        }
        let rest = rest.strip_suffix('号').ok_or_else(shape)?;
        // The court code runs up to the first character that is neither its
        // province nor a digit; the sequence number is the trailing digits.
        let code_end = rest
            .char_indices()
            .skip(1)
            .find(|(_, c)| !c.is_ascii_digit())
            .map(|(i, _)| i)
            .ok_or_else(shape)?;
        let court = if rest.starts_with(SUPREME) {
            SUPREME.len()
        } else {
            code_end
        };
        CourtCode::parse(&rest[..court])
            .map_err(|e| Invalid::new(format!("its court code is invalid: {}", e.rule)))?;
        let tail = &rest[court..];
        let seq_start = tail
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map(|(i, _)| i)
            .ok_or_else(shape)?;
        let (case_type, seq) = tail.split_at(seq_start);
        // The SPC's case types run to five characters (民诉前调确).
        let type_len = case_type.chars().count();
        if !(1..=5).contains(&type_len) || case_type.chars().any(|c| c.is_ascii()) {
            return Err(Invalid::new(format!(
                "the case type must be one to five Chinese characters (e.g. 民初, 民诉前调), got {case_type:?}"
            )));
        }
        if seq.is_empty() || !seq.chars().all(|c| c.is_ascii_digit()) || seq.len() > 8 {
            return Err(Invalid::new(format!(
                "the sequence number must be 1 to 8 digits, got {seq:?}"
            )));
        }
        Ok(Self(text))
    }

    /// The case type (代字), e.g. 民初 or 民诉前调.
    pub fn case_type(&self) -> &str {
        let inner = self.0.split_once('）').map_or("", |(_, rest)| rest);
        let court_len = self.court().as_str().len();
        let tail = inner.get(court_len..).unwrap_or_default();
        let end = tail
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit())
            .map_or(tail.len(), |(i, _)| i);
        &tail[..end]
    }

    /// Whether this is a pre-litigation mediation number (诉前调, 诉前调确,
    /// 诉前调书), which a 委派 referral may carry before any case is docketed
    /// (seed 004 (十六): 规范调解案号编立).
    pub fn is_pre_litigation(&self) -> bool {
        self.case_type().contains("诉前调")
    }

    /// The court the case number belongs to.
    pub fn court(&self) -> CourtCode {
        let inner = self
            .0
            .split_once('）')
            .map(|(_, rest)| rest)
            .unwrap_or_default();
        let len = if inner.starts_with(SUPREME) {
            SUPREME.len()
        } else {
            inner
                .char_indices()
                .skip(1)
                .find(|(_, c)| !c.is_ascii_digit())
                .map(|(i, _)| i)
                .unwrap_or(inner.len())
        };
        CourtCode(inner[..len].to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_types_run_to_five_characters_and_pre_litigation_ones_are_known() {
        let n = CaseNumber::parse("（2025）京0105民诉前调确12号").unwrap();
        assert_eq!(n.case_type(), "民诉前调确");
        assert_eq!(n.court().as_str(), "京0105");
        assert!(n.is_pre_litigation());
        let docketed = CaseNumber::parse("（2025）京0105民初123号").unwrap();
        assert_eq!(docketed.case_type(), "民初");
        assert!(!docketed.is_pre_litigation());
        assert!(CaseNumber::parse("（2025）京0105民诉前调确认1号").is_err());
    }

    fn code(s: &str) -> CourtCode {
        CourtCode::parse(s).unwrap()
    }

    #[test]
    fn bad_court_codes_name_the_rule() {
        assert!(
            CourtCode::parse("X01")
                .unwrap_err()
                .rule
                .contains("province")
        );
        assert!(
            CourtCode::parse("京1")
                .unwrap_err()
                .rule
                .contains("2 digits")
        );
        assert!(CourtCode::parse("京00").unwrap_err().rule.contains("00"));
        assert!(CourtCode::parse("").is_err());
    }

    #[test]
    fn case_numbers_parse_and_name_their_court() {
        let n = CaseNumber::parse("(2025)京0105民初12345号").unwrap();
        assert_eq!(n.as_str(), "（2025）京0105民初12345号");
        assert_eq!(n.court(), code("京0105"));
        let n = CaseNumber::parse("（2024）最高法民申7号").unwrap();
        assert_eq!(n.court(), code("最高法"));
        assert_eq!(
            CaseNumber::parse("（2025）粤03民终88号").unwrap().court(),
            code("粤03")
        );
    }

    #[test]
    fn malformed_case_numbers_say_what_is_wrong() {
        assert!(
            CaseNumber::parse("2025京0105民初1号")
                .unwrap_err()
                .rule
                .contains("must look like")
        );
        assert!(
            CaseNumber::parse("（25）京0105民初1号")
                .unwrap_err()
                .rule
                .contains("four digits")
        );
        assert!(
            CaseNumber::parse("（2025）X0105民初1号")
                .unwrap_err()
                .rule
                .contains("court code")
        );
        assert!(CaseNumber::parse("（2025）京0105民初号").is_err());
        assert!(
            CaseNumber::parse("（2025）京0105AB1号")
                .unwrap_err()
                .rule
                .contains("case type")
        );
    }
}
