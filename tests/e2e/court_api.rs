//! The court API over real gRPC on loopback: a court system submits, reads and
//! is notified; deliveries reach a simulated court system, in order, once, even
//! when it was down for a while.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::field_paths::named_fields;
use crate::tls::{ActingAs, court_system};
use jiff::SignedDuration;
use mediation_api::court::{CourtAddress, CourtService, CourtTransport, bundle_to_wire};
use mediation_api::outbound::Outbound;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::fixtures::{at, court, sample_bundle, shipped_calendar};
use mediation_core::routing::NoRoster;
use mediation_delivery::{Relay, RelayOptions, RetryPolicy};
use mediation_gateway::sim::{SimCourt, spawn_grpc};
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::court::v1::court_gateway_server::CourtGatewayServer;
use mediation_service::{Commands, Policies};
use mediation_store::{SledStore, StoreOptions};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic_types::StatusExt;

/// A simulated court system on a free port (or `at`), and its address.
async fn court_system_at(at: Option<SocketAddr>) -> (SimCourt, SocketAddr) {
    let listener = TcpListener::bind(at.unwrap_or(([127, 0, 0, 1], 0).into()))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let court = SimCourt::default();
    spawn_grpc(listener, None, Routes::new(court.server()));
    (court, addr)
}

/// How many notices the court system took more than once.
fn duplicates(court: &SimCourt) -> usize {
    let notices = court.notices.all();
    let distinct: std::collections::BTreeSet<_> = notices.iter().map(|n| &n.message_id).collect();
    notices.len() - distinct.len()
}

struct Gatewayed {
    _dir: tempfile::TempDir,
    client: CourtGatewayClient<tonic::transport::Channel>,
    relay: Arc<Relay<SledStore, CourtTransport>>,
    clock: Arc<ManualClock>,
}

/// Starts the gateway's court API on a free port, delivering to `court_addr`.
async fn start_gateway(court_addr: SocketAddr) -> Gatewayed {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap();
    let clock = Arc::new(ManualClock::new(at("2025-03-03T09:00:00+08:00")));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let gateway = Arc::new(Commands::new(
        store.clone(),
        Arc::new(RwLock::new(shipped_calendar())),
        Policies::default(),
        // No roster yet: every referral goes straight back to the court, which
        // gives the court side something to receive.
        Arc::new(NoRoster),
        mediation_core::fixtures::courts(),
        Arc::clone(&dyn_clock),
    ));
    let transport = CourtTransport::new(
        BTreeMap::from([(
            court("京"),
            CourtAddress::Grpc(format!("http://{court_addr}")),
        )]),
        mediation_core::fixtures::courts(),
        &Outbound::plaintext(),
    )
    .unwrap();
    let options = RelayOptions {
        retry: RetryPolicy {
            jitter: false,
            ..RetryPolicy::default()
        },
        attempt_timeout: Duration::from_secs(2),
        ..RelayOptions::default()
    };
    let relay = Arc::new(Relay::new(store, Arc::new(transport), dyn_clock, options));
    let service = CourtService::new(gateway, Some(relay.handle()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        Server::builder()
            .add_service(CourtGatewayServer::with_interceptor(
                service,
                ActingAs(court_system()),
            ))
            .serve_with_incoming(TcpListenerStream::new(listener))
            .await
            .unwrap();
    });
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let client = CourtGatewayClient::new(channel);
    Gatewayed {
        _dir: dir,
        client,
        relay,
        clock,
    }
}

