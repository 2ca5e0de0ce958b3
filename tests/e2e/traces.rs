//! Traces across the hops, against `serve` as shipped with
//! `traces.otlp_endpoint` pointing at an OTLP/gRPC receiver in this test:
//! a court submits a referral with its own `traceparent`; the spans of the
//! call, its commit and the offer's delivery to the platform arrive in that
//! one trace, each a child of the one before; the platform's offer carries
//! the trace on, and the platform's acceptance, sent with it, comes back
//! into the same trace, through its commit to the court's notice.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mediation_gateway::sim;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::console::Gateway;
use crate::replicas::{
    Counterparts, client, eventually, sample_submission, submit_as_court, token,
};

/// An OTLP trace receiver keeping every span it is sent.
#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<(String, Span)>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().unwrap();
        for resource in request.into_inner().resource_spans {
            let service = resource
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|a| a.key == "service.name")
                .and_then(|a| a.value.as_ref()?.value.as_ref())
                .map(|v| match v {
                    AnyValue::StringValue(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_default();
            for scope in resource.scope_spans {
                spans.extend(scope.spans.into_iter().map(|s| (service.clone(), s)));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(n) => n.to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_referrals_spans_from_submit_to_delivery_arrive_in_the_courts_trace() {
    let receiver = Receiver::default();
    let (listener, otlp) = sim::listen().await.unwrap();
    sim::spawn_grpc(
        listener,
        None,
        tonic::service::Routes::new(TraceServiceServer::new(receiver.clone())),
    );
    let dir = tempfile::tempdir().unwrap();
    let Counterparts {
        court,
        ccpit,
        config,
    } = Counterparts::start(dir.path()).await;
    let config = config
        .set("traces.otlp_endpoint", format!("http://{otlp}"))
        .set("traces.service_name", "gateway-under-test")
        .write(dir.path())
        .unwrap();
    let checked = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(dir.path())
        .args(["check-config", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(
        said.contains(&format!("traces: exported over OTLP/gRPC to http://{otlp}")),
        "{said}"
    );
    let gateway = Gateway::start(dir.path(), &config);

    // The court's own trace: its id and the span of its call.
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let court_span = "00f067aa0ba902b7";
    let mut request = sample_submission("TRACED-1");
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-{court_span}-01").parse().unwrap(),
    );
    let id = submit_as_court(&gateway.addr, &config, request).await;

    // The platform's offer carries the trace on.
    eventually("no offer", || !ccpit.offers.all().is_empty()).await;
    let sent = ccpit.offer_traces.all();
    let sent = sent[0]
        .as_deref()
        .expect("the offer carried no traceparent");
    assert_eq!(sent.split('-').nth(1), Some(trace_id), "{sent}");

    // The court hears where its case went.
    eventually("no notice", || !court.events_of(&id).is_empty()).await;

    // And back: the platform accepts, continuing the trace it was sent,
    // as a platform with OpenTelemetry's gRPC instrumentation would.
    let offer = ccpit.offers.all().remove(0);
    let mut platform = CcpitGatewayClient::new(client(&gateway.addr, &token(&config, "ccpit")));
    let mut accept = tonic::Request::new(cp::AcceptCaseRequest {
        case_id: offer.case_id.clone(),
        mediation_centre: offer.mediation_centre.clone(),
        mediator: "m-101".into(),
        ..Default::default()
    });
    accept
        .metadata_mut()
        .insert("traceparent", sent.parse().unwrap());
    platform.accept_case(accept).await.unwrap();
    eventually("no acceptance notice", || {
        court.events_of(&id).iter().any(|e| e == "accepted")
    })
    .await;

    // Stopped, the gateway sends what it still holds.
    gateway.stop();
    let started = Instant::now();
    let trace: Vec<Span> = loop {
        let spans = receiver.spans.lock().unwrap().clone();
        let ours: Vec<Span> = spans
            .iter()
            .filter(|(_, s)| hex(&s.trace_id) == trace_id)
            .map(|(_, s)| s.clone())
            .collect();
        // Three deliveries: the offer, the court's routed notice, and the
        // court's notice of the acceptance.
        if ours.iter().filter(|s| s.name == "deliver").count() >= 3 {
            assert!(
                spans
                    .iter()
                    .all(|(service, _)| service == "gateway-under-test")
            );
            break ours;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the delivery's span never arrived in the court's trace: {:?}",
            spans
                .iter()
                .map(|(_, s)| (&s.name, hex(&s.trace_id)))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let by_id: HashMap<String, &Span> = trace.iter().map(|s| (hex(&s.span_id), s)).collect();
    let named = |name: &str| -> &Span {
        trace.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no {name} span in {:?}",
                trace.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        })
    };
    // The call is a child of the court's span; the commit of the call; the
    // delivery of the call, though the relay made it later, apart from the
    // call.
    let call = named("call");
    assert_eq!(hex(&call.parent_span_id), court_span);
    assert_eq!(
        attribute(call, "method").as_deref(),
        Some("mediation.court.v1.CourtGateway/SubmitReferral")
    );
    let commit = named("commit");
    assert_eq!(hex(&commit.parent_span_id), hex(&call.span_id));
    assert_eq!(attribute(commit, "referral").as_deref(), Some(id.as_str()));
    let deliveries: Vec<&Span> = trace
        .iter()
        .filter(|s| s.name == "deliver" && s.parent_span_id == call.span_id)
        .collect();
    // The offer to the platform, and the court's notice that it was routed.
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    for delivery in &deliveries {
        assert_eq!(hex(&delivery.parent_span_id), hex(&call.span_id));
        assert_eq!(
            attribute(delivery, "referral").as_deref(),
            Some(id.as_str())
        );
        assert!(delivery.start_time_unix_nano >= commit.end_time_unix_nano);
    }
    let deliver = *deliveries
        .iter()
        .find(|s| attribute(s, "destination").as_deref() == Some("partner:ccpit"))
        .expect("no delivery to the platform");
    // The offer's receipt is committed within its delivery's span.
    assert!(
        trace
            .iter()
            .any(|s| s.name == "commit" && s.parent_span_id == deliver.span_id),
        "the offer's receipt is not in the trace"
    );
    // And the platform was sent the delivery's own span as its parent.
    assert_eq!(sent.split('-').nth(2), Some(hex(&deliver.span_id).as_str()));
    assert!(by_id.contains_key(&hex(&deliver.span_id)));

    // Back: the platform's call is a child of the offer's delivery, its
    // commit of the call, and the court's notice of the acceptance of that.
    let accepted = trace
        .iter()
        .find(|s| {
            s.name == "call"
                && attribute(s, "method").as_deref()
                    == Some("mediation.ccpit.v1.CcpitGateway/AcceptCase")
        })
        .expect("the platform's call is not in the trace");
    assert_eq!(accepted.parent_span_id, deliver.span_id);
    assert!(
        trace
            .iter()
            .any(|s| s.name == "commit" && s.parent_span_id == accepted.span_id),
        "the acceptance's commit is not in the trace"
    );
    let notice = trace
        .iter()
        .find(|s| s.name == "deliver" && s.parent_span_id == accepted.span_id)
        .expect("the court's notice of the acceptance is not in the trace");
    assert_eq!(
        attribute(notice, "destination").as_deref(),
        Some("court:京0105")
    );
}
