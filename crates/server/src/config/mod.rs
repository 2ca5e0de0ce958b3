//! The gateway's configuration and the roster file, read and checked before
//! anything starts. Every error names the key and where its value came from.
//! This module is the schema and what is derived from it; [`load`] reads the
//! layers, [`check`] holds the rules across keys, [`roster`] reads the roster
//! and [`courts`] the court registry.
//!
//! The configuration is layered, each layer overriding the one before:
//! 1. the defaults below;
//! 2. the configuration file (`--config`, by default `config/gateway.toml`);
//! 3. every `*.toml` in the directory `<file stem>.d` beside it, in name order
//!    (`config/gateway.d/`), e.g. a mounted ConfigMap or secret overlay;
//! 4. environment variables `MEDIATION_GATEWAY_<KEY>`, with `__` between
//!    nested keys: `MEDIATION_GATEWAY_LIMITS__MAX_BATCH=500`;
//! 5. `--set key=value` flags, e.g. `--set metrics.listen=0.0.0.0:9464`.

mod check;
mod courts;
mod load;
mod roster;

pub use courts::load_courts;
pub use load::Sources;
pub use roster::load_roster;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use mediation_api::court::CourtAddress;
use mediation_core::alert::{AlertKind, Severity};
use mediation_core::court::CourtCode;
use mediation_core::deadline::MediationLimits;
use mediation_core::partner::Partner;
use mediation_delivery::{RelayOptions, RetryPolicy};
use mediation_service::{BreachAction, Policies};
use serde::Deserialize;

/// The whole configuration; see `config/gateway.toml` for every key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC API listens.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Holds `store/` (the durable store) and `documents/` (case materials).
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default = "default_calendar_dir")]
    pub calendar_dir: PathBuf,
    /// The roster file.
    #[serde(default = "default_roster")]
    pub roster: PathBuf,
    /// The court registry: every court, its level and the court above it.
    #[serde(default = "default_court_registry")]
    pub court_registry: PathBuf,
    #[serde(default)]
    pub courts: BTreeMap<String, CourtAddress>,
    #[serde(default)]
    pub partners: PartnerAddresses,
    #[serde(default)]
    pub acceptance_breach: BTreeMap<Partner, BreachSetting>,
    /// Days of mediation by partner and kind of referral, where a partner
    /// works under other limits than its default.
    #[serde(default)]
    pub mediation_days: BTreeMap<Partner, MediationDays>,
    /// Courts that let the gateway pass their referrals on.
    #[serde(default)]
    pub reassignment: ReassignmentSettings,
    /// When a court is reminded of a referral awaiting its decision.
    #[serde(default)]
    pub court_decision: CourtDecisionSettings,
    /// `development` may generate a throwaway PKI; `production` never does.
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub tls: TlsSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub limits: LimitSettings,
    /// Which store, and how to reach it.
    #[serde(default)]
    pub store: StoreSettings,
    /// A development gateway's movable clock, for rehearsing deadlines.
    #[serde(default)]
    pub sandbox: SandboxSettings,
    #[serde(default)]
    pub relay: RelaySettings,
    #[serde(default)]
    pub health: HealthSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub console: ConsoleSettings,
    #[serde(default)]
    pub alerts: AlertSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub traces: TraceSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
    /// How long personal data is kept (PIPL Art. 47), and how the purge
    /// runs.
    #[serde(default)]
    pub retention: RetentionSettings,
    /// Old spellings found while loading, each with its current name: said
    /// by `check-config` and logged by `serve` at start.
    #[serde(skip)]
    pub deprecations: Vec<String>,
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7443))
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("data")
}
fn default_calendar_dir() -> PathBuf {
    PathBuf::from("config/calendar")
}
fn default_roster() -> PathBuf {
    PathBuf::from("config/roster.toml")
}
fn default_court_registry() -> PathBuf {
    PathBuf::from("config/courts.toml")
}

/// The sandbox: a clock court and partner developers can move forward (or
/// run faster) to see warnings, breaches and ends of mediation happen
/// against their own systems. Development profile only.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxSettings {
    /// `system` (the default) or `movable`.
    pub clock: SandboxClockKind,
    /// How many times faster than real time a movable clock runs (1 or more).
    pub speed: f64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            clock: SandboxClockKind::System,
            speed: 1.0,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SandboxClockKind {
    #[default]
    System,
    Movable,
}

