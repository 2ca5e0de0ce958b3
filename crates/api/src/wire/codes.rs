//! One kind of code table for every adapter: the pairs of a wire code (a
//! platform's string code, or a generated protobuf enum) and a domain value,
//! written once and read both ways. A code that is missing or unknown is an
//! error that names the codes the contract knows.

use mediation_core::Invalid;

/// A code as the wire carries it.
pub(crate) trait WireCode: Copy + PartialEq + 'static {
    /// How the contract spells the code, for error messages.
    fn spelling(self) -> &'static str;
}

impl WireCode for &'static str {
    fn spelling(self) -> &'static str {
        self
    }
}

/// Generated enums spell their values as the `.proto` file does.
macro_rules! proto_codes {
    ($($enum:ty),* $(,)?) => {
        $(impl WireCode for $enum {
            fn spelling(self) -> &'static str {
                self.as_str_name()
            }
        })*
    };
}

proto_codes!(
    mediation_proto::court::v1::ReferralKind,
    mediation_proto::court::v1::TrialStage,
    mediation_proto::court::v1::Procedure,
    mediation_proto::court::v1::DisputeDomain,
    mediation_proto::court::v1::IdentityKind,
    mediation_proto::court::v1::PartyRole,
    mediation_proto::court::v1::PersonKind,
    mediation_proto::court::v1::ConsentMethod,
    mediation_proto::court::v1::ReferralStatus,
    mediation_proto::court::v1::RulingOutcome,
    mediation_proto::court::v1::LabourClaimKind,
    mediation_proto::court::v1::Liability,
    mediation_proto::court::v1::CompensationKind,
    mediation_proto::labour::v1::ClaimKind,
    mediation_proto::labour::v1::DeclineReason,
    mediation_proto::labour::v1::Performance,
    mediation_proto::labour::v1::RulingOutcome,
    mediation_proto::labour::v1::CourtStage,
    mediation_proto::labour::v1::EndGround,
    mediation_proto::operations::v1::AlertKind,
    mediation_proto::operations::v1::Severity,
);

/// The pairs of one code, as the contract names it (`what`).
#[derive(Debug)]
pub(crate) struct CodeTable<W: 'static, D: 'static> {
    what: &'static str,
    pairs: &'static [(W, D)],
}

impl<W: WireCode, D: Copy + PartialEq> CodeTable<W, D> {
    pub(crate) const fn new(what: &'static str, pairs: &'static [(W, D)]) -> Self {
        Self { what, pairs }
    }

    /// The wire code of a domain value; `None` only when the table leaves the
    /// value out, which each table's test rules out.
    pub(crate) fn wire_of(&self, value: D) -> Option<W> {
        self.pairs
            .iter()
            .find(|(_, d)| *d == value)
            .map(|(w, _)| *w)
    }

    /// The domain value of a wire code the table holds.
    #[cfg(test)]
    pub(crate) fn domain_of(&self, code: W) -> Option<D> {
        self.pairs.iter().find(|(w, _)| *w == code).map(|(_, d)| *d)
    }

    /// Every pair, for tests that check a table both ways.
    #[cfg(test)]
    pub(crate) fn pairs(&self) -> &'static [(W, D)] {
        self.pairs
    }

    fn unknown(&self, shown: impl std::fmt::Display) -> Invalid {
        let known: Vec<&str> = self.pairs.iter().map(|(w, _)| w.spelling()).collect();
        Invalid::new(format!(
            "{shown} is not a known {}; expected one of {}",
            self.what,
            known.join(", ")
        ))
    }

    fn required(&self) -> Invalid {
        Invalid::new(format!("{} is required", self.what))
    }
}

impl<D: Copy + PartialEq> CodeTable<&'static str, D> {
    /// Reads a string code; an empty one is missing.
    pub(crate) fn read(&self, value: &str) -> Result<D, Invalid> {
        if value.trim().is_empty() {
            return Err(self.required());
        }
        self.pairs
            .iter()
            .find(|(w, _)| *w == value)
            .map(|(_, d)| *d)
            .ok_or_else(|| self.unknown(format_args!("{value:?}")))
    }

    /// The string code of a domain value, empty when the table leaves it out.
    pub(crate) fn code(&self, value: D) -> &'static str {
        self.wire_of(value).unwrap_or_default()
    }
}

impl<W: WireCode + Into<i32>, D: Copy + PartialEq> CodeTable<W, D> {
    /// Reads a protobuf enum's number; 0, the unspecified value, is missing.
    pub(crate) fn read_number(&self, value: i32) -> Result<D, Invalid> {
        if value == 0 {
            return Err(self.required());
        }
        self.pairs
            .iter()
            .find(|(w, _)| (*w).into() == value)
            .map(|(_, d)| *d)
            .ok_or_else(|| self.unknown(value))
    }

    /// The enum number of a domain value; 0 (unspecified) when the table
    /// leaves it out.
    pub(crate) fn number(&self, value: D) -> i32 {
        self.wire_of(value).map_or(0, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediation_proto::court::v1 as pb;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Colour {
        Red,
        Blue,
    }

    const STRINGS: CodeTable<&str, Colour> =
        CodeTable::new("colour", &[("RED", Colour::Red), ("BLUE", Colour::Blue)]);
    const NUMBERS: CodeTable<pb::PersonKind, Colour> = CodeTable::new(
        "person kind",
        &[
            (pb::PersonKind::Natural, Colour::Red),
            (pb::PersonKind::Legal, Colour::Blue),
        ],
    );

    #[test]
    fn codes_read_both_ways() {
        assert_eq!(STRINGS.read("BLUE").unwrap(), Colour::Blue);
        assert_eq!(STRINGS.code(Colour::Red), "RED");
        assert_eq!(
            NUMBERS.read_number(pb::PersonKind::Legal.into()).unwrap(),
            Colour::Blue
        );
        assert_eq!(
            NUMBERS.number(Colour::Red),
            i32::from(pb::PersonKind::Natural)
        );
    }

    #[test]
    fn a_miss_names_the_known_codes_and_a_blank_is_missing() {
        assert_eq!(
            STRINGS.read("GREEN").unwrap_err().rule,
            "\"GREEN\" is not a known colour; expected one of RED, BLUE"
        );
        assert_eq!(STRINGS.read(" ").unwrap_err().rule, "colour is required");
        assert_eq!(
            NUMBERS.read_number(42).unwrap_err().rule,
            "42 is not a known person kind; expected one of PERSON_KIND_NATURAL, PERSON_KIND_LEGAL"
        );
        assert_eq!(
            NUMBERS.read_number(0).unwrap_err().rule,
            "person kind is required"
        );
    }
}
