//! Alerts as a real Alertmanager sees them (Debian's prometheus-alertmanager,
//! queried with its amtool): two open alerts of one kind, for two
//! destinations, are two alerts, each with its destination and runbook; on a
//! sandbox whose clock was moved days ahead they start now, in real time;
//! and acknowledging one resolves that one, and only that one.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;

use crate::served::Served;

/// A real Alertmanager on a free loopback port, routing every alert to a
/// receiver that notifies nobody; stopped when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Alertmanager {
    fn start() -> Self {
        let installed = |tool: &str| {
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        assert!(
            installed("prometheus-alertmanager") && installed("amtool"),
            "prometheus-alertmanager is not installed (.ci/run installs it)"
        );
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("alertmanager.yml");
        std::fs::write(
            &config,
            "route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n",
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("alertmanager.log")).unwrap();
        let child = Command::new("prometheus-alertmanager")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            // One instance alone: no cluster to gossip with.
            .arg("--cluster.listen-address=")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let alertmanager = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            dir,
        };
        let started = Instant::now();
        while !alertmanager.amtool(&["alert", "query"]).status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "Alertmanager did not start: {}",
                alertmanager.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        alertmanager
    }

    fn amtool(&self, args: &[&str]) -> std::process::Output {
        Command::new("amtool")
            .arg(format!("--alertmanager.url={}", self.url))
            .args(args)
            .output()
            .unwrap()
    }

    /// The active alerts `amtool alert query` lists for `matcher`.
    fn active(&self, matcher: &str) -> Vec<serde_json::Value> {
        let output = self.amtool(&["alert", "query", "-o", "json", matcher]);
        assert!(
            output.status.success(),
            "amtool: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("alertmanager.log")).unwrap_or_default()
    }
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_tells_two_unreachable_destinations_apart_in_real_time() {
    let alertmanager = Alertmanager::start();
    let began = Timestamp::now();
    // A sandbox gateway on the shipped configuration, whose CCPIT platform
    // and court system are not running: a referral's offer and the court's
    // notice of its routing both fail, and after two failures in a row each
    // destination is unreachable, an alert for the alertmanager hook.
    let served = Served::start(&format!(
        "[sandbox]\nclock = \"movable\"\n\
         [relay]\nfirst_delay_seconds = 1\nunreachable_after = 2\n\
         [alerts]\nrunbook_base_url = \"https://wiki.example/mediation-gateway/runbooks\"\n\
         [[alerts.webhook]]\nname = \"alertmanager\"\nurl = \"{}/api/v2/alerts\"\n\
         format = \"alertmanager\"\nmin_severity = \"critical\"\n",
        alertmanager.url
    ));
    // Ten days on: what the gateway raises from now on, it raises on a
    // clock ten days ahead of real time.
    let moved = served.ops(&["clock", "--advance", "10d"]).output().unwrap();
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let mut court = CourtGatewayClient::new(served.connect("court-bj", "svc").await);
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.court_referral_id = "AM-REAL-1".into();
    for d in &mut bundle.documents {
        d.url = "https://court-bj.example/files/1".into();
    }
    court
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap();

    // Alertmanager shows two alerts, not one: each has its destination.
    let unreachable = "alertname=DestinationUnreachable";
    let started = Instant::now();
    let alerts = loop {
        let alerts = alertmanager.active(unreachable);
        if alerts.len() >= 2 {
            break alerts;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Alertmanager shows {} unreachable destination(s), not two: {alerts:?}",
            alerts.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let mut destinations: Vec<String> = alerts
        .iter()
        .map(|a| {
            a["labels"]["destination"]
                .as_str()
                .unwrap_or_else(|| panic!("no destination label: {a}"))
                .to_owned()
        })
        .collect();
    destinations.sort();
    assert_eq!(destinations.len(), 2, "{alerts:?}");
    assert!(
        destinations[0].starts_with("court:") && destinations[1] == "partner:ccpit",
        "{destinations:?}"
    );
    for alert in &alerts {
        assert_eq!(
            alert["annotations"]["runbook_url"],
            "https://wiki.example/mediation-gateway/runbooks#destination_unreachable",
            "{alert}"
        );
        assert!(alert["labels"]["alert_seq"].as_str().is_some(), "{alert}");
        // Real times, although the gateway's clock is ten days ahead.
        let starts: Timestamp = alert["startsAt"].as_str().unwrap().parse().unwrap();
        let ends: Timestamp = alert["endsAt"].as_str().unwrap().parse().unwrap();
        let now = Timestamp::now();
        assert!(
            starts >= began.checked_sub(SignedDuration::from_mins(1)).unwrap() && starts <= now,
            "Alertmanager was told the alert started at {starts}, not in real time (now is {now}): {alert}"
        );
        assert!(
            ends > now && ends <= now.checked_add(SignedDuration::from_mins(5)).unwrap(),
            "{alert}"
        );
    }

    // An operator acknowledges the CCPIT alert: Alertmanager is told it
    // ended then, in real time, and resolves it; the court's stays open.
    let ccpit = alerts
        .iter()
        .find(|a| a["labels"]["destination"] == "partner:ccpit")
        .unwrap();
    let seq = ccpit["labels"]["alert_seq"].as_str().unwrap();
    let acked = served
        .ops(&["ack", seq, "--note", "calling the platform"])
        .output()
        .unwrap();
    assert!(
        acked.status.success(),
        "{}",
        String::from_utf8_lossy(&acked.stderr)
    );
    let started = Instant::now();
    loop {
        let alerts = alertmanager.active(unreachable);
        let open: Vec<&str> = alerts
            .iter()
            .filter_map(|a| a["labels"]["destination"].as_str())
            .collect();
        if open.len() == 1 && open[0].starts_with("court:") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "after the CCPIT alert was acknowledged, Alertmanager shows {open:?} open"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    served.stop();
}
