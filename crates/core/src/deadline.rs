//! The two deadlines the gateway enforces, computed from the working-day
//! calendar:
//!
//! - **acceptance**: the organisation must accept or decline within N working
//!   days after the day the referral was pushed (that day not counted);
//! - **mediation**: mediation must end within N days after the day of acceptance
//!   (that day not counted); days suspended for appraisal are not counted; an
//!   extension all parties agreed replaces the limit; a last day that is a rest
//!   day moves to the next working day.
//!
//! Both end at 24:00 China Standard Time of their last day. A warning can be given
//! a number of working days ahead. A deadline that looked at a year with no
//! holiday notice is provisional and says which years it guessed.

use std::collections::BTreeSet;

use jiff::Timestamp;
use jiff::civil::Date;
use mediation_calendar::{Calendar, Reckoning, cst, period};
use serde::{Deserialize, Serialize};

use crate::bundle::{Procedure, ReferralKind};

/// Which deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    Acceptance,
    Mediation,
}

impl DeadlineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeadlineKind::Acceptance => "acceptance",
            DeadlineKind::Mediation => "mediation",
        }
    }
}

/// A computed deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    pub kind: DeadlineKind,
    /// The last day on which the act is on time.
    pub due_date: Date,
    /// The instant the act becomes late: 24:00 CST of `due_date`.
    pub due_at: Timestamp,
    /// When to warn that the deadline is near, if warnings are configured.
    pub warn_at: Option<Timestamp>,
    /// Years consulted without a holiday notice; non-empty means provisional.
    pub missing_years: BTreeSet<i16>,
}

impl Deadline {
    pub fn is_provisional(&self) -> bool {
        !self.missing_years.is_empty()
    }

    fn from_reckoning(
        calendar: &Calendar,
        kind: DeadlineKind,
        due: Reckoning,
        warn_working_days: u32,
    ) -> Result<Self, Error> {
        let mut missing_years = due.missing_years;
        let warn_at = if warn_working_days == 0 {
            None
        } else {
            // Warn when only `warn_working_days` working days are left: at the end
            // of the working day that many working days before the due date.
            let before = period::subtract_working_days(calendar, due.date, warn_working_days)?;
            missing_years.extend(before.missing_years);
            Some(cst::end_of(before.date))
        };
        Ok(Self {
            kind,
            due_date: due.date,
            due_at: cst::end_of(due.date),
            warn_at,
            missing_years,
        })
    }
}

/// How many days of mediation each kind of referral gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediationLimits {
    /// 委派 (pre-litigation).
    pub delegated: u32,
    /// 委托 under ordinary procedure.
    pub entrusted_ordinary: u32,
    /// 委托 under summary procedure.
    pub entrusted_summary: u32,
}

impl MediationLimits {
    /// The Supreme People's Court's online mediation rules (法释〔2021〕23号 art.
    /// 24) and its rules on specially invited mediation (法释〔2016〕14号 art. 27):
    /// 30 days pre-litigation, 15 (ordinary) or 7 (summary) after docketing.
    pub const SUPREME_COURT_RULES: Self = Self {
        delegated: 30,
        entrusted_ordinary: 15,
        entrusted_summary: 7,
    };

    /// The trade-promotion council's notice on court–CCPIT docking: 30 days
    /// whatever the kind (seed 003, 四(四)3).
    pub const TRADE_PROMOTION_COUNCIL: Self = Self::uniform(30);

    /// The limits each partner works under unless configured otherwise: the
    /// CCPIT notice's 30 days for its centres; the Supreme People's Court's
    /// rules for the labour and road-traffic organisations, which its notice
    /// on them does not vary.
    pub const fn default_for(partner: crate::partner::Partner) -> Self {
        match partner {
            crate::partner::Partner::Ccpit => Self::TRADE_PROMOTION_COUNCIL,
            crate::partner::Partner::LabourArbitration | crate::partner::Partner::RoadTraffic => {
                Self::SUPREME_COURT_RULES
            }
        }
    }

    /// The same limit for every kind.
    pub const fn uniform(days: u32) -> Self {
        Self {
            delegated: days,
            entrusted_ordinary: days,
            entrusted_summary: days,
        }
    }

