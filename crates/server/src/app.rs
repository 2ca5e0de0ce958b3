//! The gateway assembled from its configuration: the store, the case
//! materials, the calendar, the roster, the command path, the relay with its
//! transports, the deadline engine and the gRPC services.
//!
//! `serve` runs it with the system clock; the end-to-end tests build the same
//! assembly with a clock they control, and drive the relay and the deadline
//! engine by hand.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context as _;
use mediation_api::ccpit::{CcpitService, CcpitTransport};
use mediation_api::court::{CourtService, CourtTransport};
use mediation_api::documents::DocumentsService;
use mediation_api::guard::{
    AUDIT_CREDITS_PER_TENANT, AuditProgress, AuditSink, Guard, GuardLayer, write_call_audit,
};
use mediation_api::labour::{LabourService, LabourTransport};
use mediation_api::operations::OperationsService;
use mediation_api::traffic::{TrafficService, TrafficTransport};
use mediation_api::transport::{Destinations, OfferReceipts};
use mediation_calendar::Calendar;
use mediation_core::clock::Clock;
use mediation_core::court::Courts;
use mediation_core::partner::Partner;
use mediation_core::routing::{Roster, Router};
use mediation_core::store::DocumentFiles;
use mediation_delivery::{Relay, RelayOptions};
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGatewayServer;
use mediation_proto::court::v1::court_gateway_server::CourtGatewayServer;
use mediation_proto::documents::v1::documents_server::DocumentsServer;
use mediation_proto::labour::v1::labour_gateway_server::LabourGatewayServer;
use mediation_proto::operations::v1::operations_server::OperationsServer;
use mediation_proto::traffic::v1::traffic_gateway_server::TrafficGatewayServer;
use mediation_security::Tenants;
use mediation_service::{
    Commands, DeadlineEngine, Recompute, RecomputeReport, Retention, ServiceError,
};
use mediation_store::documents::DocumentStore;
use tokio::net::TcpListener;

use crate::backend::GatewayStore;
use crate::config::{Config, load_roster};
use crate::health::Health;
use crate::notify::Notifier;
use crate::security::Security;

/// The subjects of the alerts in the store that are raised once each.
async fn raised_subjects(store: &GatewayStore) -> anyhow::Result<Vec<String>> {
    use mediation_core::store::AlertLog as _;
    let mut subjects = Vec::new();
    let mut cursor = 0;
    loop {
        let page = store
            .alerts_after(cursor, 10_000)
            .await
            .context("reading the alert log")?;
        let Some(last) = page.last() else {
            return Ok(subjects);
        };
        cursor = last.seq;
        subjects.extend(page.into_iter().filter_map(|a| a.record.subject));
    }
}

/// The services the gateway serves, as the health service names them.
pub const SERVICES: &[&str] = &mediation_proto::SERVED_SERVICES;

/// Every part of a running gateway.
#[derive(Debug)]
pub struct Assembly {
    pub gateway: Arc<Commands<GatewayStore>>,
    pub relay: Arc<Relay<GatewayStore, Destinations>>,
    pub engine: Arc<DeadlineEngine<GatewayStore>>,
    /// The purge of personal data past its retention; `None` when the
    /// configuration turns it off.
    pub retention: Option<Arc<Retention<GatewayStore>>>,
    pub roster: Arc<Roster>,
    /// The court registry every part that follows the hierarchy shares.
    pub courts: Courts,
    pub calendar: Arc<RwLock<Calendar>>,
    pub documents: DocumentStore,
    pub security: Security,
    /// Lets a reader wait until every call so far is in the audit log.
    pub audit: AuditProgress,
    /// What the health service and `/readyz` report.
    pub health: Health,
    /// Posts alerts to the configured webhooks.
    pub notifier: Notifier,
    clock: Arc<dyn Clock>,
    /// The clock tokens are checked against: real time, even in a sandbox,
    /// whose moves are the deadlines' and not the credentials'.
    security_clock: Arc<dyn Clock>,
    /// The sandbox's movable clock (the same as `clock`), when configured.
    sandbox: Option<Arc<mediation_core::clock::SandboxClock>>,
    config: Config,
    config_path: std::path::PathBuf,
}

