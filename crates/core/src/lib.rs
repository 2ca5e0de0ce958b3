//! The domain of court-referred mediation, with no I/O: no network, no storage,
//! no wire format.
//!
//! - [`bundle`]: what a court pushes — parties, claims, documents, consent.
//! - [`particulars`]: the facts a labour or road-traffic platform works from.
//! - [`outcome`]: what mediation ends in — agreement, failure report, sham
//!   mediation, judicial confirmation and the court's ruling.
//! - [`lifecycle`]: the referral's state machine; commands return events.
//! - [`routing`]: the roster of organisations and the choice among them;
//!   [`mediators`]: each organisation's mediators on the roster and when
//!   they may act.
//! - [`deadline`]: the acceptance and mediation deadlines, and their policies;
//!   [`timer`]: the timers a referral's state calls for.
//! - [`outbox`], [`alert`], [`audit`]: what a command sends, raises and records.
//! - [`store`]: the storage traits a storage crate implements.
//! - value types that validate on construction: [`court`], [`identity`],
//!   [`money`], [`document`], [`ids`], [`text`].
//!
//! Adapters translate their wire messages into these types and report the
//! [`error::Violations`] they get back field by field.

pub mod access;
pub mod alert;
pub mod audit;
pub mod bundle;
pub mod clock;
pub mod court;
pub mod deadline;
pub mod document;
pub mod error;
pub mod identity;
pub mod ids;
pub mod lifecycle;
pub mod mediators;
pub mod money;
mod newtype;
pub mod outbox;
pub mod outcome;
pub mod particulars;
pub mod partner;
pub mod retention;
pub mod routing;
pub mod statistics;
pub mod store;
pub mod text;
pub mod timer;

#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;

pub use error::{FieldError, Invalid, Violations};
pub use lifecycle::{Change, Event, Referral, Status, TransitionError};
pub use mediation_calendar as calendar;
