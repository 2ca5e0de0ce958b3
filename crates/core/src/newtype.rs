//! The plumbing every validated string type shares: parse on construction, and
//! serialise as the plain string so stored and wire forms stay readable, while
//! deserialising through the same parse so a stored value can never bypass it.

/// Declares `$name(String)` whose only constructor is `$name::parse`, which must be
/// defined beside the declaration as `fn parse(&str) -> Result<Self, Invalid>`.
macro_rules! validated_string {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::error::Invalid;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::Invalid;
            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }
    };
}

pub(crate) use validated_string;

use crate::error::Invalid;

/// Checks free text: not blank, at most `max` characters, no control characters
/// (line breaks allowed only where `multiline`). Returns the text trimmed.
pub(crate) fn checked_text(value: &str, max: usize, multiline: bool) -> Result<String, Invalid> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    let count = trimmed.chars().count();
    if count > max {
        return Err(Invalid::new(format!(
            "must be at most {max} characters, got {count}"
        )));
    }
    let bad = trimmed.chars().find(|c| {
        (c.is_control() && !(multiline && (*c == '\n' || *c == '\r' || *c == '\t')))
            || (!multiline && crate::text::is_line_separator(*c))
    });
    if let Some(c) = bad {
        return Err(Invalid::new(format!(
            "must not contain the control character U+{:04X}",
            u32::from(c)
        )));
    }
    if let Some(c) = trimmed.chars().find(|c| crate::text::is_hidden_control(*c)) {
        return Err(Invalid::new(format!(
            "must not contain U+{:04X}, which reorders or hides text",
            u32::from(c)
        )));
    }
    if trimmed
        .chars()
        .all(|c| c.is_whitespace() || crate::text::is_invisible(c))
    {
        return Err(Invalid::new("must contain a visible character"));
    }
    Ok(trimmed.to_owned())
}

/// Checks an identifier: 1 to `max` ASCII letters, digits, `-`, `_`, `.`, `:`.
pub(crate) fn checked_identifier(value: &str, max: usize) -> Result<String, Invalid> {
    if value.is_empty() {
        return Err(Invalid::new("must not be empty"));
    }
    if value.len() > max {
        return Err(Invalid::new(format!(
            "must be at most {max} characters, got {}",
            value.len()
        )));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')))
    {
        return Err(Invalid::new(format!(
            "may hold only ASCII letters, digits, '-', '_', '.' and ':', found {c:?}"
        )));
    }
    Ok(value.to_owned())
}
