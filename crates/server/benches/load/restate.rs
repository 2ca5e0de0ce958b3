//! What a team would pick instead of writing a gateway, measured beside it:
//! the same flow on Restate. A referral is received durably (Restate's
//! ingress answers the court once the invocation is in Restate's log),
//! offered to its platform at least once (a journaled step of the handler)
//! and its receipt recorded (the handler's state). The handler is the peer
//! project in `benches/restate-peer`, a virtual object per referral.
//!
//! With `--restate` the harness
//!
//! - installs `restate-server` [`SERVER`] from the npm registry into
//!   `target/ci-tools/restate` unless that version is there, with
//!   `--ignore-scripts`: a dependency's install script reports installs to
//!   an analytics service, and the harness sends nothing off the machine;
//! - builds the peer, a cargo project of its own outside the workspace, so
//!   that the Restate SDK is built only here (into `target/restate-peer`);
//! - runs one node with every role, its data under the run's directory, on
//!   loopback ports, with the settings of [`config`] written out and read
//!   back from the server's `--dump-config` (the server ignores a key it does
//!   not know, so only its own dump shows what is in force);
//! - serves the platform the peer offers to, counting each referral by the
//!   court's id as the simulated platforms do, starts the peer, registers it
//!   through the admin API and sends one referral through before measuring.
//!
//! Durability: a single node's log is the replicated loglet on the node's own
//! log-server (`bifrost.default-provider = "replicated"`, replication 1),
//! which writes its RocksDB WAL and fsyncs it before it acknowledges a batch
//! (`log-server.rocksdb-disable-wal = false`,
//! `log-server.rocksdb-disable-wal-fsync = false`). The invocation, the
//! step's result and the state change are each in that log before what
//! depends on them goes on; the partition store writes without a WAL of its
//! own, since it is rebuilt from the log.
//!
//! The courts call the ingress over plain HTTP/1.1 (it has no mutual TLS),
//! each on its own connection, and the offers go out as plain HTTP: neither
//! hop pays for TLS, so the figure is an upper bound for the design, as
//! PostgreSQL's is.
//!
//! At start the server asks once whether a newer release exists; 1.7 has no
//! setting that turns this off. On a machine without outside access the
//! question fails at the name lookup and the server carries on.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use mediation_gateway::sim::{Inbox, listen, spawn_http};
use reqwest::header::CONTENT_TYPE;
use tokio::task::JoinSet;

use crate::bundles::Templates;
use crate::gateway::{free_port, repo};
use crate::stats::Run;

/// The server release the harness installs: the newest on the npm registry
/// when the peer was written, and a series the peer's SDK speaks to.
pub const SERVER: &str = "1.7.12";
/// Where the server is installed, under the repository.
const INSTALL: &str = "target/ci-tools/restate";
/// The peer's project, and where it is built, under the repository.
const PEER: &str = "crates/server/benches/restate-peer";
const PEER_TARGET: &str = "target/restate-peer";
/// Where the peer finds the platform.
const PEER_PLATFORM: &str = "RESTATE_PEER_PLATFORM";

/// The durability settings as the server's dump must show them. A `false`
/// that the server skips when it writes the dump is absent from it, so an
/// absent entry reads as `false`.
const DURABILITY: [(&str, &str); 3] = [
    ("bifrost.default-provider", "\"replicated\""),
    ("log-server.rocksdb-disable-wal", "false"),
    ("log-server.rocksdb-disable-wal-fsync", "false"),
];
/// Defaults the harness leaves alone, printed for the record.
const DEFAULTS: [&str; 3] = [
    "default-replication",
    "default-num-partitions",
    "rocksdb-total-memory-size",
];

