//! `mediation-gateway check-config`: everything `serve` checks before it
//! opens anything, and the effective settings, so a change can be tried
//! before a restart.

use std::io::Write;

use anyhow::Context as _;
use mediation_calendar::Calendar;

use crate::cli::CheckConfigArgs;
use crate::config::load_roster;

pub fn run(args: CheckConfigArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let sources = args.config.sources();
    let config = args.config.load()?;
    let files: Vec<String> = sources
        .files()?
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let courts = config.court_addresses(&sources.file)?;
    let registry = config.court_registry(&sources.file)?;
    let roster = load_roster(&config.roster, &registry)?;
    let calendar = Calendar::load_dir(&config.calendar_dir).with_context(|| {
        format!(
            "cannot load the calendar from {}",
            config.calendar_dir.display()
        )
    })?;
    let notes = crate::security::check(&config, &registry)?;
    writable(&config.data_dir)?;
    let database = match config.store.backend {
        crate::config::Backend::Sled => None,
        crate::config::Backend::Postgres => Some(check_database(&config)?),
    };
    // Everything is checked before anything is printed: a refusal prints
    // nothing on stdout.
    writeln!(out, "configuration: {}", files.join(" + "))?;
    writeln!(out, "profile: {:?}", config.profile)?;
    match config.sandbox.clock {
        crate::config::SandboxClockKind::System => writeln!(out, "clock: the system's")?,
        crate::config::SandboxClockKind::Movable => writeln!(
            out,
            "clock: the sandbox clock is movable (sandbox.clock = \"movable\"): `ops clock --advance` moves it forward, deadlines fall due by it, and it runs at {} times real time",
            config.sandbox.speed
        )?,
    }
    writeln!(out, "listen: {}", config.listen)?;
    writeln!(out, "data: {} (writable)", config.data_dir.display())?;
    match &database {
        None => writeln!(
            out,
            "store: sled, embedded, in {}",
            config.store_dir().display()
        )?,
        Some((url, check)) => {
            writeln!(
                out,
                "store: postgres at {url} (PostgreSQL {}), schema version {} of {}; synchronous_commit = {}; synchronous standbys: {}",
                check.server_version,
                check.applied,
                check.supported,
                check.synchronous_commit,
                if check.synchronous_standbys.is_empty() {
                    "none (a commit is durable on the primary alone)"
                } else {
                    check.synchronous_standbys.as_str()
                }
            )?;
        }
    }
    writeln!(
        out,
        "court registry: {} courts in {}",
        registry.len(),
        config.court_registry.display()
    )?;
    writeln!(
        out,
        "roster: {} organisations, {} mediators listed, in {}",
        roster.len(),
        roster.iter().map(|e| e.mediators.len()).sum::<usize>(),
        config.roster.display()
    )?;
    let years: Vec<String> = calendar.years().map(|y| y.to_string()).collect();
    writeln!(
        out,
        "calendar: holiday notices for {} in {}",
        years.join(", "),
        config.calendar_dir.display()
    )?;
    writeln!(out, "courts: {} court systems", courts.len())?;
    let p = &config.partners;
    for (name, url) in [
        ("ccpit", &p.ccpit),
        ("labour_arbitration", &p.labour_arbitration),
        ("road_traffic", &p.road_traffic),
    ] {
        writeln!(
            out,
            "partner {name}: {}",
            url.as_deref().unwrap_or("(not configured: messages wait)")
        )?;
    }
    let names = &p.server_names;
    for (name, server) in [
        ("ccpit", &names.ccpit),
        ("labour_arbitration", &names.labour_arbitration),
        ("road_traffic", &names.road_traffic),
    ] {
        if let Some(server) = server {
            writeln!(out, "partner {name} must present: {server}")?;
        }
    }
    let r = &config.relay;
    writeln!(
        out,
        "relay: retry after {} s doubling to {} s; dead after {} attempts or {} h; unreachable after {} failures in a row; {} in flight per destination; {} s per attempt",
        r.first_delay_seconds,
        r.max_delay_seconds,
        r.max_attempts,
        r.max_age_hours,
        r.unreachable_after,
        r.per_destination_in_flight,
        r.attempt_timeout_seconds
    )?;
    let l = &config.limits;
    writeln!(
        out,
        "limits: messages up to {} bytes; {} bundles a batch; {} parties, {} claims, {} documents a bundle; {}/s per tenant (burst {})",
        l.max_message_bytes,
        l.max_batch,
        l.max_parties,
        l.max_claims,
        l.max_documents,
        l.rate_per_second,
        l.rate_burst
    )?;
    writeln!(
        out,
        "admission: {} calls in flight per tenant; {} streams per connection; {} connections (at most {} here, after the open-file limit); calls answered within {} s (uploads {} s); TLS handshakes within {} s",
        l.calls_in_flight_per_tenant,
        l.streams_per_connection,
        l.max_connections,
        crate::connections::effective_cap(l.max_connections),
        l.request_timeout_seconds,
        l.upload_timeout_seconds,
        l.tls_handshake_timeout_seconds
    )?;
    writeln!(
        out,
        "shutdown: calls and deliveries in flight get {} s after SIGTERM",
        config.shutdown.grace_seconds
    )?;
    for note in notes {
        writeln!(out, "{note}")?;
    }
    match config.metrics.listen {
        Some(addr) => writeln!(
            out,
            "metrics and probes: http://{addr}/metrics, /healthz, /readyz"
        )?,
        None => writeln!(out, "metrics and probes: off (metrics.listen unset)")?,
    }
    match &config.traces.otlp_endpoint {
        Some(endpoint) => writeln!(
            out,
            "traces: exported over OTLP/gRPC to {endpoint} as {} (new traces sampled at {})",
            config.traces.service_name, config.traces.sample_ratio
        )?,
        None => writeln!(
            out,
            "traces: not exported (traces.otlp_endpoint unset); traceparent still read and sent on"
        )?,
    }
    writeln!(out, "alert webhooks: {}", config.alerts.webhook.len())?;
    if config.retention.enabled {
        let policy = config.retention.policy().map_err(anyhow::Error::msg)?;
        let named: Vec<String> = policy
            .by_outcome
            .iter()
            .map(|(status, days)| format!("{status} {days}"))
            .collect();
        writeln!(
            out,
            "retention: a referral's personal data and case files are purged {} days after its last event{} (PIPL Art. 47); a pass every {} min",
            policy.default_days,
            if named.is_empty() {
                String::new()
            } else {
                format!(" ({})", named.join(", "))
            },
            config.retention.every_minutes
        )?;
        writeln!(
            out,
            "retention: audit entries' outcome details are purged {} days after the call; the entries and their hashes stay",
            config.retention.audit_details.days
        )?;
    } else {
        writeln!(
            out,
            "retention: OFF: personal data is never purged (PIPL Art. 47 requires deletion once the purpose is served; retention.enabled = false)"
        )?;
    }
    writeln!(out, "log: {:?} at {}", config.log.format, config.log.level)?;
    for old in &config.deprecations {
        writeln!(out, "deprecated: {old}")?;
    }
    writeln!(out, "configuration is valid")?;
    Ok(())
}

