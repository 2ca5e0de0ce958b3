//! The `mediation-gateway` binary.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use mediation_gateway::cli::Cli;

/// mimalloc rather than glibc's allocator: sled copies pages on every write
/// and frees them on other threads, and glibc's per-thread arenas kept the
/// freed memory, so the gateway's resident memory grew to several times
/// sled's bounded cache while it drained a large outbox, and a fifth of the
/// CPU went to allocation (`docs/benchmarks.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = std::io::stdout();
    match mediation_gateway::run(cli, &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            let _ = writeln!(std::io::stderr(), "error: {}", one_line(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, each said once: an error that
/// already writes its cause into its own message (as "cannot read …: No such
/// file or directory") would otherwise have that cause printed twice.
fn one_line(error: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in error.chain() {
        let text = cause.to_string();
        if line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}
