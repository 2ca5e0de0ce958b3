//! The simulated world: one store, one clock, and the gateway's replicas
//! built on them from the real components, started again after a crash as
//! the binary starts them (loads restored, raised alerts remembered).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use std::num::NonZeroU32;

use mediation_api::ccpit::CcpitService;
use mediation_api::court::CourtService;
use mediation_api::guard::{
    AUDIT_CREDITS_PER_TENANT, AuditProgress, AuditSink, Guard, write_call_audit,
};
use mediation_api::labour::LabourService;
use mediation_api::operations::OperationsService;
use mediation_api::transport::{OfferReceipts, deliver_with_receipts};
use mediation_core::calendar::Calendar;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::ids::OrganisationId;
use mediation_core::retention::RetentionPolicy;
use mediation_core::routing::{Roster, RosterEntry, Router};
use mediation_core::store::{AlertLog, PendingDelivery, ReferralStore};
use mediation_delivery::{
    Delivered, DeliveryError, DestinationBoard, Relay, RelayOptions, RetryPolicy, Transport,
};
use mediation_security::Authenticator;
use mediation_security::rate::RateLimits;
use mediation_security::tenants::Tenants;
use mediation_security::tokens::TokenPolicy;
use mediation_service::{
    Commands, DeadlineEngine, Policies, ReferralIds, Retention, RetentionOptions,
};
use mediation_store_memory::MemoryStore;

use crate::network::Network;

/// The shipped roster and calendar: the simulation routes and counts days
/// as the gateway does with its shipped configuration.
const ROSTER: &str = include_str!("../../../config/roster.toml");
const CALENDAR_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../config/calendar");

/// Why a simulation could not be set up: the shipped configuration it
/// starts from does not read.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the shipped roster does not read: {0}")]
    Roster(#[from] toml::de::Error),
    #[error("the shipped calendar does not read: {0}")]
    Calendar(String),
    #[error("{0}")]
    Other(String),
}

/// The shipped roster's organisations.
pub fn shipped_roster() -> Result<Vec<RosterEntry>, SetupError> {
    #[derive(serde::Deserialize)]
    struct File {
        organisation: Vec<RosterEntry>,
    }
    let file: File = toml::from_str(ROSTER)?;
    Ok(file.organisation)
}

/// The second CCPIT centre the simulation adds to the shipped roster.
pub const SECOND_CENTRE: &str = "ccpit-bj-sim";

/// New referrals' ids in a simulation: ULIDs of the simulated time, with a
/// counter for their random part, so a run's ids are its seed's.
#[derive(Debug)]
pub struct SimIds {
    clock: Arc<ManualClock>,
    next: AtomicU64,
}

impl ReferralIds for SimIds {
    fn next_id(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let ms = u64::try_from(self.clock.now().as_millisecond()).unwrap_or(0);
        ulid::Ulid::from_parts(ms, u128::from(n)).to_string()
    }
}

/// One replica of the gateway: what a `serve` process holds.
#[allow(missing_debug_implementations)] // its services have no Debug of their own
pub struct Replica {
    pub gateway: Arc<Commands<MemoryStore>>,
    pub engine: DeadlineEngine<MemoryStore>,
    /// The purge of personal data, with periods short enough that a run
    /// reaches them: a day after a referral's last event, the 45 days the
    /// law needs for an agreed one.
    pub retention: Retention<MemoryStore>,
    pub court: CourtService<MemoryStore>,
    pub ccpit: CcpitService<MemoryStore>,
    pub labour: LabourService<MemoryStore>,
    pub operations: OperationsService<MemoryStore>,
    /// The call guard every call passes: the caller's role may call the
    /// method, the tenant's rate and calls in flight, and the call's
    /// record in the audit log (in the command's own commit, or by the
    /// writer below).
    pub guard: Guard,
    pub audit: AuditProgress,
    writer: tokio::task::JoinHandle<()>,
}

