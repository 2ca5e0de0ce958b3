//! The court registry: which courts exist, at what level, and which court is
//! directly above each one.
//!
//! A court code's prefix does not say where a court sits. In the four
//! municipalities the districts were shared out among intermediate courts by
//! decision, not by code: 北京市朝阳区人民法院 (京0105) sits under
//! 北京市第三中级人民法院 (京03), 海淀 (京0108) under 京01. The special courts
//! have codes of their own: 北京互联网法院 (京0491) sits under 京04, the
//! intellectual-property court 京73 under the high court. So the hierarchy is
//! data, loaded from the registry file, and every rule that speaks of "the
//! courts below" a court follows it: a higher court's roster serving the
//! courts below it (seed 000 §(十)), a court system acting for the courts
//! below its own, a court's permission to pass referrals on, and the nearest
//! court above with an address.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use super::{CourtCode, CourtLevel};
use crate::error::Invalid;
use crate::text::Line;

/// One court as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Court {
    pub code: CourtCode,
    pub name: Line,
    pub level: CourtLevel,
    /// The court directly above: the one that hears its appeals. Only the
    /// Supreme People's Court has none.
    #[serde(default)]
    pub parent: Option<CourtCode>,
}

/// Every known court, each with its place in the hierarchy. A registry that
/// exists is whole: every parent is listed and stands higher than the courts
/// below it, so walking up always ends at the top.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CourtRegistry {
    courts: BTreeMap<CourtCode, Court>,
}

/// A broken entry of a registry: which one (by its position) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("court[{index}] ({code}): {rule}")]
pub struct RegistryError {
    pub index: usize,
    pub code: String,
    pub rule: String,
}

impl CourtRegistry {
    /// Checks and indexes `courts`: codes unique; the Supreme People's
    /// Court, and only it, without a parent; every parent listed and of a
    /// higher level. Every broken entry is reported.
    pub fn new(courts: Vec<Court>) -> Result<Self, Vec<RegistryError>> {
        let mut errors = Vec::new();
        let mut by_code = BTreeMap::new();
        for (index, court) in courts.iter().enumerate() {
            if by_code.insert(court.code.clone(), court.clone()).is_some() {
                errors.push(RegistryError {
                    index,
                    code: court.code.to_string(),
                    rule: "is listed twice".into(),
                });
            }
        }
        for (index, court) in courts.iter().enumerate() {
            let fail = |rule: String| RegistryError {
                index,
                code: court.code.to_string(),
                rule,
            };
            match (&court.parent, court.level) {
                (None, CourtLevel::Supreme) => {}
                (None, level) => errors.push(fail(format!(
                    "a court at the {} level must name its parent, the court above it",
                    level.as_str()
                ))),
                (Some(_), CourtLevel::Supreme) => {
                    errors.push(fail("the Supreme People's Court has no parent".into()));
                }
                (Some(parent), level) => match by_code.get(parent) {
                    None => {
                        errors.push(fail(format!("its parent {parent} is not in the registry")))
                    }
                    Some(above) if above.level <= level => errors.push(fail(format!(
                        "its parent {parent} stands at the {} level, not above the {} level",
                        above.level.as_str(),
                        level.as_str()
                    ))),
                    Some(_) => {}
                },
            }
        }
        if errors.is_empty() {
            Ok(Self { courts: by_code })
        } else {
            Err(errors)
        }
    }

    pub fn len(&self) -> usize {
        self.courts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.courts.is_empty()
    }

    pub fn get(&self, code: &CourtCode) -> Option<&Court> {
        self.courts.get(code)
    }

    /// The court, or why it cannot be used: a court the registry does not
    /// know is refused, never guessed from its code.
    pub fn require(&self, code: &CourtCode) -> Result<&Court, Invalid> {
        self.get(code).ok_or_else(|| {
            Invalid::new(format!(
                "court {code} is not in the court registry; the gateway knows {} courts",
                self.len()
            ))
        })
    }

    /// `code` and every court above it, nearest first; empty for a court the
    /// registry does not know.
    pub fn ancestry<'a>(&'a self, code: &CourtCode) -> impl Iterator<Item = &'a Court> + 'a {
        let mut next = self.get(code);
        std::iter::from_fn(move || {
            let court = next?;
            next = court.parent.as_ref().and_then(|p| self.get(p));
            Some(court)
        })
    }

    /// Whether `court` is `above` or sits anywhere below it.
    pub fn is_within(&self, court: &CourtCode, above: &CourtCode) -> bool {
        self.ancestry(court).any(|c| &c.code == above)
    }

    /// `code` and every court below it, at any depth.
    pub fn with_lower(&self, code: &CourtCode) -> BTreeSet<CourtCode> {
        self.courts
            .keys()
            .filter(|c| self.is_within(c, code))
            .cloned()
            .collect()
    }

    /// How many courts `a` and `b` have above them in common, counting the
    /// nearest common one: the deeper their common court, the nearer the two.
    pub fn shared_depth(&self, a: &CourtCode, b: &CourtCode) -> usize {
        let above_b: BTreeSet<&CourtCode> = self.ancestry(b).map(|c| &c.code).collect();
        self.ancestry(a)
            .position(|c| above_b.contains(&c.code))
            .map_or(0, |at| self.ancestry(a).count() - at)
    }
}

