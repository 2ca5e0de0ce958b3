//! The floor under the gateway's ingest: a *minimal relay*, the minimal
//! server of [`crate::baseline`] extended to make the fewest calls and synced
//! writes that a referral's flow needs, and nothing of the gateway's own
//! logic (no tokens, validation, routing rules, timers or audit). The ratio
//! of the gateway to it is what the gateway's own work costs, whatever the
//! disk: the disk's and the network's share of the flow is in both.
//!
//! Per referral, as the gateway's flow has it:
//!
//! - in: the court's `SubmitReferral`. Its submission and the outbox's two
//!   entries (the offer to the platform, the court's `routed` notice) are one
//!   durable write, and the court is answered once it is durable;
//! - out, over the same mutual TLS as the gateway, to the same simulated
//!   counterparts: the offer to the platform of the bundle's domain, and the
//!   court's `routed` notice, side by side (they are different lanes);
//! - the offer's receipt, one durable write: its outbox entry removed and the
//!   court's `offer_delivered` notice queued (the notice depends on it);
//! - the `offer_delivered` notice, after the `routed` notice's outcome is
//!   durable (one court lane, delivered in order), and each notice's outcome,
//!   a durable removal.
//!
//! That is one call in, three out and four synced writes. Every write goes
//! through one committer thread with group commit, as in the baseline and
//! the gateway's store. Each destination has at most 32 calls in flight, as
//! the gateway's relay allows (`relay.per_destination_in_flight`).
//!
//! It runs as a separate process (this benchmark binary, started again with
//! `ROLE` set), as the gateway does. The harness asks it, on its standard
//! input, how many deliveries are still waiting, so that one measurement's
//! backlog does not run into the next.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_platform_client::CcpitPlatformClient;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_server::{CourtGateway, CourtGatewayServer};
use mediation_proto::court::v1::court_receiver_client::CourtReceiverClient;
use mediation_proto::labour::v1 as lp;
use mediation_proto::labour::v1::labour_platform_client::LabourPlatformClient;
use mediation_proto::traffic::v1 as tp;
use mediation_proto::traffic::v1::traffic_platform_client::TrafficPlatformClient;
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tonic::transport::{
    Certificate, Channel, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig,
};
use tonic::{Code, Request, Response, Status};

use crate::baseline::{Ops, PKI, Pending, committer};
use crate::platforms::Platforms;

/// Set to the store directory, this binary runs the relay floor.
pub const ROLE: &str = "MG_LOADBENCH_RELAY_FLOOR";
/// Where the simulated court and platforms listen, as `host:port`.
const COURT: &str = "MG_LOADBENCH_FLOOR_COURT";
const CCPIT: &str = "MG_LOADBENCH_FLOOR_CCPIT";
const LABOUR: &str = "MG_LOADBENCH_FLOOR_LABOUR";
const TRAFFIC: &str = "MG_LOADBENCH_FLOOR_TRAFFIC";

/// Calls in flight to one destination, as the gateway's relay allows.
const IN_FLIGHT: usize = 32;
/// The wait before a call that failed in passing is made again.
const RETRY: Duration = Duration::from_millis(100);

/// The outbox's entries of one referral, by the key's last part.
const OFFER: &str = "offer";
const ROUTED: &str = "routed";
const OFFER_DELIVERED: &str = "offer_delivered";

fn outbox(id: &str, entry: &str) -> Vec<u8> {
    format!("o/{id}/{entry}").into_bytes()
}

/// One destination: its connection (one HTTP/2 connection, made when first
/// used, as the gateway's transports make theirs) and its slots.
#[derive(Debug)]
struct Lane {
    channel: Channel,
    slots: Semaphore,
}

#[derive(Debug, Clone, Copy)]
enum Platform {
    Ccpit,
    Labour,
    Traffic,
}

