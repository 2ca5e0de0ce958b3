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

/// Where the configuration comes from.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// The configuration file; `*.toml` files in `<stem>.d/` beside it are
    /// applied over it, then `MEDIATION_GATEWAY_*` variables.
    #[arg(
        long,
        env = "MEDIATION_GATEWAY_CONFIG",
        default_value = "config/gateway.toml"
    )]
    pub config: PathBuf,
    /// Override one key, applied last, e.g. `--set limits.max_batch=500`.
    /// Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

impl ConfigArgs {
    pub fn sources(&self) -> crate::config::Sources {
        crate::config::Sources {
            file: self.config.clone(),
            overrides: self.set.clone(),
            environment: true,
        }
    }

    pub fn load(&self) -> Result<crate::config::Config, crate::config::ConfigError> {
        crate::config::Config::load_from(&self.sources())
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway: its gRPC API, the delivery relay and the deadline
    /// engine.
    Serve(ServeArgs),
    /// Check the configuration and everything it names (roster, calendar,
    /// tenants, TLS files, addresses) without starting, and print the
    /// effective settings.
    CheckConfig(CheckConfigArgs),
    /// Operator commands against a running gateway, over its gRPC API.
    #[command(subcommand)]
    Ops(OpsCommand),
    /// Run the whole flow in one process: a simulated court and three
    /// platforms, on an accelerated clock, printing the timeline and alerts.
    Demo(DemoArgs),
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
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Replace an existing development PKI.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct DevTokenArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The tenant's id, e.g. court-bj.
    #[arg(long)]
    pub tenant: String,
    /// The token's subject: who acts for the tenant. Not empty.
    #[arg(long, default_value = "developer", value_parser = parse_subject)]
    pub subject: String,
    /// Seconds until the token expires.
    #[arg(long, default_value_t = 3600)]
    pub ttl: u32,
}

/// A token's subject names who acts: an empty or blank one names no one.
fn parse_subject(value: &str) -> Result<String, String> {
    if value.trim().is_empty() {
        return Err("a subject names who acts; it cannot be empty".into());
    }
    Ok(value.to_owned())
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Open the store, check its schema, walk the audit chain and report the
    /// first broken link; show the outbox backlog and dead letters.
    Verify(VerifyArgs),
    /// Apply the database migrations this build knows (PostgreSQL only;
    /// `serve` also applies them at start).
    Migrate(MigrateArgs),
    /// Write the whole store and its case files to one archive file. Stop the
    /// gateway first: the store is opened directly.
    Export(ExportArgs),
    /// Load an archive into the configured data directory, whose store must be
    /// missing or empty. Nothing is left behind if the archive is cut short
    /// or altered.
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The archive to write; refused if it exists.
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The archive to read.
    #[arg(long)]
    pub from: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckConfigArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How many simulated days pass per real second; at 1 the demo's 40
    /// days take 40 seconds.
    #[arg(long, default_value_t = 1.0)]
    pub days_per_second: f64,
    /// Keep the demo's data directory here instead of a temporary one.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

/// How to reach a running gateway as an operator.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The gateway's address; by default the configured `listen` address.
    #[arg(long, env = "MEDIATION_GATEWAY_URL")]
    pub gateway: Option<String>,
    /// The CA that signed the gateway's certificate (PEM); by default the
    /// configured `tls.server_ca`, or the development CA.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// The operator's client certificate and key (PEM); by default the
    /// development PKI's `operators.pem` and `operators.key.pem`.
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    /// The operator's bearer token; in the development profile one is signed
    /// with the development key when this is unset.
    #[arg(long, env = "MEDIATION_GATEWAY_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// The operators' tenant id, for the development defaults.
    #[arg(long, default_value = "operators")]
    pub tenant: String,
    /// Print JSON, one object per line, instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum OpsCommand {
    /// Print alerts, oldest first; with --follow keep printing new ones.
    Alerts(AlertsArgs),
    /// Acknowledge an alert: you have seen it and own it.
    Ack(AckArgs),
    /// Breaches nobody has acknowledged.
    Breaches(ConnectOnly),
    /// A referral's status, deadlines, timeline and waiting messages.
    Referral(ReferralArgs),
    /// Find referrals by the court's reference or case number, by status, or
    /// by a running deadline due before an instant.
    Referrals(ReferralsArgs),
    /// Referrals back with their court awaiting its decision, with how long
    /// each has waited, and which courts let them wait.
    Awaiting(AwaitingArgs),
    /// Messages waiting per destination, and how each destination answers.
    Backlog(ConnectOnly),
    /// Messages the gateway gave up delivering.
    DeadLetters(ConnectOnly),
    /// Put a dead letter back in its lane.
    Replay(ReplayArgs),
    /// Figures per partner and organisation over a period.
    Stats(StatsArgs),
    /// The gateway's clock; with --advance, move a sandbox's clock forward
    /// and fire every timer that falls due.
    Clock(ClockArgs),
    /// The audit trail: every call's record and the gateway's own, oldest
    /// first, filtered; with --export, a range as JSON lines that
    /// `tests/python/verify_audit.py` (or any script written from
    /// docs/security.md) checks.
    Audit(Box<AuditArgs>),
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only entries about this referral.
    #[arg(long)]
    pub referral: Option<String>,
    /// Only calls by this tenant (--tenant names the operator calling).
    #[arg(long)]
    pub by_tenant: Option<String>,
    /// Only calls with this token subject.
    #[arg(long)]
    pub by_subject: Option<String>,
    /// Only this method (/mediation.court.v1.CourtGateway/SubmitReferral) or
    /// gateway action (acceptance_breach).
    #[arg(long)]
    pub method: Option<String>,
    /// Only outcomes starting with this: ok, rejected, PermissionDenied…
    #[arg(long)]
    pub outcome: Option<String>,
    /// Only entries at or after this instant (RFC 3339).
    #[arg(long)]
    pub from: Option<jiff::Timestamp>,
    /// Only entries before this instant (RFC 3339).
    #[arg(long)]
    pub until: Option<jiff::Timestamp>,
    /// Start at this entry number (inclusive).
    #[arg(long)]
    pub from_seq: Option<u64>,
    /// End at this entry number (inclusive).
    #[arg(long)]
    pub to_seq: Option<u64>,
    /// Entries per page.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Read every page to the end of the range, not just the first.
    #[arg(long)]
    pub all: bool,
    /// Print the range as JSON lines with each record's hashed bytes, every
    /// page (implies --json and --all). No filters: a verifier checks each
    /// entry's link to the one before, so the range must be whole.
    #[arg(
        long,
        conflicts_with_all = ["referral", "by_tenant", "by_subject", "method", "outcome", "from", "until"]
    )]
    pub export: bool,
}

