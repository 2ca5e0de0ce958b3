//! The sandbox, against `serve` as shipped in the development profile with
//! `sandbox.clock = "movable"`: an integrator moves the clock forward with
//! `ops clock --advance` and sees the acceptance warning and breach happen
//! against their own systems, through the normal path; the clock never goes
//! back, across a restart neither; and the production profile refuses the
//! movable clock.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::replicas::{Counterparts, Replica, eventually, sample_submission, submit_as_court};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_integrator_moves_the_sandbox_clock_and_sees_the_deadlines_pass() {
    let dir = tempfile::tempdir().unwrap();
    let Counterparts {
        court,
        ccpit,
        config,
    } = Counterparts::start(dir.path()).await;
    let config = config
        .set("sandbox.clock", "movable")
        .write(dir.path())
        .unwrap();
    let gateway = Replica::start(dir.path(), &config, "sandbox");
    let id = submit_as_court(&gateway.addr, &config, sample_submission("SANDBOX-1")).await;
    // The platform receives the offer: three working days start.
    eventually("no offer arrived", || !ccpit.offers.all().is_empty()).await;

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

/// The clock never goes back, across a restart too: a move is in the data
/// directory, synced, before `AdvanceClock` answers, and the gateway resumes
/// from it, here after the hardest stop (SIGKILL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_clock_never_goes_back_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let Counterparts { config, .. } = Counterparts::start(dir.path()).await;
    let config = config
        .set("sandbox.clock", "movable")
        .write(dir.path())
        .unwrap();
    let clock = |gateway: &Replica, args: &[&str]| -> jiff::Timestamp {
        let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
            .current_dir(dir.path())
            .args(["ops", "clock", "--json", "--config"])
            .arg(&config)
            .args(["--gateway", &format!("http://{}", gateway.addr)])
            .args(args)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let said: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        said["now"].as_str().unwrap().parse().unwrap()
    };
    let gateway = Replica::start(dir.path(), &config, "sandbox");
    let moved = clock(&gateway, &["--advance", "10d"]);
    assert!(
        moved.duration_since(jiff::Timestamp::now()) > jiff::SignedDuration::from_hours(24 * 9),
        "{moved}"
    );
    drop(gateway); // SIGKILL
    assert!(dir.path().join("data/sandbox-clock").is_file());
    let gateway = Replica::start(dir.path(), &config, "sandbox-again");
    let resumed = clock(&gateway, &[]);
    assert!(
        resumed >= moved,
        "the clock went back across the restart, from {moved} to {resumed}"
    );
}
