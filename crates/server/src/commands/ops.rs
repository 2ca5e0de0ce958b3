//! `mediation-gateway ops …`: the operators' service from the command line.
//! Each command connects to a running gateway over mutual TLS with the
//! operator's certificate and token, like any other client.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context as _, bail};
use mediation_api::time::to_wire;
use mediation_calendar::cst;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

use super::Bearer;
use crate::cli::{
    AckArgs, AlertsArgs, AwaitingArgs, ConnectArgs, ConnectOnly, OpsCommand, ReferralArgs,
    ReferralsArgs, ReplayArgs, StatsArgs,
};
use crate::config::{Profile, TlsMode};

type Client = OperationsClient<InterceptedService<Channel, Bearer>>;

pub fn run(command: OpsCommand, out: &mut dyn Write) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async move {
        match command {
            OpsCommand::Alerts(a) => alerts(a, out).await,
            OpsCommand::Ack(a) => ack(a, out).await,
            OpsCommand::Breaches(a) => breaches(a, out).await,
            OpsCommand::Referral(a) => referral(a, out).await,
            OpsCommand::Referrals(a) => referrals(a, out).await,
            OpsCommand::Awaiting(a) => awaiting(a, out).await,
            OpsCommand::Backlog(a) => backlog(a, out).await,
            OpsCommand::DeadLetters(a) => dead_letters(a, out).await,
            OpsCommand::Replay(a) => replay(a, out).await,
            OpsCommand::Stats(a) => stats(a, out).await,
            OpsCommand::Clock(a) => clock(a, out).await,
            OpsCommand::Audit(a) => audit(*a, out).await,
        }
    })
}

async fn connect(args: &ConnectArgs) -> anyhow::Result<Client> {
    let config = args.config.load()?;
    let plaintext = config.tls.mode == TlsMode::Plaintext;
    let url = match &args.gateway {
        Some(url) => url.clone(),
        None => {
            let mut addr = config.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            let scheme = if plaintext { "http" } else { "https" };
            format!("{scheme}://{addr}")
        }
    };
    let pki = mediation_security::pki::DevelopmentPki::new(config.dev_pki_dir());
    let mut endpoint = Channel::from_shared(url.clone())
        .with_context(|| format!("--gateway {url:?} is not a URL"))?;
    if !plaintext {
        let ca = args
            .ca
            .clone()
            .or_else(|| config.tls.server_ca.clone())
            .unwrap_or_else(|| pki.ca());
        let (cert, key): (PathBuf, PathBuf) = match (&args.cert, &args.key) {
            (Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => (pki.certificate(&args.tenant), pki.key(&args.tenant)),
        };
        let read =
            |p: &PathBuf| std::fs::read(p).with_context(|| format!("cannot read {}", p.display()));
        mediation_security::install_crypto_provider();
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(read(&ca)?))
            .identity(Identity::from_pem(read(&cert)?, read(&key)?));
        endpoint = endpoint.tls_config(tls)?;
    }
    let token = match &args.token {
        Some(token) => token.clone(),
        None if config.profile == Profile::Development => super::dev::development_token(
            &config,
            &args.tenant,
            "operator-cli",
            3600,
            jiff::Timestamp::now(),
        )?,
        None => bail!(
            "--token (or MEDIATION_GATEWAY_TOKEN) is required outside the development profile"
        ),
    };
    let channel = endpoint
        .connect()
        .await
        .with_context(|| format!("cannot reach the gateway at {url}"))?;
    let bearer = format!("Bearer {token}")
        .parse()
        .context("the token is not valid header text")?;
    Ok(OperationsClient::with_interceptor(
        channel,
        Bearer::new(bearer),
    ))
}

/// An instant for people and for `--json` alike: RFC 3339 in China Standard
/// Time with its offset (`2025-03-07T00:00:01+08:00`), as webhooks write it.
fn when(t: Option<&prost_types::Timestamp>) -> String {
    t.and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok())
        .map(cst::format)
        .unwrap_or_else(|| "-".into())
}

