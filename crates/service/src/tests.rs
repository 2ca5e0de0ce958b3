//! The command path and the deadline engine on the real sled store, with a
//! manual clock.

use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use jiff::civil::date;
use mediation_core::alert::AlertKind;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::fixtures::*;
use mediation_core::lifecycle::{Change, Referral, Status};
use mediation_core::outbox::Destination;
use mediation_core::partner::Partner;
use mediation_core::store::OutboxStore;
use mediation_core::timer::TimerKind;
use mediation_store::{SledStore, StoreOptions};

use crate::{BreachAction, Commands, DeadlineEngine, PartnerPolicy, Policies, ServiceError};

struct World {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    clock: Arc<ManualClock>,
    gateway: Arc<Commands<SledStore>>,
}

const PUSHED: &str = "2025-03-03T09:00:00+08:00"; // Monday: due Thursday 6 March

impl World {
    fn new(breach: BreachAction) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store");
        let clock = Arc::new(ManualClock::new(at(PUSHED)));
        let gateway = Self::gateway(&path, &clock, breach);
        Self {
            _dir: dir,
            path,
            clock,
            gateway,
        }
    }

    fn gateway(
        path: &std::path::Path,
        clock: &Arc<ManualClock>,
        breach: BreachAction,
    ) -> Arc<Commands<SledStore>> {
        let store = SledStore::open(StoreOptions::new(path)).unwrap();
        let policy = PartnerPolicy {
            acceptance_breach: breach,
            ..PartnerPolicy::default()
        };
        // The Beijing courts let the gateway pass their referrals on; the
        // sample bundles are theirs.
        let policies = Policies {
            default: policy,
            partners: [(Partner::Ccpit, policy)].into(),
            reassignment_courts: [mediation_core::fixtures::court("京")].into(),
        };
        let clock: Arc<dyn Clock> = clock.clone();
        Arc::new(Commands::new(
            store,
            Arc::new(RwLock::new(shipped_calendar())),
            policies,
            Arc::new(FixedRoster(vec!["org-a", "org-b"])),
            courts(),
            clock,
        ))
    }

    /// The gateway goes down and comes back on the same data.
    fn restart(self, breach: BreachAction) -> Self {
        let World {
            _dir,
            path,
            clock,
            gateway,
        } = self;
        drop(gateway);
        let gateway = Self::gateway(&path, &clock, breach);
        World {
            _dir,
            path,
            clock,
            gateway,
        }
    }

    fn engine(&self) -> DeadlineEngine<SledStore> {
        DeadlineEngine::new(Arc::clone(&self.gateway))
    }

    fn store(&self) -> &SledStore {
        self.gateway.store()
    }

    /// The action and outcome of each audit entry of the gateway's
    /// acceptance timers, in order.
    fn acceptance_timers_audited(&self) -> Vec<(String, String)> {
        self.store()
            .audit_entries(0, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.record.actor == "gateway" && e.record.action.starts_with("acceptance"))
            .map(|e| (e.record.action, e.record.outcome))
            .collect()
    }

    fn changes(&self, referral: &Referral) -> Vec<&'static str> {
        self.store()
            .history(referral.id())
            .unwrap()
            .unwrap()
            .iter()
            .map(|e| e.change.name())
            .collect()
    }
}

#[tokio::test]
async fn a_submission_is_received_routed_and_scheduled() {
    let w = World::new(BreachAction::ReturnToCourt);
    let s = w
        .gateway
        .submit(sample_bundle(), "court:京0105")
        .await
        .unwrap();
    assert!(s.created);
    assert_eq!(s.referral.status(), Status::AwaitingAcceptance);
    // Nothing runs until the offer reaches the platform.
    let none = w
        .store()
        .due_timers(at("2030-01-01T00:00:00Z"), 10)
        .unwrap();
    assert!(none.is_empty(), "{none:?}");
    let offered = w
        .gateway
        .offer_delivered(s.referral.id(), &organisation("org-a"), w.clock.now())
        .await
        .unwrap();
    assert_eq!(offered.offered_at(), Some(w.clock.now()));
    assert_eq!(
        s.referral.assignment().unwrap().organisation,
        organisation("org-a")
    );
    let timers = w
        .store()
        .due_timers(at("2030-01-01T00:00:00Z"), 10)
        .unwrap();
    assert_eq!(
        timers.iter().map(|t| t.kind).collect::<Vec<_>>(),
        [TimerKind::AcceptanceWarning, TimerKind::AcceptanceBreach]
    );
    // The partner is offered the case, with its bundle; the court is told
    // who has it, without one.
    let due = w.store().due_deliveries(w.clock.now(), 10).await.unwrap();
    assert_eq!(due.len(), 2);
    let offer = due
        .iter()
        .find(|d| d.message.destination == Destination::Partner(Partner::Ccpit))
        .unwrap();
    assert_eq!(offer.message.bundle.as_deref(), Some(&sample_bundle()));
    let notice = due
        .iter()
        .find(|d| d.message.destination == Destination::Court(court("京0105")))
        .unwrap();
    assert!(notice.message.bundle.is_none());
    assert_eq!(notice.message.holder, Some(organisation("org-a")));
}

