//! Whether the gateway can do its work, as the standard gRPC health service
//! and the `/readyz` probe report it.
//!
//! - The store stopped taking writes (a failed flush): everything is
//!   NOT_SERVING, since nothing can be acknowledged.
//! - A partner platform is unreachable (the relay's failures in a row): that
//!   platform's service is NOT_SERVING, and so is the gateway as a whole
//!   when `health.required_partners` names it.
//! - Shutting down: everything is NOT_SERVING, so balancers drain it first.
//!
//! The gRPC service is the gateway's own ([`HealthGrpc`]) rather than
//! `tonic-health`'s, for two points of the protocol and of shutting down:
//! a `Watch` of a service it does not know answers SERVICE_UNKNOWN and stays
//! open (sending the status once the service becomes known), and every
//! `Watch` ends, UNAVAILABLE, as soon as the gateway begins to stop, so that
//! a probe that only watches does not hold the graceful stop for its whole
//! grace period.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::GatewayStore;
use mediation_core::partner::Partner;
use mediation_delivery::DestinationBoard;
use tokio::sync::{mpsc, watch};
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::pb::health_check_response::ServingStatus as WireStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::app::SERVICES;

/// Each known service's status, by the name the health protocol uses (`""`
/// for the gateway as a whole).
type Statuses = BTreeMap<&'static str, ServingStatus>;

/// What health reports now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    pub serving: bool,
    /// Why not, one reason per problem.
    pub reasons: Vec<String>,
}

/// The gateway's health, kept current by [`Health::run`].
#[derive(Debug, Clone)]
pub struct Health {
    store: GatewayStore,
    destinations: DestinationBoard,
    required: Vec<Partner>,
    state: Arc<watch::Sender<Readiness>>,
    /// What each service is reported as. The health protocol's Watch sends
    /// on change only, so watchers are woken only when a status differs.
    statuses: Arc<watch::Sender<Statuses>>,
}

fn service_of(partner: Partner) -> &'static str {
    match partner {
        Partner::Ccpit => mediation_proto::ccpit::v1::ccpit_gateway_server::SERVICE_NAME,
        Partner::LabourArbitration => {
            mediation_proto::labour::v1::labour_gateway_server::SERVICE_NAME
        }
        Partner::RoadTraffic => mediation_proto::traffic::v1::traffic_gateway_server::SERVICE_NAME,
    }
}

impl Health {
    pub fn new(
        store: GatewayStore,
        destinations: DestinationBoard,
        required: Vec<Partner>,
    ) -> Self {
        let (state, _) = watch::channel(Readiness {
            serving: false,
            reasons: vec!["starting".into()],
        });
        // Until the first refresh, the gateway as a whole is starting.
        let (statuses, _) = watch::channel(Statuses::from([("", ServingStatus::NotServing)]));
        Self {
            store,
            destinations,
            required,
            state: Arc::new(state),
            statuses: Arc::new(statuses),
        }
    }

    /// Reports `status` for `service` if it is not what was last reported.
    fn report(&self, service: &'static str, status: ServingStatus) {
        self.statuses
            .send_if_modified(|statuses| statuses.insert(service, status) != Some(status));
    }

    /// What `service` is reported as; `None` for a service health does not
    /// know.
    pub fn status(&self, service: &str) -> Option<ServingStatus> {
        self.statuses.borrow().get(service).copied()
    }

    /// The standard gRPC health service, answering from this health; its
    /// `Watch` streams end as soon as `stop` turns true (or its sender goes).
    pub fn service(&self, stop: watch::Receiver<bool>) -> HealthServer<HealthGrpc> {
        HealthServer::new(HealthGrpc {
            statuses: self.statuses.subscribe(),
            stop,
        })
    }

    pub fn current(&self) -> Readiness {
        self.state.borrow().clone()
    }

    pub fn watch(&self) -> watch::Receiver<Readiness> {
        self.state.subscribe()
    }

