//! The machine's limits, measured beside the gateway: the raw `fdatasync`
//! rate of the data directory's disk, and a minimal gRPC server that stores
//! each submitted referral in sled with group commit and answers once it is
//! durable: no validation, routing, outbox, timers or audit.
//!
//! The minimal server runs as a separate process (this benchmark binary,
//! started again with `ROLE` set), as the gateway does, with the same mutual
//! TLS, so that the two differ only in what the gateway does per referral.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_server::{CourtGateway, CourtGatewayServer};
use prost::Message;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// Set to the store directory, this binary runs the minimal server.
pub const ROLE: &str = "MG_LOADBENCH_BASELINE";
/// Where the harness's PKI is, for a child process.
pub const PKI: &str = "MG_LOADBENCH_PKI";

/// Most writes made durable by one flush, as in the gateway's store.
const MAX_GROUP: usize = 1024;

/// Raw `write 4 KiB + fdatasync` per second in `dir` over `duration`.
pub fn raw_fdatasync_rate(dir: &Path, duration: Duration) -> f64 {
    let path = dir.join("raw-fsync");
    let mut file = File::create(&path).unwrap();
    let block = vec![7u8; 4096];
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < duration {
        file.write_all(&block).unwrap();
        file.sync_data().unwrap();
        n += 1;
    }
    let rate = n as f64 / start.elapsed().as_secs_f64();
    std::fs::remove_file(path).unwrap();
    rate
}

#[derive(Debug)]
struct Minimal {
    commits: mpsc::Sender<Pending>,
}

#[tonic::async_trait]
impl CourtGateway for Minimal {
    async fn submit_referral(
        &self,
        request: Request<pb::SubmitReferralRequest>,
    ) -> Result<Response<pb::SubmitReferralResponse>, Status> {
        let request = request.into_inner();
        let key = request
            .bundle
            .as_ref()
            .map(|b| b.court_referral_id.clone())
            .unwrap_or_default();
        let (done, durable) = oneshot::channel();
        self.commits
            .send((
                vec![(key.clone().into_bytes(), Some(request.encode_to_vec()))],
                done,
            ))
            .map_err(|_| Status::unavailable("the committer stopped"))?;
        durable
            .await
            .map_err(|_| Status::internal("the commit failed"))?;
        Ok(Response::new(pb::SubmitReferralResponse {
            referral_id: key,
            ..Default::default()
        }))
    }

    async fn submit_batch(
        &self,
        _: Request<pb::SubmitBatchRequest>,
    ) -> Result<Response<pb::SubmitBatchResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn get_referral(
        &self,
        _: Request<pb::GetReferralRequest>,
    ) -> Result<Response<pb::GetReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn recall_referral(
        &self,
        _: Request<pb::RecallReferralRequest>,
    ) -> Result<Response<pb::RecallReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn reassign_referral(
        &self,
        _: Request<pb::ReassignReferralRequest>,
    ) -> Result<Response<pb::ReassignReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn record_court_outcome(
        &self,
        _: Request<pb::RecordCourtOutcomeRequest>,
    ) -> Result<Response<pb::RecordCourtOutcomeResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn resolve_sham_mediation(
        &self,
        _: Request<pb::ResolveShamMediationRequest>,
    ) -> Result<Response<pb::ResolveShamMediationResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn reroute_referral(
        &self,
        _: Request<pb::RerouteReferralRequest>,
    ) -> Result<Response<pb::RerouteReferralResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }

    async fn record_ruling(
        &self,
        _: Request<pb::RecordRulingRequest>,
    ) -> Result<Response<pb::RecordRulingResponse>, Status> {
        Err(Status::unimplemented("not part of the baseline"))
    }
}

/// Keys set (`Some`) or removed (`None`) in one durable write.
pub type Ops = Vec<(Vec<u8>, Option<Vec<u8>>)>;
/// A write and who waits for it to be durable.
pub type Pending = (Ops, oneshot::Sender<()>);

/// One thread owns the writes (the minimal server's and the relay
/// floor's): it takes every waiting write, applies them as one batch,
/// flushes, `fdatasync`s sled's files, then answers them all. (Many tasks
/// calling sled's flush at once deadlocked; see docs/benchmarks.md.)
pub fn committer(db: sled::Db, dir: PathBuf, commits: mpsc::Receiver<Pending>) {
    let files: Vec<File> = ["db", "conf"]
        .iter()
        .filter_map(|name| File::open(dir.join(name)).ok())
        .collect();
    while let Ok(first) = commits.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match commits.try_recv() {
                Ok(next) => group.push(next),
                Err(_) => break,
            }
        }
        let mut batch = sled::Batch::default();
        for (ops, _) in &mut group {
            for (key, value) in ops.drain(..) {
                match value {
                    Some(value) => batch.insert(key, value),
                    None => batch.remove(key),
                }
            }
        }
        db.apply_batch(batch).unwrap();
        db.flush().unwrap();
        for file in &files {
            file.sync_data().unwrap();
        }
        for (_, done) in group {
            let _ = done.send(());
        }
    }
}

/// The child process: serves until killed.
pub fn child_main(dir: String) {
    let dir = PathBuf::from(dir);
    let pki = PathBuf::from(std::env::var(PKI).unwrap());
    let db = sled::Config::new()
        .path(&dir)
        .cache_capacity(256 << 20)
        .open()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || committer(db, dir, rx));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let read = |name: &str| std::fs::read(pki.join(name)).unwrap();
        let tls = ServerTlsConfig::new()
            .identity(Identity::from_pem(
                read("gateway.pem"),
                read("gateway.key.pem"),
            ))
            .client_ca_root(Certificate::from_pem(read("ca.pem")));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        println!("baseline listening on {}", listener.local_addr().unwrap());
        Server::builder()
            .tls_config(tls)
            .unwrap()
            .add_service(CourtGatewayServer::new(Minimal { commits: tx }))
            .serve_with_incoming(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            )
            .await
            .unwrap();
    });
}

/// The minimal server, running.
#[derive(Debug)]
pub struct Baseline {
    child: Child,
    pub addr: SocketAddr,
}

impl Baseline {
    pub fn spawn(dir: &Path, pki: &Path) -> Self {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .env(ROLE, dir)
            .env(PKI, pki)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let addr = first
            .trim()
            .strip_prefix("baseline listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
