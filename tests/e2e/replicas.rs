//! Several gateways on one PostgreSQL database, each keeping every promise
//! the single gateway keeps:
//! - three `serve` processes take a court's and a platform's calls in turn;
//!   one is SIGKILLed under load and restarted; nothing acknowledged is
//!   lost, every offer arrives, each referral's notices arrive in order, and
//!   the audit chains verify;
//! - three gateways on one clock sweep the same due timers at once: each
//!   timer fires once, the alert numbers have no gap, and an operator
//!   following the alerts on one replica sees every one, in order.
//!
//! The database is a throwaway cluster on loopback (`mediation-store-postgres`'s
//! `cluster`), installed from the distribution's packages when missing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mediation_api::court::bundle_to_wire;
use mediation_core::alert::AlertKind;
use mediation_core::audit::AuditVerification;
use mediation_core::fixtures::sample_bundle;
use mediation_core::partner::Partner;
use mediation_core::store::{
    AlertLog as _, AuditLog as _, OutboxStore as _, ReferralStore as _, TimerStore as _,
};
use mediation_gateway::commands::Bearer;
use mediation_gateway::sim::{self, CourtAt, Inbox, SimCcpit, SimConfig, SimCourt, SimTenant};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use mediation_store_postgres::cluster::Cluster;
use mediation_store_postgres::{PgOptions, PgStore};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::world::World;

static DATABASES: AtomicU32 = AtomicU32::new(0);

/// One cluster for the whole test binary, a database per test.
fn cluster() -> &'static Cluster {
    static CLUSTER: std::sync::OnceLock<Cluster> = std::sync::OnceLock::new();
    CLUSTER.get_or_init(|| {
        Cluster::start(&std::env::temp_dir()).expect("a throwaway PostgreSQL cluster")
    })
}

fn database(purpose: &str) -> String {
    let name = format!("{purpose}_{}", DATABASES.fetch_add(1, Ordering::Relaxed));
    cluster().create_database(&name).unwrap()
}

fn overlay(url: &str) -> String {
    format!(
        "[store]\nbackend = \"postgres\"\n[store.postgres]\nurl = \"{url}\"\nlease_seconds = 20\n"
    )
}

async fn open(url: &str) -> PgStore {
    PgStore::connect(&PgOptions::new(url)).await.unwrap()
}

/// Three gateways, each a world of its own, on one new database.
async fn three_gateways(purpose: &str) -> (String, Vec<World>) {
    let url = database(purpose);
    let mut worlds = Vec::new();
    for _ in 0..3 {
        worlds.push(World::start_with_overlay(&overlay(&url)).await);
    }
    (url, worlds)
}

