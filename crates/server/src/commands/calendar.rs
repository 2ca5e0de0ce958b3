//! `mediation-gateway calendar …`: checks a holiday notice before an operator
//! drops it into the calendar directory.

use std::io::Write;

use anyhow::Context;
use mediation_core::calendar::Calendar;

use crate::cli::CheckArgs;

pub fn check(args: CheckArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let notice = Calendar::load_file(&args.file)?;
    let stem = args
        .file
        .file_stem()
        .and_then(|s| s.to_str())
        .context("the notice file needs a name")?;
    if stem != notice.year().to_string() {
        anyhow::bail!(
            "{}: the file must be named {}.toml to be loaded",
            args.file.display(),
            notice.year()
        );
    }
    let rest_days: usize = notice
        .holidays()
        .iter()
        .map(|h| mediation_core::calendar::period::days_between(h.first, h.last) as usize + 1)
        .sum();
    let make_up: usize = notice
        .holidays()
        .iter()
        .map(|h| h.working_weekends.len())
        .sum();
    writeln!(
        out,
        "{}: notice for {} ({}) is valid: {} holidays, {rest_days} rest days, {make_up} make-up working days",
        args.file.display(),
        notice.year(),
        notice.source(),
        notice.holidays().len(),
    )?;
    Ok(())
}

/// `calendar load`: checks a year's notice and installs it in the configured
/// calendar directory, atomically.
pub fn load(args: crate::cli::LoadArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let notice = Calendar::load_file(&args.file)?;
    let target = config.calendar_dir.join(format!("{}.toml", notice.year()));
    if target.exists() && !args.replace {
        anyhow::bail!(
            "{} is already installed; pass --replace to replace it",
            target.display()
        );
    }
    // The same checks and summary as `calendar check`, before anything moves.
    let mut summary = Vec::new();
    check(
        CheckArgs {
            file: args.file.clone(),
        },
        &mut summary,
    )?;
    out.write_all(&summary)?;
    let partial = target.with_extension("toml.partial");
    std::fs::copy(&args.file, &partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, &target)?;
    std::fs::File::open(&config.calendar_dir)?.sync_all()?;
    // The whole directory must still load, as the gateway will load it.
    mediation_calendar::Calendar::load_dir(&config.calendar_dir)?;
    writeln!(
        out,
        "installed {}; send SIGHUP to a running gateway (systemctl reload mediation-gateway) to use it \
         and recompute the running deadlines it affects",
        target.display()
    )?;
    Ok(())
}