    /// The limit for `kind`.
    pub fn for_kind(&self, kind: &ReferralKind) -> u32 {
        match kind {
            // A directly taken dispute is never accepted through the gateway,
            // so no limit runs; the pre-litigation one is the nearest kin.
            ReferralKind::Delegated | ReferralKind::DirectIntake => self.delegated,
            ReferralKind::Entrusted {
                procedure: Procedure::Ordinary,
                ..
            } => self.entrusted_ordinary,
            ReferralKind::Entrusted {
                procedure: Procedure::Summary,
                ..
            } => self.entrusted_summary,
        }
    }
}

/// The deadline rules of one partner platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlinePolicy {
    /// Working days to accept or decline.
    pub acceptance_working_days: u32,
    pub mediation: MediationLimits,
    /// Warn this many working days ahead of each deadline; 0 for no warning.
    pub warn_working_days: u32,
    /// Days after the mediation limit in which an agreement reported late
    /// still counts; 0 (the default) ends mediation at the limit, as online
    /// rules Art. 25 has it.
    #[serde(default)]
    pub agreement_grace_days: u32,
    /// Operators are warned when an appraisal pause has lasted this many
    /// days; 0 for no warning. Appraisal time does not count against the
    /// mediation limit (online rules Art. 26), so an appraisal that drags on
    /// is the one way a mediation can stall without a breach.
    #[serde(default = "default_appraisal_review_days")]
    pub appraisal_review_days: u32,
    /// Working days a referral that came back to the court may wait for the
    /// court's decision (docketing it, passing it on) before the court is
    /// reminded; 0 for no reminder. The court has 7 days to docket a suit
    /// (CPL Art. 126); counted in working days, the reminder never comes
    /// before that.
    #[serde(default = "default_court_decision_working_days")]
    pub court_decision_working_days: u32,
}

fn default_court_decision_working_days() -> u32 {
    DeadlinePolicy::COURT_DECISION_WORKING_DAYS
}

fn default_appraisal_review_days() -> u32 {
    DeadlinePolicy::APPRAISAL_REVIEW_DAYS
}

impl DeadlinePolicy {
    /// The default days of appraisal after which operators are warned.
    pub const APPRAISAL_REVIEW_DAYS: u32 = 30;
    /// The default working days before a court is reminded of a referral
    /// awaiting its decision.
    pub const COURT_DECISION_WORKING_DAYS: u32 = 7;
}

impl Default for DeadlinePolicy {
    /// 3 working days to accept, 30 days to mediate, a warning one working day
    /// ahead.
    fn default() -> Self {
        Self {
            acceptance_working_days: 3,
            mediation: MediationLimits::uniform(30),
            warn_working_days: 1,
            agreement_grace_days: 0,
            appraisal_review_days: Self::APPRAISAL_REVIEW_DAYS,
            court_decision_working_days: Self::COURT_DECISION_WORKING_DAYS,
        }
    }
}

/// The working days after `from` up to `to`, `to` included (0 when `to` is
/// not after `from`).
pub fn working_days_between(calendar: &Calendar, from: Date, to: Date) -> u32 {
    let mut days = 0;
    let mut day = from;
    while day < to {
        let Ok(next) = day.tomorrow() else { break };
        day = next;
        if calendar.is_working_day(day) {
            days += 1;
        }
    }
    days
}

/// The end of the `days`th working day after `since`'s day: when a referral
/// that came back to the court at `since` has waited that long for its
/// decision.
pub fn working_days_after(
    calendar: &Calendar,
    since: Timestamp,
    days: u32,
) -> Result<Timestamp, Error> {
    let day = period::add_working_days(calendar, cst::date_of(since), days)?;
    Ok(cst::end_of(day.date))
}

/// The acceptance deadline of a referral pushed at `pushed_at`.
pub fn acceptance_deadline(
    calendar: &Calendar,
    policy: &DeadlinePolicy,
    pushed_at: Timestamp,
) -> Result<Deadline, Error> {
    let pushed_on = cst::date_of(pushed_at);
    let due = period::add_working_days(calendar, pushed_on, policy.acceptance_working_days)?;
    Deadline::from_reckoning(
        calendar,
        DeadlineKind::Acceptance,
        due,
        policy.warn_working_days,
    )
}

/// Days during which mediation was suspended for appraisal (委托鉴定评估): from
/// the day it was suspended to the day it resumed, which excludes `to − from`
/// days from the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub from: Date,
    pub to: Date,
}

impl Pause {
    pub fn days(&self) -> i64 {
        period::days_between(self.from, self.to)
    }
}

