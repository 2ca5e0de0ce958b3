//! `mediation-gateway serve`: runs the gateway until interrupted.
//!
//! SIGHUP reloads the roster, the calendar and the tenants; if the calendar
//! changed, running deadlines are recomputed in the background. SIGINT or SIGTERM
//! first reports NOT_SERVING, then stops taking calls, lets the calls and
//! deliveries in flight finish (for at most `shutdown.grace_seconds`), and
//! exits 0. Everything acknowledged is already durable, so a harder stop
//! loses nothing either; a restart resumes the outbox and the deadlines.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use mediation_core::clock::SystemClock;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::Assembly;
use crate::cli::ServeArgs;
use crate::config::{Config, LogFormat, LogSettings};

pub fn run(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        // On the runtime: exported spans are sent from a task of it.
        let traces = init_tracing(&config.log, &config.traces)?;
        let served = serve(args, config, out).await;
        traces.shutdown().await;
        served
    })
}

/// Logs to stderr, and the gateway's spans to OpenTelemetry.
fn init_tracing(
    settings: &LogSettings,
    traces: &crate::config::TraceSettings,
) -> anyhow::Result<crate::traces::Traces> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDIATION_GATEWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&settings.level));
    let logs = match settings.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .boxed(),
        // One object per line; the fields of the call's span (method,
        // caller, referral) are on every line the call writes.
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(crate::json_log::JsonLines)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (spans, traces) = crate::traces::layer(traces)?;
    // A second initialisation (tests) is harmless.
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(spans)
        .try_init();
    Ok(traces)
}

