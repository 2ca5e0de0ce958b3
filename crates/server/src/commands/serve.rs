//! `mediation-gateway serve`: runs the gateway until interrupted.
//!
//! SIGHUP reloads the roster and the calendar; SIGINT or SIGTERM stops taking
//! calls, lets deliveries in flight finish, and exits. Everything acknowledged
//! is already durable, so a harder stop loses nothing either.

use std::io::Write;
use std::sync::Arc;

use anyhow::Context as _;
use mediation_core::clock::SystemClock;
use mediation_delivery::RelayOptions;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::app::Assembly;
use crate::cli::ServeArgs;
use crate::config::Config;

pub fn run(args: ServeArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    let config = args.config.load()?;
    init_tracing();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(serve(args, config, out))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDIATION_GATEWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // A second initialisation (tests) is harmless.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

async fn serve(args: ServeArgs, config: Config, out: &mut dyn Write) -> anyhow::Result<()> {
    let listen = config.listen;
    let assembly = Arc::new(Assembly::build(
        &args.config.config,
        config,
        Arc::new(SystemClock),
        RelayOptions::default(),
    )?);
    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
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
    writeln!(
        out,
        "mediation gateway listening on {} ({security}; store {}; press Ctrl-C to stop)",
        listener.local_addr()?,
        assembly.config().store_dir().display()
    )?;
    out.flush()?;
    assembly.serve(listener, until_stopped(stopped)).await?;
    tracing::info!("no longer taking calls; finishing deliveries in flight");
    relay.await?;
    engine.await?;
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
            let _ = stop.send(true);
            return;
        }
        let _ = assembly;
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("stopping");
        let _ = stop.send(true);
    }
}
