//! A failure report as every platform sends it, in its own field names: the
//! course of mediation, the reasons, and what the court needs next (seed 003
//! 四(四)2; online rules Art. 21). A platform that cannot state an element
//! passes `None` for it, and its contract says so.

use mediation_core::Violations;
use mediation_core::outcome::FailureReport;
use mediation_core::text::Narrative;

use crate::wire::read::{confirmed_addresses, narratives, optional_narrative};

/// The fields of one platform's failure report.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FailureFields<'a> {
    pub(crate) course: &'a str,
    pub(crate) reasons: &'a str,
    pub(crate) undisputed_facts: &'a [String],
    pub(crate) notes_for_court: Option<&'a str>,
    pub(crate) cost_raising_conduct: Option<&'a str>,
    /// (party, address) pairs, under `confirmed_addresses[i]`.
    pub(crate) confirmed_addresses: &'a [(&'a str, &'a str)],
}

impl<'a> FailureFields<'a> {
    /// Only what every platform states: the course, the reasons and the
    /// undisputed facts.
    pub(crate) fn new(course: &'a str, reasons: &'a str, undisputed_facts: &'a [String]) -> Self {
        Self {
            course,
            reasons,
            undisputed_facts,
            notes_for_court: None,
            cost_raising_conduct: None,
            confirmed_addresses: &[],
        }
    }

    /// The report, each bad field recorded in `v`.
    pub(crate) fn read(self, v: &mut Violations) -> Option<FailureReport> {
        let course = v.check("course", Narrative::parse(self.course));
        let reasons = v.check("reasons", Narrative::parse(self.reasons));
        let optional = |v: &mut Violations, field: &str, value: Option<&str>| {
            value.and_then(|value| optional_narrative(v, field, value).flatten())
        };
        let cost = optional(v, "cost_raising_conduct", self.cost_raising_conduct);
        let notes = optional(v, "notes_for_court", self.notes_for_court);
        let facts = narratives(v, "undisputed_facts", self.undisputed_facts);
        let addresses = confirmed_addresses(
            v,
            "confirmed_addresses",
            self.confirmed_addresses.iter().copied(),
        );
        Some(FailureReport {
            course: course?,
            reasons: reasons?,
            cost_raising_conduct: cost,
            notes_for_court: notes,
            undisputed_facts: facts,
            confirmed_service_addresses: addresses,
        })
    }
}

/// A failure report with every element the rules ask for, read from a
/// platform request that carries them under the names all three platforms
/// use (`course`, `reasons`, `undisputed_facts`, `notes_for_court`,
/// `cost_raising_conduct`, `confirmed_addresses` of `party` and `address`).
/// The requests are different generated types with the same fields, so this
/// is a macro rather than a function.
macro_rules! complete_failure {
    ($v:expr, $r:expr) => {{
        let r = $r;
        let addresses: Vec<(&str, &str)> = r
            .confirmed_addresses
            .iter()
            .map(|a| (a.party.as_str(), a.address.as_str()))
            .collect();
        $crate::partner::FailureFields {
            notes_for_court: Some(&r.notes_for_court),
            cost_raising_conduct: Some(&r.cost_raising_conduct),
            confirmed_addresses: &addresses,
            ..$crate::partner::FailureFields::new(&r.course, &r.reasons, &r.undisputed_facts)
        }
        .read($v)
    }};
}

pub(crate) use complete_failure;
