//! The standard gRPC health and reflection services, as load balancers and
//! tools such as grpcurl use them.

use mediation_gateway::app::SERVICES;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

use crate::world::World;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reports_serving_and_is_listed_by_reflection() {
    let w = World::start().await;
    let mut health = HealthClient::new(w.connect_as("operators").await);
    for service in SERVICES.iter().chain(&[""]) {
        let status = health
            .check(HealthCheckRequest {
                service: (*service).to_owned(),
            })
            .await
            .unwrap()
            .into_inner()
            .status();
        assert_eq!(status, ServingStatus::Serving, "{service}");
    }
    let err = health
        .check(HealthCheckRequest {
            service: "mediation.nothing.v1.Nothing".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Reflection lists exactly what is served, health and reflection
    // included, and nothing the gateway only calls; in both versions.
    let mut expected: Vec<String> = SERVICES
        .iter()
        .chain(&[
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
        ])
        .map(|s| (*s).to_owned())
        .collect();
    expected.sort();
    let mut reflection = ServerReflectionClient::new(w.connect_as("operators").await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("expected a list of services, got {answer:?}")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, expected);

    // The older protocol, which some tools still speak, says the same, and
    // finds the health service's definition.
    use tonic_reflection::pb::v1alpha as alpha;
    let mut old = alpha::server_reflection_client::ServerReflectionClient::new(
        w.connect_as("operators").await,
    );
    let requests = [
        alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
            ),
        },
        alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(
                alpha::server_reflection_request::MessageRequest::FileContainingSymbol(
                    "grpc.health.v1.Health".into(),
                ),
            ),
        },
    ];
    let mut answers = old
        .server_reflection_info(tokio_stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answer.message_response
    else {
        panic!("expected a list of services, got {answer:?}")
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    assert_eq!(names, expected);
    let answer = answers.message().await.unwrap().unwrap();
    assert!(
        matches!(
            answer.message_response,
            Some(alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f))
                if !f.file_descriptor_proto.is_empty()
        ),
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_watch_sends_a_status_only_when_it_changes() {
    let w = World::start().await;
    let mut health = HealthClient::new(w.connect_as("operators").await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = watch.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::Serving);
    // Health is refreshed again and again with nothing changed: nothing is
    // sent. (Sixty refreshes are a minute of the gateway's own schedule.)
    for _ in 0..60 {
        w.assembly.health.refresh().await;
    }
    let nothing =
        tokio::time::timeout(std::time::Duration::from_millis(300), watch.message()).await;
    assert!(
        nothing.is_err(),
        "a status was sent with no change: {nothing:?}"
    );
    // A change is sent at once.
    w.assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .fail_for_test("disk gone");
    w.assembly.health.refresh().await;
    let changed = tokio::time::timeout(std::time::Duration::from_secs(10), watch.message())
        .await
        .expect("the change was sent")
        .unwrap()
        .unwrap();
    assert_eq!(changed.status(), ServingStatus::NotServing);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_of_an_unknown_service_says_so_and_stays_open_until_the_stop_ends_it() {
    let mut w = World::start().await;
    let mut health = HealthClient::new(w.connect_as("operators").await);
    let mut unknown = health
        .watch(HealthCheckRequest {
            service: "mediation.nothing.v1.Nothing".into(),
        })
        .await
        .expect("a watch of an unknown service is not refused")
        .into_inner();
    let first = unknown.message().await.unwrap().unwrap();
    assert_eq!(first.status(), ServingStatus::ServiceUnknown);
    // The stream stays open: nothing more is sent, and it does not end.
    let open = tokio::time::timeout(std::time::Duration::from_millis(500), unknown.message()).await;
    assert!(open.is_err(), "the stream did not stay open: {open:?}");

    let mut whole = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        whole.message().await.unwrap().unwrap().status(),
        ServingStatus::Serving
    );
    // The stop begins as `serve` begins it: NOT_SERVING, then the stop.
    // Both watches end at once, and the server stops with nothing left
    // open, well within any grace period.
    let started = std::time::Instant::now();
    w.assembly.health.stopping().await;
    w.stop.send(true).unwrap();
    let wait = std::time::Duration::from_secs(5);
    let changed = tokio::time::timeout(wait, whole.message())
        .await
        .expect("the change was sent")
        .unwrap()
        .unwrap();
    assert_eq!(changed.status(), ServingStatus::NotServing);
    for stream in [&mut whole, &mut unknown] {
        let end = tokio::time::timeout(wait, stream.message())
            .await
            .expect("the watch ended when the stop began")
            .expect_err("the watch ends with a status");
        assert_eq!(end.code(), Code::Unavailable, "{end:?}");
    }
    tokio::time::timeout(wait, &mut w.served)
        .await
        .expect("the server stopped with only watches open")
        .unwrap()
        .unwrap();
    assert!(started.elapsed() < wait);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_a_health_watch_open_exits_well_within_the_grace_period() {
    use crate::served::Served;
    // The shipped configuration: a grace period of 20 seconds.
    let served = Served::start("");
    let mut health = HealthClient::new(served.connect("operators", "probe").await);
    let mut watch = health
        .watch(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    watch.message().await.unwrap().expect("the current status");
    let started = std::time::Instant::now();
    let log = tokio::task::spawn_blocking(move || served.stop())
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(8),
        "SIGTERM took {took:?} with a watch open:\n{log}"
    );
    assert!(!log.contains("work still in flight"), "{log}");
    // The watcher saw the stream end, not hang.
    let ended = async {
        loop {
            match watch.message().await {
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(status) => return Some(status.code()),
            }
        }
    };
    let code = tokio::time::timeout(std::time::Duration::from_secs(5), ended)
        .await
        .expect("the watch ended");
    assert!(matches!(code, None | Some(Code::Unavailable)), "{code:?}");
}