#[derive(Debug, Args)]
pub struct ClockArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Move a sandbox's clock forward by this much, e.g. 3d, 36h, 90m or
    /// "2d 4h" (a day is 24 hours).
    #[arg(long, value_parser = parse_forward)]
    pub advance: Option<jiff::SignedDuration>,
}

/// A duration to move a clock by: jiff's friendly or ISO 8601 form, days
/// counted as 24 hours.
fn parse_forward(value: &str) -> Result<jiff::SignedDuration, String> {
    let span: jiff::Span = value
        .parse()
        .map_err(|e| format!("{value:?} is not a duration such as 3d, 36h or 90m: {e}"))?;
    span.to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("{value:?}: {e}"))
}

#[derive(Debug, Args)]
pub struct AwaitingArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Only this court's referrals, e.g. 京0105.
    #[arg(long, default_value = "")]
    pub court: String,
}

#[derive(Debug, Args)]
pub struct ConnectOnly {
    #[command(flatten)]
    pub connect: ConnectArgs,
}

#[derive(Debug, Args)]
pub struct AlertsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Start after this alert number (0: from the first).
    #[arg(long, default_value_t = 0)]
    pub after: u64,
    /// Keep the stream open and print alerts as they are raised.
    #[arg(long)]
    pub follow: bool,
    /// Only this kind, e.g. mediation_breach. Repeatable.
    #[arg(long = "kind")]
    pub kinds: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The alert's number.
    pub seq: u64,
    /// What you are doing about it.
    #[arg(long, default_value = "")]
    pub note: String,
}

#[derive(Debug, Args)]
pub struct ReferralArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    pub referral_id: String,
}

#[derive(Debug, Args)]
pub struct ReferralsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The court's own id for the referral.
    #[arg(long)]
    pub reference: Option<String>,
    /// The court's case number, e.g. （2025）京0105民初123号.
    #[arg(long)]
    pub case_number: Option<String>,
    /// A status, e.g. awaiting_acceptance or in_mediation.
    #[arg(long)]
    pub status: Option<String>,
    /// Only those with a running deadline due before this instant (RFC 3339,
    /// e.g. 2025-03-07T00:00:00+08:00).
    #[arg(long)]
    pub due_before: Option<jiff::Timestamp>,
    /// At most this many.
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    pub message_id: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The period's start, RFC 3339 with an offset.
    #[arg(long, value_parser = parse_instant, required_unless_present = "month", conflicts_with = "month")]
    pub from: Option<Timestamp>,
    /// The period's end (exclusive).
    #[arg(long, value_parser = parse_instant, required_unless_present = "month", conflicts_with = "month")]
    pub to: Option<Timestamp>,
    /// A calendar month in China Standard Time instead of --from/--to, e.g.
    /// 2025-03: the monthly report.
    #[arg(long, value_parser = parse_month)]
    pub month: Option<jiff::civil::Date>,
    /// Only ccpit, labour_arbitration or road_traffic.
    #[arg(long)]
    pub partner: Option<String>,
    /// Print CSV, one row per partner and per organisation, instead of lines.
    #[arg(long, conflicts_with = "json")]
    pub csv: bool,
}

