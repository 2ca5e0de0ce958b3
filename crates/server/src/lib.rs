//! The gateway's binary as a library, so that its commands can be tested without
//! spawning a process. `main.rs` only parses the arguments and reports errors.

pub mod app;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
pub mod connections;
pub mod health;
pub mod json_log;
pub mod notify;
pub mod observe;
pub mod security;
pub mod sim;
pub mod traces;

use std::io::Write;

use cli::{CalendarCommand, Cli, Command, DevCommand, StoreCommand};

/// Runs one command, writing its output to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => commands::serve::run(args, out),
        Command::Deadline(args) => commands::deadline::run(args, out),
        Command::Calendar(CalendarCommand::Check(args)) => commands::calendar::check(args, out),
        Command::Calendar(CalendarCommand::Load(args)) => commands::calendar::load(args, out),
        Command::Store(StoreCommand::Verify(args)) => commands::store::verify(args, out),
        Command::Store(StoreCommand::Migrate(args)) => commands::store::migrate(args, out),
        Command::Store(StoreCommand::Export(args)) => commands::store::export(args, out),
        Command::Store(StoreCommand::Import(args)) => commands::store::import(args, out),
        Command::CheckConfig(args) => commands::check_config::run(args, out),
        Command::Ops(command) => commands::ops::run(command, out),
        Command::Demo(args) => commands::demo::run(args, out),
        Command::Dev(DevCommand::Pki(args)) => commands::dev::pki(args, out),
        Command::Dev(DevCommand::Token(args)) => commands::dev::token(args, out),
    }
}
