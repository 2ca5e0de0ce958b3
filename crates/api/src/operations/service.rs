//! `Operations`, for tenants with the operator role.

use std::collections::BTreeMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use mediation_core::access::Role;
use mediation_core::alert::{Acknowledgement, Alert, AlertKind};
use mediation_core::clock::SandboxClock;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::{Change, Referral};
use mediation_core::partner::Partner;
use mediation_core::statistics::{Dimension, Period, Statistics, Tally};
use mediation_core::store::{
    AlertLog, AuditLog, MessageId, OutboxStore, ReferralStore, StoreError,
};
use mediation_delivery::{DestinationBoard, RelayHandle};
use mediation_proto::operations::v1 as pb;
use mediation_proto::operations::v1::operations_server::Operations;
use mediation_service::{Commands, DeadlineEngine};
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::audit;
use super::codes::ALERT_KINDS;
use super::outbound;
use crate::court::outbound::summary;
use crate::guard::take;
use crate::status::{self, from_service, invalid_field};
use crate::time::{from_wire, to_wire};

/// Alerts read from the store per page of a watch.
const PAGE: usize = 256;
/// An acknowledgement's note, in characters.
const MAX_NOTE: usize = 2_000;

/// The operators' gRPC service.
#[derive(Debug)]
pub struct OperationsService<S> {
    gateway: Arc<Commands<S>>,
    destinations: DestinationBoard,
    relay: Option<RelayHandle>,
    /// How often a following watch looks for new alerts.
    follow_poll: Duration,
    /// Turns true when the gateway begins to stop: following watches end.
    stop: Option<tokio::sync::watch::Receiver<bool>>,
    /// A sandbox's movable clock and the deadline engine that fires what
    /// moving it makes due; `None` on a gateway with a real clock.
    sandbox: Option<Sandbox<S>>,
}

/// What `AdvanceClock` needs.
#[derive(Debug)]
struct Sandbox<S> {
    clock: Arc<SandboxClock>,
    engine: Arc<DeadlineEngine<S>>,
}

impl<S> OperationsService<S> {
    pub fn new(
        gateway: Arc<Commands<S>>,
        destinations: DestinationBoard,
        relay: Option<RelayHandle>,
    ) -> Self {
        Self {
            gateway,
            destinations,
            relay,
            follow_poll: Duration::from_millis(200),
            stop: None,
            sandbox: None,
        }
    }

    /// Lets operators move `clock`, a sandbox's, with `AdvanceClock`;
    /// `engine` fires the timers a move makes due.
    pub fn with_sandbox(
        mut self,
        clock: Arc<SandboxClock>,
        engine: Arc<DeadlineEngine<S>>,
    ) -> Self {
        self.sandbox = Some(Sandbox { clock, engine });
        self
    }

    /// Ends every following watch, UNAVAILABLE with the sequence to resume
    /// after, as soon as `stop` turns true.
    pub fn with_stop(mut self, stop: tokio::sync::watch::Receiver<bool>) -> Self {
        self.stop = Some(stop);
        self
    }
}

fn store_error(e: StoreError) -> Status {
    from_service(&e.into())
}

fn referral_id(field: &str, value: &str) -> Result<ReferralId, Status> {
    value
        .parse()
        .map_err(|e: mediation_core::error::Invalid| invalid_field(field, e.to_string()))
}

type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, Status>> + Send>>;