#[tokio::test]
async fn resubmitting_is_idempotent_and_different_content_is_refused() {
    let w = World::new(BreachAction::ReturnToCourt);
    let first = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    let again = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.referral.id(), first.referral.id());
    assert_eq!(
        w.changes(&first.referral),
        ["received", "routed", "offer_delivered"]
    );
    assert_eq!(
        w.store()
            .due_deliveries(w.clock.now(), 10)
            .await
            .unwrap()
            .len(),
        2,
        "no second offer (one offer, one routing notice to the court)"
    );

    let mut changed = sample_bundle();
    changed.cause_of_action = line("借款合同纠纷");
    match w.gateway.submit_offered(changed, "court").await {
        Err(ServiceError::Conflict { existing }) => assert_eq!(&existing, first.referral.id()),
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(
        w.changes(&first.referral),
        ["received", "routed", "offer_delivered"]
    );
}

#[tokio::test]
async fn an_invalid_submission_writes_nothing_but_its_audit_record() {
    let w = World::new(BreachAction::ReturnToCourt);
    let mut bundle = sample_bundle();
    bundle.consents.clear();
    match w
        .gateway
        .submit_offered(bundle.clone(), "court:京0105")
        .await
    {
        Err(ServiceError::Invalid(v)) => assert_eq!(v.fields().collect::<Vec<_>>(), ["consents"]),
        other => panic!("expected invalid, got {other:?}"),
    }
    let key = mediation_core::store::CourtKey {
        court: bundle.court,
        court_referral_id: bundle.court_referral_id,
        filed_by: None,
    };
    assert_eq!(w.store().find_by_court_key(&key).unwrap(), None);
    assert!(
        w.store()
            .due_deliveries(at("2030-01-01T00:00:00Z"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        w.store()
            .due_timers(at("2030-01-01T00:00:00Z"), 10)
            .unwrap()
            .is_empty()
    );
    let audit = w.store().audit_entries(0, 10).unwrap();
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0]
            .record
            .outcome
            .starts_with("rejected: invalid request: consents"),
        "{}",
        audit[0].record.outcome
    );
}

#[tokio::test]
async fn the_acceptance_warning_fires_once() {
    let w = World::new(BreachAction::ReturnToCourt);
    let s = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    let engine = w.engine();
    w.clock.set(at("2025-03-05T23:59:59+08:00"));
    assert_eq!(engine.sweep().await.unwrap().fired, 0);
    w.clock.set(at("2025-03-06T00:00:00+08:00"));
    assert_eq!(engine.sweep().await.unwrap().fired, 1);
    assert_eq!(engine.sweep().await.unwrap().fired, 0);
    assert_eq!(
        w.changes(&s.referral),
        ["received", "routed", "offer_delivered", "deadline_warning"]
    );
    let alerts = w.store().alerts_after(0, 10).unwrap();
    assert_eq!(
        alerts.iter().map(|a| a.record.kind).collect::<Vec<_>>(),
        [AlertKind::AcceptanceWarning]
    );
}

#[tokio::test]
async fn an_acceptance_breach_returns_the_referral_to_the_court() {
    let w = World::new(BreachAction::ReturnToCourt);
    let s = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    w.clock.set(at("2025-03-07T00:00:00+08:00"));
    let report = w.engine().sweep().await.unwrap();
    assert_eq!(report.fired, 2, "the missed warning and the breach");
    // Due together, they fire in one commit, in order: one audit entry
    // names both.
    let fired = w.acceptance_timers_audited();
    assert_eq!(
        fired,
        [(
            "acceptance_warning+acceptance_breach".to_owned(),
            "ok".to_owned()
        )]
    );
    let changes = w.changes(&s.referral);
    let warned = changes
        .iter()
        .position(|c| *c == "deadline_warning")
        .unwrap();
    assert_eq!(
        changes[warned..],
        [
            "deadline_warning",
            "acceptance_overdue",
            "returned_to_court",
            "court_decision_awaited"
        ],
        "{changes:?}"
    );
    let r = w.gateway.referral(s.referral.id()).await.unwrap().unwrap();
    assert_eq!(r.status(), Status::ReturnedToCourt);
    // Back with the court, which is reminded after 7 working days if it has
    // not decided (CPL Art. 126): Friday 7 March, then 10–18 March.
    let reminder = at("2025-03-19T00:00:00+08:00");
    assert_eq!(
        r.timers()
            .iter()
            .map(|t| (t.kind, t.fire_at))
            .collect::<Vec<_>>(),
        [(TimerKind::CourtDecisionReminder, reminder)]
    );
    assert_eq!(
        w.store()
            .due_timers(at("2030-01-01T00:00:00Z"), 10)
            .unwrap()
            .len(),
        1
    );
    let kinds: Vec<_> = w
        .store()
        .alerts_after(0, 10)
        .unwrap()
        .iter()
        .map(|a| a.record.kind)
        .collect();
    assert!(kinds.contains(&AlertKind::AcceptanceBreach), "{kinds:?}");
    // The court hears of the routing, the offer's delivery, the breach and
    // the return; order is kept in its lane.
    let court = Destination::Court(court("京0105"));
    let backlog = w.store().backlog().unwrap();
    let to_court = backlog
        .iter()
        .find(|b| b.destination == court.key())
        .unwrap();
    assert_eq!(to_court.pending, 4);

    // The court does not decide: on 19 March it is reminded, once, and
    // operators are alerted.
    w.clock.set(at("2025-03-18T23:00:00+08:00"));
    assert_eq!(w.engine().sweep().await.unwrap().fired, 0);
    w.clock.set(reminder);
    assert_eq!(w.engine().sweep().await.unwrap().fired, 1);
    assert_eq!(w.engine().sweep().await.unwrap().fired, 0);
    let r = w.gateway.referral(s.referral.id()).await.unwrap().unwrap();
    assert!(r.timers().is_empty());
    assert!(r.court_wait().unwrap().reminded);
    let overdue = w
        .store()
        .alerts_after(0, 10)
        .unwrap()
        .iter()
        .filter(|a| a.record.kind == AlertKind::CourtDecisionOverdue)
        .count();
    assert_eq!(overdue, 1);
    let backlog = w.store().backlog().unwrap();
    let to_court = backlog
        .iter()
        .find(|b| b.destination == court.key())
        .unwrap();
    assert_eq!(to_court.pending, 5, "the court's reminder");
}

