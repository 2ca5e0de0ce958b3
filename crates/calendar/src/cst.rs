//! China Standard Time: the one time zone every deadline is counted in.
//!
//! China has kept UTC+8 without daylight saving since 1991, so a fixed offset is
//! exact for every date the gateway handles and needs no time-zone database on the
//! host.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::{self, Offset};

/// UTC+08:00.
pub const OFFSET: Offset = tz::offset(8);

/// The day in China on which `instant` falls.
pub fn date_of(instant: Timestamp) -> Date {
    OFFSET.to_datetime(instant).date()
}

/// 00:00 in China at the start of `date`.
pub fn start_of(date: Date) -> Timestamp {
    // A fixed offset has no gaps or folds, so midnight always exists; only the
    // very ends of jiff's supported range could fail, and they clamp.
    OFFSET
        .to_timestamp(date.to_datetime(jiff::civil::Time::midnight()))
        .unwrap_or(Timestamp::MAX)
}

/// 24:00 in China at the end of `date`, which is the first instant of the next
/// day. A period "ends at the end of its last day", so this is the moment an act
/// due on `date` becomes late.
pub fn end_of(date: Date) -> Timestamp {
    match date.tomorrow() {
        Ok(next) => start_of(next),
        Err(_) => Timestamp::MAX,
    }
}

/// RFC 3339 text of `instant` with the +08:00 offset, e.g.
/// `2025-10-12T00:00:00+08:00`.
pub fn format(instant: Timestamp) -> String {
    format!("{:.0}", instant.display_with_offset(OFFSET))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn an_instant_late_in_the_utc_day_is_the_next_day_in_china() {
        let instant: Timestamp = "2025-09-30T17:30:00Z".parse().unwrap();
        assert_eq!(date_of(instant), date(2025, 10, 1));
        let instant: Timestamp = "2025-09-30T15:59:59Z".parse().unwrap();
        assert_eq!(date_of(instant), date(2025, 9, 30));
    }

    #[test]
    fn end_of_a_day_is_midnight_of_the_next_in_cst() {
        assert_eq!(
            format(end_of(date(2025, 10, 11))),
            "2025-10-12T00:00:00+08:00"
        );
        assert_eq!(
            format(start_of(date(2025, 10, 11))),
            "2025-10-11T00:00:00+08:00"
        );
        assert_eq!(date_of(start_of(date(2024, 2, 29))), date(2024, 2, 29));
    }
}