impl<S> OperationsService<S>
where
    S: ReferralStore + OutboxStore + AlertLog + AuditLog + Clone + 'static,
{
    /// The figures per mediator, as the roster of invited mediators has
    /// them: per organisation, named, and with every mediator each
    /// organisation in the figures lists, zeros where nothing happened.
    fn mediator_figures(
        &self,
        statistics: &Statistics,
        partner: Option<Partner>,
    ) -> Vec<pb::BreakdownFigures> {
        let router = self.gateway.router();
        let mut rows: BTreeMap<(String, String), pb::BreakdownFigures> = BTreeMap::new();
        let row = |organisation: &OrganisationId, mediator: &str, tally: &Tally| {
            let name = mediation_core::ids::MediatorId::parse(mediator)
                .ok()
                .and_then(|m| router.mediator_name(organisation, &m))
                .map(|n| n.to_string())
                .unwrap_or_default();
            pb::BreakdownFigures {
                dimension: Dimension::Mediator.as_str().into(),
                value: mediator.into(),
                figures: Some(outbound::figures(tally)),
                organisation: organisation.to_string(),
                name,
            }
        };
        for ((mediator, p, organisation), tally) in
            statistics.breakdown_by_organisation(Dimension::Mediator)
        {
            if partner.is_none_or(|want| p == want) {
                rows.insert(
                    (organisation.to_string(), mediator.to_owned()),
                    row(organisation, mediator, &tally),
                );
            }
        }
        for (p, organisation, _) in statistics.organisations() {
            if partner.is_some_and(|want| *p != want) {
                continue;
            }
            for listed in router.mediators_of(organisation) {
                rows.entry((organisation.to_string(), listed.id.to_string()))
                    .or_insert_with(|| row(organisation, listed.id.as_str(), &Tally::default()));
            }
        }
        rows.into_values().collect()
    }

    fn store(&self) -> &S {
        self.gateway.store()
    }

    async fn with_acknowledgement(store: &S, alert: &Alert) -> Result<pb::Alert, Status> {
        let ack = store
            .acknowledgement(alert.seq)
            .await
            .map_err(store_error)?;
        Ok(outbound::alert(alert, ack.as_ref()))
    }

    async fn referral(
        &self,
        id: &ReferralId,
    ) -> Result<Option<(Referral, Vec<mediation_core::lifecycle::Event>)>, Status> {
        let Some(history) = self.store().history(id).await.map_err(store_error)? else {
            return Ok(None);
        };
        let referral =
            Referral::replay(&history).map_err(|e| status::unreadable("stored history", e))?;
        Ok(Some((referral, history)))
    }
}

/// Every stored referral, a page at a time, each as its snapshot (which
/// is what replaying its history gives, without reading the history): the
/// walk of the operators' reads that look at every referral.
struct Scan<'a, S> {
    store: &'a S,
    after: Option<ReferralId>,
    /// How many referrals were read so far.
    scanned: u64,
}

impl<'a, S: ReferralStore> Scan<'a, S> {
    fn new(store: &'a S) -> Self {
        Self {
            store,
            after: None,
            scanned: 0,
        }
    }

    /// The next page of referrals; `None` once every one was read.
    async fn next_page(&mut self) -> Result<Option<Vec<Referral>>, Status> {
        let ids = self
            .store
            .referral_ids(self.after.as_ref(), PAGE)
            .await
            .map_err(store_error)?;
        let Some(last) = ids.last().cloned() else {
            return Ok(None);
        };
        self.after = Some(last);
        let mut page = Vec::with_capacity(ids.len());
        for id in &ids {
            self.scanned += 1;
            if let Some(referral) = self.store.referral(id).await.map_err(store_error)? {
                page.push(referral);
            }
        }
        Ok(Some(page))
    }
}

