//! The roster of specially invited mediators (特邀调解员名册).
//!
//! Courts keep a roster of the mediators they invite as well as of the
//! organisations (seed 000 §(十), §(二十一); seed 002 (三)2; seed 003 四(二)2
//! and 3, 四(三)2, 五(五)): each organisation on the roster lists its mediators with
//! their qualification, the days their listing is valid and whether they are
//! suspended or removed. A mediator named in an acceptance, an agreement, a
//! report or a signature must be listed by the organisation that holds the
//! case, and valid on that day.
//!
//! Compatibility: an organisation that lists no mediators at all takes any
//! mediator id, so rosters written before mediators were listed keep working.
//! Once it lists one, only those it lists are taken.
//!
//! Days are days in China (CST): turn an instant into one with
//! [`crate::calendar::cst::date_of`] (or use [`check_listed_at`]).

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::error::{FieldError, Invalid};
use crate::ids::{MediatorId, OrganisationId};
use crate::text::Line;

/// Where a mediator stands on the roster.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Standing {
    /// May mediate while the listing is valid.
    #[default]
    Active,
    /// Temporarily may not mediate, e.g. pending a complaint or assessment.
    Suspended,
    /// Taken off the roster (退出); kept listed so past cases still name them.
    Removed,
}

impl Standing {
    pub const ALL: [Standing; 3] = [Standing::Active, Standing::Suspended, Standing::Removed];

    /// The name the roster file uses: `active`, `suspended` or `removed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Active => "active",
            Standing::Suspended => "suspended",
            Standing::Removed => "removed",
        }
    }
}

impl fmt::Display for Standing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Standing {
    type Err = Invalid;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Standing::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
            .ok_or_else(|| {
                Invalid::new(format!(
                    "must be \"active\", \"suspended\" or \"removed\", got {value:?}"
                ))
            })
    }
}

/// One mediator on an organisation's roster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosteredMediator {
    pub id: MediatorId,
    pub name: Line,
    /// E.g. 特邀调解员, 律师调解员.
    pub qualification: Line,
    /// The first day (CST) the listing is valid.
    pub valid_from: Date,
    /// The last day (CST) the listing is valid, inclusive.
    pub valid_until: Date,
    #[serde(default)]
    pub standing: Standing,
}

impl RosteredMediator {
    /// Whether this mediator may act for `organisation` on day `on` (CST):
    /// not removed, not suspended, and `on` within
    /// `valid_from..=valid_until`. A removed or suspended mediator is told
    /// so whatever the day.
    pub fn check(&self, organisation: &OrganisationId, on: Date) -> Result<(), MediatorRefusal> {
        let organisation = organisation.clone();
        let mediator = self.id.clone();
        let name = self.name.clone();
        match self.standing {
            Standing::Removed => Err(MediatorRefusal::Removed {
                organisation,
                mediator,
                name,
            }),
            Standing::Suspended => Err(MediatorRefusal::Suspended {
                organisation,
                mediator,
                name,
            }),
            Standing::Active if on < self.valid_from => Err(MediatorRefusal::NotYetValid {
                organisation,
                mediator,
                name,
                valid_from: self.valid_from,
                on,
            }),
            Standing::Active if on > self.valid_until => Err(MediatorRefusal::Expired {
                organisation,
                mediator,
                name,
                valid_until: self.valid_until,
                on,
            }),
            Standing::Active => Ok(()),
        }
    }
}

/// Whether `mediator` may act for `organisation`, which lists `listed`, on
/// day `on` (CST). An organisation that lists no mediators takes any.
pub fn check_listed(
    listed: &[RosteredMediator],
    organisation: &OrganisationId,
    mediator: &MediatorId,
    on: Date,
) -> Result<(), MediatorRefusal> {
    if listed.is_empty() {
        return Ok(());
    }
    match listed.iter().find(|m| &m.id == mediator) {
        Some(m) => m.check(organisation, on),
        None => Err(MediatorRefusal::NotListed {
            organisation: organisation.clone(),
            mediator: mediator.clone(),
        }),
    }
}