/// The registry in force, shared by everything that follows the hierarchy
/// and replaced whole on a reload.
#[derive(Debug, Clone, Default)]
pub struct Courts(Arc<RwLock<Arc<CourtRegistry>>>);

impl Courts {
    pub fn new(registry: CourtRegistry) -> Self {
        Self(Arc::new(RwLock::new(Arc::new(registry))))
    }

    /// The registry as it is now; a reload does not change what a caller
    /// already holds.
    pub fn current(&self) -> Arc<CourtRegistry> {
        Arc::clone(&self.0.read().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn replace(&self, registry: CourtRegistry) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(registry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{court, line};

    fn entry(code: &str, level: CourtLevel, parent: Option<&str>) -> Court {
        Court {
            code: court(code),
            name: line(code),
            level,
            parent: parent.map(court),
        }
    }

    fn beijing() -> CourtRegistry {
        use CourtLevel::*;
        CourtRegistry::new(vec![
            entry("最高法", Supreme, None),
            entry("京", High, Some("最高法")),
            entry("京01", Intermediate, Some("京")),
            entry("京03", Intermediate, Some("京")),
            entry("京04", Intermediate, Some("京")),
            entry("京0105", Basic, Some("京03")),
            entry("京0108", Basic, Some("京01")),
            entry("京0491", Basic, Some("京04")),
            entry("京73", Intermediate, Some("京")),
        ])
        .unwrap()
    }

    #[test]
    fn the_hierarchy_follows_the_registry_not_the_code() {
        let r = beijing();
        assert!(r.is_within(&court("京0105"), &court("京03")));
        assert!(!r.is_within(&court("京0105"), &court("京01")));
        assert!(r.is_within(&court("京0108"), &court("京01")));
        assert!(r.is_within(&court("京0491"), &court("京04")));
        assert!(r.is_within(&court("京0491"), &court("最高法")));
        assert!(!r.is_within(&court("京"), &court("京01")));
        assert!(!r.is_within(&court("京0199"), &court("京")), "unknown");
        let under_03: Vec<_> = r.with_lower(&court("京03")).into_iter().collect();
        assert_eq!(under_03, [court("京0105"), court("京03")]);
        let chain: Vec<_> = r
            .ancestry(&court("京0105"))
            .map(|c| c.code.to_string())
            .collect();
        assert_eq!(chain, ["京0105", "京03", "京", "最高法"]);
    }

    #[test]
    fn nearness_is_the_depth_of_the_deepest_common_court() {
        let r = beijing();
        assert_eq!(r.shared_depth(&court("京0105"), &court("京0105")), 4);
        assert_eq!(r.shared_depth(&court("京0105"), &court("京03")), 3);
        assert_eq!(r.shared_depth(&court("京0105"), &court("京0108")), 2);
        assert_eq!(r.shared_depth(&court("京0105"), &court("京0199")), 0);
    }

    #[test]
    fn a_broken_registry_names_every_broken_entry() {
        use CourtLevel::*;
        let errors = CourtRegistry::new(vec![
            entry("最高法", Supreme, None),
            entry("京", High, None),
            entry("京01", Intermediate, Some("京")),
            entry("京01", Intermediate, Some("京")),
            entry("京0105", Basic, Some("京09")),
            entry("京0108", Intermediate, Some("京01")),
            entry("京02", Basic, Some("最高法")),
        ])
        .unwrap_err();
        let said: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            said,
            [
                "court[3] (京01): is listed twice",
                "court[1] (京): a court at the high level must name its parent, the court above it",
                "court[4] (京0105): its parent 京09 is not in the registry",
                "court[5] (京0108): its parent 京01 stands at the intermediate level, not above the intermediate level",
            ],
        );
        assert!(
            CourtRegistry::new(vec![entry("最高法", Supreme, Some("京"))]).is_err(),
            "the top has no parent"
        );
        let unknown = beijing().require(&court("京0199")).unwrap_err();
        assert!(
            unknown.rule.contains("not in the court registry"),
            "{unknown}"
        );
    }

    #[test]
    fn a_reload_replaces_the_registry_for_new_readers_only() {
        let courts = Courts::new(beijing());
        let held = courts.current();
        courts.replace(CourtRegistry::default());
        assert_eq!(held.len(), 9);
        assert!(courts.current().is_empty());
    }
}