/// Timers found due together fire apart, each as it would alone, when one
/// of them does not apply: here a warning already given, offered again
/// with its breach. No entry names a timer that did nothing.
#[tokio::test]
async fn timers_due_together_fire_apart_when_one_does_not_apply() {
    let w = World::new(BreachAction::ReturnToCourt);
    let s = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    let timers = s.referral.timers();
    let kinds: Vec<_> = timers.iter().map(|t| t.kind).collect();
    assert_eq!(
        kinds,
        [TimerKind::AcceptanceWarning, TimerKind::AcceptanceBreach]
    );
    w.clock.set(at("2025-03-07T00:00:00+08:00"));
    w.gateway.fire(&timers[0]).await.unwrap();
    let r = w.gateway.fire_due(s.referral.id(), &timers).await.unwrap();
    assert_eq!(r.status(), Status::ReturnedToCourt);
    let fired = w.acceptance_timers_audited();
    assert_eq!(
        fired,
        [
            ("acceptance_warning".to_owned(), "ok".to_owned()),
            ("acceptance_breach".to_owned(), "ok".to_owned())
        ]
    );
    let warnings = w
        .changes(&s.referral)
        .into_iter()
        .filter(|c| *c == "deadline_warning")
        .count();
    assert_eq!(warnings, 1, "the warning is given once");
}

#[tokio::test]
async fn an_acceptance_breach_can_reroute_to_the_next_organisation() {
    let w = World::new(BreachAction::Reroute);
    let s = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    w.clock.set(at("2025-03-07T00:00:00+08:00"));
    w.engine().sweep().await.unwrap();
    let r = w.gateway.referral(s.referral.id()).await.unwrap().unwrap();
    assert_eq!(r.status(), Status::AwaitingAcceptance);
    assert_eq!(r.assignment().unwrap().organisation, organisation("org-b"));
    // Nothing runs for org-b until its platform has the offer; then a
    // fresh acceptance period from Friday 7 March: due Wednesday 12 March.
    assert_eq!(r.acceptance_deadline(), None);
    let r = w
        .gateway
        .offer_delivered(s.referral.id(), &organisation("org-b"), w.clock.now())
        .await
        .unwrap();
    assert_eq!(r.acceptance_deadline().unwrap().due_date, date(2025, 3, 12));
    // When org-b lets it pass too, no one is left: back to the court.
    w.clock.set(at("2025-03-13T00:00:00+08:00"));
    w.engine().sweep().await.unwrap();
    let r = w.gateway.referral(s.referral.id()).await.unwrap().unwrap();
    assert_eq!(r.status(), Status::ReturnedToCourt);
}

#[tokio::test]
async fn a_referral_the_court_did_not_let_go_comes_back_despite_a_reroute_policy() {
    // Online rules Art. 12; seed 000 §(十三): passing a referral on is the
    // court's choice. A Shanghai court has not allowed it.
    let w = World::new(BreachAction::Reroute);
    let mut bundle = sample_bundle();
    bundle.court = mediation_core::fixtures::court("沪0115");
    bundle.court_referral_id = "SH-1".parse().unwrap();
    let s = w
        .gateway
        .submit_offered(bundle.clone(), "court")
        .await
        .unwrap();
    w.clock.set(at("2025-03-07T00:00:00+08:00"));
    w.engine().sweep().await.unwrap();
    let r = w.gateway.referral(s.referral.id()).await.unwrap().unwrap();
    assert_eq!(r.status(), Status::ReturnedToCourt);
    // The same court, allowing it for this one referral in its bundle.
    bundle.court_referral_id = "SH-2".parse().unwrap();
    bundle.reassignment_allowed = true;
    w.clock.set(at(PUSHED));
    let s = w.gateway.submit_offered(bundle, "court").await.unwrap();
    w.clock.set(at("2025-03-07T00:00:00+08:00"));
    w.engine().sweep().await.unwrap();
    let r = w.gateway.referral(s.referral.id()).await.unwrap().unwrap();
    assert_eq!(r.status(), Status::AwaitingAcceptance);
    assert_eq!(r.assignment().unwrap().organisation, organisation("org-b"));
}

#[tokio::test]
async fn deadlines_that_passed_while_down_fire_at_start_with_their_due_time() {
    let w = World::new(BreachAction::ReturnToCourt);
    let s = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    // Down from Tuesday until the following Monday.
    let w = w.restart(BreachAction::ReturnToCourt);
    w.clock.set(at("2025-03-10T08:00:00+08:00"));
    w.engine().sweep().await.unwrap();
    let history = w.store().history(s.referral.id()).unwrap().unwrap();
    let overdue = history
        .iter()
        .find_map(|e| match &e.change {
            Change::AcceptanceOverdue { due_at, .. } => Some((*due_at, e.at)),
            _ => None,
        })
        .expect("the breach was recorded");
    assert_eq!(
        overdue.0,
        at("2025-03-07T00:00:00+08:00"),
        "carries the original due time"
    );
    assert_eq!(
        overdue.1,
        at("2025-03-10T08:00:00+08:00"),
        "recorded when it was found"
    );
    let breach = w
        .store()
        .alerts_after(0, 10)
        .unwrap()
        .into_iter()
        .find(|a| a.record.kind == AlertKind::AcceptanceBreach)
        .unwrap();
    assert_eq!(breach.record.due_at, Some(at("2025-03-07T00:00:00+08:00")));
}