/// Everything that decides a mediation deadline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediationTerm {
    pub accepted_on: Date,
    pub limit_days: u32,
    /// Finished pauses, in order.
    pub pauses: Vec<Pause>,
    /// The day the current pause began, while mediation is suspended.
    pub paused_since: Option<Date>,
    /// The last day the parties agreed to extend the period to.
    pub extended_to: Option<Date>,
    /// Days already paused when the parties agreed the extension: the day
    /// they agreed to already allows for those, so only later pauses move
    /// it. 0 for terms stored before this was recorded, which keeps the
    /// deadlines they had.
    #[serde(default)]
    pub paused_before_extension: i64,
}

impl MediationTerm {
    pub fn new(accepted_on: Date, limit_days: u32) -> Self {
        Self {
            accepted_on,
            limit_days,
            pauses: Vec::new(),
            paused_since: None,
            extended_to: None,
            paused_before_extension: 0,
        }
    }

    /// Suspends the period on `on`.
    pub fn pause(&mut self, on: Date) -> Result<(), Error> {
        if let Some(since) = self.paused_since {
            return Err(Error::AlreadyPaused { since });
        }
        let earliest = self.pauses.last().map_or(self.accepted_on, |p| p.to);
        if on < earliest {
            return Err(Error::PauseOutOfOrder { from: on, earliest });
        }
        self.paused_since = Some(on);
        Ok(())
    }

    /// Resumes the period on `on`.
    /// Whether a pause is running.
    pub fn is_paused(&self) -> bool {
        self.paused_since.is_some()
    }

    pub fn resume(&mut self, on: Date) -> Result<(), Error> {
        let from = self.paused_since.ok_or(Error::NotPaused)?;
        if on < from {
            return Err(Error::ResumeBeforePause { from, to: on });
        }
        self.pauses.push(Pause { from, to: on });
        self.paused_since = None;
        Ok(())
    }

    /// Adds a finished pause, as the command line does.
    pub fn add_pause(&mut self, pause: Pause) -> Result<(), Error> {
        self.pause(pause.from)?;
        self.resume(pause.to)
    }

    /// Replaces the limit by an extension to `last_day`, agreed now, which
    /// must lengthen the period: `last_day` must fall after the day the
    /// period ends on now, which is its last day moved to the next working
    /// day when that is a rest day (CPL Art. 85; online rules Art. 24: an
    /// agreed extension lengthens the period). The period then ends on
    /// `last_day` (moved only when that is a rest day): pauses before the
    /// agreement do not push it, pauses after it do.
    pub fn extend_to(&mut self, last_day: Date, calendar: &Calendar) -> Result<(), Error> {
        let current_last_day = self.ends_on(calendar)?;
        if last_day <= current_last_day {
            return Err(Error::ExtensionTooShort {
                last_day,
                current_last_day,
            });
        }
        self.record_extension(last_day);
        Ok(())
    }

    /// Lengthens the period by `days`, agreed now: the same as an extension
    /// to the day the period ends on now plus `days`. A period whose last
    /// day was a Saturday ends on the Monday; two more days make it end on
    /// the Wednesday, not on that Monday again.
    /// (0 days does not lengthen it and is refused as `extend_to` refuses.)
    pub fn extend_by(&mut self, days: u32, calendar: &Calendar) -> Result<(), Error> {
        let last_day = period::add_days(self.ends_on(calendar)?, i64::from(days))?;
        self.extend_to(last_day, calendar)
    }

    /// The day the period ends on: its last day, moved to the next working
    /// day when that is a rest day (CPL Art. 85).
    pub fn ends_on(&self, calendar: &Calendar) -> Result<Date, Error> {
        Ok(period::roll_forward_to_working_day(calendar, self.last_day()?)?.date)
    }

    /// Records an extension to `last_day` agreed now, already checked.
    pub fn record_extension(&mut self, last_day: Date) {
        self.extended_to = Some(last_day);
        self.paused_before_extension = self.paused_days();
    }

    /// The period's last day before rest days are taken into account: the
    /// limit or the agreed day, pushed by the pauses that count against it.
    pub fn last_day(&self) -> Result<Date, Error> {
        Ok(match self.extended_to {
            Some(last) => {
                period::add_days(last, self.paused_days() - self.paused_before_extension)?
            }
            None => period::add_days(
                self.accepted_on,
                i64::from(self.limit_days) + self.paused_days(),
            )?,
        })
    }

