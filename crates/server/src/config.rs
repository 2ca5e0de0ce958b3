//! The gateway's configuration and the roster file, read and checked before
//! anything starts. Every error names the key and where its value came from.
//!
//! The configuration is layered, each layer overriding the one before:
//! 1. the defaults below;
//! 2. the configuration file (`--config`, by default `config/gateway.toml`);
//! 3. every `*.toml` in the directory `<file stem>.d` beside it, in name order
//!    (`config/gateway.d/`), e.g. a mounted ConfigMap or secret overlay;
//! 4. environment variables `MEDIATION_GATEWAY_<KEY>`, with `__` between
//!    nested keys: `MEDIATION_GATEWAY_LIMITS__MAX_BATCH=500`;
//! 5. `--set key=value` flags, e.g. `--set metrics.listen=0.0.0.0:9464`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::time::Duration;

use mediation_api::court::CourtAddress;
use mediation_core::alert::{AlertKind, Severity};
use mediation_core::court::CourtCode;
use mediation_core::partner::Partner;
use mediation_core::routing::RosterEntry;
use mediation_delivery::{RelayOptions, RetryPolicy};
use mediation_service::{BreachAction, PartnerPolicy, Policies};
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
    #[serde(default)]
    pub courts: BTreeMap<String, CourtEndpoint>,
    #[serde(default)]
    pub partners: PartnerAddresses,
    #[serde(default)]
    pub acceptance_breach: BTreeMap<Partner, BreachSetting>,
    /// `development` may generate a throwaway PKI; `production` never does.
    #[serde(default)]
    pub profile: Profile,
    #[serde(default)]
    pub tls: TlsSettings,
    #[serde(default)]
    pub auth: AuthSettings,
    #[serde(default)]
    pub limits: LimitSettings,
    #[serde(default)]
    pub relay: RelaySettings,
    #[serde(default)]
    pub health: HealthSettings,
    #[serde(default)]
    pub metrics: MetricsSettings,
    #[serde(default)]
    pub alerts: AlertSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
    pub shutdown: ShutdownSettings,
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

/// Where alerts are pushed besides the operators' stream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// How this gateway names itself in webhook posts.
    pub instance: String,
    pub webhook: Vec<WebhookSettings>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        Self {
            instance: "mediation-gateway".into(),
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

/// How one court system takes deliveries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CourtEndpoint {
    Grpc(String),
    Webhook(String),
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

/// Where the configuration comes from besides the defaults.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The configuration file; it must exist.
    pub file: PathBuf,
    /// `key=value` overrides from the command line, applied last.
    pub overrides: Vec<String>,
    /// Read `MEDIATION_GATEWAY_*` variables (off in tests that must not
    /// see the environment).
    pub environment: bool,
}

impl Sources {
    pub fn file(path: &Path) -> Self {
        Self {
            file: path.to_owned(),
            overrides: Vec::new(),
            environment: true,
        }
    }

    /// The overlay directory: `gateway.d` beside `gateway.toml`.
    pub fn overlay_dir(&self) -> PathBuf {
        let stem = self
            .file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.file.with_file_name(format!("{stem}.d"))
    }

    /// Every file that contributes, in the order applied.
    pub fn files(&self) -> Result<Vec<PathBuf>, ConfigError> {
        let mut files = vec![self.file.clone()];
        let dir = self.overlay_dir();
        if dir.is_dir() {
            let entries = std::fs::read_dir(&dir).map_err(|source| ConfigError::Read {
                path: dir.clone(),
                source,
            })?;
            let mut overlays: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                .collect();
            overlays.sort();
            files.extend(overlays);
        }
        Ok(files)
    }
}

/// Environment variables that configure the command line, not the gateway:
/// `MEDIATION_GATEWAY_CONFIG`, `_LOG`, `_URL`, `_TOKEN` and `_STORE_DIR`.
const NOT_CONFIGURATION: &[&str] = &["config", "log", "url", "token", "store_dir"];

/// Turns a `--set` value into TOML: numbers, booleans, arrays and inline
/// tables as written; anything else as a string.
fn override_value(raw: &str) -> toml::Value {
    let parsed: Result<toml::Table, _> = format!("v = {raw}").parse();
    match parsed.ok().and_then(|mut t| t.remove("v")) {
        Some(value) => value,
        None => toml::Value::String(raw.to_owned()),
    }
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })
}

