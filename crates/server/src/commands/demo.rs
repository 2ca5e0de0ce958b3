//! `mediation-gateway demo`: the whole gateway in one process with a
//! simulated Beijing court system and the three partner platforms, on a clock
//! that runs fast, so the flows and the deadline alerts can be watched in
//! about a minute.
//!
//! Everything goes through the real gateway over gRPC with per-tenant tokens
//! (on loopback, without TLS): the court submits three referrals; the CCPIT
//! centre accepts, settles and applies for confirmation, and the court
//! confirms; the labour committee accepts and then lets the 30 days run out,
//! so mediation ends and the court has the case back (online rules Art. 25);
//! the road-traffic room never answers, so its acceptance deadline passes.
//! An operator follows the alert stream throughout.

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use jiff::{SignedDuration, Timestamp};
use mediation_calendar::cst;
use mediation_core::clock::Clock;
use mediation_core::partner::Partner;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::labour::v1 as lp;
use mediation_proto::labour::v1::labour_gateway_client::LabourGatewayClient;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use mediation_security::pki::DevelopmentPki;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use super::Bearer;
use crate::app::Assembly;
use crate::cli::DemoArgs;
use crate::config::{Config, Sources};
use crate::sim::{
    self, CourtAt, Inbox, LabourMessage, OnBreach, SimCcpit, SimConfig, SimCourt, SimLabour,
    SimTenant, SimTraffic, spawn_grpc,
};

/// The demo starts on a Monday, in a year whose holiday notice ships.
const START: &str = "2025-03-03T09:00:00+08:00";
/// Simulated days the demo covers.
const DAYS: f64 = 40.0;

fn tenants() -> [SimTenant; 5] {
    [
        SimTenant::court_system("court-bj", "京"),
        SimTenant::platform("ccpit", Partner::Ccpit),
        SimTenant::platform("labour", Partner::LabourArbitration),
        SimTenant::platform("traffic", Partner::RoadTraffic),
        SimTenant::operator("operators"),
    ]
}

/// A clock that runs `factor` times faster than real time from `start`.
#[derive(Debug)]
pub struct FastClock {
    start: Timestamp,
    real_start: Instant,
    factor: f64,
}

impl FastClock {
    pub fn new(start: Timestamp, days_per_second: f64) -> Self {
        Self {
            start,
            real_start: Instant::now(),
            factor: days_per_second * 86_400.0,
        }
    }

    /// Simulated days since the start.
    fn day(&self) -> f64 {
        self.now().duration_since(self.start).as_secs_f64() / 86_400.0
    }
}

impl Clock for FastClock {
    fn now(&self) -> Timestamp {
        let elapsed = self.real_start.elapsed().as_secs_f64() * self.factor;
        self.start
            .checked_add(SignedDuration::from_secs_f64(elapsed))
            .unwrap_or(Timestamp::MAX)
    }
}