#[tokio::test]
async fn pauses_and_extensions_move_the_timers() {
    let w = World::new(BreachAction::ReturnToCourt);
    let s = w
        .gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    let id = s.referral.id().clone();
    let org = organisation("org-a");
    w.clock.set(at("2025-03-04T10:00:00+08:00"));
    w.gateway
        .execute(&id, "org-a", "accept", |r, c| {
            r.accept(
                &org,
                Some(mediator("m1")),
                None,
                c.now,
                c.calendar,
                &c.policy.deadlines,
            )
        })
        .await
        .unwrap();
    let breach_at = |w: &World| {
        w.store()
            .due_timers(at("2030-01-01T00:00:00Z"), 10)
            .unwrap()
            .into_iter()
            .filter(|t| t.kind == TimerKind::MediationBreach)
            .map(|t| t.fire_at)
            .collect::<Vec<Timestamp>>()
    };
    assert_eq!(breach_at(&w), [at("2025-04-04T00:00:00+08:00")]);

    w.clock.set(at("2025-03-10T10:00:00+08:00"));
    w.gateway
        .execute(&id, "org-a", "appraisal", |r, c| {
            r.start_appraisal(&org, narrative("鉴定"), c.now, &c.policy.deadlines)
        })
        .await
        .unwrap();
    // No deadline runs while suspended; only the pause's review day.
    let kinds: Vec<TimerKind> = w
        .store()
        .due_timers(at("2030-01-01T00:00:00Z"), 10)
        .unwrap()
        .iter()
        .map(|t| t.kind)
        .collect();
    assert_eq!(
        kinds,
        [TimerKind::AppraisalReview],
        "no deadline runs while suspended"
    );

    w.clock.set(at("2025-03-20T10:00:00+08:00"));
    w.gateway
        .execute(&id, "org-a", "resume", |r, c| {
            r.end_appraisal(&org, c.now, c.calendar, &c.policy.deadlines)
        })
        .await
        .unwrap();
    // 3 April + 10 days = Sunday 13 April → Monday 14 April.
    assert_eq!(breach_at(&w), [at("2025-04-15T00:00:00+08:00")]);

    let everyone = vec![party_ref("P1"), party_ref("P2")];
    w.gateway
        .execute(&id, "org-a", "extend", |r, c| {
            r.extend(
                &org,
                date(2025, 5, 30),
                everyone.clone(),
                c.now,
                c.calendar,
                &c.policy.deadlines,
            )
        })
        .await
        .unwrap();
    // Agreed after the pause: the period ends on the agreed day, Friday
    // 30 May; the paused days before the agreement do not push it.
    assert_eq!(breach_at(&w), [at("2025-05-31T00:00:00+08:00")]);

    // At the limit mediation ends, and the court has the case back (online
    // rules Art. 25).
    w.clock.set(at("2025-05-31T00:00:00+08:00"));
    w.engine().sweep().await.unwrap();
    let r = w.gateway.referral(&id).await.unwrap().unwrap();
    assert_eq!(r.status(), Status::ReturnedToCourt);
    let kinds: Vec<_> = w
        .store()
        .alerts_after(0, 20)
        .unwrap()
        .iter()
        .map(|a| a.record.kind)
        .collect();
    assert!(kinds.contains(&AlertKind::MediationBreach), "{kinds:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_sweeps_fire_each_timer_once() {
    let w = World::new(BreachAction::ReturnToCourt);
    let mut ids = Vec::new();
    for i in 0..20 {
        let mut bundle = sample_bundle();
        bundle.court_referral_id = format!("race-{i}").parse().unwrap();
        ids.push(
            w.gateway
                .submit_offered(bundle, "court")
                .await
                .unwrap()
                .referral
                .id()
                .clone(),
        );
    }
    w.clock.set(at("2025-03-07T00:00:00+08:00"));
    let (a, b) = (w.engine(), w.engine());
    let (ra, rb) = tokio::join!(a.sweep(), b.sweep());
    ra.unwrap();
    rb.unwrap();
    for id in &ids {
        let names: Vec<_> = w
            .store()
            .history(id)
            .unwrap()
            .unwrap()
            .iter()
            .map(|e| e.change.name())
            .collect();
        assert_eq!(
            names,
            [
                "received",
                "routed",
                "offer_delivered",
                "deadline_warning",
                "acceptance_overdue",
                "returned_to_court",
                "court_decision_awaited"
            ],
            "{id}"
        );
    }
    let breaches = w
        .store()
        .alerts_after(0, 1000)
        .unwrap()
        .iter()
        .filter(|a| a.record.kind == AlertKind::AcceptanceBreach)
        .count();
    assert_eq!(breaches, 20);
}

#[tokio::test]
async fn a_notice_loaded_later_makes_provisional_deadlines_certain_and_moves_their_timers() {
    use crate::{Recompute, RecomputeReport};
    use mediation_core::calendar::{Holiday, Notice};
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(at("2026-12-01T09:00:00+08:00")));
    let calendar = Arc::new(RwLock::new(shipped_calendar()));
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let gateway = Commands::new(
        SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap(),
        Arc::clone(&calendar),
        Policies::default(),
        Arc::new(FixedRoster(vec!["org-a"])),
        courts(),
        dyn_clock,
    );
    // Inside 2026: certain.
    let early = gateway
        .submit_offered(sample_bundle(), "court")
        .await
        .unwrap();
    // Offered on Monday 21 December and let lapse: back with its court on
    // Monday 28 December, which is reminded after 7 working days (CPL Art.
    // 126). They reach into 2027: with 1 January its only known holiday,
    // the guess is the end of Thursday 7 January.
    let offered = async |when: &str, court_id: &str| {
        clock.set(at(when));
        let mut bundle = sample_bundle();
        bundle.court_referral_id = court_id.parse().unwrap();
        gateway
            .submit_offered(bundle, "court")
            .await
            .unwrap()
            .referral
    };
    let lapsed = offered("2026-12-21T09:00:00+08:00", "lapsed").await;
    clock.set(at("2026-12-28T10:00:00+08:00"));
    let breach = lapsed
        .timers()
        .into_iter()
        .find(|t| t.kind == TimerKind::AcceptanceBreach)
        .unwrap();
    let lapsed = gateway.fire(&breach).await.unwrap();
    assert_eq!(
        lapsed.court_reminder_due(),
        Some(at("2027-01-08T00:00:00+08:00"))
    );

    // Routed on Wednesday 30 December: the three days reach into 2027, which
    // has no notice yet, so the deadline is a guess (Tuesday 5 January).
    let late = offered("2026-12-30T09:00:00+08:00", "late").await;
    let guessed = late.acceptance_deadline().unwrap().clone();
    assert_eq!(guessed.due_date, date(2027, 1, 5));
    assert!(guessed.is_provisional());
    let events_before = gateway.store().history(late.id()).unwrap().unwrap().len();

    // The 2027 notice arrives: a hypothetical one making 1-5 January rest days.
    calendar.write().unwrap().insert(
        Notice::new(
            2027,
            "test notice",
            vec![Holiday {
                name: "元旦".into(),
                first: date(2027, 1, 1),
                last: date(2027, 1, 5),
                working_weekends: vec![],
            }],
        )
        .unwrap(),
    );
    let mut calls = 0;
    let report = gateway
        .recompute_deadlines(Recompute::Provisional, |_| calls += 1)
        .await
        .unwrap();
    assert_eq!(
        report,
        RecomputeReport {
            scanned: 3,
            considered: 2,
            changed: 2,
            still_provisional: 0,
            failed: 0,
        }
    );
    assert_eq!(calls, 1, "the closing progress line");
    // The court's reminder moved with the notice: 29–31 December, then 6,
    // 7, 8 and 11 January; its timer with it.
    let reminded_at = at("2027-01-12T00:00:00+08:00");
    let lapsed = gateway.referral(lapsed.id()).await.unwrap().unwrap();
    assert_eq!(lapsed.court_reminder_due(), Some(reminded_at));
    assert_eq!(
        lapsed.court_wait().unwrap().since,
        at("2026-12-28T10:00:00+08:00"),
        "the wait runs from when it began"
    );
    let reminders: Vec<_> = gateway
        .store()
        .due_timers(at("2030-01-01T00:00:00Z"), 100)
        .unwrap()
        .into_iter()
        .filter(|t| &t.referral == lapsed.id())
        .map(|t| (t.kind, t.fire_at))
        .collect();
    assert_eq!(reminders, [(TimerKind::CourtDecisionReminder, reminded_at)]);
    let now = gateway.referral(late.id()).await.unwrap().unwrap();
    let fresh = now.acceptance_deadline().unwrap();
    assert_eq!(fresh.due_date, date(2027, 1, 7));
    assert!(!fresh.is_provisional());
    let history = gateway.store().history(late.id()).unwrap().unwrap();
    assert_eq!(history.len(), events_before + 1);
    assert_eq!(history.last().unwrap().change.name(), "deadline_recomputed");
    // The breach timer moved with it: nothing for the late referral is due
    // at the old guess, and its breach is due after the new day.
    let due = |when: &str| -> Vec<TimerKind> {
        gateway
            .store()
            .due_timers(at(when), 100)
            .unwrap()
            .into_iter()
            .filter(|t| &t.referral == late.id())
            .map(|t| t.kind)
            .collect()
    };
    assert!(
        !due("2027-01-06T00:00:01+08:00").contains(&TimerKind::AcceptanceBreach),
        "the old breach timer is gone"
    );
    assert!(due("2027-01-08T00:00:01+08:00").contains(&TimerKind::AcceptanceBreach));
    // The certain deadline was not touched.
    assert!(
        !early
            .referral
            .acceptance_deadline()
            .unwrap()
            .is_provisional()
    );
    let early_history = gateway
        .store()
        .history(early.referral.id())
        .unwrap()
        .unwrap();
    assert!(
        early_history
            .iter()
            .all(|e| e.change.name() != "deadline_recomputed")
    );

    // A second pass changes nothing and writes nothing.
    let again = gateway
        .recompute_deadlines(Recompute::All, |_| {})
        .await
        .unwrap();
    assert_eq!((again.considered, again.changed), (3, 0));
    assert_eq!(
        gateway.store().history(late.id()).unwrap().unwrap().len(),
        events_before + 1
    );
}