/// Submits the sample bundle under `reference` through `w`: the referral's id.
async fn submit_sample(w: &mut World, reference: &str) -> String {
    w.court_api
        .submit_referral(sample_submission(reference))
        .await
        .unwrap()
        .into_inner()
        .referral_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_sweeping_at_once_fire_each_due_timer_once() {
    let (url, mut worlds) = three_gateways("timers").await;
    let mut ids = Vec::new();
    for n in 0..12 {
        // Any replica takes any call.
        let w = &mut worlds[n % 3];
        let id = submit_sample(w, &format!("TIMERS-{n}")).await;
        ids.push(id);
    }
    for w in &worlds {
        w.deliver().await;
    }
    // Every offer was delivered once, by whichever replica leased it.
    let offered: usize = worlds.iter().map(|w| w.ccpit.offers.all().len()).sum();
    assert_eq!(offered, ids.len());

    // An operator follows the alerts on one replica, whichever raises them.
    let mut operations = OperationsClient::new(worlds[1].connect_as("operators").await);
    let mut follow = operations
        .watch_alerts(ops::WatchAlertsRequest {
            after_seq: 0,
            follow: true,
            kinds: vec![],
        })
        .await
        .unwrap()
        .into_inner();

    // Past the acceptance deadline on every replica's clock; all three
    // sweep at once.
    for w in &worlds {
        w.clock.set("2025-03-07T00:00:01+08:00".parse().unwrap());
    }
    let (a, b, c) = tokio::join!(
        worlds[0].assembly.engine.sweep(),
        worlds[1].assembly.engine.sweep(),
        worlds[2].assembly.engine.sweep()
    );
    for report in [a, b, c] {
        report.unwrap();
    }
    let store = open(&url).await;
    let alerts = store.alerts_after(0, 10_000).await.unwrap();
    let seqs: Vec<u64> = alerts.iter().map(|a| a.seq).collect();
    assert_eq!(
        seqs,
        (1..=alerts.len() as u64).collect::<Vec<_>>(),
        "gap-free"
    );
    let mut fired: BTreeMap<(String, AlertKind), usize> = BTreeMap::new();
    for alert in &alerts {
        let referral = alert.record.referral.as_ref().unwrap().to_string();
        *fired.entry((referral, alert.record.kind)).or_default() += 1;
    }
    for id in &ids {
        for kind in [AlertKind::AcceptanceWarning, AlertKind::AcceptanceBreach] {
            assert_eq!(
                fired.get(&(id.clone(), kind)),
                Some(&1),
                "{id}: {kind:?} raised {:?} times",
                fired.get(&(id.clone(), kind))
            );
        }
        // The history has the warning and the breach once each, whoever
        // fired them (a breach may route the referral on: "routed" again).
        let history = store.history(&id.parse().unwrap()).await.unwrap().unwrap();
        for fired in ["deadline_warning", "acceptance_overdue"] {
            let times = history.iter().filter(|e| e.change.name() == fired).count();
            assert_eq!(times, 1, "{id}: {fired} {times} times");
        }
    }
    // The follower saw every alert, in order, once, though two of the three
    // replicas raised most of them.
    let mut followed = Vec::new();
    while followed.len() < alerts.len() {
        let alert = tokio::time::timeout(Duration::from_secs(10), follow.message())
            .await
            .expect("every alert reaches the follower")
            .unwrap()
            .expect("the stream stays open");
        followed.push(alert.seq);
    }
    assert_eq!(followed, seqs);
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { .. }
    ));
}

/// Three gateways on one database run their retention passes at once
/// (PIPL Art. 47): each recalled referral past its 90 days is purged by one
/// of them, once; every audit entry's detail past 180 days is purged, by
/// whichever replica came first, and the chains still verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_purging_at_once_purge_each_referral_once() {
    let (url, mut worlds) = three_gateways("retention").await;
    let mut ids = Vec::new();
    for n in 0..9 {
        let court = sample_bundle().court.to_string();
        let w = &mut worlds[n % 3];
        let id = submit_sample(w, &format!("PURGE-{n}")).await;
        let recall = |reason: &str| pb::RecallReferralRequest {
            referral_id: id.clone(),
            court: court.clone(),
            reason: reason.into(),
        };
        // Without a reason: refused, with a detail its audit entry keeps
        // until its period ends.
        let refused = w.court_api.recall_referral(recall("")).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::InvalidArgument);
        w.court_api
            .recall_referral(recall("当事人撤诉"))
            .await
            .unwrap();
        ids.push(id);
    }
    for w in &worlds {
        w.deliver().await;
    }
    // 200 days on: past the recalled referrals' 90 days and the audit
    // details' 180.
    for w in &worlds {
        w.clock.set("2025-09-19T10:00:00+08:00".parse().unwrap());
    }
    let passes = |n: usize| {
        worlds[n]
            .assembly
            .retention
            .clone()
            .expect("retention is on")
    };
    let (a, b, c) = (passes(0), passes(1), passes(2));
    let (a, b, c) = tokio::join!(a.pass(), b.pass(), c.pass());
    let reports = [a.unwrap(), b.unwrap(), c.unwrap()];
    let purged: u64 = reports.iter().map(|r| r.purged).sum();
    assert_eq!(purged, ids.len() as u64, "{reports:?}");
    assert!(
        reports.iter().map(|r| r.audit_details_purged).sum::<u64>() >= ids.len() as u64,
        "{reports:?}"
    );
    let store = open(&url).await;
    for id in &ids {
        let history = store.history(&id.parse().unwrap()).await.unwrap().unwrap();
        let purges = history
            .iter()
            .filter(|e| e.change.name() == "personal_data_purged")
            .count();
        assert_eq!(purges, 1, "{id} purged {purges} times");
    }
    // No entry recorded before the cut-off keeps a detail; the refusals'
    // entries stay, with their codes.
    let cut: jiff::Timestamp = "2025-03-23T10:00:00+08:00".parse().unwrap();
    let entries = store.audit_entries(0, 100_000).await.unwrap();
    let refusals = entries
        .iter()
        .filter(|e| e.record.action.ends_with("/RecallReferral") && e.detail_purged)
        .count();
    assert_eq!(refusals, ids.len(), "{entries:#?}");
    for e in entries.iter().filter(|e| e.record.at < cut) {
        assert!(
            e.detail_purged || !e.record.outcome.contains(": "),
            "entry {} keeps its detail: {}",
            e.seq,
            e.record.outcome
        );
    }
    assert!(matches!(
        store.verify_audit().await.unwrap(),
        AuditVerification::Intact { .. }
    ));
}

