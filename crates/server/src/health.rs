//! Whether the gateway can do its work, as the standard gRPC health service
//! and the `/readyz` probe report it.
//!
//! - The store stopped taking writes (a failed flush): everything is
//!   NOT_SERVING, since nothing can be acknowledged.
//! - A partner platform is unreachable (the relay's failures in a row): that
//!   platform's service is NOT_SERVING, and so is the gateway as a whole
//!   when `health.required_partners` names it.
//! - Shutting down: everything is NOT_SERVING, so balancers drain it first.

use std::sync::Arc;
use std::time::Duration;

use crate::backend::GatewayStore;
use mediation_core::partner::Partner;
use mediation_delivery::DestinationBoard;
use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::app::SERVICES;

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
    reporter: HealthReporter,
    store: GatewayStore,
    destinations: DestinationBoard,
    required: Vec<Partner>,
    state: Arc<watch::Sender<Readiness>>,
    /// What each service was last reported as. The health protocol's Watch
    /// sends on change only, and the reporter tells watchers of every set,
    /// so a status is set only when it differs.
    reported: Arc<std::sync::Mutex<std::collections::HashMap<&'static str, ServingStatus>>>,
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
        reporter: HealthReporter,
        store: GatewayStore,
        destinations: DestinationBoard,
        required: Vec<Partner>,
    ) -> Self {
        let (state, _) = watch::channel(Readiness {
            serving: false,
            reasons: vec!["starting".into()],
        });
        Self {
            reporter,
            store,
            destinations,
            required,
            state: Arc::new(state),
            reported: Arc::default(),
        }
    }

    /// Reports `status` for `service` if it is not what was last reported.
    async fn report(&self, service: &'static str, status: ServingStatus) {
        let changed = {
            let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
            reported.insert(service, status) != Some(status)
        };
        if changed {
            self.reporter.set_service_status(service, status).await;
        }
    }

    pub fn reporter(&self) -> &HealthReporter {
        &self.reporter
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
            self.report(name, status).await;
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
        )
        .await;
        self.publish(readiness.clone());
        readiness
    }

    /// Reports NOT_SERVING everywhere: the gateway is going away.
    pub async fn stopping(&self) {
        for name in SERVICES.iter().copied().chain([""]) {
            self.report(name, ServingStatus::NotServing).await;
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