/// [`check_listed`] on the day in China on which `at` falls.
pub fn check_listed_at(
    listed: &[RosteredMediator],
    organisation: &OrganisationId,
    mediator: &MediatorId,
    at: Timestamp,
) -> Result<(), MediatorRefusal> {
    check_listed(
        listed,
        organisation,
        mediator,
        mediation_calendar::cst::date_of(at),
    )
}

/// Why a mediator may not act for an organisation on a day. Its text is a
/// field error's rule, fit to show the partner platform, e.g.
/// `mediator: m-9 is not on the roster of mediators of ccpit-bj-01`
/// ([`MediatorRefusal::at`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediatorRefusal {
    /// The organisation lists mediators, and not this one.
    #[error("{mediator} is not on the roster of mediators of {organisation}")]
    NotListed {
        organisation: OrganisationId,
        mediator: MediatorId,
    },
    /// Listed, but only from a later day.
    #[error(
        "{mediator} ({name}) is on the roster of {organisation} from {valid_from}, not yet on {on}"
    )]
    NotYetValid {
        organisation: OrganisationId,
        mediator: MediatorId,
        name: Line,
        valid_from: Date,
        on: Date,
    },
    /// Listed, but the listing ended before that day.
    #[error(
        "{mediator} ({name}) was on the roster of {organisation} until {valid_until}, no longer on {on}"
    )]
    Expired {
        organisation: OrganisationId,
        mediator: MediatorId,
        name: Line,
        valid_until: Date,
        on: Date,
    },
    #[error("{mediator} ({name}) is suspended from the roster of {organisation}")]
    Suspended {
        organisation: OrganisationId,
        mediator: MediatorId,
        name: Line,
    },
    #[error("{mediator} ({name}) was removed from the roster of {organisation}")]
    Removed {
        organisation: OrganisationId,
        mediator: MediatorId,
        name: Line,
    },
}

impl MediatorRefusal {
    pub fn organisation(&self) -> &OrganisationId {
        match self {
            MediatorRefusal::NotListed { organisation, .. }
            | MediatorRefusal::NotYetValid { organisation, .. }
            | MediatorRefusal::Expired { organisation, .. }
            | MediatorRefusal::Suspended { organisation, .. }
            | MediatorRefusal::Removed { organisation, .. } => organisation,
        }
    }

    pub fn mediator(&self) -> &MediatorId {
        match self {
            MediatorRefusal::NotListed { mediator, .. }
            | MediatorRefusal::NotYetValid { mediator, .. }
            | MediatorRefusal::Expired { mediator, .. }
            | MediatorRefusal::Suspended { mediator, .. }
            | MediatorRefusal::Removed { mediator, .. } => mediator,
        }
    }

    /// Names the field the mediator came from, e.g. `mediator` or
    /// `signatures[1].signer`.
    pub fn at(self, field: impl Into<String>) -> FieldError {
        Invalid::from(self).at(field)
    }
}