impl Platform {
    /// The platform of the bundle's domain: not the gateway's routing (no
    /// roster, loads or rules), only what reaching the right fake takes.
    fn of(bundle: &pb::CaseBundle) -> Self {
        match pb::DisputeDomain::try_from(bundle.domain) {
            Ok(pb::DisputeDomain::Labour) => Self::Labour,
            Ok(pb::DisputeDomain::RoadTraffic) => Self::Traffic,
            _ => Self::Ccpit,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Ccpit => "ccpit",
            Self::Labour => "labour",
            Self::Traffic => "traffic",
        }
    }
}

/// Whether a call's answer settles the delivery: taken (or taken before),
/// or refused for good. Anything else is tried again, as the gateway does.
fn settled(answer: &Result<(), Status>) -> bool {
    match answer {
        Ok(()) => true,
        Err(status) => matches!(
            status.code(),
            Code::AlreadyExists
                | Code::InvalidArgument
                | Code::FailedPrecondition
                | Code::Unimplemented
                | Code::OutOfRange
        ),
    }
}

#[derive(Debug)]
struct Relay {
    commits: mpsc::Sender<Pending>,
    /// Outbox entries whose delivery's outcome is not yet durable.
    pending: AtomicU64,
    court: Lane,
    ccpit: Lane,
    labour: Lane,
    traffic: Lane,
}

impl Relay {
    /// Writes `ops` durably, with whatever else is waiting.
    async fn commit(&self, ops: Ops) -> Result<(), Status> {
        let (done, durable) = oneshot::channel();
        self.commits
            .send((ops, done))
            .map_err(|_| Status::unavailable("the committer stopped"))?;
        durable
            .await
            .map_err(|_| Status::internal("the commit failed"))
    }

    /// A referral's deliveries, once its submission is durable.
    async fn deliver(self: Arc<Self>, bundle: pb::CaseBundle) {
        let id = bundle.court_referral_id.as_str();
        // The platform's lane and the court's: they wait for nothing but the
        // submission, so they go out side by side.
        let offer = async {
            self.offer(&bundle).await;
            // The receipt: the offer delivered, and the court's notice of
            // it queued, in one write (the gateway's receipt records both).
            self.commit(vec![
                (outbox(id, OFFER), None),
                (outbox(id, OFFER_DELIVERED), Some(b"court".to_vec())),
            ])
            .await
            .expect("the offer's receipt");
        };
        let routed = async {
            self.notice(id, ROUTED).await;
            self.commit(vec![(outbox(id, ROUTED), None)])
                .await
                .expect("the routed notice's outcome");
            self.pending.fetch_sub(1, Ordering::SeqCst);
        };
        tokio::join!(offer, routed);
        // The court's lane is in order: this notice follows the routed one,
        // and it exists only once the receipt is durable.
        self.notice(id, OFFER_DELIVERED).await;
        self.commit(vec![(outbox(id, OFFER_DELIVERED), None)])
            .await
            .expect("the offer_delivered notice's outcome");
        self.pending.fetch_sub(1, Ordering::SeqCst);
    }

