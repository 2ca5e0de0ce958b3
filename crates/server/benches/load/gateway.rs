//! The real gateway as a separate process: its PKI, tenants and roster, a
//! production-profile configuration, the process itself, and clients that
//! present a tenant's certificate and token as partners and courts do.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::Timestamp;
use jsonwebtoken::Algorithm;
use mediation_core::partner::Partner;
use mediation_gateway::commands::Bearer;
use mediation_gateway::sim::{CourtAt, OnBreach, SimConfig, SimTenant, TlsFiles, tenants_file};
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use mediation_security::pki::DevelopmentPki;
use mediation_security::tokens::{Claims, sign};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::platforms::Platforms;

/// Every tenant of the load: one court system, the three platforms, operators.
fn tenants() -> Vec<SimTenant> {
    vec![
        SimTenant::court_system("court-bj", "京"),
        // The noisy neighbour, held to a tenant's ordinary rate.
        SimTenant::court_system("court-sh", "沪").with_rate(200),
        SimTenant::platform("ccpit", Partner::Ccpit),
        SimTenant::platform("labour", Partner::LabourArbitration),
        SimTenant::platform("traffic", Partner::RoadTraffic),
        SimTenant::operator("operators"),
    ]
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn issuer(tenant: &str) -> String {
    format!("https://{tenant}.load.invalid/")
}

/// The files every gateway of the run shares.
#[derive(Debug, Clone)]
pub struct Setup {
    pub root: PathBuf,
    pub pki: PathBuf,
    tenants: PathBuf,
    pub roster: PathBuf,
}

impl Setup {
    pub fn new(root: &Path) -> Self {
        mediation_security::install_crypto_provider();
        let pki = DevelopmentPki::new(root.join("pki"));
        let ids: Vec<String> = tenants().iter().map(|t| t.id.to_owned()).collect();
        pki.generate(&ids, Timestamp::now()).unwrap();
        let tenants_path = root.join("tenants.toml");
        let body = tenants_file(&tenants(), issuer, |id| pki.jwks(id));
        std::fs::write(&tenants_path, body).unwrap();
        // The shipped roster, with room for a million open referrals: the
        // load measures the gateway, not the organisations' capacity.
        let shipped = std::fs::read_to_string(repo().join("config/roster.toml")).unwrap();
        let roster_text: String = shipped
            .lines()
            .map(|l| {
                if l.starts_with("capacity = ") {
                    "capacity = 100000000".to_owned()
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let roster = root.join("roster.toml");
        std::fs::write(&roster, roster_text).unwrap();
        Self {
            root: root.to_owned(),
            pki: pki.dir,
            tenants: tenants_path,
            roster,
        }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.pki.join(name)
    }

    /// A production-profile configuration: mutual TLS with these
    /// certificates, the shipped calendar, courts and platforms at
    /// `platforms`, and rate limits out of the way.
    pub fn config(&self, name: &str, data_dir: &Path, platforms: &Platforms) -> Config {
        let metrics = free_port();
        let https = |addr: SocketAddr| format!("https://{addr}");
        let path = SimConfig::shipped()
            .profile("production")
            .listen("127.0.0.1:0")
            .data_dir(data_dir)
            .calendar_dir(&repo().join("config/calendar"))
            .roster(&self.roster)
            .court_registry(&repo().join("config/courts.toml"))
            .tenants(&self.tenants)
            .courts(&[("京", CourtAt::Grpc(https(platforms.court)))])
            .partner(Partner::Ccpit, &https(platforms.ccpit), Some("ccpit"))
            .partner(
                Partner::LabourArbitration,
                &https(platforms.labour),
                Some("labour"),
            )
            .partner(
                Partner::RoadTraffic,
                &https(platforms.traffic),
                Some("traffic"),
            )
            .on_breach(Partner::Ccpit, OnBreach::Reroute)
            .on_breach(Partner::LabourArbitration, OnBreach::ReturnToCourt)
            .on_breach(Partner::RoadTraffic, OnBreach::Reroute)
            .mutual_tls(&TlsFiles {
                certificate: self.file("gateway.pem"),
                private_key: self.file("gateway.key.pem"),
                ca: self.file("ca.pem"),
            })
            .set("limits.rate_per_second", 1_000_000)
            .set("limits.rate_burst", 1_000_000)
            .set("metrics.listen", format!("127.0.0.1:{metrics}"))
            .set("alerts.instance", format!("load-{name}"))
            .set("log.level", "info")
            .write(&self.root.join(name))
            .unwrap();
        Config {
            path,
            data_dir: data_dir.to_owned(),
            metrics: SocketAddr::from(([127, 0, 0, 1], metrics)),
        }
    }

    /// A token for `tenant`, valid for a day.
    pub fn token(&self, tenant: &str) -> String {
        let key = std::fs::read(self.file(&format!("{tenant}.token.key.pem"))).unwrap();
        let now = Timestamp::now().as_second();
        let claims = Claims {
            iss: issuer(tenant),
            sub: format!("{tenant}-load"),
            aud: "mediation-gateway".into(),
            exp: now + 86_400,
            nbf: Some(now - 60),
            iat: Some(now),
        };
        sign(
            &claims,
            &DevelopmentPki::kid(tenant),
            Algorithm::ES256,
            &key,
        )
        .unwrap()
    }

    pub fn identity(&self, who: &str) -> Identity {
        Identity::from_pem(
            std::fs::read(self.file(&format!("{who}.pem"))).unwrap(),
            std::fs::read(self.file(&format!("{who}.key.pem"))).unwrap(),
        )
    }

    pub fn ca(&self) -> Certificate {
        Certificate::from_pem(std::fs::read(self.file("ca.pem")).unwrap())
    }

    /// A new connection to `addr` as `who`, carrying its token.
    pub async fn connect(&self, addr: SocketAddr, who: &str) -> Authed {
        let tls = ClientTlsConfig::new()
            .ca_certificate(self.ca())
            .identity(self.identity(who));
        let channel = Endpoint::from_shared(format!("https://{addr}"))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        InterceptedService::new(channel, Bearer::token(&self.token(who)).unwrap())
    }

    pub async fn court(&self, addr: SocketAddr) -> CourtGatewayClient<Authed> {
        CourtGatewayClient::new(self.connect(addr, "court-bj").await)
            .max_decoding_message_size(16 << 20)
    }

    /// Messages waiting in the outbox, over all destinations, as operators see
    /// them.
    pub async fn pending(&self, addr: SocketAddr) -> u64 {
        let mut client = OperationsClient::new(self.connect(addr, "operators").await);
        let backlog = client
            .get_outbox_backlog(ops::GetOutboxBacklogRequest {})
            .await
            .unwrap()
            .into_inner();
        backlog.destinations.iter().map(|d| d.pending).sum()
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub data_dir: PathBuf,
    pub metrics: SocketAddr,
}

pub type Authed = InterceptedService<Channel, Bearer>;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The gateway binary, running.
#[derive(Debug)]
pub struct Process {
    child: Child,
    pub addr: SocketAddr,
    pub metrics: SocketAddr,
    /// From spawning the process to its listening line.
    pub started_in: Duration,
}

impl Process {
    /// Starts `mediation-gateway serve` on `config` and waits (up to
    /// `patience`) for it to listen. Its log goes to `<data_dir>.log`.
    pub fn spawn(config: &Config, patience: Duration) -> Self {
        let log = std::fs::File::create(config.data_dir.with_extension("log")).unwrap();
        let started = Instant::now();
        let mut child = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
            .args(["serve", "--config"])
            .arg(&config.path)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let first = first_line(stdout, patience).unwrap_or_else(|| {
            panic!(
                "the gateway did not start within {patience:?}; see {}",
                config.data_dir.with_extension("log").display()
            )
        });
        let started_in = started.elapsed();
        let addr = first
            .strip_prefix("mediation gateway listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            metrics: config.metrics,
            started_in,
        }
    }

    /// Resident memory now and at its peak, in MiB, from /proc.
    pub fn memory_mib(&self) -> (f64, f64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kib| kib.parse::<f64>().ok())
                .map_or(f64::NAN, |kib| kib / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU seconds the process has used so far, from /proc.
    pub fn cpu_seconds(&self) -> f64 {
        let pid = self.child.id();
        cpu_seconds_of(|_, p, _| p == pid)
    }

    /// The Prometheus text of its metrics endpoint.
    pub async fn metrics_text(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.metrics))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The sum of a metric's samples whose line starts with `prefix`.
    pub async fn metric(&self, prefix: &str) -> f64 {
        self.metrics_text()
            .await
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// SIGTERM, then wait for the graceful stop.
    pub fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// CPU seconds (user and system) used so far by the processes for which
/// `which(command name, pid, parent pid)` holds, and by their children that
/// have exited (a database server's connections come and go), summed, from
/// /proc.
pub fn cpu_seconds_of(which: impl Fn(&str, u32, u32) -> bool) -> f64 {
    // The kernel's clock ticks per second: 100 on every Linux this runs on.
    const TICKS: f64 = 100.0;
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ... utime stime ...": fields 14 and 15,
        // counted after the command name, which may hold spaces.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let parent = fields.get(1).and_then(|f| f.parse().ok()).unwrap_or(0);
        if !which(&stat[open + 1..close], pid, parent) {
            continue;
        }
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime, stime, and the waited-for children's cutime, cstime.
        total += (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / TICKS;
    }
    total
}

/// The first line a child prints on `stdout` (where it says it listens),
/// if it prints one within `patience`. The pipe is drained after it for
/// as long as the child writes, so the child never blocks on it.
pub fn first_line(stdout: std::process::ChildStdout, patience: Duration) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        if let Some(Ok(first)) = lines.next() {
            let _ = tx.send(first);
        }
        for _ in lines {}
    });
    rx.recv_timeout(patience).ok()
}