/// A month as `YYYY-MM`: its first day.
fn parse_month(value: &str) -> Result<jiff::civil::Date, String> {
    format!("{value}-01")
        .parse::<jiff::civil::Date>()
        .map_err(|_| format!("a month is YYYY-MM, e.g. 2025-03; got {value:?}"))
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Verify the store this configuration names instead: with
    /// `store.backend = "postgres"`, the database, which may be verified
    /// while the replicas run.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The store's data directory.
    #[arg(
        long,
        env = "MEDIATION_GATEWAY_STORE_DIR",
        default_value = "data/store"
    )]
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
    /// Check a year's holiday notice and install it in the configured
    /// calendar directory; a running gateway uses it after SIGHUP.
    Load(LoadArgs),
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The notice file, named YYYY.toml.
    pub file: PathBuf,
    /// Replace the year's notice if one is installed.
    #[arg(long)]
    pub replace: bool,
}

/// The kind of a referral, for `deadline mediation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KindArg {
    Delegated,
    Entrusted,
}

/// The procedure of an entrusted referral, for `deadline mediation`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProcedureArg {
    Ordinary,
    Summary,
}

fn parse_partner(value: &str) -> Result<mediation_core::partner::Partner, String> {
    mediation_core::partner::Partner::parse(value).map_err(|e| e.to_string())
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
    /// When the offer reached the organisation's platform (its delivery was
    /// acknowledged), as an RFC 3339 instant with an offset, e.g.
    /// 2025-09-30T10:00:00+08:00. `--pushed-at` is its former name.
    #[arg(long = "delivered-at", visible_alias = "pushed-at", value_parser = parse_instant)]
    pub delivered_at: Timestamp,
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
    /// The kind of referral: `delegated` (委派, before docketing) or
    /// `entrusted` (委托, after docketing).
    #[arg(long, value_enum, default_value_t = KindArg::Delegated)]
    pub kind: KindArg,
    /// The procedure of an entrusted referral: `ordinary` or `summary`.
    #[arg(long, value_enum)]
    pub procedure: Option<ProcedureArg>,
    /// The partner whose rules apply: `ccpit` (30 days for every kind),
    /// `labour_arbitration` or `road_traffic` (the Supreme People's Court's:
    /// 30 for 委派, 15 or 7 for 委托). Unset, the Supreme People's Court's.
    #[arg(long, value_parser = parse_partner)]
    pub partner: Option<mediation_core::partner::Partner>,
    /// The limit in days, instead of the one the kind and partner give.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub days: Option<u32>,
    /// A suspension for appraisal from one day to another, e.g.
    /// 2025-03-10..2025-03-24 (excludes 14 days). Repeatable.
    #[arg(long = "pause", value_parser = parse_pause)]
    pub pauses: Vec<Pause>,
    /// The last day all parties agreed to extend mediation to (YYYY-MM-DD).
    #[arg(long, value_parser = parse_date, conflicts_with = "extend_by")]
    pub extend_to: Option<Date>,
    /// The days all parties agreed to extend mediation by.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub extend_by: Option<u32>,
    /// The day the parties agreed the extension (YYYY-MM-DD): pauses that
    /// began before it are allowed for in the agreed day, later ones push
    /// it. Unset, the extension is taken as agreed after every pause.
    #[arg(long, value_parser = parse_date)]
    pub agreed_on: Option<Date>,
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
    fn a_token_subject_cannot_be_empty() {
        assert_eq!(parse_subject("clerk-7").unwrap(), "clerk-7");
        for blank in ["", " ", "\t\n"] {
            let said = parse_subject(blank).unwrap_err();
            assert!(said.contains("cannot be empty"), "{blank:?}");
        }
        let refused = Cli::try_parse_from([
            "mediation-gateway",
            "dev",
            "token",
            "--tenant",
            "court-bj",
            "--subject",
            "",
        ])
        .unwrap_err();
        assert_eq!(refused.kind(), clap::error::ErrorKind::ValueValidation);
        let defaulted = ["mediation-gateway", "dev", "token", "--tenant", "t"];
        let parsed = Cli::try_parse_from(defaulted).unwrap();
        let Command::Dev(DevCommand::Token(token)) = parsed.command else {
            panic!("not dev token");
        };
        assert_eq!(token.subject, "developer");
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
