//! The W3C trace context across the hops: read from a call's
//! `traceparent`, kept with the messages the call's commands make (the
//! store keeps it beside each message), and sent on every delivery, over
//! gRPC or by webhook.
//!
//! The spans are the `tracing` spans the gateway makes anyway: a call
//! (`call`, the guard's), a commit (`commit`), a delivery (`deliver`). With
//! the OpenTelemetry layer installed (`serve` installs it) each becomes an
//! OpenTelemetry span, and these functions link them into one trace; without
//! it they find no context and send none.

use std::collections::HashMap;

use mediation_core::outbox::TraceContext;
use mediation_core::store::PendingDelivery;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// The header W3C Trace Context names.
pub const TRACEPARENT: &str = "traceparent";

struct Headers<'a>(&'a http::HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Makes `span`, a call's, continue the trace the call's `traceparent`
/// (and `tracestate`) name. A call without one, or with one that is not
/// well formed, starts a trace of its own.
pub fn continue_call(headers: &http::HeaderMap, span: &tracing::Span) {
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    if parent.span().span_context().is_valid() {
        let _ = span.set_parent(parent);
    }
}

/// `span`'s trace context as a `traceparent`; `None` when spans are not
/// traced.
pub fn of(span: &tracing::Span) -> Option<TraceContext> {
    let context = span.context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier
        .get(TRACEPARENT)
        .and_then(|value| TraceContext::parse(value).ok())
}

/// The span of one delivery attempt: a child of the call whose command made
/// the message, when the message carries its trace; a trace of its own
/// otherwise (a timer's breach notice).
pub fn delivery_span(delivery: &PendingDelivery) -> tracing::Span {
    let span = tracing::info_span!(
        "deliver",
        destination = %delivery.message.destination,
        message = %delivery.id,
        referral = %delivery.message.referral,
        attempt = delivery.attempts + 1,
    );
    if let Some(trace) = &delivery.trace {
        let carrier = HashMap::from([(TRACEPARENT.to_owned(), trace.as_str().to_owned())]);
        let _ = span.set_parent(TraceContextPropagator::new().extract(&carrier));
    }
    span
}

/// The current span's trace context, for an outgoing call's headers.
fn current() -> Option<TraceContext> {
    of(&tracing::Span::current())
}

/// A gRPC client interceptor that sends the current span's `traceparent`.
pub fn send_on_grpc(mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if let Some(value) = current().and_then(|t| t.as_str().parse().ok()) {
        request.metadata_mut().insert(TRACEPARENT, value);
    }
    Ok(request)
}

/// Adds the current span's `traceparent` to a webhook's headers.
pub fn send_on_http(headers: &mut http::HeaderMap) {
    if let Some(value) = current().and_then(|t| http::HeaderValue::from_str(t.as_str()).ok()) {
        headers.insert(TRACEPARENT, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use tracing_subscriber::layer::SubscriberExt as _;

    const COURT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    /// Runs `f` with `tracing`'s spans as OpenTelemetry spans, as `serve`
    /// has them.
    fn traced<T>(f: impl FnOnce() -> T) -> T {
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f)
    }

    fn delivery(trace: Option<TraceContext>) -> PendingDelivery {
        let (referral, history) = mediation_core::fixtures::sample_histories().remove(0);
        PendingDelivery {
            id: mediation_core::store::MessageId(format!("{}-1", referral.id())),
            message: mediation_core::outbox::OutboundMessage {
                destination: mediation_core::outbox::Destination::Partner(
                    mediation_core::partner::Partner::Ccpit,
                ),
                referral: referral.id().clone(),
                court_referral_id: referral.bundle().court_referral_id.clone(),
                event: history[0].clone(),
                bundle: None,
                holder: None,
            },
            enqueued_at: history[0].at,
            attempts: 0,
            next_attempt_at: history[0].at,
            last_error: None,
            dead_at: None,
            trace,
        }
    }

    #[test]
    fn a_calls_trace_is_kept_with_its_messages_and_sent_on_their_deliveries() {
        traced(|| {
            let mut headers = http::HeaderMap::new();
            headers.insert(TRACEPARENT, http::HeaderValue::from_static(COURT));
            let call = tracing::info_span!("call");
            continue_call(&headers, &call);
            // The call's own span, in the court's trace.
            let kept = of(&call).expect("a traced call has a context");
            assert_eq!(kept.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_ne!(kept.as_str(), COURT, "the call is a span of its own");

            // Its message's delivery, later: a child of the call.
            let delivery = delivery(Some(kept.clone()));
            let span = delivery_span(&delivery);
            let delivering = of(&span).unwrap();
            assert_eq!(delivering.trace_id(), kept.trace_id());
            // What the webhook and the gRPC call send is the delivery's span.
            let _entered = span.enter();
            let mut out = http::HeaderMap::new();
            send_on_http(&mut out);
            assert_eq!(out[TRACEPARENT], delivering.as_str());
            let request = send_on_grpc(tonic::Request::new(())).unwrap();
            let sent = request.metadata().get(TRACEPARENT).unwrap();
            assert_eq!(sent.to_str().unwrap(), delivering.as_str());
        });
    }

    #[test]
    fn a_malformed_traceparent_starts_a_trace_of_the_calls_own() {
        traced(|| {
            let mut headers = http::HeaderMap::new();
            headers.insert(
                TRACEPARENT,
                http::HeaderValue::from_static("00-nonsense-01"),
            );
            let call = tracing::info_span!("call");
            continue_call(&headers, &call);
            let own = of(&call).unwrap();
            assert_ne!(own.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
            // A message without a trace starts one of its own when delivered.
            let delivery = delivery(None);
            assert!(of(&delivery_span(&delivery)).is_some());
        });
    }

    #[test]
    fn without_a_tracing_layer_nothing_is_found_or_sent() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            TRACEPARENT,
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        let span = tracing::info_span!("call");
        continue_call(&headers, &span);
        assert_eq!(of(&span), None);
        let mut out = http::HeaderMap::new();
        send_on_http(&mut out);
        assert!(out.is_empty());
    }
}
