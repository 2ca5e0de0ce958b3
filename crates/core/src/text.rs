//! Free text the domain carries: names, addresses, narratives.

use crate::error::Invalid;
use crate::newtype::{checked_text, validated_string};

validated_string!(
    /// A short single-line text such as a person's name or a cause of action:
    /// 1–200 characters, no line breaks.
    Line
);

impl Line {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_text(value, Self::MAX_CHARS, false).map(Self)
    }
}

validated_string!(
    /// A narrative such as the course of a mediation or the terms agreed:
    /// 1–20,000 characters, line breaks allowed.
    Narrative
);

impl Narrative {
    pub const MAX_CHARS: usize = 20_000;

    pub fn parse(value: &str) -> Result<Self, Invalid> {
        checked_text(value, Self::MAX_CHARS, true).map(Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_trimmed_and_bounded() {
        assert_eq!(Line::parse("  张三 ").unwrap().as_str(), "张三");
        assert!(Line::parse("   ").unwrap_err().rule.contains("empty"));
        assert!(
            Line::parse(&"调".repeat(201))
                .unwrap_err()
                .rule
                .contains("at most 200")
        );
        assert!(Line::parse("a\nb").unwrap_err().rule.contains("U+000A"));
        assert!(Narrative::parse("a\nb").is_ok());
    }

    #[test]
    fn deserialising_goes_through_the_same_checks() {
        let err = serde_json::from_str::<Line>("\"\"").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
        let ok: Line = serde_json::from_str("\"李四\"").unwrap();
        assert_eq!(ok.as_str(), "李四");
    }
}