impl Drop for Replica {
    fn drop(&mut self) {
        // The process is gone: so is its audit writer, with whatever
        // records it had not written.
        self.writer.abort();
    }
}

/// The relay's transport: offers go through the gateway's own offer
/// receipts ([`deliver_with_receipts`]), and everything over the simulated
/// network.
#[allow(missing_debug_implementations)]
pub struct SimTransport {
    pub network: Network,
    pub receipts: Arc<dyn OfferReceipts>,
}

impl Transport for SimTransport {
    async fn deliver(&self, delivery: &PendingDelivery) -> Result<Delivered, DeliveryError> {
        deliver_with_receipts(&self.network, Some(&self.receipts), delivery).await
    }
}

/// Everything that lives outside the gateway's processes, and the
/// processes themselves.
#[allow(missing_debug_implementations)]
pub struct World {
    pub store: MemoryStore,
    pub clock: Arc<ManualClock>,
    pub network: Network,
    ids: Arc<SimIds>,
    calendar: Arc<RwLock<Calendar>>,
    roster: Vec<RosterEntry>,
    /// Two replicas on the one store, as the gateway runs on PostgreSQL.
    pub replicas: [Replica; 2],
    /// The relay of the replica that holds the relay's lease.
    pub relay: Relay<MemoryStore, SimTransport>,
}

impl World {
    pub async fn start(
        store: MemoryStore,
        start: Timestamp,
        network: Network,
    ) -> Result<Self, SetupError> {
        let clock = Arc::new(ManualClock::new(start));
        let calendar = Calendar::load_dir(std::path::Path::new(CALENDAR_DIR))
            .map_err(|e| SetupError::Calendar(e.to_string()))?;
        let mut roster = shipped_roster()?;
        // A second CCPIT centre serving the Beijing courts, so that routing,
        // a court's reassignment and a reroute have somewhere else to go.
        if let Some(second) = roster
            .iter()
            .find(|e| e.id.as_str() == "ccpit-bj-01")
            .cloned()
        {
            roster.push(RosterEntry {
                id: OrganisationId::parse(SECOND_CENTRE)
                    .map_err(|e| SetupError::Other(e.to_string()))?,
                ..second
            });
        }
        let ids = Arc::new(SimIds {
            clock: Arc::clone(&clock),
            next: AtomicU64::new(1),
        });
        let calendar = Arc::new(RwLock::new(calendar));
        let replicas = Self::replicas(&store, &clock, &ids, &calendar, &roster).await;
        let relay = Self::relay(&store, &clock, &network, &replicas[0]);
        Ok(Self {
            store,
            clock,
            network,
            ids,
            calendar,
            roster,
            replicas,
            relay,
        })
    }

    /// A power cut of every replica at once (they share the store's
    /// machine in the simulation): what was not synced is lost, so is what
    /// the gateway had not yet let go, and the replicas start again. Copies
    /// already on the wire still arrive.
    pub async fn crash_and_restart(&mut self) {
        self.store.crash();
        self.network.crash();
        self.replicas = Self::replicas(
            &self.store,
            &self.clock,
            &self.ids,
            &self.calendar,
            &self.roster,
        )
        .await;
        self.relay = Self::relay(&self.store, &self.clock, &self.network, &self.replicas[0]);
    }

    /// Both replicas, started as `serve` starts.
    async fn replicas(
        store: &MemoryStore,
        clock: &Arc<ManualClock>,
        ids: &Arc<SimIds>,
        calendar: &Arc<RwLock<Calendar>>,
        roster: &[RosterEntry],
    ) -> [Replica; 2] {
        [
            Self::replica(store, clock, ids, calendar, roster).await,
            Self::replica(store, clock, ids, calendar, roster).await,
        ]
    }

