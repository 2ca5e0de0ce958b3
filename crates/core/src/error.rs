//! Input that breaks the domain's rules: [`Invalid`] for one value,
//! [`Violations`] with one entry per offending field. The other way a command
//! is refused, not fitting the referral's state, is
//! [`crate::lifecycle::TransitionError`].

use std::fmt;

/// A value that breaks a rule, before it is known which field it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    pub rule: String,
}

impl Invalid {
    pub fn new(rule: impl Into<String>) -> Self {
        Self { rule: rule.into() }
    }

    /// Names the field the value came from.
    pub fn at(self, field: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            rule: self.rule,
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.rule)
    }
}

impl std::error::Error for Invalid {}

/// One field that breaks one rule. `field` is a path such as
/// `parties[1].identity.number`, the same path the wire contracts use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FieldError {
    pub field: String,
    pub rule: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// Every rule an input breaks, so a caller can fix them all in one round.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
pub struct Violations(pub Vec<FieldError>);

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` breaks `rule`.
    pub fn push(&mut self, field: impl Into<String>, rule: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            rule: rule.into(),
        });
    }

    /// Keeps the value of a parse that succeeded, or records why it failed.
    pub fn check<T>(&mut self, field: impl Into<String>, parsed: Result<T, Invalid>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(invalid) => {
                self.0.push(invalid.at(field));
                None
            }
        }
    }

    /// Adds the violations of a nested value, prefixing their fields.
    pub fn nest(&mut self, prefix: &str, inner: Violations) {
        for e in inner.0 {
            self.0.push(FieldError {
                field: format!("{prefix}.{}", e.field),
                rule: e.rule,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|e| e.field.as_str())
    }

    /// `Ok(value)` when nothing was recorded.
    pub fn into_result<T>(self, value: T) -> Result<T, Violations> {
        if self.is_empty() {
            Ok(value)
        } else {
            Err(self)
        }
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl From<FieldError> for Violations {
    fn from(e: FieldError) -> Self {
        Self(vec![e])
    }
}
