//! The command path.

use std::sync::{Arc, RwLock};

use jiff::Timestamp;
use mediation_core::TransitionError;
use mediation_core::alert::alerts_for;
use mediation_core::audit::{Actor, AuditRecord};
use mediation_core::bundle::CaseBundle;
use mediation_core::calendar::Calendar;
use mediation_core::clock::Clock;
use mediation_core::court::{CourtRegistry, Courts};
use mediation_core::deadline::{self, Deadline};
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Assignment, Event, Referral, ReturnReason};
use mediation_core::outbox::messages_for;
use mediation_core::outcome::{Agreement, ConfirmationApplication};
use mediation_core::partner::Partner;
use mediation_core::routing::{Router, load_changes};
use mediation_core::store::{AuditLog, Commit, CourtKey, MessageId, ReferralStore, StoreError};
use mediation_core::timer::{Timer, TimerKind};

use crate::error::ServiceError;
use crate::policy::{BreachAction, PartnerPolicy, Policies};

/// How many times a command is decided again when another command changed the
/// referral first.
const MAX_ATTEMPTS: usize = 5;

/// What a decision may consult besides the referral.
#[derive(Debug)]
pub struct Context<'a> {
    pub now: Timestamp,
    pub calendar: &'a Calendar,
    pub policy: &'a PartnerPolicy,
    pub router: &'a dyn Router,
    /// Whether the referring court lets the gateway pass the referral on
    /// ([`Policies::reassignment_allowed`]).
    pub reassignment_allowed: bool,
}

/// The result of a submission.
#[derive(Debug, Clone)]
pub struct Submission {
    pub referral: Referral,
    /// False when the same bundle had been submitted before.
    pub created: bool,
}

/// Handles commands against a store.
#[derive(Debug)]
pub struct Commands<S> {
    store: S,
    calendar: Arc<RwLock<Calendar>>,
    policies: Policies,
    router: Arc<dyn Router>,
    courts: Courts,
    clock: Arc<dyn Clock>,
    /// Subjects of alerts raised once each (`AlertRecord::subject`), such as
    /// a year without a holiday notice, that have been raised already.
    raised: std::sync::Mutex<std::collections::BTreeSet<String>>,
    ids: Arc<dyn ReferralIds>,
}

/// Where new referrals' ids come from: ULIDs from the system's clock and
/// randomness, unless a deterministic run (the simulation) supplies its own.
pub trait ReferralIds: Send + Sync + std::fmt::Debug {
    /// A new ULID, as text.
    fn next_id(&self) -> String;
}

/// ULIDs of the system's time and randomness.
#[derive(Debug, Default)]
pub struct RandomIds;

impl ReferralIds for RandomIds {
    fn next_id(&self) -> String {
        ulid::Ulid::generate().to_string()
    }
}