impl From<MediatorRefusal> for Invalid {
    fn from(refusal: MediatorRefusal) -> Self {
        Invalid::new(refusal.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{at, courts, line, mediator, organisation};
    use crate::routing::{Roster, RosterEntry, Router};
    use jiff::civil::date;

    fn listed(id: &str, standing: Standing) -> RosteredMediator {
        RosteredMediator {
            id: mediator(id),
            name: line("王调解"),
            qualification: line("特邀调解员"),
            valid_from: date(2025, 1, 1),
            valid_until: date(2027, 12, 31),
            standing,
        }
    }

    fn roster_of_org() -> Vec<RosteredMediator> {
        vec![
            listed("m-1", Standing::Active),
            listed("m-2", Standing::Suspended),
            listed("m-3", Standing::Removed),
        ]
    }

    fn check(id: &str, on: Date) -> Result<(), MediatorRefusal> {
        check_listed(&roster_of_org(), &organisation("org-a"), &mediator(id), on)
    }

    #[test]
    fn a_listed_active_mediator_is_valid_from_the_first_to_the_last_day_inclusive() {
        assert_eq!(check("m-1", date(2025, 1, 1)), Ok(()));
        assert_eq!(check("m-1", date(2026, 6, 15)), Ok(()));
        assert_eq!(check("m-1", date(2027, 12, 31)), Ok(()));

        let early = check("m-1", date(2024, 12, 31)).unwrap_err();
        assert!(
            matches!(early, MediatorRefusal::NotYetValid { valid_from, on, .. }
                if valid_from == date(2025, 1, 1) && on == date(2024, 12, 31)),
            "{early:?}"
        );
        assert_eq!(
            early.to_string(),
            "m-1 (王调解) is on the roster of org-a from 2025-01-01, not yet on 2024-12-31"
        );

        let late = check("m-1", date(2028, 1, 1)).unwrap_err();
        assert!(
            matches!(late, MediatorRefusal::Expired { valid_until, on, .. }
                if valid_until == date(2027, 12, 31) && on == date(2028, 1, 1)),
            "{late:?}"
        );
        assert_eq!(
            late.to_string(),
            "m-1 (王调解) was on the roster of org-a until 2027-12-31, no longer on 2028-01-01"
        );
    }

    #[test]
    fn days_are_days_in_china() {
        let org = organisation("org-a");
        let m1 = mediator("m-1");
        let list = roster_of_org();
        // 23:59:59 on the last day in Beijing is 15:59:59 UTC: still valid.
        assert_eq!(
            check_listed_at(&list, &org, &m1, at("2027-12-31T15:59:59Z")),
            Ok(())
        );
        // 16:00 UTC on the last day is already the next day in Beijing.
        assert!(matches!(
            check_listed_at(&list, &org, &m1, at("2027-12-31T16:00:00Z")),
            Err(MediatorRefusal::Expired { .. })
        ));
        // 00:00 CST on the first day is 16:00 UTC the day before: valid.
        assert_eq!(
            check_listed_at(&list, &org, &m1, at("2024-12-31T16:00:00Z")),
            Ok(())
        );
        assert!(matches!(
            check_listed_at(&list, &org, &m1, at("2024-12-31T15:59:59Z")),
            Err(MediatorRefusal::NotYetValid { .. })
        ));
    }

    #[test]
    fn suspended_and_removed_mediators_are_refused_whatever_the_day() {
        let suspended = check("m-2", date(2026, 1, 1)).unwrap_err();
        assert!(
            matches!(suspended, MediatorRefusal::Suspended { .. }),
            "{suspended:?}"
        );
        assert_eq!(
            suspended.to_string(),
            "m-2 (王调解) is suspended from the roster of org-a"
        );
        let removed = check("m-3", date(2026, 1, 1)).unwrap_err();
        assert!(
            matches!(removed, MediatorRefusal::Removed { .. }),
            "{removed:?}"
        );
        assert_eq!(
            removed.to_string(),
            "m-3 (王调解) was removed from the roster of org-a"
        );
        // Out of its dates too, the standing is what is said.
        assert!(matches!(
            check("m-3", date(2030, 1, 1)),
            Err(MediatorRefusal::Removed { .. })
        ));
        assert!(matches!(
            check("m-2", date(2024, 1, 1)),
            Err(MediatorRefusal::Suspended { .. })
        ));
    }

    #[test]
    fn a_mediator_the_organisation_does_not_list_is_refused_with_the_field_named() {
        let unknown = check("m-9", date(2026, 1, 1)).unwrap_err();
        assert_eq!(
            unknown,
            MediatorRefusal::NotListed {
                organisation: organisation("org-a"),
                mediator: mediator("m-9"),
            }
        );
        assert_eq!(unknown.mediator(), &mediator("m-9"));
        assert_eq!(unknown.organisation(), &organisation("org-a"));
        assert_eq!(
            unknown.at("signatures[1].signer").to_string(),
            "signatures[1].signer: m-9 is not on the roster of mediators of org-a"
        );
    }

    #[test]
    fn an_organisation_listing_no_mediators_takes_any() {
        assert_eq!(
            check_listed(
                &[],
                &organisation("org-a"),
                &mediator("anyone"),
                date(1999, 1, 1)
            ),
            Ok(())
        );
    }

    #[test]
    fn standings_read_by_their_names() {
        for s in Standing::ALL {
            assert_eq!(s.as_str().parse::<Standing>(), Ok(s));
        }
        assert!(
            "paused"
                .parse::<Standing>()
                .unwrap_err()
                .rule
                .contains("\"paused\"")
        );
    }

    fn entry(id: &str, mediators: Vec<RosteredMediator>) -> RosterEntry {
        let json = format!(
            r#"{{"id":"{id}","name":"{id} 调解中心","partner":"ccpit","confirmed_by":"京",
            "region":"京01","domains":["commercial"],"capacity":5}}"#
        );
        let mut e: RosterEntry = serde_json::from_str(&json).unwrap();
        assert!(e.mediators.is_empty(), "a roster without mediators reads");
        e.mediators = mediators;
        e
    }

