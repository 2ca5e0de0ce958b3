//! `--backend postgres`: the gateway on PostgreSQL, through one replica and
//! through three on one database, beside the PostgreSQL outbox baseline on
//! the same cluster, each round measuring the three side by side, with the
//! CPU seconds each side used (the machine's two cores are shared by the
//! clients, the gateways and the database).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::bundles::Templates;
use crate::gateway::{Process, Setup};
use crate::platforms::Platforms;
use crate::postgres::Postgres;
use crate::stats::{Run, median};
use crate::{Plan, caught_up, closed_loop};

/// Writes `name`'s configuration on `url`, its documents in `data_dir`.
fn config(
    setup: &Setup,
    name: &str,
    data_dir: &Path,
    platforms: &Platforms,
    url: &str,
) -> crate::gateway::Config {
    let config = setup.config(name, data_dir, platforms);
    std::fs::write(
        setup.root.join(name).join("gateway.d/10-postgres.toml"),
        format!(
            "[store]\nbackend = \"postgres\"\n[store.postgres]\nurl = \"{url}\"\npool_size = 24\nreplica = \"{name}\"\n"
        ),
    )
    .unwrap();
    config
}

/// What one measurement used: the run, and the CPU seconds of the gateways
/// and of the database while it ran.
struct Measured {
    run: Run,
    gateway_cpu: f64,
    database_cpu: f64,
}

fn gateways_cpu(processes: &[&Process]) -> f64 {
    processes.iter().map(|p| p.cpu_seconds()).sum()
}

pub async fn run(
    setup: &Setup,
    root: &Path,
    platforms: &Platforms,
    templates: &Arc<Templates>,
    plan: &Plan,
) {
    // With MG_POSTGRES_OPTIONS loading pg_stat_statements, the run ends with
    // the statements the database spent its time on.
    let profile =
        std::env::var("MG_POSTGRES_OPTIONS").is_ok_and(|o| o.contains("pg_stat_statements"));
    let pg = Postgres::start(root);
    println!("PostgreSQL {} on loopback", pg.version());
    if profile {
        pg.enable_statements();
    }
    let one_url = pg.database("gateway_one");
    let three_url = pg.database("gateway_three");
    let one = Process::spawn(
        &config(
            setup,
            "pg-one",
            &root.join("pg-one-data"),
            platforms,
            &one_url,
        ),
        Duration::from_secs(60),
    );
    // The three share one data directory (the case files), as replicas
    // share a volume.
    let shared = root.join("pg-three-data");
    let three: Vec<Process> = (0..3)
        .map(|i| {
            Process::spawn(
                &config(
                    setup,
                    &format!("pg-three-{i}"),
                    &shared,
                    platforms,
                    &three_url,
                ),
                Duration::from_secs(60),
            )
        })
        .collect();
    let payload = serde_json::to_string(&templates.domain(24, "PG-PAYLOAD")).unwrap();
    let database_cpu = || pg.cpu_seconds();
    let mut results: BTreeMap<(&str, usize), Vec<Measured>> = BTreeMap::new();
    let mut submitted = 0u64;
    for round in 0..plan.rounds {
        for &clients in &plan.levels {
            // One replica.
            let (g0, d0) = (gateways_cpu(&[&one]), database_cpu());
            let mut court = Vec::with_capacity(clients);
            for _ in 0..clients {
                court.push(setup.court(one.addr).await);
            }
            let run = closed_loop(
                court,
                plan.seconds,
                templates,
                &format!("P1R{round}C{clients}"),
            )
            .await;
            let mut measured = Measured {
                gateway_cpu: gateways_cpu(&[&one]) - g0,
                database_cpu: database_cpu() - d0,
                run,
            };
            submitted += measured.run.ok;
            let lag = caught_up(platforms, submitted, Duration::from_secs(300)).await;
            report(round, "1 replica ", clients, &mut measured, Some(lag));
            results.entry(("one", clients)).or_default().push(measured);

            // Three replicas, the clients spread over them.
            let all: Vec<&Process> = three.iter().collect();
            let (g0, d0) = (gateways_cpu(&all), database_cpu());
            let mut court = Vec::with_capacity(clients);
            for c in 0..clients {
                court.push(setup.court(three[c % 3].addr).await);
            }
            let run = closed_loop(
                court,
                plan.seconds,
                templates,
                &format!("P3R{round}C{clients}"),
            )
            .await;
            let mut measured = Measured {
                gateway_cpu: gateways_cpu(&all) - g0,
                database_cpu: database_cpu() - d0,
                run,
            };
            submitted += measured.run.ok;
            let lag = caught_up(platforms, submitted, Duration::from_secs(300)).await;
            report(round, "3 replicas", clients, &mut measured, Some(lag));
            results
                .entry(("three", clients))
                .or_default()
                .push(measured);

            // The baseline on the same cluster.
            let d0 = database_cpu();
            let run = pg.outbox_run(clients, plan.seconds, &payload);
            let mut measured = Measured {
                gateway_cpu: 0.0,
                database_cpu: database_cpu() - d0,
                run,
            };
            report(round, "outbox    ", clients, &mut measured, None);
            results
                .entry(("outbox", clients))
                .or_default()
                .push(measured);
        }
    }
    if profile {
        println!();
        println!("statements by total time in the database (pg_stat_statements):");
        print!("{}", pg.top_statements(15));
    }
    let (rss_one, peak_one) = one.memory_mib();
    println!();
    println!(
        "summary (medians of {} round(s); ratios from this run; {} s per measurement)",
        plan.rounds,
        plan.seconds.as_secs()
    );
    for &clients in &plan.levels {
        let rate = |system: &str| {
            median(
                results[&(system, clients)]
                    .iter()
                    .map(|m| m.run.rate())
                    .collect(),
            )
        };
        let (one_rate, three_rate, outbox) = (rate("one"), rate("three"), rate("outbox"));
        println!(
            "ingest {clients:>3} clients: 1 replica {one_rate:>6.0} /s = {:.2}× the PostgreSQL outbox ({outbox:.0} /s); 3 replicas {three_rate:>6.0} /s = {:.2}× 1 replica",
            one_rate / outbox,
            three_rate / one_rate
        );
        for system in ["one", "three", "outbox"] {
            let runs = results.get_mut(&(system, clients)).unwrap();
            runs.sort_by(|a, b| a.run.rate().total_cmp(&b.run.rate()));
            let half = runs.len() / 2;
            let middle = &mut runs[half];
            let seconds = middle.run.elapsed.as_secs_f64();
            println!(
                "    {system:<6} {}; CPU: gateways {:.0}%, database {:.0}% of one core",
                middle.run.latencies.summary(),
                100.0 * middle.gateway_cpu / seconds,
                100.0 * middle.database_cpu / seconds
            );
        }
    }
    println!("1 replica resident memory: {rss_one:.0} MiB now, {peak_one:.0} MiB at peak");
    drop(three);
    one.stop();
}

fn report(round: usize, what: &str, clients: usize, m: &mut Measured, lag: Option<Duration>) {
    let seconds = m.run.elapsed.as_secs_f64().max(1e-9);
    println!(
        "round {round} {what} {clients:>3} clients: {}; CPU gateways {:.0}%, database {:.0}%{}",
        m.run.line(),
        100.0 * m.gateway_cpu / seconds,
        100.0 * m.database_cpu / seconds,
        lag.map(|l| format!(" (outbox caught up {:.1} s after)", l.as_secs_f64()))
            .unwrap_or_default()
    );
}
