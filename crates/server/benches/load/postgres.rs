//! The usual alternative, measured beside the gateway: a PostgreSQL
//! transactional outbox. Each transaction inserts the referral row and its
//! outbox row and commits with `synchronous_commit = on`, driven by `pgbench`
//! over loopback at the same concurrency as the gateway's clients.
//!
//! With `--postgres` the harness finds PostgreSQL's server binaries, installs
//! them from the distribution's packages if they are missing (as root), and
//! runs a throwaway cluster in the run's directory on a free port.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use mediation_store_postgres::cluster::Cluster;

use crate::stats::{Latencies, Run};

const SCHEMA: &str = "
CREATE TABLE referral (
    id bigserial PRIMARY KEY,
    court_referral_id text NOT NULL UNIQUE,
    partner text NOT NULL,
    status text NOT NULL DEFAULT 'awaiting_acceptance',
    bundle jsonb NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE outbox (
    id bigserial PRIMARY KEY,
    referral_id bigint NOT NULL REFERENCES referral (id),
    destination text NOT NULL,
    payload jsonb NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX outbox_waiting ON outbox (destination, id) WHERE delivered_at IS NULL;
";

/// One referral and its outbox row, in one transaction. (pgbench reads any
/// `:name`, even inside a string, as a variable: no colons in literals.)
const TRANSACTION: &str = "BEGIN;
INSERT INTO referral (court_referral_id, partner, bundle) VALUES (gen_random_uuid()::text, 'ccpit', :payload::jsonb) RETURNING id AS rid \\gset
INSERT INTO outbox (referral_id, destination, payload) VALUES (:rid::bigint, 'ccpit', :payload::jsonb);
COMMIT;
";

/// Runs `command` and returns what it printed; panics, with its output,
/// if it fails.
fn check(what: &str, command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed ({:?}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The baseline's cluster: the store crate's throwaway cluster, with the
/// baseline's schema in its `postgres` database.
#[derive(Debug)]
pub struct Postgres {
    cluster: Cluster,
}

impl Postgres {
    /// Finds (or installs) PostgreSQL and starts a cluster under `root`.
    pub fn start(root: &Path) -> Self {
        let cluster = Cluster::start(root).expect("a PostgreSQL cluster");
        cluster
            .psql("postgres", SCHEMA)
            .expect("the baseline's schema");
        Self { cluster }
    }

    pub fn version(&self) -> String {
        self.cluster.version().unwrap()
    }

    /// A new, empty database for a gateway, and its URL.
    pub fn database(&self, name: &str) -> String {
        self.cluster.create_database(name).unwrap()
    }

    /// Creates pg_stat_statements (the server must load it).
    pub fn enable_statements(&self) {
        self.cluster
            .psql(
                "postgres",
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements",
            )
            .expect("pg_stat_statements");
    }

    /// The `n` statements the server spent most time on, across databases:
    /// calls, total and mean milliseconds, and the statement's start.
    pub fn top_statements(&self, n: usize) -> String {
        self.cluster
            .psql(
                "postgres",
                &format!(
                    "SELECT calls, round(total_exec_time)::bigint AS total_ms, \
                       round(mean_exec_time::numeric, 3) AS mean_ms, \
                       left(regexp_replace(query, '\\s+', ' ', 'g'), 110) \
                     FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT {n}"
                ),
            )
            .unwrap_or_else(|e| format!("(pg_stat_statements unavailable: {e})\n"))
    }

    fn client(&self, program: &str) -> Command {
        self.cluster.client(program)
    }

    /// CPU seconds this cluster's processes (the server, its background
    /// workers and its connections, live or gone) have used so far, from
    /// /proc.
    pub fn cpu_seconds(&self) -> f64 {
        let Some(server) = self.cluster.server_pid() else {
            return f64::NAN;
        };
        crate::gateway::cpu_seconds_of(|_, pid, parent| pid == server || parent == server)
    }

    /// `clients` connections running the outbox transaction for `duration`
    /// with `payload` as the bundle, through pgbench.
    pub fn outbox_run(&self, clients: usize, duration: Duration, payload: &str) -> Run {
        let script = self.cluster.dir().join("outbox.sql");
        std::fs::write(&script, TRANSACTION).unwrap();
        let logs =
            std::env::temp_dir().join(format!("mg-pgbench-{}-{clients}", std::process::id()));
        let _ = std::fs::remove_dir_all(&logs);
        std::fs::create_dir_all(&logs).unwrap();
        let out = check(
            "pgbench",
            self.client("pgbench")
                .args(["-n", "-M", "prepared", "-c", &clients.to_string()])
                .args(["-j", &clients.min(2).to_string()])
                .args(["-T", &duration.as_secs().max(1).to_string()])
                .arg("-f")
                .arg(&script)
                .arg("-D")
                .arg(format!("payload={payload}"))
                .arg("-l")
                .arg(format!("--log-prefix={}", logs.join("tx").display())),
        );
        let tps: f64 = out
            .lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("no tps in pgbench's output:\n{out}"));
        let failed: u64 = out
            .lines()
            .find_map(|l| l.strip_prefix("number of failed transactions: "))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        let mut latencies = Latencies::default();
        for entry in std::fs::read_dir(&logs).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in text.lines() {
                // client_id transaction_no time_us script_no epoch epoch_us
                if let Some(us) = line.split_whitespace().nth(2).and_then(|t| t.parse().ok()) {
                    latencies.push_micros(us);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&logs);
        let ok = latencies.len() as u64;
        Run {
            ok,
            errors: failed,
            first_error: None,
            // pgbench's own rate excludes connection set-up; keep it.
            elapsed: Duration::from_secs_f64(ok as f64 / tps.max(1e-9)),
            latencies,
        }
    }
}