impl Assembly {
    /// Every destination the configuration names, as metric labels name them.
    pub fn destination_keys(&self) -> Vec<String> {
        use mediation_core::outbox::Destination;
        let mut keys = Vec::new();
        let p = &self.config.partners;
        for (partner, url) in [
            (Partner::Ccpit, &p.ccpit),
            (Partner::LabourArbitration, &p.labour_arbitration),
            (Partner::RoadTraffic, &p.road_traffic),
        ] {
            if url.is_some() {
                keys.push(Destination::Partner(partner).key());
            }
        }
        if let Ok(courts) = self.config.court_addresses(&self.config_path) {
            keys.extend(courts.into_keys().map(|c| Destination::Court(c).key()));
        }
        keys
    }

    /// The names of the configured alert webhooks.
    pub fn webhook_names(&self) -> Vec<String> {
        self.config
            .alerts
            .webhook
            .iter()
            .map(|w| w.name.clone())
            .collect()
    }

    /// Opens the store and reads everything the configuration names. Relative
    /// paths in the configuration are taken from the working directory.
    pub async fn build(
        config_path: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
        relay_options: RelayOptions,
    ) -> anyhow::Result<Self> {
        Self::assemble(
            config_path,
            config,
            Arc::clone(&clock),
            clock,
            None,
            relay_options,
        )
        .await
    }

    /// The same, for a sandbox: deadlines, deliveries and alerts follow
    /// `clock`, which operators may move forward (`AdvanceClock`); tokens
    /// are still checked against the system's clock.
    pub async fn build_sandboxed(
        config_path: &Path,
        config: Config,
        clock: Arc<mediation_core::clock::SandboxClock>,
        relay_options: RelayOptions,
    ) -> anyhow::Result<Self> {
        let domain: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
        Self::assemble(
            config_path,
            config,
            domain,
            Arc::new(mediation_core::clock::SystemClock),
            Some(clock),
            relay_options,
        )
        .await
    }