fn kind_name(kind: ops::AlertKind) -> String {
    kind.as_str_name()
        .trim_start_matches("ALERT_KIND_")
        .to_ascii_lowercase()
}

fn alert_json(a: &ops::Alert) -> serde_json::Value {
    json!({
        "seq": a.seq,
        "kind": kind_name(a.kind()),
        "severity": a.severity().as_str_name().trim_start_matches("SEVERITY_").to_ascii_lowercase(),
        "raised_at": when(a.raised_at.as_ref()),
        "referral_id": a.referral_id,
        "due_at": a.due_at.as_ref().map(|t| when(Some(t))),
        "detail": a.detail,
        "acknowledged_by": a.acknowledgement.as_ref().map(|k| k.by.clone()),
    })
}

fn alert_line(a: &ops::Alert) -> String {
    let mut line = format!(
        "#{} {} {:<8} {:<23}",
        a.seq,
        when(a.raised_at.as_ref()),
        a.severity()
            .as_str_name()
            .trim_start_matches("SEVERITY_")
            .to_ascii_lowercase(),
        kind_name(a.kind())
    );
    if !a.referral_id.is_empty() {
        line.push_str(&format!(" referral={}", a.referral_id));
    }
    line.push_str(&format!(" {}", a.detail));
    if let Some(ack) = &a.acknowledgement {
        line.push_str(&format!(" [acknowledged by {}]", ack.by));
    }
    line
}

async fn alerts(args: AlertsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut kinds = Vec::new();
    for name in &args.kinds {
        let kind =
            ops::AlertKind::from_str_name(&format!("ALERT_KIND_{}", name.to_ascii_uppercase()))
                .filter(|k| *k != ops::AlertKind::Unspecified)
                .with_context(|| {
                    format!("--kind {name:?}: not an alert kind (e.g. mediation_breach)")
                })?;
        kinds.push(kind.into());
    }
    let mut cursor = args.after;
    if !args.follow {
        return print_alerts(&args, &kinds, &mut cursor, out, &mut || {}).await;
    }
    // Following: say so (on stderr, so that stdout stays one alert per line
    // for jq and the like), and when the connection is lost, as when the
    // gateway restarts, reconnect with growing waits and resume after the
    // last alert seen, so that nothing is missed or shown twice.
    let note = |text: String| {
        let mut err = std::io::stderr();
        let _ = writeln!(err, "{text}");
    };
    note(format!(
        "following alerts after #{cursor}; waiting for new ones (Ctrl-C to stop)"
    ));
    let mut waits = reconnect_waits();
    loop {
        let followed = print_alerts(&args, &kinds, &mut cursor, out, &mut || {
            waits = reconnect_waits();
        })
        .await;
        let why = match followed {
            Ok(()) => "the gateway ended the stream".to_owned(),
            Err(e) => format!("{e:#}"),
        };
        let wait = waits.next().unwrap_or(std::time::Duration::from_secs(10));
        note(format!(
            "{why}; reconnecting in {:.1} s, resuming after #{cursor}",
            wait.as_secs_f64()
        ));
        tokio::time::sleep(wait).await;
    }
}

/// Prints the alerts after `cursor` of `kinds`, moving it past each; when
/// following, until the stream ends. `opened` runs once the gateway has
/// answered.
async fn print_alerts(
    args: &AlertsArgs,
    kinds: &[i32],
    cursor: &mut u64,
    out: &mut dyn Write,
    opened: &mut dyn FnMut(),
) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let mut stream = client
        .watch_alerts(ops::WatchAlertsRequest {
            after_seq: *cursor,
            follow: args.follow,
            kinds: kinds.to_vec(),
        })
        .await
        .map_err(sentence)?
        .into_inner();
    opened();
    while let Some(alert) = stream.message().await.map_err(sentence)? {
        *cursor = alert.seq;
        print_alert(&alert, args.connect.json, out)?;
    }
    Ok(())
}