/// A `serve` process on the shared configuration.
pub(crate) struct Replica {
    child: Child,
    pub(crate) addr: String,
}

impl Replica {
    pub(crate) fn start(dir: &Path, config: &Path, name: &str) -> Self {
        let (child, addr) = crate::served::spawn_named(
            dir,
            config,
            name,
            &["--set", &format!("store.postgres.replica={name}")],
        );
        Self { child, addr }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap(); // SIGKILL
        self.child.wait().unwrap();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) type Authed = InterceptedService<Channel, Bearer>;

/// A client of one replica as a tenant; the connection is made on first use
/// and again after the replica restarts.
pub(crate) fn client(addr: &str, token: &str) -> Authed {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    InterceptedService::new(channel, Bearer::token(token).unwrap())
}

/// The order in which the messages of each referral first arrived, as
/// their numbers (the id's hex suffix): at-least-once allows repeats, never
/// a later message before an earlier one.
fn first_arrivals(ids: impl Iterator<Item = String>) -> BTreeMap<String, Vec<u64>> {
    let mut seen = BTreeSet::new();
    let mut order: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for id in ids {
        if !seen.insert(id.clone()) {
            continue;
        }
        let (referral, n) = id.rsplit_once('-').unwrap();
        order
            .entry(referral.to_owned())
            .or_default()
            .push(u64::from_str_radix(n, 16).unwrap());
    }
    order
}

/// The counterparts of a `serve` started from a test, on loopback without
/// TLS: a court system and the three platforms, tenants for the court, CCPIT,
/// operators and read-only operators (`auditors`) with development keys, and the shipped configuration
/// pointed at them, in the development profile.
pub(crate) struct Counterparts {
    pub(crate) court: SimCourt,
    pub(crate) ccpit: SimCcpit,
    /// The configuration so far; a test sets its own keys and writes it.
    pub(crate) config: SimConfig,
}

impl Counterparts {
    pub(crate) async fn start(dir: &Path) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let court = SimCourt::new(Inbox::keeping());
        let ccpit = SimCcpit::default();
        let (labour, traffic) = (sim::SimLabour::default(), sim::SimTraffic::default());
        let mut addrs = Vec::new();
        for routes in [
            tonic::service::Routes::new(court.server()),
            tonic::service::Routes::new(ccpit.server()),
            tonic::service::Routes::new(labour.server()),
            tonic::service::Routes::new(traffic.server()),
        ] {
            let (l, addr) = sim::listen().await.unwrap();
            sim::spawn_grpc(l, None, routes);
            addrs.push(addr);
        }
        let tenants = [
            SimTenant::court_system("court-bj", "京"),
            SimTenant::platform("ccpit", Partner::Ccpit),
            SimTenant::operator("operators"),
            SimTenant::read_only_operator("auditors"),
        ];
        let pki = mediation_security::pki::DevelopmentPki::new(dir.join("data/dev-pki"));
        let names: Vec<String> = tenants.iter().map(|t| t.id.to_owned()).collect();
        pki.generate(&names, jiff::Timestamp::now()).unwrap();
        std::fs::write(
            dir.join("tenants.toml"),
            sim::tenants_file(
                &tenants,
                |id| format!("https://{id}.test.invalid/"),
                |id| pki.jwks(id),
            ),
        )
        .unwrap();
        let config = SimConfig::shipped()
            .profile("development")
            .listen("127.0.0.1:0")
            .data_dir(&dir.join("data"))
            .calendar_dir(&root.join("config/calendar"))
            .roster(&root.join("config/roster.toml"))
            .court_registry(&root.join("config/courts.toml"))
            .tenants(&dir.join("tenants.toml"))
            .courts(&[("京", CourtAt::Grpc(format!("http://{}", addrs[0])))])
            .partner(Partner::Ccpit, &format!("http://{}", addrs[1]), None)
            .partner(
                Partner::LabourArbitration,
                &format!("http://{}", addrs[2]),
                None,
            )
            .partner(Partner::RoadTraffic, &format!("http://{}", addrs[3]), None)
            .plaintext();
        Self {
            court,
            ccpit,
            config,
        }
    }
}

