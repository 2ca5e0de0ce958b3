//! The simulated court system and partner platforms the gateway delivers to,
//! from the simulation kit, over mutual TLS as in production. The platforms
//! only count what they receive, and remember when they first saw each
//! referral (by the court's reference): a load run sends millions.

use std::net::SocketAddr;
use std::time::Instant;

use mediation_gateway::sim::{
    Inbox, LabourMessage, SimCcpit, SimCourt, SimLabour, SimTraffic, listen, spawn_grpc,
};
use tonic::service::Routes;
use tonic::transport::ServerTlsConfig;

use crate::gateway::Setup;

/// Where the simulated systems listen, and what they received.
#[derive(Debug, Clone)]
pub struct Platforms {
    pub court: SocketAddr,
    pub ccpit: SocketAddr,
    pub labour: SocketAddr,
    pub traffic: SocketAddr,
    pub offers: Offers,
}

/// The offers of all three platforms, as one count: a referral is offered
/// to one platform only.
#[derive(Debug, Clone)]
pub struct Offers {
    ccpit: SimCcpit,
    labour: SimLabour,
    traffic: SimTraffic,
}

impl Offers {
    fn new() -> Self {
        Self {
            ccpit: SimCcpit {
                offers: Inbox::counting(|o| o.court_reference.clone()),
                decisions: Inbox::counting(|_| String::new()),
                offer_traces: Inbox::counting(|_| String::new()),
            },
            labour: SimLabour {
                messages: Inbox::counting(LabourMessage::court_reference),
            },
            traffic: SimTraffic {
                cases: Inbox::counting(|c| c.court_reference.clone()),
                decisions: Inbox::counting(|_| String::new()),
                insurers: Inbox::counting(|_| String::new()),
            },
        }
    }

    /// Distinct referrals received.
    pub fn distinct(&self) -> usize {
        self.ccpit.offers.distinct()
            + self.labour.messages.distinct()
            + self.traffic.cases.distinct()
    }

    /// Every delivery, repeats included.
    pub fn deliveries(&self) -> u64 {
        self.ccpit.offers.taken() + self.labour.messages.taken() + self.traffic.cases.taken()
    }

    pub fn first_seen(&self, reference: &str) -> Option<Instant> {
        self.ccpit
            .offers
            .first_seen(reference)
            .or_else(|| self.labour.messages.first_seen(reference))
            .or_else(|| self.traffic.cases.first_seen(reference))
    }

    pub fn clear(&self) {
        self.ccpit.offers.clear();
        self.labour.messages.clear();
        self.traffic.cases.clear();
    }
}

impl Platforms {
    pub async fn start(setup: &Setup) -> Self {
        let offers = Offers::new();
        let court = SimCourt::new(Inbox::counting(|_| String::new()));
        let tls = |who: &str| {
            Some(
                ServerTlsConfig::new()
                    .identity(setup.identity(who))
                    .client_ca_root(setup.ca()),
            )
        };
        let serve = |routes: Routes, who: &str| {
            let tls = tls(who);
            async move {
                let (listener, addr) = listen().await.unwrap();
                spawn_grpc(listener, tls, routes);
                addr
            }
        };
        Self {
            court: serve(Routes::new(court.server()), "court-bj").await,
            ccpit: serve(Routes::new(offers.ccpit.server()), "ccpit").await,
            labour: serve(Routes::new(offers.labour.server()), "labour").await,
            traffic: serve(Routes::new(offers.traffic.server()), "traffic").await,
            offers,
        }
    }
}
