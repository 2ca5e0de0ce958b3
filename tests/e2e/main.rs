//! End-to-end tests of the `mediation-gateway` binary, run as a user runs it.
//! One test binary for the whole project; modules group the stories.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod alertmanager;
mod audit_trail;
mod ccpit_flow;
mod ccpit_more;
mod cli;
mod console;
mod court_api;
mod court_law;
mod crash;
mod deploy;
mod disclosure;
mod field_paths;
mod health;
mod isolation;
mod labour_flow;
mod law_sequences;
mod neighbours;
mod observability;
mod operations;
mod powercut;
mod python_client;
mod replicas;
mod retention;
mod sandbox;
mod security;
mod served;
mod store;

mod tls;
mod traces;
mod traffic_flow;
mod world;