/// The node's configuration: loopback ports of the harness's choosing, its
/// data in `data`, and the durability settings above.
fn config(data: &Path, fabric: u16, admin: u16, ingress: u16) -> String {
    format!(
        r#"# Written by the load harness for one run (benches/load/restate.rs).
node-name = "load"
base-dir = "{data}"
listen-mode = "tcp"
bind-address = "127.0.0.1:{fabric}"
advertised-address = "http://127.0.0.1:{fabric}/"
disable-telemetry = true
log-filter = "warn"

[admin]
bind-address = "127.0.0.1:{admin}"

[ingress]
bind-address = "127.0.0.1:{ingress}"

# The log: the replicated loglet on this node's log-server, whose RocksDB
# WAL is written and fsynced before a batch is acknowledged.
[bifrost]
default-provider = "replicated"

[log-server]
rocksdb-disable-wal = false
rocksdb-disable-wal-fsync = false
"#,
        data = data.display()
    )
}

/// A child process, killed when dropped.
#[derive(Debug)]
struct Running(Child);

impl Running {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The node, the peer and the platform, running.
#[derive(Debug)]
pub struct Restate {
    server: Running,
    peer: Running,
    ingress: SocketAddr,
    /// What the platform received.
    offers: Inbox<String>,
    bodies: Arc<Bodies>,
    /// Referrals the ingress accepted so far.
    submitted: AtomicU64,
}

impl Restate {
    /// Installs the server and builds the peer if need be, starts both under
    /// `root` and sends a first referral through; `None`, with the reason
    /// printed, if any of it fails, so that the rest of the run goes on.
    pub async fn start(root: &Path, templates: &Templates) -> Option<Self> {
        match Self::try_start(root, templates).await {
            Ok(restate) => Some(restate),
            Err(why) => {
                println!("Restate left out: {why}");
                None
            }
        }
    }

    async fn try_start(root: &Path, templates: &Templates) -> Result<Self, String> {
        let checkout = repo();
        let lock = checkout.join(PEER).join("Cargo.lock");
        // Minutes the first time: off the runtime's threads, which serve the
        // simulated platforms meanwhile.
        let (server_bin, peer_bin) = tokio::task::spawn_blocking(move || {
            Ok::<_, String>((install_server(&checkout)?, build_peer(&checkout)?))
        })
        .await
        .map_err(|e| format!("installing and building: {e}"))??;
        let sdk = sdk_version(&lock);

        let dir = root.join("restate");
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let (fabric, admin, ingress) = (free_port(), free_port(), free_port());
        let path = dir.join("restate.toml");
        std::fs::write(&path, config(&dir.join("data"), fabric, admin, ingress))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let settings = durability(&output_of(
            Command::new(&server_bin)
                .arg("--config-file")
                .arg(&path)
                .arg("--dump-config"),
        )?)?;

        let log = dir.join("server.log");
        let out = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let server = Running(
            Command::new(&server_bin)
                .arg("--config-file")
                .arg(path)
                .arg("--no-logo")
                .stdout(out)
                .stderr(err)
                .spawn()
                .map_err(|e| format!("{}: {e}", server_bin.display()))?,
        );
        let (admin, ingress) = (loopback(admin), loopback(ingress));
        let http = client();
        let patience = Duration::from_secs(60);
        ready(&http, &format!("http://{admin}/health"), patience, &log).await?;
        ready(
            &http,
            &format!("http://{ingress}/restate/health"),
            patience,
            &log,
        )
        .await?;

        let offers = Inbox::counting(String::clone);
        let (listener, platform) = listen().await.map_err(|e| e.to_string())?;
        spawn_http(
            listener,
            axum::Router::new()
                .route("/offers/{domain}/{id}", axum::routing::post(take_offer))
                .with_state(offers.clone()),
        );
        let (peer, at) = spawn_peer(&peer_bin, platform, &dir)?;
        register(&http, admin, at, patience).await?;

        let restate = Self {
            server,
            peer,
            ingress,
            offers,
            bodies: Arc::new(Bodies::new(templates)),
            submitted: AtomicU64::new(0),
        };
        restate.warm_up(patience).await?;
        let version = version_of(&server_bin).unwrap_or_default();
        println!("Restate {version} (restate-sdk {sdk}) on loopback: {settings}");
        Ok(restate)
    }

