//! The simulated court system and partner platforms the gateway delivers to,
//! over mutual TLS as in production. The platforms record when they first saw a
//! referral (by the court's reference) and how many deliveries it took.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_platform_server::{CcpitPlatform, CcpitPlatformServer};
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_receiver_server::{CourtReceiver, CourtReceiverServer};
use mediation_proto::labour::v1 as lb;
use mediation_proto::labour::v1::labour_platform_server::{LabourPlatform, LabourPlatformServer};
use mediation_proto::traffic::v1 as tr;
use mediation_proto::traffic::v1::traffic_platform_server::{
    TrafficPlatform, TrafficPlatformServer,
};
use tokio::net::TcpListener;
use tonic::transport::{Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

use crate::gateway::Setup;

/// Referrals received by the partner platforms, by the court's reference.
#[derive(Debug, Clone, Default)]
pub struct Receipts {
    first_seen: Arc<Mutex<HashMap<String, Instant>>>,
    deliveries: Arc<AtomicU64>,
}

impl Receipts {
    fn record(&self, reference: String) {
        let now = Instant::now();
        self.deliveries.fetch_add(1, Ordering::Relaxed);
        self.first_seen
            .lock()
            .unwrap()
            .entry(reference)
            .or_insert(now);
    }

    /// Distinct referrals received.
    pub fn distinct(&self) -> usize {
        self.first_seen.lock().unwrap().len()
    }

    /// Every delivery, repeats included.
    pub fn deliveries(&self) -> u64 {
        self.deliveries.load(Ordering::Relaxed)
    }

    pub fn first_seen(&self, reference: &str) -> Option<Instant> {
        self.first_seen.lock().unwrap().get(reference).copied()
    }

    pub fn clear(&self) {
        self.first_seen.lock().unwrap().clear();
        self.deliveries.store(0, Ordering::Relaxed);
    }
}

#[derive(Debug, Clone, Default)]
struct Sim {
    offers: Receipts,
}

#[tonic::async_trait]
impl CourtReceiver for Sim {
    async fn deliver(
        &self,
        _: Request<pb::CourtNotice>,
    ) -> Result<Response<pb::DeliveryAck>, Status> {
        Ok(Response::new(pb::DeliveryAck {}))
    }
}

#[tonic::async_trait]
impl CcpitPlatform for Sim {
    async fn offer_case(&self, r: Request<cp::CaseOffer>) -> Result<Response<cp::Ack>, Status> {
        self.offers.record(r.into_inner().court_reference);
        Ok(Response::new(cp::Ack {}))
    }

    async fn notify_court_decision(
        &self,
        _: Request<cp::CourtDecision>,
    ) -> Result<Response<cp::Ack>, Status> {
        Ok(Response::new(cp::Ack {}))
    }
}

#[tonic::async_trait]
impl LabourPlatform for Sim {
    async fn refer_dispute(
        &self,
        r: Request<lb::DisputeReferral>,
    ) -> Result<Response<lb::Received>, Status> {
        self.offers.record(r.into_inner().court_reference);
        Ok(Response::new(lb::Received {}))
    }

    async fn notify_court_decision(
        &self,
        _: Request<lb::CourtDecision>,
    ) -> Result<Response<lb::Received>, Status> {
        Ok(Response::new(lb::Received {}))
    }
}

#[tonic::async_trait]
impl TrafficPlatform for Sim {
    async fn delegate_case(
        &self,
        r: Request<tr::AccidentCase>,
    ) -> Result<Response<tr::Receipt>, Status> {
        self.offers.record(r.into_inner().court_reference);
        Ok(Response::new(tr::Receipt {}))
    }

    async fn notify_court_decision(
        &self,
        _: Request<tr::CourtDecision>,
    ) -> Result<Response<tr::Receipt>, Status> {
        Ok(Response::new(tr::Receipt {}))
    }
}

/// Where the simulated systems listen, and what they received.
#[derive(Debug, Clone)]
pub struct Platforms {
    pub court: SocketAddr,
    pub ccpit: SocketAddr,
    pub labour: SocketAddr,
    pub traffic: SocketAddr,
    pub offers: Receipts,
}

impl Platforms {
    pub async fn start(setup: &Setup) -> Self {
        let sim = Sim::default();
        let tls = |who: &str| {
            ServerTlsConfig::new()
                .identity(setup.identity(who))
                .client_ca_root(setup.ca())
        };
        let court = serve(
            Server::builder()
                .tls_config(tls("court-bj"))
                .unwrap()
                .add_service(CourtReceiverServer::new(sim.clone())),
        )
        .await;
        let ccpit = serve(
            Server::builder()
                .tls_config(tls("ccpit"))
                .unwrap()
                .add_service(CcpitPlatformServer::new(sim.clone())),
        )
        .await;
        let labour = serve(
            Server::builder()
                .tls_config(tls("labour"))
                .unwrap()
                .add_service(LabourPlatformServer::new(sim.clone())),
        )
        .await;
        let traffic = serve(
            Server::builder()
                .tls_config(tls("traffic"))
                .unwrap()
                .add_service(TrafficPlatformServer::new(sim.clone())),
        )
        .await;
        Self {
            court,
            ccpit,
            labour,
            traffic,
            offers: sim.offers,
        }
    }
}

async fn serve(router: tonic::transport::server::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(router.serve_with_incoming(
        tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
    ));
    addr
}
