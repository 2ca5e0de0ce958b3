//! The State Council's yearly holiday notice (国务院办公厅关于部分节假日安排的通知),
//! as the gateway reads it from a TOML file.
//!
//! One file per year, named `YYYY.toml`:
//!
//! ```toml
//! year = 2025
//! source = "国办发明电〔2024〕12号"
//! published = "2024-11-12"
//!
//! [[holidays]]
//! name = "春节"
//! first = "2025-01-28"
//! last = "2025-02-04"
//! working_weekends = ["2025-01-26", "2025-02-08"]
//! ```
//!
//! A holiday is a run of consecutive rest days, weekends inside the run included,
//! and the weekend days the notice makes working days in exchange (调休). Every date
//! must fall inside the notice's year; a make-up working day must be a Saturday or
//! Sunday; holidays must not overlap each other or a make-up day.

use std::collections::BTreeMap;

use jiff::civil::{Date, Weekday};
use serde::Deserialize;

use crate::Error;

/// One year's notice, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    year: i16,
    source: String,
    published: Option<Date>,
    holidays: Vec<Holiday>,
    rest_days: BTreeMap<Date, usize>,
    working_weekends: BTreeMap<Date, usize>,
}

/// One holiday of a notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    pub first: Date,
    pub last: Date,
    pub working_weekends: Vec<Date>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNotice {
    year: i16,
    source: String,
    #[serde(default)]
    published: Option<Date>,
    #[serde(default)]
    holidays: Vec<RawHoliday>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    first: Date,
    last: Date,
    #[serde(default)]
    working_weekends: Vec<Date>,
}

