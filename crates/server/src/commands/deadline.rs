//! `mediation-gateway deadline …`: the deadline rules from the command line, with
//! the same code the gateway enforces them with.

use std::io::Write;

use anyhow::Context;
use jiff::civil::Date;
use mediation_core::calendar::{Calendar, DayKind, cst};
use mediation_core::deadline::{
    self, Deadline, DeadlinePolicy, MediationLimits, MediationTerm, Pause,
};
use serde::Serialize;

use crate::cli::{
    AcceptanceArgs, CommonArgs, DeadlineCommand, KindArg, MediationArgs, ProcedureArg,
};

/// What a deadline command prints, as text or JSON.
#[derive(Debug, Serialize)]
struct Report {
    deadline: &'static str,
    /// The day counting starts after (not counted itself).
    counted_from: Date,
    /// How the period was made up, in words.
    period: String,
    /// The last day on which the act is on time.
    due_date: Date,
    /// What kind of day `due_date` is.
    due_day: String,
    /// The instant the act becomes overdue.
    due_at: String,
    warn_at: Option<String>,
    provisional: bool,
    /// Years the computation needed but had no holiday notice for.
    missing_years: Vec<i16>,
}

pub fn run(command: DeadlineCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let (report, json) = match command {
        DeadlineCommand::Acceptance(args) => (acceptance(&args)?, args.common.json),
        DeadlineCommand::Mediation(args) => (mediation(&args)?, args.common.json),
    };
    if json {
        serde_json::to_writer(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        writeln!(out, "{}", sentence(&report))?;
    }
    Ok(())
}

fn load_calendar(common: &CommonArgs) -> anyhow::Result<Calendar> {
    Calendar::load_dir(&common.calendar_dir).with_context(|| {
        format!(
            "cannot load the working-day calendar from {} (set --calendar-dir or MEDIATION_GATEWAY_CALENDAR_DIR)",
            common.calendar_dir.display()
        )
    })
}

fn acceptance(args: &AcceptanceArgs) -> anyhow::Result<Report> {
    let calendar = load_calendar(&args.common)?;
    let policy = DeadlinePolicy {
        acceptance_working_days: args.working_days,
        warn_working_days: args.common.warn_working_days,
        ..DeadlinePolicy::default()
    };
    let due = deadline::acceptance_deadline(&calendar, &policy, args.delivered_at)?;
    let counted_from = cst::date_of(args.delivered_at);
    let period = format!("{} working days after {counted_from}", args.working_days);
    Ok(report(&calendar, "acceptance", counted_from, period, &due))
}

/// The limit the arguments ask for: `--days`, or the one the partner's
/// rules give the kind (online rules Art. 24; the CCPIT notice, 四(四)3).
fn limit_days(args: &MediationArgs) -> anyhow::Result<u32> {
    use mediation_core::bundle::{Procedure, ReferralKind, TrialStage};
    let kind = match (args.kind, args.procedure) {
        (KindArg::Delegated, None) => ReferralKind::Delegated,
        (KindArg::Delegated, Some(_)) => {
            anyhow::bail!("--procedure: only an entrusted (委托) referral has a procedure")
        }
        (KindArg::Entrusted, None) => {
            anyhow::bail!("--procedure: an entrusted (委托) referral needs ordinary or summary")
        }
        (KindArg::Entrusted, Some(p)) => ReferralKind::Entrusted {
            stage: TrialStage::FirstInstance,
            procedure: match p {
                ProcedureArg::Ordinary => Procedure::Ordinary,
                ProcedureArg::Summary => Procedure::Summary,
            },
        },
    };
    let limits = args.partner.map_or(
        MediationLimits::SUPREME_COURT_RULES,
        MediationLimits::default_for,
    );
    Ok(args.days.unwrap_or_else(|| limits.for_kind(&kind)))
}

fn mediation(args: &MediationArgs) -> anyhow::Result<Report> {
    let calendar = load_calendar(&args.common)?;
    let accepted_on = cst::date_of(args.accepted_at);
    let mut term = MediationTerm::new(accepted_on, limit_days(args)?);
    let mut pauses = args.pauses.clone();
    pauses.sort_by_key(|p| p.from);
    let extending = args.extend_to.is_some() || args.extend_by.is_some();
    let agreed_on = args.agreed_on.filter(|_| extending);
    if args.agreed_on.is_some() && !extending {
        anyhow::bail!(
            "--agreed-on: says when an extension was agreed; give --extend-to or --extend-by"
        );
    }
    // Pauses before the agreement, then the extension, then the rest.
    let (before, after): (Vec<Pause>, Vec<Pause>) = pauses
        .into_iter()
        .partition(|p| agreed_on.is_none_or(|day| p.from < day));
    for pause in before {
        term.add_pause(pause)
            .with_context(|| format!("--pause {}..{}", pause.from, pause.to))?;
    }
    if let Some(last_day) = args.extend_to {
        term.extend_to(last_day, &calendar).context("--extend-to")?;
    }
    if let Some(days) = args.extend_by {
        term.extend_by(days, &calendar).context("--extend-by")?;
    }
    for pause in after {
        term.add_pause(pause)
            .with_context(|| format!("--pause {}..{}", pause.from, pause.to))?;
    }
    let due = term
        .deadline(&calendar, args.common.warn_working_days)?
        .context("mediation is suspended, so no deadline runs")?;
    let mut period = format!("{} days after {accepted_on}", term.limit_days);
    if let Some(last) = term.extended_to {
        period = format!("extended by the parties to {last}");
    }
    let paused = term.paused_days() - term.paused_before_extension;
    if paused > 0 {
        period.push_str(&format!(", plus {paused} days paused for appraisal"));
    }
    if due.due_date != term.last_day()? {
        period.push_str(", moved past rest days");
    }
    Ok(report(&calendar, "mediation", accepted_on, period, &due))
}

fn report(
    calendar: &Calendar,
    name: &'static str,
    counted_from: Date,
    period: String,
    due: &Deadline,
) -> Report {
    let classified = calendar.classify(due.due_date);
    let weekday = format!("{:?}", due.due_date.weekday());
    let due_day = match classified.kind {
        DayKind::MakeUpWorkingDay(holiday) => {
            format!("{weekday}, a make-up working day for {holiday}")
        }
        _ => weekday,
    };
    Report {
        deadline: name,
        counted_from,
        period,
        due_date: due.due_date,
        due_day,
        due_at: cst::format(due.due_at),
        warn_at: due.warn_at.map(cst::format),
        provisional: due.is_provisional(),
        missing_years: due.missing_years.iter().copied().collect(),
    }
}

fn sentence(r: &Report) -> String {
    let mut line = format!(
        "{} due {} ({}): {}; overdue from {}",
        r.deadline, r.due_date, r.due_day, r.period, r.due_at
    );
    if let Some(warn_at) = &r.warn_at {
        line.push_str(&format!("; warning at {warn_at}"));
    }
    if r.provisional {
        let years: Vec<String> = r.missing_years.iter().map(i16::to_string).collect();
        line.push_str(&format!(
            "; PROVISIONAL: no holiday notice loaded for {}, recompute once it is published",
            years.join(", ")
        ));
    }
    line
}