impl<S: ReferralStore + AuditLog> Commands<S> {
    pub fn new(
        store: S,
        calendar: Arc<RwLock<Calendar>>,
        policies: Policies,
        router: Arc<dyn Router>,
        courts: Courts,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            calendar,
            policies,
            router,
            courts,
            clock,
            raised: std::sync::Mutex::default(),
            ids: Arc::new(RandomIds),
        }
    }

    /// The same, taking new referrals' ids from `ids`.
    pub fn with_ids(self, ids: Arc<dyn ReferralIds>) -> Self {
        Self { ids, ..self }
    }

    /// Notes alert subjects already raised, e.g. those found in the alert
    /// log at start, so that a restart does not raise them again.
    pub fn remember_raised(&self, subjects: impl IntoIterator<Item = String>) {
        self.raised_set().extend(subjects);
    }

    /// Lets the subjects `forget` picks be raised again: a year whose notice
    /// was loaded and later taken away needs a new alert.
    pub fn forget_raised(&self, forget: impl Fn(&str) -> bool) {
        self.raised_set().retain(|s| !forget(s));
    }

    fn raised_set(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.raised.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Commits, raising an alert with a subject only if no alert with that
    /// subject was raised before. The subjects are claimed before the commit
    /// and given back if it fails, so two commits at once raise one alert.
    async fn commit(
        &self,
        mut commit: Commit,
    ) -> Result<mediation_core::store::Receipt, StoreError> {
        let mut claimed = Vec::new();
        {
            let mut raised = self.raised_set();
            commit.alerts.retain(|a| match &a.subject {
                None => true,
                Some(subject) => {
                    let first = raised.insert(subject.clone());
                    if first {
                        claimed.push(subject.clone());
                    }
                    first
                }
            });
        }
        let loads = commit.loads.clone();
        // The commit's own span, within the call's when there is one: what
        // the durable write took, in the referral's trace.
        let span = tracing::info_span!(
            "commit",
            referral = %commit.referral,
            events = commit.events.len(),
            messages = commit.messages.len(),
        );
        let result = tracing::Instrument::instrument(self.store.commit(commit), span).await;
        match &result {
            Ok(_) => self.router.adjust_loads(&loads),
            Err(_) => {
                let mut raised = self.raised_set();
                for subject in &claimed {
                    raised.remove(subject);
                }
            }
        }
        result
    }

    pub fn store(&self) -> &S {
        &self.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The court registry in force.
    pub fn courts(&self) -> Arc<CourtRegistry> {
        self.courts.current()
    }

    /// The platform `organisation` works on, when the roster lists it.
    pub fn roster_partner(&self, organisation: &OrganisationId) -> Option<Partner> {
        self.router.partner_of(organisation)
    }

    /// Working days from `since`'s day to today, today included: how long a
    /// referral has waited, as the calendar counts.
    pub fn working_days_since(&self, since: Timestamp) -> u32 {
        let calendar = self.calendar();
        mediation_core::deadline::working_days_between(
            &calendar,
            mediation_core::calendar::cst::date_of(since),
            mediation_core::calendar::cst::date_of(self.clock.now()),
        )
    }

    /// The roster the gateway routes by, with each organisation's mediators.
    pub fn router(&self) -> &dyn Router {
        self.router.as_ref()
    }

    /// The referral as it is now, from its snapshot: no history is read.
    pub async fn referral(&self, id: &ReferralId) -> Result<Option<Referral>, ServiceError> {
        Ok(self.store.referral(id).await?)
    }

    /// [`Commands::referral`], given the bundle a message of the referral
    /// carries: the store need not read and decode it again.
    pub async fn referral_with_bundle(
        &self,
        id: &ReferralId,
        bundle: &mediation_core::bundle::CaseBundle,
    ) -> Result<Option<Referral>, ServiceError> {
        Ok(self.store.referral_with_bundle(id, bundle).await?)
    }

    fn new_referral_id(&self) -> Result<ReferralId, ServiceError> {
        ReferralId::parse(&self.ids.next_id())
            .map_err(|e| ServiceError::Store(StoreError::Corrupt(format!("generated id: {e}"))))
    }

    fn calendar(&self) -> std::sync::RwLockReadGuard<'_, Calendar> {
        // Readers never leave the calendar half-replaced: a reload swaps it whole.
        self.calendar.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Takes in a court's referral and routes it. Submitting the same bundle
    /// again returns the same referral and creates nothing.
    pub async fn submit(
        &self,
        bundle: CaseBundle,
        actor: impl Into<Actor>,
    ) -> Result<Submission, ServiceError> {
        let actor = actor.into();
        self.intake(
            bundle,
            None,
            &actor,
            "submit_referral",
            |received, now, _| match self.router.route(received) {
                Ok((assignment, reasons)) => received.route(assignment, reasons, now),
                Err(explanation) => received
                    .return_to_court(ReturnReason::NoEligibleOrganisation { explanation }, now),
            },
        )
        .await
    }

    /// Files a dispute an organisation took directly from the parties
    /// (自行受理) with the court the bundle names: the agreement and the
    /// parties' joint application for confirmation, in one durable step.
    /// Idempotent on the bundle's court and id within the platform's own
    /// namespace of intakes, as [`Commands::submit`] is within the courts'.
    pub async fn file_direct_intake(
        &self,
        bundle: CaseBundle,
        assignment: Assignment,
        agreement: Agreement,
        application: ConfirmationApplication,
        actor: impl Into<Actor>,
    ) -> Result<Submission, ServiceError> {
        let actor = actor.into();
        let platform = Some(assignment.partner);
        self.intake(
            bundle,
            platform,
            &actor,
            "file_direct_intake",
            |received, now, calendar| {
                received.file_direct_intake(
                    assignment.clone(),
                    agreement.clone(),
                    application.clone(),
                    now,
                    calendar,
                )
            },
        )
        .await
    }

    /// Receives a new referral and commits it with what `first` decides for
    /// it, or answers with the referral already stored under the same court
    /// key when the bundle is the same.
    async fn intake<F>(
        &self,
        bundle: CaseBundle,
        filed_by: Option<Partner>,
        actor: &Actor,
        action: &str,
        first: F,
    ) -> Result<Submission, ServiceError>
    where
        F: Fn(&Referral, Timestamp, &Calendar) -> Result<Vec<Event>, TransitionError>,
    {
        let key = CourtKey {
            court: bundle.court.clone(),
            court_referral_id: bundle.court_referral_id.clone(),
            filed_by,
        };
        for _ in 0..MAX_ATTEMPTS {
            if let Some(existing) = self.store.find_by_court_key(&key).await? {
                let referral = self
                    .referral(&existing)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(existing.clone()))?;
                if referral.bundle() != &bundle {
                    let error = ServiceError::Conflict { existing };
                    self.audit_rejection(actor, action, None, &error).await;
                    return Err(error);
                }
                return Ok(Submission {
                    referral,
                    created: false,
                });
            }
            let now = self.clock.now();
            let id = self.new_referral_id()?;
            let (referral, received) = match Referral::receive(id.clone(), bundle.clone(), now) {
                Ok(r) => r,
                Err(violations) => {
                    let error = ServiceError::Invalid(violations);
                    self.audit_rejection(actor, action, None, &error).await;
                    return Err(error);
                }
            };
            let mut after = referral;
            let mut events = vec![received];
            let decided = {
                let calendar = self.calendar();
                first(&after, now, &calendar).and_then(|mut events| {
                    // No organisation could take it: back with the court.
                    let policy = &self.policies.for_referral(&after).deadlines;
                    events.extend(after.follow_up(&events, &calendar, policy)?);
                    Ok(events)
                })
            };
            let decided = match decided {
                Ok(events) => events,
                Err(e) => {
                    let error = ServiceError::from(e);
                    self.audit_rejection(actor, action, None, &error).await;
                    return Err(error);
                }
            };
            after.apply_all(&decided);
            events.extend(decided);
            let commit = Decided {
                expected_version: 0,
                before: None,
                after: &after,
                events,
                court_key: Some(key.clone()),
                actor,
                action,
                at: now,
            }
            .commit();
            match self.commit_as(commit, actor).await {
                Ok(_) => {
                    return Ok(Submission {
                        referral: after,
                        created: true,
                    });
                }
                // Another submission with the same key won the race: answer as
                // for a resubmission.
                Err(StoreError::DuplicateCourtReferral { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contention(format!(
            "court referral {} of {}",
            key.court_referral_id, key.court
        )))
    }

    /// Runs `decide` against the current referral and commits what it produces.
    /// A command that produces no events writes nothing.
    pub async fn execute<F>(
        &self,
        id: &ReferralId,
        actor: impl Into<Actor>,
        action: &str,
        decide: F,
    ) -> Result<Referral, ServiceError>
    where
        F: Fn(&Referral, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    {
        self.execute_recording(id, &actor.into(), action, None, None, decide)
            .await
            .map(|(referral, _)| referral)
    }

    /// [`Commands::execute`], whose commit also records `delivered` as
    /// delivered when there is one; returns whether it did (a command that
    /// decides nothing commits nothing). `read` is the referral as the
    /// caller last read it: the first decision is made from it, and its
    /// commit, checked against its version as every commit is, fails if the
    /// referral changed since, when the next is made from the store.
    async fn execute_recording<F>(
        &self,
        id: &ReferralId,
        actor: &Actor,
        action: &str,
        delivered: Option<&MessageId>,
        mut read: Option<Referral>,
        decide: F,
    ) -> Result<(Referral, bool), ServiceError>
    where
        F: Fn(&Referral, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    {
        for _ in 0..MAX_ATTEMPTS {
            let referral = match read.take().filter(|r| r.id() == id) {
                Some(referral) => referral,
                None => self
                    .referral(id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(id.clone()))?,
            };
            let now = self.clock.now();
            let decision = {
                let calendar = self.calendar();
                let context = Context {
                    now,
                    calendar: &calendar,
                    policy: self.policies.for_referral(&referral),
                    router: self.router.as_ref(),
                    reassignment_allowed: self
                        .policies
                        .reassignment_allowed(referral.bundle(), &self.courts.current()),
                };
                // Whatever way the decision brings the referral back to the
                // court, the court's wait for its own decision starts here.
                decide(&referral, &context).and_then(|mut events| {
                    events.extend(referral.follow_up(
                        &events,
                        &calendar,
                        &context.policy.deadlines,
                    )?);
                    Ok(events)
                })
            };
            let events = match decision {
                Ok(events) => events,
                Err(e) => {
                    let error = ServiceError::from(e);
                    self.audit_rejection(actor, action, Some(id), &error).await;
                    return Err(error);
                }
            };
            if events.is_empty() {
                return Ok((referral, false));
            }
            let mut after = referral.clone();
            after.apply_all(&events);
            let commit = Decided {
                expected_version: referral.version(),
                before: Some(&referral),
                after: &after,
                events,
                court_key: None,
                actor,
                action,
                at: now,
            }
            .commit();
            let commit = Commit {
                delivered: delivered.cloned(),
                ..commit
            };
            match self.commit_as(commit, actor).await {
                Ok(_) => return Ok((after, delivered.is_some())),
                Err(StoreError::VersionConflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(ServiceError::Contention(format!("referral {id}")))
    }

    /// The acceptance deadline an offer to `partner`'s platform sent at
    /// `sent_at` gets once its delivery is acknowledged: what the offer
    /// itself tells the organisation.
    pub fn acceptance_due(
        &self,
        partner: Partner,
        sent_at: Timestamp,
    ) -> Result<Deadline, ServiceError> {
        let policy = &self.policies.for_partner(partner).deadlines;
        deadline::acceptance_deadline(&self.calendar(), policy, sent_at)
            .map_err(|e| ServiceError::Transition(TransitionError::Calendar(e.to_string())))
    }

    /// `organisation`'s platform acknowledged the offer of `referral` sent
    /// at `sent_at`: the acceptance period starts (`Referral::offer_delivered`).
    /// Idempotent, as deliveries are at least once.
    pub async fn offer_delivered(
        &self,
        referral: &ReferralId,
        organisation: &OrganisationId,
        sent_at: Timestamp,
    ) -> Result<Referral, ServiceError> {
        self.execute(referral, "relay", "offer_delivered", |r, ctx| {
            r.offer_delivered(organisation, sent_at, ctx.calendar, &ctx.policy.deadlines)
        })
        .await
    }

    /// [`Commands::offer_delivered`] for the offer sent as `message`: the
    /// receipt's commit also records the message delivered, so the offer
    /// costs one durable write, not two. Returns whether it did; a receipt
    /// already recorded commits nothing, and the relay records the delivery.
    pub async fn offer_received(
        &self,
        referral: &ReferralId,
        organisation: &OrganisationId,
        sent_at: Timestamp,
        message: &MessageId,
    ) -> Result<bool, ServiceError> {
        self.receipt(referral, None, organisation, sent_at, message)
            .await
    }

    /// [`Commands::offer_received`], decided first from `read`: the
    /// referral as the relay's transport read it before sending the offer
    /// (to see the organisation still holds it). Its commit is checked
    /// against that version, so a referral changed in between is decided
    /// again as the store holds it; unchanged, the receipt costs no second
    /// read of the referral, nor a second decoding of its bundle.
    pub async fn offer_received_from(
        &self,
        read: Referral,
        organisation: &OrganisationId,
        sent_at: Timestamp,
        message: &MessageId,
    ) -> Result<bool, ServiceError> {
        let referral = read.id().clone();
        self.receipt(&referral, Some(read), organisation, sent_at, message)
            .await
    }

    async fn receipt(
        &self,
        referral: &ReferralId,
        read: Option<Referral>,
        organisation: &OrganisationId,
        sent_at: Timestamp,
        message: &MessageId,
    ) -> Result<bool, ServiceError> {
        self.execute_recording(
            referral,
            &Actor::internal("relay"),
            "offer_delivered",
            Some(message),
            read,
            |r, ctx| r.offer_delivered(organisation, sent_at, ctx.calendar, &ctx.policy.deadlines),
        )
        .await
        .map(|(_, recorded)| recorded)
    }

    /// Fires a due timer: gives the warning or records the breach, and for an
    /// acceptance breach returns the referral to the court or re-routes it, as
    /// the partner's policy says. A timer that no longer matches the referral
    /// (it was already handled) is cleared.
    pub async fn fire(&self, timer: &Timer) -> Result<Referral, ServiceError> {
        let kind = timer.kind;
        let result = self
            .execute(
                &timer.referral,
                "gateway",
                kind.as_str(),
                |referral, ctx| fire_on(referral, kind, ctx),
            )
            .await;
        self.after_firing(&timer.referral, std::slice::from_ref(timer), result)
            .await
    }

    /// Fires one referral's due `timers`, in the order given (the order they
    /// fell due), in one commit: a warning and its breach due together (the
    /// gateway was down over both, or the sweep fell behind) are one write
    /// rather than two in turn. Each timer fires on the referral as the
    /// ones before it left it, and the commit's audit entry names them
    /// joined by `+` (`acceptance_warning+acceptance_breach`). Should one of
    /// them not apply (refused, its breach not handed on, or nothing to do,
    /// as for a warning already given), they fire one by one
    /// instead, each as [`Commands::fire`] fires it alone, so that each
    /// refusal is audited as its own and the others still fire. Timers of
    /// other referrals are not this call's.
    pub(crate) async fn fire_due(
        &self,
        id: &ReferralId,
        timers: &[Timer],
    ) -> Result<Referral, ServiceError> {
        let timers: Vec<&Timer> = timers.iter().filter(|t| &t.referral == id).collect();
        match timers.as_slice() {
            [] => {
                return self
                    .referral(id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(id.clone()));
            }
            [one] => return self.fire(one).await,
            _ => {}
        }
        let action = timers
            .iter()
            .map(|t| t.kind.as_str())
            .collect::<Vec<_>>()
            .join("+");
        // Set by the last decision when a timer did not apply: nothing is
        // committed, and the timers fire apart.
        let apart = std::sync::atomic::AtomicBool::new(false);
        let result = self
            .execute(id, "gateway", &action, |referral, ctx| {
                apart.store(false, std::sync::atomic::Ordering::Relaxed);
                let mut after = referral.clone();
                let mut events = Vec::new();
                for timer in &timers {
                    // Refused, or nothing to do (a warning already given).
                    let Some(fired) = fire_on(&after, timer.kind, ctx)
                        .ok()
                        .filter(|fired| !fired.is_empty())
                    else {
                        apart.store(true, std::sync::atomic::Ordering::Relaxed);
                        return Ok(Vec::new());
                    };
                    after.apply_all(&fired);
                    events.extend(fired);
                }
                Ok(events)
            })
            .await;
        if apart.load(std::sync::atomic::Ordering::Relaxed) {
            let mut first_error = None;
            let mut last = None;
            for timer in &timers {
                match self.fire(timer).await {
                    Ok(referral) => last = Some(referral),
                    Err(e) => {
                        first_error.get_or_insert(e);
                    }
                }
            }
            return match (first_error, last) {
                (Some(e), _) => Err(e),
                (None, Some(referral)) => Ok(referral),
                (None, None) => Err(ServiceError::NotFound(id.clone())),
            };
        }
        let owned: Vec<Timer> = timers.into_iter().cloned().collect();
        self.after_firing(id, &owned, result).await
    }

    /// What follows a firing's command: the referral, when none of `timers`
    /// is still due; otherwise (a warning already given, a state that moved
    /// on) the timers the state calls for, stored, which drops these.
    async fn after_firing(
        &self,
        id: &ReferralId,
        timers: &[Timer],
        result: Result<Referral, ServiceError>,
    ) -> Result<Referral, ServiceError> {
        match result {
            Ok(referral) if timers.iter().all(|t| !referral.timers().contains(t)) => Ok(referral),
            Ok(_) | Err(ServiceError::Transition(_)) => self.refresh_timers(id).await,
            Err(e) => Err(e),
        }
    }

    async fn refresh_timers(&self, id: &ReferralId) -> Result<Referral, ServiceError> {
        let referral = self
            .referral(id)
            .await?
            .ok_or_else(|| ServiceError::NotFound(id.clone()))?;
        let commit = Commit {
            delivered: None,
            trace: None,
            referral: id.clone(),
            expected_version: referral.version(),
            at: self.clock.now(),
            events: Vec::new(),
            court_key: None,
            messages: Vec::new(),
            timers: referral.timers(),
            alerts: Vec::new(),
            audit: Vec::new(),
            loads: Vec::new(),
            state: referral.state(),
        };
        self.commit(commit).await?;
        Ok(referral)
    }

    /// Commits, with the record of the call that made the command when
    /// there is one: the call's audit costs no write of its own.
    async fn commit_as(
        &self,
        mut commit: Commit,
        actor: &Actor,
    ) -> Result<mediation_core::store::Receipt, StoreError> {
        let call = actor.call.as_ref();
        let taken = call.and_then(|c| c.take(&commit.referral, commit.at));
        if let Some(record) = &taken {
            commit.audit.push(record.clone());
        }
        let result = self.commit(commit).await;
        match (&result, call, taken) {
            (Ok(_), Some(call), Some(_)) => call.committed(),
            (Err(_), Some(call), Some(record)) => call.put_back(record),
            _ => {}
        }
        result
    }

    async fn audit_rejection(
        &self,
        actor: &Actor,
        action: &str,
        referral: Option<&ReferralId>,
        error: &ServiceError,
    ) {
        let record = AuditRecord {
            at: self.clock.now(),
            actor: actor.name.clone(),
            action: action.to_owned(),
            referral: referral.cloned(),
            outcome: format!("rejected: {error}"),
        };
        // A call's refusal goes with the call's own record, in the guard's
        // next batch; only the gateway's own commands write theirs here.
        if let Some(call) = &actor.call {
            call.refused(record);
            return;
        }
        if let Err(e) = self.store.append_audit(vec![record]).await {
            tracing::error!(error = %e, "cannot audit a rejected command");
        }
    }
}

/// What firing a timer of `kind` decides on `referral`: the warning or the
/// breach, and for an acceptance breach the referral returned to the court
/// or re-routed, as the partner's policy says.
fn fire_on(
    referral: &Referral,
    kind: TimerKind,
    ctx: &Context<'_>,
) -> Result<Vec<Event>, TransitionError> {
    let mut events = referral.fire(kind, ctx.now, &ctx.policy.deadlines)?;
    if kind == TimerKind::AcceptanceBreach {
        let mut after = referral.clone();
        after.apply_all(&events);
        events.extend(reroute_or_return(
            &after,
            ctx,
            ReturnReason::AcceptanceOverdue,
        )?);
    }
    Ok(events)
}

/// What follows when an organisation lets a referral go — it declined, or let
/// the acceptance deadline pass: per the partner's policy, the referral is
/// offered to the next eligible organisation, or returned to the court; with no
/// organisation left it is returned in any case.
pub fn reroute_or_return(
    after: &Referral,
    ctx: &Context<'_>,
    reason: ReturnReason,
) -> Result<Vec<Event>, TransitionError> {
    // Passing a referral on is the court's choice (online rules Art. 12; seed
    // 000 §(十三)): the partner's policy may reroute only what the court let go.
    match ctx.policy.acceptance_breach {
        BreachAction::Reroute if ctx.reassignment_allowed => match ctx.router.route(after) {
            Ok((assignment, reasons)) => after.route(assignment, reasons, ctx.now),
            Err(_) => after.return_to_court(reason, ctx.now),
        },
        BreachAction::Reroute | BreachAction::ReturnToCourt => {
            after.return_to_court(reason, ctx.now)
        }
    }
}

/// What a command decided, and who decided it: everything its commit is made
/// of.
struct Decided<'a> {
    /// The version the command was decided against: 0 for a new referral.
    expected_version: u64,
    /// The referral before the events; `None` for a new one.
    before: Option<&'a Referral>,
    /// The referral with the events applied.
    after: &'a Referral,
    events: Vec<Event>,
    court_key: Option<CourtKey>,
    actor: &'a Actor,
    action: &'a str,
    at: Timestamp,
}

impl Decided<'_> {
    /// The events with the messages, alerts, timers and audit record they
    /// call for, to be written together.
    fn commit(self) -> Commit {
        let after = self.after;
        Commit {
            delivered: None,
            trace: self.actor.trace.clone(),
            referral: after.id().clone(),
            expected_version: self.expected_version,
            at: self.at,
            messages: messages_for(after, &self.events),
            alerts: alerts_for(after.id(), &self.events),
            timers: after.timers(),
            court_key: self.court_key,
            loads: load_changes(self.before, after),
            state: after.state(),
            events: self.events,
            audit: vec![AuditRecord {
                at: self.at,
                actor: self.actor.name.clone(),
                action: self.action.to_owned(),
                referral: Some(after.id().clone()),
                outcome: "ok".into(),
            }],
        }
    }
}
