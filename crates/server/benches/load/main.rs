//! Load harness: the real gateway under load, next to the machine's limits and
//! to what a team would otherwise build, all measured in one run.
//!
//! ```sh
//! cargo bench -p mediation-gateway --bench load -- --quick             # under a minute
//! cargo bench -p mediation-gateway --bench load                        # full run
//! cargo bench -p mediation-gateway --bench load -- --postgres          # with the PostgreSQL baseline
//! cargo bench -p mediation-gateway --bench load -- --quick --postgres --restate  # and Restate
//! cargo bench -p mediation-gateway --bench load -- --backend postgres  # replicas on PostgreSQL
//! ```
//!
//! What it runs (the gateway is the release binary, as a separate process,
//! production profile, mutual TLS, sled with durable acknowledgements):
//!
//! - **ingest**: 1, 16 and 64 court clients, each on its own connection,
//!   submit realistic referrals (2–4 KiB bundles over the three partners) for a
//!   fixed time; acknowledgements per second and p50/p99/p999. Beside each,
//!   in the same round: the minimal tonic + sled group-commit server and, with
//!   `--postgres`, a PostgreSQL transactional outbox at the same concurrency
//!   and, with `--restate`, the same flow on Restate (`restate.rs`).
//! - **end to end**: a fixed offered rate; from the court's submit to the
//!   simulated partner platform receiving the referral.
//! - **deadline load and restart**: a store holding a million open referrals
//!   (100 of their timers due) and as many waiting offers; the time from
//!   process start to serving, the sweep of the 100 due timers, resident
//!   memory, and the time to drain the offers to healthy platforms.
//!
//! With `--backend postgres` it measures the gateway on PostgreSQL instead:
//! ingest through one replica and through three on one database (the
//! clients spread over them), beside the PostgreSQL outbox baseline on the
//! same cluster, round by round, with the CPU each process used.
//!
//! Results, and how to read them, are in `docs/benchmarks.md`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    unreachable_pub
)]

mod baseline;
mod bundles;
mod gateway;
mod neighbours;
mod platforms;
mod postgres;
mod preload;
mod relay_floor;
mod replicas;
mod restate;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use tokio::task::JoinSet;

use crate::baseline::Baseline;
use crate::bundles::Templates;
use crate::gateway::{Authed, Process, Setup};
use crate::platforms::Platforms;
use crate::postgres::Postgres;
use crate::relay_floor::RelayFloor;
use crate::restate::Restate;
use crate::stats::{Latencies, Run, median};

#[derive(Debug, Parser)]
#[command(about = "The gateway under load, beside its baselines")]
struct Args {
    /// A run of under a minute: shorter rounds, one round, 20,000 referrals.
    #[arg(long)]
    quick: bool,
    /// Also measure a PostgreSQL transactional outbox (installs PostgreSQL
    /// from the distribution's packages if it is missing).
    #[arg(long)]
    postgres: bool,
    /// Also measure the same flow on Restate (installs its server from the
    /// npm registry and builds the peer in `benches/restate-peer`).
    #[arg(long)]
    restate: bool,
    /// Seconds each ingest measurement runs.
    #[arg(long)]
    seconds: Option<u64>,
    /// Rounds of ingest measurements (the median is reported).
    #[arg(long)]
    rounds: Option<usize>,
    /// Concurrent clients, comma-separated.
    #[arg(long, value_delimiter = ',')]
    clients: Option<Vec<usize>>,
    /// The end-to-end offered rate, referrals per second.
    #[arg(long)]
    rate: Option<u32>,
    /// Open referrals for the deadline and restart measurements.
    #[arg(long)]
    referrals: Option<u64>,
    /// Skip the deadline and restart measurements.
    #[arg(long)]
    no_restart: bool,
    /// Where the stores go (default: a new directory under the system's
    /// temporary directory, removed afterwards).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Keep the million-referral phase's store in `--dir` once measured
    /// (drained, its 50 overdue referrals fired), to study a restart by
    /// hand: `serve` on `restart/gateway.toml`.
    #[arg(long)]
    keep_restart_store: bool,
    /// `sled` (the default runs above) or `postgres`: the gateway on
    /// PostgreSQL, one replica and three, beside the outbox baseline.
    #[arg(long, default_value = "sled")]
    backend: String,
    /// Passed by `cargo bench`.
    #[arg(long, hide = true)]
    bench: bool,
}

