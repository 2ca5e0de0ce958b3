//! Against `serve` as shipped: the release configuration in a fresh
//! directory, its development PKI written on first start, called over mutual
//! TLS from outside the process, its log read as an operator reads it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use tonic::Code;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

use mediation_gateway::sim::SimConfig;

use crate::cli::repo_root;
use crate::tls::{Authed, bearer};

/// A running `serve` on the shipped configuration, its log in a file.
pub(crate) struct Served {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) config: PathBuf,
    pub(crate) addr: String,
    child: Child,
}

impl Served {
    /// Starts `serve` with the shipped `config/gateway.toml`, listening on a
    /// free port, with `overlay` (TOML) in its `gateway.d/`.
    pub(crate) fn start(overlay: &str) -> Self {
        Self::start_with(overlay, |_| {})
    }

    /// The same, after `prepare` has run on the directory it starts in.
    pub(crate) fn start_with(overlay: &str, prepare: impl FnOnce(&Path)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        prepare(dir.path());
        let root = repo_root();
        // The shipped file, with only what a machine of its own would not
        // need: a free port, and its relative paths made absolute.
        let path = SimConfig::shipped()
            .listen("127.0.0.1:0")
            .tenants(&root.join("config/tenants.toml"))
            .calendar_dir(&root.join("config/calendar"))
            .roster(&root.join("config/roster.toml"))
            .court_registry(&root.join("config/courts.toml"))
            .write(dir.path())
            .unwrap();
        if !overlay.is_empty() {
            std::fs::write(dir.path().join("gateway.d/test.toml"), overlay).unwrap();
        }
        let (child, addr) = spawn(dir.path(), &path);
        Self {
            dir,
            config: path,
            addr,
            child,
        }
    }

    /// Stops the gateway gracefully and starts it again on the same data
    /// and configuration, as an operator's restart would.
    pub(crate) fn restart(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        assert!(self.child.wait().unwrap().success());
        let (child, addr) = spawn(self.dir.path(), &self.config);
        self.child = child;
        self.addr = addr;
    }

    fn pki(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.dir.path().join("data/dev-pki").join(file)).unwrap()
    }

    /// A token for `tenant` with `subject`, from `dev token`.
    pub(crate) fn token(&self, tenant: &str, subject: &str) -> String {
        let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
            .current_dir(self.dir.path())
            .args(["dev", "token", "--config"])
            .arg(&self.config)
            .args(["--tenant", tenant, "--subject", subject])
            .output()
            .unwrap();
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    }

    /// A channel as `tenant`, with its certificate and a token for `subject`.
    pub(crate) async fn connect(&self, tenant: &str, subject: &str) -> Authed {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.pki("ca.pem")))
            .identity(Identity::from_pem(
                self.pki(&format!("{tenant}.pem")),
                self.pki(&format!("{tenant}.key.pem")),
            ))
            .domain_name("localhost");
        let channel = Endpoint::from_shared(format!("https://{}", self.addr))
            .unwrap()
            .tls_config(tls)
            .unwrap()
            .connect()
            .await
            .unwrap();
        Authed::new(channel, bearer(&self.token(tenant, subject)))
    }

    /// Stops the gateway gracefully and returns its log.
    pub(crate) fn stop(mut self) -> String {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(stopped.success());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "a graceful stop exits 0: {status:?}");
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap()
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The gateway's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }
}

/// Starts `serve` in `dir` on `config`, appending to its log; the child and
/// the address it listens on.
fn spawn(dir: &Path, config: &Path) -> (Child, String) {
    spawn_named(dir, config, "gateway", &[])
}

/// The same, logging to `<name>.log` in `dir`, with `extra` arguments after
/// the configuration (`--set` flags).
pub(crate) fn spawn_named(
    dir: &Path,
    config: &Path,
    name: &str,
    extra: &[&str],
) -> (Child, String) {
    let (child, addr, _) = spawn_announced(dir, config, name, extra);
    (child, addr)
}

