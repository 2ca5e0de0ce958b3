//! Traces across the hops: the OpenTelemetry layer that turns the gateway's
//! `tracing` spans (a call, a commit, a delivery) into OpenTelemetry spans,
//! and, when `traces.otlp_endpoint` is set, their export over OTLP/gRPC.
//!
//! The layer is installed even when nothing is exported, so that a call's
//! `traceparent` is read and sent on with its messages' deliveries either
//! way (`mediation_api::trace_context`). Export runs on the gateway's tokio
//! runtime: the OTLP exporter's gRPC channel needs a tokio reactor, which
//! the SDK's default batch processor, on a thread of its own, lacks.

use std::time::Duration;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing_subscriber::registry::LookupSpan;

use crate::config::TraceSettings;

/// How long an export may take before it is given up.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The tracer provider: spans are exported until [`Traces::shutdown`].
#[derive(Debug)]
pub struct Traces {
    provider: SdkTracerProvider,
}

/// The layer and the provider behind it, for `settings`. Call from within
/// the tokio runtime: the exporter's batches are sent from a task on it.
pub fn layer<S>(
    settings: &TraceSettings,
) -> anyhow::Result<(
    tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::SdkTracer>,
    Traces,
)>
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    let mut builder = SdkTracerProvider::builder()
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(
            Resource::builder()
                .with_service_name(settings.service_name.clone())
                .build(),
        );
    if let Some(endpoint) = &settings.otlp_endpoint {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint.clone())
            .with_timeout(EXPORT_TIMEOUT)
            .build()
            .with_context(|| format!("traces.otlp_endpoint: {endpoint}"))?;
        let batches =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        builder = builder.with_span_processor(batches);
    }
    let provider = builder.build();
    let tracer = provider.tracer("mediation-gateway");
    Ok((
        tracing_opentelemetry::layer().with_tracer(tracer),
        Traces { provider },
    ))
}

impl Traces {
    /// Sends what is still batched and stops exporting. It blocks, so it
    /// runs off the runtime's workers.
    pub async fn shutdown(self) {
        let provider = self.provider;
        let done = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        if let Ok(Err(error)) = done {
            tracing::warn!(%error, "the last spans could not be exported");
        }
    }
}