#[tokio::test]
async fn a_missing_year_is_alerted_once_however_many_referrals_reach_into_it() {
    use mediation_core::alert::AlertKind;
    let w = World::new(BreachAction::ReturnToCourt);
    // Routed on Wednesday 30 December 2026: three working days reach into
    // 2027, which has no notice in the shipped calendar.
    w.clock.set(at("2026-12-30T09:00:00+08:00"));
    for n in 0..5 {
        let mut bundle = sample_bundle();
        bundle.court_referral_id = format!("year-{n}").parse().unwrap();
        let submitted = w.gateway.submit_offered(bundle, "court").await.unwrap();
        assert!(
            submitted
                .referral
                .acceptance_deadline()
                .unwrap()
                .is_provisional()
        );
    }
    let missing = |store: &SledStore| -> Vec<Option<String>> {
        store
            .alerts_after(0, 1_000)
            .unwrap()
            .into_iter()
            .filter(|a| a.record.kind == AlertKind::CalendarYearMissing)
            .map(|a| a.record.subject)
            .collect()
    };
    assert_eq!(missing(w.store()), [Some("calendar:2027".to_owned())]);

    // A restart remembers, once the assembly has told it what was raised.
    let w = w.restart(BreachAction::ReturnToCourt);
    w.gateway
        .remember_raised(missing(w.store()).into_iter().flatten());
    let mut bundle = sample_bundle();
    bundle.court_referral_id = "year-after-restart".parse().unwrap();
    w.gateway.submit_offered(bundle, "court").await.unwrap();
    assert_eq!(missing(w.store()).len(), 1);

    // Forgotten (the notice was loaded and taken away again): raised anew.
    w.gateway.forget_raised(|s| s == "calendar:2027");
    let mut bundle = sample_bundle();
    bundle.court_referral_id = "year-after-removal".parse().unwrap();
    w.gateway.submit_offered(bundle, "court").await.unwrap();
    assert_eq!(missing(w.store()).len(), 2);
}

