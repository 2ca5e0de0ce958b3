//! The sandbox, against `serve` as shipped in the development profile with
//! `sandbox.clock = "movable"`: an integrator moves the clock forward with
//! `ops clock --advance` and sees the acceptance warning and breach happen
//! against their own systems, through the normal path; the clock never goes
//! back; and the production profile refuses the movable clock.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_core::partner::Partner;
use mediation_gateway::sim::{self, CourtAt, Inbox, SimCcpit, SimConfig, SimCourt, SimTenant};
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;

use crate::replicas::{Replica, client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrator_moves_the_sandbox_clock_and_sees_the_deadlines_pass() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let court = SimCourt::new(Inbox::keeping());
    let ccpit = SimCcpit::default();
    let (labour, traffic) = (sim::SimLabour::default(), sim::SimTraffic::default());
    let mut addrs = Vec::new();
    for routes in [
        tonic::service::Routes::new(court.server()),
        tonic::service::Routes::new(ccpit.server()),
        tonic::service::Routes::new(labour.server()),
        tonic::service::Routes::new(traffic.server()),
    ] {
        let (l, addr) = sim::listen().await.unwrap();
        sim::spawn_grpc(l, None, routes);
        addrs.push(addr);
    }
    let tenants = [
        SimTenant::court_system("court-bj", "京"),
        SimTenant::platform("ccpit", Partner::Ccpit),
        SimTenant::operator("operators"),
    ];
    let pki = mediation_security::pki::DevelopmentPki::new(dir.path().join("data/dev-pki"));
    let names: Vec<String> = tenants.iter().map(|t| t.id.to_owned()).collect();
    pki.generate(&names, jiff::Timestamp::now()).unwrap();
    std::fs::write(
        dir.path().join("tenants.toml"),
        sim::tenants_file(
            &tenants,
            |id| format!("https://{id}.test.invalid/"),
            |id| pki.jwks(id),
        ),
    )
    .unwrap();
    let config = SimConfig::shipped()
        .profile("development")
        .listen("127.0.0.1:0")
        .data_dir(&dir.path().join("data"))
        .calendar_dir(&root.join("config/calendar"))
        .roster(&root.join("config/roster.toml"))
        .court_registry(&root.join("config/courts.toml"))
        .tenants(&dir.path().join("tenants.toml"))
        .courts(&[("京", CourtAt::Grpc(format!("http://{}", addrs[0])))])
        .partner(Partner::Ccpit, &format!("http://{}", addrs[1]), None)
        .partner(
            Partner::LabourArbitration,
            &format!("http://{}", addrs[2]),
            None,
        )
        .partner(Partner::RoadTraffic, &format!("http://{}", addrs[3]), None)
        .plaintext()
        .set("sandbox.clock", "movable")
        .write(dir.path())
        .unwrap();
    let gateway = Replica::start(dir.path(), &config, "sandbox");
    let loaded = mediation_gateway::config::Config::load(&config).unwrap();
    let token = mediation_gateway::commands::dev::development_token(
        &loaded,
        "court-bj",
        "integrator",
        86_400,
        jiff::Timestamp::now(),
    )
    .unwrap();
    let mut court_api = CourtGatewayClient::new(client(&gateway.addr, &token));
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "SANDBOX-1".into();
    let id = court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    // The platform receives the offer: three working days start.
    let started = Instant::now();
    while ccpit.offers.all().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "no offer arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let ops = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
            .current_dir(dir.path())
            .args(["ops", "clock", "--config"])
            .arg(&config)
            .args(["--gateway", &format!("http://{}", gateway.addr)])
            .args(args)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, said, err) = ops(&[]);
    assert!(ok, "{err}");
    assert!(said.contains("a sandbox's"), "{said}");
    // Ten days on: the warning and the breach fall due and fire, in order,
    // through the engine's own sweep, before the answer.
    let (ok, said, err) = ops(&["--advance", "10d"]);
    assert!(ok, "{err}");
    let fired: u32 = said
        .split(';')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    assert!(fired >= 2, "{said}");
    // The court's system hears of it as it would have in ten days.
    let started = Instant::now();
    loop {
        let events = court.events_of(&id);
        if events.iter().any(|e| e == "acceptance_overdue") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the court never heard of the breach: {events:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Operators were alerted, warning first, then the breach.
    let alerts = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(dir.path())
        .args(["ops", "alerts", "--json", "--config"])
        .arg(&config)
        .args(["--gateway", &format!("http://{}", gateway.addr)])
        .output()
        .unwrap();
    assert!(alerts.status.success());
    let kinds: Vec<String> = String::from_utf8_lossy(&alerts.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|a| a["referral_id"] == id.as_str())
        .map(|a| a["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        kinds,
        ["acceptance_warning", "acceptance_breach"],
        "{kinds:?}"
    );
    // The clock never goes back.
    let (ok, _, err) = ops(&["--advance=-1h"]);
    assert!(!ok);
    assert!(
        err.contains("INVALID_ARGUMENT") && err.contains("only moves forward"),
        "{err}"
    );

    // The production profile refuses the movable clock before anything
    // starts.
    let refused = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(dir.path())
        .args(["check-config", "--config"])
        .arg(&config)
        .args(["--set", "profile=production"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("sandbox.clock") && said.contains("development profile only"),
        "{said}"
    );
}