/// Where the gateway keeps its state.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// `sled`, the embedded store under `data_dir` (the default), or
    /// `postgres`, a database several replicas share.
    pub backend: Backend,
    pub postgres: PostgresSettings,
    /// For the embedded store: MiB of keys and values written after which
    /// it checkpoints at a quiet moment (at half as much again under a load
    /// that leaves none), so that a restart replays at most about that much
    /// (`docs/store.md`, "Restart: checkpoints"). 256 when absent.
    pub checkpoint_mib: Option<u64>,
}

impl StoreSettings {
    /// Bytes written between the embedded store's checkpoints.
    pub fn checkpoint_bytes(&self) -> u64 {
        self.checkpoint_mib
            .map_or(mediation_store::DEFAULT_CHECKPOINT_BYTES, |mib| {
                mib.saturating_mul(1024 * 1024)
            })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Sled,
    Postgres,
}

/// The environment variable that may hold the database password.
pub const DATABASE_PASSWORD_ENV: &str = "MEDIATION_GATEWAY_DATABASE_PASSWORD";

/// How to reach PostgreSQL, for `store.backend = "postgres"`.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PostgresSettings {
    /// `postgres://user@host:port/database`. Keep the password out of it:
    /// give `password_file`, or set `MEDIATION_GATEWAY_DATABASE_PASSWORD`.
    pub url: Option<String>,
    /// A file holding the password (a mounted secret); its trailing
    /// newline is ignored.
    pub password_file: Option<PathBuf>,
    /// Connections this replica keeps open at most.
    pub pool_size: u32,
    /// The CA that signed the server's certificate: the connection is then
    /// TLS and the server's name is verified. Required in the production
    /// profile for a server beyond loopback.
    pub ca_file: Option<PathBuf>,
    pub connect_timeout_seconds: u64,
    /// How long a replica holds a message it is delivering before another
    /// may take it over; must outlast `relay.attempt_timeout_seconds`.
    pub lease_seconds: u64,
    /// This replica's name in leases and in the server's view of its
    /// connections; the host name and process id when unset. A random
    /// suffix keeps a restarted replica from taking its predecessor's
    /// leases for its own.
    pub replica: Option<String>,
}

impl Default for PostgresSettings {
    fn default() -> Self {
        Self {
            url: None,
            password_file: None,
            pool_size: 16,
            ca_file: None,
            connect_timeout_seconds: 5,
            lease_seconds: 60,
            replica: None,
        }
    }
}

impl std::fmt::Debug for PostgresSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresSettings")
            .field(
                "url",
                &self.url.as_deref().map(mediation_store_postgres::redacted),
            )
            .field("password_file", &self.password_file)
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .field("lease_seconds", &self.lease_seconds)
            .field("replica", &self.replica)
            .finish()
    }
}

impl PostgresSettings {
    /// The store's options, with the password read from its file or the
    /// environment.
    pub fn options(&self) -> anyhow::Result<mediation_store_postgres::PgOptions> {
        let url = self.url.clone().ok_or_else(|| {
            anyhow::anyhow!("store.postgres.url: required with store.backend = \"postgres\"")
        })?;
        let mut options = mediation_store_postgres::PgOptions::new(url);
        options.password = match &self.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "store.postgres.password_file: cannot read {}: {e}",
                            path.display()
                        )
                    })?
                    .trim_end_matches(['\r', '\n'])
                    .to_owned(),
            ),
            None => std::env::var(DATABASE_PASSWORD_ENV).ok(),
        };
        options.pool_size = self.pool_size;
        options.ca_file = self.ca_file.clone();
        options.connect_timeout = Duration::from_secs(self.connect_timeout_seconds);
        options.lease = Duration::from_secs(self.lease_seconds);
        if let Some(name) = &self.replica {
            options.replica = format!(
                "{name}/{}",
                mediation_store_postgres::default_replica_name()
                    .rsplit('/')
                    .next()
                    .unwrap_or_default()
            );
        }
        Ok(options)
    }
}

