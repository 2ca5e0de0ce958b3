//! A whole gateway, assembled as `serve` assembles it, between simulated court
//! systems (one over gRPC, one by webhook) and the three simulated partner
//! platforms, all real servers on loopback. The clock is a `ManualClock`; the
//! tests run the relay and the deadline engine by hand.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::document::Sha256Digest;
use mediation_core::ids::ReferralId;
use mediation_core::partner::Partner;
use mediation_delivery::{RelayOptions, RetryPolicy};
use mediation_gateway::app::Assembly;
use mediation_gateway::config::Config;
pub(crate) use mediation_gateway::sim::LabourMessage;
use mediation_gateway::sim::{
    AlertHook, CourtAt, OnBreach, SimCcpit, SimConfig, SimCourt, SimLabour, SimTraffic,
    SimWebhookCourt, TlsFiles, spawn_grpc,
};
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::documents::v1 as dp;
use mediation_proto::documents::v1::documents_client::DocumentsClient;
use mediation_proto::labour::v1::labour_gateway_client::LabourGatewayClient;
use mediation_proto::traffic::v1::traffic_gateway_client::TrafficGatewayClient;
use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic::{Response, Status};

use crate::tls::{Authed, TestPki, bearer, channel};

pub(crate) const START: &str = "2025-03-03T09:00:00+08:00"; // a Monday