    #[test]
    fn the_roster_checks_lists_and_names_each_organisations_mediators() {
        let roster = Roster::new(
            vec![
                entry("listing", roster_of_org()),
                entry("silent", Vec::new()),
            ],
            courts(),
        );
        let on = date(2026, 3, 2);
        let (listing, silent) = (organisation("listing"), organisation("silent"));
        assert_eq!(
            roster.check_mediator(&listing, &mediator("m-1"), on),
            Ok(())
        );
        assert!(matches!(
            roster.check_mediator(&listing, &mediator("m-9"), on),
            Err(MediatorRefusal::NotListed { .. })
        ));
        assert!(matches!(
            roster.check_mediator(&listing, &mediator("m-2"), on),
            Err(MediatorRefusal::Suspended { .. })
        ));
        assert!(matches!(
            roster.check_mediator(&listing, &mediator("m-1"), date(2028, 1, 1)),
            Err(MediatorRefusal::Expired { .. })
        ));
        // Lists none: any mediator; nor does an organisation off the roster.
        assert_eq!(roster.check_mediator(&silent, &mediator("m-9"), on), Ok(()));
        assert_eq!(
            roster.check_mediator(&organisation("gone"), &mediator("m-9"), on),
            Ok(())
        );

        let ids: Vec<String> = roster
            .mediators_of(&listing)
            .iter()
            .map(|m| m.id.to_string())
            .collect();
        assert_eq!(ids, ["m-1", "m-2", "m-3"]);
        assert!(roster.mediators_of(&silent).is_empty());
        assert!(roster.mediators_of(&organisation("gone")).is_empty());
        assert_eq!(
            roster.mediator_name(&listing, &mediator("m-3")),
            Some(line("王调解"))
        );
        assert_eq!(roster.mediator_name(&listing, &mediator("m-9")), None);
        assert_eq!(roster.mediator_name(&silent, &mediator("m-1")), None);

        // A reload carries the mediators it reads.
        roster.replace(vec![entry(
            "listing",
            vec![listed("m-9", Standing::Active)],
        )]);
        assert_eq!(
            roster.check_mediator(&listing, &mediator("m-9"), on),
            Ok(())
        );
        assert!(
            roster
                .check_mediator(&listing, &mediator("m-1"), on)
                .is_err()
        );
    }

    #[test]
    fn a_router_without_a_roster_of_mediators_takes_any() {
        let none = crate::routing::NoRoster;
        assert_eq!(
            none.check_mediator(&organisation("org-a"), &mediator("m-9"), date(2026, 1, 1)),
            Ok(())
        );
        assert!(none.mediators_of(&organisation("org-a")).is_empty());
    }

    #[test]
    fn mediators_read_from_roster_data_with_active_by_default() {
        let json = r#"{"id":"ccpit-bj","name":"北京调解中心","partner":"ccpit","confirmed_by":"京","region":"京01",
            "domains":["commercial"],"capacity":5,
            "mediator":[{"id":"m-ccpit-bj-001","name":"李明","qualification":"特邀调解员",
              "valid_from":"2025-01-01","valid_until":"2027-12-31"}]}"#;
        let e: RosterEntry = serde_json::from_str(json).unwrap();
        assert_eq!(e.mediators.len(), 1);
        assert_eq!(e.mediators[0].standing, Standing::Active);
        assert_eq!(e.mediators[0].valid_until, date(2027, 12, 31));
        let bad = json.replace(r#""valid_until""#, r#""standing":"paused","valid_until""#);
        assert!(
            serde_json::from_str::<RosterEntry>(&bad)
                .unwrap_err()
                .to_string()
                .contains("paused")
        );
    }
}