/// Waits between reconnections: 200 ms doubling to 10 s, with jitter.
fn reconnect_waits() -> backon::ExponentialBackoff {
    use backon::BackoffBuilder as _;
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(10))
        .with_jitter()
        .without_max_times()
        .build()
}

fn print_alert(alert: &ops::Alert, json: bool, out: &mut dyn Write) -> anyhow::Result<()> {
    if json {
        writeln!(out, "{}", alert_json(alert))?;
    } else {
        writeln!(out, "{}", alert_line(alert))?;
    }
    out.flush()?;
    Ok(())
}

/// A gRPC refusal as a sentence: what the gateway said, and its code, rather
/// than tonic's debug text.
fn sentence(status: tonic::Status) -> anyhow::Error {
    let code = mediation_api::status::code_name(status.code());
    if status.message().is_empty() {
        anyhow::anyhow!("the gateway answered {code}")
    } else {
        anyhow::anyhow!("the gateway answered {code}: {}", status.message())
    }
}

async fn ack(args: AckArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let alert = client
        .acknowledge_alert(ops::AcknowledgeAlertRequest {
            seq: args.seq,
            note: args.note,
        })
        .await
        .map_err(sentence)?
        .into_inner()
        .alert
        .context("the gateway answered without the alert")?;
    if args.connect.json {
        writeln!(out, "{}", alert_json(&alert))?;
    } else {
        writeln!(out, "{}", alert_line(&alert))?;
    }
    Ok(())
}

async fn breaches(args: ConnectOnly, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let breaches = client
        .list_open_breaches(ops::ListOpenBreachesRequest::default())
        .await
        .map_err(sentence)?
        .into_inner()
        .breaches;
    if breaches.is_empty() && !args.connect.json {
        writeln!(out, "no open breaches")?;
    }
    for b in breaches {
        let alert = b.alert.unwrap_or_default();
        if args.connect.json {
            let mut value = alert_json(&alert);
            value["referral_status"] = json!(b.referral_status);
            value["organisation"] = json!(b.organisation);
            writeln!(out, "{value}")?;
        } else {
            writeln!(
                out,
                "{} (now {}, {})",
                alert_line(&alert),
                b.referral_status,
                if b.organisation.is_empty() {
                    "no organisation"
                } else {
                    &b.organisation
                }
            )?;
        }
    }
    Ok(())
}

fn message_line(m: &ops::OutboxMessage) -> String {
    let mut line = format!(
        "{} {} {} {} attempts={} enqueued={}",
        m.message_id,
        m.destination,
        m.referral_id,
        m.event,
        m.attempts,
        when(m.enqueued_at.as_ref())
    );
    if m.dead_at.is_some() {
        line.push_str(&format!(" dead={}", when(m.dead_at.as_ref())));
    } else {
        line.push_str(&format!(" next={}", when(m.next_attempt_at.as_ref())));
    }
    if !m.last_error.is_empty() {
        line.push_str(&format!(" error={:?}", m.last_error));
    }
    line
}

fn message_json(m: &ops::OutboxMessage) -> serde_json::Value {
    json!({
        "message_id": m.message_id,
        "destination": m.destination,
        "referral_id": m.referral_id,
        "event": m.event,
        "attempts": m.attempts,
        "enqueued_at": when(m.enqueued_at.as_ref()),
        "next_attempt_at": when(m.next_attempt_at.as_ref()),
        "dead_at": m.dead_at.as_ref().map(|t| when(Some(t))),
        "last_error": m.last_error,
    })
}