pub(crate) struct Plan {
    seconds: Duration,
    rounds: usize,
    levels: Vec<usize>,
    rate: u32,
    e2e: Duration,
    referrals: u64,
    fsync: Duration,
}

fn main() {
    if let Ok(dir) = std::env::var(baseline::ROLE) {
        baseline::child_main(dir);
        return;
    }
    if let Ok(dir) = std::env::var(relay_floor::ROLE) {
        relay_floor::child_main(dir);
        return;
    }
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(args));
}

async fn run(args: Args) {
    let quick = args.quick;
    let plan = Plan {
        seconds: Duration::from_secs(args.seconds.unwrap_or(if quick { 2 } else { 10 })),
        rounds: args.rounds.unwrap_or(if quick { 1 } else { 3 }),
        levels: args.clients.clone().unwrap_or_else(|| vec![1, 16, 64]),
        rate: args.rate.unwrap_or(if quick { 500 } else { 1000 }),
        e2e: Duration::from_secs(if quick { 4 } else { 20 }),
        referrals: args
            .referrals
            .unwrap_or(if quick { 20_000 } else { 1_000_000 }),
        fsync: Duration::from_secs(if quick { 1 } else { 3 }),
    };
    let temp;
    let root = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).unwrap();
            dir.canonicalize().unwrap()
        }
        None => {
            temp = tempfile::Builder::new()
                .prefix("mg-load-")
                .tempdir_in(std::env::temp_dir())
                .unwrap();
            temp.path().to_owned()
        }
    };
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let started = Instant::now();
    let setup = Setup::new(&root);
    let platforms = Platforms::start(&setup).await;
    let templates = Arc::new(Templates::new());
    let (small, large) = templates.size_range();
    println!(
        "load harness ({} mode), commit {commit}, data in {}",
        if quick { "quick" } else { "full" },
        root.display()
    );
    println!(
        "bundles {small}–{large} bytes encoded, over CCPIT, labour and road-traffic; {} s per measurement, {} round(s)",
        plan.seconds.as_secs(),
        plan.rounds
    );

    if args.backend == "postgres" {
        replicas::run(&setup, &root, &platforms, &templates, &plan).await;
        println!("whole run: {:.0} s", started.elapsed().as_secs_f64());
        return;
    }
    assert_eq!(args.backend, "sled", "--backend is sled or postgres");

    // The disk's own limit.
    let raw = baseline::raw_fdatasync_rate(&root, plan.fsync);
    println!("raw 4 KiB write + fdatasync, 1 writer: {raw:.0} /s");

    // Ingest: the gateway, the minimal server and PostgreSQL, level by level,
    // side by side in each round.
    let gateway_config = setup.config("gateway", &root.join("gateway"), &platforms);
    let gateway = Process::spawn(&gateway_config, Duration::from_secs(60));
    let minimal = Baseline::spawn(&root.join("minimal"), &setup.pki);
    let mut floor = RelayFloor::spawn(&root.join("floor"), &setup.pki, &platforms);
    // The floor delivers to the same fakes: its offers are kept apart by
    // its `F` tags, and counted here to leave the gateway's its own.
    let (mut floor_offers, mut floor_deliveries) = (0usize, 0u64);
    let pg = args.postgres.then(|| {
        let pg = Postgres::start(&root);
        println!("PostgreSQL {} on loopback", pg.version());
        pg
    });
    // --- Restate (restate.rs) ---
    let restate = if args.restate {
        Restate::start(&root, &templates).await
    } else {
        None
    };
    // --- end Restate ---
    let payload = serde_json::to_string(&templates.domain(24, "PG-PAYLOAD")).unwrap();
    let mut ingest: BTreeMap<(&str, usize), Vec<Run>> = BTreeMap::new();
    let mut submitted = 0u64;
    for round in 0..plan.rounds {
        for &clients in &plan.levels {
            let tag = format!("G{round}C{clients}");
            let keys_before = gateway.metric("gateway_store_key_writes_total").await;
            let mut run = closed_loop(
                court_clients(&setup, gateway.addr, clients).await,
                plan.seconds,
                &templates,
                &tag,
            )
            .await;
            submitted += run.ok;
            let lag = caught_up(&platforms, submitted, Duration::from_secs(120)).await;
            let keys = gateway.metric("gateway_store_key_writes_total").await - keys_before;
            println!(
                "round {round} gateway   {clients:>3} clients: {} (outbox caught up {:.1} s after; {:.1} key writes per referral; {} deliveries for {} offers)",
                run.line(),
                lag.as_secs_f64(),
                keys / run.ok.max(1) as f64,
                platforms.offers.deliveries() - floor_deliveries,
                platforms.offers.distinct() - floor_offers
            );
            ingest.entry(("gateway", clients)).or_default().push(run);

            let mut run = closed_loop(
                court_clients(&setup, minimal.addr, clients).await,
                plan.seconds,
                &templates,
                &format!("M{round}C{clients}"),
            )
            .await;
            println!(
                "round {round} minimal   {clients:>3} clients: {}",
                run.line()
            );
            ingest.entry(("minimal", clients)).or_default().push(run);

            let (offers_before, deliveries_before) =
                (platforms.offers.distinct(), platforms.offers.deliveries());
            let mut run = closed_loop(
                court_clients(&setup, floor.addr, clients).await,
                plan.seconds,
                &templates,
                &format!("F{round}C{clients}"),
            )
            .await;
            submitted += run.ok;
            let lag = caught_up(&platforms, submitted, Duration::from_secs(120)).await;
            let drained = floor.drained(Duration::from_secs(120)).await;
            floor_offers += platforms.offers.distinct() - offers_before;
            floor_deliveries += platforms.offers.deliveries() - deliveries_before;
            println!(
                "round {round} floor     {clients:>3} clients: {} (offers caught up {:.1} s after; every outcome durable {:.1} s after that)",
                run.line(),
                lag.as_secs_f64(),
                drained.as_secs_f64()
            );
            ingest.entry(("floor", clients)).or_default().push(run);

            if let Some(pg) = &pg {
                let mut run = pg.outbox_run(clients, plan.seconds, &payload);
                println!(
                    "round {round} postgres  {clients:>3} clients: {}",
                    run.line()
                );
                ingest.entry(("postgres", clients)).or_default().push(run);
            }

            // --- Restate (restate.rs) ---
            if let Some(rs) = &restate {
                let tag = format!("R{round}C{clients}");
                let mut run = rs.outbox_run(clients, plan.seconds, &tag).await;
                let lag = rs.caught_up(Duration::from_secs(120)).await;
                let (offers, deliveries) = rs.offers();
                println!(
                    "round {round} restate   {clients:>3} clients: {} (offers caught up {:.1} s after; {deliveries} deliveries for {offers} offers)",
                    run.line(),
                    lag.as_secs_f64()
                );
                ingest.entry(("restate", clients)).or_default().push(run);
            }
            // --- end Restate ---
        }
    }
    // Each store goes as soon as it is done with: the million-referral store
    // below needs the disk (about 17 GiB).
    drop(minimal);
    drop(floor);
    let _ = std::fs::remove_dir_all(root.join("floor"));
    drop(pg);
    drop(restate);
    let _ = std::fs::remove_dir_all(root.join("restate"));
    let _ = std::fs::remove_dir_all(root.join("minimal"));

    // End to end at a fixed offered rate, on the same gateway.
    platforms.offers.clear();
    let mut e2e = fixed_rate(
        court_clients(&setup, gateway.addr, 16).await,
        plan.rate,
        plan.e2e,
        &templates,
        &platforms,
    )
    .await;
    println!(
        "end to end at {} /s offered for {} s: achieved {:.0} /s; submit→platform {}; acknowledgement {}{}",
        plan.rate,
        plan.e2e.as_secs(),
        e2e.achieved,
        e2e.end_to_end.summary(),
        e2e.acks.summary(),
        if e2e.missing + e2e.errors > 0 {
            format!(" [{} refused, {} never arrived]", e2e.errors, e2e.missing)
        } else {
            String::new()
        }
    );
    // The noisy neighbour, on the same gateway.
    let mut noisy = neighbours::run(&setup, gateway.addr, &templates, plan.seconds, 4).await;
    println!(
        "noisy neighbour, court-bj at 4 clients: quiet {}; while court-sh holds {} calls open ({} refused) and idle connections come and go ({} closed by the handshake timeout): {}",
        noisy.quiet.latencies.summary(),
        noisy.held,
        noisy.refused,
        noisy.idle_closed,
        noisy.flooded.latencies.summary()
    );
    let (rss_after_ingest, _) = gateway.memory_mib();
    gateway.stop();
    let _ = std::fs::remove_dir_all(&gateway_config.data_dir);

    let restart = if args.no_restart {
        None
    } else {
        Some(
            restart_under_load(
                &setup,
                &root,
                &platforms,
                plan.referrals,
                args.keep_restart_store,
            )
            .await,
        )
    };

    // The summary, with ratios from this run.
    println!();
    println!(
        "summary (medians of {} round(s); ratios from this run)",
        plan.rounds
    );
    println!("raw fdatasync: {raw:.0} /s");
    for &clients in &plan.levels {
        let rate = |system: &str| {
            ingest
                .get(&(system, clients))
                .map(|runs| median(runs.iter().map(Run::rate).collect()))
        };
        let g = rate("gateway").unwrap();
        let m = rate("minimal").unwrap();
        let f = rate("floor").unwrap();
        let mut line = format!(
            "ingest {clients:>3} clients: gateway {g:>7.0} /s = {:.2}× the relay floor ({f:.0} /s), {:.2}× minimal tonic+sled ({m:.0} /s)",
            g / f,
            g / m
        );
        if let Some(p) = rate("postgres") {
            line += &format!(", {:.2}× PostgreSQL outbox ({p:.0} /s)", g / p);
        }
        if let Some(r) = rate("restate") {
            line += &format!(", {:.2}× Restate ({r:.0} /s)", g / r);
        }
        if clients == 1 {
            line += &format!(", {:.2}× raw fdatasync", g / raw);
        }
        println!("{line}");
        for system in ["gateway", "floor", "minimal", "postgres", "restate"] {
            if let Some(runs) = ingest.get_mut(&(system, clients)) {
                // The latencies of the round whose rate was the median.
                runs.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
                let middle = runs.len() / 2;
                println!("    {system:<9} {}", runs[middle].latencies.summary());
            }
        }
    }
    println!(
        "end to end at {} /s: submit→platform {}",
        plan.rate,
        e2e.end_to_end.summary()
    );
    let (quiet_p99, flooded_p99, beyond_p99) = (
        noisy.quiet.latencies.percentile(99.0),
        noisy.flooded.latencies.percentile(99.0),
        noisy.beyond_rate.latencies.percentile(99.0),
    );
    println!(
        "noisy neighbour: court-bj p99 {quiet_p99:.2} ms quiet, {flooded_p99:.2} ms under court-sh's flood within its rate = {:.2}× ({:.0} /s quiet, {:.0} /s flooded); {beyond_p99:.2} ms while court-sh calls far beyond its rate = {:.2}× ({:.0} /s)",
        flooded_p99 / quiet_p99,
        noisy.quiet.rate(),
        noisy.flooded.rate(),
        beyond_p99 / quiet_p99,
        noisy.beyond_rate.rate()
    );
    println!("gateway resident memory after ingest: {rss_after_ingest:.0} MiB");
    if let Some(r) = restart {
        r.print();
    }
    println!("whole run: {:.0} s", started.elapsed().as_secs_f64());
}