fn request(bundle: pb::CaseBundle) -> pb::SubmitReferralRequest {
    pb::SubmitReferralRequest {
        bundle: Some(bundle),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_court_submits_reads_and_is_notified() {
    let (court_system, court_addr) = court_system_at(None).await;
    let mut g = start_gateway(court_addr).await;

    let first = g
        .client
        .submit_referral(request(bundle_to_wire(&sample_bundle())))
        .await
        .unwrap()
        .into_inner();
    assert!(first.created);
    assert_eq!(first.status(), pb::ReferralStatus::ReturnedToCourt);
    let again = g
        .client
        .submit_referral(request(bundle_to_wire(&sample_bundle())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (again.referral_id.as_str(), again.created),
        (first.referral_id.as_str(), false)
    );

    let mut changed = bundle_to_wire(&sample_bundle());
    changed.cause_of_action = "借款合同纠纷".into();
    let err = g
        .client
        .submit_referral(request(changed))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);

    let view = g
        .client
        .get_referral(pb::GetReferralRequest {
            referral_id: first.referral_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.court_referral_id, "BJ0105-2025-000123");
    let timeline: Vec<_> = view.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        timeline,
        ["received", "returned_to_court", "court_decision_awaited"]
    );

    g.relay.drain().await.unwrap();
    assert_eq!(
        court_system.events_of(&first.referral_id),
        ["returned_to_court"]
    );
    let notice = court_system.notices.all()[0].clone();
    assert_eq!(notice.court_referral_id, "BJ0105-2025-000123");
    assert!(
        notice.detail_json.contains("no_eligible_organisation"),
        "{}",
        notice.detail_json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_bundle_is_refused_field_by_field_and_nothing_is_kept() {
    let (_, court_addr) = court_system_at(None).await;
    let mut g = start_gateway(court_addr).await;

    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.consents.clear();
    bundle.parties[0].identity.as_mut().unwrap().number = "110105194912310021".into();
    let err = g.client.submit_referral(request(bundle)).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = named_fields(&err);
    // The bad field and the rule across fields (no consent at all), in one
    // answer.
    assert_eq!(
        fields,
        ["bundle.parties[0].identity.number", "bundle.consents"]
    );

    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.consents.clear();
    let err = g.client.submit_referral(request(bundle)).await.unwrap_err();
    let bad = err.get_details_bad_request().unwrap();
    assert_eq!(bad.field_violations[0].field, "bundle.consents");
    assert!(
        bad.field_violations[0]
            .description
            .contains("consent to mediation is required")
    );

    let err = g
        .client
        .submit_referral(pb::SubmitReferralRequest { bundle: None })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);

    // Nothing was kept: nothing to deliver, and a bad id is refused plainly.
    assert_eq!(g.relay.drain().await.unwrap(), 0);
    let err = g
        .client
        .get_referral(pb::GetReferralRequest {
            referral_id: "nope".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_a_thousand_referrals_reports_each_bundle() {
    let (court_system, court_addr) = court_system_at(None).await;
    let mut g = start_gateway(court_addr).await;

    let bundles: Vec<pb::CaseBundle> = (0..1000)
        .map(|i| {
            let mut b = bundle_to_wire(&sample_bundle());
            b.court_referral_id = format!("batch-{i}");
            if i == 5 {
                b.consents.clear();
            }
            b
        })
        .collect();
    let response = g
        .client
        .submit_batch(pb::SubmitBatchRequest {
            bundles,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.results.len(), 1000);
    let rejected: Vec<(usize, &pb::Rejection)> = response
        .results
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match &r.result {
            Some(pb::batch_result::Result::Rejected(rejection)) => Some((i, rejection)),
            _ => None,
        })
        .collect();
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0].0, 5);
    assert_eq!(rejected[0].1.code, "INVALID_ARGUMENT");
    assert_eq!(rejected[0].1.violations[0].field, "bundles[5].consents");

    g.relay.drain().await.unwrap();
    assert_eq!(court_system.notices.all().len(), 999);

    let too_many = vec![bundle_to_wire(&sample_bundle()); 1001];
    let err = g
        .client
        .submit_batch(pb::SubmitBatchRequest {
            bundles: too_many,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "bundles"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_court_system_down_for_a_while_then_receives_everything_in_order_once() {
    // Reserve the court's address but serve nothing on it yet.
    let court_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let court_addr = court_listener.local_addr().unwrap();
    drop(court_listener);
    let mut g = start_gateway(court_addr).await;

    let mut ids = Vec::new();
    for i in 0..3 {
        let mut b = bundle_to_wire(&sample_bundle());
        b.court_referral_id = format!("down-{i}");
        ids.push(
            g.client
                .submit_referral(request(b))
                .await
                .unwrap()
                .into_inner()
                .referral_id,
        );
    }
    // Recall the first one too: its lane then holds two notices, in order.
    let recall = pb::RecallReferralRequest {
        referral_id: ids[0].clone(),
        court: "京0105".into(),
        reason: "撤回".into(),
    };
    let err = g.client.recall_referral(recall).await.unwrap_err();
    assert_eq!(
        err.code(),
        Code::FailedPrecondition,
        "a returned referral cannot be recalled: {err:?}"
    );

    // Three attempts fail while the court system is down.
    for _ in 0..3 {
        g.relay.drain().await.unwrap();
        g.clock.advance(SignedDuration::from_mins(10));
    }
    let (court_system, _) = court_system_at(Some(court_addr)).await;
    g.clock.advance(SignedDuration::from_hours(1));
    g.relay.drain().await.unwrap();
    for id in &ids {
        assert_eq!(court_system.events_of(id), ["returned_to_court"]);
    }
    assert_eq!(duplicates(&court_system), 0);
}