async fn referrals(args: ReferralsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let found = client
        .find_referrals(ops::FindReferralsRequest {
            court_referral_id: args.reference.unwrap_or_default(),
            case_number: args.case_number.unwrap_or_default(),
            status: args.status.unwrap_or_default(),
            due_before: args.due_before.map(to_wire),
            limit: args.limit,
        })
        .await
        .map_err(sentence)?
        .into_inner();
    for r in &found.referrals {
        let due = r
            .deadlines
            .iter()
            .map(|d| format!("{} by {}", d.kind, d.due_date))
            .collect::<Vec<_>>()
            .join(", ");
        if args.connect.json {
            writeln!(
                out,
                "{}",
                json!({
                    "referral_id": r.referral_id,
                    "court": r.court,
                    "court_referral_id": r.court_referral_id,
                    "case_number": r.case_number,
                    "status": r.status,
                    "organisation": r.organisation,
                    "deadlines": r.deadlines.iter().map(|d| json!({
                        "kind": d.kind, "due_date": d.due_date,
                        "due_at": when(d.due_at.as_ref()), "provisional": d.provisional,
                    })).collect::<Vec<_>>(),
                })
            )?;
        } else {
            writeln!(
                out,
                "{} {} {} {} {} {}",
                r.referral_id,
                r.status,
                r.court,
                r.court_referral_id,
                if r.organisation.is_empty() {
                    "-"
                } else {
                    &r.organisation
                },
                due
            )?;
        }
    }
    if !args.connect.json {
        writeln!(
            out,
            "{} found among {} referrals",
            found.referrals.len(),
            found.scanned
        )?;
    }
    Ok(())
}