impl Config {
    /// The file at `path` with its overlays and the environment.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        Self::load_from(&Sources::file(path))
    }

    /// Every layer of `sources` over the defaults, checked.
    pub fn load_from(sources: &Sources) -> Result<Self, ConfigError> {
        use figment::Figment;
        use figment::providers::{Env, Format, Serialized, Toml};
        // A missing file is an error here: figment would skip it silently.
        read(&sources.file)?;
        let mut figment = Figment::new();
        for file in sources.files()? {
            figment = figment.merge(Toml::file_exact(file));
        }
        if sources.environment {
            figment = figment.merge(
                Env::prefixed("MEDIATION_GATEWAY_")
                    .split("__")
                    .ignore(NOT_CONFIGURATION),
            );
        }
        for raw in &sources.overrides {
            let (key, value) = raw.split_once('=').ok_or_else(|| ConfigError::Layered {
                message: format!("--set {raw}: expected key=value, e.g. limits.max_batch=500"),
            })?;
            figment = figment.merge(Serialized::default(
                key.trim(),
                override_value(value.trim()),
            ));
        }
        let mut config: Config = figment.extract().map_err(|e| ConfigError::Layered {
            message: describe(e),
        })?;
        config
            .adopt_old_names()
            .map_err(|message| ConfigError::Layered { message })?;
        config
            .check()
            .map_err(|message| ConfigError::Layered { message })?;
        Ok(config)
    }

    /// One name for each partner, everywhere: the names `Partner` gives them
    /// (`ccpit`, `labour_arbitration`, `road_traffic`), as the tenants file,
    /// the roster, `[acceptance_breach]`, metrics and statistics use them.
    /// `[partners] labour` is the old spelling: it is read, with a warning,
    /// and refused when the new one is set too.
    fn adopt_old_names(&mut self) -> Result<(), String> {
        for (section, old, new) in [
            (
                "partners",
                self.partners.labour.take(),
                &mut self.partners.labour_arbitration,
            ),
            (
                "partners.server_names",
                self.partners.server_names.labour.take(),
                &mut self.partners.server_names.labour_arbitration,
            ),
        ] {
            if let Some(value) = old {
                if new.is_some() {
                    return Err(format!(
                        "{section}.labour and {section}.labour_arbitration name the same platform; keep {section}.labour_arbitration"
                    ));
                }
                *new = Some(value);
                self.deprecations.push(format!(
                    "{section}.labour is the old name of {section}.labour_arbitration; rename it"
                ));
            }
        }
        Ok(())
    }

    /// Rules a value's type cannot express.
    fn check(&self) -> Result<(), String> {
        self.check_limits()?;
        let r = &self.relay;
        for (key, value) in [
            ("relay.first_delay_seconds", r.first_delay_seconds),
            ("relay.max_attempts", u64::from(r.max_attempts)),
            ("relay.max_age_hours", u64::from(r.max_age_hours)),
            ("relay.unreachable_after", u64::from(r.unreachable_after)),
            (
                "relay.per_destination_in_flight",
                r.per_destination_in_flight as u64,
            ),
            ("relay.attempt_timeout_seconds", r.attempt_timeout_seconds),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        if r.max_delay_seconds < r.first_delay_seconds {
            return Err(
                "relay.max_delay_seconds: must not be less than relay.first_delay_seconds".into(),
            );
        }
        let mut names = BTreeSet::new();
        for (i, hook) in self.alerts.webhook.iter().enumerate() {
            let key = format!("alerts.webhook[{i}]");
            if hook.name.trim().is_empty() || !names.insert(hook.name.as_str()) {
                return Err(format!(
                    "{key}.name: must be given and unique, got {:?}",
                    hook.name
                ));
            }
            let url = url::Url::parse(&hook.url)
                .map_err(|e| format!("{key}.url: {e}: {:?}", hook.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "{key}.url: must be http:// or https://, got {:?}",
                    hook.url
                ));
            }
            if hook.timeout_seconds == 0 {
                return Err(format!("{key}.timeout_seconds: must be at least 1"));
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(format!("log.level: {e}: {:?}", self.log.level));
        }
        if let Some(metrics) = self.metrics.listen
            && metrics == self.listen
        {
            return Err(format!(
                "metrics.listen: {metrics} is already the gRPC listen address"
            ));
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), String> {
        let l = &self.limits;
        for (key, value) in [
            ("max_message_bytes", l.max_message_bytes),
            ("max_batch", l.max_batch),
            ("max_parties", l.max_parties),
            ("max_claims", l.max_claims),
            ("max_documents", l.max_documents),
            ("rate_per_second", l.rate_per_second as usize),
            ("rate_burst", l.rate_burst as usize),
            (
                "calls_in_flight_per_tenant",
                l.calls_in_flight_per_tenant as usize,
            ),
            ("streams_per_connection", l.streams_per_connection as usize),
            ("max_connections", l.max_connections as usize),
            (
                "request_timeout_seconds",
                l.request_timeout_seconds as usize,
            ),
            ("upload_timeout_seconds", l.upload_timeout_seconds as usize),
            (
                "tls_handshake_timeout_seconds",
                l.tls_handshake_timeout_seconds as usize,
            ),
        ] {
            if value == 0 {
                return Err(format!("limits.{key}: must be at least 1"));
            }
        }
        // An upload chunk (1 MiB) and its framing must fit in one message.
        let chunk = mediation_api::documents::MAX_CHUNK + 1024;
        if l.max_message_bytes < chunk {
            return Err(format!(
                "limits.max_message_bytes: must be at least {chunk} so that an upload chunk fits"
            ));
        }
        Ok(())
    }

    /// Where the development profile keeps its generated PKI.
    pub fn dev_pki_dir(&self) -> PathBuf {
        self.data_dir.join("dev-pki")
    }

    pub fn store_dir(&self) -> PathBuf {
        self.data_dir.join("store")
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
                let address = match endpoint {
                    CourtEndpoint::Grpc(url) => CourtAddress::Grpc(url.clone()),
                    CourtEndpoint::Webhook(url) => CourtAddress::Webhook(url.clone()),
                };
                Ok((court, address))
            })
            .collect()
    }

    pub fn policies(&self) -> Policies {
        let mut policies = Policies::default();
        for (partner, setting) in &self.acceptance_breach {
            policies.partners.insert(
                *partner,
                PartnerPolicy {
                    acceptance_breach: match setting {
                        BreachSetting::ReturnToCourt => BreachAction::ReturnToCourt,
                        BreachSetting::Reroute => BreachAction::Reroute,
                    },
                    ..PartnerPolicy::default()
                },
            );
        }
        policies
    }
}

