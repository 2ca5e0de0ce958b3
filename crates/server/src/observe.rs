//! Metrics in the Prometheus text format, and the plain-HTTP endpoint that
//! serves them with the liveness and readiness probes.
//!
//! Counters and histograms are recorded where things happen (the call guard,
//! the relay, the store's writer, the deadline engine). The gauges that
//! describe state, such as the outbox depth and the age of its oldest message
//! per destination, are sampled here.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use jiff::Timestamp;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;

use crate::app::Assembly;
use crate::health::Readiness;

/// Every metric the gateway exports, for the alert rules and dashboard in
/// `deploy/` to be checked against.
pub const METRICS: &[&str] = &[
    "gateway_requests_total",
    "gateway_request_seconds",
    "gateway_delivery_attempts_total",
    "gateway_delivery_failures_total",
    "gateway_delivery_seconds",
    "gateway_outbox_pending",
    "gateway_outbox_dead",
    "gateway_outbox_oldest_age_seconds",
    "gateway_destination_unreachable",
    "gateway_deadline_timers_due_total",
    "gateway_deadline_timers_fired_total",
    "gateway_deadline_next_due_seconds",
    "gateway_deadline_sweep_seconds",
    "gateway_retention_purged_total",
    "gateway_retention_files_removed_total",
    "gateway_retention_audit_details_purged_total",
    "gateway_retention_pass_seconds",
    "gateway_store_group_operations",
    "gateway_store_flush_seconds",
    "gateway_ready",
    "gateway_alert_webhook_posts_total",
    "gateway_alerts_open",
    "gateway_build_info",
];

/// The gRPC codes the alert rules look for, registered for every method.
const ERROR_CODES: [&str; 4] = ["Internal", "Unavailable", "Unknown", "DataLoss"];

/// The process's recorder, installed on first use. Metrics recorded before
/// it is installed, or in a process that never installs it, go nowhere.
pub fn recorder() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let seconds = [
            0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let sizes = [
            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
        ];
        let builder = PrometheusBuilder::new()
            .set_buckets(&seconds)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("gateway_store_group_operations".into()),
                    &sizes,
                )
            });
        let recorder = match builder {
            Ok(builder) => builder.build_recorder(),
            Err(_) => PrometheusBuilder::new().build_recorder(),
        };
        let handle = recorder.handle();
        // Another recorder may already be installed (tests that build many
        // gateways in one process); this handle then renders nothing new.
        let _ = metrics::set_global_recorder(recorder);
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "gateway_requests_total",
        "gRPC calls by method and status code"
    );
    describe_histogram!("gateway_request_seconds", "gRPC call latency by method");
    describe_counter!(
        "gateway_delivery_attempts_total",
        "Delivery attempts by destination and outcome (delivered, retry, dead)"
    );
    describe_counter!(
        "gateway_delivery_failures_total",
        "Failed delivery attempts by destination"
    );
    describe_histogram!(
        "gateway_delivery_seconds",
        "Delivery attempt latency by destination"
    );
    describe_gauge!("gateway_outbox_pending", "Messages waiting per destination");
    describe_gauge!("gateway_outbox_dead", "Dead letters per destination");
    describe_gauge!(
        "gateway_outbox_oldest_age_seconds",
        "Age of the oldest waiting message per destination"
    );
    describe_gauge!(
        "gateway_destination_unreachable",
        "1 while a destination has failed too often in a row"
    );
    describe_counter!(
        "gateway_deadline_timers_due_total",
        "Deadline timers found due"
    );
    describe_counter!(
        "gateway_deadline_timers_fired_total",
        "Deadline timers fired by kind; *_breach kinds are missed deadlines"
    );
    describe_gauge!(
        "gateway_deadline_next_due_seconds",
        "Seconds until the next deadline timer is due (negative when overdue); NaN when no timer is running"
    );
    describe_histogram!(
        "gateway_deadline_sweep_seconds",
        "Time of each deadline sweep that found timers due, firing them all"
    );
    describe_counter!(
        "gateway_retention_purged_total",
        "Referrals whose personal data a retention pass purged (PIPL Art. 47)"
    );
    describe_counter!(
        "gateway_retention_files_removed_total",
        "Case files removed from disk once no referral listed them"
    );
    describe_counter!(
        "gateway_retention_audit_details_purged_total",
        "Audit entries whose outcome detail a retention pass purged; the entry and its hash stay"
    );
    describe_histogram!(
        "gateway_retention_pass_seconds",
        "Time of each retention pass over every referral"
    );
    describe_histogram!(
        "gateway_store_group_operations",
        "Operations made durable per flush"
    );
    describe_histogram!(
        "gateway_store_flush_seconds",
        "Time to make one group durable"
    );
    describe_counter!(
        "gateway_store_batches_total",
        "Groups of operations applied to the store, one batch each"
    );
    describe_counter!(
        "gateway_store_key_writes_total",
        "Keys written or removed in the store's batches (docs/store.md, writes per referral)"
    );
    describe_histogram!(
        "gateway_store_checkpoint_seconds",
        "Pause of each store checkpoint (a reopening that bounds the next restart)"
    );
    describe_gauge!("gateway_ready", "1 while the gateway reports SERVING");
    describe_counter!(
        "gateway_alert_webhook_posts_total",
        "Alert webhook posts by hook and result (ok, failed, rejected: refused as invalid)"
    );
    describe_gauge!(
        "gateway_alerts_open",
        "Alerts not yet acknowledged, by kind; *_breach kinds are open breaches"
    );
    describe_gauge!(
        "gateway_build_info",
        "1, labelled with the gateway's version"
    );
}