pub(crate) async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// Accepts TLS connections for the webhook court's axum server, requiring a
/// client certificate from the test CA.
struct TlsListener {
    tcp: TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            // A failed handshake (no or a bad client certificate) is dropped.
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

const ROSTER: &str = r#"
[[organisation]]
id = "ccpit-bj-01"
name = "贸促会北京调解中心"
partner = "ccpit"
confirmed_by = "京"
region = "京01"
domains = ["commercial"]
specialities = ["买卖合同"]
capacity = 50

[[organisation]]
id = "ccpit-bj-02"
name = "贸促会北京第二调解中心"
partner = "ccpit"
confirmed_by = "京"
region = "京02"
domains = ["commercial"]
capacity = 50

[[organisation]]
id = "ccpit-sh-01"
name = "贸促会上海调解中心"
partner = "ccpit"
confirmed_by = "沪"
region = "沪01"
domains = ["commercial"]
capacity = 50

[[organisation]]
id = "labour-bj-cy"
name = "朝阳区劳动争议调解中心"
partner = "labour_arbitration"
confirmed_by = "京03"
region = "京0105"
domains = ["labour"]
capacity = 50

[[organisation]]
id = "traffic-bj-cy"
name = "朝阳区交通事故纠纷调解室"
partner = "road_traffic"
confirmed_by = "京03"
region = "京0105"
domains = ["road_traffic"]
capacity = 50

# The room's invited mediators: the tests' m-201, and one suspended, one
# whose listing ended, one removed.
[[organisation.mediator]]
id = "m-201"
name = "王立新"
qualification = "特邀调解员"
valid_from = "2024-01-01"
valid_until = "2027-12-31"

[[organisation.mediator]]
id = "m-202"
name = "赵敏"
qualification = "特邀调解员"
valid_from = "2024-01-01"
valid_until = "2027-12-31"
standing = "suspended"

[[organisation.mediator]]
id = "m-203"
name = "钱进"
qualification = "律师调解员"
valid_from = "2023-01-01"
valid_until = "2024-12-31"

[[organisation.mediator]]
id = "m-204"
name = "孙莉"
qualification = "特邀调解员"
valid_from = "2024-01-01"
valid_until = "2027-12-31"
standing = "removed"
"#;

/// One alert webhook post: the hook's path and the JSON body.
pub(crate) type HookPost = (String, serde_json::Value);

/// An HTTP receiver for alert webhooks. Posts to `/hooks/flaky` fail with
/// 503 while `flaky_failures` is above zero. Posts to `/hooks/alertmanager`
/// that mention any of `refusing` are refused with 400, as Alertmanager
/// refuses a post with an invalid alert in it; `refused` counts them. Posts
/// to any other hook that mention any of `refusing_elsewhere` are refused
/// with 400 too, as a receiver that cannot read them would.
#[derive(Debug, Clone, Default)]
pub(crate) struct AlertHooks {
    pub(crate) posts: Arc<Mutex<Vec<HookPost>>>,
    pub(crate) flaky_failures: Arc<AtomicUsize>,
    pub(crate) refusing: Arc<Mutex<Vec<String>>>,
    pub(crate) refused: Arc<AtomicUsize>,
    pub(crate) refusing_elsewhere: Arc<Mutex<Vec<String>>>,
}

impl AlertHooks {
    pub(crate) fn to(&self, hook: &str) -> Vec<serde_json::Value> {
        self.posts
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _)| h == hook)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

async fn hook(
    axum::extract::State(hooks): axum::extract::State<AlertHooks>,
    axum::extract::Path(name): axum::extract::Path<String>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::http::StatusCode {
    if name == "flaky"
        && hooks
            .flaky_failures
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
    }
    if name == "alertmanager" {
        let text = body.to_string();
        if hooks
            .refusing
            .lock()
            .unwrap()
            .iter()
            .any(|r| text.contains(r.as_str()))
        {
            hooks.refused.fetch_add(1, Ordering::SeqCst);
            return axum::http::StatusCode::BAD_REQUEST;
        }
    } else {
        let text = body.to_string();
        if hooks
            .refusing_elsewhere
            .lock()
            .unwrap()
            .iter()
            .any(|r| text.contains(r.as_str()))
        {
            return axum::http::StatusCode::BAD_REQUEST;
        }
    }
    hooks.posts.lock().unwrap().push((name, body));
    axum::http::StatusCode::OK
}

/// The gateway and everyone around it.
pub(crate) struct World {
    _dir: tempfile::TempDir,
    pub(crate) clock: Arc<ManualClock>,
    pub(crate) assembly: Arc<Assembly>,
    pub(crate) grpc_court: SimCourt,
    pub(crate) webhook_court: SimWebhookCourt,
    pub(crate) ccpit: SimCcpit,
    pub(crate) labour: SimLabour,
    pub(crate) traffic: SimTraffic,
    /// The Beijing court system (court-bj), the Shanghai one (court-sh).
    pub(crate) court_api: CourtGatewayClient<Authed>,
    pub(crate) sh_court_api: CourtGatewayClient<Authed>,
    pub(crate) ccpit_api: CcpitGatewayClient<Authed>,
    pub(crate) labour_api: LabourGatewayClient<Authed>,
    pub(crate) traffic_api: TrafficGatewayClient<Authed>,
    /// The gateway's address and the PKI, for any other client.
    pub(crate) gateway_addr: SocketAddr,
    pub(crate) pki: TestPki,
    pub(crate) alert_hooks: AlertHooks,
    /// Stops the gateway's gRPC server as SIGTERM would.
    pub(crate) stop: tokio::sync::watch::Sender<bool>,
    pub(crate) served: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl World {
    /// Every referral and how many events it has: what "nothing was
    /// written" is checked against.
    pub(crate) fn written(&self) -> Vec<(ReferralId, usize)> {
        let store = self.assembly.gateway.store().sled().unwrap();
        store
            .referral_ids(None, 100_000)
            .unwrap()
            .into_iter()
            .map(|id| {
                let events = store.history(&id).unwrap().map_or(0, |h| h.len());
                (id, events)
            })
            .collect()
    }

    pub(crate) async fn start() -> World {
        Self::start_with_overlay("").await
    }

    /// The world with `overlay` (TOML) laid over its configuration, as an
    /// operator's `gateway.d/` file would be.
    pub(crate) async fn start_with_overlay(overlay: &str) -> World {
        // The shipped configuration's own paths are relative to the
        // repository; every one the world needs is overridden below.
        let dir = tempfile::tempdir().unwrap();
        let pki = TestPki::generate(dir.path());
        let grpc_court = SimCourt::default();
        let (l, court_addr) = listen().await;
        spawn_grpc(
            l,
            Some(pki.server_tls("court-bj")),
            Routes::new(grpc_court.server()),
        );
        let webhook_court = SimWebhookCourt::default();
        let (l, webhook_addr) = listen().await;
        let webhook_tls = TlsListener {
            tcp: l,
            acceptor: tokio_rustls::TlsAcceptor::from(pki.rustls_server("court-sh")),
        };
        let app = webhook_court.router();
        tokio::spawn(async move { axum::serve(webhook_tls, app).await });
        let (ccpit, labour, traffic) = (
            SimCcpit::default(),
            SimLabour::default(),
            SimTraffic::default(),
        );
        let (l, ccpit_addr) = listen().await;
        spawn_grpc(
            l,
            Some(pki.server_tls("ccpit")),
            Routes::new(ccpit.server()),
        );
        let (l, labour_addr) = listen().await;
        spawn_grpc(
            l,
            Some(pki.server_tls("labour")),
            Routes::new(labour.server()),
        );
        let (l, traffic_addr) = listen().await;
        spawn_grpc(
            l,
            Some(pki.server_tls("traffic")),
            Routes::new(traffic.server()),
        );

        let alert_hooks = AlertHooks::default();
        let (l, hooks_addr) = listen().await;
        let app = axum::Router::new()
            .route("/hooks/{name}", axum::routing::post(hook))
            .with_state(alert_hooks.clone());
        tokio::spawn(async move { axum::serve(l, app).await });
        // The same receiver over HTTPS, requiring the gateway's client
        // certificate, as an Alertmanager behind mutual TLS would.
        let (l, secure_hooks_addr) = listen().await;
        let app = axum::Router::new()
            .route("/hooks/{name}", axum::routing::post(hook))
            .with_state(alert_hooks.clone());
        let secure_hooks = TlsListener {
            tcp: l,
            acceptor: tokio_rustls::TlsAcceptor::from(pki.rustls_server("court-sh")),
        };
        tokio::spawn(async move { axum::serve(secure_hooks, app).await });

        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let roster = dir.path().join("roster.toml");
        std::fs::write(&roster, ROSTER).unwrap();
        // The shipped court registry, copied so that a test can change it.
        let courts = dir.path().join("courts.toml");
        std::fs::copy(repo.join("config/courts.toml"), &courts).unwrap();
        // The shipped notices, copied so that a test can add a year's notice.
        let calendar = dir.path().join("calendar");
        std::fs::create_dir(&calendar).unwrap();
        for notice in std::fs::read_dir(repo.join("config/calendar")).unwrap() {
            let notice = notice.unwrap().path();
            if notice.extension().is_some_and(|e| e == "toml") {
                std::fs::copy(&notice, calendar.join(notice.file_name().unwrap())).unwrap();
            }
        }
        let tenants = dir.path().join("tenants.toml");
        std::fs::write(&tenants, pki.tenants_toml()).unwrap();
        let hook = |name: &str, scheme: &str, addr: SocketAddr| AlertHook {
            name: name.into(),
            url: format!("{scheme}://{addr}/hooks/{name}"),
            ..AlertHook::default()
        };
        let config_path = SimConfig::shipped()
            .profile("production")
            .listen("127.0.0.1:0")
            .data_dir(&dir.path().join("data"))
            .calendar_dir(&calendar)
            .roster(&roster)
            .court_registry(&courts)
            .tenants(&tenants)
            .courts(&[
                ("京", CourtAt::Grpc(format!("https://{court_addr}"))),
                (
                    "沪",
                    CourtAt::Webhook(format!("https://{webhook_addr}/notices")),
                ),
            ])
            .partner(
                Partner::Ccpit,
                &format!("https://{ccpit_addr}"),
                Some("ccpit"),
            )
            .partner(
                Partner::LabourArbitration,
                &format!("https://{labour_addr}"),
                Some("labour"),
            )
            .partner(
                Partner::RoadTraffic,
                &format!("https://{traffic_addr}"),
                Some("traffic"),
            )
            .on_breach(Partner::Ccpit, OnBreach::Reroute)
            // The Beijing courts let the gateway pass their referrals on;
            // the Shanghai ones have not (online rules Art. 12).
            .reassignment_courts(&["京"])
            .on_breach(Partner::LabourArbitration, OnBreach::ReturnToCourt)
            .mutual_tls(&TlsFiles {
                certificate: pki.path("gateway.pem"),
                private_key: pki.path("gateway.key.pem"),
                ca: pki.path("ca.pem"),
            })
            .set("auth.leeway_seconds", 30)
            .set("limits.max_batch", 1000)
            .set("limits.rate_per_second", 1000)
            .set("limits.rate_burst", 2000)
            .set("limits.calls_in_flight_per_tenant", 32)
            .set("limits.tls_handshake_timeout_seconds", 1)
            .set(
                "health.required_partners",
                toml::Value::Array(vec!["ccpit".into()]),
            )
            .set("alerts.instance", "gateway-test")
            .alert_hook(hook("everything", "http", hooks_addr))
            .alert_hook(AlertHook {
                format: Some("alertmanager".into()),
                min_severity: Some("critical".into()),
                ..hook("alertmanager", "http", hooks_addr)
            })
            .alert_hook(AlertHook {
                format: Some("chat".into()),
                kinds: vec!["acceptance_breach".into()],
                ..hook("chat", "http", hooks_addr)
            })
            .alert_hook(hook("flaky", "http", hooks_addr))
            .alert_hook(hook("secure", "https", secure_hooks_addr))
            .write(dir.path())
            .unwrap();
        if !overlay.is_empty() {
            std::fs::write(dir.path().join("gateway.d/test.toml"), overlay).unwrap();
        }
        let config = Config::load(&config_path).unwrap();
        let clock = Arc::new(ManualClock::new(START.parse().unwrap()));
        let options = RelayOptions {
            retry: RetryPolicy {
                first_delay: Duration::from_secs(60),
                max_delay: Duration::from_secs(600),
                jitter: false,
                ..RetryPolicy::default()
            },
            attempt_timeout: Duration::from_secs(5),
            unreachable_after: 2,
            ..RelayOptions::default()
        };
        let assembly = Arc::new(
            Assembly::build(&config_path, config, clock.clone(), options)
                .await
                .unwrap(),
        );
        let (l, gateway_addr) = listen().await;
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let serving = Arc::clone(&assembly);
        let served = tokio::spawn(async move {
            serving
                .serve(l, async move {
                    let _ = stopped.wait_for(|s| *s).await;
                })
                .await
        });
        let now = clock.now();
        let authed = |who: &'static str| {
            let pki = pki.clone();
            async move {
                let ch = channel(gateway_addr, &pki, Some(who)).await.unwrap();
                Authed::new(ch, bearer(&pki.token(who, now)))
            }
        };
        World {
            _dir: dir,
            clock,
            assembly,
            grpc_court,
            webhook_court,
            ccpit,
            labour,
            traffic,
            court_api: CourtGatewayClient::new(authed("court-bj").await),
            sh_court_api: CourtGatewayClient::new(authed("court-sh").await),
            ccpit_api: CcpitGatewayClient::new(authed("ccpit").await),
            labour_api: LabourGatewayClient::new(authed("labour").await),
            traffic_api: TrafficGatewayClient::new(authed("traffic").await),
            gateway_addr,
            pki,
            alert_hooks,
            stop,
            served,
        }
    }

