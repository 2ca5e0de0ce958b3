//! What the three partner adapters share: the desk that runs a platform's call
//! as a command of the organisation it names, the readers of fields every
//! platform sends in some form, and the decisions that are the same whatever
//! the platform calls them.
//!
//! Each platform keeps its own contract and language; only the translation of
//! plain values and the command path are shared here.

pub(crate) mod codes;
mod decisions;
mod desk;
pub(crate) mod fields;

pub(crate) use decisions::Step;
pub(crate) use desk::{CallFields, Desk};
pub(crate) use fields::{
    date, document, narratives, optional, optional_narrative, party_refs, required_time,
};