    async fn replica(
        store: &MemoryStore,
        clock: &Arc<ManualClock>,
        ids: &Arc<SimIds>,
        calendar: &Arc<RwLock<Calendar>>,
        roster: &[RosterEntry],
    ) -> Replica {
        let roster = Arc::new(Roster::new(
            roster.to_vec(),
            mediation_core::fixtures::courts(),
        ));
        // As `serve` does at start: the organisations' loads from the store,
        // and the alerts raised once that were raised already.
        if let Ok(loads) = store.loads().await {
            for (organisation, n) in loads {
                roster.set_load(organisation, u32::try_from(n).unwrap_or(u32::MAX));
            }
        }
        let raised: Vec<String> = store
            .alerts_after(0, usize::MAX)
            .await
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| a.record.subject)
            .collect();
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        let gateway = Arc::new(
            Commands::new(
                store.clone(),
                Arc::clone(calendar),
                Policies::default(),
                roster as Arc<dyn Router>,
                mediation_core::fixtures::courts(),
                dyn_clock,
            )
            .with_ids(ids.clone()),
        );
        gateway.remember_raised(raised);
        let security_clock: Arc<dyn Clock> = clock.clone();
        let authenticator = Arc::new(Authenticator::new(
            Tenants::default(),
            TokenPolicy {
                audience: "mediation-gateway".into(),
                leeway_seconds: 30,
            },
            Arc::clone(&security_clock),
            false,
        ));
        // The shipped default rate, on the simulated clock.
        let per_second = NonZeroU32::new(200).unwrap_or(NonZeroU32::MIN);
        let limits = Arc::new(RateLimits::new(
            per_second,
            per_second,
            Arc::clone(&security_clock),
        ));
        let audit = AuditProgress::default();
        let (sink, records) = AuditSink::new(audit.clone(), AUDIT_CREDITS_PER_TENANT);
        let writer = tokio::spawn(write_call_audit(store.clone(), records, audit.clone()));
        let retention = Retention::new(
            Arc::clone(&gateway),
            None,
            RetentionOptions {
                policy: RetentionPolicy {
                    default_days: 1,
                    by_outcome: [(
                        mediation_core::lifecycle::Status::Agreed,
                        mediation_core::retention::AGREED_MIN_DAYS,
                    )]
                    .into(),
                },
                batch: 7,
                pause: std::time::Duration::ZERO,
                concurrency: 3,
                // A day, so that runs of the budget purge details.
                audit_detail_days: Some(1),
                ..RetentionOptions::default()
            },
        );
        Replica {
            engine: DeadlineEngine::new(Arc::clone(&gateway)),
            retention,
            court: CourtService::new(Arc::clone(&gateway), None),
            ccpit: CcpitService::new(Arc::clone(&gateway), None),
            labour: LabourService::new(Arc::clone(&gateway), None),
            operations: OperationsService::new(
                Arc::clone(&gateway),
                DestinationBoard::default(),
                None,
            ),
            guard: Guard::new(authenticator, limits, sink, security_clock),
            audit,
            writer,
            gateway,
        }
    }

    fn relay(
        store: &MemoryStore,
        clock: &Arc<ManualClock>,
        network: &Network,
        replica: &Replica,
    ) -> Relay<MemoryStore, SimTransport> {
        let receipts: Arc<dyn OfferReceipts> = replica.gateway.clone();
        let transport = SimTransport {
            network: network.clone(),
            receipts,
        };
        let dyn_clock: Arc<dyn Clock> = clock.clone();
        Relay::new(
            store.clone(),
            Arc::new(transport),
            dyn_clock,
            RelayOptions {
                // Jitter draws from the process's own randomness: a run of
                // a seed must not.
                retry: RetryPolicy {
                    jitter: false,
                    ..RetryPolicy::default()
                },
                per_destination_in_flight: 4,
                ..RelayOptions::default()
            },
        )
    }

    /// The roster the replicas route by.
    pub fn roster(&self) -> &[RosterEntry] {
        &self.roster
    }

    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }
}
