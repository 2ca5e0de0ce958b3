//! Free text the domain carries: names, addresses, narratives.

use std::borrow::Cow;

use crate::error::Invalid;
use crate::newtype::{checked_text, validated_string};

/// U+2028 and U+2029 break a line as a newline does, so a single-line field
/// must not carry them.
pub fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Characters that make text show other than it reads: bidirectional
/// embeddings, overrides and isolates (the "Trojan Source" characters), and
/// the byte-order mark. No field of a case has a use for them.
pub fn is_hidden_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// Characters that take no space: zero-width spaces and joiners, the word
/// joiner and the byte-order mark. Text made only of these looks empty.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}' | '\u{180E}'
    )
}

/// `value` as it may go into a log line: every control character, line or
/// paragraph separator and hidden control written as `\u{…}`, so that a
/// caller-supplied value (a token's subject, a remote error text) can
/// neither start a forged line nor send escape sequences to a terminal.
pub fn printable(value: &str) -> Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || is_line_separator(c) || is_hidden_control(c);
    if !value.chars().any(unsafe_char) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() + 8);
    for c in value.chars() {
        if unsafe_char(c) {
            out.push_str(&format!("\\u{{{:04x}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

validated_string!(
    /// A short single-line text such as a person's name or a cause of action:
    /// 1–200 characters, no line breaks.
    Line
);

/// What a purged text reads (`crate::retention`): it says the text was
/// removed, and is a valid [`Line`] and [`Narrative`].
pub const PURGED_TEXT: &str = "[purged]";

impl Line {
    pub const MAX_CHARS: usize = 200;

    /// The text left where personal data was purged.
    pub fn purged() -> Self {
        Self(PURGED_TEXT.to_owned())
    }

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

    /// The text left where personal data was purged.
    pub fn purged() -> Self {
        Self(PURGED_TEXT.to_owned())
    }

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
    fn text_that_hides_or_reorders_itself_is_refused() {
        for separator in ["甲\u{2028}乙", "甲\u{2029}乙"] {
            assert!(
                Line::parse(separator).unwrap_err().rule.contains("U+202"),
                "{separator:?}"
            );
        }
        for hidden in ["张\u{202E}三", "张\u{2066}三", "\u{FEFF}张三"] {
            let rule = Line::parse(hidden).unwrap_err().rule;
            assert!(rule.contains("reorders or hides"), "{hidden:?}: {rule}");
            assert!(Narrative::parse(hidden).is_err());
        }
        for empty_looking in ["\u{200B}", "\u{200B}\u{200C} \u{2060}"] {
            assert_eq!(
                Line::parse(empty_looking).unwrap_err().rule,
                "must contain a visible character"
            );
        }
        // Joiners inside real text stay: some scripts and emoji need them.
        assert!(Line::parse("a\u{200D}b").is_ok());
    }

    #[test]
    fn printable_escapes_what_could_forge_a_log_line() {
        assert_eq!(printable("court-bj/svc"), "court-bj/svc");
        assert!(matches!(printable("plain"), Cow::Borrowed(_)));
        let forged = printable("svc\n2026-12-01T00:00:00Z INFO forged\u{1b}[31m\u{2028}\u{202e}");
        assert!(!forged.contains('\n'));
        assert!(!forged.contains('\u{1b}'));
        assert!(!forged.contains('\u{2028}'));
        assert!(!forged.contains('\u{202e}'));
        assert!(forged.contains("\\u{000a}"), "{forged}");
    }

    #[test]
    fn deserialising_goes_through_the_same_checks() {
        let err = serde_json::from_str::<Line>("\"\"").unwrap_err();
        assert!(err.to_string().contains("must not be empty"), "{err}");
        let ok: Line = serde_json::from_str("\"李四\"").unwrap();
        assert_eq!(ok.as_str(), "李四");
    }
}