/// Registers every counter at 0 for each label value known at start: a
/// counter that first appears at its first increment reads as no increase to
/// Prometheus's `increase()`, so the first breach after a restart would not
/// fire its rule, and dashboards would show "No data" rather than 0. Also
/// sets the build-info gauge and describes the process metrics.
pub fn register_known(assembly: &Assembly) {
    use mediation_core::timer::TimerKind;
    metrics::counter!("gateway_deadline_timers_due_total").increment(0);
    metrics::counter!("gateway_retention_purged_total").increment(0);
    metrics::counter!("gateway_retention_files_removed_total").increment(0);
    metrics::counter!("gateway_retention_audit_details_purged_total").increment(0);
    for kind in TimerKind::ALL {
        metrics::counter!("gateway_deadline_timers_fired_total", "kind" => kind.as_str())
            .increment(0);
    }
    for destination in assembly.destination_keys() {
        for outcome in ["delivered", "retry", "dead"] {
            metrics::counter!("gateway_delivery_attempts_total", "destination" => destination.clone(), "outcome" => outcome)
                .increment(0);
        }
        metrics::counter!("gateway_delivery_failures_total", "destination" => destination)
            .increment(0);
    }
    for path in mediation_proto::served_methods() {
        let method = mediation_api::guard::metric_label(path).to_owned();
        for code in std::iter::once("ok").chain(ERROR_CODES) {
            metrics::counter!("gateway_requests_total", "method" => method.clone(), "code" => code)
                .increment(0);
        }
    }
    for hook in assembly.webhook_names() {
        for result in ["ok", "failed", "rejected"] {
            metrics::counter!("gateway_alert_webhook_posts_total", "hook" => hook.clone(), "result" => result)
                .increment(0);
        }
    }
    metrics::gauge!("gateway_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    process().describe();
}

/// The process collector of the Prometheus ecosystem (CPU, memory, open
/// file descriptors, threads), as `process_*` metrics.
fn process() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

/// Open (unacknowledged) alerts by kind, read from the alert log.
async fn sample_open_alerts(store: &crate::backend::GatewayStore) {
    use mediation_core::alert::AlertKind;
    use mediation_core::store::AlertLog as _;
    let mut open: std::collections::BTreeMap<AlertKind, u64> =
        AlertKind::ALL.iter().map(|k| (*k, 0)).collect();
    let mut cursor = 0;
    loop {
        let page = match store.alerts_after(cursor, 1_000).await {
            Ok(page) => page,
            Err(error) => {
                tracing::warn!(%error, "cannot sample the open alerts");
                return;
            }
        };
        let Some(last) = page.last() else { break };
        cursor = last.seq;
        let seqs: Vec<u64> = page.iter().map(|a| a.seq).collect();
        let acknowledged = match store.acknowledged(&seqs).await {
            Ok(acknowledged) => acknowledged,
            Err(error) => {
                tracing::warn!(%error, "cannot sample the open alerts");
                return;
            }
        };
        for alert in page.iter().filter(|a| !acknowledged.contains(&a.seq)) {
            *open.entry(alert.record.kind).or_default() += 1;
        }
    }
    for (kind, count) in open {
        metrics::gauge!("gateway_alerts_open", "kind" => kind.as_str()).set(count as f64);
    }
}

/// Samples the gauges that describe state.
pub async fn sample(assembly: &Assembly, now: Timestamp) {
    use mediation_core::store::{OutboxStore as _, TimerStore as _};
    let store = assembly.gateway.store();
    match store.backlog().await {
        Ok(backlog) => {
            for b in backlog {
                let labels = [("destination", b.destination.clone())];
                metrics::gauge!("gateway_outbox_pending", &labels).set(b.pending as f64);
                metrics::gauge!("gateway_outbox_dead", &labels).set(b.dead as f64);
                let age = b
                    .oldest_enqueued_at
                    .map(|t| now.duration_since(t).as_secs_f64().max(0.0))
                    .unwrap_or(0.0);
                metrics::gauge!("gateway_outbox_oldest_age_seconds", &labels).set(age);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot sample the outbox"),
    }
    for d in assembly.relay.destinations().snapshot() {
        metrics::gauge!("gateway_destination_unreachable", "destination" => d.destination)
            .set(if d.unreachable { 1.0 } else { 0.0 });
    }
    // With no timer running there is nothing to measure: the gauge reads
    // NaN, Prometheus's "no value", rather than the last timer's due time.
    let next_due = match store.next_timer_at().await {
        Ok(next) => next_due_seconds(next, now),
        Err(error) => {
            tracing::warn!(%error, "cannot sample the next deadline");
            f64::NAN
        }
    };
    metrics::gauge!("gateway_deadline_next_due_seconds").set(next_due);
    metrics::gauge!("gateway_ready").set(if assembly.health.current().serving {
        1.0
    } else {
        0.0
    });
    sample_open_alerts(store).await;
    process().collect();
    recorder().run_upkeep();
}

/// Seconds until `next`, the earliest deadline timer, is due (negative when
/// overdue); NaN when no timer is running.
pub fn next_due_seconds(next: Option<Timestamp>, now: Timestamp) -> f64 {
    next.map_or(f64::NAN, |next| next.duration_since(now).as_secs_f64())
}

/// Samples every `every` until `shutdown`.
pub async fn run_sampler(
    assembly: Arc<Assembly>,
    every: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        // A sample reads the store: the backlog from the counts the
        // embedded store keeps, or one grouped count in the database, and
        // the alert log. It runs as a task of its own, so that a panic in
        // it is reported and the sampler goes on.
        let a = Arc::clone(&assembly);
        let now = assembly.clock().now();
        if let Err(error) = tokio::spawn(async move { sample(&a, now).await }).await {
            tracing::warn!(%error, "sampling the gauges failed");
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until
/// `shutdown`.
pub async fn serve_http(
    listener: TcpListener,
    health: tokio::sync::watch::Receiver<Readiness>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::http::StatusCode;
    use axum::routing::get;
    let handle = recorder().clone();
    let app = axum::Router::new()
        .route(
            "/metrics",
            get(move || {
                let handle = handle.clone();
                async move {
                    (
                        [("content-type", "text/plain; version=0.0.4")],
                        handle.render(),
                    )
                }
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let readiness = health.borrow().clone();
                async move {
                    if readiness.serving {
                        (StatusCode::OK, "serving\n".to_owned())
                    } else {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not serving: {}\n", readiness.reasons.join("; ")),
                        )
                    }
                }
            }),
        );
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the metrics address, naming it if that fails.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    use anyhow::Context as _;
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics.listen: cannot listen on {addr}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_deadline_has_no_value_without_a_timer() {
        let now: Timestamp = "2025-03-03T09:00:00+08:00".parse().unwrap();
        assert!(next_due_seconds(None, now).is_nan());
        let next = now
            .checked_add(jiff::SignedDuration::from_secs(90))
            .unwrap();
        assert!((next_due_seconds(Some(next), now) - 90.0).abs() < 1e-9);
        assert!((next_due_seconds(Some(now), next) + 90.0).abs() < 1e-9);
    }
}