/// Submitting as a court does, with the offer acknowledged by the platform at
/// once, as the relay reports a prompt delivery.
trait SubmitOffered {
    async fn submit_offered(
        &self,
        bundle: mediation_core::bundle::CaseBundle,
        actor: &str,
    ) -> Result<crate::Submission, ServiceError>;
}

impl SubmitOffered for Commands<SledStore> {
    async fn submit_offered(
        &self,
        bundle: mediation_core::bundle::CaseBundle,
        actor: &str,
    ) -> Result<crate::Submission, ServiceError> {
        let mut submission = self.submit(bundle, actor).await?;
        if let Some(a) = submission.referral.assignment().cloned()
            && submission.referral.status() == Status::AwaitingAcceptance
        {
            submission.referral = self
                .offer_delivered(
                    submission.referral.id(),
                    &a.organisation,
                    self.clock().now(),
                )
                .await?;
        }
        Ok(submission)
    }
}

/// What one referral costs the store, from the court's submission through
/// the platform's receipt of the offer and the delivery of every message
/// the submission made (`docs/store.md`, "Writes per referral"): a bound
/// that holds the count where it was brought, so that a change that adds
/// writes shows here.
#[tokio::test]
async fn a_referral_costs_few_key_writes_from_submission_to_receipt() {
    let w = World::new(BreachAction::ReturnToCourt);
    let referrals = 20u64;
    let (_, _, before) = w.store().commit_stats().key_writes();
    let (batches_before, _, _) = w.store().commit_stats().key_writes();
    for n in 0..referrals {
        let mut bundle = sample_bundle();
        bundle.court_referral_id = format!("WRITES-{n}").parse().unwrap();
        let s = w.gateway.submit(bundle, "court:京0105").await.unwrap();
        let id = s.referral.id().clone();
        // The receipt's commit may make messages of its own: deliver
        // until none waits.
        for _round in 0..5 {
            for message in w.store().pending_messages(&id).unwrap() {
                match &message.message.destination {
                    Destination::Partner(_) => {
                        let recorded = w
                            .gateway
                            .offer_received(&id, &organisation("org-a"), w.clock.now(), &message.id)
                            .await
                            .unwrap();
                        assert!(recorded);
                    }
                    Destination::Court(_) => {
                        OutboxStore::record_delivery(
                            w.store(),
                            &message.id,
                            mediation_core::store::DeliveryOutcome::Delivered,
                        )
                        .await
                        .unwrap();
                    }
                }
            }
        }
        let left = w.store().pending_messages(&id).unwrap();
        assert!(left.is_empty(), "{left:?}");
    }
    let (batches, asked, written) = w.store().commit_stats().key_writes();
    let per_referral = (written - before) as f64 / referrals as f64;
    println!(
        "per referral: {:.1} key writes in {:.1} batches ({:.1} asked for)",
        per_referral,
        (batches - batches_before) as f64 / referrals as f64,
        asked as f64 / referrals as f64,
    );
    // Schema 7: 15 + 12 + 4 + 3 (`docs/store.md`).
    assert!(
        per_referral <= 34.0,
        "{per_referral} key writes per referral"
    );
}

mod retention {
    //! The purge of personal data past its retention, on the sled store
    //! and the document directory, with the manual clock.

    use std::sync::Arc;

