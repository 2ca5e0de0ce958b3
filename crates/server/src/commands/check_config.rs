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
    writeln!(out, "configuration: {}", files.join(" + "))?;
    let courts = config.court_addresses(&sources.file)?;
    let roster = load_roster(&config.roster)?;
    let calendar = Calendar::load_dir(&config.calendar_dir).with_context(|| {
        format!(
            "cannot load the calendar from {}",
            config.calendar_dir.display()
        )
    })?;
    let notes = crate::security::check(&config)?;
    writeln!(out, "profile: {:?}", config.profile)?;
    writeln!(out, "listen: {}", config.listen)?;
    writeln!(out, "data: {}", config.data_dir.display())?;
    writeln!(
        out,
        "roster: {} organisations in {}",
        roster.len(),
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
        ("labour", &p.labour),
        ("road_traffic", &p.road_traffic),
    ] {
        writeln!(
            out,
            "partner {name}: {}",
            url.as_deref().unwrap_or("(not configured: messages wait)")
        )?;
    }
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
    writeln!(out, "alert webhooks: {}", config.alerts.webhook.len())?;
    writeln!(out, "log: {:?} at {}", config.log.format, config.log.level)?;
    writeln!(out, "configuration is valid")?;
    Ok(())
}