/// As [`spawn_named`], with the whole line `serve` announced itself with.
pub(crate) fn spawn_announced(
    dir: &Path,
    config: &Path,
    name: &str,
    extra: &[&str],
) -> (Child, String, String) {
    let log_path = dir.join(format!("{name}.log"));
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(dir)
        .args(["serve", "--config"])
        .arg(config)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .strip_prefix("mediation gateway listening on ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            panic!("{name} did not start: {first}\n{log}")
        })
        .to_owned();
    (child, addr, first)
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callers_own_text_cannot_forge_a_log_line() {
    let served = Served::start("");
    assert!(served.path().join("data/store").is_dir());
    // A token whose subject carries a newline, a forged line, an ANSI escape
    // and a line separator.
    let forged =
        "svc\n2026-12-01T00:00:00.000000Z  INFO forged: tenant=court-sh granted\u{1b}[2J\u{2028}";
    let mut court = CourtGatewayClient::new(served.connect("court-bj", forged).await);
    let status = court
        .get_referral(pb::GetReferralRequest {
            referral_id: "01JB0000000000000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
    let log = served.stop();
    assert!(
        !log.lines()
            .any(|l| l.starts_with("2026-12-01T00:00:00.000000Z")),
        "a forged line appeared:\n{log}"
    );
    assert!(
        !log.contains('\u{1b}'),
        "an escape sequence reached the log"
    );
    assert!(!log.contains('\u{2028}'));
    // The call has its access line, with the subject escaped in it.
    let access = log
        .lines()
        .find(|l| l.contains("GetReferral") && l.contains("code=NotFound"))
        .unwrap_or_else(|| panic!("no access line:\n{log}"));
    assert!(access.contains("sub=svc\\u{000a}2026"), "{access}");
    assert!(access.contains("latency_ms="), "{access}");
}

/// Mounts a small tmpfs at `at`; mounting needs root, which CI has.
fn mount_small_disk(at: &Path, size: &str) {
    std::fs::create_dir_all(at).unwrap();
    let status = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(at)
        .status()
        .expect("mount must be installed");
    assert!(
        status.success(),
        "mounting a tmpfs needs root (CI runs as root)"
    );
}

/// Unmounts it when the test ends, however it ends.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_writes_as_unavailable_and_they_resume_when_space_returns() {
    use mediation_api::court::bundle_to_wire;
    use mediation_core::fixtures::sample_bundle;
    // The shipped configuration keeps everything under data/: that is the
    // small disk.
    let mut mounted = None;
    let served = Served::start_with("", |dir| {
        mount_small_disk(&dir.join("data"), "40m");
        mounted = Some(dir.join("data"));
    });
    let data = mounted.unwrap();
    let _unmount = Unmount(data.clone());
    let mut court = CourtGatewayClient::new(served.connect("court-bj", "svc").await);
    let submit = |n: usize| {
        let mut bundle = bundle_to_wire(&sample_bundle());
        bundle.court_referral_id = format!("FULL-{n}");
        for d in &mut bundle.documents {
            d.url = "https://court-bj.example/files/1".into();
        }
        pb::SubmitReferralRequest {
            bundle: Some(bundle),
        }
    };
    // Fill the disk, leaving the store a little room.
    let ballast = data.join("ballast");
    let free = {
        let output = Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&data)
            .output()
            .unwrap();
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(&ballast, vec![1u8; (free.saturating_sub(3 << 20)) as usize]).unwrap();
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    for n in 0..20_000 {
        match court.submit_referral(submit(n)).await {
            Ok(r) => acknowledged.push(r.into_inner().referral_id),
            Err(status) => {
                refusal = Some(status);
                break;
            }
        }
    }
    let refusal = refusal.expect("the disk filled up");
    assert_eq!(refusal.code(), Code::Unavailable, "{refusal:?}");
    assert!(!acknowledged.is_empty());

    // Space returns: writes resume, and nothing acknowledged was lost.
    std::fs::remove_file(&ballast).unwrap();
    let waited = std::time::Instant::now();
    let resumed = loop {
        match court.submit_referral(submit(100_000)).await {
            Ok(r) => break r.into_inner().referral_id,
            Err(status) => {
                assert_eq!(status.code(), Code::Unavailable, "{status:?}");
                assert!(
                    waited.elapsed() < std::time::Duration::from_secs(60),
                    "writes never resumed"
                );
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    };
    for id in acknowledged.iter().chain([&resumed]) {
        court
            .get_referral(pb::GetReferralRequest {
                referral_id: id.clone(),
            })
            .await
            .unwrap_or_else(|e| panic!("acknowledged {id} is readable: {e:?}"));
    }
    eprintln!(
        "full disk: {} referrals acknowledged before the disk filled, all readable after it emptied",
        acknowledged.len()
    );
    let log = served.stop();
    assert!(log.contains("store reopened from disk"), "{log}");
}

/// `GET path` on the plain-HTTP metrics listener.
async fn http_get(addr: &str, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_there_from_the_start_at_zero_with_build_and_process_metrics() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let metrics = format!("127.0.0.1:{port}");
    let served = Served::start(&format!("[metrics]\nlisten = {metrics:?}\n"));
    // The sampler runs at start; give it the moment it needs.
    let mut text = String::new();
    for _ in 0..100 {
        text = http_get(&metrics, "/metrics").await;
        if text.contains("process_cpu_seconds_total") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for series in [
        "gateway_deadline_timers_fired_total{kind=\"acceptance_breach\"} 0",
        "gateway_deadline_timers_fired_total{kind=\"mediation_breach\"} 0",
        "gateway_deadline_timers_due_total 0",
        "gateway_delivery_attempts_total{destination=\"partner:ccpit\",outcome=\"dead\"} 0",
        "gateway_delivery_failures_total{destination=\"partner:ccpit\"} 0",
        "gateway_requests_total{method=\"mediation.court.v1.CourtGateway/SubmitReferral\",code=\"Internal\"} 0",
        "gateway_alerts_open{kind=\"mediation_breach\"} 0",
    ] {
        assert!(text.contains(series), "{series} is missing:\n{text}");
    }
    assert!(
        text.contains(&format!(
            "gateway_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
    for process in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(text.contains(process), "{process} is missing");
    }
    served.stop();
}

#[test]
fn dev_token_for_an_unknown_tenant_lists_the_known_ones() {
    let served = Served::start("");
    let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(served.path())
        .args(["dev", "token", "--config"])
        .arg(&served.config)
        .args(["--tenant", "court-gz"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(said.contains("no tenant \"court-gz\""), "{said}");
    assert!(
        said.contains("the tenants are: ccpit, court-bj, court-sh"),
        "{said}"
    );
    served.stop();
}

impl Served {
    /// `ops …` against this gateway, with the development defaults.
    pub(crate) fn ops(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"));
        command
            .current_dir(self.path())
            .arg("ops")
            .args(args)
            .arg("--config")
            .arg(&self.config)
            .args(["--gateway", &format!("https://{}", self.addr)]);
        command
    }
}

#[test]
fn ops_speaks_in_sentences_and_a_follower_says_it_waits_and_reconnects() {
    use std::io::Read as _;
    let served = Served::start("");
    // A refusal is a sentence with the code's name, not tonic's debug text.
    let output = served
        .ops(&["referral", "01JB0000000000000000000000"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("the gateway answered NOT_FOUND: referral not found"),
        "{said}"
    );
    assert!(!said.contains("Status {"), "{said}");

    // A follower says it is waiting, on stderr; when the gateway goes away
    // it says it will reconnect, and from where.
    let mut follower = served
        .ops(&["alerts", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(follower.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    assert!(
        first.contains("following alerts after #0; waiting for new ones"),
        "{first}"
    );
    served.stop();
    let mut next = String::new();
    stderr.read_line(&mut next).unwrap();
    assert!(next.contains("reconnecting in"), "{next}");
    assert!(next.contains("resuming after #0"), "{next}");
    let _ = follower.kill();
    let _ = follower.wait();
    let mut out = String::new();
    let _ = follower.stdout.take().unwrap().read_to_string(&mut out);
    assert!(out.is_empty(), "no alert was printed: {out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_one_object_a_line_with_one_key_per_name() {
    let served = Served::start("[log]\nformat = \"json\"\n");
    let mut court = CourtGatewayClient::new(served.connect("court-bj", "svc").await);
    let _ = court
        .get_referral(pb::GetReferralRequest {
            referral_id: "01JB0000000000000000000000".into(),
        })
        .await;
    let log = served.stop();
    let mut access = None;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object: {e}: {line}"));
        assert!(
            value["timestamp"]
                .as_str()
                .is_some_and(|t| t.ends_with('Z')),
            "{line}"
        );
        assert!(
            line.matches("\"message\":").count() <= 1,
            "a key twice: {line}"
        );
        if value["message"] == "call" {
            access = Some(value);
        }
    }
    let access = access.unwrap_or_else(|| panic!("no access line:\n{log}"));
    assert_eq!(
        access["method"],
        "mediation.court.v1.CourtGateway/GetReferral"
    );
    assert_eq!(access["code"], "NotFound");
    assert!(access["latency_ms"].as_f64().is_some());
    assert!(
        access["caller"]
            .as_str()
            .unwrap()
            .starts_with("tenant=court-bj sub=svc")
    );
}

#[test]
fn a_follower_resumes_after_a_restart_and_misses_nothing_nor_repeats() {
    use mediation_api::court::bundle_to_wire;
    use mediation_core::fixtures::sample_bundle;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The same port across the restart; the CCPIT platform of the shipped
    // configuration is not running, so deliveries to it fail, and after two
    // failures in a row it is reported unreachable: an alert to follow.
    let mut served = Served::start(&format!(
        "listen = \"127.0.0.1:{port}\"\n[relay]\nfirst_delay_seconds = 1\nunreachable_after = 2\n"
    ));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let submit = |served: &Served, reference: &str| {
        runtime.block_on(async {
            let mut court = CourtGatewayClient::new(served.connect("court-bj", "svc").await);
            let mut bundle = bundle_to_wire(&sample_bundle());
            bundle.court_referral_id = reference.into();
            for d in &mut bundle.documents {
                d.url = "https://court-bj.example/files/1".into();
            }
            court
                .submit_referral(pb::SubmitReferralRequest {
                    bundle: Some(bundle),
                })
                .await
                .unwrap();
        })
    };
    let mut follower = served
        .ops(&["alerts", "--follow", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, read) = std::sync::mpsc::channel::<String>();
    let stdout = follower.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                return;
            }
        }
    });
    let next_alert = |why: &str| -> serde_json::Value {
        let line = read
            .recv_timeout(std::time::Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no alert: {why}"));
        serde_json::from_str(&line).unwrap()
    };
    submit(&served, "FOLLOW-1");
    let mut first = next_alert("the first unreachable alert");
    assert_eq!(first["kind"], "destination_unreachable");
    // The court of the shipped configuration is not running either, and is
    // told of the routing: its unreachable alert may follow. The follower
    // resumes after the last one it saw.
    while let Ok(line) = read.recv_timeout(std::time::Duration::from_secs(3)) {
        first = serde_json::from_str(&line).unwrap();
    }

    // The gateway restarts; the follower reconnects and resumes after the
    // alert it saw. The next alert (the platform is still down, and the new
    // process counts its failures afresh) comes once, and the first is not
    // shown again.
    served.restart();
    submit(&served, "FOLLOW-2");
    let second = next_alert("an alert after the restart");
    assert!(
        second["seq"].as_u64().unwrap() > first["seq"].as_u64().unwrap(),
        "{first} then {second}"
    );
    assert!(
        read.recv_timeout(std::time::Duration::from_millis(500))
            .map_or(true, |l| !l.contains(&format!("\"seq\":{}", first["seq"]))),
        "the first alert was shown again"
    );
    let _ = follower.kill();
    let _ = follower.wait();
    let mut said = String::new();
    let _ = std::io::Read::read_to_string(&mut follower.stderr.take().unwrap(), &mut said);
    assert!(
        said.contains(&format!("resuming after #{}", first["seq"])),
        "{said}"
    );
    served.stop();
}

#[test]
fn a_monthly_report_comes_as_csv_or_json_for_a_month_in_china_time() {
    let served = Served::start("");
    let run = |args: &[&str]| served.ops(args).output().unwrap();
    let csv = run(&["stats", "--month", "2026-12", "--csv"]);
    assert!(
        csv.status.success(),
        "{}",
        String::from_utf8_lossy(&csv.stderr)
    );
    let csv = String::from_utf8_lossy(&csv.stdout);
    let header = csv.lines().next().unwrap();
    assert!(
        header.starts_with("scope,partner,key,referrals,accepted")
            && header.contains("ended_early")
            && header.contains("confirmation_rate"),
        "{header}"
    );
    let json = run(&["stats", "--month", "2026-12", "--json"]);
    assert!(
        json.status.success(),
        "{}",
        String::from_utf8_lossy(&json.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    // December in China Standard Time, as UTC instants.
    assert_eq!(value["from"], "2026-11-30T16:00:00Z");
    assert_eq!(value["to"], "2026-12-31T16:00:00Z");
    let bad = run(&["stats", "--month", "2026-13"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("a month is YYYY-MM"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    served.stop();
}

/// The CPU time process `pid` has used so far (user and system), from
/// `/proc/<pid>/stat`.
fn cpu_time(pid: u32) -> std::time::Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // After the command's name in parentheses, from the state (field 3):
    // utime and stime are fields 14 and 15 of proc(5).
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 1..]
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second: u64 = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100);
    std::time::Duration::from_secs_f64(ticks as f64 / per_second as f64)
}

/// Whether the server closed `stream` (refused its client) within `within`,
/// rather than leaving it waiting.
fn closed_by_server(stream: &mut std::net::TcpStream, within: std::time::Duration) -> bool {
    use std::io::Read as _;
    stream.set_read_timeout(Some(within)).unwrap();
    let mut byte = [0u8; 1];
    match stream.read(&mut byte) {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_new_clients_are_refused_at_once_without_a_spin_and_writes_go_on() {
    use mediation_api::court::bundle_to_wire;
    use mediation_core::fixtures::sample_bundle;
    use std::time::{Duration, Instant};
    // Idle connections that never begin their TLS handshake are kept for
    // the whole test.
    let served = Served::start("[limits]\ntls_handshake_timeout_seconds = 300\n");
    let submit = |reference: &str| {
        let mut bundle = bundle_to_wire(&sample_bundle());
        bundle.court_referral_id = reference.into();
        for d in &mut bundle.documents {
            d.url = "https://court-bj.example/files/1".into();
        }
        pb::SubmitReferralRequest {
            bundle: Some(bundle),
        }
    };
    // A court system connected before the descriptors run out.
    let mut court = CourtGatewayClient::new(served.connect("court-bj", "svc").await);
    court.submit_referral(submit("FD-0")).await.unwrap();

    // The open-file limit lowered under the running gateway, as `prlimit`
    // does, to leave room for 40 more; then 130 idle connections.
    let pid = served.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    let limit = open + 40;
    let lowered = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit (util-linux) must be installed");
    assert!(lowered.success());
    let addr: std::net::SocketAddr = served.addr.parse().unwrap();
    let mut idle = Vec::new();
    for _ in 0..130 {
        if let Ok(stream) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
            idle.push(stream);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The listener pauses rather than spinning: over two seconds, a small
    // share of one core.
    let before = cpu_time(pid);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = cpu_time(pid).saturating_sub(before);
    assert!(
        used < Duration::from_millis(500),
        "{used:?} of CPU over 2 s while out of descriptors"
    );

    // A new client is refused at once, not left waiting in the backlog.
    let started = Instant::now();
    let refused = match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(mut stream) => closed_by_server(&mut stream, Duration::from_secs(3)),
        // Refused outright counts; a connect that timed out in the backlog
        // is a client left waiting.
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    };
    assert!(refused, "a new client was left waiting");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );

    // The store still takes writes: only the listener is starved.
    let started = Instant::now();
    let written = tokio::time::timeout(
        Duration::from_secs(10),
        court.submit_referral(submit("FD-1")),
    )
    .await
    .expect("the write was answered");
    assert!(
        written.is_ok(),
        "the store refused a write while only the listener was starved: {written:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the write took {:?}",
        started.elapsed()
    );

    // The idle clients go: new clients are served again.
    drop(idle);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let served_again = tokio::time::timeout(Duration::from_secs(20), async {
        let mut court = CourtGatewayClient::new(served.connect("court-bj", "svc").await);
        court
            .get_referral(pb::GetReferralRequest {
                referral_id: "01JB0000000000000000000000".into(),
            })
            .await
    })
    .await
    .expect("a new client was served once descriptors were free");
    assert_eq!(served_again.unwrap_err().code(), Code::NotFound);
    let log = served.stop();
    let episodes = log
        .lines()
        .filter(|l| l.contains("out of file descriptors"))
        .count();
    assert!(
        (1..=3).contains(&episodes),
        "said {episodes} times that descriptors ran out:\n{log}"
    );
    assert!(log.contains("taking connections again"), "{log}");
    assert!(
        !log.contains("store stopped accepting writes"),
        "the store stopped:\n{log}"
    );
}