/// How the relay delivers and when it gives up.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelaySettings {
    /// The wait before the first retry; it doubles up to `max_delay_seconds`.
    pub first_delay_seconds: u64,
    pub max_delay_seconds: u64,
    /// A message is set aside as a dead letter after this many attempts…
    pub max_attempts: u32,
    /// …or once it has waited this long.
    pub max_age_hours: u32,
    /// A destination is reported unreachable after this many failures in a row.
    pub unreachable_after: u32,
    /// Deliveries in flight to one destination at once.
    pub per_destination_in_flight: usize,
    /// An attempt with no answer after this long fails and is retried.
    pub attempt_timeout_seconds: u64,
}

impl Default for RelaySettings {
    fn default() -> Self {
        let options = RelayOptions::default();
        Self {
            first_delay_seconds: options.retry.first_delay.as_secs(),
            max_delay_seconds: options.retry.max_delay.as_secs(),
            max_attempts: options.retry.max_attempts,
            max_age_hours: u32::try_from(options.retry.max_age.as_hours()).unwrap_or(72),
            unreachable_after: options.unreachable_after,
            per_destination_in_flight: options.per_destination_in_flight,
            attempt_timeout_seconds: options.attempt_timeout.as_secs(),
        }
    }
}

impl RelaySettings {
    pub fn options(&self) -> RelayOptions {
        let defaults = RelayOptions::default();
        RelayOptions {
            retry: RetryPolicy {
                first_delay: Duration::from_secs(self.first_delay_seconds),
                max_delay: Duration::from_secs(self.max_delay_seconds),
                max_attempts: self.max_attempts,
                max_age: jiff::SignedDuration::from_hours(i64::from(self.max_age_hours)),
                ..defaults.retry
            },
            unreachable_after: self.unreachable_after,
            per_destination_in_flight: self.per_destination_in_flight,
            attempt_timeout: Duration::from_secs(self.attempt_timeout_seconds),
            ..defaults
        }
    }
}

/// What the health service reports.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// Partners without which the gateway reports NOT_SERVING overall while
    /// they are unreachable. Any unreachable partner makes its own service
    /// NOT_SERVING regardless.
    pub required_partners: Vec<Partner>,
}

/// The plain-HTTP endpoint for Prometheus and probes.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsSettings {
    /// Serves `/metrics`, `/healthz` (the process is up) and `/readyz` (the
    /// gateway is serving) without TLS. Unset: not served.
    pub listen: Option<SocketAddr>,
}

/// Traces across the hops (docs/operations.md, "Traces").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TraceSettings {
    /// An OpenTelemetry collector's OTLP/gRPC address, e.g.
    /// `http://127.0.0.1:4317`. Unset: spans are not exported; the W3C trace
    /// context is read from calls and sent on deliveries all the same.
    pub otlp_endpoint: Option<String>,
    /// The share of the traces the gateway starts itself (a call without a
    /// `traceparent`, a timer) that are sampled; a caller's own trace keeps
    /// the caller's decision.
    pub sample_ratio: f64,
    /// The `service.name` the spans carry.
    pub service_name: String,
}

impl Default for TraceSettings {
    fn default() -> Self {
        Self {
            otlp_endpoint: None,
            sample_ratio: 1.0,
            service_name: "mediation-gateway".to_owned(),
        }
    }
}

/// The operators' web console (docs/operations.md, "The console").
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleSettings {
    /// Where it is served. Over TLS with the gateway's own certificate when
    /// `tls.mode = "mutual"`; plaintext only with `tls.mode = "plaintext"`,
    /// which keeps it on loopback. Unset: not served.
    pub listen: Option<SocketAddr>,
    /// A session ends after this long without a request.
    pub session_idle_minutes: u32,
    /// A session ends this long after its login at the latest, or earlier
    /// when the token it was made from expires.
    pub session_hours: u32,
    /// Connections served at once; more clients wait in the listen backlog.
    pub max_connections: u32,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            listen: None,
            session_idle_minutes: 30,
            session_hours: 8,
            max_connections: 64,
        }
    }
}

