//! The usual alternative, measured beside the gateway: a PostgreSQL
//! transactional outbox. Each transaction inserts the referral row and its
//! outbox row and commits with `synchronous_commit = on`, driven by `pgbench`
//! over loopback at the same concurrency as the gateway's clients.
//!
//! With `--postgres` the harness finds PostgreSQL's server binaries, installs
//! them from the distribution's packages if they are missing (as root), and
//! runs a throwaway cluster in the run's directory on a free port.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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

#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("pgbench").is_file())
        .collect();
    // The newest major version.
    found.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    found.pop()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().next() == Some("0"))
        })
        .unwrap_or(false)
}

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

impl Postgres {
    /// Finds (or installs) PostgreSQL and starts a cluster under `root`.
    pub fn start(root: &Path, port: u16) -> Self {
        let bin = server_bin().unwrap_or_else(|| {
            println!(
                "PostgreSQL's server is not installed; installing it (apt-get install postgresql)"
            );
            check(
                "apt-get update",
                Command::new("apt-get").args(["update", "-qq"]),
            );
            check(
                "apt-get install postgresql",
                Command::new("apt-get")
                    .args(["install", "-y", "-qq", "postgresql"])
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            );
            server_bin().expect("PostgreSQL's binaries after installing it")
        });
        let as_postgres = is_root();
        let dir = root.join("postgres");
        std::fs::create_dir_all(&dir).unwrap();
        if as_postgres {
            // The server refuses to run as root; the cluster belongs to the
            // postgres user, who must be able to reach it.
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
            check(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
            );
        }
        let pg = Self {
            data: dir.join("data"),
            dir,
            bin,
            port,
            as_postgres,
        };
        check(
            "initdb",
            pg.server_command("initdb")
                .args([
                    "-U",
                    "bench",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "-D",
                ])
                .arg(&pg.data),
        );
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -k {} -c synchronous_commit=on -c fsync=on \
             -c max_connections=200 -c shared_buffers=512MB",
            pg.dir.display()
        );
        check(
            "pg_ctl start",
            pg.server_command("pg_ctl")
                .args(["-w", "-D"])
                .arg(&pg.data)
                .arg("-l")
                .arg(pg.dir.join("server.log"))
                .args(["-o", &options, "start"]),
        );
        check(
            "the schema",
            pg.client("psql")
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", SCHEMA]),
        );
        pg
    }

    pub fn version(&self) -> String {
        check(
            "version",
            self.client("psql").args(["-tAc", "SHOW server_version"]),
        )
        .trim()
        .to_owned()
    }

    /// A server program, as the postgres user when we are root.
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A client program connected to the cluster over loopback TCP.
    fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "bench",
            "-d",
            "postgres",
        ]);
        c
    }

    /// `clients` connections running the outbox transaction for `duration`
    /// with `payload` as the bundle, through pgbench.
    pub fn outbox_run(&self, clients: usize, duration: Duration, payload: &str) -> Run {
        let script = self.dir.join("outbox.sql");
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

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = self
            .server_command("pg_ctl")
            .args(["-m", "fast", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
