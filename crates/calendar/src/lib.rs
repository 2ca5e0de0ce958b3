//! Working days of the People's Republic of China, and the period arithmetic the
//! gateway's deadlines are built on.
//!
//! The State Council publishes every year which days are public holidays and which
//! weekend days are worked instead (调休). Those notices are data, loaded at run time
//! from one file per year ([`notice`]), so that next year's notice needs no rebuild.
//! A [`Calendar`] answers whether a day is a working day; where a year has no notice
//! it falls back to weekends and the fixed-date statutory holidays and says so, so a
//! result built on a guess is never mistaken for a certain one.
//!
//! [`period`] counts periods the way the Civil Procedure Law does: the starting day
//! is not counted, and a period whose last day is a rest day runs to the next working
//! day. [`cst`] converts between instants and days in China Standard Time.

pub mod calendar;
pub mod cst;
pub mod error;
pub mod notice;
pub mod period;

pub use calendar::{Calendar, Classified, DayKind};
pub use error::Error;
pub use jiff::civil::Date;
pub use notice::{Holiday, Notice};
pub use period::Reckoning;
