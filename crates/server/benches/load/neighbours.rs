//! The noisy neighbour: while one tenant (court-sh), within its rate of 200
//! calls a second, keeps as many calls open as it can that send their
//! headers and nothing more, and hundreds of TCP connections that never start
//! TLS, another tenant (court-bj) submits referrals as usual. Its latency is
//! measured quiet, then under the flood, on the same gateway, and the p99
//! ratio is the figure that matters. The flood phase lasts past the TLS
//! handshake timeout, so that the idle connections are seen to be closed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mediation_proto::documents::v1 as dp;
use mediation_proto::documents::v1::documents_client::DocumentsClient;
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

use crate::bundles::Templates;
use crate::gateway::Setup;
use crate::stats::Run;

pub struct Report {
    pub quiet: Run,
    pub flooded: Run,
    /// The same, while court-sh calls far beyond its rate: 2,000 calls each
    /// opened again 100 ms after its refusal, about 20,000 a second.
    pub beyond_rate: Run,
    /// The flooder's calls refused (its share of calls in flight was full).
    pub refused: u64,
    /// The flooder's calls the gateway held open at the end of the flood.
    pub held: u64,
    /// Idle connections the gateway closed for not starting TLS in time.
    pub idle_closed: u64,
}

/// The flood: `connections` connections of `streams` headers-only uploads
/// each, kept up (a refused call is opened again after `retry`, which keeps
/// the whole flood within the tenant's rate), and `idle` TCP connections that
/// never start TLS (one the gateway closes is opened again).
struct Flood {
    tasks: JoinSet<()>,
    refused: Arc<AtomicU64>,
    held: Arc<AtomicU64>,
    idle_closed: Arc<AtomicU64>,
}

impl Flood {
    async fn start(
        setup: &Setup,
        addr: SocketAddr,
        connections: usize,
        streams: usize,
        retry: Duration,
        idle: usize,
    ) -> Self {
        let refused = Arc::new(AtomicU64::new(0));
        let held = Arc::new(AtomicU64::new(0));
        let idle_closed = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        for _ in 0..connections {
            let client = DocumentsClient::new(setup.connect(addr, "court-sh").await);
            for _ in 0..streams {
                let mut client = client.clone();
                let (refused, held) = (Arc::clone(&refused), Arc::clone(&held));
                tasks.spawn(async move {
                    loop {
                        held.fetch_add(1, Ordering::Relaxed);
                        let answer = client
                            .upload(tokio_stream::pending::<dp::UploadChunk>())
                            .await;
                        held.fetch_sub(1, Ordering::Relaxed);
                        if answer.is_err() {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        tokio::time::sleep(retry).await;
                    }
                });
            }
        }
        for _ in 0..idle {
            let idle_closed = Arc::clone(&idle_closed);
            tasks.spawn(async move {
                loop {
                    let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    };
                    let mut byte = [0u8; 1];
                    let _ = stream.read(&mut byte).await;
                    idle_closed.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        Self {
            tasks,
            refused,
            held,
            idle_closed,
        }
    }
}

pub async fn run(
    setup: &Setup,
    addr: SocketAddr,
    templates: &Arc<Templates>,
    seconds: Duration,
    clients: usize,
) -> Report {
    let quiet = crate::closed_loop(
        crate::court_clients(setup, addr, clients).await,
        seconds,
        templates,
        "NQ",
    )
    .await;
    // 10 connections of 50 calls, each opened again 2.5 s after a refusal:
    // at most 200 calls a second, the tenant's rate.
    let mut flood = Flood::start(setup, addr, 10, 50, Duration::from_millis(2_500), 200).await;
    // Let the flood build up before measuring under it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let flooded = crate::closed_loop(
        crate::court_clients(setup, addr, clients).await,
        seconds.max(Duration::from_secs(12)),
        templates,
        "NF",
    )
    .await;
    flood.tasks.abort_all();
    while flood.tasks.join_next().await.is_some() {}
    let refused = flood.refused.load(Ordering::Relaxed);
    let held = flood.held.load(Ordering::Relaxed);
    let idle_closed = flood.idle_closed.load(Ordering::Relaxed);
    let mut flood = Flood::start(setup, addr, 10, 200, Duration::from_millis(100), 0).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let beyond_rate = crate::closed_loop(
        crate::court_clients(setup, addr, clients).await,
        seconds.max(Duration::from_secs(5)),
        templates,
        "NB",
    )
    .await;
    let report = Report {
        quiet,
        flooded,
        beyond_rate,
        refused,
        held,
        idle_closed,
    };
    flood.tasks.abort_all();
    while flood.tasks.join_next().await.is_some() {}
    report
}