    /// One referral through the whole flow: the ingress knows the service
    /// shortly after the admin API has answered, not at once. The count
    /// starts from nothing afterwards.
    async fn warm_up(&self, patience: Duration) -> Result<(), String> {
        let http = client();
        let start = Instant::now();
        loop {
            let answer = submit(&http, self.ingress, &self.bodies, 0, "RESTATE-WARM-UP")
                .send()
                .await;
            if answer.as_ref().is_ok_and(|a| a.status().is_success()) {
                break;
            }
            if start.elapsed() > patience {
                return Err(format!("the first referral: {}", answer_text(answer).await));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        while self.offers.distinct() == 0 {
            if start.elapsed() > patience {
                return Err("the first offer never reached the platform; see the logs".into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.offers.clear();
        Ok(())
    }

    /// `clients` courts, each on its own connection, each submitting a
    /// referral, waiting for the answer and submitting the next until
    /// `duration` is up; only 2xx answers count.
    pub async fn outbox_run(&self, clients: usize, duration: Duration, tag: &str) -> Run {
        // Connections are open before the clock starts, as the court
        // clients' are for the others.
        let mut https = Vec::with_capacity(clients);
        for _ in 0..clients {
            let http = client();
            let health = format!("http://{}/restate/health", self.ingress);
            if let Ok(answer) = http.get(health).send().await {
                let _ = answer.bytes().await;
            }
            https.push(http);
        }
        let start = Instant::now();
        let deadline = start + duration;
        let mut tasks = JoinSet::new();
        for (c, http) in https.into_iter().enumerate() {
            let bodies = Arc::clone(&self.bodies);
            let ingress = self.ingress;
            let tag = tag.to_owned();
            tasks.spawn(async move {
                let mut run = Run::default();
                let mut n = c as u64;
                while Instant::now() < deadline {
                    let id = format!("{tag}-{c}-{n}");
                    let sent = Instant::now();
                    match submit(&http, ingress, &bodies, n, &id).send().await {
                        Ok(answer) if answer.status().is_success() => {
                            // Read to the end, so the connection serves the
                            // next call.
                            let _ = answer.bytes().await;
                            run.ok += 1;
                            run.latencies.push(sent.elapsed());
                        }
                        other => {
                            run.errors += 1;
                            if run.first_error.is_none() {
                                run.first_error = Some(answer_text(other).await);
                            }
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
        self.submitted.fetch_add(total.ok, Ordering::SeqCst);
        total
    }

    /// Waits until the platform has every referral the ingress accepted;
    /// how long that took.
    pub async fn caught_up(&self, patience: Duration) -> Duration {
        let expected = self.submitted.load(Ordering::SeqCst);
        let start = Instant::now();
        while (self.offers.distinct() as u64) < expected {
            if start.elapsed() > patience {
                println!(
                    "  Restate did not catch up within {patience:?}: {} of {expected} offered",
                    self.offers.distinct()
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        start.elapsed()
    }

    /// Distinct referrals the platform received, and its deliveries,
    /// repeats included.
    pub fn offers(&self) -> (usize, u64) {
        (self.offers.distinct(), self.offers.taken())
    }
}

impl Drop for Restate {
    fn drop(&mut self) {
        // The peer first: the node would keep retrying calls to a peer gone.
        self.peer.stop();
        self.server.stop();
    }
}

/// The referrals as a court posts them: the harness's bundles in JSON, each
/// cut where the court's id goes, so that a call costs its client one
/// concatenation, as a request costs the gateway's clients one clone.
#[derive(Debug)]
struct Bodies(Vec<(String, String)>);

/// Stands for the court's id in the cut bundles.
const MARK: &str = "RESTATE-PEER-MARK";

impl Bodies {
    fn new(templates: &Templates) -> Self {
        Self(
            (0..templates.variants() as u64)
                .map(|n| {
                    let json = serde_json::to_string(&templates.domain(n, MARK)).unwrap();
                    let (before, after) = json.split_once(MARK).unwrap();
                    (before.to_owned(), after.to_owned())
                })
                .collect(),
        )
    }

    fn body(&self, n: u64, id: &str) -> String {
        let (before, after) = &self.0[n as usize % self.0.len()];
        format!("{before}{id}{after}")
    }
}

/// Referral `n` as `id`, as a court submits it: to the object keyed by the
/// court's id, with that id as the idempotency key, answered once the
/// invocation is in the log (`/send`) rather than once it has run.
fn submit(
    http: &reqwest::Client,
    ingress: SocketAddr,
    bodies: &Bodies,
    n: u64,
    id: &str,
) -> reqwest::RequestBuilder {
    http.post(format!("http://{ingress}/Referrals/{id}/submit/send"))
        .header(CONTENT_TYPE, "application/json")
        .header("idempotency-key", id)
        .body(bodies.body(n, id))
}

/// The platform: takes every offer, counted by the court's id, and answers
/// with a receipt.
async fn take_offer(
    State(offers): State<Inbox<String>>,
    UrlPath((_domain, id)): UrlPath<(String, String)>,
    _offer: axum::body::Bytes,
) -> Result<String, StatusCode> {
    let receipt = format!("received {id}");
    offers
        .take(id)
        .map(|()| receipt)
        .map_err(|_| StatusCode::SERVICE_UNAVAILABLE)
}

/// An HTTP client of its own: its own connection, and no proxy from the
/// environment between it and loopback.
fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A short account of an answer that was not a success.
async fn answer_text(answer: reqwest::Result<reqwest::Response>) -> String {
    match answer {
        Ok(answer) => {
            let status = answer.status();
            let body = answer.text().await.unwrap_or_default();
            format!(
                "HTTP {status}: {}",
                body.trim().chars().take(200).collect::<String>()
            )
        }
        Err(e) => e.to_string(),
    }
}

/// Polls `url` until it answers 2xx.
async fn ready(
    http: &reqwest::Client,
    url: &str,
    patience: Duration,
    log: &Path,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let answer = http.get(url).send().await;
        if answer.as_ref().is_ok_and(|a| a.status().is_success()) {
            return Ok(());
        }
        if start.elapsed() > patience {
            return Err(format!(
                "{url} not ready within {patience:?} ({}; see {})",
                answer_text(answer).await,
                log.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Registers the peer with the node's admin API.
async fn register(
    http: &reqwest::Client,
    admin: SocketAddr,
    peer: SocketAddr,
    patience: Duration,
) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let answer = http
            .post(format!("http://{admin}/deployments"))
            .json(&serde_json::json!({ "uri": format!("http://{peer}") }))
            .send()
            .await;
        if answer.as_ref().is_ok_and(|a| a.status().is_success()) {
            return Ok(());
        }
        if start.elapsed() > patience {
            return Err(format!(
                "registering the peer: {}",
                answer_text(answer).await
            ));
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Starts the peer, offering to `platform`; it and the address it announces.
fn spawn_peer(
    bin: &Path,
    platform: SocketAddr,
    dir: &Path,
) -> Result<(Running, SocketAddr), String> {
    let log = dir.join("peer.log");
    let err = File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let mut child = Command::new(bin)
        .env(PEER_PLATFORM, format!("http://{platform}"))
        .stdout(Stdio::piped())
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let stdout = child.stdout.take().unwrap();
    let peer = Running(child);
    let first = crate::gateway::first_line(stdout, Duration::from_secs(30))
        .ok_or_else(|| format!("the peer did not start; see {}", log.display()))?;
    let at = first
        .strip_prefix("restate peer listening on ")
        .and_then(|rest| rest.trim().parse().ok())
        .ok_or_else(|| format!("the peer's first line: {first:?}"))?;
    Ok((peer, at))
}

/// Runs `command`; what it printed, or why it failed.
fn output_of(command: &mut Command) -> Result<String, String> {
    let output = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// The durability settings as the server has them, from its own dump of its
/// configuration, with the defaults worth recording; an error if one of them
/// is not as [`DURABILITY`] wants it.
fn durability(dump: &str) -> Result<String, String> {
    let table: toml::Table = dump
        .parse()
        .map_err(|e| format!("the server's configuration dump: {e}"))?;
    let lookup = |path: &str| {
        let mut parts = path.split('.');
        let mut value = table.get(parts.next()?)?;
        for part in parts {
            value = value.get(part)?;
        }
        Some(value.to_string())
    };
    let mut shown = Vec::new();
    for (key, wanted) in DURABILITY {
        let effective = lookup(key).unwrap_or_else(|| "false".to_owned());
        if effective != wanted {
            return Err(format!("the server has {key} = {effective}, not {wanted}"));
        }
        shown.push(format!("{key} = {effective}"));
    }
    for key in DEFAULTS {
        let value = lookup(key).unwrap_or_else(|| "(unset)".to_owned());
        shown.push(format!("{key} = {value}"));
    }
    Ok(shown.join(", "))
}

/// `restate-server --version` says `restate-server 1.7.12`.
fn version_of(bin: &Path) -> Option<String> {
    let output = Command::new(bin).arg("--version").output().ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .nth(1)
        .map(str::to_owned)
}

/// The server binary of [`SERVER`], installed from the npm registry unless
/// it is there already. The package ships one binary per platform as an
/// optional dependency; the harness runs that binary itself rather than the
/// package's Node.js launcher, so that killing it stops the server.
fn install_server(repo: &Path) -> Result<PathBuf, String> {
    let os = match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    };
    let arch = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => other,
    };
    let dir = repo.join(INSTALL);
    let bin = dir.join(format!(
        "node_modules/@restatedev/restate-server-{os}-{arch}/bin/restate-server"
    ));
    if version_of(&bin).as_deref() == Some(SERVER) {
        return Ok(bin);
    }
    println!("installing restate-server {SERVER} into {}", dir.display());
    let status = Command::new("npm")
        .args([
            "install",
            "--silent",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
        ])
        .arg("--prefix")
        .arg(dir)
        .arg(format!("@restatedev/restate-server@{SERVER}"))
        .status()
        .map_err(|e| format!("npm installs restate-server, and it cannot run: {e}"))?;
    if !status.success() {
        return Err(format!(
            "npm install of restate-server {SERVER} failed ({status})"
        ));
    }
    match version_of(&bin) {
        Some(version) if version == SERVER => Ok(bin),
        other => Err(format!(
            "{} is not restate-server {SERVER} ({other:?})",
            bin.display()
        )),
    }
}

/// Builds the peer (a no-op when it is up to date) with the cargo that runs
/// the harness; its binary.
fn build_peer(repo: &Path) -> Result<PathBuf, String> {
    let target = repo.join(PEER_TARGET);
    println!(
        "building the Restate peer ({PEER}) into {}",
        target.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(repo.join(PEER).join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the peer failed ({status})"));
    }
    Ok(target.join("release/restate-peer"))
}

/// The SDK version the peer was built with, from its lock file.
fn sdk_version(lock: &Path) -> String {
    std::fs::read_to_string(lock)
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|lock| {
            let packages = lock.get("package")?.as_array()?;
            let sdk = packages
                .iter()
                .find(|p| p.get("name").and_then(toml::Value::as_str) == Some("restate-sdk"))?;
            sdk.get("version")?.as_str().map(str::to_owned)
        })
        .unwrap_or_else(|| "of unknown version".to_owned())
}
