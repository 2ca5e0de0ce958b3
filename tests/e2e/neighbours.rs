//! One tenant must not stall the others: calls that send their headers and
//! nothing more, connections that never start TLS, and a follow stream open
//! while the gateway stops. The figures under load are the load harness's
//! noisy-neighbour scenario (docs/benchmarks.md); these tests show the
//! mechanisms hold over the wire.

use std::time::Duration;

use mediation_proto::court::v1 as pb;
use mediation_proto::documents::v1 as dp;
use mediation_proto::documents::v1::documents_client::DocumentsClient;
use tokio::io::AsyncReadExt;
use tonic::Code;

use crate::world::World;

/// The world's `limits.calls_in_flight_per_tenant`.
const IN_FLIGHT: usize = 32;

/// A guard against a hang, not a measurement: the calls below answer in
/// milliseconds when the mechanisms hold, and never when they do not.
const HANG: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_left_open_by_one_tenant_do_not_stall_another() {
    let w = World::start().await;
    // Shanghai opens uploads that send their headers and never a byte more.
    let flooder = DocumentsClient::new(w.connect_as("court-sh").await);
    let mut open = Vec::new();
    for _ in 0..IN_FLIGHT + 20 {
        let mut client = flooder.clone();
        open.push(tokio::spawn(async move {
            client
                .upload(tokio_stream::pending::<dp::UploadChunk>())
                .await
        }));
    }
    // Beyond its share, its calls are refused at once, and say why: 20 of the
    // 52 end, whichever they are, while the 32 admitted ones stay open.
    let waited = std::time::Instant::now();
    while open.iter().filter(|c| c.is_finished()).count() < 20 {
        assert!(
            waited.elapsed() < HANG,
            "calls over the tenant's share were not refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut refused = 0;
    for call in open.iter_mut().filter(|c| c.is_finished()) {
        let status = call
            .await
            .unwrap()
            .expect_err("a call over the share is refused");
        assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
        assert!(status.message().contains("in flight"), "{status:?}");
        refused += 1;
    }
    assert!(refused >= 20, "{refused}");

    // Meanwhile Beijing is served as usual, on its own connection.
    let mut beijing = w.court_api.clone();
    let answer = tokio::time::timeout(
        HANG,
        beijing.get_referral(pb::GetReferralRequest {
            referral_id: "01JB0000000000000000000000".into(),
        }),
    )
    .await
    .expect("another tenant's call was answered while the flood went on");
    assert_eq!(answer.unwrap_err().code(), Code::NotFound);

    // The flood ends; Shanghai's places come back.
    for call in &open {
        call.abort();
    }
    drop(flooder);
    let mut shanghai = w.sh_court_api.clone();
    let waited = std::time::Instant::now();
    loop {
        let status = shanghai
            .get_referral(pb::GetReferralRequest {
                referral_id: "01JB0000000000000000000000".into(),
            })
            .await
            .unwrap_err();
        if status.code() == Code::NotFound {
            break;
        }
        assert_eq!(status.code(), Code::ResourceExhausted);
        assert!(waited.elapsed() < HANG, "the places never came back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_starts_tls_is_closed() {
    let w = World::start().await;
    // The world allows 1 s for a handshake.
    let mut idle = tokio::net::TcpStream::connect(w.gateway_addr)
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let read = tokio::time::timeout(HANG, idle.read(&mut byte))
        .await
        .expect("the gateway closed the idle connection");
    assert!(
        matches!(read, Ok(0) | Err(_)),
        "the idle connection was closed, not answered: {read:?}"
    );
    // And the gateway serves others all along.
    let mut beijing = w.court_api.clone();
    let status = beijing
        .get_referral(pb::GetReferralRequest {
            referral_id: "01JB0000000000000000000000".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_ends_an_open_follow_stream_at_once() {
    use mediation_proto::operations::v1 as ops;
    use mediation_proto::operations::v1::operations_client::OperationsClient;
    let mut w = World::start().await;
    let mut operations = OperationsClient::new(w.connect_as("operators").await);
    let mut follow = operations
        .watch_alerts(ops::WatchAlertsRequest {
            after_seq: 0,
            follow: true,
            kinds: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    w.assembly.health.stopping().await;
    w.stop.send(true).unwrap();
    // The stream ends with UNAVAILABLE and where to resume, instead of
    // holding the stop until the grace period is over.
    let ended = tokio::time::timeout(HANG, follow.message())
        .await
        .expect("the follow stream ended when the stop began");
    let status = ended.expect_err("the stream ends with a status");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(
        status.message().contains("resume after seq 0"),
        "{status:?}"
    );
    tokio::time::timeout(HANG, &mut w.served)
        .await
        .expect("the server stopped with nothing left open")
        .unwrap()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_cannot_be_audited_is_refused_and_no_record_is_dropped() {
    let w = World::start().await;
    let store = w.assembly.gateway.store().sled().unwrap().clone();
    let get = || pb::GetReferralRequest {
        referral_id: "01JB0000000000000000000000".into(),
    };
    let mut beijing = w.court_api.clone();
    // The audit log cannot be written (the store takes no writes). The call
    // that finds out is answered; its record waits, and every call after it
    // is refused until the log takes records again.
    store.fail_for_test("no space left on device");
    let first = beijing.get_referral(get()).await.unwrap_err();
    assert_eq!(first.code(), Code::NotFound);
    let waited = std::time::Instant::now();
    let refused = loop {
        let status = beijing.get_referral(get()).await.unwrap_err();
        if status.code() == Code::Unavailable {
            break status;
        }
        assert!(
            waited.elapsed() < HANG,
            "calls went on being answered unaudited"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refused.message().contains("audit log"), "{refused:?}");

    // The log takes records again: calls are admitted, and the record of
    // the call answered before the refusals is in the chain.
    store.clear_failure_for_test();
    let waited = std::time::Instant::now();
    loop {
        let status = beijing.get_referral(get()).await.unwrap_err();
        if status.code() == Code::NotFound {
            break;
        }
        assert!(waited.elapsed() < HANG, "calls stayed refused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    w.assembly.audit.settled().await;
    let recorded = store
        .audit_entries(0, 10_000)
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.record.action.ends_with("GetReferral") && e.record.outcome.starts_with("NotFound")
        })
        .count();
    assert!(
        recorded >= 2,
        "the answered calls' records were kept: {recorded}"
    );
    assert!(matches!(
        store.verify_audit().unwrap(),
        mediation_core::audit::AuditVerification::Intact { .. }
    ));
}

/// A call that makes a command costs one durable write: its audit record is
/// written in the command's own commit, and the guard's writer gets nothing
/// of it. A refused command's record goes with the call's record in the
/// guard's batch, with no write of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commands_call_is_audited_in_its_commit_and_a_refusal_in_the_guards_batch() {
    let w = World::start().await;
    let store = w.assembly.gateway.store().sled().unwrap().clone();
    let mut beijing = w.court_api.clone();
    let mut bundle =
        mediation_api::court::bundle_to_wire(&mediation_core::fixtures::sample_bundle());
    bundle.court_referral_id = "audit-in-commit".into();
    for (i, d) in bundle.documents.iter_mut().enumerate() {
        d.url = format!("https://court-bj.example/files/{i}");
    }
    w.assembly.audit.settled().await;
    let (sent, ops) = (w.assembly.audit.sent(), store.operations_sent());
    let id = beijing
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle.clone()),
        })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    w.assembly.audit.settled().await;
    assert_eq!(
        w.assembly.audit.sent(),
        sent,
        "the call sent nothing to the guard's writer"
    );
    assert_eq!(
        store.operations_sent(),
        ops + 1,
        "one write: the commit, with the call's record"
    );
    let entries = store.audit_entries(0, 10_000).unwrap();
    let of = |action: &str| {
        entries
            .iter()
            .find(|e| {
                e.record.action == action
                    && e.record.referral.as_ref().map(|r| r.to_string()) == Some(id.clone())
            })
            .unwrap_or_else(|| panic!("no {action} record of {id}: {entries:#?}"))
    };
    let command = of("submit_referral");
    let call = of("call /mediation.court.v1.CourtGateway/SubmitReferral");
    assert_eq!(call.record.outcome, "ok");
    assert!(call.record.actor.starts_with("tenant=court-bj"), "{call:?}");
    assert_eq!(call.seq, command.seq + 1, "written in the same commit");

    // The same court id with another bundle is refused by the command.
    let (sent, ops) = (w.assembly.audit.sent(), store.operations_sent());
    bundle.cause_of_action = "另一案由".into();
    let refused = beijing
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::AlreadyExists, "{refused:?}");
    w.assembly.audit.settled().await;
    assert_eq!(w.assembly.audit.sent(), sent + 1);
    assert_eq!(
        store.operations_sent(),
        ops + 1,
        "one write: the guard's batch, with the refusal"
    );
    let entries = store.audit_entries(0, 10_000).unwrap();
    let rejection = entries
        .iter()
        .rfind(|e| e.record.action == "submit_referral")
        .unwrap();
    assert!(
        rejection.record.outcome.starts_with("rejected:"),
        "{rejection:?}"
    );
    assert_eq!(rejection.seq + 1, entries.len() as u64, "the last entry");
    let call = &entries[rejection.seq as usize - 1];
    assert_eq!(
        call.record.action,
        "call /mediation.court.v1.CourtGateway/SubmitReferral"
    );
    assert!(call.record.outcome.starts_with("AlreadyExists"), "{call:?}");
    assert!(matches!(
        store.verify_audit().unwrap(),
        mediation_core::audit::AuditVerification::Intact { .. }
    ));
}
