//! What the three partner adapters share: the desk that runs a platform's call
//! as a command of the organisation it names, the codes more than one
//! platform uses, and the decisions that are the same whatever the platform
//! calls them.
//!
//! Each platform keeps its own contract and language; the plain values are
//! read and written with [`crate::wire`].

pub(crate) mod codes;
mod desk;
mod disclosed;
mod failure;
mod intake;
mod service;
mod step;
mod withdrawal;

pub use desk::CallFields;
pub(crate) use desk::Desk;
pub(crate) use disclosed::Disclosed;
pub(crate) use failure::{FailureFields, complete_failure};
pub(crate) use intake::{Intake, IntakeFields, intake_reference};
pub use service::{PartnerService, Platform};
pub(crate) use step::{Reported, Step};
pub(crate) use withdrawal::{resumption, withdrawal};

use mediation_core::lifecycle::{Referral, Status};

/// The last day of mediation, as every platform's status answer shows it:
/// only while the case is in mediation.
pub(crate) fn mediate_by(r: &Referral) -> String {
    match r.status() {
        Status::InMediation => r
            .mediation_deadline()
            .map(|d| d.due_date.to_string())
            .unwrap_or_default(),
        _ => String::new(),
    }
}