async fn serve(args: ServeArgs, config: Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let listen = config.listen;
    let metrics_listen = config.metrics.listen;
    let grace = Duration::from_secs(config.shutdown.grace_seconds);
    let relay_options = config.relay.options();
    crate::observe::recorder();
    for old in &config.deprecations {
        tracing::warn!("deprecated configuration: {old}");
    }
    // The ports first: a port already in use is reported before the data
    // directory is created or the store opened.
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let metrics_listener = match metrics_listen {
        Some(addr) => Some(crate::observe::bind(addr).await?),
        None => None,
    };
    let console_listener = match config.console.listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("console.listen: cannot listen on {addr}"))?,
        ),
        None => None,
    };
    // A sandbox's clock, when configured (the development profile only:
    // the configuration's rules refuse it in production). It is kept in the
    // data directory, so that a restart resumes it: it never goes back.
    let sandbox = match config.sandbox.clock {
        crate::config::SandboxClockKind::Movable => {
            let file = config
                .data_dir
                .join(mediation_core::clock::SANDBOX_CLOCK_FILE);
            std::fs::create_dir_all(&config.data_dir).with_context(|| {
                format!(
                    "cannot create the data directory {}",
                    config.data_dir.display()
                )
            })?;
            let clock = mediation_core::clock::SandboxClock::kept(&file, config.sandbox.speed)
                .with_context(|| {
                    format!("cannot keep the sandbox's clock in {}", file.display())
                })?;
            Some(Arc::new(clock))
        }
        crate::config::SandboxClockKind::System => None,
    };
    let assembly = Arc::new(match sandbox {
        Some(clock) => {
            tracing::warn!(
                speed = clock.speed(),
                now = %mediation_core::clock::Clock::now(&*clock),
                "the sandbox's movable clock is on: deadlines follow it, and operators may move it forward; it is kept in the data directory and resumes from there"
            );
            Assembly::build_sandboxed(&args.config.config, config, clock, relay_options).await?
        }
        None => {
            Assembly::build(
                &args.config.config,
                config,
                Arc::new(SystemClock),
                relay_options,
            )
            .await?
        }
    });
    crate::observe::register_known(&assembly);
    let (stop, stopped) = watch::channel(false);
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let relay = {
        let a = Arc::clone(&assembly);
        let rx = stopped.clone();
        tokio::spawn(async move { a.relay.run(until_stopped(rx)).await })
    };
    let engine = {
        let a = Arc::clone(&assembly);
        let rx = stopped.clone();
        tokio::spawn(async move { a.engine.run(until_stopped(rx)).await })
    };
    let mut background = tokio::task::JoinSet::new();
    {
        let a = Arc::clone(&assembly);
        let rx = stopped.clone();
        background.spawn(async move {
            a.health
                .run(Duration::from_secs(1), until_stopped(rx))
                .await
        });
        let a = Arc::clone(&assembly);
        let rx = stopped.clone();
        background.spawn(async move {
            a.notifier
                .run(Duration::from_secs(2), until_stopped(rx))
                .await
        });
        let a = Arc::clone(&assembly);
        let rx = stopped.clone();
        background.spawn(async move {
            crate::observe::run_sampler(a, Duration::from_secs(15), until_stopped(rx)).await;
        });
        if let Some(retention) = assembly.retention.clone() {
            let rx = stopped.clone();
            background.spawn(async move { retention.run(until_stopped(rx)).await });
        }
        if let Some(listener) = metrics_listener {
            let readiness = assembly.health.watch();
            let rx = stopped.clone();
            background.spawn(async move {
                if let Err(error) =
                    crate::observe::serve_http(listener, readiness, until_stopped(rx)).await
                {
                    tracing::error!(%error, "metrics endpoint failed");
                }
            });
        }
    }
    // The handlers are installed before the listening line is printed, so a
    // supervisor that signals as soon as it sees that line is heard.
    let signals = Signals::install();
    let signals = {
        let a = Arc::clone(&assembly);
        tokio::spawn(async move { signals.watch(&a, stop).await })
    };
    let security = match assembly.security.server_tls {
        Some(_) => "mutual TLS",
        None => "PLAINTEXT, loopback only",
    };
    let metrics = match assembly.config().metrics.listen {
        Some(addr) => format!("; metrics and probes on http://{addr}"),
        None => String::new(),
    };
    let console = match &console_listener {
        Some(l) => {
            let scheme = if assembly.security.console_tls.is_some() {
                "https"
            } else {
                "http"
            };
            format!("; console on {scheme}://{}", l.local_addr()?)
        }
        None => String::new(),
    };
    writeln!(
        out,
        "mediation gateway listening on {} ({security}; store {}{metrics}{console}; press Ctrl-C to stop)",
        listener.local_addr()?,
        assembly.config().store_description()
    )?;
    out.flush()?;
    let served = {
        let a = Arc::clone(&assembly);
        let rx = stopped.clone();
        tokio::spawn(async move {
            a.serve_with_console(listener, console_listener, until_stopped(rx))
                .await
        })
    };
    until_stopped(stopped).await;
    tracing::info!(
        grace_seconds = grace.as_secs(),
        "no longer taking calls; finishing calls and deliveries in flight"
    );
    let finish = async {
        served.await??;
        relay.await?;
        engine.await?;
        while background.join_next().await.is_some() {}
        anyhow::Ok(())
    };
    match tokio::time::timeout(grace, finish).await {
        Ok(result) => result?,
        // What was acknowledged is durable; what was not is retried by its
        // sender or by the outbox after the restart.
        Err(_) => tracing::warn!("grace period over; exiting with work still in flight"),
    }
    signals.abort();
    tracing::info!("stopped");
    Ok(())
}

#[cfg(unix)]
struct UnixSignals {
    hangup: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

/// The signals `serve` answers to, installed before it announces itself.
struct Signals {
    #[cfg(unix)]
    unix: Option<UnixSignals>,
}

impl Signals {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let unix = match (
                signal(SignalKind::hangup()),
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(hangup), Ok(terminate), Ok(interrupt)) => Some(UnixSignals {
                    hangup,
                    terminate,
                    interrupt,
                }),
                _ => {
                    tracing::warn!("cannot watch signals; stop with Ctrl-C");
                    None
                }
            };
            Signals { unix }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// Reloads on SIGHUP until SIGINT or SIGTERM, then tells everything to stop.
    async fn watch(self, assembly: &Assembly, stop: watch::Sender<bool>) {
        #[cfg(unix)]
        if let Some(mut signals) = self.unix {
            loop {
                tokio::select! {
                    _ = signals.hangup.recv() => {
                        if let Err(error) = assembly.reload() {
                            tracing::error!(error = format!("{error:#}"), "reload failed; keeping the roster and calendar in use");
                        }
                    }
                    _ = signals.terminate.recv() => break,
                    _ = signals.interrupt.recv() => break,
                }
            }
            tracing::info!("stopping");
            assembly.health.stopping().await;
            let _ = stop.send(true);
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
        assembly.health.stopping().await;
        let _ = stop.send(true);
    }
}