impl Notice {
    /// Parses and validates a notice. `origin` names where the text came from
    /// (usually the file path) and is quoted in every error.
    pub fn parse(origin: &str, text: &str) -> Result<Self, Error> {
        let raw: RawNotice = toml::from_str(text).map_err(|e| Error::Malformed {
            origin: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        Self::validate(origin, raw)
    }

    /// Builds a notice from holidays given in code, checking the same rules as
    /// [`Notice::parse`].
    pub fn new(
        year: i16,
        source: impl Into<String>,
        holidays: Vec<Holiday>,
    ) -> Result<Self, Error> {
        let raw = RawNotice {
            year,
            source: source.into(),
            published: None,
            holidays: holidays
                .into_iter()
                .map(|h| RawHoliday {
                    name: h.name,
                    first: h.first,
                    last: h.last,
                    working_weekends: h.working_weekends,
                })
                .collect(),
        };
        Self::validate(&format!("notice for {year}"), raw)
    }

    fn validate(origin: &str, raw: RawNotice) -> Result<Self, Error> {
        let invalid = |field: String, rule: String| Error::Invalid {
            origin: origin.to_owned(),
            field,
            rule,
        };
        if !(1949..=9998).contains(&raw.year) {
            return Err(invalid(
                "year".into(),
                format!("{} is not a plausible year", raw.year),
            ));
        }
        if raw.source.trim().is_empty() {
            return Err(invalid(
                "source".into(),
                "must name the notice, e.g. its document number".into(),
            ));
        }
        let mut rest_days = BTreeMap::new();
        let mut working_weekends = BTreeMap::new();
        let mut holidays = Vec::with_capacity(raw.holidays.len());
        for (index, h) in raw.holidays.into_iter().enumerate() {
            let at = |key: &str| format!("holidays[{index}].{key}");
            if h.name.trim().is_empty() {
                return Err(invalid(at("name"), "must not be empty".into()));
            }
            for (key, day) in [("first", h.first), ("last", h.last)] {
                if day.year() != raw.year {
                    return Err(invalid(
                        at(key),
                        format!("{day} is outside the notice's year {}", raw.year),
                    ));
                }
            }
            if h.last < h.first {
                return Err(invalid(
                    at("last"),
                    format!("{} is before first ({})", h.last, h.first),
                ));
            }
            for day in h.first.series(jiff::Span::new().days(1)) {
                if day > h.last {
                    break;
                }
                if let Some(&other) = rest_days.get(&day) {
                    return Err(invalid(
                        at("first"),
                        format!("{day} is already a rest day of holidays[{other}]"),
                    ));
                }
                rest_days.insert(day, index);
            }
            for (w, &day) in h.working_weekends.iter().enumerate() {
                let field = format!("holidays[{index}].working_weekends[{w}]");
                if day.year() != raw.year {
                    return Err(invalid(
                        field,
                        format!("{day} is outside the notice's year {}", raw.year),
                    ));
                }
                if !is_weekend(day) {
                    return Err(invalid(
                        field,
                        format!(
                            "{day} is a {:?}; a make-up working day must be a Saturday or Sunday",
                            day.weekday()
                        ),
                    ));
                }
                if working_weekends.insert(day, index).is_some() {
                    return Err(invalid(field, format!("{day} is listed twice")));
                }
            }
            holidays.push(Holiday {
                name: h.name,
                first: h.first,
                last: h.last,
                working_weekends: h.working_weekends,
            });
        }
        if let Some((day, &index)) = working_weekends
            .iter()
            .find(|(day, _)| rest_days.contains_key(*day))
        {
            return Err(invalid(
                format!("holidays[{index}].working_weekends"),
                format!("{day} is both a rest day and a make-up working day"),
            ));
        }
        Ok(Self {
            year: raw.year,
            source: raw.source,
            published: raw.published,
            holidays,
            rest_days,
            working_weekends,
        })
    }

    /// The year this notice governs.
    pub fn year(&self) -> i16 {
        self.year
    }

    /// The document the notice was taken from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The day the notice was published, when the file records it.
    pub fn published(&self) -> Option<Date> {
        self.published
    }

    /// The holidays, in file order.
    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// The name of the holiday `day` belongs to, if it is a rest day of this notice.
    pub fn holiday_on(&self, day: Date) -> Option<&str> {
        self.rest_days
            .get(&day)
            .map(|&i| self.holidays[i].name.as_str())
    }

    /// The name of the holiday whose make-up working day `day` is, if it is one.
    pub fn make_up_for(&self, day: Date) -> Option<&str> {
        self.working_weekends
            .get(&day)
            .map(|&i| self.holidays[i].name.as_str())
    }
}

pub(crate) fn is_weekend(day: Date) -> bool {
    matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    const SPRING_2025: &str = r#"
        year = 2025
        source = "国办发明电〔2024〕12号"
        published = "2024-11-12"

        [[holidays]]
        name = "春节"
        first = "2025-01-28"
        last = "2025-02-04"
        working_weekends = ["2025-01-26", "2025-02-08"]
    "#;

    fn rule_of(result: Result<Notice, Error>) -> (String, String) {
        match result {
            Err(Error::Invalid { field, rule, .. }) => (field, rule),
            other => panic!("expected a rule violation, got {other:?}"),
        }
    }

    #[test]
    fn a_valid_notice_reads_its_rest_and_make_up_days() {
        let notice = Notice::parse("2025.toml", SPRING_2025).unwrap();
        assert_eq!(notice.year(), 2025);
        assert_eq!(notice.published(), Some(date(2025 - 1, 11, 12)));
        assert_eq!(notice.holiday_on(date(2025, 1, 28)), Some("春节"));
        assert_eq!(notice.holiday_on(date(2025, 2, 4)), Some("春节"));
        assert_eq!(notice.holiday_on(date(2025, 2, 5)), None);
        assert_eq!(notice.make_up_for(date(2025, 2, 8)), Some("春节"));
        assert_eq!(notice.make_up_for(date(2025, 2, 9)), None);
    }

    #[test]
    fn a_make_up_day_on_a_weekday_is_rejected_with_its_field() {
        let text = SPRING_2025.replace("2025-02-08", "2025-02-07");
        let (field, rule) = rule_of(Notice::parse("2025.toml", &text));
        assert_eq!(field, "holidays[0].working_weekends[1]");
        assert!(rule.contains("Saturday or Sunday"), "{rule}");
    }

    #[test]
    fn a_date_outside_the_year_is_rejected() {
        let text = SPRING_2025.replace("first = \"2025-01-28\"", "first = \"2024-12-31\"");
        let (field, rule) = rule_of(Notice::parse("2025.toml", &text));
        assert_eq!(field, "holidays[0].first");
        assert!(rule.contains("outside the notice's year"), "{rule}");
    }

    #[test]
    fn a_reversed_range_is_rejected() {
        let text = SPRING_2025.replace("last = \"2025-02-04\"", "last = \"2025-01-20\"");
        let (field, _) = rule_of(Notice::parse("2025.toml", &text));
        assert_eq!(field, "holidays[0].last");
    }

    #[test]
    fn overlapping_holidays_are_rejected() {
        let text = format!(
            "{SPRING_2025}\n[[holidays]]\nname = \"x\"\nfirst = \"2025-02-04\"\nlast = \"2025-02-05\"\n"
        );
        let (field, rule) = rule_of(Notice::parse("2025.toml", &text));
        assert_eq!(field, "holidays[1].first");
        assert!(rule.contains("already a rest day"), "{rule}");
    }

    #[test]
    fn unknown_keys_and_bad_dates_are_malformed() {
        let text = SPRING_2025.replace("published", "publishd");
        assert!(matches!(
            Notice::parse("2025.toml", &text),
            Err(Error::Malformed { .. })
        ));
        let text = SPRING_2025.replace("2025-01-28", "2025-13-28");
        let err = Notice::parse("2025.toml", &text).unwrap_err();
        assert!(err.to_string().contains("2025.toml"), "{err}");
    }
}
