//! Periods counted the way the Civil Procedure Law counts them (art. 85): the day a
//! period starts from is not counted; a period in days whose last day is a legal
//! rest day ends on the first working day after it; a period ends at 24:00 of its
//! last day (see [`crate::cst::end_of`]).
//!
//! Every function returns a [`Reckoning`]: the day found, and the years whose
//! days were looked at without a loaded notice. A reckoning with any such year is
//! provisional and must be recomputed when the notice arrives.

use std::collections::BTreeSet;

use jiff::civil::Date;

use crate::{Calendar, Error};

/// A day computed from the calendar, and how sure it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reckoning {
    pub date: Date,
    /// Years whose days were consulted without a notice being loaded.
    pub missing_years: BTreeSet<i16>,
}

impl Reckoning {
    /// True when the result rests on a guess about a year with no notice.
    pub fn is_provisional(&self) -> bool {
        !self.missing_years.is_empty()
    }
}

/// Walks the calendar day by day, remembering which years it had to guess.
struct Walk<'c> {
    calendar: &'c Calendar,
    day: Date,
    start: Date,
    missing_years: BTreeSet<i16>,
}

impl<'c> Walk<'c> {
    fn new(calendar: &'c Calendar, day: Date) -> Self {
        Self {
            calendar,
            day,
            start: day,
            missing_years: BTreeSet::new(),
        }
    }

    fn is_working(&mut self) -> bool {
        let classified = self.calendar.classify(self.day);
        if classified.provisional {
            self.missing_years.insert(self.day.year());
        }
        classified.kind.is_working()
    }

    fn forward(&mut self) -> Result<(), Error> {
        self.day = self.day.tomorrow().map_err(|_| self.out_of_range())?;
        Ok(())
    }

    fn backward(&mut self) -> Result<(), Error> {
        self.day = self.day.yesterday().map_err(|_| self.out_of_range())?;
        Ok(())
    }

    fn out_of_range(&self) -> Error {
        Error::OutOfRange { start: self.start }
    }

    fn finish(self) -> Reckoning {
        Reckoning {
            date: self.day,
            missing_years: self.missing_years,
        }
    }
}

/// The `n`th working day after `from` (`from` itself is not counted). With
/// `n == 0` the answer is `from`.
pub fn add_working_days(calendar: &Calendar, from: Date, n: u32) -> Result<Reckoning, Error> {
    let mut walk = Walk::new(calendar, from);
    let mut counted = 0;
    while counted < n {
        walk.forward()?;
        if walk.is_working() {
            counted += 1;
        }
    }
    Ok(walk.finish())
}

/// The `n`th working day before `to` (`to` itself is not counted). With `n == 0`
/// the answer is `to`.
pub fn subtract_working_days(calendar: &Calendar, to: Date, n: u32) -> Result<Reckoning, Error> {
    let mut walk = Walk::new(calendar, to);
    let mut counted = 0;
    while counted < n {
        walk.backward()?;
        if walk.is_working() {
            counted += 1;
        }
    }
    Ok(walk.finish())
}

/// `day` if it is a working day, otherwise the first working day after it.
pub fn roll_forward_to_working_day(calendar: &Calendar, day: Date) -> Result<Reckoning, Error> {
    let mut walk = Walk::new(calendar, day);
    while !walk.is_working() {
        walk.forward()?;
    }
    Ok(walk.finish())
}

/// The last day of a period of `days` calendar days starting from `from` (not
/// counted), moved to the next working day when it falls on a rest day.
pub fn end_of_period(calendar: &Calendar, from: Date, days: u32) -> Result<Reckoning, Error> {
    let raw = add_days(from, i64::from(days))?;
    roll_forward_to_working_day(calendar, raw)
}

/// `day` moved by `days` calendar days, either way.
pub fn add_days(day: Date, days: i64) -> Result<Date, Error> {
    day.checked_add(
        jiff::Span::new()
            .try_days(days)
            .map_err(|_| Error::OutOfRange { start: day })?,
    )
    .map_err(|_| Error::OutOfRange { start: day })
}

