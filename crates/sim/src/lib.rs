//! A deterministic simulation of the gateway.
//!
//! One run is one seed. The seed picks every step: a court submits a
//! referral (or the same one again), recalls it, rules on a confirmation,
//! finds on a sham report, dockets a returned case; a platform accepts,
//! declines, pauses for an appraisal, extends, settles, fails, reports sham
//! mediation, applies for confirmation, in turn or out of it; time passes;
//! both replicas sweep their deadlines at once; the relay makes a pass; a
//! link goes down, turns flaky or loses acknowledgements; the power goes
//! (between steps, or in the middle of a relay pass or a sweep); the disk
//! fills or a sync fails. After every step the invariants are checked
//! ([`invariants`]); at the end the faults heal, time runs on past every
//! limit, and the settled state is checked.
//!
//! # What is real and what is simulated
//!
//! Real: the command path (`mediation_service::Commands`), the deadline
//! engine, the relay with its retries and its offer receipts
//! (`mediation_api::transport::deliver_with_receipts`), the court's and
//! the CCPIT platform's API services, and the call guard in front of them
//! (admission by role, rate and calls in flight, and each call's audit
//! record), called in process as a call from the wire reaches them once
//! its certificate and token are checked; the shipped roster and calendar;
//! the default policies.
//!
//! Simulated: the store ([`mediation_store_memory::MemoryStore`], which
//! passes the same conformance suite as sled and PostgreSQL and keeps what
//! was synced apart from what was only written), the clock (a
//! `ManualClock` the run moves, and the runtime's timers on paused time
//! moved with it), new referrals' ids (ULIDs of the simulated
//! time and a counter), and the network between the relay and the
//! receivers ([`network`]).
//!
//! # Determinism
//!
//! Everything runs on a runtime of one thread, and every choice comes from
//! generators seeded by the run's seed. The store gives way to other tasks
//! at the calls where a real one waits on a disk or a server, so the two
//! replicas' sweeps interleave there, the same way every time. Two runs of
//! one seed give the same trace and the same final store
//! ([`Report::trace`]); a failing seed is replayed with `MG_SIM_SEED`.

pub mod invariants;
pub mod network;
mod run;
pub mod world;

pub use run::{Options, Plant, Report, run};
pub use world::SetupError;

#[cfg(test)]
mod tests;
