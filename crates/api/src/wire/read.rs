//! Readers for the plain values every contract carries: optional texts, days,
//! instants, amounts, party references and file descriptions. The `Result`
//! readers say what is wrong with one value; the others record a violation
//! under the field's path and return `None` when the value is bad.

use jiff::Timestamp;
use jiff::civil::Date;
use mediation_core::document::{Document, DocumentLocation, DocumentUrl, MediaType, Sha256Digest};
use mediation_core::ids::PartyRef;
use mediation_core::money::{Amount, Currency};
use mediation_core::outcome::ConfirmedAddress;
use mediation_core::text::{Line, Narrative};
use mediation_core::{Invalid, Violations};

use super::{WireFile, WireMoney};
use crate::time;

/// Every item, or `None` when any could not be read.
pub(crate) fn all<T>(items: Vec<Option<T>>) -> Option<Vec<T>> {
    items.into_iter().collect()
}

/// `None` for an empty value, else what `parse` makes of it.
pub(crate) fn optional<T>(
    value: &str,
    parse: impl FnOnce(&str) -> Result<T, Invalid>,
) -> Result<Option<T>, Invalid> {
    if value.trim().is_empty() {
        Ok(None)
    } else {
        parse(value).map(Some)
    }
}

/// A day as `YYYY-MM-DD`, from 1900 up to 2100: anything outside is a slip
/// of the keyboard (9999) or a probe, not a day of a dispute.
pub(crate) fn date(value: &str) -> Result<Date, Invalid> {
    let day: Date = value
        .parse()
        .map_err(|_| Invalid::new(format!("must be a day as YYYY-MM-DD, got {value:?}")))?;
    if !(1900..2100).contains(&day.year()) {
        return Err(Invalid::new(format!(
            "must be a day from 1900 up to 2100, got {day}"
        )));
    }
    Ok(day)
}

/// An amount and its currency; the error names the part that is wrong.
pub(crate) fn money(m: &impl WireMoney) -> Result<Amount, (&'static str, Invalid)> {
    let (amount, currency) = m.parts();
    let currency = Currency::parse(currency).map_err(|e| ("currency", e))?;
    Amount::parse(amount, currency).map_err(|e| ("amount", e))
}

/// An amount under `path`: `Some(None)` when absent, `None` when invalid.
pub(crate) fn optional_money(
    v: &mut Violations,
    path: &str,
    m: Option<&impl WireMoney>,
) -> Option<Option<Amount>> {
    match m {
        None => Some(None),
        Some(m) => required_money(v, path, Some(m)).map(Some),
    }
}

/// A required amount under `path`.
pub(crate) fn required_money(
    v: &mut Violations,
    path: &str,
    m: Option<&impl WireMoney>,
) -> Option<Amount> {
    let Some(m) = m else {
        v.push(path, "is required");
        return None;
    };
    match money(m) {
        Ok(a) => Some(a),
        Err((field, e)) => {
            v.push(format!("{path}.{field}"), e.rule);
            None
        }
    }
}

/// An amount in yuan written as a bare decimal, as the labour and
/// road-traffic platforms send it.
pub(crate) fn yuan(value: &str) -> Result<Amount, Invalid> {
    Amount::parse(value, Currency::cny())
}

/// An optional narrative: `Some(None)` when empty, `None` when invalid.
pub(crate) fn optional_narrative(
    v: &mut Violations,
    field: &str,
    value: &str,
) -> Option<Option<Narrative>> {
    v.check(field, optional(value, Narrative::parse))
}

/// A list of narratives, each checked under `field[i]`.
pub(crate) fn narratives(v: &mut Violations, field: &str, values: &[String]) -> Vec<Narrative> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, t)| v.check(format!("{field}[{i}]"), Narrative::parse(t)))
        .collect()
}

/// A list of party references, each checked under `field[i]`.
pub(crate) fn party_refs(v: &mut Violations, field: &str, values: &[String]) -> Vec<PartyRef> {
    values
        .iter()
        .enumerate()
        .filter_map(|(i, p)| v.check(format!("{field}[{i}]"), PartyRef::parse(p)))
        .collect()
}

/// Addresses for service the parties confirmed, as (party, address) pairs,
/// each checked under `field[i]`.
pub(crate) fn confirmed_addresses<'a>(
    v: &mut Violations,
    field: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<ConfirmedAddress> {
    pairs
        .enumerate()
        .filter_map(|(i, (party, address))| {
            let party = v.check(format!("{field}[{i}].party"), PartyRef::parse(party));
            let address = v.check(format!("{field}[{i}].address"), Line::parse(address));
            Some(ConfirmedAddress {
                party: party?,
                address: address?,
            })
        })
        .collect()
}

/// A required instant.
pub(crate) fn required_time(
    v: &mut Violations,
    field: &str,
    value: Option<&prost_types::Timestamp>,
) -> Option<Timestamp> {
    v.check(
        field,
        value
            .ok_or_else(|| Invalid::new("is required"))
            .and_then(time::from_wire),
    )
}

/// The files listed under `field`, each with its own rules (a size, a file
/// name) checked under `field[i]`; an empty url means the gateway keeps the
/// file.
pub(crate) fn files(v: &mut Violations, field: &str, files: &[impl WireFile]) -> Vec<Document> {
    files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let path = format!("{field}[{i}]");
            let document = file(v, &path, f)?;
            v.nest(&path, document.validate());
            Some(document)
        })
        .collect()
}

/// A file description's fields under `path`, without its own rules: for a
/// bundle, whose validation checks them with the rest.
pub(crate) fn file(v: &mut Violations, path: &str, f: &impl WireFile) -> Option<Document> {
    let name = v.check(format!("{path}.name"), Line::parse(f.name()));
    let media_type = v.check(
        format!("{path}.media_type"),
        MediaType::parse(f.media_type()),
    );
    let sha256 = v.check(format!("{path}.sha256"), Sha256Digest::parse(f.sha256()));
    let location = v.check(
        format!("{path}.url"),
        optional(f.url(), DocumentUrl::parse)
            .map(|u| u.map_or(DocumentLocation::Stored, DocumentLocation::Url)),
    );
    Some(Document {
        name: name?,
        media_type: media_type?,
        size_bytes: f.size_bytes(),
        sha256: sha256?,
        location: location?,
    })
}