    use jiff::SignedDuration;
    use mediation_core::clock::Clock;
    use mediation_core::document::Sha256Digest;
    use mediation_core::fixtures::*;
    use mediation_core::lifecycle::{Change, Referral, Status};
    use mediation_core::outbox::Destination;
    use mediation_core::retention::RetentionPolicy;
    use mediation_core::statistics::{Period, Statistics};
    use mediation_core::store::{DeliveryOutcome, DocumentFiles, OutboxStore, ReferralStore};
    use mediation_store::documents::DocumentStore;
    use sha2::{Digest, Sha256};

    use super::World;
    use crate::{BreachAction, PurgeReport, RETENTION_ACTOR, Retention, RetentionOptions};

    const SCAN: &[u8] = b"the claimant's identity card, scanned";

    fn scan_digest() -> Sha256Digest {
        Sha256Digest::from_bytes(Sha256::digest(SCAN).into())
    }

    fn files(w: &World) -> Arc<DocumentStore> {
        let files = DocumentStore::open(w.path.with_extension("documents")).unwrap();
        let mut upload = files.begin(scan_digest(), SCAN.len() as u64).unwrap();
        upload.write(SCAN).unwrap();
        upload.finish("court:京0105").unwrap();
        Arc::new(files)
    }

    fn retention(
        w: &World,
        files: &Arc<DocumentStore>,
        days: u32,
    ) -> Retention<mediation_store::SledStore> {
        let files: Arc<dyn DocumentFiles> = files.clone();
        Retention::new(
            Arc::clone(&w.gateway),
            Some(files),
            RetentionOptions {
                policy: RetentionPolicy {
                    default_days: days,
                    by_outcome: [(Status::Recalled, 30)].into(),
                },
                batch: 2,
                pause: std::time::Duration::ZERO,
                ..RetentionOptions::default()
            },
        )
    }

    /// A referral of the sample bundle (which lists the scan) recalled by its
    /// court, with every message delivered.
    fn listing_the_scan(reference: &str) -> mediation_core::bundle::CaseBundle {
        let mut bundle = sample_bundle();
        bundle.court_referral_id = reference.parse().unwrap();
        bundle.documents[0].sha256 = scan_digest();
        bundle.documents[0].size_bytes = SCAN.len() as u64;
        bundle
    }

    /// `bundle` submitted by its court and recalled by it for `reason`.
    async fn submitted_and_recalled(
        w: &World,
        bundle: mediation_core::bundle::CaseBundle,
        reason: &str,
    ) -> Referral {
        let s = w.gateway.submit(bundle, "court:京0105").await.unwrap();
        recall(w, s.referral.id(), reason).await
    }

    async fn recall(w: &World, id: &mediation_core::ids::ReferralId, reason: &str) -> Referral {
        let referral = w
            .gateway
            .execute(id, "court:京0105", "recall", |r, ctx| {
                r.recall(&court("京0105"), narrative(reason), ctx.now)
            })
            .await
            .unwrap();
        assert_eq!(referral.status(), Status::Recalled);
        referral
    }

    async fn recalled(w: &World, reference: &str) -> Referral {
        let referral = submitted_and_recalled(w, listing_the_scan(reference), "当事人已和解").await;
        deliver_everything(w).await;
        referral
    }

    async fn deliver_everything(w: &World) {
        let store = w.store();
        loop {
            let due = store.due_deliveries(w.clock.now(), 100).await.unwrap();
            if due.is_empty() {
                return;
            }
            for d in due {
                store
                    .record_delivery(&d.id, DeliveryOutcome::Delivered)
                    .await
                    .unwrap();
            }
        }
    }

    fn history_text(w: &World, referral: &Referral) -> String {
        format!("{:?}", w.store().history(referral.id()).unwrap().unwrap())
    }

    #[tokio::test]
    async fn a_recalled_referral_is_purged_once_its_period_has_passed_and_its_file_with_it() {
        let w = World::new(BreachAction::ReturnToCourt);
        let files = files(&w);
        let referral = recalled(&w, "RET-1").await;
        let open = w
            .gateway
            .submit(listing_the_scan("RET-OPEN"), "court:京0105")
            .await
            .unwrap();
        let before = w.store().history(referral.id()).unwrap().unwrap();
        let retention = retention(&w, &files, 180);
        assert!(history_text(&w, &referral).contains("张三"));

        // 29 days on: kept.
        w.clock.advance(SignedDuration::from_hours(24 * 29));
        let report = retention.pass().await.unwrap();
        assert_eq!(
            (report.examined, report.kept, report.open, report.purged),
            (2, 1, 1, 0),
            "{report:?}"
        );
        // 30 days on: purged, under the policy for a recalled referral.
        w.clock.advance(SignedDuration::from_hours(24));
        let report = retention.pass().await.unwrap();
        assert_eq!((report.purged, report.open), (1, 1), "{report:?}");
        assert_eq!(
            (report.files_removed, report.files_kept),
            (0, 1),
            "{report:?}"
        );
        let text = history_text(&w, &referral);
        for personal in ["张三", "11010519491231002X", "13800000000", "当事人已和解"] {
            assert!(!text.contains(personal), "{personal} survived the purge");
        }
        let history = w.store().history(referral.id()).unwrap().unwrap();
        assert_eq!(history.len(), before.len() + 1);
        assert_eq!(
            history.last().unwrap().change,
            Change::PersonalDataPurged {
                policy: "particulars.recalled".into()
            }
        );
        // The open referral lists the same scan: it stays on disk.
        assert!(files.contains(&scan_digest()));
        let entries = w.store().audit_entries(0, 1000).unwrap();
        let purge = entries
            .iter()
            .find(|e| e.record.action == "purge_personal_data")
            .unwrap();
        assert_eq!(purge.record.actor, RETENTION_ACTOR);
        assert_eq!(purge.record.referral.as_ref(), Some(referral.id()));

        // The statistics count the referral as before.
        let period = Period {
            from: at("2025-01-01T00:00:00Z"),
            to: at("2026-01-01T00:00:00Z"),
        };
        let (mut was, mut is) = (Statistics::new(period), Statistics::new(period));
        was.add(&before);
        is.add(&history);
        assert_eq!(format!("{was:?}"), format!("{is:?}"));

        // Once the other referral is recalled and purged too, nobody lists
        // the scan and it goes.
        recall(&w, open.referral.id(), "撤回").await;
        deliver_everything(&w).await;
        w.clock.advance(SignedDuration::from_hours(24 * 31));
        let report = retention.pass().await.unwrap();
        assert_eq!(
            (
                report.purged,
                report.already_purged,
                report.files_removed,
                report.files_kept
            ),
            (1, 1, 1, 0),
            "{report:?}"
        );
        assert!(!files.contains(&scan_digest()));
        assert!(
            ReferralStore::files_to_remove(w.store(), 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            w.store().verify_audit().unwrap(),
            mediation_core::audit::AuditVerification::Intact { .. }
        ));
        // A pass with nothing to do changes nothing.
        let report = retention.pass().await.unwrap();
        assert_eq!((report.purged, report.already_purged), (0, 2), "{report:?}");
    }