impl ConsoleSettings {
    pub fn limits(&self) -> mediation_console::SessionLimits {
        mediation_console::SessionLimits {
            idle: jiff::SignedDuration::from_mins(i64::from(self.session_idle_minutes)),
            lifetime: jiff::SignedDuration::from_hours(i64::from(self.session_hours)),
        }
    }
}

/// Where alerts are pushed besides the operators' stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// How this gateway names itself in webhook posts.
    pub instance: String,
    /// Where the deployment publishes `docs/runbooks.md`: an Alertmanager
    /// hook's alerts link `<runbook_base_url>#<kind>`, the section for their
    /// kind.
    pub runbook_base_url: String,
    pub webhook: Vec<WebhookSettings>,
}

/// The runbooks as the repository has them, for a deployment that does not
/// publish them elsewhere.
pub const DEFAULT_RUNBOOK_BASE_URL: &str = "docs/runbooks.md";

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            instance: "mediation-gateway".into(),
            runbook_base_url: DEFAULT_RUNBOOK_BASE_URL.into(),
            webhook: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    /// A name for logs and metrics.
    pub name: String,
    pub url: String,
    /// `json` (the gateway's own shape), `alertmanager` or `chat`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// Only these kinds; empty for all.
    #[serde(default)]
    pub kinds: Vec<AlertKind>,
    /// Only alerts at least this severe.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Seconds to wait for an answer.
    #[serde(default = "default_webhook_timeout")]
    pub timeout_seconds: u64,
    /// For `alertmanager`: seconds between re-sending each open alert, as
    /// Alertmanager's client protocol asks.
    #[serde(default = "default_resend")]
    pub resend_seconds: u64,
}

fn default_resend() -> u64 {
    60
}

fn default_min_severity() -> Severity {
    Severity::Warning
}
fn default_webhook_timeout() -> u64 {
    10
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    #[default]
    Json,
    Alertmanager,
    Chat,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `text` for people, `json` for collectors: one object per line, with
    /// the referral id as a field wherever one is concerned.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `mediation_delivery=debug,info`;
    /// the `MEDIATION_GATEWAY_LOG` variable overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownSettings {
    /// How long calls and deliveries in flight may take to finish after
    /// SIGTERM before the gateway exits anyway (nothing acknowledged is lost
    /// either way).
    pub grace_seconds: u64,
}

impl Default for ShutdownSettings {
    fn default() -> Self {
        Self { grace_seconds: 20 }
    }
}

/// The retention of personal data (`docs/retention.md`): per kind of
/// record, how many days after a referral's last event its data is kept,
/// and the background purge's pace.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Off, nothing is ever purged (and `check-config` says so).
    pub enabled: bool,
    /// A referral's particulars: the parties' names, identity numbers,
    /// contacts and addresses, the claims' and reports' free text, and its
    /// case files.
    pub particulars: ParticularsRetention,
    /// The outcome details of audit entries: the text after an outcome's
    /// code, such as a refusal's message, which may quote what a caller
    /// sent.
    pub audit_details: AuditDetailsRetention,
    /// Referrals read per batch of a pass.
    pub batch: usize,
    /// The pause after each batch, so that calls never wait behind a pass.
    pub pause_ms: u64,
    /// Minutes between passes.
    pub every_minutes: u64,
    /// Seconds from the start to the first pass, so that a start's own
    /// reads (the first sweep, the waiting offers) do not meet a pass.
    pub first_pass_after_seconds: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            particulars: ParticularsRetention::default(),
            audit_details: AuditDetailsRetention::default(),
            batch: 500,
            pause_ms: 20,
            every_minutes: 60,
            first_pass_after_seconds: 300,
        }
    }
}

/// Days an audit entry's outcome detail is kept after the call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditDetailsRetention {
    pub days: u32,
}

impl Default for AuditDetailsRetention {
    fn default() -> Self {
        Self { days: 180 }
    }
}

/// Days a referral's particulars are kept after its last event, by the
/// status it rests in.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ParticularsRetention {
    /// For a status `by_outcome` does not name.
    pub days: u32,
    /// By status (`confirmed`, `agreed`, `recalled`, ...).
    pub by_outcome: BTreeMap<String, u32>,
}

