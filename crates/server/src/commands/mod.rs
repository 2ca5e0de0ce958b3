//! One module per command group.

pub mod calendar;
pub mod check_config;
pub mod deadline;
pub mod demo;
pub mod dev;
pub mod ops;
pub mod serve;
pub mod store;