    /// A channel to the gateway as `tenant`, with a token valid from the
    /// tests' clock for a year.
    pub(crate) async fn connect_as(&self, tenant: &str) -> Authed {
        let ch = channel(self.gateway_addr, &self.pki, Some(tenant))
            .await
            .unwrap();
        Authed::new(ch, bearer(&self.pki.token(tenant, self.clock.now())))
    }

    /// Delivers everything that is due now.
    pub(crate) async fn deliver(&self) {
        self.assembly.relay.drain().await.unwrap();
    }

    /// Moves the clock to `instant`, fires every timer due by then and
    /// delivers what that produced.
    pub(crate) async fn at(&self, instant: &str) {
        self.clock.set(instant.parse().unwrap());
        self.assembly.engine.sweep().await.unwrap();
        self.deliver().await;
    }

    pub(crate) fn advance(&self, by: SignedDuration) {
        self.clock.advance(by);
    }

    /// Uploads `bytes` as the tenant `uploader`, in chunks of `chunk` bytes.
    pub(crate) async fn upload(
        &self,
        uploader: &str,
        bytes: &[u8],
        declared: &Sha256Digest,
        chunk: usize,
    ) -> Result<dp::UploadReceipt, Status> {
        let mut messages = vec![dp::UploadChunk {
            part: Some(dp::upload_chunk::Part::Header(dp::UploadHeader {
                sha256: declared.to_string(),
                size_bytes: bytes.len() as u64,
                media_type: "application/pdf".into(),
            })),
        }];
        messages.extend(bytes.chunks(chunk).map(|c| dp::UploadChunk {
            part: Some(dp::upload_chunk::Part::Data(c.to_vec())),
        }));
        DocumentsClient::new(self.connect_as(uploader).await)
            .upload(tokio_stream::iter(messages))
            .await
            .map(Response::into_inner)
    }