    /// Looks at the store and the destinations and reports what it finds.
    pub async fn refresh(&self) -> Readiness {
        let mut reasons = Vec::new();
        let store_failure = self.store.failure().await;
        if let Some(why) = &store_failure {
            reasons.push(format!("store: {why}"));
        }
        let mut unreachable = Vec::new();
        for partner in Partner::ALL {
            let key = mediation_core::outbox::Destination::Partner(partner).key();
            let down = self.destinations.unreachable(&key);
            if let Some(d) = down.first() {
                unreachable.push(partner);
                if self.required.contains(&partner) {
                    reasons.push(format!(
                        "required partner {} unreachable after {} failed attempts: {}",
                        partner.as_str(),
                        d.consecutive_failures,
                        d.last_error.as_deref().unwrap_or("")
                    ));
                }
            }
        }
        for name in SERVICES {
            let partner_down = Partner::ALL
                .into_iter()
                .any(|p| service_of(p) == *name && unreachable.contains(&p));
            let status = if store_failure.is_some() || partner_down {
                ServingStatus::NotServing
            } else {
                ServingStatus::Serving
            };
            self.report(name, status);
        }
        let readiness = Readiness {
            serving: reasons.is_empty(),
            reasons,
        };
        self.report(
            "",
            if readiness.serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            },
        );
        self.publish(readiness.clone());
        readiness
    }

    /// Reports NOT_SERVING everywhere: the gateway is going away.
    pub async fn stopping(&self) {
        for name in SERVICES.iter().copied().chain([""]) {
            self.report(name, ServingStatus::NotServing);
        }
        self.publish(Readiness {
            serving: false,
            reasons: vec!["shutting down".into()],
        });
    }

    fn publish(&self, readiness: Readiness) {
        self.state.send_if_modified(|current| {
            if *current == readiness {
                return false;
            }
            if readiness.serving {
                tracing::info!("serving");
            } else {
                tracing::warn!(reasons = ?readiness.reasons, "not serving");
            }
            *current = readiness;
            true
        });
    }

    /// Refreshes every `every` until `shutdown`.
    pub async fn run(&self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.refresh().await;
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// The standard gRPC health service (`grpc.health.v1.Health`), as
/// [`Health::service`] builds it.
#[derive(Debug, Clone)]
pub struct HealthGrpc {
    statuses: watch::Receiver<Statuses>,
    /// Turns true when the gateway begins to stop: every `Watch` ends.
    stop: watch::Receiver<bool>,
}

fn response(status: WireStatus) -> HealthCheckResponse {
    HealthCheckResponse {
        status: status as i32,
    }
}

/// What a `Watch` of `service` reports when `statuses` are in force.
fn watched(statuses: &Statuses, service: &str) -> WireStatus {
    statuses
        .get(service)
        .map_or(WireStatus::ServiceUnknown, |s| WireStatus::from(*s))
}

#[tonic::async_trait]
impl tonic_health::pb::health_server::Health for HealthGrpc {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.get_ref().service.as_str();
        let status = self.statuses.borrow().get(service).copied();
        match status {
            Some(status) => Ok(Response::new(response(WireStatus::from(status)))),
            // The protocol: a Check of an unknown service is NOT_FOUND.
            None => Err(Status::not_found("service not registered")),
        }
    }

    type WatchStream = tokio_stream::wrappers::ReceiverStream<Result<HealthCheckResponse, Status>>;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let (tx, rx) = mpsc::channel(4);
        tokio::spawn(follow(
            service,
            self.statuses.clone(),
            self.stop.clone(),
            tx,
        ));
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }
}

