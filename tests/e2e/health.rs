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
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in SERVICES {
        assert!(names.iter().any(|n| n == service), "{service} in {names:?}");
    }
}