/// Lines about what happens, each stamped with the simulated time. The
/// simulated parties only queue them; the demo's own task prints them, as it
/// alone holds the output.
#[derive(Debug, Clone)]
struct Log {
    clock: Arc<FastClock>,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Log {
    fn print(&self, out: &mut dyn Write) -> std::io::Result<()> {
        let lines = std::mem::take(&mut *self.lines.lock().unwrap_or_else(|p| p.into_inner()));
        for line in lines {
            writeln!(out, "{line}")?;
        }
        out.flush()
    }

    /// Prints what happens until simulated day `day`.
    async fn until(&self, day: f64, out: &mut dyn Write) -> std::io::Result<()> {
        while self.clock.day() < day {
            self.print(out)?;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.print(out)
    }
}

impl Log {
    fn say(&self, who: &str, what: impl AsRef<str>) {
        let now = self
            .clock
            .now()
            .to_zoned(jiff::tz::TimeZone::fixed(cst::OFFSET));
        let line = format!(
            "day {:>5.1}  {}  {:<10} {}",
            self.clock.day(),
            now.strftime("%m-%d %H:%M"),
            who,
            what.as_ref()
        );
        self.lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }
}

fn short(id: &str) -> &str {
    &id[id.len().saturating_sub(6)..]
}

/// The simulated court system and platforms, each telling the story's log
/// what it receives.
fn counterparts(log: &Log) -> (SimCourt, SimCcpit, SimLabour, SimTraffic) {
    let say = |who: &'static str| {
        let log = log.clone();
        move |line: String| log.say(who, line)
    };
    let court = SimCourt::new(Inbox::observed({
        let say = say("court");
        move |n: &pb::CourtNotice| say(format!("notified: {} ({})", n.event, short(&n.referral_id)))
    }));
    let ccpit = SimCcpit {
        offers: Inbox::observed({
            let say = say("ccpit");
            move |o: &cp::CaseOffer| {
                say(format!(
                    "offered {} to {}",
                    short(&o.case_id),
                    o.mediation_centre
                ))
            }
        }),
        decisions: Inbox::observed({
            let say = say("ccpit");
            move |d: &cp::CourtDecision| {
                say(format!(
                    "heard the court's decision on {}",
                    short(&d.case_id)
                ))
            }
        }),
        offer_traces: Inbox::counting(|_| String::new()),
    };
    let labour = SimLabour {
        messages: Inbox::observed({
            let say = say("labour");
            move |m: &LabourMessage| {
                if let LabourMessage::Referral(d) = m {
                    say(format!(
                        "referred {} to {}",
                        short(&d.dispute_id),
                        d.committee
                    ));
                }
            }
        }),
    };
    let traffic = SimTraffic {
        cases: Inbox::observed({
            let say = say("traffic");
            move |c: &mediation_proto::traffic::v1::AccidentCase| {
                say(format!(
                    "delegated {} to {} (and ignores it)",
                    short(&c.case_id),
                    c.room
                ))
            }
        }),
        decisions: Inbox::default(),
        insurers: Inbox::default(),
    };
    (court, ccpit, labour, traffic)
}

pub fn run(args: DemoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    if !(0.05..=50.0).contains(&args.days_per_second) {
        anyhow::bail!("--days-per-second must be between 0.05 and 50");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(demo(args, out))
}

async fn demo(args: DemoArgs, out: &mut dyn Write) -> anyhow::Result<()> {
    // Problems only: the demo prints its own story.
    let filter = tracing_subscriber::EnvFilter::try_from_env("MEDIATION_GATEWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let stage = Stage::set_up(&args).await?;
    writeln!(
        out,
        "demo: gateway on {}, one simulated day every {:.1} s, data in {}",
        stage.gateway_addr,
        1.0 / args.days_per_second,
        stage.dir.display()
    )?;
    out.flush()?;
    let mut clients = stage.clients().await?;
    let watcher = watch_alerts(&clients.operations, &stage.log);
    let ids = story(&stage, &mut clients, out).await?;
    report(&stage, &mut clients.operations, &ids, out).await?;
    watcher.abort();
    stage.tear_down(&args).await?;
    writeln!(out, "demo finished")?;
    out.flush()?;
    Ok(())
}

/// The gateway, its counterparts and its driver, running on a fast clock.
struct Stage {
    dir: PathBuf,
    temp: PathBuf,
    clock: Arc<FastClock>,
    log: Log,
    config: Config,
    gateway_addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    driver: JoinHandle<()>,
    served: JoinHandle<Result<(), tonic::transport::Error>>,
    assembly: Arc<Assembly>,
}

/// The demo's tenants, each a client of the gateway.
struct Clients {
    court: CourtGatewayClient<Authed>,
    ccpit: CcpitGatewayClient<Authed>,
    labour: LabourGatewayClient<Authed>,
    operations: OperationsClient<Authed>,
}

type Authed = InterceptedService<Channel, Bearer>;

impl Stage {
    /// Starts the counterparts on loopback, writes the configuration (the
    /// shipped file with the demo's overrides), and starts the gateway with
    /// its relay and deadline engine stepped often, for the clock is fast.
    async fn set_up(args: &DemoArgs) -> anyhow::Result<Self> {
        let temp = tempfile_dir()?;
        let dir = args.data_dir.clone().unwrap_or_else(|| temp.clone());
        std::fs::create_dir_all(&dir)?;
        let clock = Arc::new(FastClock::new(START.parse()?, args.days_per_second));
        let log = Log {
            clock: Arc::clone(&clock),
            lines: Arc::default(),
        };
        let (court, ccpit, labour, traffic) = counterparts(&log);
        let (l, court_addr) = sim::listen().await?;
        spawn_grpc(l, None, Routes::new(court.server()));
        let (l, ccpit_addr) = sim::listen().await?;
        spawn_grpc(l, None, Routes::new(ccpit.server()));
        let (l, labour_addr) = sim::listen().await?;
        spawn_grpc(l, None, Routes::new(labour.server()));
        let (l, traffic_addr) = sim::listen().await?;
        spawn_grpc(l, None, Routes::new(traffic.server()));

        // Tokens signed with keys made for the demo, where the development
        // profile keeps its PKI: <data_dir>/dev-pki.
        let pki = DevelopmentPki::new(dir.join("data").join("dev-pki"));
        let ids: Vec<String> = tenants().iter().map(|t| t.id.to_owned()).collect();
        pki.generate(&ids, clock.now())?;
        std::fs::write(
            dir.join("tenants.toml"),
            sim::tenants_file(
                &tenants(),
                |id| format!("https://{id}.demo.invalid/"),
                |id| pki.jwks(id),
            ),
        )?;
        std::fs::write(
            dir.join("roster.toml"),
            include_str!("../../../../config/roster.toml"),
        )?;
        std::fs::write(
            dir.join("courts.toml"),
            include_str!("../../../../config/courts.toml"),
        )?;
        let calendar = dir.join("calendar");
        std::fs::create_dir_all(&calendar)?;
        std::fs::write(
            calendar.join("2025.toml"),
            include_str!("../../../../config/calendar/2025.toml"),
        )?;
        let config_path = SimConfig::shipped()
            .profile("development")
            .listen("127.0.0.1:0")
            .data_dir(&dir.join("data"))
            .calendar_dir(&calendar)
            .roster(&dir.join("roster.toml"))
            .court_registry(&dir.join("courts.toml"))
            .tenants(&dir.join("tenants.toml"))
            .courts(&[("京", CourtAt::Grpc(format!("http://{court_addr}")))])
            .partner(Partner::Ccpit, &format!("http://{ccpit_addr}"), None)
            .partner(
                Partner::LabourArbitration,
                &format!("http://{labour_addr}"),
                None,
            )
            .partner(
                Partner::RoadTraffic,
                &format!("http://{traffic_addr}"),
                None,
            )
            .on_breach(Partner::RoadTraffic, OnBreach::ReturnToCourt)
            .plaintext()
            .write(&dir)?;
        let config = Config::load_from(&Sources {
            file: config_path.clone(),
            overrides: vec![],
            environment: false,
        })?;
        let assembly = Arc::new(
            Assembly::build(
                &config_path,
                config.clone(),
                Arc::clone(&clock) as Arc<dyn Clock>,
                mediation_delivery::RelayOptions {
                    idle_poll: Duration::from_millis(50),
                    ..Default::default()
                },
            )
            .await?,
        );
        let (l, gateway_addr) = sim::listen().await?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let served = {
            let a = Arc::clone(&assembly);
            let mut rx = stopped.clone();
            tokio::spawn(async move {
                a.serve(l, async move {
                    let _ = rx.wait_for(|s| *s).await;
                })
                .await
            })
        };
        let driver = {
            let a = Arc::clone(&assembly);
            tokio::spawn(async move {
                while !*stopped.borrow() {
                    if let Err(e) = a.engine.sweep().await {
                        tracing::warn!(error = %e, "deadline sweep failed");
                    }
                    let _ = a.relay.drain().await;
                    tokio::time::sleep(Duration::from_millis(40)).await;
                }
            })
        };
        Ok(Self {
            dir,
            temp,
            clock,
            log,
            config,
            gateway_addr,
            stop,
            driver,
            served,
            assembly,
        })
    }

    /// Waits, for at most ten seconds, until the gateway has caught up with
    /// the fast clock: no timer due and nothing waiting to be delivered. A
    /// busy machine runs the driver late, and the story's last deadlines
    /// would otherwise be told after its end.
    async fn caught_up(&self) {
        use mediation_core::store::{OutboxStore as _, TimerStore as _};
        let store = self.assembly.gateway.store();
        let started = std::time::Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            let now = self.clock.now();
            let timers_done = matches!(store.next_timer_at().await, Ok(None))
                || matches!(store.next_timer_at().await, Ok(Some(next)) if next > now);
            let delivered = store
                .backlog()
                .await
                .is_ok_and(|b| b.iter().all(|b| b.pending == 0));
            if timers_done && delivered {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A client of the gateway as `tenant`, with a token valid on the demo's
    /// clock, which starts in 2025 and runs fast.
    async fn connect(&self, tenant: &str) -> anyhow::Result<Authed> {
        let channel = Channel::from_shared(format!("http://{}", self.gateway_addr))?
            .connect()
            .await?;
        let token = super::dev::development_token(
            &self.config,
            tenant,
            "demo",
            365 * 86_400,
            self.clock.now(),
        )?;
        Ok(InterceptedService::new(channel, Bearer::token(&token)?))
    }

    async fn clients(&self) -> anyhow::Result<Clients> {
        Ok(Clients {
            court: CourtGatewayClient::new(self.connect("court-bj").await?),
            ccpit: CcpitGatewayClient::new(self.connect("ccpit").await?),
            labour: LabourGatewayClient::new(self.connect("labour").await?),
            operations: OperationsClient::new(self.connect("operators").await?),
        })
    }

    async fn tear_down(self, args: &DemoArgs) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.driver.await?;
        let _ = self.served.await;
        if args.data_dir.is_none() {
            let _ = std::fs::remove_dir_all(&self.temp);
        }
        Ok(())
    }
}

/// The operator follows the alert stream for the whole run.
fn watch_alerts(operations: &OperationsClient<Authed>, log: &Log) -> JoinHandle<()> {
    let mut ops_client = operations.clone();
    let log = log.clone();
    tokio::spawn(async move {
        let Ok(stream) = ops_client
            .watch_alerts(ops::WatchAlertsRequest {
                after_seq: 0,
                follow: true,
                kinds: vec![],
            })
            .await
        else {
            return;
        };
        let mut stream = stream.into_inner();
        while let Ok(Some(a)) = stream.message().await {
            log.say(
                "ALERT",
                format!(
                    "#{} {} {} {}: {}",
                    a.seq,
                    a.severity().as_str_name().trim_start_matches("SEVERITY_"),
                    a.kind().as_str_name().trim_start_matches("ALERT_KIND_"),
                    short(&a.referral_id),
                    a.detail
                ),
            );
        }
    })
}

/// The referrals of the story: the commercial, labour and road-traffic one.
struct Referrals {
    commercial: String,
    labour: String,
    traffic: String,
}

/// What the court and the organisations do, day by day: the court refers
/// three disputes; the CCPIT centre accepts, settles and applies for
/// confirmation, and the court confirms; the labour committee accepts and
/// lets the 30 days run out, which ends its mediation; the road-traffic room
/// never answers.
async fn story(stage: &Stage, c: &mut Clients, out: &mut dyn Write) -> anyhow::Result<Referrals> {
    let (log, clock) = (&stage.log, &stage.clock);
    let court_api = &mut c.court;
    let ccpit_api = &mut c.ccpit;
    let labour_api = &mut c.labour;
    // Day 0: the court refers three disputes.
    let mut ids = Vec::new();
    for (what, wire) in [
        ("a sales-contract dispute", sim::cases::commercial()?),
        ("a labour dispute", sim::cases::labour()?),
        ("a road-traffic accident claim", sim::cases::accident()?),
    ] {
        log.say("court", format!("refers {what}"));
        let id = court_api
            .submit_referral(pb::SubmitReferralRequest { bundle: Some(wire) })
            .await?
            .into_inner()
            .referral_id;
        log.say("court", format!("referral {} stored", short(&id)));
        ids.push(id);
    }
    let (commercial, labour, traffic) = (ids[0].clone(), ids[1].clone(), ids[2].clone());

    let signed = |clock: &FastClock| {
        let t = clock.now();
        Some(prost_types::Timestamp {
            seconds: t.as_second(),
            nanos: 0,
        })
    };

    log.until(1.0, out).await?;
    ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: commercial.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            mediator: "m-007".into(),
            centre_case_number: "CCPIT-BJ-2025-0042".into(),
        })
        .await?;
    log.say(
        "ccpit",
        format!("ccpit-bj-01 accepted {}", short(&commercial)),
    );
    labour_api
        .accept_dispute(lp::AcceptDisputeRequest {
            dispute_id: labour.clone(),
            committee: "labour-bj-cy".into(),
            mediator: "m-101".into(),
            file_number: "朝劳调〔2025〕18号".into(),
        })
        .await?;
    log.say(
        "labour",
        format!(
            "labour-bj-cy accepted {} and then goes quiet",
            short(&labour)
        ),
    );

    log.until(9.0, out).await?;
    ccpit_api
        .submit_settlement(sim::cases::settlement(&commercial, signed(clock)))
        .await?;
    log.say(
        "ccpit",
        format!("settlement signed in {}", short(&commercial)),
    );

    log.until(11.0, out).await?;
    ccpit_api
        .apply_for_confirmation(cp::ApplyForConfirmationRequest {
            case_id: commercial.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            applicants: vec!["P1".into(), "P2".into()],
            applied_at: signed(clock),
        })
        .await?;
    log.say(
        "ccpit",
        format!(
            "both parties applied for judicial confirmation of {}",
            short(&commercial)
        ),
    );

    log.until(15.0, out).await?;
    court_api
        .record_ruling(pb::RecordRulingRequest {
            referral_id: commercial.clone(),
            court: "京0105".into(),
            outcome: pb::RulingOutcome::Confirmed.into(),
            case_number: "（2025）京0105民特12号".into(),
            reasons: String::new(),
            ruled_at: signed(clock),
        })
        .await?;
    log.say(
        "court",
        format!("confirmed the settlement in {}", short(&commercial)),
    );

    log.until(DAYS, out).await?;
    stage.caught_up().await;
    // Let the last notices and alerts arrive.
    tokio::time::sleep(Duration::from_millis(300)).await;
    log.print(out)?;
    Ok(Referrals {
        commercial,
        labour,
        traffic,
    })
}

/// The timelines, open breaches and figures, as an operator reads them.
async fn report(
    stage: &Stage,
    operations: &mut OperationsClient<Authed>,
    ids: &Referrals,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let clock = &stage.clock;
    let (commercial, labour, traffic) = (&ids.commercial, &ids.labour, &ids.traffic);
    writeln!(out)?;
    writeln!(out, "timelines, as an operator reads them:")?;
    for id in [commercial, labour, traffic] {
        let r = operations
            .get_referral_timeline(ops::GetReferralTimelineRequest {
                referral_id: id.clone(),
            })
            .await?
            .into_inner();
        writeln!(
            out,
            "  {} {} ({}): {}",
            short(id),
            r.court_referral_id,
            if r.organisation.is_empty() {
                "no organisation"
            } else {
                &r.organisation
            },
            r.status
        )?;
        for e in &r.timeline {
            let at =
                e.at.as_ref()
                    .and_then(|t| Timestamp::new(t.seconds, t.nanos).ok())
                    .map(|t| {
                        t.to_zoned(jiff::tz::TimeZone::fixed(cst::OFFSET))
                            .strftime("%Y-%m-%d %H:%M")
                            .to_string()
                    })
                    .unwrap_or_default();
            writeln!(out, "    {at}  {:<22} {}", e.event, e.summary)?;
        }
    }
    let breaches = operations
        .list_open_breaches(ops::ListOpenBreachesRequest::default())
        .await?
        .into_inner()
        .breaches;
    writeln!(out, "open breaches: {}", breaches.len())?;
    let to = clock.now();
    let stats = operations
        .get_statistics(ops::GetStatisticsRequest {
            from: Some(prost_types::Timestamp {
                seconds: START.parse::<Timestamp>()?.as_second(),
                nanos: 0,
            }),
            to: Some(prost_types::Timestamp {
                seconds: to.as_second() + 1,
                nanos: 0,
            }),
            partner: String::new(),
        })
        .await?
        .into_inner();
    for p in &stats.partners {
        let f = p.figures.clone().unwrap_or_default();
        writeln!(
            out,
            "  {:<20} referrals={} accepted={} agreements={} breaches={}",
            p.partner,
            f.referrals,
            f.accepted,
            f.agreements,
            f.acceptance_breaches + f.mediation_breaches
        )?;
    }
    Ok(())
}

/// A fresh directory under the system's temporary directory.
fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let unique = format!(
        "mediation-gateway-demo-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanosecond()
    );
    let dir = std::env::temp_dir().join(unique);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
