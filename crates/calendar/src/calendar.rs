//! Which days are working days.

use std::collections::BTreeMap;
use std::path::Path;

use jiff::civil::Date;

use crate::Error;
use crate::notice::{Notice, is_weekend};

/// What kind of day a date is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayKind {
    /// Monday to Friday, not a holiday.
    Weekday,
    /// Saturday or Sunday, not made a working day.
    Weekend,
    /// A rest day of the named holiday (weekends inside a holiday included).
    Holiday(String),
    /// A Saturday or Sunday worked in exchange for the named holiday (调休).
    MakeUpWorkingDay(String),
}

impl DayKind {
    /// Whether people work on such a day.
    pub fn is_working(&self) -> bool {
        matches!(self, DayKind::Weekday | DayKind::MakeUpWorkingDay(_))
    }
}

/// A day's kind, and whether it was known or guessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classified {
    pub kind: DayKind,
    /// True when no notice for the day's year is loaded and the kind was guessed
    /// from weekends and the fixed-date statutory holidays.
    pub provisional: bool,
}

/// The statutory holidays that fall on the same date every year (全国年节及纪念日
/// 放假办法, art. 2): New Year's Day, 1–2 May, 1–3 October. They are the only rest
/// days, beside weekends, that can be known before the year's notice appears.
const FIXED_HOLIDAYS: [(i8, i8, &str); 6] = [
    (1, 1, "元旦"),
    (5, 1, "劳动节"),
    (5, 2, "劳动节"),
    (10, 1, "国庆节"),
    (10, 2, "国庆节"),
    (10, 3, "国庆节"),
];

/// The working-day calendar: the loaded notices, by year.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Calendar {
    notices: BTreeMap<i16, Notice>,
}

impl Calendar {
    /// A calendar with no notices: every day is provisional.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A calendar holding `notices`; a later notice for the same year wins.
    pub fn from_notices(notices: impl IntoIterator<Item = Notice>) -> Self {
        let mut calendar = Self::empty();
        for notice in notices {
            calendar.insert(notice);
        }
        calendar
    }

    /// Loads every `YYYY.toml` in `dir`. Other files are ignored so that a README
    /// can sit beside the notices. A file whose name and `year` key disagree is
    /// refused, because one of the two is a mistake.
    pub fn load_dir(dir: &Path) -> Result<Self, Error> {
        let entries = std::fs::read_dir(dir).map_err(|source| Error::Read {
            path: dir.to_owned(),
            source,
        })?;
        let mut calendar = Self::empty();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Read {
                path: dir.to_owned(),
                source,
            })?;
            let path = entry.path();
            let Some(stem_year) = notice_year_from_name(&path) else {
                continue;
            };
            let notice = Self::load_file(&path)?;
            if notice.year() != stem_year {
                return Err(Error::Invalid {
                    origin: path.display().to_string(),
                    field: "year".into(),
                    rule: format!(
                        "{} does not match the file name, which says {stem_year}",
                        notice.year()
                    ),
                });
            }
            calendar.insert(notice);
        }
        if calendar.notices.is_empty() {
            return Err(Error::EmptyDirectory(dir.to_owned()));
        }
        Ok(calendar)
    }

    /// Reads and validates one notice file.
    pub fn load_file(path: &Path) -> Result<Notice, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Notice::parse(&path.display().to_string(), &text)
    }

    /// Adds or replaces the notice for its year. Returns the notice it replaced.
    pub fn insert(&mut self, notice: Notice) -> Option<Notice> {
        self.notices.insert(notice.year(), notice)
    }

    /// The years that have a notice, ascending.
    pub fn years(&self) -> impl Iterator<Item = i16> + '_ {
        self.notices.keys().copied()
    }

    /// The notice for `year`, if loaded.
    pub fn notice(&self, year: i16) -> Option<&Notice> {
        self.notices.get(&year)
    }

    /// Whether `year` has a loaded notice.
    pub fn has_notice(&self, year: i16) -> bool {
        self.notices.contains_key(&year)
    }

    /// What kind of day `day` is.
    pub fn classify(&self, day: Date) -> Classified {
        match self.notices.get(&day.year()) {
            Some(notice) => {
                let kind = if let Some(name) = notice.holiday_on(day) {
                    DayKind::Holiday(name.to_owned())
                } else if let Some(name) = notice.make_up_for(day) {
                    DayKind::MakeUpWorkingDay(name.to_owned())
                } else if is_weekend(day) {
                    DayKind::Weekend
                } else {
                    DayKind::Weekday
                };
                Classified {
                    kind,
                    provisional: false,
                }
            }
            None => {
                let fixed = FIXED_HOLIDAYS
                    .iter()
                    .find(|(m, d, _)| day.month() == *m && day.day() == *d);
                let kind = match fixed {
                    Some((_, _, name)) => DayKind::Holiday((*name).to_owned()),
                    None if is_weekend(day) => DayKind::Weekend,
                    None => DayKind::Weekday,
                };
                Classified {
                    kind,
                    provisional: true,
                }
            }
        }
    }

    /// Whether `day` is a working day (ignoring whether that is certain).
    pub fn is_working_day(&self, day: Date) -> bool {
        self.classify(day).kind.is_working()
    }
}