pub(crate) async fn court_clients(
    setup: &Setup,
    addr: std::net::SocketAddr,
    n: usize,
) -> Vec<CourtGatewayClient<Authed>> {
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        clients.push(setup.court(addr).await);
    }
    clients
}

/// Each client submits, waits for the answer, and submits again, until
/// `duration` is up.
pub(crate) async fn closed_loop(
    clients: Vec<CourtGatewayClient<Authed>>,
    duration: Duration,
    templates: &Arc<Templates>,
    tag: &str,
) -> Run {
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = JoinSet::new();
    for (c, mut client) in clients.into_iter().enumerate() {
        let templates = Arc::clone(templates);
        let tag = tag.to_owned();
        tasks.spawn(async move {
            let mut run = Run::default();
            let mut n = c as u64;
            while Instant::now() < deadline {
                let request = templates.request(n, &format!("{tag}-{c}-{n}"));
                let sent = Instant::now();
                match client.submit_referral(request).await {
                    Ok(_) => {
                        run.ok += 1;
                        run.latencies.push(sent.elapsed());
                    }
                    Err(status) => {
                        run.errors += 1;
                        run.first_error.get_or_insert_with(|| format!("{status}"));
                    }
                }
                n += 1;
            }
            run
        });
    }
    let mut total = Run::default();
    while let Some(run) = tasks.join_next().await {
        total.absorb(run.unwrap());
    }
    total.elapsed = start.elapsed();
    total
}

