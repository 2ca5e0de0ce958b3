//! The audit trail from outside, as an auditor meets it: against `serve` as
//! shipped, calls by two clerks of one court, then `ops audit` listing every
//! call on one referral and every call by one clerk in a day, the query
//! itself in the trail, and an exported range checked by an independent
//! script (`tests/python/verify_audit.py`, written from docs/security.md),
//! which names the entry that was tampered with, removed or moved.

use std::path::Path;
use std::process::Command;

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;

use crate::cli::repo_root;
use crate::served::Served;

fn bundle(reference: &str) -> pb::CaseBundle {
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.court_referral_id = reference.into();
    bundle.documents.clear();
    bundle
}

/// `ops audit` with `args`, as JSON lines.
fn audit(served: &Served, args: &[&str]) -> Vec<serde_json::Value> {
    let output = served
        .ops(&["audit", "--json", "--all"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Runs the independent verifier on `export`: its exit code and what it
/// printed.
pub(crate) fn verify(export: &Path) -> (i32, String) {
    let output = Command::new("python3")
        .arg(repo_root().join("tests/python/verify_audit.py"))
        .arg(export)
        .output()
        .expect("python3 runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), said)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_auditor_lists_calls_by_referral_and_by_clerk_and_checks_an_export_independently() {
    let served = Served::start("");
    let mut clerk7 = CourtGatewayClient::new(served.connect("court-bj", "clerk-7").await);
    let mut clerk9 = CourtGatewayClient::new(served.connect("court-bj", "clerk-9").await);
    let submit = |reference: &str| pb::SubmitReferralRequest {
        bundle: Some(bundle(reference)),
    };
    let first = clerk7
        .submit_referral(submit("AUDIT-1"))
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    let second = clerk9
        .submit_referral(submit("AUDIT-2"))
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    // Clerk 9 reads the first referral; clerk 7 sends a call that is refused.
    clerk9
        .get_referral(pb::GetReferralRequest {
            referral_id: first.clone(),
        })
        .await
        .unwrap();
    let refused = clerk7
        .get_referral(pb::GetReferralRequest {
            referral_id: "not-a-ulid".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // Every call on the first referral, and nothing else.
    let on_first = audit(&served, &["--referral", &first]);
    assert!(
        on_first.iter().all(|e| e["referral"] == first),
        "{on_first:?}"
    );
    let calls: Vec<(String, String)> = on_first
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["action"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        calls
            .iter()
            .any(|(actor, action)| actor.contains("sub=clerk-7")
                && action.ends_with("/mediation.court.v1.CourtGateway/SubmitReferral")),
        "{calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|(actor, action)| actor.contains("sub=clerk-9")
                && action.ends_with("/mediation.court.v1.CourtGateway/GetReferral")),
        "{calls:?}"
    );

    // Every call by clerk 7 today (in UTC), and nothing by clerk 9.
    let today = jiff::Timestamp::now()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .date();
    let from = today
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .to_string();
    let until = today
        .tomorrow()
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::UTC)
        .unwrap()
        .timestamp()
        .to_string();
    // The refusal's record is written by the audit writer just after the
    // answer: it is there within moments.
    let mut by_clerk7 = Vec::new();
    for _ in 0..50 {
        by_clerk7 = audit(
            &served,
            &[
                "--by-tenant",
                "court-bj",
                "--by-subject",
                "clerk-7",
                "--from",
                &from,
                "--until",
                &until,
            ],
        );
        if by_clerk7.len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(by_clerk7.len(), 2, "{by_clerk7:?}");
    assert_eq!(by_clerk7[0]["referral"], first);
    assert_eq!(by_clerk7[0]["outcome"], "ok");
    assert!(
        by_clerk7[1]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("InvalidArgument"),
        "{by_clerk7:?}"
    );
    assert!(
        !by_clerk7.iter().any(|e| e["referral"] == second),
        "{by_clerk7:?}"
    );

    // The auditor's own queries are in the trail.
    let queries = audit(
        &served,
        &["--method", "/mediation.operations.v1.Operations/QueryAudit"],
    );
    assert!(queries.len() >= 2, "{queries:?}");
    assert!(
        queries
            .iter()
            .all(|e| e["actor"].as_str().unwrap().contains("tenant=operators"))
    );

    // An export of the whole chain checks out with the independent script.
    let exported = served.ops(&["audit", "--export"]).output().unwrap();
    assert!(exported.status.success(), "{exported:?}");
    let text = String::from_utf8(exported.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() >= 6, "{text}");
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[String]| {
        let path = dir.path().join(name);
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    };
    let original: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    let (code, said) = verify(&write("whole.jsonl", &original));
    assert_eq!(code, 0, "{said}");
    assert!(
        said.contains(&format!("verified {} entries", lines.len())),
        "{said}"
    );

    // An outcome changed after the fact: the entry is named.
    let mut tampered = original.clone();
    let mut entry: serde_json::Value = serde_json::from_str(&tampered[2]).unwrap();
    let seq = entry["seq"].as_u64().unwrap();
    entry["outcome"] = "PermissionDenied: rewritten".into();
    tampered[2] = entry.to_string();
    let (code, said) = verify(&write("tampered.jsonl", &tampered));
    assert_eq!(code, 1, "{said}");
    assert!(said.contains(&format!("entry {seq}")), "{said}");

    // An entry removed: the gap is named.
    let mut removed = original.clone();
    let gone: serde_json::Value = serde_json::from_str(&removed.remove(3)).unwrap();
    let (code, said) = verify(&write("removed.jsonl", &removed));
    assert_eq!(code, 1, "{said}");
    assert!(said.contains(&gone["seq"].to_string()), "{said}");
    assert!(said.contains("missing"), "{said}");

    // Two entries swapped: the one out of its place is named.
    let mut swapped = original.clone();
    swapped.swap(1, 2);
    let (code, said) = verify(&write("swapped.jsonl", &swapped));
    assert_eq!(code, 1, "{said}");
    assert!(said.contains("out of order"), "{said}");
    served.stop();
}

/// The verifier's own tests: a chain it builds with an encoder of its own
/// (apart from the verifier's decoder), the worked example of
/// docs/security.md, the pinned samples of the store's formats, and each
/// kind of damage named with its entry.
#[test]
fn the_independent_verifier_passes_its_own_tests() {
    let output = Command::new("python3")
        .args(["-m", "unittest", "tests/python/test_verify_audit.py"])
        .current_dir(repo_root())
        .output()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