impl Default for ParticularsRetention {
    fn default() -> Self {
        let policy = mediation_core::retention::RetentionPolicy::default();
        Self {
            days: policy.default_days,
            by_outcome: BTreeMap::new(),
        }
    }
}

impl RetentionSettings {
    /// The policy, checked: every status named is one a referral rests in
    /// and every period is sensible; the problems are named with their keys.
    pub fn policy(&self) -> Result<mediation_core::retention::RetentionPolicy, String> {
        use mediation_core::lifecycle::Status;
        use mediation_core::retention::{PolicyError, RetentionPolicy, resting_statuses};
        let mut by_outcome = BTreeMap::new();
        let mut unknown = Vec::new();
        for (name, days) in &self.particulars.by_outcome {
            match Status::ALL.into_iter().find(|s| s.as_str() == name) {
                Some(status) => {
                    by_outcome.insert(status, *days);
                }
                None => unknown.push(format!(
                    "retention.particulars.by_outcome.{name}: no such status (one of: {})",
                    resting_statuses()
                )),
            }
        }
        let policy = RetentionPolicy {
            default_days: self.particulars.days,
            by_outcome,
        };
        if !(1..=mediation_core::retention::MAX_DAYS).contains(&self.audit_details.days) {
            unknown.push(format!(
                "retention.audit_details.days: must be from 1 to {}, got {}",
                mediation_core::retention::MAX_DAYS,
                self.audit_details.days
            ));
        }
        // Every problem at once: the unknown names, then the rules.
        let problems = policy.check().err().unwrap_or_default();
        if unknown.is_empty() && problems.is_empty() {
            return Ok(policy);
        }
        Err(unknown
            .into_iter()
            .chain(problems.iter().map(|p| match p {
                PolicyError::Period { field, .. } if field == "days" => {
                    format!("retention.particulars.{p}")
                }
                PolicyError::AgreedTooShort { .. }
                    if !self.particulars.by_outcome.contains_key("agreed") =>
                {
                    format!("retention.particulars.days: it applies to agreed referrals too: {p}")
                }
                _ => format!("retention.particulars.by_outcome.{p}"),
            }))
            .collect::<Vec<_>>()
            .join("; "))
    }

    /// The purge's options, once [`RetentionSettings::policy`] passed.
    pub fn options(&self) -> Result<mediation_service::RetentionOptions, String> {
        Ok(mediation_service::RetentionOptions {
            policy: self.policy()?,
            batch: self.batch,
            pause: Duration::from_millis(self.pause_ms),
            every: Duration::from_secs(self.every_minutes.saturating_mul(60)),
            first_after: Duration::from_secs(self.first_pass_after_seconds),
            audit_detail_days: Some(self.audit_details.days),
            ..mediation_service::RetentionOptions::default()
        })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    Development,
    #[default]
    Production,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// TLS with client certificates, in and out.
    #[default]
    Mutual,
    /// No TLS: only for a listener and destinations on loopback.
    Plaintext,
}

/// Transport security. Files left unset are the development PKI's, which
/// only the development profile may use.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSettings {
    #[serde(default)]
    pub mode: TlsMode,
    /// The gateway's certificate chain (PEM), for its listener and as its
    /// client certificate on outgoing connections.
    pub certificate: Option<PathBuf>,
    /// The gateway's private key (PEM).
    pub private_key: Option<PathBuf>,
    /// The CA that issues the tenants' client certificates.
    pub client_ca: Option<PathBuf>,
    /// The CA that signs partner platforms' and court systems' servers.
    pub server_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Who may call: tenants, roles, token issuers and keys.
    #[serde(default = "default_tenants")]
    pub tenants: PathBuf,
    /// The `aud` every token must carry.
    #[serde(default = "default_audience")]
    pub audience: String,
    /// Clock skew tolerated on a token's `exp` and `nbf`, in seconds.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            tenants: default_tenants(),
            audience: default_audience(),
            leeway_seconds: default_leeway(),
        }
    }
}