    /// The days the period lasts, not counting pauses.
    pub fn counted_days(&self) -> i64 {
        match self.extended_to {
            Some(last) => period::days_between(self.accepted_on, last),
            None => i64::from(self.limit_days),
        }
    }

    /// Days excluded by finished pauses.
    pub fn paused_days(&self) -> i64 {
        self.pauses.iter().map(Pause::days).sum()
    }

    /// The deadline, or `None` while mediation is suspended: no clock runs then.
    pub fn deadline(
        &self,
        calendar: &Calendar,
        warn_working_days: u32,
    ) -> Result<Option<Deadline>, Error> {
        if self.paused_since.is_some() {
            return Ok(None);
        }
        let raw_end = self.last_day()?;
        let due = period::roll_forward_to_working_day(calendar, raw_end)?;
        Deadline::from_reckoning(calendar, DeadlineKind::Mediation, due, warn_working_days)
            .map(Some)
    }
}

/// Why a deadline could not be computed or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Calendar(String),
    #[error("mediation is already suspended since {since}")]
    AlreadyPaused { since: Date },
    #[error("mediation is not suspended")]
    NotPaused,
    #[error(
        "a pause cannot start on {from}, before {earliest} (acceptance or the end of the previous pause)"
    )]
    PauseOutOfOrder { from: Date, earliest: Date },
    #[error("a pause cannot end on {to}, before it started on {from}")]
    ResumeBeforePause { from: Date, to: Date },
    #[error(
        "an extension to {last_day} does not lengthen the period, which already runs to {current_last_day}"
    )]
    ExtensionTooShort {
        last_day: Date,
        current_last_day: Date,
    },
}

