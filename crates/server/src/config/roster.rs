//! The roster file: the specially invited mediation organisations (特邀调解组织)
//! courts may refer to, each entry checked, every id unique and every court it
//! names in the court registry; and each organisation's mediators on the
//! court's roster of invited mediators (特邀调解员名册), each named by its
//! organisation and id when it is wrong.

use std::collections::BTreeSet;
use std::path::Path;

use jiff::civil::Date;
use mediation_core::court::CourtRegistry;
use mediation_core::ids::MediatorId;
use mediation_core::mediators::Standing;
use mediation_core::routing::RosterEntry;
use mediation_core::text::Line;
use serde::Deserialize;

use super::ConfigError;
use super::load::read;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    organisation: Vec<RosterEntry>,
}

/// The keys of a `[[organisation.mediator]]` table.
const MEDIATOR_KEYS: [&str; 6] = [
    "id",
    "name",
    "qualification",
    "valid_from",
    "valid_until",
    "standing",
];

/// Reads the roster: every entry checked, ids unique, and its confirming
/// court and region courts `courts` knows; every organisation's mediators
/// with ids unique within it, well-formed, a known standing and a validity
/// that does not end before it starts.
pub fn load_roster(path: &Path, courts: &CourtRegistry) -> Result<Vec<RosterEntry>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let body = read(path)?;
    // The mediators first, from the file as plain TOML, so that a wrong one
    // is named by its organisation and id. A file that is not TOML at all
    // is refused below, with the parser's line and column.
    if let Ok(document) = toml::from_str::<toml::Table>(&body) {
        check_mediators(&document).map_err(invalid)?;
    }
    let file: RosterFile = toml::from_str(&body).map_err(|e| invalid(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for (i, entry) in file.organisation.iter().enumerate() {
        if !seen.insert(&entry.id) {
            return Err(invalid(format!(
                "organisation[{i}].id: {} is listed twice",
                entry.id
            )));
        }
        for (key, court) in [
            ("confirmed_by", &entry.confirmed_by),
            ("region", &entry.region),
        ] {
            if let Err(e) = courts.require(court) {
                return Err(invalid(format!("organisation[{i}].{key}: {e}")));
            }
        }
        if entry.domains.is_empty() {
            return Err(invalid(format!(
                "organisation[{i}].domains: {} accepts no kind of dispute",
                entry.id
            )));
        }
    }
    Ok(file.organisation)
}

/// Checks every `[[organisation.mediator]]` of `document`, naming the first
/// wrong one by its key, its id and its organisation's id.
fn check_mediators(document: &toml::Table) -> Result<(), String> {
    let Some(organisations) = document.get("organisation").and_then(toml::Value::as_array) else {
        return Ok(());
    };
    for (i, organisation) in organisations.iter().enumerate() {
        let Some(organisation) = organisation.as_table() else {
            continue;
        };
        let Some(mediators) = organisation.get("mediator") else {
            continue;
        };
        let who = organisation
            .get("id")
            .and_then(toml::Value::as_str)
            .unwrap_or("the organisation");
        let Some(mediators) = mediators.as_array() else {
            return Err(format!(
                "organisation[{i}].mediator: the mediators of {who} must be [[organisation.mediator]] tables"
            ));
        };
        let mut seen = BTreeSet::new();
        for (j, mediator) in mediators.iter().enumerate() {
            let key = format!("organisation[{i}].mediator[{j}]");
            let Some(mediator) = mediator.as_table() else {
                return Err(format!(
                    "{key}: a mediator of {who} must be a [[organisation.mediator]] table"
                ));
            };
            let id = string_at(mediator, "id")
                .map_err(|e| format!("{key}.id: a mediator of {who}: {e}"))?;
            MediatorId::parse(id)
                .map_err(|e| format!("{key}.id: mediator {id:?} of {who}: {}", e.rule))?;
            if !seen.insert(id) {
                return Err(format!("{key}.id: mediator {id} is listed twice by {who}"));
            }
            let named = format!("mediator {id} of {who}");
            if let Some(unknown) = mediator
                .keys()
                .find(|k| !MEDIATOR_KEYS.contains(&k.as_str()))
            {
                return Err(format!(
                    "{key}.{unknown}: {named}: unknown key; a mediator has {}",
                    MEDIATOR_KEYS.join(", ")
                ));
            }
            for field in ["name", "qualification"] {
                let value = string_at(mediator, field)
                    .map_err(|e| format!("{key}.{field}: {named}: {e}"))?;
                Line::parse(value).map_err(|e| format!("{key}.{field}: {named}: {}", e.rule))?;
            }
            let from = date_at(mediator, "valid_from")
                .map_err(|e| format!("{key}.valid_from: {named}: {e}"))?;
            let until = date_at(mediator, "valid_until")
                .map_err(|e| format!("{key}.valid_until: {named}: {e}"))?;
            if until < from {
                return Err(format!(
                    "{key}.valid_until: {named} is valid until {until}, before it is valid from {from}"
                ));
            }
            if mediator.contains_key("standing") {
                let standing = string_at(mediator, "standing")
                    .map_err(|e| format!("{key}.standing: {named}: {e}"))?;
                standing.parse::<Standing>().map_err(|e| {
                    format!("{key}.standing: {named}: unknown standing: {}", e.rule)
                })?;
            }
        }
    }
    Ok(())
}

/// The string at `field` of `table`.
fn string_at<'t>(table: &'t toml::Table, field: &str) -> Result<&'t str, String> {
    match table.get(field) {
        Some(toml::Value::String(value)) => Ok(value.as_str()),
        Some(other) => Err(format!("must be a string, not {}", other.type_str())),
        None => Err(format!("{field} must be given")),
    }
}

/// The day at `field` of `table`, written as a quoted `YYYY-MM-DD`.
fn date_at(table: &toml::Table, field: &str) -> Result<Date, String> {
    match table.get(field) {
        Some(toml::Value::String(value)) => value
            .parse::<Date>()
            .map_err(|e| format!("{value:?} is not a date written YYYY-MM-DD: {e}")),
        Some(toml::Value::Datetime(value)) => {
            Err(format!("write the date in quotes, as \"{value}\""))
        }
        Some(other) => Err(format!(
            "must be a date in quotes such as \"2027-12-31\", not {}",
            other.type_str()
        )),
        None => Err(format!("{field} must be given, e.g. \"2027-12-31\"")),
    }
}
