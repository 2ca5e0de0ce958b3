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
