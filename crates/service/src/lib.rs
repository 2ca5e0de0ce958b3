//! How the gateway handles a command: load the referral, let the domain decide,
//! and commit the events together with the messages, timers, alerts and audit
//! records they imply — durably, before answering. The [`DeadlineEngine`] uses
//! the same path to fire due timers.

mod commands;
mod engine;
mod error;
mod policy;
mod recompute;
mod retention;

pub use commands::{Commands, Context, RandomIds, ReferralIds, Submission, reroute_or_return};
pub use engine::{DeadlineEngine, SweepReport};
pub use error::ServiceError;
pub use policy::{BreachAction, PartnerPolicy, Policies};
pub use recompute::{Recompute, RecomputeReport};
pub use retention::{PurgeReport, RETENTION_ACTOR, Retention, RetentionOptions};

#[cfg(test)]
mod tests;