/// The sample bundle, without documents, under the court's own
/// `reference`, as a court system submits it.
pub(crate) fn sample_submission(reference: &str) -> tonic::Request<pb::SubmitReferralRequest> {
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = reference.into();
    tonic::Request::new(pb::SubmitReferralRequest {
        bundle: Some(bundle),
    })
}

/// Submits `request` as court-bj to the gateway at `addr`: the referral's id.
pub(crate) async fn submit_as_court(
    addr: &str,
    config: &Path,
    request: tonic::Request<pb::SubmitReferralRequest>,
) -> String {
    CourtGatewayClient::new(client(addr, &token(config, "court-bj")))
        .submit_referral(request)
        .await
        .unwrap()
        .into_inner()
        .referral_id
}

/// Waits until `done`, failing with `what` after 30 seconds.
pub(crate) async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A development token for `tenant`, valid for a day, signed with the keys
/// `config`'s development PKI holds.
pub(crate) fn token(config: &Path, tenant: &str) -> String {
    let loaded = mediation_gateway::config::Config::load(config).unwrap();
    mediation_gateway::commands::dev::development_token(
        &loaded,
        tenant,
        "e2e",
        86_400,
        jiff::Timestamp::now(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_processes_lose_nothing_when_one_is_killed_under_load() {
    let url = database("serve");
    let dir = tempfile::tempdir().unwrap();
    let Counterparts {
        court,
        ccpit,
        config,
    } = Counterparts::start(dir.path()).await;
    let config_path: PathBuf = config
        .set("store.backend", "postgres")
        .set("store.postgres.url", url.as_str())
        // A killed replica's leases pass to the others this soon.
        .set("store.postgres.lease_seconds", 12)
        .set("relay.attempt_timeout_seconds", 5)
        .write(dir.path())
        .unwrap();
    let (court_token, ccpit_token) = (
        token(&config_path, "court-bj"),
        token(&config_path, "ccpit"),
    );

    // The first applies the schema; the others find it applied.
    let mut replicas = vec![Replica::start(dir.path(), &config_path, "replica-0")];
    replicas.push(Replica::start(dir.path(), &config_path, "replica-1"));
    replicas.push(Replica::start(dir.path(), &config_path, "replica-2"));
    let addrs: Vec<String> = replicas.iter().map(|r| r.addr.clone()).collect();
    let courts: Vec<CourtGatewayClient<Authed>> = addrs
        .iter()
        .map(|a| CourtGatewayClient::new(client(a, &court_token)))
        .collect();

    // Eight court clients submit in turn to each replica, retrying a call
    // that fails on the next replica with the same court id, as a court
    // system would. Each referral acknowledged is noted.
    let acked = Arc::new(std::sync::Mutex::new(BTreeMap::<String, String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut workers = Vec::new();
    for worker in 0..8usize {
        let courts = courts.clone();
        let acked = Arc::clone(&acked);
        let stop = Arc::clone(&stop);
        workers.push(tokio::spawn(async move {
            let mut n = 0usize;
            let mut failures = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let court_id = format!("R-{worker}-{n}");
                let mut bundle = bundle_to_wire(&sample_bundle());
                bundle.documents.clear();
                bundle.court_referral_id = court_id.clone();
                let mut attempt = 0;
                loop {
                    let mut api = courts[(worker + n + attempt) % 3].clone();
                    match api
                        .submit_referral(pb::SubmitReferralRequest {
                            bundle: Some(bundle.clone()),
                        })
                        .await
                    {
                        Ok(r) => {
                            acked
                                .lock()
                                .unwrap()
                                .insert(court_id.clone(), r.into_inner().referral_id);
                            break;
                        }
                        Err(status) => {
                            failures += 1;
                            attempt += 1;
                            assert!(
                                attempt < 30,
                                "{court_id}: refused by every replica: {status:?}"
                            );
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                }
                n += 1;
            }
            failures
        }));
    }
    let wait_for = |count: usize| {
        let acked = Arc::clone(&acked);
        async move {
            let started = Instant::now();
            while acked.lock().unwrap().len() < count {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "only {} acknowledged",
                    acked.lock().unwrap().len()
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    wait_for(60).await;
    // One replica dies mid-load, with calls and deliveries in flight.
    replicas[1].kill();
    let killed_at = acked.lock().unwrap().len();
    wait_for(killed_at + 60).await;
    replicas[1] = Replica::start(dir.path(), &config_path, "replica-1");
    let restarted_at = acked.lock().unwrap().len();
    wait_for(restarted_at + 60).await;
    stop.store(true, Ordering::Relaxed);
    let mut failed = 0;
    for w in workers {
        failed += w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    eprintln!(
        "replicas: {} referrals acknowledged across three replicas, {failed} calls refused while one was down",
        acked.len()
    );

    // Every acknowledged referral is in the database; each offer arrives
    // (a killed replica's leased offers once its leases run out).
    let store = open(&url).await;
    for (court_id, id) in &acked {
        assert!(
            store
                .referral(&id.parse().unwrap())
                .await
                .unwrap()
                .is_some(),
            "{court_id} ({id}) was acknowledged and is lost"
        );
    }
    let wanted: BTreeSet<&String> = acked.values().collect();
    let started = Instant::now();
    loop {
        let offered: BTreeSet<String> = ccpit.offers.all().into_iter().map(|o| o.case_id).collect();
        let missing = wanted.iter().filter(|id| !offered.contains(**id)).count();
        let waiting: u64 = store
            .backlog()
            .await
            .unwrap()
            .iter()
            .map(|b| b.pending)
            .sum();
        if missing == 0 && waiting == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "{missing} offers never arrived; {waiting} messages still waiting"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The platform accepts every case, its calls spread over the three
    // replicas (the restarted one among them).
    let addrs: Vec<String> = replicas.iter().map(|r| r.addr.clone()).collect();
    let platforms: Vec<CcpitGatewayClient<Authed>> = addrs
        .iter()
        .map(|a| CcpitGatewayClient::new(client(a, &ccpit_token)))
        .collect();
    let mut offers: BTreeMap<String, String> = BTreeMap::new();
    for offer in ccpit.offers.all() {
        offers.insert(offer.case_id, offer.mediation_centre);
    }
    for (n, (case_id, centre)) in offers.iter().enumerate() {
        let mut api = platforms[n % 3].clone();
        api.accept_case(cp::AcceptCaseRequest {
            case_id: case_id.clone(),
            mediation_centre: centre.clone(),
            mediator: "m-1".into(),
            centre_case_number: format!("CCPIT-{n}"),
        })
        .await
        .unwrap_or_else(|e| panic!("{case_id}: {e:?}"));
    }
    // The court hears of every acceptance.
    let started = Instant::now();
    loop {
        let heard: BTreeSet<String> = court
            .notices
            .all()
            .into_iter()
            .filter(|n| n.event == "accepted")
            .map(|n| n.referral_id)
            .collect();
        let missing = wanted.iter().filter(|id| !heard.contains(**id)).count();
        if missing == 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the court never heard of {missing} acceptances"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // In order per referral: the platform's offers and the court's notices.
    for (referral, order) in first_arrivals(ccpit.offers.all().into_iter().map(|o| o.message_id))
        .into_iter()
        .chain(first_arrivals(
            court.notices.all().into_iter().map(|n| n.message_id),
        ))
    {
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "{referral}: arrived out of order: {order:?}"
        );
    }
    // The timers of each referral are those its state calls for.
    let timers = store
        .due_timers(jiff::Timestamp::MAX, usize::MAX)
        .await
        .unwrap();
    for id in acked.values() {
        let referral = store.referral(&id.parse().unwrap()).await.unwrap().unwrap();
        let mut stored: Vec<_> = timers
            .iter()
            .filter(|t| t.referral.as_str() == id)
            .cloned()
            .collect();
        let mut wanted = referral.timers();
        stored.sort_by_key(|t| t.kind);
        wanted.sort_by_key(|t| t.kind);
        assert_eq!(stored, wanted, "{id}: timers out of step with the state");
    }
    match store.verify_audit().await.unwrap() {
        AuditVerification::Intact { entries } => assert!(entries >= acked.len() as u64),
        broken => panic!("{broken:?}"),
    }
}

/// Imports the sled store exported to `archive` (from the gateway
/// configured by `config`) into a new database, and checks `store verify`
/// finds there what it found in the sled store (`sled_report`, its JSON);
/// that `check-config` connects and reads the schema; and that a second
/// import into the now full database is refused and changes nothing.
pub(crate) fn moves_into_postgres(
    config: &Path,
    archive: &Path,
    sled_report: &serde_json::Value,
    work: &Path,
) {
    let url = database("moved");
    // The demo's configuration, with the store in the database and the case
    // files in a directory of their own.
    let dir = work.join("on-postgres");
    std::fs::create_dir_all(dir.join("gateway.d")).unwrap();
    std::fs::copy(config, dir.join("gateway.toml")).unwrap();
    let overlays = config.with_file_name("gateway.d");
    for overlay in std::fs::read_dir(&overlays).unwrap() {
        let overlay = overlay.unwrap().path();
        std::fs::copy(
            &overlay,
            dir.join("gateway.d").join(overlay.file_name().unwrap()),
        )
        .unwrap();
    }
    std::fs::write(
        dir.join("gateway.d/90-postgres.toml"),
        format!(
            "data_dir = {:?}\n{}",
            dir.join("data").display().to_string(),
            overlay(&url)
        ),
    )
    .unwrap();
    let config = dir.join("gateway.toml");
    let binary = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"));
        command.current_dir(config.parent().unwrap().parent().unwrap());
        command
    };
    let run = |args: &[&str]| {
        let output = binary()
            .args(args)
            .arg("--config")
            .arg(&config)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let import = |_: ()| {
        let output = binary()
            .args(["store", "import", "--config"])
            .arg(&config)
            .arg("--from")
            .arg(archive)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (ok, said, err) = import(());
    assert!(ok, "{said}{err}");
    assert!(said.contains("audit chain: intact"), "{said}");
    assert!(
        !dir.join("data/import-staging").exists(),
        "the staging store is removed"
    );

    let (ok, said, err) = run(&["store", "verify", "--json"]);
    assert!(ok, "{said}{err}");
    let report: serde_json::Value = serde_json::from_str(&said).unwrap();
    for field in [
        "audit_entries",
        "backlog",
        "dead_letters",
        "next_timer_at",
        "open_referrals",
        "referrals",
        "load_mismatches",
        "snapshot_mismatches",
    ] {
        assert_eq!(
            report[field], sled_report[field],
            "{field}: {report} against {sled_report}"
        );
    }
    let (ok, said, err) = run(&["check-config"]);
    assert!(ok, "{said}{err}");
    assert!(
        said.contains("store: postgres at postgres://gateway@")
            && said.contains("schema version 5 of 5")
            && said.contains("synchronous_commit = on"),
        "{said}"
    );
    // A second import finds the database full and changes nothing.
    let (ok, _, err) = import(());
    assert!(!ok);
    assert!(err.contains("already holds a store"), "{err}");
    let (_, again, _) = run(&["store", "verify", "--json"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&again).unwrap(),
        report
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_database() {
    // A cluster of its own, which the test stops.
    let root = tempfile::tempdir().unwrap();
    let own = Cluster::start(root.path()).unwrap();
    let url = own.create_database("health").unwrap();
    let w = World::start_with_overlay(&overlay(&url)).await;
    assert!(w.assembly.health.refresh().await.serving);
    drop(own);
    let readiness = w.assembly.health.refresh().await;
    assert!(!readiness.serving);
    assert!(
        readiness.reasons.iter().any(|r| r.starts_with("store: ")),
        "{readiness:?}"
    );
}

#[test]
fn check_config_reaches_the_database_and_store_migrate_brings_it_to_this_schema() {
    let url = database("migrate");
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let config = SimConfig::shipped()
        .listen("127.0.0.1:0")
        .data_dir(&dir.path().join("data"))
        .calendar_dir(&root.join("config/calendar"))
        .roster(&root.join("config/roster.toml"))
        .court_registry(&root.join("config/courts.toml"))
        .tenants(&root.join("config/tenants.toml"))
        .write(dir.path())
        .unwrap();
    std::fs::write(dir.path().join("gateway.d/90-postgres.toml"), overlay(&url)).unwrap();
    let run = |args: &[&str], extra: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
            .current_dir(&root)
            .args(args)
            .arg("--config")
            .arg(&config)
            .args(extra)
            .output()
            .unwrap();
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    // An empty database: check-config says what to do, and prints nothing.
    let (ok, out, err) = run(&["check-config"], &[]);
    assert!(!ok && out.is_empty(), "{out}");
    assert!(
        err.contains("has no gateway schema") && err.contains("store migrate"),
        "{err}"
    );
    let (ok, out, err) = run(&["store", "migrate"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("is at schema version 5"), "{out}");
    let (ok, out, err) = run(&["check-config"], &[]);
    assert!(ok, "{err}");
    assert!(out.contains("schema version 5 of 5"), "{out}");
    // A password in the URL is refused before anything connects; a server
    // that is not there is named.
    let with_password = url.replace("gateway@", "gateway:secret@");
    let (ok, _, err) = run(
        &["check-config"],
        &["--set", &format!("store.postgres.url={with_password}")],
    );
    assert!(!ok && err.contains("holds a password"), "{err}");
    assert!(
        !err.contains("secret"),
        "the password is never echoed: {err}"
    );
    let (ok, _, err) = run(
        &["check-config"],
        &[
            "--set",
            "store.postgres.url=postgres://gateway@127.0.0.1:1/none",
        ],
    );
    assert!(
        !ok && err.contains("cannot connect to the database"),
        "{err}"
    );
    // `serve` names the database it uses on its first line, not a directory.
    let (mut child, _, first) = crate::served::spawn_announced(dir.path(), &config, "gateway", &[]);
    let _ = child.kill();
    let _ = child.wait();
    let redacted = mediation_store_postgres::redacted(&url);
    assert!(
        first.contains(&format!("store postgres at {redacted}")),
        "{first}"
    );
    assert!(!first.contains("data/store"), "{first}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_alert_a_missing_year_once_between_them() {
    let url = database("calendar");
    let mut worlds = Vec::new();
    for _ in 0..3 {
        worlds.push(World::start_with_overlay(&overlay(&url)).await);
    }
    // Routed on Wednesday 30 December 2026, each through its own replica
    // and all at once: the acceptance deadlines reach into 2027, which has
    // no notice in the shipped calendar.
    let mut submissions = Vec::new();
    for (n, w) in worlds.iter().enumerate() {
        w.clock.set("2026-12-30T09:00:00+08:00".parse().unwrap());
        let mut court = CourtGatewayClient::new(w.connect_as("court-bj").await);
        submissions.push(tokio::spawn(async move {
            court
                .submit_referral(sample_submission(&format!("YEAR-{n}")))
                .await
        }));
    }
    for submission in submissions {
        submission.await.unwrap().unwrap();
    }
    // The acceptance periods run from the offers' delivery: each replica
    // delivers what its relay leases, and each deadline reaches into 2027.
    for w in &worlds {
        w.deliver().await;
    }
    let store = open(&url).await;
    let missing: Vec<_> = store
        .alerts_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.record.kind == AlertKind::CalendarYearMissing)
        .collect();
    assert_eq!(missing.len(), 1, "{missing:#?}");
    assert_eq!(missing[0].record.subject.as_deref(), Some("calendar:2027"));
    // Later referrals reaching into the year, through any replica, raise
    // nothing more.
    for (n, w) in worlds.iter().enumerate() {
        let mut court = CourtGatewayClient::new(w.connect_as("court-bj").await);
        court
            .submit_referral(sample_submission(&format!("YEAR-LATER-{n}")))
            .await
            .unwrap();
    }
    for w in &worlds {
        w.deliver().await;
    }
    let again = store
        .alerts_after(0, 10_000)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.record.kind == AlertKind::CalendarYearMissing)
        .count();
    assert_eq!(again, 1);
}

/// What an alert webhook was posted, in the order it came.
type Posts = Arc<std::sync::Mutex<Vec<serde_json::Value>>>;

async fn record_post(
    axum::extract::State(posts): axum::extract::State<Posts>,
    axum::Json(body): axum::Json<serde_json::Value>,
) -> axum::http::StatusCode {
    posts.lock().unwrap().push(body);
    axum::http::StatusCode::OK
}

/// Sends `signal` (`STOP`, `CONT`) to `child`.
fn signal(child: &Child, signal: &str) {
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_webhook_leader_loses_the_lead_and_posts_nothing_late() {
    let url = database("lead");
    let dir = tempfile::tempdir().unwrap();
    let posts = Posts::default();
    let (l, hooks_addr) = sim::listen().await.unwrap();
    let app = axum::Router::new()
        .route("/hooks/{name}", axum::routing::post(record_post))
        .with_state(Arc::clone(&posts));
    tokio::spawn(async move { axum::serve(l, app).await });
    let Counterparts {
        court: _court,
        config,
        ..
    } = Counterparts::start(dir.path()).await;
    // Every offer fails at once (the CCPIT platform is not there) and is
    // set aside at its first failure: one dead-letter alert per referral.
    let config_path: PathBuf = config
        .set("store.backend", "postgres")
        .set("store.postgres.url", url.as_str())
        .set("partners.ccpit", "http://127.0.0.1:9")
        .set("relay.max_attempts", 1)
        .alert_hook(sim::AlertHook {
            name: "ops".into(),
            url: format!("http://{hooks_addr}/hooks/ops"),
            kinds: vec!["dead_letter".into()],
            ..sim::AlertHook::default()
        })
        .write(dir.path())
        .unwrap();
    // Each replica names itself in what it posts.
    let start = |name: &str| {
        let (child, addr) = crate::served::spawn_named(
            dir.path(),
            &config_path,
            name,
            &[
                "--set",
                &format!("store.postgres.replica={name}"),
                "--set",
                &format!("alerts.instance={name}"),
            ],
        );
        Replica { child, addr }
    };
    let replicas = [start("replica-0"), start("replica-1")];
    let court_token = token(&config_path, "court-bj");
    let dead_letters_after = |seq: u64| -> Vec<(u64, String)> {
        posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p["alert"]["kind"] == "dead_letter")
            .map(|p| {
                (
                    p["alert"]["seq"].as_u64().unwrap(),
                    p["instance"].as_str().unwrap().to_owned(),
                )
            })
            .filter(|(s, _)| *s > seq)
            .collect()
    };

    // A dead letter: the leader posts it.
    submit_as_court(&replicas[0].addr, &config_path, sample_submission("LEAD-1")).await;
    eventually("the first dead letter is posted", || {
        !dead_letters_after(0).is_empty()
    })
    .await;
    let leader = dead_letters_after(0)[0].1.clone();
    let (frozen, other) = if leader == "replica-0" {
        (&replicas[0], &replicas[1])
    } else {
        (&replicas[1], &replicas[0])
    };
    // Between its passes, the leader is frozen (SIGSTOP): its process
    // stops, its database sessions stay open. What it posted before is
    // left aside.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    signal(&frozen.child, "STOP");
    let frozen_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let first = dead_letters_after(0)
        .iter()
        .map(|(seq, _)| *seq)
        .max()
        .unwrap_or(0);
    CourtGatewayClient::new(client(&other.addr, &court_token))
        .submit_referral(sample_submission("LEAD-2"))
        .await
        .unwrap();
    // Once the frozen leader's lease has run out, the other replica takes
    // the lead and posts the new dead letter.
    let started = Instant::now();
    while dead_letters_after(first).is_empty() {
        assert!(
            started.elapsed() < mediation_store_postgres::LEAD_LEASE + Duration::from_secs(25),
            "no replica posted while the leader was frozen"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let posted = dead_letters_after(first);
    assert!(
        posted.iter().all(|(_, by)| by != &leader),
        "posted by the frozen leader: {posted:?}"
    );
    eprintln!(
        "lead: the frozen leader's lead passed on after {:?}",
        frozen_at.elapsed()
    );
    // The old leader wakes: its lead is gone, and it posts nothing late.
    signal(&frozen.child, "CONT");
    tokio::time::sleep(Duration::from_secs(6)).await;
    let posted = dead_letters_after(first);
    assert!(
        posted.iter().all(|(_, by)| by != &leader),
        "the woken leader posted: {posted:?}"
    );
    let log = std::fs::read_to_string(dir.path().join(format!("{leader}.log"))).unwrap();
    assert!(log.contains("lost the lead"), "{log}");
}
