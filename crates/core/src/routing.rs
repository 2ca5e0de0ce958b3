//! Choosing the mediation organisation. The roster-based router is built with
//! the gRPC gateway; the domain only defines what a router answers.

use crate::lifecycle::{Assignment, Referral};

/// Picks the next organisation for a referral.
pub trait Router: Send + Sync + std::fmt::Debug {
    /// The organisation to offer `referral` to next, with the reasons for the
    /// choice, or `None` (with the reason) when no organisation is eligible.
    /// Organisations in [`Referral::excluded`] must not be chosen.
    fn route(&self, referral: &Referral) -> Result<(Assignment, Vec<String>), String>;
}

/// A router with no roster: nothing is ever eligible, so a referral whose
/// organisation failed to accept goes back to the court.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRoster;

impl Router for NoRoster {
    fn route(&self, _: &Referral) -> Result<(Assignment, Vec<String>), String> {
        Err("no roster of mediation organisations is configured".into())
    }
}
