//! One module per command group.

pub mod calendar;
pub mod deadline;
pub mod dev;
pub mod serve;
pub mod store;