    /// Offers the referral to its platform with the RPC the gateway uses for
    /// it, until the platform settles it. The offer carries the bundle's
    /// identity and its text (the summary, most of its bytes) and no more:
    /// building the platform's full message is the gateway's adapters' work.
    async fn offer(&self, b: &pb::CaseBundle) {
        let platform = Platform::of(b);
        let lane = match platform {
            Platform::Ccpit => &self.ccpit,
            Platform::Labour => &self.labour,
            Platform::Traffic => &self.traffic,
        };
        let message_id = format!("{}/{OFFER}", b.court_referral_id);
        loop {
            let slot = lane.slots.acquire().await.unwrap();
            let channel = lane.channel.clone();
            let answer = match platform {
                Platform::Ccpit => CcpitPlatformClient::new(channel)
                    .offer_case(cp::CaseOffer {
                        message_id: message_id.clone(),
                        case_id: b.court_referral_id.clone(),
                        court_reference: b.court_referral_id.clone(),
                        court: b.court.clone(),
                        cause_of_action: b.cause_of_action.clone(),
                        background: b.summary.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
                Platform::Labour => LabourPlatformClient::new(channel)
                    .refer_dispute(lp::DisputeReferral {
                        message_id: message_id.clone(),
                        dispute_id: b.court_referral_id.clone(),
                        court: b.court.clone(),
                        court_reference: b.court_referral_id.clone(),
                        cause_of_action: b.cause_of_action.clone(),
                        background: b.summary.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
                Platform::Traffic => TrafficPlatformClient::new(channel)
                    .delegate_case(tp::AccidentCase {
                        message_id: message_id.clone(),
                        case_id: b.court_referral_id.clone(),
                        court: b.court.clone(),
                        court_reference: b.court_referral_id.clone(),
                        cause_of_action: b.cause_of_action.clone(),
                        background: b.summary.clone(),
                        ..Default::default()
                    })
                    .await
                    .map(|_| ()),
            };
            // The slot is free once the platform answered; the outcome's
            // write holds up only this referral, as in the gateway's relay.
            drop(slot);
            if settled(&answer) {
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Tells the court of `event` by `CourtReceiver.Deliver`, until it
    /// settles it.
    async fn notice(&self, id: &str, event: &str) {
        loop {
            let slot = self.court.slots.acquire().await.unwrap();
            let answer = CourtReceiverClient::new(self.court.channel.clone())
                .deliver(pb::CourtNotice {
                    message_id: format!("{id}/{event}"),
                    // The floor keeps no id of its own: the court's is the key.
                    referral_id: id.to_owned(),
                    court_referral_id: id.to_owned(),
                    event: event.to_owned(),
                    ..Default::default()
                })
                .await
                .map(|_| ());
            drop(slot);
            if settled(&answer) {
                return;
            }
            tokio::time::sleep(RETRY).await;
        }
    }
}

#[derive(Debug)]
struct Floor {
    relay: Arc<Relay>,
}

#[tonic::async_trait]
impl CourtGateway for Floor {
    async fn submit_referral(
        &self,
        request: Request<pb::SubmitReferralRequest>,
    ) -> Result<Response<pb::SubmitReferralResponse>, Status> {
        let request = request.into_inner();
        let encoded = request.encode_to_vec();
        let bundle = request.bundle.unwrap_or_default();
        let id = bundle.court_referral_id.clone();
        let platform = Platform::of(&bundle).name();
        // Counted before the write, so that the harness never sees an
        // answered referral's deliveries as done before they start.
        self.relay.pending.fetch_add(2, Ordering::SeqCst);
        self.relay
            .commit(vec![
                (format!("s/{id}").into_bytes(), Some(encoded)),
                (outbox(&id, OFFER), Some(platform.as_bytes().to_vec())),
                (outbox(&id, ROUTED), Some(b"court".to_vec())),
            ])
            .await?;
        // The store is new each run, so the outbox lives in memory too;
        // a relay that outlived a restart would read it back from `o/`.
        tokio::spawn(Arc::clone(&self.relay).deliver(bundle));
        Ok(Response::new(pb::SubmitReferralResponse {
            referral_id: id,
            ..Default::default()
        }))
    }

    async fn submit_batch(
        &self,
        _: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn get_referral(
        &self,
        _: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn recall_referral(
        &self,
        _: Request<pb::RecallReferralRequest>,
    ) -> Result<Response<pb::RecallReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn reassign_referral(
        &self,
        _: Request<pb::ReassignReferralRequest>,
    ) -> Result<Response<pb::ReassignReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn record_court_outcome(
        &self,
        _: Request<pb::RecordCourtOutcomeRequest>,
    ) -> Result<Response<pb::RecordCourtOutcomeResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn resolve_sham_mediation(
        &self,
        _: Request<pb::ResolveShamMediationRequest>,
    ) -> Result<Response<pb::ResolveShamMediationResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn reroute_referral(
        &self,
        _: Request<pb::RerouteReferralRequest>,
    ) -> Result<Response<pb::RerouteReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }

    async fn record_ruling(
        &self,
        _: Request<pb::RecordRulingRequest>,
    ) -> Result<Response<pb::RecordRulingResponse>, Status> {
        Err(Status::unimplemented("not part of the relay floor"))
    }
}

/// Answers each line on standard input with the deliveries still waiting;
/// ends the process when the harness is gone.
fn answer_pending(relay: Arc<Relay>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() {
                break;
            }
            println!("{}", relay.pending.load(Ordering::SeqCst));
        }
        std::process::exit(0);
    });
}

/// The child process: serves and relays until killed.
pub fn child_main(dir: String) {
    mediation_security::install_crypto_provider();
    let dir = PathBuf::from(dir);
    let pki = PathBuf::from(std::env::var(PKI).unwrap());
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(256 << 20)
        .open()
        .unwrap();
    let (commits, rx) = mpsc::channel();
    std::thread::spawn(move || committer(db, dir, rx));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let read = |name: &str| std::fs::read(pki.join(name)).unwrap();
        // The gateway's side of every outgoing connection: its certificate,
        // the CA, and for a platform the name its server must present
        // (`partners.server_names` in the gateway's configuration).
        let lane = |peer: &str, server_name: Option<&str>| {
            let mut tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(read("ca.pem")))
                .identity(Identity::from_pem(
                    read("gateway.pem"),
                    read("gateway.key.pem"),
                ));
            if let Some(name) = server_name {
                tls = tls.domain_name(name);
            }
            let addr = std::env::var(peer).unwrap();
            Lane {
                channel: Endpoint::from_shared(format!("https://{addr}"))
                    .unwrap()
                    .tls_config(tls)
                    .unwrap()
                    .connect_lazy(),
                slots: Semaphore::new(IN_FLIGHT),
            }
        };
        let relay = Arc::new(Relay {
            commits,
            pending: AtomicU64::new(0),
            court: lane(COURT, None),
            ccpit: lane(CCPIT, Some("ccpit")),
            labour: lane(LABOUR, Some("labour")),
            traffic: lane(TRAFFIC, Some("traffic")),
        });
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(
                read("gateway.pem"),
                read("gateway.key.pem"),
            ))
            .client_ca_root(Certificate::from_pem(read("ca.pem")));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!(
            "relay floor listening on {}",
            listener.local_addr().unwrap()
        );
        answer_pending(Arc::clone(&relay));
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(CourtGatewayServer::new(Floor { relay }))
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await
            .unwrap();
    });
}

/// The relay floor, running.
#[derive(Debug)]
pub struct RelayFloor {
    child: Child,
    pub addr: SocketAddr,
    questions: ChildStdin,
    answers: BufReader<ChildStdout>,
}

impl RelayFloor {
    /// Starts it on a new store in `dir`, with the certificates in `pki`,
    /// delivering to the simulated court and platforms of `platforms`.
    pub fn spawn(dir: &Path, pki: &Path, platforms: &Platforms) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, dir)
            .env(PKI, pki)
            .env(COURT, platforms.court.to_string())
            .env(CCPIT, platforms.ccpit.to_string())
            .env(LABOUR, platforms.labour.to_string())
            .env(TRAFFIC, platforms.traffic.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let questions = child.stdin.take().unwrap();
        let mut answers = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        answers.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("relay floor listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .unwrap();
        Self {
            child,
            addr,
            questions,
            answers,
        }
    }

    /// Deliveries whose outcome is not yet durable.
    fn pending(&mut self) -> u64 {
        writeln!(self.questions, "pending").unwrap();
        self.questions.flush().unwrap();
        let mut line = String::new();
        self.answers.read_line(&mut line).unwrap();
        line.trim().parse().unwrap()
    }

    /// Waits (up to `patience`) until every delivery's outcome is durable,
    /// offers and the court's notices alike; how long that took.
    pub async fn drained(&mut self, patience: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let waiting = self.pending();
            if waiting == 0 {
                break;
            }
            if start.elapsed() > patience {
                println!(
                    "  the relay floor did not drain within {patience:?}: {waiting} deliveries waiting"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        start.elapsed()
    }
}

impl Drop for RelayFloor {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
