//! The roster file: the specially invited mediation organisations (特邀调解组织)
//! courts may refer to, each entry checked, every id unique and every court it
//! names in the court registry.

use std::collections::BTreeSet;
use std::path::Path;

use mediation_core::court::CourtRegistry;
use mediation_core::routing::RosterEntry;
use serde::Deserialize;

use super::ConfigError;
use super::load::read;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    organisation: Vec<RosterEntry>,
}

/// Reads the roster: every entry checked, ids unique, and its confirming
/// court and region courts `courts` knows.
pub fn load_roster(path: &Path, courts: &CourtRegistry) -> Result<Vec<RosterEntry>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file: RosterFile = toml::from_str(&read(path)?).map_err(|e| invalid(e.to_string()))?;
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