/// Calendar days from `earlier` to `later` (negative when `later` is before).
pub fn days_between(earlier: Date, later: Date) -> i64 {
    // jiff computes date differences in days exactly; the fallback is unreachable
    // for dates jiff can represent.
    later
        .since((jiff::Unit::Day, earlier))
        .map(|span| i64::from(span.get_days()))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use jiff::civil::date;
    use proptest::prelude::*;

    fn shipped() -> Calendar {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../config/calendar");
        Calendar::load_dir(&dir).unwrap()
    }

    #[test]
    fn three_working_days_across_the_2025_national_day_holiday() {
        // The example in the domain notes: pushed Tuesday 30 September 2025, due
        // Saturday 11 October, a make-up working day.
        let r = add_working_days(&shipped(), date(2025, 9, 30), 3).unwrap();
        assert_eq!(r.date, date(2025, 10, 11));
        assert!(!r.is_provisional());
    }

    #[test]
    fn a_period_into_a_year_without_a_notice_is_provisional() {
        let r = add_working_days(&shipped(), date(2026, 12, 30), 3).unwrap();
        // 31 Dec (Thu) counts; 1 Jan 2027 is a fixed holiday; 2–3 Jan a weekend;
        // 4 and 5 Jan count.
        assert_eq!(r.date, date(2027, 1, 5));
        assert_eq!(r.missing_years, BTreeSet::from([2027]));
    }

    #[test]
    fn period_end_on_a_rest_day_rolls_to_the_next_working_day() {
        // 2025-05-01 + 30 days = 2025-05-31, the first day of the Dragon Boat
        // holiday (31 May – 2 June): the period ends on Tuesday 3 June.
        let r = end_of_period(&shipped(), date(2025, 5, 1), 30).unwrap();
        assert_eq!(r.date, date(2025, 6, 3));
    }

    #[test]
    fn subtracting_finds_the_previous_working_day() {
        // The working day before Saturday 11 October 2025 (make-up day) is
        // Friday 10 October.
        let r = subtract_working_days(&shipped(), date(2025, 10, 11), 1).unwrap();
        assert_eq!(r.date, date(2025, 10, 10));
        // Three back passes 10 and 9 October, then skips the whole holiday to 30
        // September.
        let r = subtract_working_days(&shipped(), date(2025, 10, 11), 3).unwrap();
        assert_eq!(r.date, date(2025, 9, 30));
    }

    #[test]
    fn days_between_counts_calendar_days() {
        assert_eq!(days_between(date(2024, 2, 28), date(2024, 3, 1)), 2);
        assert_eq!(days_between(date(2025, 3, 1), date(2025, 2, 28)), -1);
    }

    fn any_date() -> impl Strategy<Value = Date> {
        // 2023 has no shipped notice, 2024–2026 do, 2027–2028 do not: the
        // properties must hold across the seams.
        (0i64..(6 * 366)).prop_map(|offset| add_days(date(2023, 1, 1), offset).unwrap())
    }

    /// The reference implementation: walk day by day and count working days.
    fn naive_add(calendar: &Calendar, from: Date, n: u32) -> Date {
        let mut day = from;
        let mut left = n;
        while left > 0 {
            day = day.tomorrow().unwrap();
            if calendar.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn adding_working_days_lands_on_a_working_day(from in any_date(), n in 1u32..40) {
            let calendar = shipped();
            let r = add_working_days(&calendar, from, n).unwrap();
            prop_assert!(calendar.is_working_day(r.date));
            prop_assert!(r.date > from);
        }

        #[test]
        fn adding_working_days_is_monotonic(from in any_date(), n in 0u32..40, extra in 1u32..10) {
            let calendar = shipped();
            let a = add_working_days(&calendar, from, n).unwrap().date;
            let b = add_working_days(&calendar, from, n + extra).unwrap().date;
            prop_assert!(a < b);
            let later = add_working_days(&calendar, from.tomorrow().unwrap(), n).unwrap().date;
            prop_assert!(a <= later);
        }

        #[test]
        fn adding_working_days_agrees_with_a_naive_count(from in any_date(), n in 0u32..60) {
            let calendar = shipped();
            let r = add_working_days(&calendar, from, n).unwrap();
            prop_assert_eq!(r.date, naive_add(&calendar, from, n));
            // Exactly n working days lie in (from, r.date].
            let mut counted = 0;
            let mut day = from;
            while day < r.date {
                day = day.tomorrow().unwrap();
                if calendar.is_working_day(day) { counted += 1; }
            }
            prop_assert_eq!(counted, n);
        }

        #[test]
        fn subtracting_undoes_adding(from in any_date(), n in 1u32..40) {
            let calendar = shipped();
            let forward = add_working_days(&calendar, from, n).unwrap().date;
            let back = subtract_working_days(&calendar, forward, n).unwrap().date;
            // Going back lands on `from` when it is a working day, otherwise on the
            // last working day before it.
            let expected = if calendar.is_working_day(from) {
                from
            } else {
                subtract_working_days(&calendar, from, 1).unwrap().date
            };
            prop_assert_eq!(back, expected);
        }

        #[test]
        fn provisional_exactly_when_an_unnoticed_year_is_touched(from in any_date(), n in 1u32..40) {
            let calendar = shipped();
            let r = add_working_days(&calendar, from, n).unwrap();
            // The days examined are those after `from` up to the result.
            let expected: BTreeSet<i16> = (from.tomorrow().unwrap().year()..=r.date.year())
                .filter(|y| !calendar.has_notice(*y))
                .collect();
            prop_assert_eq!(&r.missing_years, &expected);
        }

        #[test]
        fn period_end_is_a_working_day_at_or_after_the_raw_end(from in any_date(), days in 1u32..120) {
            let calendar = shipped();
            let r = end_of_period(&calendar, from, days).unwrap();
            let raw = add_days(from, i64::from(days)).unwrap();
            prop_assert!(r.date >= raw);
            prop_assert!(calendar.is_working_day(r.date));
            // Every day between the raw end and the result is a rest day.
            let mut day = raw;
            while day < r.date {
                prop_assert!(!calendar.is_working_day(day));
                day = day.tomorrow().unwrap();
            }
        }
    }
}