/// Sends `service`'s status now and at every change, SERVICE_UNKNOWN while
/// it is not known, until the watcher goes away or the gateway begins to
/// stop; then ends the stream UNAVAILABLE, as a server going away does.
async fn follow(
    service: String,
    mut statuses: watch::Receiver<Statuses>,
    mut stop: watch::Receiver<bool>,
    tx: mpsc::Sender<Result<HealthCheckResponse, Status>>,
) {
    let mut sent = None;
    loop {
        let now = watched(&statuses.borrow_and_update(), &service);
        if sent != Some(now) {
            if tx.send(Ok(response(now))).await.is_err() {
                return;
            }
            sent = Some(now);
        }
        let stopping = async {
            // A stop, or the server that would send it gone: either way
            // the gateway is going away.
            let _ = stop.wait_for(|stopping| *stopping).await;
        };
        tokio::select! {
            // A change first: the NOT_SERVING reported as the stop begins
            // reaches the watcher before the stream ends.
            biased;
            changed = statuses.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            () = stopping => {
                let _ = tx
                    .send(Err(Status::unavailable(
                        "the gateway is shutting down; watch again, here once it is back or on another instance",
                    )))
                    .await;
                return;
            }
            () = tx.closed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt as _;
    use tonic_health::pb::health_server::Health as _;

    fn grpc() -> (watch::Sender<Statuses>, watch::Sender<bool>, HealthGrpc) {
        let (statuses, statuses_rx) =
            watch::channel(Statuses::from([("", ServingStatus::Serving)]));
        let (stop, stop_rx) = watch::channel(false);
        (
            statuses,
            stop,
            HealthGrpc {
                statuses: statuses_rx,
                stop: stop_rx,
            },
        )
    }

    fn request(service: &str) -> Request<HealthCheckRequest> {
        Request::new(HealthCheckRequest {
            service: service.to_owned(),
        })
    }

    async fn next(
        stream: &mut tokio_stream::wrappers::ReceiverStream<Result<HealthCheckResponse, Status>>,
    ) -> Option<Result<HealthCheckResponse, Status>> {
        tokio::time::timeout(Duration::from_secs(5), stream.next())
            .await
            .expect("the watch answered in time")
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_watch_of_an_unknown_service_says_so_stays_open_and_follows_it_once_known() {
        let (statuses, _stop, grpc) = grpc();
        let err = grpc.check(request("mediation.nothing.v1.Nothing")).await;
        assert_eq!(err.unwrap_err().code(), tonic::Code::NotFound);
        let mut stream = grpc
            .watch(request("mediation.nothing.v1.Nothing"))
            .await
            .unwrap()
            .into_inner();
        let first = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(first.status(), WireStatus::ServiceUnknown);
        // Open, and quiet while nothing about it changes.
        statuses.send_modify(|s| {
            s.insert("", ServingStatus::NotServing);
        });
        let quiet = tokio::time::timeout(Duration::from_millis(200), stream.next()).await;
        assert!(quiet.is_err(), "sent without a change: {quiet:?}");
        // Once known, its status is sent.
        statuses.send_modify(|s| {
            s.insert("mediation.nothing.v1.Nothing", ServingStatus::Serving);
        });
        let known = next(&mut stream).await.unwrap().unwrap();
        assert_eq!(known.status(), WireStatus::Serving);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn every_watch_ends_unavailable_as_the_stop_begins_after_the_last_change() {
        let (statuses, stop, grpc) = grpc();
        let mut known = grpc.watch(request("")).await.unwrap().into_inner();
        let mut unknown = grpc.watch(request("nothing")).await.unwrap().into_inner();
        assert_eq!(
            next(&mut known).await.unwrap().unwrap().status(),
            WireStatus::Serving
        );
        assert_eq!(
            next(&mut unknown).await.unwrap().unwrap().status(),
            WireStatus::ServiceUnknown
        );
        // As `serve` stops: NOT_SERVING everywhere, then the stop.
        statuses.send_modify(|s| {
            s.insert("", ServingStatus::NotServing);
        });
        stop.send(true).unwrap();
        assert_eq!(
            next(&mut known).await.unwrap().unwrap().status(),
            WireStatus::NotServing
        );
        for stream in [&mut known, &mut unknown] {
            let end = next(stream).await.unwrap().unwrap_err();
            assert_eq!(end.code(), tonic::Code::Unavailable);
            assert!(next(stream).await.is_none(), "the stream ended");
        }
        // A watch begun after the stop ends at once too.
        let mut late = grpc.watch(request("")).await.unwrap().into_inner();
        assert!(next(&mut late).await.unwrap().is_ok());
        assert_eq!(
            next(&mut late).await.unwrap().unwrap_err().code(),
            tonic::Code::Unavailable
        );
    }
}