fn default_tenants() -> PathBuf {
    PathBuf::from("config/tenants.toml")
}
fn default_audience() -> String {
    "mediation-gateway".to_owned()
}
fn default_leeway() -> u64 {
    60
}

/// Limits on what one call may carry and how often a tenant may call.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub max_message_bytes: usize,
    pub max_batch: usize,
    pub max_parties: usize,
    pub max_claims: usize,
    pub max_documents: usize,
    /// Requests per second per tenant, unless the tenant sets its own.
    pub rate_per_second: u32,
    /// Requests a tenant may make at once before the rate applies.
    pub rate_burst: u32,
    /// Calls of one tenant in flight at once, streams included.
    pub calls_in_flight_per_tenant: u32,
    /// HTTP/2 streams one connection may have open at once.
    pub streams_per_connection: u32,
    /// Connections served at once; further ones wait in the listen backlog.
    /// Capped below the process's open-file limit, leaving room for the
    /// store's own files.
    pub max_connections: u32,
    /// Seconds a call may take to be answered (an upload: `upload_timeout_seconds`).
    pub request_timeout_seconds: u64,
    pub upload_timeout_seconds: u64,
    /// Seconds a client has to complete the TLS handshake.
    pub tls_handshake_timeout_seconds: u64,
}

impl Default for LimitSettings {
    fn default() -> Self {
        let l = mediation_api::limits::Limits::default();
        Self {
            max_message_bytes: l.max_message_bytes,
            max_batch: l.max_batch,
            max_parties: l.max_parties,
            max_claims: l.max_claims,
            max_documents: l.max_documents,
            rate_per_second: 200,
            rate_burst: 400,
            calls_in_flight_per_tenant: 64,
            streams_per_connection: 100,
            max_connections: 1024,
            request_timeout_seconds: 30,
            upload_timeout_seconds: 900,
            tls_handshake_timeout_seconds: 10,
        }
    }
}

impl LimitSettings {
    pub fn limits(&self) -> mediation_api::limits::Limits {
        mediation_api::limits::Limits {
            max_batch: self.max_batch,
            max_parties: self.max_parties,
            max_claims: self.max_claims,
            max_documents: self.max_documents,
            max_message_bytes: self.max_message_bytes,
        }
    }