/// Waits until the platforms have received `expected` distinct referrals;
/// how long that took.
pub(crate) async fn caught_up(
    platforms: &Platforms,
    expected: u64,
    patience: Duration,
) -> Duration {
    let start = Instant::now();
    while (platforms.offers.distinct() as u64) < expected {
        if start.elapsed() > patience {
            println!(
                "  the outbox did not catch up within {patience:?}: {} of {expected} delivered",
                platforms.offers.distinct()
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

struct EndToEnd {
    achieved: f64,
    acks: Latencies,
    end_to_end: Latencies,
    errors: u64,
    missing: u64,
}

/// Submits at `rate` per second for `duration` whatever the answers' pace
/// (an open loop), then measures from each submit to the platform's receipt.
async fn fixed_rate(
    clients: Vec<CourtGatewayClient<Authed>>,
    rate: u32,
    duration: Duration,
    templates: &Arc<Templates>,
    platforms: &Platforms,
) -> EndToEnd {
    let total = u64::from(rate) * duration.as_secs();
    let sent = Arc::new(Mutex::new(Vec::with_capacity(total as usize)));
    let mut tasks = JoinSet::new();
    let start = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_millis(1));
    let mut n = 0u64;
    while n < total {
        ticker.tick().await;
        let due = ((start.elapsed().as_secs_f64() * f64::from(rate)) as u64).min(total);
        while n < due {
            let mut client = clients[n as usize % clients.len()].clone();
            let id = format!("E2E-{n}");
            let request = templates.request(n, &id);
            let sent = Arc::clone(&sent);
            tasks.spawn(async move {
                let at = Instant::now();
                let ok = client.submit_referral(request).await.is_ok();
                let took = at.elapsed();
                if ok {
                    sent.lock().unwrap().push((id, at));
                }
                (ok, took)
            });
            n += 1;
        }
    }
    let mut acks = Latencies::default();
    let mut errors = 0;
    while let Some(done) = tasks.join_next().await {
        let (ok, took) = done.unwrap();
        if ok {
            acks.push(took);
        } else {
            errors += 1;
        }
    }
    let achieved = acks.len() as f64 / start.elapsed().as_secs_f64();
    let sent = std::mem::take(&mut *sent.lock().unwrap());
    caught_up(platforms, sent.len() as u64, Duration::from_secs(60)).await;
    let mut end_to_end = Latencies::default();
    let mut missing = 0;
    for (id, at) in &sent {
        match platforms.offers.first_seen(id) {
            Some(seen) => end_to_end.push(seen.saturating_duration_since(*at)),
            None => missing += 1,
        }
    }
    EndToEnd {
        achieved,
        acks,
        end_to_end,
        errors,
        missing,
    }
}

struct Restart {
    referrals: u64,
    preload: Duration,
    store_mib: f64,
    to_listening: Duration,
    to_first_call: Duration,
    rss_serving: f64,
    drain: Duration,
    delivered: usize,
    deliveries: u64,
    pending_after: u64,
    rss_peak: f64,
    /// Checkpoints while draining, and their mean pause.
    checkpoints: f64,
    checkpoint_pause: Option<Duration>,
    quiet_listening: Duration,
    due: f64,
    sweep: Option<Duration>,
    rss_quiet: f64,
}

impl Restart {
    fn print(&self) {
        let n = self.referrals;
        println!(
            "store with {n} open referrals and {n} waiting offers: {:.0} MiB (built in {:.0} s)",
            self.store_mib,
            self.preload.as_secs_f64()
        );
        println!(
            "restart with {n} waiting offers: listening {:.2} s after start, first call answered at {:.2} s",
            self.to_listening.as_secs_f64(),
            self.to_first_call.as_secs_f64()
        );
        println!(
            "drain: {} offers to the platforms in {:.1} s ({:.0} /s; {} deliveries in all; {} still waiting)",
            self.delivered,
            self.drain.as_secs_f64(),
            self.delivered as f64 / self.drain.as_secs_f64(),
            self.deliveries,
            self.pending_after
        );
        println!(
            "gateway resident memory: {:.0} MiB once serving, peak {:.0} MiB while draining",
            self.rss_serving, self.rss_peak
        );
        match self.checkpoint_pause {
            Some(pause) => println!(
                "store checkpoints while draining: {:.0}, each pausing writes {:.0} ms on average",
                self.checkpoints,
                pause.as_secs_f64() * 1000.0
            ),
            None => println!("store checkpoints while draining: none"),
        }
        println!(
            "restart with {n} open referrals after the drain: listening {:.2} s after start",
            self.quiet_listening.as_secs_f64()
        );
        match self.sweep {
            Some(s) => println!(
                "deadline sweep of {:.0} due timers among {} open referrals: {:.1} ms ({:.2} ms per timer); resident memory {:.0} MiB",
                self.due,
                n + 50,
                s.as_secs_f64() * 1e3,
                s.as_secs_f64() * 1e3 / self.due.max(1.0),
                self.rss_quiet
            ),
            None => println!("deadline sweep: not seen within two minutes"),
        }
    }
}

fn dir_size(path: &std::path::Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

/// Starts the gateway on `config` and waits for an authenticated call to be
/// answered; the process and the time from spawning it to that answer.
async fn start_serving(setup: &Setup, config: &gateway::Config) -> (Process, Duration) {
    let spawned = Instant::now();
    let gateway = Process::spawn(config, Duration::from_secs(1800));
    let mut client = setup.court(gateway.addr).await;
    let _ = client
        .get_referral(mediation_proto::court::v1::GetReferralRequest {
            referral_id: "01J00000000000000000000000".into(),
        })
        .await;
    (gateway, spawned.elapsed())
}

/// Builds a store of `referrals` open referrals, each with its offer waiting,
/// starts the gateway on it and measures start-up, memory and the drain. Then,
/// with the gateway stopped, adds 50 referrals submitted 30 days ago (100 due
/// timers), starts it again and measures the sweep that fires them.
async fn restart_under_load(
    setup: &Setup,
    root: &std::path::Path,
    platforms: &Platforms,
    referrals: u64,
    keep_store: bool,
) -> Restart {
    println!("building a store with {referrals} open referrals (each with its offer waiting)");
    let data = root.join("restart");
    let store = data.join("store");
    let templates = Templates::small();
    let preload = preload::preload(&store, &setup.roster, &templates, referrals, 0).await;
    // Let the store's writer thread let go of the files.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let store_mib = dir_size(&store) as f64 / 1048576.0;
    println!(
        "  built in {:.0} s, {store_mib:.0} MiB; starting the gateway on it",
        preload.as_secs_f64()
    );
    platforms.offers.clear();
    let config = setup.config("restart", &data, platforms);
    let (gateway, to_first_call) = start_serving(setup, &config).await;
    let to_listening = gateway.started_in;
    let serving = Instant::now();
    let (rss_serving, _) = gateway.memory_mib();
    let mut last = Instant::now();
    while (platforms.offers.distinct() as u64) < referrals {
        if last.elapsed() > Duration::from_secs(10) {
            let n = platforms.offers.distinct();
            println!(
                "  draining: {n} of {referrals} offers delivered ({:.0}/s), gateway at {:.0} MiB",
                n as f64 / serving.elapsed().as_secs_f64(),
                gateway.memory_mib().0
            );
            last = Instant::now();
        }
        if serving.elapsed() > Duration::from_secs(3600) {
            println!("  gave up draining after an hour");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let drain = serving.elapsed();
    let mut pending_after = setup.pending(gateway.addr).await;
    for _ in 0..50 {
        if pending_after == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        pending_after = setup.pending(gateway.addr).await;
    }
    let (_, rss_peak) = gateway.memory_mib();
    let checkpoints = gateway
        .metric("gateway_store_checkpoint_seconds_count")
        .await;
    let checkpoint_pause = if checkpoints > 0.0 {
        let sum = gateway.metric("gateway_store_checkpoint_seconds_sum").await;
        Some(Duration::from_secs_f64(sum / checkpoints))
    } else {
        None
    };
    gateway.stop();
    let delivered = platforms.offers.distinct();
    let deliveries = platforms.offers.deliveries();

    // 50 overdue referrals: their acceptance warning and breach are due.
    preload::preload(&store, &setup.roster, &templates, 50, 50).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (gateway, _) = start_serving(setup, &config).await;
    let quiet_listening = gateway.started_in;
    let waiting = Instant::now();
    let mut due = 0.0;
    let mut sweep = None;
    while waiting.elapsed() < Duration::from_secs(120) {
        let count = gateway.metric("gateway_deadline_sweep_seconds_count").await;
        if count >= 1.0 {
            due = gateway.metric("gateway_deadline_timers_due_total").await;
            let sum = gateway.metric("gateway_deadline_sweep_seconds_sum").await;
            sweep = Some(Duration::from_secs_f64(sum / count));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (rss_quiet, _) = gateway.memory_mib();
    gateway.stop();
    if keep_store {
        println!("  the store is kept in {}", data.display());
    } else {
        let _ = std::fs::remove_dir_all(&data);
    }
    Restart {
        referrals,
        preload,
        store_mib,
        to_listening,
        to_first_call,
        rss_serving,
        drain,
        delivered,
        deliveries,
        pending_after,
        rss_peak,
        checkpoints,
        checkpoint_pause,
        quiet_listening,
        due,
        sweep,
        rss_quiet,
    }
}
