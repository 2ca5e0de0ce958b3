//! How the gateway handles a command: load the referral, let the domain decide,
//! and commit the events together with the messages, timers, alerts and audit
//! records they imply — durably, before answering. The [`DeadlineEngine`] uses
//! the same path to fire due timers.

mod engine;
mod error;
mod gateway;
mod policy;
mod recompute;

pub use engine::{DeadlineEngine, SweepReport};
pub use error::ServiceError;
pub use gateway::{Context, Gateway, Submission, hand_on};
pub use policy::{BreachAction, PartnerPolicy, Policies};
pub use recompute::{Recompute, RecomputeReport};

#[cfg(test)]
mod tests;