/// Connects to the configured database and checks its schema is this
/// build's; returns the URL (without a password) and what was found.
fn check_database(
    config: &crate::config::Config,
) -> anyhow::Result<(String, mediation_store_postgres::SchemaCheck)> {
    let options = config.store.postgres.options()?;
    let url = mediation_store_postgres::redacted(&options.url);
    let check = crate::backend::block_on(async move {
        let store = mediation_store_postgres::PgStore::connect(&options).await?;
        let check = store.check(&options.url).await;
        store.close().await;
        Ok(check?)
    })
    .context("store.postgres")?;
    Ok((url, check))
}

/// Whether the gateway can write its data directory: a scratch file written,
/// synced and removed there, or, if it does not exist yet, in the nearest
/// directory above it, where `serve` would create it. Nothing is left
/// behind, and the message names the directory, not the configuration file.
fn writable(dir: &std::path::Path) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| {
        anyhow::anyhow!(
            "data_dir {}: the gateway cannot write there: {e}",
            dir.display()
        )
    };
    // The directory itself, or the nearest one above it that exists.
    let existing = dir
        .ancestors()
        .map(|d| {
            if d.as_os_str().is_empty() {
                std::path::Path::new(".")
            } else {
                d
            }
        })
        .find(|d| d.exists())
        .unwrap_or(std::path::Path::new("."));
    if !existing.is_dir() {
        return Err(fail(std::io::Error::other(format!(
            "{} is not a directory",
            existing.display()
        ))));
    }
    let probe = existing.join(".mediation-gateway-check-config");
    let written = std::fs::File::create(&probe)
        .and_then(|f| f.sync_all())
        .map_err(fail);
    let _ = std::fs::remove_file(&probe);
    written
}
