//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;
use jiff::civil::Date;
use mediation_core::deadline::Pause;

/// The mediation gateway between the courts' mediation platform and the partner
/// mediation platforms.
#[derive(Debug, Parser)]
#[command(name = "mediation-gateway", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: its gRPC API, the delivery relay and the deadline
    /// engine.
    Serve(ServeArgs),
    /// Compute the deadline the gateway would enforce.
    #[command(subcommand)]
    Deadline(DeadlineCommand),
    /// Work with the working-day calendar.
    #[command(subcommand)]
    Calendar(CalendarCommand),
    /// Inspect the durable store.
    #[command(subcommand)]
    Store(StoreCommand),
    /// Development certificates and tokens.
    #[command(subcommand)]
    Dev(DevCommand),
}

#[derive(Debug, Subcommand)]
pub enum DevCommand {
    /// Write a new development CA, a certificate for the gateway, and a
    /// client certificate and token key for every tenant in the tenants file,
    /// under <data_dir>/dev-pki. Refused in the production profile.
    Pki(DevPkiArgs),
    /// Print a bearer token for a tenant, signed with its development key.
    Token(DevTokenArgs),
}

#[derive(Debug, Args)]
pub struct DevPkiArgs {
    #[arg(
        long,
        env = "MEDIATION_GATEWAY_CONFIG",
        default_value = "config/gateway.toml"
    )]
    pub config: PathBuf,
    /// Replace an existing development PKI.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DevTokenArgs {
    #[arg(
        long,
        env = "MEDIATION_GATEWAY_CONFIG",
        default_value = "config/gateway.toml"
    )]
    pub config: PathBuf,
    /// The tenant's id, e.g. court-bj.
    #[arg(long)]
    pub tenant: String,
    /// The token's subject: who acts for the tenant.
    #[arg(long, default_value = "developer")]
    pub subject: String,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u32,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file.
    #[arg(
        long,
        env = "MEDIATION_GATEWAY_CONFIG",
        default_value = "config/gateway.toml"
    )]
    pub config: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Open the store, check its schema, walk the audit chain and report the
    /// first broken link; show the outbox backlog and dead letters.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The store's data directory.
    #[arg(long, env = "MEDIATION_GATEWAY_DATA_DIR", default_value = "data/store")]
    pub data_dir: PathBuf,
    /// Print one JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum DeadlineCommand {
    /// When an organisation must accept or decline a referral.
    Acceptance(AcceptanceArgs),
    /// When a mediation must end.
    Mediation(MediationArgs),
}

#[derive(Debug, Subcommand)]
pub enum CalendarCommand {
    /// Check a holiday-notice file before putting it in the calendar directory.
    Check(CheckArgs),
}

/// Options every deadline computation shares.
#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Directory of holiday notices, one `YYYY.toml` per year.
    #[arg(
        long,
        env = "MEDIATION_GATEWAY_CALENDAR_DIR",
        default_value = "config/calendar"
    )]
    pub calendar_dir: PathBuf,
    /// Warn this many working days before the deadline (0: no warning).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(0..=30))]
    pub warn_working_days: u32,
    /// Print one JSON object instead of a sentence.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AcceptanceArgs {
    /// When the court pushed the referral, as an RFC 3339 instant with an offset,
    /// e.g. 2025-09-30T10:00:00+08:00.
    #[arg(long, value_parser = parse_instant)]
    pub pushed_at: Timestamp,
    /// Working days allowed to accept or decline.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=60))]
    pub working_days: u32,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct MediationArgs {
    /// When the organisation accepted the referral, as an RFC 3339 instant with an
    /// offset, e.g. 2025-03-04T10:00:00+08:00.
    #[arg(long, value_parser = parse_instant)]
    pub accepted_at: Timestamp,
    /// The mediation limit in days (30 by default; the Supreme People's Court's
    /// rules give 30 for 委派, 15 or 7 for 委托).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: u32,
    /// A suspension for appraisal from one day to another, e.g.
    /// 2025-03-10..2025-03-24 (excludes 14 days). Repeatable.
    #[arg(long = "pause", value_parser = parse_pause)]
    pub pauses: Vec<Pause>,
    /// The last day all parties agreed to extend mediation to (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date)]
    pub extend_to: Option<Date>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The notice file to check, named YYYY.toml.
    pub file: PathBuf,
}

fn parse_instant(value: &str) -> Result<Timestamp, String> {
    value.parse::<Timestamp>().map_err(|e| {
        format!(
            "expected an RFC 3339 instant with an offset such as 2025-09-30T10:00:00+08:00 ({e})"
        )
    })
}

fn parse_date(value: &str) -> Result<Date, String> {
    value
        .parse::<Date>()
        .map_err(|e| format!("expected a date such as 2025-10-11 ({e})"))
}

fn parse_pause(value: &str) -> Result<Pause, String> {
    let (from, to) = value.split_once("..").ok_or_else(|| {
        format!("expected FROM..TO such as 2025-03-10..2025-03-24, got {value:?}")
    })?;
    let pause = Pause {
        from: parse_date(from)?,
        to: parse_date(to)?,
    };
    if pause.to < pause.from {
        return Err(format!(
            "the pause ends ({}) before it starts ({})",
            pause.to, pause.from
        ));
    }
    Ok(pause)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn pauses_parse_and_reject_reversed_ranges() {
        let p = parse_pause("2025-03-10..2025-03-24").unwrap();
        assert_eq!(p.days(), 14);
        assert!(
            parse_pause("2025-03-24..2025-03-10")
                .unwrap_err()
                .contains("before it starts")
        );
        assert!(parse_pause("2025-03-10").unwrap_err().contains("FROM..TO"));
        assert!(
            parse_pause("2025-03-10..tomorrow")
                .unwrap_err()
                .contains("expected a date")
        );
    }

    #[test]
    fn instants_need_an_offset() {
        assert!(parse_instant("2025-09-30T10:00:00+08:00").is_ok());
        assert!(
            parse_instant("2025-09-30T10:00:00")
                .unwrap_err()
                .contains("with an offset")
        );
    }
}