fn notice_year_from_name(path: &Path) -> Option<i16> {
    if path.extension()? != "toml" {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    if stem.len() != 4 {
        return None;
    }
    stem.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn shipped() -> Calendar {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/calendar");
        Calendar::load_dir(&dir).unwrap()
    }

    #[test]
    fn shipped_notices_cover_2024_to_2026() {
        let calendar = shipped();
        assert_eq!(calendar.years().collect::<Vec<_>>(), vec![2024, 2025, 2026]);
    }

    #[test]
    fn days_of_2025_are_classified_from_the_notice() {
        let calendar = shipped();
        let kind = |d| calendar.classify(d).kind;
        assert_eq!(
            kind(date(2025, 10, 8)),
            DayKind::Holiday("国庆节、中秋节".into())
        );
        assert_eq!(
            kind(date(2025, 10, 11)),
            DayKind::MakeUpWorkingDay("国庆节、中秋节".into())
        );
        assert_eq!(kind(date(2025, 10, 12)), DayKind::Weekend);
        assert_eq!(kind(date(2025, 10, 13)), DayKind::Weekday);
        assert!(!calendar.classify(date(2025, 10, 13)).provisional);
    }

    #[test]
    fn a_year_without_a_notice_is_provisional_with_fixed_holidays() {
        let calendar = shipped();
        let new_year = calendar.classify(date(2027, 1, 1));
        assert_eq!(new_year.kind, DayKind::Holiday("元旦".into()));
        assert!(new_year.provisional);
        // 2027-10-04 is a Monday: no notice, not a fixed holiday, so a working day
        // for now, which the notice may well change.
        let monday = calendar.classify(date(2027, 10, 4));
        assert_eq!(monday.kind, DayKind::Weekday);
        assert!(monday.provisional);
        assert_eq!(
            calendar.classify(date(2027, 5, 2)).kind,
            DayKind::Holiday("劳动节".into())
        );
    }

    #[test]
    fn a_file_whose_name_and_year_disagree_is_refused() {
        let dir = std::env::temp_dir().join(format!("mg-cal-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("2030.toml"), "year = 2031\nsource = \"x\"\n").unwrap();
        std::fs::write(dir.join("README.md"), "ignored").unwrap();
        let err = Calendar::load_dir(&dir).unwrap_err();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            err.to_string().contains("does not match the file name"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_or_missing_directory_is_an_error() {
        let missing = Path::new("/nonexistent/calendar");
        assert!(matches!(
            Calendar::load_dir(missing),
            Err(Error::Read { .. })
        ));
        let dir = std::env::temp_dir().join(format!("mg-cal-empty-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let result = Calendar::load_dir(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(result, Err(Error::EmptyDirectory(_))));
    }
}