async fn referral(args: ReferralArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let r = client
        .get_referral_timeline(ops::GetReferralTimelineRequest {
            referral_id: args.referral_id,
        })
        .await
        .map_err(sentence)?
        .into_inner();
    if args.connect.json {
        let value = json!({
            "referral_id": r.referral_id,
            "court": r.court,
            "court_referral_id": r.court_referral_id,
            "status": r.status,
            "partner": r.partner,
            "organisation": r.organisation,
            "mediator": r.mediator,
            "mediator_name": r.mediator_name,
            "deadlines": r.deadlines.iter().map(|d| json!({
                "kind": d.kind, "due_date": d.due_date, "provisional": d.provisional,
            })).collect::<Vec<_>>(),
            "timeline": r.timeline.iter().map(|e| json!({
                "at": when(e.at.as_ref()), "event": e.event, "summary": e.summary,
            })).collect::<Vec<_>>(),
            "waiting": r.waiting.iter().map(message_json).collect::<Vec<_>>(),
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(
        out,
        "referral {} ({} {}): {}",
        r.referral_id, r.court, r.court_referral_id, r.status
    )?;
    if !r.organisation.is_empty() {
        writeln!(out, "organisation: {} ({})", r.organisation, r.partner)?;
    }
    if !r.mediator.is_empty() {
        match r.mediator_name.as_str() {
            "" => writeln!(out, "mediator: {} (not on the roster)", r.mediator)?,
            name => writeln!(out, "mediator: {} {name}", r.mediator)?,
        }
    }
    for d in &r.deadlines {
        writeln!(
            out,
            "{} deadline: last day {}{}",
            d.kind,
            d.due_date,
            if d.provisional { " (provisional)" } else { "" }
        )?;
    }
    writeln!(out, "timeline:")?;
    for e in &r.timeline {
        writeln!(
            out,
            "  {} {:<24} {}",
            when(e.at.as_ref()),
            e.event,
            e.summary
        )?;
    }
    if !r.waiting.is_empty() {
        writeln!(out, "waiting for delivery:")?;
        for m in &r.waiting {
            writeln!(out, "  {}", message_line(m))?;
        }
    }
    Ok(())
}

async fn awaiting(args: AwaitingArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let answer = client
        .list_awaiting_court(ops::ListAwaitingCourtRequest { court: args.court })
        .await
        .map_err(sentence)?
        .into_inner();
    if args.connect.json {
        for r in &answer.referrals {
            writeln!(
                out,
                "{}",
                json!({
                    "referral_id": r.referral_id,
                    "court": r.court,
                    "court_referral_id": r.court_referral_id,
                    "status": r.status,
                    "since": when(r.since.as_ref()),
                    "working_days": r.working_days,
                    "remind_at": r.remind_at.as_ref().map(|t| when(Some(t))),
                    "reminded": r.reminded,
                })
            )?;
        }
        return Ok(());
    }
    if answer.referrals.is_empty() {
        writeln!(
            out,
            "no referral awaits a court's decision ({} read)",
            answer.scanned
        )?;
        return Ok(());
    }
    writeln!(out, "courts, the longest wait first:")?;
    for c in &answer.courts {
        writeln!(
            out,
            "  {:<8} waiting={} reminded={} since={}",
            c.court,
            c.waiting,
            c.reminded,
            when(c.oldest_since.as_ref())
        )?;
    }
    writeln!(out, "referrals, the oldest first:")?;
    for r in &answer.referrals {
        writeln!(
            out,
            "  {} {:<8} {:<22} {} since {} ({} working days){}",
            r.referral_id,
            r.court,
            r.status,
            r.court_referral_id,
            when(r.since.as_ref()),
            r.working_days,
            if r.reminded { " REMINDED" } else { "" }
        )?;
    }
    Ok(())
}

async fn backlog(args: ConnectOnly, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let destinations = client
        .get_outbox_backlog(ops::GetOutboxBacklogRequest {})
        .await
        .map_err(sentence)?
        .into_inner()
        .destinations;
    if destinations.is_empty() && !args.connect.json {
        writeln!(out, "the outbox is empty")?;
    }
    for d in destinations {
        if args.connect.json {
            writeln!(
                out,
                "{}",
                json!({
                    "destination": d.destination,
                    "pending": d.pending,
                    "dead": d.dead,
                    "oldest_enqueued_at": d.oldest_enqueued_at.as_ref().map(|t| when(Some(t))),
                    "consecutive_failures": d.consecutive_failures,
                    "last_error": d.last_error,
                    "unreachable": d.unreachable,
                })
            )?;
        } else {
            writeln!(
                out,
                "{:<24} pending={} dead={} oldest={} failures={}{}{}",
                d.destination,
                d.pending,
                d.dead,
                when(d.oldest_enqueued_at.as_ref()),
                d.consecutive_failures,
                if d.unreachable { " UNREACHABLE" } else { "" },
                if d.last_error.is_empty() {
                    String::new()
                } else {
                    format!(" last_error={:?}", d.last_error)
                }
            )?;
        }
    }
    Ok(())
}

async fn dead_letters(args: ConnectOnly, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let dead = client
        .list_dead_letters(ops::ListDeadLettersRequest { limit: 1_000 })
        .await
        .map_err(sentence)?
        .into_inner()
        .dead_letters;
    if dead.is_empty() && !args.connect.json {
        writeln!(out, "no dead letters")?;
    }
    for m in &dead {
        if args.connect.json {
            writeln!(out, "{}", message_json(m))?;
        } else {
            writeln!(out, "{}", message_line(m))?;
        }
    }
    Ok(())
}

async fn clock(args: crate::cli::ClockArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let state = match args.advance {
        Some(by) => client
            .advance_clock(ops::AdvanceClockRequest {
                by: Some(prost_types::Duration {
                    seconds: by.as_secs(),
                    nanos: by.subsec_nanos(),
                }),
            })
            .await
            .map_err(sentence)?
            .into_inner(),
        None => client
            .get_clock(ops::GetClockRequest {})
            .await
            .map_err(sentence)?
            .into_inner(),
    };
    let now = state
        .now
        .map(|t| {
            jiff::Timestamp::new(t.seconds, t.nanos).map(mediation_core::calendar::cst::format)
        })
        .transpose()?
        .unwrap_or_default();
    if args.connect.json {
        writeln!(
            out,
            "{}",
            json!({
                "now": now,
                "movable": state.movable,
                "speed": state.speed,
                "timers_fired": state.timers_fired,
            })
        )?;
    } else if args.advance.is_some() {
        writeln!(
            out,
            "the clock is now {now}; {} timers fell due and fired",
            state.timers_fired
        )?;
    } else if state.movable {
        writeln!(
            out,
            "the clock is {now}, a sandbox's: it runs {}× real time and `ops clock --advance` moves it",
            state.speed
        )?;
    } else {
        writeln!(out, "the clock is {now}, the system's")?;
    }
    Ok(())
}

async fn replay(args: ReplayArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let message = client
        .replay_dead_letter(ops::ReplayDeadLetterRequest {
            message_id: args.message_id.clone(),
        })
        .await
        .map_err(sentence)?
        .into_inner()
        .message;
    match message {
        Some(m) if args.connect.json => writeln!(out, "{}", message_json(&m))?,
        Some(m) => writeln!(out, "replayed: {}", message_line(&m))?,
        None => writeln!(out, "replayed {} and already delivered", args.message_id)?,
    }
    Ok(())
}

fn duration(d: Option<&prost_types::Duration>) -> String {
    match d {
        Some(d) => format!("{:.1}h", d.seconds as f64 / 3600.0),
        None => "-".into(),
    }
}

fn figures_json(f: &ops::Figures) -> serde_json::Value {
    json!({
        "referrals": f.referrals,
        "accepted": f.accepted,
        "declined": f.declined,
        "agreements": f.agreements,
        "failures": f.failures,
        "success_rate": f.success_rate,
        "median_time_to_accept_seconds": f.median_time_to_accept.as_ref().map(|d| d.seconds),
        "median_mediation_duration_seconds": f.median_mediation_duration.as_ref().map(|d| d.seconds),
        "acceptance_breaches": f.acceptance_breaches,
        "mediation_breaches": f.mediation_breaches,
        "voluntarily_performed": f.voluntarily_performed,
        "ended_at_limit": f.ended_at_limit,
        "ended_early": f.ended_early,
        "rulings": f.rulings,
        "confirmed": f.confirmed,
        "confirmation_rate": f.confirmation_rate,
    })
}

fn figures_line(name: &str, f: &ops::Figures) -> String {
    format!(
        "{name:<28} referrals={} accepted={} declined={} agreements={} failures={} success={} accept_median={} mediation_median={} breaches={}/{} performed={} ended_at_limit={} ended_early={} confirmed={}/{}",
        f.referrals,
        f.accepted,
        f.declined,
        f.agreements,
        f.failures,
        f.success_rate
            .map(|r| format!("{:.0}%", r * 100.0))
            .unwrap_or_else(|| "-".into()),
        duration(f.median_time_to_accept.as_ref()),
        duration(f.median_mediation_duration.as_ref()),
        f.acceptance_breaches,
        f.mediation_breaches,
        f.voluntarily_performed,
        f.ended_at_limit,
        f.ended_early.values().sum::<u64>(),
        f.confirmed,
        f.rulings
    )
}

/// The CSV header of `ops stats --csv`.
const CSV_HEADER: &str = "scope,partner,key,referrals,accepted,declined,agreements,failures,success_rate,median_time_to_accept_seconds,median_mediation_duration_seconds,acceptance_breaches,mediation_breaches,ended_at_limit,ended_early,rulings,confirmed,confirmation_rate,voluntarily_performed";

/// One CSV row: `scope` is partner, organisation or a breakdown's dimension,
/// `key` the organisation or the dimension's value. Ids and codes carry no
/// commas; a cause of action is quoted. Early ends are summed.
fn csv_row(scope: &str, partner: &str, key: &str, f: &ops::Figures) -> String {
    let rate = |r: Option<f64>| r.map(|r| format!("{r:.4}")).unwrap_or_default();
    let seconds =
        |d: Option<&prost_types::Duration>| d.map(|d| d.seconds.to_string()).unwrap_or_default();
    format!(
        "{scope},{partner},\"{}\",{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
        key.replace('"', "\"\""),
        f.referrals,
        f.accepted,
        f.declined,
        f.agreements,
        f.failures,
        rate(f.success_rate),
        seconds(f.median_time_to_accept.as_ref()),
        seconds(f.median_mediation_duration.as_ref()),
        f.acceptance_breaches,
        f.mediation_breaches,
        f.ended_at_limit,
        f.ended_early.values().sum::<u64>(),
        f.rulings,
        f.confirmed,
        rate(f.confirmation_rate),
        f.voluntarily_performed
    )
}

/// The period `ops stats` asks for: --from/--to, or a whole month in China
/// Standard Time.
fn stats_period(args: &StatsArgs) -> anyhow::Result<(jiff::Timestamp, jiff::Timestamp)> {
    use mediation_core::calendar::cst;
    match (args.month, args.from, args.to) {
        (Some(first), _, _) => {
            let next = first
                .checked_add(jiff::Span::new().months(1))
                .map_err(|e| anyhow::anyhow!("--month: {e}"))?;
            Ok((cst::start_of(first), cst::start_of(next)))
        }
        (None, Some(from), Some(to)) => Ok((from, to)),
        _ => anyhow::bail!("give --month, or both --from and --to"),
    }
}

async fn stats(args: StatsArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let (from, to) = stats_period(&args)?;
    let mut client = connect(&args.connect).await?;
    let s = client
        .get_statistics(ops::GetStatisticsRequest {
            from: Some(to_wire(from)),
            to: Some(to_wire(to)),
            partner: args
                .partner
                .map(
                    |name| match mediation_core::partner::Partner::old_spelling(&name) {
                        Some(p) => {
                            let mut err = std::io::stderr();
                            let _ = writeln!(
                                err,
                                "--partner {name}: the old name of {}; use that",
                                p.as_str()
                            );
                            p.as_str().to_owned()
                        }
                        None => name,
                    },
                )
                .unwrap_or_default(),
        })
        .await
        .map_err(sentence)?
        .into_inner();
    if args.csv {
        writeln!(out, "{CSV_HEADER}")?;
        for p in &s.partners {
            let f = p.figures.clone().unwrap_or_default();
            writeln!(out, "{}", csv_row("partner", &p.partner, "", &f))?;
        }
        for o in &s.organisations {
            let f = o.figures.clone().unwrap_or_default();
            writeln!(
                out,
                "{}",
                csv_row("organisation", &o.partner, &o.organisation, &f)
            )?;
        }
        for b in &s.breakdowns {
            let f = b.figures.clone().unwrap_or_default();
            writeln!(out, "{}", csv_row(&b.dimension, "", &b.value, &f))?;
        }
        return Ok(());
    }
    if args.connect.json {
        let value = json!({
            "from": from.to_string(),
            "to": to.to_string(),
            "referrals_read": s.referrals_read,
            "partners": s.partners.iter().map(|p| json!({
                "partner": p.partner, "figures": p.figures.as_ref().map(figures_json),
            })).collect::<Vec<_>>(),
            "organisations": s.organisations.iter().map(|o| json!({
                "partner": o.partner, "organisation": o.organisation,
                "figures": o.figures.as_ref().map(figures_json),
            })).collect::<Vec<_>>(),
            "breakdowns": s.breakdowns.iter().map(|b| json!({
                "dimension": b.dimension, "value": b.value,
                "organisation": b.organisation, "name": b.name,
                "figures": b.figures.as_ref().map(figures_json),
            })).collect::<Vec<_>>(),
        });
        writeln!(out, "{value}")?;
        return Ok(());
    }
    writeln!(out, "{} referrals read", s.referrals_read)?;
    for p in &s.partners {
        writeln!(
            out,
            "{}",
            figures_line(&p.partner, &p.figures.clone().unwrap_or_default())
        )?;
    }
    for o in &s.organisations {
        writeln!(
            out,
            "{}",
            figures_line(
                &format!("  {}", o.organisation),
                &o.figures.clone().unwrap_or_default()
            )
        )?;
    }
    Ok(())
}

/// An audit entry as one JSON line: the export format that
/// `tests/python/verify_audit.py` reads (docs/security.md, "Checking the
/// trail yourself"). Instants are in UTC, as the record holds them.
fn audit_json(e: &ops::AuditEntry) -> anyhow::Result<serde_json::Value> {
    use base64::Engine as _;
    let at =
        e.at.as_ref()
            .map(|t| jiff::Timestamp::new(t.seconds, t.nanos))
            .transpose()
            .context("an entry's instant is out of range")?
            .map(|t| t.to_string());
    Ok(json!({
        "seq": e.seq,
        "at": at,
        "actor": e.actor,
        "action": e.action,
        "referral": (!e.referral_id.is_empty()).then_some(&e.referral_id),
        "outcome": e.outcome,
        "prev_hash": e.prev_hash,
        "hash": e.hash,
        "record": base64::engine::general_purpose::STANDARD.encode(&e.record),
        // The text the record's digest covers, or null once purged.
        "detail": (!e.detail_purged).then_some(&e.detail),
    }))
}

async fn audit(args: crate::cli::AuditArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut client = connect(&args.connect).await?;
    let json = args.connect.json || args.export;
    let every_page = args.all || args.export;
    // Each page is a call with a record of its own: pages of at least 100
    // outrun the records they add, and an export reads the most a page may.
    let limit = if args.export {
        1_000
    } else if every_page {
        args.limit.max(100)
    } else {
        args.limit
    };
    let mut after = args.from_seq.and_then(|s| s.checked_sub(1));
    let (mut shown, mut scanned) = (0u64, 0u64);
    loop {
        let page = client
            .query_audit(ops::QueryAuditRequest {
                referral_id: args.referral.clone().unwrap_or_default(),
                tenant: args.by_tenant.clone().unwrap_or_default(),
                subject: args.by_subject.clone().unwrap_or_default(),
                method: args.method.clone().unwrap_or_default(),
                outcome: args.outcome.clone().unwrap_or_default(),
                from: args.from.map(to_wire),
                until: args.until.map(to_wire),
                after_seq: after,
                to_seq: args.to_seq,
                limit,
            })
            .await
            .map_err(sentence)?
            .into_inner();
        scanned += page.scanned;
        for e in &page.entries {
            if json {
                writeln!(out, "{}", audit_json(e)?)?;
            } else {
                let at =
                    e.at.as_ref()
                        .and_then(|t| jiff::Timestamp::new(t.seconds, t.nanos).ok());
                writeln!(
                    out,
                    "{} {} {} {} {} {}",
                    e.seq,
                    at.map_or_else(|| "-".to_owned(), |t| t.to_string()),
                    e.actor,
                    e.action,
                    if e.referral_id.is_empty() {
                        "-"
                    } else {
                        &e.referral_id
                    },
                    e.outcome
                )?;
            }
        }
        shown += page.entries.len() as u64;
        match page.next_after_seq {
            Some(next) if every_page => {
                // A long export says how far it has come, apart from what it
                // prints.
                let _ = writeln!(
                    std::io::stderr(),
                    "audit: {shown} entries so far, {scanned} read, up to entry {next}"
                );
                after = Some(next);
            }
            Some(next) => {
                if !json {
                    writeln!(
                        out,
                        "{shown} shown among {scanned} read; more after entry {next} (--from-seq {})",
                        next + 1
                    )?;
                }
                return Ok(());
            }
            None => {
                if !json {
                    writeln!(out, "{shown} shown among {scanned} read")?;
                }
                return Ok(());
            }
        }
    }
}
