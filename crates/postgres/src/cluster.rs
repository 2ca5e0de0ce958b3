//! A throwaway PostgreSQL cluster on loopback, for the tests and the load
//! harness: found among the distribution's server binaries (installed from
//! its packages when missing and running as root), initialised in a
//! directory of its own, started on a free port with `synchronous_commit`
//! and `fsync` on, and stopped and removed when dropped.
#![allow(clippy::print_stdout, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The user the cluster is initialised with, trusted on loopback.
pub const USER: &str = "gateway";

#[derive(Debug)]
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {message}")]
pub struct ClusterError {
    what: String,
    message: String,
}

fn failed(what: &str, message: impl std::fmt::Display) -> ClusterError {
    ClusterError {
        what: what.to_owned(),
        message: message.to_string(),
    }
}

/// The newest installed major version's server binaries.
pub fn server_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|bin| bin.join("pg_ctl").is_file() && bin.join("initdb").is_file())
        .collect();
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

fn run(what: &str, command: &mut Command) -> Result<String, ClusterError> {
    let output = command
        .output()
        .map_err(|e| failed(what, format!("cannot run {command:?}: {e}")))?;
    if !output.status.success() {
        return Err(failed(
            what,
            format!(
                "{:?}\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// PostgreSQL's server binaries, installed from the distribution's
/// packages when they are missing and this process may install them.
pub fn install() -> Result<PathBuf, ClusterError> {
    if let Some(bin) = server_bin() {
        return Ok(bin);
    }
    if !is_root() {
        return Err(failed(
            "PostgreSQL",
            "its server binaries are not installed (apt-get install postgresql)",
        ));
    }
    println!("PostgreSQL's server is not installed; installing it (apt-get install postgresql)");
    run(
        "apt-get update",
        Command::new("apt-get").args(["update", "-qq"]),
    )?;
    run(
        "apt-get install postgresql",
        Command::new("apt-get")
            .args([
                "install",
                "-y",
                "-qq",
                "--no-install-recommends",
                "postgresql",
            ])
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    server_bin().ok_or_else(|| failed("PostgreSQL", "no server binaries after installing it"))
}

fn free_port() -> Result<u16, ClusterError> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| failed("a free port", e))?;
    Ok(listener
        .local_addr()
        .map_err(|e| failed("a free port", e))?
        .port())
}

impl Cluster {
    /// Initialises and starts a cluster in a new directory under `root`.
    pub fn start(root: &Path) -> Result<Self, ClusterError> {
        let bin = install()?;
        let as_postgres = is_root();
        let dir = root.join(format!("postgres-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| failed("the cluster's directory", e))?;
        if as_postgres {
            // The server refuses to run as root; the cluster belongs to the
            // postgres user, who must be able to reach it.
            use std::os::unix::fs::PermissionsExt;
            for d in [root, dir.as_path()] {
                std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| failed("the cluster's directory", e))?;
            }
            run(
                "chown",
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(&dir),
            )?;
        }
        let mut cluster = Self {
            data: dir.join("data"),
            dir,
            bin,
            port: 0,
            as_postgres,
        };
        run(
            "initdb",
            cluster
                .server_command("initdb")
                .args(["-U", USER, "-A", "trust", "-E", "UTF8", "--locale=C", "-D"])
                .arg(&cluster.data),
        )?;
        // A port taken between choosing and binding is chosen again.
        let mut last = None;
        for _ in 0..5 {
            cluster.port = free_port()?;
            // MG_POSTGRES_OPTIONS adds server options, e.g. to load
            // pg_stat_statements for the harness's statement profile.
            let options = format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c synchronous_commit=on -c fsync=on \
                 -c max_connections=300 -c shared_buffers=256MB {}",
                cluster.port,
                cluster.dir.display(),
                std::env::var("MG_POSTGRES_OPTIONS").unwrap_or_default()
            );
            match run(
                "pg_ctl start",
                cluster
                    .server_command("pg_ctl")
                    .args(["-w", "-D"])
                    .arg(&cluster.data)
                    .arg("-l")
                    .arg(cluster.dir.join("server.log"))
                    .args(["-o", &options, "start"]),
            ) {
                Ok(_) => {
                    cluster.watch_this_process();
                    return Ok(cluster);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| failed("pg_ctl start", "no attempt")))
    }

    /// A cluster kept in a `static` (one per test binary) is never dropped:
    /// a small watcher stops and removes it once this process has gone, so
    /// no server outlives the tests that started it.
    fn watch_this_process(&self) {
        let stop = self.server_command("pg_ctl");
        let program = stop.get_program().to_string_lossy().into_owned();
        let args: Vec<String> = stop
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
             {program} {args} -m immediate -D '{data}' stop >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            args = args.join(" "),
            data = self.data.display(),
            dir = self.dir.display(),
        );
        let _ = Command::new("sh")
            .args(["-c", &script])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` in the cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{USER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates an empty database called `name`.
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        run(
            "createdb",
            self.client("psql")
                .args(["-v", "ON_ERROR_STOP=1", "-q", "-c"])
                .arg(format!("CREATE DATABASE \"{name}\"")),
        )?;
        Ok(self.url(name))
    }

    /// Runs SQL in database `name` through psql; returns what it printed
    /// (unaligned, tuples only).
    pub fn psql(&self, name: &str, sql: &str) -> Result<String, ClusterError> {
        run(
            "psql",
            self.client("psql")
                .args(["-v", "ON_ERROR_STOP=1", "-qtA", "-d", name, "-c", sql]),
        )
    }

    /// The server's version.
    pub fn version(&self) -> Result<String, ClusterError> {
        Ok(self
            .psql("postgres", "SHOW server_version")?
            .trim()
            .to_owned())
    }

    /// A server program, as the postgres user when running as root.
    pub fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        }
    }

    /// A client program connected to the cluster over loopback TCP (a later
    /// `-d` chooses the database).
    pub fn client(&self, program: &str) -> Command {
        let mut c = Command::new(self.bin.join(program));
        c.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            USER,
            "-d",
            "postgres",
        ]);
        c
    }

    /// The server's process id (the postmaster; its connections are its
    /// children), from the pid file it writes.
    pub fn server_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data.join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }

    /// The cluster's directory (its data, socket and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .server_command("pg_ctl")
            .args(["-m", "immediate", "-D"])
            .arg(&self.data)
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