#[tonic::async_trait]
impl<S> Operations for OperationsService<S>
where
    S: ReferralStore + OutboxStore + AlertLog + AuditLog + Clone + 'static,
{
    type WatchAlertsStream = AlertStream;

    async fn watch_alerts(
        &self,
        request: Request<pb::WatchAlertsRequest>,
    ) -> Result<Response<Self::WatchAlertsStream>, Status> {
        let (_, request) = take(request)?;
        let mut kinds = Vec::new();
        for (i, raw) in request.kinds.iter().enumerate() {
            let kind = ALERT_KINDS
                .read_number(*raw)
                .map_err(|e| invalid_field(&format!("kinds[{i}]"), e.rule))?;
            kinds.push(kind);
        }
        let store = self.store().clone();
        let follow = request.follow;
        let poll = self.follow_poll;
        let mut stop = self.stop.clone();
        let mut cursor = request.after_seq;
        let wanted = move |kind: AlertKind| kinds.is_empty() || kinds.contains(&kind);
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<pb::Alert, Status>>(PAGE);
        tokio::spawn(async move {
            loop {
                let page = match store.alerts_after(cursor, PAGE).await {
                    Ok(page) => page,
                    Err(e) => {
                        let _ = tx.send(Err(store_error(e))).await;
                        return;
                    }
                };
                let full = page.len() == PAGE;
                for alert in &page {
                    cursor = alert.seq;
                    if !wanted(alert.record.kind) {
                        continue;
                    }
                    let item = Self::with_acknowledgement(&store, alert).await;
                    if tx.send(item).await.is_err() {
                        // The watcher went away.
                        return;
                    }
                }
                if full {
                    continue;
                }
                if !follow {
                    return;
                }
                let stopping = async {
                    match &mut stop {
                        Some(stop) => {
                            let _ = stop.wait_for(|stopping| *stopping).await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    () = tx.closed() => return,
                    () = stopping => {
                        let _ = tx
                            .send(Err(status::unavailable(format!(
                                "the gateway is stopping; reconnect and resume after seq {cursor}"
                            ))))
                            .await;
                        return;
                    }
                    () = tokio::time::sleep(poll) => {}
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn acknowledge_alert(
        &self,
        request: Request<pb::AcknowledgeAlertRequest>,
    ) -> Result<Response<pb::AcknowledgeAlertResponse>, Status> {
        let (call, request) = take(request)?;
        if request.seq == 0 {
            return Err(invalid_field("seq", "alerts are numbered from 1"));
        }
        let note = request.note.trim();
        if note.chars().count() > MAX_NOTE {
            return Err(invalid_field(
                "note",
                format!("at most {MAX_NOTE} characters"),
            ));
        }
        let acknowledgement = Acknowledgement {
            by: call.caller.actor(),
            at: self.gateway.clock().now(),
            note: note.to_owned(),
        };
        self.store()
            .acknowledge_alert(request.seq, acknowledgement)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => status::not_found(format_args!("alert {}", request.seq)),
                other => store_error(other),
            })?;
        let alert = self
            .store()
            .alerts_after(request.seq - 1, 1)
            .await
            .map_err(store_error)?
            .into_iter()
            .next()
            .ok_or_else(|| status::not_found(format_args!("alert {}", request.seq)))?;
        if let Some(referral) = &alert.record.referral {
            call.concerns(referral);
        }
        Ok(Response::new(pb::AcknowledgeAlertResponse {
            alert: Some(Self::with_acknowledgement(self.store(), &alert).await?),
        }))
    }

    async fn list_open_breaches(
        &self,
        request: Request<pb::ListOpenBreachesRequest>,
    ) -> Result<Response<pb::ListOpenBreachesResponse>, Status> {
        let (_, request) = take(request)?;
        let wanted = |kind: AlertKind| {
            kind.is_breach() || (request.include_warnings && kind.is_deadline_warning())
        };
        let mut breaches = Vec::new();
        let mut cursor = 0;
        loop {
            let page = self
                .store()
                .alerts_after(cursor, PAGE)
                .await
                .map_err(store_error)?;
            let Some(last) = page.last() else { break };
            cursor = last.seq;
            let breaches_here: Vec<u64> = page
                .iter()
                .filter(|a| wanted(a.record.kind))
                .map(|a| a.seq)
                .collect();
            let acknowledged = self
                .store()
                .acknowledged(&breaches_here)
                .await
                .map_err(store_error)?;
            for alert in page.iter().filter(|a| wanted(a.record.kind)) {
                if acknowledged.contains(&alert.seq) {
                    continue;
                }
                let referral = match &alert.record.referral {
                    Some(id) => self.referral(id).await?.map(|(r, _)| r),
                    None => None,
                };
                breaches.push(pb::OpenBreach {
                    alert: Some(outbound::alert(alert, None)),
                    referral_status: referral
                        .as_ref()
                        .map(|r| r.status().as_str().to_owned())
                        .unwrap_or_default(),
                    organisation: referral
                        .as_ref()
                        .and_then(|r| r.assignment())
                        .map(|a| a.organisation.to_string())
                        .unwrap_or_default(),
                });
            }
        }
        Ok(Response::new(pb::ListOpenBreachesResponse { breaches }))
    }

    async fn get_referral_timeline(
        &self,
        request: Request<pb::GetReferralTimelineRequest>,
    ) -> Result<Response<pb::GetReferralTimelineResponse>, Status> {
        let (call, request) = take(request)?;
        let id = referral_id("referral_id", &request.referral_id)?;
        call.concerns(&id);
        let (referral, history) = self
            .referral(&id)
            .await?
            .ok_or_else(crate::status::referral_not_found)?;
        let waiting = self
            .store()
            .pending_messages(&id)
            .await
            .map_err(store_error)?
            .iter()
            .map(outbound::message)
            .collect();
        let assignment = referral.assignment();
        let mediator = assignment.and_then(|a| a.mediator.as_ref().map(|m| (a, m)));
        let mediator_name = mediator
            .and_then(|(a, m)| self.gateway.router().mediator_name(&a.organisation, m))
            .map(|name| name.to_string())
            .unwrap_or_default();
        Ok(Response::new(pb::GetReferralTimelineResponse {
            referral_id: id.to_string(),
            court: referral.bundle().court.to_string(),
            court_referral_id: referral.bundle().court_referral_id.to_string(),
            status: referral.status().as_str().into(),
            partner: assignment
                .map(|a| a.partner.as_str().to_owned())
                .unwrap_or_default(),
            organisation: assignment
                .map(|a| a.organisation.to_string())
                .unwrap_or_default(),
            deadlines: referral
                .acceptance_deadline()
                .into_iter()
                .chain(referral.running_mediation_deadline())
                .map(outbound::deadline)
                .collect(),
            timeline: history
                .iter()
                .map(|e| pb::TimelineEntry {
                    at: Some(crate::time::to_wire(e.at)),
                    event: e.change.name().into(),
                    summary: summary(&e.change),
                })
                .collect(),
            waiting,
            mediator: mediator.map(|(_, m)| m.to_string()).unwrap_or_default(),
            mediator_name,
        }))
    }

    async fn list_awaiting_court(
        &self,
        request: Request<pb::ListAwaitingCourtRequest>,
    ) -> Result<Response<pb::ListAwaitingCourtResponse>, Status> {
        let (_, r) = take(request)?;
        let only = match r.court.trim() {
            "" => None,
            code => Some(
                mediation_core::court::CourtCode::parse(code)
                    .map_err(|e| invalid_field("court", e.rule))?,
            ),
        };
        let mut scan = Scan::new(self.store());
        let mut referrals = Vec::new();
        while let Some(page) = scan.next_page().await? {
            for referral in page {
                let Some(wait) = referral.court_wait() else {
                    continue;
                };
                let bundle = referral.bundle();
                if only.as_ref().is_some_and(|c| c != &bundle.court) {
                    continue;
                }
                referrals.push(pb::AwaitingReferral {
                    referral_id: referral.id().to_string(),
                    court: bundle.court.to_string(),
                    court_referral_id: bundle.court_referral_id.to_string(),
                    status: referral.status().as_str().into(),
                    since: Some(to_wire(wait.since)),
                    working_days: self.gateway.working_days_since(wait.since),
                    remind_at: wait.remind_at.map(to_wire),
                    reminded: wait.reminded,
                });
            }
        }
        referrals.sort_by(|a, b| {
            let since = |r: &pb::AwaitingReferral| r.since.map(|t| (t.seconds, t.nanos));
            since(a).cmp(&since(b))
        });
        let mut courts: BTreeMap<String, pb::CourtWaiting> = BTreeMap::new();
        for r in &referrals {
            let court = courts
                .entry(r.court.clone())
                .or_insert_with(|| pb::CourtWaiting {
                    court: r.court.clone(),
                    oldest_since: r.since,
                    ..Default::default()
                });
            court.waiting += 1;
            court.reminded += u32::from(r.reminded);
        }
        let mut courts: Vec<pb::CourtWaiting> = courts.into_values().collect();
        courts.sort_by_key(|c| c.oldest_since.map(|t| (t.seconds, t.nanos)));
        Ok(Response::new(pb::ListAwaitingCourtResponse {
            referrals,
            courts,
            scanned: scan.scanned,
        }))
    }

    async fn find_referrals(
        &self,
        request: Request<pb::FindReferralsRequest>,
    ) -> Result<Response<pb::FindReferralsResponse>, Status> {
        let (_, r) = take(request)?;
        let mut v = mediation_core::Violations::new();
        let status = if r.status.is_empty() {
            None
        } else {
            let found = mediation_core::Status::ALL
                .into_iter()
                .find(|s| s.as_str() == r.status);
            if found.is_none() {
                let known: Vec<&str> = mediation_core::Status::ALL
                    .iter()
                    .map(|s| s.as_str())
                    .collect();
                v.push(
                    "status",
                    format!("unknown status {:?}; one of {}", r.status, known.join(", ")),
                );
            }
            found
        };
        let due_before = match &r.due_before {
            None => None,
            Some(t) => v.check("due_before", crate::time::from_wire(t)),
        };
        let limit = match r.limit {
            0 => 100,
            n if n > 1_000 => {
                v.push("limit", "at most 1000");
                0
            }
            n => n as usize,
        };
        if !v.is_empty() {
            return Err(crate::status::invalid(&v));
        }
        let mut scan = Scan::new(self.store());
        let mut found = Vec::new();
        'pages: while let Some(page) = scan.next_page().await? {
            for referral in page {
                let bundle = referral.bundle();
                let deadlines: Vec<_> = referral
                    .acceptance_deadline()
                    .into_iter()
                    .chain(referral.running_mediation_deadline())
                    .collect();
                let matches = (r.court_referral_id.is_empty()
                    || bundle.court_referral_id.as_str() == r.court_referral_id)
                    && (r.case_number.is_empty()
                        || bundle
                            .case_number
                            .as_ref()
                            .is_some_and(|n| n.as_str() == r.case_number.trim()))
                    && status.is_none_or(|s| referral.status() == s)
                    && due_before.is_none_or(|before| {
                        referral
                            .running_deadline()
                            .is_some_and(|d| d.due_at < before)
                    });
                if matches {
                    found.push(pb::ReferralSummary {
                        referral_id: referral.id().to_string(),
                        court: bundle.court.to_string(),
                        court_referral_id: bundle.court_referral_id.to_string(),
                        case_number: bundle
                            .case_number
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default(),
                        status: referral.status().as_str().into(),
                        organisation: referral
                            .assignment()
                            .map(|a| a.organisation.to_string())
                            .unwrap_or_default(),
                        deadlines: deadlines.into_iter().map(outbound::deadline).collect(),
                    });
                    if found.len() >= limit {
                        break 'pages;
                    }
                }
            }
        }
        Ok(Response::new(pb::FindReferralsResponse {
            referrals: found,
            scanned: scan.scanned,
        }))
    }

    async fn get_outbox_backlog(
        &self,
        request: Request<pb::GetOutboxBacklogRequest>,
    ) -> Result<Response<pb::GetOutboxBacklogResponse>, Status> {
        let _ = take(request)?;
        let health = self.destinations.snapshot();
        let mut destinations: Vec<pb::DestinationBacklog> = self
            .store()
            .backlog()
            .await
            .map_err(store_error)?
            .into_iter()
            .map(|b| pb::DestinationBacklog {
                destination: b.destination,
                pending: b.pending,
                dead: b.dead,
                oldest_enqueued_at: b.oldest_enqueued_at.map(crate::time::to_wire),
                ..Default::default()
            })
            .collect();
        // Destinations with nothing waiting still show how they answer.
        for h in health {
            let index = match destinations
                .iter()
                .position(|d| d.destination == h.destination)
            {
                Some(index) => index,
                None => {
                    destinations.push(pb::DestinationBacklog {
                        destination: h.destination.clone(),
                        ..Default::default()
                    });
                    destinations.len() - 1
                }
            };
            let entry = &mut destinations[index];
            entry.consecutive_failures = h.consecutive_failures;
            entry.last_error = h.last_error.unwrap_or_default();
            entry.unreachable = h.unreachable;
        }
        destinations.sort_by(|a, b| a.destination.cmp(&b.destination));
        Ok(Response::new(pb::GetOutboxBacklogResponse { destinations }))
    }

    async fn list_dead_letters(
        &self,
        request: Request<pb::ListDeadLettersRequest>,
    ) -> Result<Response<pb::ListDeadLettersResponse>, Status> {
        let (_, request) = take(request)?;
        let limit = match request.limit {
            0 => 100,
            n => n as usize,
        };
        let dead_letters = self
            .store()
            .dead_letters(limit)
            .await
            .map_err(store_error)?
            .iter()
            .map(outbound::message)
            .collect();
        Ok(Response::new(pb::ListDeadLettersResponse { dead_letters }))
    }

    async fn replay_dead_letter(
        &self,
        request: Request<pb::ReplayDeadLetterRequest>,
    ) -> Result<Response<pb::ReplayDeadLetterResponse>, Status> {
        let (call, request) = take(request)?;
        if request.message_id.trim().is_empty() {
            return Err(invalid_field("message_id", "required"));
        }
        let id = MessageId(request.message_id.trim().to_owned());
        let not_dead = || status::not_found(format_args!("dead letter {id}"));
        let referral = self
            .store()
            .dead_letters(usize::MAX)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|d| d.id == id)
            .map(|d| d.message.referral)
            .ok_or_else(not_dead)?;
        call.concerns(&referral);
        let now = self.gateway.clock().now();
        self.store()
            .replay_dead_letter(&id, now)
            .await
            .map_err(|e| match e {
                StoreError::NotFound(_) => not_dead(),
                other => store_error(other),
            })?;
        if let Some(relay) = &self.relay {
            relay.wake();
        }
        // Its state now; the relay may already have delivered it.
        let message = self
            .store()
            .pending_messages(&referral)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|m| m.id == id);
        Ok(Response::new(pb::ReplayDeadLetterResponse {
            message: message.as_ref().map(outbound::message),
        }))
    }

    async fn query_audit(
        &self,
        request: Request<pb::QueryAuditRequest>,
    ) -> Result<Response<pb::QueryAuditResponse>, Status> {
        let (call, request) = take(request)?;
        let text = |value: String| (!value.is_empty()).then_some(value);
        let referral = match text(request.referral_id) {
            Some(id) => {
                let id = referral_id("referral_id", &id)?;
                call.concerns(&id);
                Some(id)
            }
            None => None,
        };
        let instant = |field: &str, t: Option<&prost_types::Timestamp>| {
            t.map(|t| from_wire(t).map_err(|e| invalid_field(field, e.to_string())))
                .transpose()
        };
        let from = instant("from", request.from.as_ref())?;
        let until = instant("until", request.until.as_ref())?;
        if let (Some(from), Some(until)) = (from, until)
            && until < from
        {
            return Err(invalid_field("until", "must not be before from"));
        }
        if let (Some(after), Some(to)) = (request.after_seq, request.to_seq)
            && to < after
        {
            return Err(invalid_field("to_seq", "must not be before after_seq"));
        }
        let limit = match usize::try_from(request.limit).unwrap_or(usize::MAX) {
            0 => audit::DEFAULT_LIMIT,
            n if n > audit::MAX_LIMIT => {
                return Err(invalid_field(
                    "limit",
                    format!("must be at most {}", audit::MAX_LIMIT),
                ));
            }
            n => n,
        };
        let filter = audit::AuditFilter {
            referral,
            tenant: text(request.tenant),
            subject: text(request.subject),
            method: text(request.method),
            outcome: text(request.outcome),
            from,
            until,
        };
        let page = audit::page(
            self.store(),
            &filter,
            request.after_seq,
            request.to_seq,
            limit,
        )
        .await
        .map_err(store_error)?;
        Ok(Response::new(pb::QueryAuditResponse {
            entries: page.entries.iter().map(outbound::audit_entry).collect(),
            next_after_seq: page.next_after,
            scanned: page.scanned,
        }))
    }

    async fn get_clock(
        &self,
        request: Request<pb::GetClockRequest>,
    ) -> Result<Response<pb::ClockState>, Status> {
        let _ = take(request)?;
        Ok(Response::new(pb::ClockState {
            now: Some(to_wire(self.gateway.clock().now())),
            movable: self.sandbox.is_some(),
            speed: self.sandbox.as_ref().map_or(1.0, |s| s.clock.speed()),
            timers_fired: 0,
        }))
    }

    async fn advance_clock(
        &self,
        request: Request<pb::AdvanceClockRequest>,
    ) -> Result<Response<pb::ClockState>, Status> {
        let (_, request) = take(request)?;
        let Some(sandbox) = &self.sandbox else {
            return Err(Status::failed_precondition(
                "this gateway runs on the system's clock, which nobody moves; only a gateway \
                 started in the development profile with sandbox.clock = \"movable\" has a clock \
                 to move",
            ));
        };
        let by = request
            .by
            .ok_or_else(|| invalid_field("by", "required: how far to move the clock"))?;
        let by = jiff::SignedDuration::new(by.seconds, by.nanos);
        sandbox
            .clock
            .advance(by)
            .map_err(|e| invalid_field("by", e.to_string()))?;
        // The timers the move made due fire now, as they would have fired
        // by themselves: the engine's own sweep, earliest first.
        let report = sandbox.engine.sweep().await.map_err(|e| from_service(&e))?;
        if let Some(relay) = &self.relay {
            relay.wake();
        }
        Ok(Response::new(pb::ClockState {
            now: Some(to_wire(self.gateway.clock().now())),
            movable: true,
            speed: sandbox.clock.speed(),
            timers_fired: u32::try_from(report.fired).unwrap_or(u32::MAX),
        }))
    }

    async fn get_statistics(
        &self,
        request: Request<pb::GetStatisticsRequest>,
    ) -> Result<Response<pb::GetStatisticsResponse>, Status> {
        let (call, request) = take(request)?;
        let role = call.caller.role.clone();
        let instant =
            |field: &str, t: Option<&prost_types::Timestamp>| -> Result<Timestamp, Status> {
                let t = t.ok_or_else(|| invalid_field(field, "required"))?;
                from_wire(t).map_err(|e| invalid_field(field, e.to_string()))
            };
        let from = instant("from", request.from.as_ref())?;
        let to = instant("to", request.to.as_ref())?;
        if to <= from {
            return Err(invalid_field("to", "must be after from"));
        }
        let partner = match request.partner.trim() {
            "" => None,
            name => {
                Some(Partner::parse(name).map_err(|e| invalid_field("partner", e.to_string()))?)
            }
        };
        let mut statistics = Statistics::new(Period { from, to });
        let mut read = 0_u64;
        // Only the referrals with an event in the period can count; the
        // store's activity index names them, so a month's figures read that
        // month's referrals and not every history ever stored.
        let active = self
            .store()
            .referrals_active(from, to)
            .await
            .map_err(store_error)?;
        for id in &active {
            if let Some(history) = self.store().history(id).await.map_err(store_error)? {
                // A court system reads its own courts' referrals only.
                let court = history.first().and_then(|e| match &e.change {
                    Change::Received { bundle, .. } => Some(&bundle.court),
                    _ => None,
                });
                if matches!(role, Role::CourtSystem { .. })
                    && !court.is_some_and(|c| role.acts_for_court(c))
                {
                    continue;
                }
                statistics.add(&history);
                read += 1;
            }
        }
        // A platform reads its own organisations only.
        if let Role::Platform { .. } = role {
            statistics.retain(|p, o| role.acts_for_organisation(p, o));
        }
        if let Some(want) = partner {
            statistics.retain(|p, _| p == want);
        }
        let organisations = statistics
            .organisations()
            .filter(|(p, _, _)| partner.is_none_or(|want| **p == want))
            .map(|(p, o, t)| pb::OrganisationFigures {
                partner: p.as_str().into(),
                organisation: o.to_string(),
                figures: Some(outbound::figures(t)),
            })
            .collect();
        let partners = statistics
            .partners()
            .iter()
            .filter(|(p, _)| partner.is_none_or(|want| **p == want))
            .map(|(p, t)| pb::PartnerFigures {
                partner: p.as_str().into(),
                figures: Some(outbound::figures(t)),
            })
            .collect();
        let mut breakdowns: Vec<pb::BreakdownFigures> = Dimension::ALL
            .into_iter()
            .filter(|d| *d != Dimension::Mediator)
            .flat_map(|dimension| {
                statistics
                    .breakdown(dimension)
                    .into_iter()
                    .map(move |(value, tally)| pb::BreakdownFigures {
                        dimension: dimension.as_str().into(),
                        value: value.into(),
                        figures: Some(outbound::figures(&tally)),
                        ..Default::default()
                    })
            })
            .collect();
        breakdowns.extend(self.mediator_figures(&statistics, partner));
        Ok(Response::new(pb::GetStatisticsResponse {
            organisations,
            partners,
            referrals_read: read,
            breakdowns,
        }))
    }
}