    /// What the guard allows each call.
    pub fn calls(&self) -> mediation_api::guard::CallLimits {
        mediation_api::guard::CallLimits {
            in_flight_per_tenant: self.calls_in_flight_per_tenant as usize,
            request_timeout: std::time::Duration::from_secs(self.request_timeout_seconds),
            upload_timeout: std::time::Duration::from_secs(self.upload_timeout_seconds),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerAddresses {
    pub ccpit: Option<String>,
    pub labour_arbitration: Option<String>,
    /// The old name of `labour_arbitration`, still read with a warning.
    #[serde(default, skip_serializing)]
    pub labour: Option<String>,
    pub road_traffic: Option<String>,
    /// The identity each platform's server must present: a name its
    /// certificate carries. Required with TLS.
    #[serde(default)]
    pub server_names: PartnerServerNames,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerServerNames {
    pub ccpit: Option<String>,
    pub labour_arbitration: Option<String>,
    /// The old name of `labour_arbitration`, still read with a warning.
    #[serde(default, skip_serializing)]
    pub labour: Option<String>,
    pub road_traffic: Option<String>,
}

/// Which courts let the gateway offer a declined or lapsed referral to the
/// next organisation instead of returning it (online rules Art. 12).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReassignmentSettings {
    /// Court codes; each covers the courts under it.
    #[serde(default)]
    pub courts: Vec<String>,
}

/// When a court is reminded of a referral back with it that awaits its
/// decision (CPL Art. 126: 7 days to docket a suit).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CourtDecisionSettings {
    /// Working days; 7 when unset, 0 for no reminder.
    pub remind_after_working_days: Option<u32>,
}

/// One partner's mediation limits in days, each kind optional.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediationDays {
    /// 委派: referred before docketing.
    pub delegated: Option<u32>,
    /// 委托 under ordinary procedure.
    pub entrusted_ordinary: Option<u32>,
    /// 委托 under summary procedure.
    pub entrusted_summary: Option<u32>,
    /// Days after the limit in which an agreement or failure reported late
    /// still counts, before mediation ends; 0 when unset (online rules
    /// Art. 25: mediation ends at the limit).
    pub grace_days: Option<u32>,
    /// Days an appraisal pause may last before operators are warned; 30 when
    /// unset, 0 for no warning.
    pub appraisal_review_days: Option<u32>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreachSetting {
    ReturnToCourt,
    Reroute,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{message}")]
    Layered { message: String },
}

impl Config {
    /// Where the development profile keeps its generated PKI.
    pub fn dev_pki_dir(&self) -> PathBuf {
        self.data_dir.join("dev-pki")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
    }

    /// The store in use, for messages: `sled in <data_dir>/store`, or
    /// `postgres at <url>`, with any password left out of the URL.
    pub fn store_description(&self) -> String {
        match self.store.backend {
            Backend::Sled => format!("sled in {}", self.store_dir().display()),
            Backend::Postgres => format!(
                "postgres at {}",
                self.store
                    .postgres
                    .url
                    .as_deref()
                    .map(mediation_store_postgres::redacted)
                    .unwrap_or_default()
            ),
        }
    }

    pub fn documents_dir(&self) -> PathBuf {
        self.data_dir.join("documents")
    }

    /// The court addresses, with their codes checked.
    pub fn court_addresses(
        &self,
        path: &Path,
    ) -> Result<BTreeMap<CourtCode, CourtAddress>, ConfigError> {
        self.courts
            .iter()
            .map(|(code, endpoint)| {
                let court = CourtCode::parse(code).map_err(|e| ConfigError::Invalid {
                    path: path.to_owned(),
                    message: format!("courts.{code}: {e}"),
                })?;
                Ok((court, endpoint.clone()))
            })
            .collect()
    }

    /// The working days before a court is reminded of a referral awaiting
    /// its decision.
    pub fn court_decision_working_days(&self) -> u32 {
        self.court_decision
            .remind_after_working_days
            .unwrap_or(mediation_core::deadline::DeadlinePolicy::COURT_DECISION_WORKING_DAYS)
    }

    pub fn policies(&self) -> Policies {
        let mut policies = Policies {
            // `check` has parsed every code already.
            reassignment_courts: self
                .reassignment
                .courts
                .iter()
                .filter_map(|c| CourtCode::parse(c).ok())
                .collect(),
            ..Policies::default()
        };
        for (partner, policy) in &mut policies.partners {
            if let Some(setting) = self.acceptance_breach.get(partner) {
                policy.acceptance_breach = match setting {
                    BreachSetting::ReturnToCourt => BreachAction::ReturnToCourt,
                    BreachSetting::Reroute => BreachAction::Reroute,
                };
            }
            policy.deadlines.court_decision_working_days = self.court_decision_working_days();
            policy.deadlines.mediation = self.mediation_limits(*partner);
            policy.deadlines.agreement_grace_days = self
                .mediation_days
                .get(partner)
                .and_then(|d| d.grace_days)
                .unwrap_or(0);
            policy.deadlines.appraisal_review_days = self
                .mediation_days
                .get(partner)
                .and_then(|d| d.appraisal_review_days)
                .unwrap_or(mediation_core::deadline::DeadlinePolicy::APPRAISAL_REVIEW_DAYS);
        }
        // A referral no organisation took comes back under the default.
        policies.default.deadlines.court_decision_working_days = self.court_decision_working_days();
        policies
    }

    /// The mediation limits `partner` works under: its default
    /// ([`MediationLimits::default_for`]) with what `[mediation_days]` sets.
    pub fn mediation_limits(&self, partner: Partner) -> MediationLimits {
        let mut limits = MediationLimits::default_for(partner);
        if let Some(days) = self.mediation_days.get(&partner) {
            limits.delegated = days.delegated.unwrap_or(limits.delegated);
            limits.entrusted_ordinary =
                days.entrusted_ordinary.unwrap_or(limits.entrusted_ordinary);
            limits.entrusted_summary = days.entrusted_summary.unwrap_or(limits.entrusted_summary);
        }
        limits
    }
}

#[cfg(test)]
mod tests;