    /// Downloads a file as the tenant `requester`.
    pub(crate) async fn download(
        &self,
        referral: &str,
        digest: &Sha256Digest,
        requester: &str,
    ) -> Result<Vec<u8>, Status> {
        let mut stream = DocumentsClient::new(self.connect_as(requester).await)
            .download(dp::DownloadRequest {
                referral_id: referral.into(),
                sha256: digest.to_string(),
            })
            .await?
            .into_inner();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.message().await? {
            bytes.extend(chunk.data);
        }
        Ok(bytes)
    }
}

pub(crate) use mediation_gateway::sim::cases::settlement_parties;

/// Refers `bundle` as `court` and returns the referral's id.
pub(crate) async fn submit_bundle(
    court: &mut CourtGatewayClient<Authed>,
    bundle: mediation_proto::court::v1::CaseBundle,
) -> String {
    court
        .submit_referral(mediation_proto::court::v1::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner()
        .referral_id
}

/// The referral `id` as `court` reads it.
pub(crate) async fn court_view(
    court: &mut CourtGatewayClient<Authed>,
    id: &str,
) -> mediation_proto::court::v1::GetReferralResponse {
    court
        .get_referral(mediation_proto::court::v1::GetReferralRequest {
            referral_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

pub(crate) fn digest(bytes: &[u8]) -> Sha256Digest {
    Sha256Digest::from_bytes(Sha256::digest(bytes).into())
}

pub(crate) fn ts(s: &str) -> Option<prost_types::Timestamp> {
    let t: Timestamp = s.parse().unwrap();
    Some(prost_types::Timestamp {
        seconds: t.as_second(),
        nanos: 0,
    })
}

/// A file of `len` bytes that does not compress to nothing.
pub(crate) fn scanned_file(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[0] ^ seed)
        .collect()
}