    #[tokio::test]
    async fn a_referral_with_a_message_still_to_deliver_is_kept() {
        let w = World::new(BreachAction::ReturnToCourt);
        let files = files(&w);
        let mut bundle = sample_bundle();
        bundle.court_referral_id = "RET-2".parse().unwrap();
        submitted_and_recalled(&w, bundle, "撤回").await;
        // Nothing delivered: the platform has not heard of the recall.
        w.clock.advance(SignedDuration::from_hours(24 * 400));
        let report = retention(&w, &files, 180).pass().await.unwrap();
        assert_eq!((report.busy, report.purged), (1, 0), "{report:?}");
    }

    #[tokio::test]
    async fn a_dead_letter_goes_with_its_purged_referral() {
        let w = World::new(BreachAction::ReturnToCourt);
        let files = files(&w);
        let mut bundle = sample_bundle();
        bundle.court_referral_id = "RET-DEAD".parse().unwrap();
        let s = submitted_and_recalled(&w, bundle, "撤回").await;
        // The court's notices never got through; the platform's did.
        let store = w.store();
        for d in store.due_deliveries(w.clock.now(), 100).await.unwrap() {
            let outcome = if matches!(d.message.destination, Destination::Court(_)) {
                DeliveryOutcome::Dead {
                    at: w.clock.now(),
                    error: "refused for good".into(),
                    alert: mediation_core::alert::AlertRecord {
                        kind: mediation_core::alert::AlertKind::DeadLetter,
                        raised_at: w.clock.now(),
                        referral: Some(s.id().clone()),
                        due_at: None,
                        detail: "dead".into(),
                        subject: None,
                    },
                }
            } else {
                DeliveryOutcome::Delivered
            };
            store.record_delivery(&d.id, outcome).await.unwrap();
        }
        deliver_everything(&w).await;
        let dead = OutboxStore::dead_letters(store, 100).await.unwrap();
        assert!(!dead.is_empty(), "the court's notice is a dead letter");
        w.clock.advance(SignedDuration::from_hours(24 * 31));
        let report = retention(&w, &files, 180).pass().await.unwrap();
        assert_eq!(report.purged, 1, "{report:?}");
        assert_eq!(
            report.dead_letters_discarded,
            dead.len() as u64,
            "{report:?}"
        );
        assert!(
            OutboxStore::dead_letters(store, 100)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(
            OutboxStore::pending_messages(store, s.id())
                .await
                .unwrap()
                .is_empty()
        );
        let backlog = OutboxStore::backlog(store).await.unwrap();
        assert!(backlog.iter().all(|b| b.dead == 0), "{backlog:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_replicas_purge_a_referral_once() {
        let w = World::new(BreachAction::ReturnToCourt);
        let files = files(&w);
        for n in 0..20 {
            recalled(&w, &format!("RET-R{n}")).await;
        }
        w.clock.advance(SignedDuration::from_hours(24 * 31));
        let (a, b) = (retention(&w, &files, 180), retention(&w, &files, 180));
        let (ra, rb) = tokio::join!(a.pass(), b.pass());
        let (ra, rb): (PurgeReport, PurgeReport) = (ra.unwrap(), rb.unwrap());
        assert_eq!(ra.purged + rb.purged, 20, "{ra:?} {rb:?}");
        let purges = w
            .store()
            .audit_entries(0, 10_000)
            .unwrap()
            .into_iter()
            .filter(|e| e.record.action == "purge_personal_data")
            .count();
        assert_eq!(purges, 20);
        for id in w.store().referral_ids(None, 100).unwrap() {
            let history = w.store().history(&id).unwrap().unwrap();
            let purged = history
                .iter()
                .filter(|e| matches!(e.change, Change::PersonalDataPurged { .. }))
                .count();
            assert_eq!(purged, 1, "{id}");
        }
    }
}
