//! The operators' service: alerts as they happen (resumable by sequence
//! number), acknowledgements, open breaches, a referral's timeline with its
//! waiting messages, the outbox backlog, dead letters and their replay, and
//! statistics per partner and organisation.
//!
//! The guard admits only operators. Everything here reads the store and the
//! relay's view of its destinations; nothing here decides a referral's fate.

mod audit;
mod codes;
mod outbound;
mod service;

pub use service::OperationsService;