    async fn assemble(
        config_path: &Path,
        config: Config,
        clock: Arc<dyn Clock>,
        security_clock: Arc<dyn Clock>,
        sandbox: Option<Arc<mediation_core::clock::SandboxClock>>,
        relay_options: RelayOptions,
    ) -> anyhow::Result<Self> {
        // Transport security first: a configuration that would expose the
        // gateway is refused before anything is opened.
        let registry = config.court_registry(config_path)?;
        let security = Security::build(&config, &registry, Arc::clone(&security_clock))
            .with_context(|| format!("{}: transport security", config_path.display()))?;
        let calendar = Calendar::load_dir(&config.calendar_dir).with_context(|| {
            format!(
                "cannot load the calendar from {}",
                config.calendar_dir.display()
            )
        })?;
        let roster_entries = load_roster(&config.roster, &registry)?;
        let courts = Courts::new(registry);
        let roster = Arc::new(Roster::new(roster_entries, courts.clone()));
        let opening = std::time::Instant::now();
        match config.store.backend {
            crate::config::Backend::Sled => {
                tracing::info!(backend = "sled", path = %config.store_dir().display(), "opening the store");
            }
            crate::config::Backend::Postgres => {
                tracing::info!(backend = "postgres", url = %config.store.postgres.url.as_deref().map(mediation_store_postgres::redacted).unwrap_or_default(), "opening the store");
            }
        }
        let store = GatewayStore::open(&config).await?;
        tracing::info!(seconds = opening.elapsed().as_secs_f64(), "store opened");
        let documents = DocumentStore::open(config.documents_dir()).with_context(|| {
            format!(
                "cannot open the documents at {}",
                config.documents_dir().display()
            )
        })?;
        // The years with a notice are not missing: their alerts' claims are
        // given up below.
        let noticed: Vec<String> = calendar
            .years()
            .map(mediation_core::alert::calendar_subject)
            .collect();
        let calendar = Arc::new(RwLock::new(calendar));
        let gateway = Arc::new(Commands::new(
            store.clone(),
            Arc::clone(&calendar),
            config.policies(),
            Arc::clone(&roster) as Arc<dyn Router>,
            courts.clone(),
            Arc::clone(&clock),
        ));
        restore_loads(&gateway, &roster).await?;
        gateway.remember_raised(raised_subjects(&store).await?);
        // A year alerted as missing whose notice is loaded now: should the
        // notice be taken away again, the year is alerted anew (on
        // PostgreSQL, by whichever replica first finds it missing).
        for subject in &noticed {
            if let Err(error) = store.release_alert_subject(subject).await {
                tracing::warn!(%error, %subject, "cannot give up the claim on a year's alert");
            }
        }
        let p = &config.partners;
        let out = &security.outbound;
        let destinations = Destinations {
            courts: CourtTransport::new(config.court_addresses(config_path)?, courts.clone(), out)?,
            ccpit: p
                .ccpit
                .as_deref()
                .map(|u| CcpitTransport::new(u, &out.expecting(p.server_names.ccpit.as_deref())))
                .transpose()
                .map_err(|e| anyhow::anyhow!("partners.ccpit: {e}"))?,
            labour: p
                .labour_arbitration
                .as_deref()
                .map(|u| {
                    LabourTransport::new(
                        u,
                        &out.expecting(p.server_names.labour_arbitration.as_deref()),
                    )
                })
                .transpose()
                .map_err(|e| anyhow::anyhow!("partners.labour_arbitration: {e}"))?,
            traffic: p
                .road_traffic
                .as_deref()
                .map(|u| {
                    TrafficTransport::new(u, &out.expecting(p.server_names.road_traffic.as_deref()))
                })
                .transpose()
                .map_err(|e| anyhow::anyhow!("partners.road_traffic: {e}"))?,
            receipts: Some(Arc::clone(&gateway) as Arc<dyn OfferReceipts>),
        };
        let relay = Arc::new(Relay::new(
            store,
            Arc::new(destinations),
            Arc::clone(&clock),
            relay_options,
        ));
        let engine = Arc::new(DeadlineEngine::new(Arc::clone(&gateway)));
        let retention = if config.retention.enabled {
            let files: Arc<dyn mediation_core::store::DocumentFiles> = Arc::new(documents.clone());
            Some(Arc::new(Retention::new(
                Arc::clone(&gateway),
                Some(files),
                config.retention.options().map_err(anyhow::Error::msg)?,
            )))
        } else {
            None
        };
        let health = Health::new(
            gateway.store().clone(),
            relay.destinations(),
            config.health.required_partners.clone(),
        );
        // Alertmanager is told real times: the security clock is the
        // system's, also on a sandbox.
        let notifier = Notifier::new(
            &config.alerts,
            gateway.store().clone(),
            &config.data_dir.join("webhooks"),
            Arc::clone(&clock),
            Arc::clone(&security_clock),
            &security.outbound,
        )
        .await?;
        Ok(Self {
            gateway,
            relay,
            engine,
            retention,
            roster,
            courts,
            calendar,
            documents,
            security,
            audit: AuditProgress::default(),
            health,
            notifier,
            clock,
            security_clock,
            sandbox,
            config,
            config_path: config_path.to_owned(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Reads the court registry, the roster, the calendar and the tenants
    /// with their token keys again; on any error keeps all of them as they
    /// were and says why. When
    /// the calendar changed, running deadlines are recomputed in the
    /// background (see [`recompute_after`]); the returned handle ends with
    /// that pass.
    pub fn reload(&self) -> anyhow::Result<Reloaded> {
        let registry = self.config.court_registry(&self.config_path)?;
        let entries = load_roster(&self.config.roster, &registry)?;
        let calendar = Calendar::load_dir(&self.config.calendar_dir)?;
        let tenants = Tenants::load(&self.config.auth.tenants, &registry)?;
        let count = entries.len();
        let mediator_count: usize = entries.iter().map(|e| e.mediators.len()).sum();
        let tenant_count = tenants.len();
        let court_count = registry.len();
        self.courts.replace(registry);
        self.roster.replace(entries);
        let (which, added) = {
            let mut installed = self.calendar.write().unwrap_or_else(|p| p.into_inner());
            let which = recompute_after(&installed, &calendar);
            // A notice taken away makes its year missing again: that is
            // worth a new alert.
            let removed: Vec<String> = installed
                .years()
                .filter(|y| !calendar.has_notice(*y))
                .map(mediation_core::alert::calendar_subject)
                .collect();
            self.gateway
                .forget_raised(|s| removed.iter().any(|r| r == s));
            // A notice added ends its year's alert: the replicas' claim on
            // it is given up, so that the year is alerted again (once)
            // should the notice be taken away.
            let added: Vec<String> = calendar
                .years()
                .filter(|y| !installed.has_notice(*y))
                .map(mediation_core::alert::calendar_subject)
                .collect();
            *installed = calendar;
            (which, added)
        };
        if !added.is_empty()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let store = self.gateway.store().clone();
            runtime.spawn(async move {
                for subject in added {
                    if let Err(error) = store.release_alert_subject(&subject).await {
                        tracing::warn!(%error, %subject, "cannot give up the claim on a year's alert");
                    }
                }
            });
        }
        self.security.authenticator.reload(tenants);
        tracing::info!(courts = court_count, organisations = count, mediators = mediator_count, tenants = tenant_count, config = %self.config_path.display(), "court registry, roster, calendar and tenants reloaded");
        let recompute = which.map(|which| {
            let gateway = Arc::clone(&self.gateway);
            tokio::spawn(async move {
                tracing::info!(
                    ?which,
                    "the calendar changed; recomputing running deadlines"
                );
                let result = gateway
                    .recompute_deadlines(which, |r| {
                        tracing::info!(
                            scanned = r.scanned,
                            changed = r.changed,
                            "recomputing running deadlines"
                        );
                    })
                    .await;
                match &result {
                    Ok(r) => tracing::info!(
                        scanned = r.scanned,
                        considered = r.considered,
                        changed = r.changed,
                        still_provisional = r.still_provisional,
                        failed = r.failed,
                        "running deadlines recomputed"
                    ),
                    Err(error) => tracing::error!(
                        %error,
                        "recomputing running deadlines stopped; send SIGHUP again to retry"
                    ),
                }
                result
            })
        });
        Ok(Reloaded { recompute })
    }

    /// Serves every gRPC service on `listener` until `shutdown` completes.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        self.serve_with_console(listener, None, shutdown).await
    }

    /// Serves every gRPC service on `listener`, and the operators' console
    /// on `console` if given, until `shutdown` completes.
    pub async fn serve_with_console(
        &self,
        listener: TcpListener,
        console: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let wake = Some(self.relay.handle());
        let g = &self.gateway;
        let docs: Arc<dyn DocumentFiles> = Arc::new(self.documents.clone());
        // Open streams that only watch (an operator following alerts, a
        // probe watching health) end as soon as the stop begins, so they do
        // not hold the graceful stop for its whole grace period.
        let (stopping, stop_seen) = tokio::sync::watch::channel(false);
        let shutdown = async move {
            shutdown.await;
            let _ = stopping.send(true);
        };
        // Load balancers and orchestrators ask the standard health service;
        // it says what the store and the partners' reachability allow.
        self.health.refresh().await;
        let health_service = self.health.service(stop_seen.clone());
        // grpcurl and similar tools list and call the services by reflection,
        // in both versions of the protocol (older tools know only v1alpha).
        // It lists exactly what is served: the gateway's services, health and
        // reflection itself, not the counterparts' services in `proto/`.
        let reflection = || {
            let mut builder = tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(mediation_proto::DESCRIPTORS)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
            for name in mediation_proto::SERVED_SERVICES.iter().chain(&[
                tonic_health::pb::health_server::SERVICE_NAME,
                tonic_reflection::pb::v1::server_reflection_server::SERVICE_NAME,
                tonic_reflection::pb::v1alpha::server_reflection_server::SERVICE_NAME,
            ]) {
                builder = builder.with_service_name(*name);
            }
            builder
        };
        let reflection_v1 = reflection()
            .build_v1()
            .map_err(|e| tracing::error!(error = %e, "reflection unavailable"))
            .ok();
        let reflection_v1alpha = reflection()
            .build_v1alpha()
            .map_err(|e| tracing::error!(error = %e, "reflection (v1alpha) unavailable"))
            .ok();
        let limits = self.config.limits.limits();
        let max_message = limits.max_message_bytes;
        // Call records go to the audit log through one writer, which ends
        // once the server (holding the only sink) has stopped and the last
        // records are written.
        let (sink, records) = AuditSink::new(self.audit.clone(), AUDIT_CREDITS_PER_TENANT);
        let writer = tokio::spawn(write_call_audit(
            self.gateway.store().clone(),
            records,
            self.audit.clone(),
        ));
        let guard = Guard::new(
            Arc::clone(&self.security.authenticator),
            Arc::clone(&self.security.limits),
            sink,
            Arc::clone(&self.security_clock),
        )
        .with_call_limits(self.config.limits.calls());
        let operations = {
            let operations =
                OperationsService::new(Arc::clone(g), self.relay.destinations(), wake.clone())
                    .with_stop(stop_seen.clone());
            Arc::new(match &self.sandbox {
                Some(clock) => operations.with_sandbox(Arc::clone(clock), Arc::clone(&self.engine)),
                None => operations,
            })
        };
        // The console calls the same operations service through the same
        // guard, and stops when the gRPC server begins to.
        let console = console.map(|listener| {
            let ops: mediation_console::Ops = operations.clone();
            let app = mediation_console::app(
                ops,
                guard.clone(),
                Arc::clone(&self.security_clock),
                self.security.console_tls.is_some(),
                self.config.console.limits(),
            );
            let tls = self.security.console_tls.clone();
            let mut stop = stop_seen.clone();
            let grace = std::time::Duration::from_secs(self.config.shutdown.grace_seconds);
            let cap = crate::connections::effective_cap(self.config.console.max_connections);
            tokio::spawn(async move {
                let stopping = async move {
                    let _ = stop.wait_for(|stopping| *stopping).await;
                };
                mediation_console::serve(listener, app, tls, stopping, grace, cap).await;
            })
        });
        let guard = GuardLayer::new(guard);
        let cap = crate::connections::effective_cap(self.config.limits.max_connections);
        tracing::info!(
            connections = cap,
            streams_per_connection = self.config.limits.streams_per_connection,
            calls_in_flight_per_tenant = self.config.limits.calls_in_flight_per_tenant,
            "serving limits"
        );
        // Per connection: a bounded number of HTTP/2 streams, and keepalive
        // pings so that a vanished peer's connection is closed.
        let mut server = tonic::transport::Server::builder()
            .max_concurrent_streams(self.config.limits.streams_per_connection)
            .http2_keepalive_interval(Some(std::time::Duration::from_secs(60)))
            .http2_keepalive_timeout(Some(std::time::Duration::from_secs(20)));
        if let Some(tls) = &self.security.server_tls {
            server = server.tls_config(tls.clone())?;
        }
        let served = server
            .layer(guard)
            .add_service(health_service)
            .add_optional_service(reflection_v1)
            .add_optional_service(reflection_v1alpha)
            .add_service(
                CourtGatewayServer::new(
                    CourtService::new(Arc::clone(g), wake.clone())
                        .with_documents(docs.clone())
                        .with_limits(limits),
                )
                .max_decoding_message_size(max_message),
            )
            .add_service(
                CcpitGatewayServer::new(
                    CcpitService::new(Arc::clone(g), wake.clone()).with_documents(docs.clone()),
                )
                .max_decoding_message_size(max_message),
            )
            .add_service(
                LabourGatewayServer::new(
                    LabourService::new(Arc::clone(g), wake.clone()).with_documents(docs.clone()),
                )
                .max_decoding_message_size(max_message),
            )
            .add_service(
                TrafficGatewayServer::new(
                    TrafficService::new(Arc::clone(g), wake.clone()).with_documents(docs.clone()),
                )
                .max_decoding_message_size(max_message),
            )
            .add_service(
                DocumentsServer::new(DocumentsService::new(Arc::clone(g), docs.clone()))
                    .max_decoding_message_size(max_message),
            )
            .add_service(
                OperationsServer::from_arc(operations).max_decoding_message_size(max_message),
            )
            .serve_with_incoming_shutdown(
                crate::connections::CappedIncoming::new(incoming(listener), cap),
                shutdown,
            )
            .await;
        if let Some(console) = console
            && console.await.is_err()
        {
            tracing::error!("the console's server failed");
        }
        if writer.await.is_err() {
            tracing::error!("the call audit writer failed");
        }
        served
    }
}

/// What a reload started.
#[derive(Debug)]
pub struct Reloaded {
    /// The recomputation of running deadlines, when the calendar changed.
    pub recompute: Option<tokio::task::JoinHandle<Result<RecomputeReport, ServiceError>>>,
}

/// Which running deadlines a calendar change calls into question: none if
/// nothing changed; the provisional ones if notices were only added (only
/// guesses can be wrong); all of them if an installed notice changed or was
/// removed.
pub fn recompute_after(installed: &Calendar, loaded: &Calendar) -> Option<Recompute> {
    if installed == loaded {
        return None;
    }
    let kept = installed
        .years()
        .all(|year| installed.notice(year) == loaded.notice(year));
    Some(if kept {
        Recompute::Provisional
    } else {
        Recompute::All
    })
}

/// Sets each organisation's open referrals from the counts the store keeps
/// with every commit, so capacity holds across restarts without reading a
/// single history.
async fn restore_loads(gateway: &Commands<GatewayStore>, roster: &Roster) -> anyhow::Result<()> {
    use mediation_core::store::ReferralStore as _;
    let loads = gateway.store().loads().await?;
    let open: u64 = loads.iter().map(|(_, n)| n).sum();
    for (organisation, n) in loads {
        roster.set_load(organisation, u32::try_from(n).unwrap_or(u32::MAX));
    }
    tracing::info!(open, "organisations' loads restored");
    Ok(())
}

/// Accepted connections with `TCP_NODELAY`, so that a small answer is sent at
/// once instead of waiting out the peer's delayed acknowledgement (tens of
/// milliseconds per call, as the load harness showed), and with keepalive
/// probes so that a vanished peer's connection is closed.
fn incoming(listener: TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(std::time::Duration::from_secs(60)))
}

#[cfg(test)]
mod tests {
    use mediation_calendar::{Calendar, Holiday, Notice};
    use mediation_service::Recompute;

    use super::recompute_after;

    fn notice(year: i16, last_day: i8) -> Notice {
        let first = jiff::civil::date(year, 1, 1);
        Notice::new(
            year,
            "test notice",
            vec![Holiday {
                name: "元旦".into(),
                first,
                last: jiff::civil::date(year, 1, last_day),
                working_weekends: vec![],
            }],
        )
        .unwrap()
    }

    #[test]
    fn only_a_changed_calendar_recomputes_and_only_an_edit_recomputes_everything() {
        let installed = Calendar::from_notices([notice(2026, 1)]);
        assert_eq!(recompute_after(&installed, &installed.clone()), None);
        // A new year's notice: only guesses can have been wrong.
        let added = Calendar::from_notices([notice(2026, 1), notice(2027, 3)]);
        assert_eq!(
            recompute_after(&installed, &added),
            Some(Recompute::Provisional)
        );
        // An installed notice corrected, or taken away: any deadline may move.
        let corrected = Calendar::from_notices([notice(2026, 2)]);
        assert_eq!(
            recompute_after(&installed, &corrected),
            Some(Recompute::All)
        );
        assert_eq!(recompute_after(&added, &installed), Some(Recompute::All));
    }
}