/// A figment error as one line per problem, each naming the key and where
/// its value came from.
fn describe(error: figment::Error) -> String {
    error
        .into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_environment = e
                .metadata
                .as_ref()
                .is_some_and(|m| m.name.contains("environment"));
            let source = if from_environment {
                // Name the very variable, as the operator typed it.
                let var: Vec<String> = e.path.iter().map(|p| p.to_ascii_uppercase()).collect();
                format!(
                    " (from environment variable MEDIATION_GATEWAY_{})",
                    var.join("__")
                )
            } else {
                e.metadata
                    .as_ref()
                    .map(|m| match &m.source {
                        // A `--set` value: its source is where figment was
                        // called, which is no use to the operator.
                        Some(figment::Source::Code(_)) => {
                            format!(" (from --set {key}=…)")
                        }
                        Some(s) => format!(" (from {s})"),
                        None => format!(" (from {})", m.name),
                    })
                    .unwrap_or_default()
            };
            let kind = e.kind.to_string();
            if key.is_empty() {
                format!("{kind}{source}")
            } else {
                format!("{key}: {kind}{source}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RosterFile {
    #[serde(default)]
    organisation: Vec<RosterEntry>,
}

/// Reads the roster: every entry checked, ids unique.
pub fn load_roster(path: &Path) -> Result<Vec<RosterEntry>, ConfigError> {
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_owned(),
        message,
    };
    let file: RosterFile = toml::from_str(&read(path)?).map_err(|e| invalid(e.to_string()))?;
    let mut seen = BTreeSet::new();
    for (i, entry) in file.organisation.iter().enumerate() {
        if !seen.insert(&entry.id) {
            return Err(invalid(format!(
                "organisation[{i}].id: {} is listed twice",
                entry.id
            )));
        }
        if entry.domains.is_empty() {
            return Err(invalid(format!(
                "organisation[{i}].domains: {} accepts no kind of dispute",
                entry.id
            )));
        }
    }
    Ok(file.organisation)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn the_shipped_configuration_and_roster_load() {
        let path = repo().join("config/gateway.toml");
        let config = Config::load(&path).unwrap();
        assert!(config.listen.ip().is_loopback());
        assert_eq!(config.court_addresses(&path).unwrap().len(), 1);
        let roster = load_roster(&repo().join(&config.roster)).unwrap();
        let partners: BTreeSet<Partner> = roster.iter().map(|e| e.partner).collect();
        assert_eq!(partners.len(), 3, "every platform has an organisation");
    }

    fn sources(dir: &Path, body: &str, overrides: &[&str]) -> Sources {
        let file = dir.join("gateway.toml");
        std::fs::write(&file, body).unwrap();
        Sources {
            file,
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
            environment: false,
        }
    }

    #[test]
    fn each_partner_has_one_name_and_the_old_one_is_read_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::load_from(&sources(
            dir.path(),
            "[partners]\nlabour = \"https://labour.example:7443\"\n[partners.server_names]\nlabour = \"labour.example\"\n",
            &[],
        ))
        .unwrap();
        assert_eq!(
            config.partners.labour_arbitration.as_deref(),
            Some("https://labour.example:7443")
        );
        assert_eq!(
            config.partners.server_names.labour_arbitration.as_deref(),
            Some("labour.example")
        );
        assert_eq!(config.deprecations.len(), 2, "{:?}", config.deprecations);
        assert!(
            config.deprecations[0]
                .contains("partners.labour is the old name of partners.labour_arbitration")
        );
        // Both at once is refused rather than guessed at.
        let err = Config::load_from(&sources(
            dir.path(),
            "[partners]\nlabour = \"https://a.example\"\nlabour_arbitration = \"https://b.example\"\n",
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("name the same platform"), "{err}");
        // The new name alone: no warning.
        let config = Config::load_from(&sources(
            dir.path(),
            "[partners]\nlabour_arbitration = \"https://b.example\"\n",
            &[],
        ))
        .unwrap();
        assert!(config.deprecations.is_empty());
    }

    #[test]
    fn layers_override_in_order_defaults_file_overlays_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let s = sources(
            dir.path(),
            "[limits]\nmax_batch = 10\nmax_claims = 11\n",
            &[],
        );
        let config = Config::load_from(&s).unwrap();
        assert_eq!(config.listen, default_listen(), "a default");
        assert_eq!(config.limits.max_batch, 10, "from the file");
        std::fs::create_dir(dir.path().join("gateway.d")).unwrap();
        std::fs::write(
            dir.path().join("gateway.d/20-b.toml"),
            "[limits]\nmax_batch = 30\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("gateway.d/10-a.toml"),
            "[limits]\nmax_batch = 20\nmax_claims = 21\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("gateway.d/notes.txt"), "not configuration").unwrap();
        let config = Config::load_from(&s).unwrap();
        assert_eq!(config.limits.max_batch, 30, "overlays in name order");
        assert_eq!(config.limits.max_claims, 21);
        let s = Sources {
            overrides: vec![
                "limits.max_batch=40".into(),
                "metrics.listen=127.0.0.1:9464".into(),
                "health.required_partners=[\"ccpit\"]".into(),
            ],
            ..s
        };
        let config = Config::load_from(&s).unwrap();
        assert_eq!(config.limits.max_batch, 40, "a flag beats everything");
        assert_eq!(config.limits.max_claims, 21);
        assert_eq!(
            config.metrics.listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(config.health.required_partners, [Partner::Ccpit]);
    }

    #[test]
    fn a_bad_key_or_value_is_named_with_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let err = |body: &str, overrides: &[&str]| {
            Config::load_from(&sources(dir.path(), body, overrides))
                .unwrap_err()
                .to_string()
        };
        let e = err("[limits]\nmax_bach = 3\n", &[]);
        assert!(
            e.contains("limits") && e.contains("max_bach") && e.contains("gateway.toml"),
            "{e}"
        );
        let e = err("", &["limits.max_batch=many"]);
        assert!(e.contains("limits.max_batch") && e.contains("many"), "{e}");
        let e = err("listen = \"localhost\"\n", &[]);
        assert!(e.contains("listen"), "{e}");
        let e = err("", &["limits.max_batch"]);
        assert!(e.contains("key=value"), "{e}");
        let e = err("[relay]\nmax_attempts = 0\n", &[]);
        assert_eq!(e, "relay.max_attempts: must be at least 1");
        let e = err(
            "[[alerts.webhook]]\nname = \"pager\"\nurl = \"ftp://x\"\n",
            &[],
        );
        assert!(e.starts_with("alerts.webhook[0].url"), "{e}");
        let e = err(
            "[[alerts.webhook]]\nname = \"pager\"\nurl = \"https://x\"\nformat = \"slack\"\n",
            &[],
        );
        assert!(e.contains("alerts.webhook") && e.contains("slack"), "{e}");
        let e = err("[log]\nlevel = \"info,=[\"\n", &[]);
        assert!(e.starts_with("log.level"), "{e}");
        let e = err(
            "listen = \"127.0.0.1:7443\"\n[metrics]\nlisten = \"127.0.0.1:7443\"\n",
            &[],
        );
        assert!(e.starts_with("metrics.listen"), "{e}");
        let missing = Config::load_from(&Sources {
            file: dir.path().join("absent.toml"),
            ..Sources::default()
        })
        .unwrap_err()
        .to_string();
        assert!(missing.contains("absent.toml"), "{missing}");
    }

    #[test]
    fn the_shipped_configuration_mentions_every_key() {
        let text = std::fs::read_to_string(repo().join("config/gateway.toml")).unwrap();
        let mentioned = |section: &str, key: &str| {
            let mut in_section = section.is_empty();
            text.lines().any(|line| {
                let line = line.trim().trim_start_matches('#').trim();
                if line.starts_with('[') {
                    in_section = line.trim_matches(|c| c == '[' || c == ']') == section;
                    return false;
                }
                in_section && line.starts_with(&format!("{key} ="))
            })
        };
        let keys: &[(&str, &[&str])] = &[
            (
                "",
                &["profile", "listen", "data_dir", "calendar_dir", "roster"],
            ),
            (
                "tls",
                &[
                    "mode",
                    "certificate",
                    "private_key",
                    "client_ca",
                    "server_ca",
                ],
            ),
            ("auth", &["tenants", "audience", "leeway_seconds"]),
            (
                "limits",
                &[
                    "max_message_bytes",
                    "max_batch",
                    "max_parties",
                    "max_claims",
                    "max_documents",
                    "rate_per_second",
                    "rate_burst",
                ],
            ),
            (
                "relay",
                &[
                    "first_delay_seconds",
                    "max_delay_seconds",
                    "max_attempts",
                    "max_age_hours",
                    "unreachable_after",
                    "per_destination_in_flight",
                    "attempt_timeout_seconds",
                ],
            ),
            ("health", &["required_partners"]),
            ("metrics", &["listen"]),
            ("alerts", &["instance"]),
            (
                "alerts.webhook",
                &[
                    "name",
                    "url",
                    "format",
                    "min_severity",
                    "kinds",
                    "timeout_seconds",
                    "resend_seconds",
                ],
            ),
            ("log", &["format", "level"]),
            ("shutdown", &["grace_seconds"]),
            ("partners", &["ccpit", "labour_arbitration", "road_traffic"]),
            (
                "partners.server_names",
                &["ccpit", "labour_arbitration", "road_traffic"],
            ),
            (
                "acceptance_breach",
                &["ccpit", "labour_arbitration", "road_traffic"],
            ),
        ];
        for (section, names) in keys {
            for key in *names {
                assert!(
                    mentioned(section, key),
                    "config/gateway.toml does not document [{section}] {key}"
                );
            }
        }
    }

    #[test]
    fn errors_name_the_file_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("roster.toml");
        std::fs::write(
            &path,
            "[[organisation]]\nid = \"o1\"\nname = \"甲\"\npartner = \"fax\"\nconfirmed_by = \"京\"\nregion = \"京01\"\ndomains = [\"commercial\"]\ncapacity = 1\n",
        )
        .unwrap();
        let e = load_roster(&path).unwrap_err().to_string();
        assert!(e.contains("roster.toml") && e.contains("fax"), "{e}");
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, "listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\ncalendar_dir = \"c\"\nroster = \"r\"\n[courts]\n\"X1\" = { grpc = \"http://x\" }\n").unwrap();
        let config = Config::load(&path).unwrap();
        let e = config.court_addresses(&path).unwrap_err().to_string();
        assert!(e.contains("courts.X1"), "{e}");
    }
}