impl From<mediation_calendar::Error> for Error {
    fn from(e: mediation_calendar::Error) -> Self {
        Error::Calendar(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::shipped_calendar;
    use jiff::civil::date;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn acceptance(pushed: &str) -> Deadline {
        acceptance_deadline(&shipped_calendar(), &DeadlinePolicy::default(), at(pushed)).unwrap()
    }

    fn mediation(
        accepted_on: Date,
        days: u32,
        pauses: &[(Date, Date)],
        extend: Option<Date>,
    ) -> Deadline {
        let mut term = MediationTerm::new(accepted_on, days);
        for &(from, to) in pauses {
            term.add_pause(Pause { from, to }).unwrap();
        }
        if let Some(last) = extend {
            term.extend_to(last, &shipped_calendar()).unwrap();
        }
        term.deadline(&shipped_calendar(), 1).unwrap().unwrap()
    }

    /// Real dates of 2024–2026: (pushed at, expected due date, why).
    #[test]
    fn acceptance_table() {
        let cases = [
            (
                "2025-09-30T10:00:00+08:00",
                date(2025, 10, 11),
                "over National Day to a make-up Saturday",
            ),
            (
                "2024-02-08T09:00:00+08:00",
                date(2024, 2, 19),
                "over the 2024 Spring Festival",
            ),
            (
                "2024-02-02T09:00:00+08:00",
                date(2024, 2, 6),
                "Sunday 4 February 2024 was a make-up working day",
            ),
            (
                "2026-02-12T16:00:00+08:00",
                date(2026, 2, 24),
                "over the 2026 Spring Festival",
            ),
            (
                "2025-01-24T12:00:00+08:00",
                date(2025, 2, 5),
                "a make-up Sunday, then over the 2025 Spring Festival",
            ),
            (
                "2025-06-03T08:00:00+08:00",
                date(2025, 6, 6),
                "an ordinary week",
            ),
            (
                "2025-06-06T23:59:59+08:00",
                date(2025, 6, 11),
                "pushed on a Friday night",
            ),
            (
                "2025-06-05T16:30:00Z",
                date(2025, 6, 11),
                "late Thursday in UTC is Friday in China",
            ),
            (
                "2026-12-29T10:00:00+08:00",
                date(2027, 1, 4),
                "into 2027, which has no notice",
            ),
        ];
        for (pushed, due, why) in cases {
            let d = acceptance(pushed);
            assert_eq!(d.due_date, due, "{why}");
            assert_eq!(d.due_at, cst::end_of(due), "{why}");
            assert_eq!(d.is_provisional(), due.year() == 2027, "{why}");
        }
    }

    #[test]
    fn acceptance_warning_is_one_working_day_ahead() {
        let d = acceptance("2025-09-30T10:00:00+08:00");
        // One working day left (Saturday 11 October) from the end of Friday 10 October.
        assert_eq!(cst::format(d.warn_at.unwrap()), "2025-10-11T00:00:00+08:00");
        assert_eq!(cst::format(d.due_at), "2025-10-12T00:00:00+08:00");
    }

    #[test]
    fn mediation_table() {
        // (accepted on, days, pauses, extension, expected due date, why)
        type Case = (
            Date,
            u32,
            Vec<(Date, Date)>,
            Option<Date>,
            Date,
            &'static str,
        );
        let cases: [Case; 8] = [
            (
                date(2025, 3, 3),
                30,
                vec![],
                None,
                date(2025, 4, 2),
                "plain 30 days",
            ),
            (
                date(2025, 9, 8),
                30,
                vec![],
                None,
                date(2025, 10, 9),
                "last day 8 October is a holiday",
            ),
            (
                date(2025, 9, 11),
                30,
                vec![],
                None,
                date(2025, 10, 11),
                "ends on a make-up Saturday",
            ),
            (
                date(2026, 1, 20),
                30,
                vec![],
                None,
                date(2026, 2, 24),
                "ends in the 2026 Spring Festival",
            ),
            (
                date(2024, 1, 5),
                30,
                vec![(date(2024, 1, 15), date(2024, 1, 25))],
                None,
                date(2024, 2, 18),
                "10 paused days push it into the Spring Festival, to a make-up Sunday",
            ),
            (
                date(2025, 3, 3),
                30,
                vec![],
                Some(date(2025, 4, 30)),
                date(2025, 4, 30),
                "extended",
            ),
            (
                date(2025, 3, 3),
                30,
                vec![(date(2025, 3, 10), date(2025, 3, 13))],
                Some(date(2025, 4, 28)),
                date(2025, 4, 28),
                "paused, then extended: the agreed day already allows for the pause",
            ),
            (
                date(2026, 12, 15),
                15,
                vec![],
                None,
                date(2026, 12, 30),
                "15 days under ordinary procedure",
            ),
        ];
        for (accepted, days, pauses, extend, due, why) in cases {
            let d = mediation(accepted, days, &pauses, extend);
            assert_eq!(d.due_date, due, "{why}");
            assert!(!d.is_provisional(), "{why}");
        }
    }

    #[test]
    fn an_extension_ends_on_its_day_and_only_later_pauses_move_it() {
        let calendar = shipped_calendar();
        // Agreed on 10 March to run to 28 April (a Monday): it ends then.
        let mut term = MediationTerm::new(date(2025, 3, 3), 30);
        term.extend_to(date(2025, 4, 28), &calendar).unwrap();
        let due = |t: &MediationTerm| t.deadline(&calendar, 0).unwrap().unwrap().due_date;
        assert_eq!(due(&term), date(2025, 4, 28));
        // A pause after the agreement pushes the day by its length: three
        // days reach 1 May, in the Labour Day holiday, so 6 May (CPL Art. 85).
        term.add_pause(Pause {
            from: date(2025, 4, 1),
            to: date(2025, 4, 4),
        })
        .unwrap();
        assert_eq!(due(&term), date(2025, 5, 6));
        // An extension to a rest day moves to the next working day, and one
        // by a number of days adds them to the current last day.
        let mut term = MediationTerm::new(date(2025, 3, 3), 30);
        term.extend_to(date(2025, 4, 5), &calendar).unwrap(); // a Saturday
        assert_eq!(due(&term), date(2025, 4, 7));
        let mut term = MediationTerm::new(date(2025, 3, 3), 30);
        term.extend_by(15, &calendar).unwrap(); // 2 April + 15 days
        assert_eq!(term.extended_to, Some(date(2025, 4, 17)));
        assert!(matches!(
            term.extend_by(0, &calendar),
            Err(Error::ExtensionTooShort { .. })
        ));
    }

    #[test]
    fn an_extension_lengthens_the_period_as_it_ends_after_a_roll_forward() {
        // Online rules Art. 24 with CPL Art. 85. Accepted 6 March 2025, 30
        // days: the last day is Saturday 5 April, in the Qingming rest days,
        // so the period ends on Monday 7 April.
        let calendar = shipped_calendar();
        let due = |t: &MediationTerm| t.deadline(&calendar, 0).unwrap().unwrap().due_date;
        let term = MediationTerm::new(date(2025, 3, 6), 30);
        assert_eq!(term.ends_on(&calendar).unwrap(), date(2025, 4, 7));
        assert_eq!(due(&term), date(2025, 4, 7));
        // Two more days count from that Monday: Wednesday 9 April.
        let mut by_two = term.clone();
        by_two.extend_by(2, &calendar).unwrap();
        assert_eq!(due(&by_two), date(2025, 4, 9));
        // "Until" the Sunday or the Monday would not lengthen it.
        for day in [date(2025, 4, 6), date(2025, 4, 7)] {
            let err = term.clone().extend_to(day, &calendar).unwrap_err();
            assert_eq!(
                err,
                Error::ExtensionTooShort {
                    last_day: day,
                    current_last_day: date(2025, 4, 7)
                }
            );
        }
        let mut to_tuesday = term.clone();
        to_tuesday.extend_to(date(2025, 4, 8), &calendar).unwrap();
        assert_eq!(due(&to_tuesday), date(2025, 4, 8));
    }

    #[test]
    fn a_term_stored_before_pauses_were_recorded_keeps_its_deadline() {
        // Stored terms have no `paused_before_extension`: every pause then
        // pushed the agreed day, and still does for them.
        let stored = r#"{"accepted_on":"2025-03-03","limit_days":30,
            "pauses":[{"from":"2025-03-10","to":"2025-03-13"}],
            "paused_since":null,"extended_to":"2025-04-28"}"#;
        let term: MediationTerm = serde_json::from_str(stored).unwrap();
        let due = term.deadline(&shipped_calendar(), 0).unwrap().unwrap();
        assert_eq!(due.due_date, date(2025, 5, 6));
    }

    #[test]
    fn a_mediation_ending_in_a_year_without_notice_is_provisional() {
        let d = mediation(date(2026, 12, 20), 30, &[], None);
        // 19 January 2027 is a Tuesday; provisional because 2027 has no notice.
        assert_eq!(d.due_date, date(2027, 1, 19));
        assert_eq!(d.missing_years, BTreeSet::from([2027]));
    }

    #[test]
    fn no_deadline_runs_while_suspended() {
        let mut term = MediationTerm::new(date(2025, 3, 3), 30);
        term.pause(date(2025, 3, 10)).unwrap();
        assert_eq!(term.deadline(&shipped_calendar(), 1).unwrap(), None);
        term.resume(date(2025, 3, 20)).unwrap();
        let d = term.deadline(&shipped_calendar(), 1).unwrap().unwrap();
        assert_eq!(d.due_date, date(2025, 4, 14)); // 2 April + 10 days = Saturday 12th → Monday 14th
    }

    #[test]
    fn bad_pauses_and_extensions_are_refused() {
        let mut term = MediationTerm::new(date(2025, 3, 3), 30);
        assert!(matches!(
            term.pause(date(2025, 3, 1)),
            Err(Error::PauseOutOfOrder { .. })
        ));
        assert_eq!(term.resume(date(2025, 3, 5)), Err(Error::NotPaused));
        term.pause(date(2025, 3, 5)).unwrap();
        assert!(matches!(
            term.pause(date(2025, 3, 6)),
            Err(Error::AlreadyPaused { .. })
        ));
        assert!(matches!(
            term.resume(date(2025, 3, 4)),
            Err(Error::ResumeBeforePause { .. })
        ));
        term.resume(date(2025, 3, 8)).unwrap();
        assert!(matches!(
            term.add_pause(Pause {
                from: date(2025, 3, 7),
                to: date(2025, 3, 9)
            }),
            Err(Error::PauseOutOfOrder { .. })
        ));
        let err = term
            .extend_to(date(2025, 4, 1), &shipped_calendar())
            .unwrap_err();
        assert!(err.to_string().contains("does not lengthen"), "{err}");
    }

    #[test]
    fn limits_follow_the_kind_of_referral() {
        use crate::bundle::TrialStage;
        let rules = MediationLimits::SUPREME_COURT_RULES;
        let entrusted = |procedure| ReferralKind::Entrusted {
            stage: TrialStage::FirstInstance,
            procedure,
        };
        assert_eq!(rules.for_kind(&ReferralKind::Delegated), 30);
        assert_eq!(rules.for_kind(&entrusted(Procedure::Ordinary)), 15);
        assert_eq!(rules.for_kind(&entrusted(Procedure::Summary)), 7);
        assert_eq!(
            MediationLimits::TRADE_PROMOTION_COUNCIL.for_kind(&entrusted(Procedure::Summary)),
            30
        );
    }
}
