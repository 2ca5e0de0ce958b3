//! The call guard: a tower layer in front of every gateway service.
//!
//! For each call but health it first waits for a place in the bounded audit
//! queue (so a lagging audit log slows callers down rather than dropping or
//! hoarding records), then
//! 1. authenticates the caller from the TLS client certificate and the bearer
//!    token (UNAUTHENTICATED when either is missing or wrong);
//! 2. checks the caller's role may call the method at all, deny by default
//!    (PERMISSION_DENIED);
//! 3. takes one request from the tenant's rate bucket (RESOURCE_EXHAUSTED);
//! 4. hands the service the [`Caller`] in the request's extensions, where
//!    [`caller`] finds it, and a [`Subject`] slot for the referral the call
//!    turns out to concern;
//! 5. records who, what, which referral and the outcome in the audit log once
//!    the response has finished, including every refusal above.
//!
//! Which referral a caller may touch is decided by the services themselves,
//! with the rules of `mediation_core::access`.

mod audit;
mod body;
mod rules;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use mediation_core::access::Caller;
use mediation_core::audit::{Actor, AuditRecord, CallAudit};
use mediation_core::clock::Clock;
use mediation_core::ids::ReferralId;
use mediation_core::text::printable;
use mediation_security::rate::RateLimits;
use mediation_security::{Authenticator, Credentials};
use tonic::Status;

use crate::status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use audit::AuditSlot;
pub use audit::{AUDIT_CREDITS_PER_TENANT, AuditProgress, AuditSink, Queued, write_call_audit};
pub use rules::{Access, access_for};
use tracing::Instrument as _;

/// The referral a call concerns, once the service knows it.
#[derive(Debug, Clone, Default)]
pub struct Subject(Arc<Mutex<Option<ReferralId>>>);

impl Subject {
    /// Names the referral in the audit record and in every log line the
    /// call writes from now on.
    pub fn set(&self, id: &ReferralId) {
        tracing::Span::current().record("referral", tracing::field::display(id));
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
    }

    fn get(&self) -> Option<ReferralId> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The authenticated caller of a request, put there by the guard. A request
/// without one did not pass the guard and is refused.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| status::unauthenticated("the call was not authenticated"))
}

/// An authenticated call: who makes it, and where to note the referral it
/// concerns for the audit record.
#[derive(Debug, Clone)]
pub struct Call {
    pub caller: Caller,
    subject: Subject,
    audit: Option<CallAudit>,
    /// The trace the call is part of, when calls are traced.
    trace: Option<mediation_core::outbox::TraceContext>,
}

impl Call {
    /// Who makes the commands of this call, with the call's audit: a
    /// command that commits writes the call's record in its own commit.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.caller.actor(),
            call: self.audit.clone(),
            trace: self.trace.clone(),
        }
    }

    /// Notes the referral the call concerns.
    pub fn concerns(&self, id: &ReferralId) {
        self.subject.set(id);
    }
}

/// Splits a request into its call and its message; UNAUTHENTICATED if the
/// guard did not let it through.
pub fn take<T>(request: tonic::Request<T>) -> Result<(Call, T), Status> {
    let caller = caller(&request)?;
    let subject = request
        .extensions()
        .get::<Subject>()
        .cloned()
        .unwrap_or_default();
    let audit = request.extensions().get::<CallAudit>().cloned();
    let trace = request
        .extensions()
        .get::<mediation_core::outbox::TraceContext>()
        .cloned();
    Ok((
        Call {
            caller,
            subject,
            audit,
            trace,
        },
        request.into_inner(),
    ))
}

/// The metric label of a method path: the method for one the gateway serves,
/// `unknown` for anything else, so a caller cannot create series at will by
/// calling made-up methods (of a real service or not).
pub fn metric_label(path: &str) -> &str {
    const REFLECTION: [&str; 2] = [
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ];
    if mediation_proto::served_methods().contains(path) || REFLECTION.contains(&path) {
        path.trim_start_matches('/')
    } else {
        "unknown"
    }
}

/// How many calls a tenant may have in flight, and how long a call may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallLimits {
    /// Calls of one tenant in flight at once, streams included; the next is
    /// RESOURCE_EXHAUSTED. One tenant's flood cannot take what others need.
    pub in_flight_per_tenant: usize,
    /// How long a call may take to be answered, from its headers to its
    /// response's headers (its request body included). A call that sends
    /// headers and nothing more ends at this point with DEADLINE_EXCEEDED.
    pub request_timeout: std::time::Duration,
    /// The same for an upload, whose request body is the whole file.
    pub upload_timeout: std::time::Duration,
}

impl Default for CallLimits {
    fn default() -> Self {
        Self {
            in_flight_per_tenant: 64,
            request_timeout: std::time::Duration::from_secs(30),
            upload_timeout: std::time::Duration::from_secs(900),
        }
    }
}

const UPLOAD: &str = "/mediation.documents.v1.Documents/Upload";

/// What the guard needs: who may call, how often, how much at once, and
/// where records go.
#[derive(Clone)]
pub struct Guard {
    authenticator: Arc<Authenticator>,
    limits: Arc<RateLimits>,
    audit: AuditSink,
    clock: Arc<dyn Clock>,
    calls: CallLimits,
    in_flight: Arc<Mutex<std::collections::HashMap<String, Arc<tokio::sync::Semaphore>>>>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
}

/// A client certificate chain, leaf first.
type PeerCerts = Arc<Vec<tonic::transport::CertificateDer<'static>>>;

/// The client certificate chain the TLS session presented, if any.
fn peer_certs<B>(request: &http::Request<B>) -> Option<PeerCerts> {
    request
        .extensions()
        .get::<TlsConnectInfo<TcpConnectInfo>>()
        .and_then(TlsConnectInfo::peer_certs)
}

/// The chain's own (first) certificate, in DER.
fn leaf(certs: &Option<PeerCerts>) -> Option<&[u8]> {
    certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref())
}

/// Who a call's credentials say is calling, or why they do not.
type Identified = Result<(Caller, Option<u32>), (String, Status)>;

/// Whether the call's place in its tenant's rate was taken before its token
/// was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rate {
    /// Taken, by the tenant its certificate names.
    Taken,
    /// That tenant is over its rate.
    Over,
    /// Not yet: there was no certificate naming a tenant.
    Unchecked,
}

impl Guard {
    pub fn new(
        authenticator: Arc<Authenticator>,
        limits: Arc<RateLimits>,
        audit: AuditSink,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            authenticator,
            limits,
            audit,
            clock,
            calls: CallLimits::default(),
            in_flight: Arc::default(),
        }
    }

    pub fn with_call_limits(mut self, calls: CallLimits) -> Self {
        self.calls = calls;
        self
    }

    /// The tenant the client certificate names, if any, with its own rate.
    fn claimed<B>(&self, request: &http::Request<B>) -> Option<(String, Option<u32>)> {
        let certs = peer_certs(request);
        self.authenticator.claimed(leaf(&certs))
    }

    /// Reads the caller from the client certificate and the bearer token.
    fn identify<B>(&self, request: &http::Request<B>) -> Identified {
        let certs = peer_certs(request);
        let certificate = leaf(&certs);
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        self.authenticator
            .authenticate(Credentials {
                certificate,
                authorization,
            })
            .map_err(|e| {
                let actor = match certificate
                    .and_then(|der| mediation_security::certificate::read(der).ok())
                {
                    Some(cert) => format!("unauthenticated cert={}", cert.description),
                    None => String::from("unauthenticated"),
                };
                (actor, status::unauthenticated(e))
            })
    }

    /// One of the tenant's places for a call in flight, if it has one free.
    fn take_in_flight(&self, tenant: &str) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let pool = {
            let mut pools = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(pools.entry(tenant.to_owned()).or_insert_with(|| {
                Arc::new(tokio::sync::Semaphore::new(
                    self.calls.in_flight_per_tenant.max(1),
                ))
            }))
        };
        pool.try_acquire_owned().ok()
    }

    /// Decides whether the identified call may reach its service. On success
    /// the request carries the caller and a subject slot, and the returned
    /// pending record is completed when the response ends; on refusal, the
    /// pending record and the status to answer with.
    fn admit<B>(
        &self,
        request: &mut http::Request<B>,
        slot: AuditSlot,
        identified: Identified,
        rate: Rate,
        channel: &'static str,
    ) -> Result<Pending, Box<(Pending, Status)>> {
        let method = request.uri().path().to_owned();
        let access = access_for(&method);
        let mut pending = Pending {
            slot,
            channel,
            clock: Arc::clone(&self.clock),
            actor: String::from("unauthenticated"),
            label: metric_label(&method).to_owned(),
            method,
            subject: Subject::default(),
            started: std::time::Instant::now(),
            in_flight: None,
            call: None,
        };
        let (caller, own_rate) = match identified {
            Ok(found) => found,
            Err((actor, status)) => {
                pending.actor = actor;
                return Err(Box::new((pending, status)));
            }
        };
        pending.actor = caller.audit_actor();
        if !access.allows(&caller.role) {
            let status = status::method_not_permitted(&caller.tenant, &pending.method);
            return Err(Box::new((pending, status)));
        }
        let within = match rate {
            Rate::Taken => true,
            Rate::Over => false,
            Rate::Unchecked => self.limits.admit(&caller.tenant, own_rate),
        };
        if !within {
            let status = status::over_rate(&caller.tenant);
            return Err(Box::new((pending, status)));
        }
        let Some(permit) = self.take_in_flight(&caller.tenant) else {
            let status =
                status::too_many_in_flight(&caller.tenant, self.calls.in_flight_per_tenant);
            return Err(Box::new((pending, status)));
        };
        pending.in_flight = Some(permit);
        request.extensions_mut().insert(caller);
        request.extensions_mut().insert(pending.subject.clone());
        let audit = CallAudit::new(AuditRecord {
            at: self.clock.now(),
            actor: pending.actor.clone(),
            action: format!("{} {}", pending.channel, pending.method),
            referral: None,
            outcome: "ok".into(),
        });
        request.extensions_mut().insert(audit.clone());
        pending.call = Some(audit);
        Ok(pending)
    }

    fn span(pending: &Pending) -> tracing::Span {
        tracing::info_span!(
            "call",
            method = %pending.label,
            // The token's subject is the caller's own text.
            caller = %printable(&pending.actor),
            referral = tracing::field::Empty
        )
    }
}

/// A call to a gateway service made inside the process for an operator
/// whom the console authenticated: admitted by the same rules (the role may
/// call the method, the tenant's rate and calls in flight) and audited the
/// same way, with `console` as its channel. [`InProcessCall::finish`]
/// records the outcome; one dropped unfinished is recorded as cancelled.
#[derive(Debug)]
pub struct InProcessCall {
    pending: Option<Pending>,
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("actor", &self.actor)
            .field("method", &self.method)
            .finish_non_exhaustive()
    }
}

impl InProcessCall {
    /// Records the call's outcome in the audit log and the metrics.
    pub fn finish(mut self, outcome: Result<(), &Status>) {
        if let Some(pending) = self.pending.take() {
            pending.finish(&outcome_text(outcome));
        }
    }
}

/// An outcome as audit records write it: `ok`, or the code and message.
fn outcome_text(outcome: Result<(), &Status>) -> String {
    match outcome {
        Ok(()) => "ok".to_owned(),
        Err(status) => body::outcome_of(status.code(), status.message()),
    }
}

impl Drop for InProcessCall {
    fn drop(&mut self) {
        if let Some(pending) = self.pending.take() {
            pending.finish("Cancelled: the console's request or feed ended first");
        }
    }
}

impl Guard {
    /// Appends a record of something that is not a call (an operator
    /// logging in to the console, or failing to), through the call records'
    /// queue under `tenant`'s credits (the unidentified pool for `None`).
    pub async fn record(
        &self,
        tenant: Option<&str>,
        actor: String,
        action: &str,
        outcome: Result<(), &Status>,
    ) {
        let slot = self
            .audit
            .reserve(tenant.unwrap_or(audit::UNIDENTIFIED))
            .await;
        slot.fill(vec![AuditRecord {
            at: self.clock.now(),
            actor,
            action: action.to_owned(),
            referral: None,
            outcome: outcome_text(outcome),
        }]);
    }

    /// The authenticator calls are checked against.
    pub fn authenticator(&self) -> &Arc<Authenticator> {
        &self.authenticator
    }

    /// Admits `caller`'s call of `method` (`/package.Service/Method`) with
    /// `message`, made inside the process by the console. The request
    /// carries what the guard gives a call over the wire; a refusal is
    /// already recorded.
    pub async fn admit_in_process<T>(
        &self,
        caller: Caller,
        method: &str,
        message: T,
    ) -> Result<(tonic::Request<T>, InProcessCall), Status> {
        self.admit_in_process_as("console", caller, method, message)
            .await
    }

    /// [`Guard::admit_in_process`], recorded as coming in on `channel`
    /// (the simulation's calls say `sim`).
    pub async fn admit_in_process_as<T>(
        &self,
        channel: &'static str,
        caller: Caller,
        method: &str,
        message: T,
    ) -> Result<(tonic::Request<T>, InProcessCall), Status> {
        if !self.audit.writable() {
            return Err(status::unavailable(
                "the audit log cannot be written; the call is refused rather than left unrecorded",
            ));
        }
        let slot = self.audit.reserve(&caller.tenant).await;
        let mut request = http::Request::new(());
        *request.uri_mut() = http::Uri::try_from(method)
            .map_err(|_| status::invalid_field("method", "not a method path"))?;
        let own_rate = self
            .authenticator
            .tenants()
            .get(&caller.tenant)
            .and_then(|t| t.rate_per_second);
        let identified = Ok((caller, own_rate));
        match self.admit(&mut request, slot, identified, Rate::Unchecked, channel) {
            Ok(pending) => {
                let (parts, ()) = request.into_parts();
                let request = tonic::Request::from_parts(
                    tonic::metadata::MetadataMap::new(),
                    parts.extensions,
                    message,
                );
                Ok((
                    request,
                    InProcessCall {
                        pending: Some(pending),
                    },
                ))
            }
            Err(refused) => {
                let (refused, status) = *refused;
                refused.finish(&body::outcome_of(status.code(), status.message()));
                Err(status)
            }
        }
    }
}

/// An audit record waiting for the call's outcome, and its place in the
/// audit queue.
struct Pending {
    slot: AuditSlot,
    /// How the call came: `call` over the gRPC API, `console` from the
    /// operators' console; the audit record's action starts with it.
    channel: &'static str,
    clock: Arc<dyn Clock>,
    actor: String,
    method: String,
    /// The method as a metrics label.
    label: String,
    subject: Subject,
    started: std::time::Instant,
    /// The tenant's place for a call in flight, given back when the call ends.
    in_flight: Option<tokio::sync::OwnedSemaphorePermit>,
    /// Shared with the command the call makes, once admitted.
    call: Option<CallAudit>,
}

impl Pending {
    fn finish(self, outcome: &str) {
        let code = outcome.split(':').next().unwrap_or("unknown").to_owned();
        metrics::counter!("gateway_requests_total", "method" => self.label.clone(), "code" => code.clone())
            .increment(1);
        metrics::histogram!("gateway_request_seconds", "method" => self.label.clone())
            .record(self.started.elapsed().as_secs_f64());
        let referral = self.subject.get();
        // The access log: one line per call. Every caller-supplied value is
        // escaped; the method is the bounded label.
        tracing::info!(
            method = %self.label,
            caller = %printable(&self.actor),
            code = %code,
            latency_ms = self.started.elapsed().as_secs_f64() * 1e3,
            referral = referral.as_ref().map(tracing::field::display),
            "call"
        );
        let (committed, refused) = self
            .call
            .as_ref()
            .map(CallAudit::finish)
            .unwrap_or_default();
        // A call whose command committed is already in the audit log, in
        // the same durable write as the command; only refusals remain.
        let mut records = Vec::with_capacity(1 + refused.len());
        if !(committed && outcome == "ok") {
            records.push(AuditRecord {
                at: self.clock.now(),
                actor: self.actor,
                action: format!("{} {}", self.channel, self.method),
                referral,
                outcome: outcome.to_owned(),
            });
        }
        records.extend(refused);
        self.slot.fill(records);
    }
}

/// The layer that puts a [`Guard`] in front of a service.
#[derive(Debug, Clone)]
pub struct GuardLayer(Guard);

impl GuardLayer {
    pub fn new(guard: Guard) -> Self {
        Self(guard)
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guarded {
            inner,
            guard: self.0.clone(),
        }
    }
}

/// A service behind the guard.
#[derive(Debug, Clone)]
pub struct Guarded<S> {
    inner: S,
    guard: Guard,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> tower::Service<http::Request<B>> for Guarded<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this call; a clone takes
        // its place for the next (the usual tower pattern).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if access_for(request.uri().path()) == Access::Public {
            // Health answers even while the audit log is behind.
            return Box::pin(inner.call(request));
        }
        let guard = self.guard.clone();
        Box::pin(async move {
            if !guard.audit.writable() {
                // Fail closed: a call that cannot be recorded is not
                // answered. Its refusal cannot be recorded either, so the
                // log says it.
                tracing::warn!(method = %printable(request.uri().path()), "call refused: the audit log cannot be written");
                return Ok(status::unavailable(
                    "the audit log cannot be written; the call is refused rather than left unrecorded",
                )
                .into_http());
            }
            // The rate first, by the tenant the (already verified) client
            // certificate names: a tenant over its rate is refused without
            // the cost of checking its token's signature.
            let claimed = guard.claimed(&request);
            let rate = match &claimed {
                Some((tenant, own)) if guard.limits.admit(tenant, *own) => Rate::Taken,
                Some(_) => Rate::Over,
                None => Rate::Unchecked,
            };
            let identified = if rate == Rate::Over {
                let (tenant, _) = claimed.clone().unwrap_or_default();
                Err((
                    format!("tenant={tenant} (by its certificate; token not checked)"),
                    status::over_rate(&tenant),
                ))
            } else {
                guard.identify(&request)
            };
            let pool = match (&identified, &claimed) {
                (Ok((caller, _)), _) => caller.tenant.clone(),
                (Err(_), Some((tenant, _))) => tenant.clone(),
                (Err(_), None) => audit::UNIDENTIFIED.to_owned(),
            };
            let slot = guard.audit.reserve(&pool).await;
            let pending = match guard.admit(&mut request, slot, identified, rate, "call") {
                Ok(pending) => pending,
                Err(refused) => {
                    let (refused, status) = *refused;
                    refused.finish(&body::outcome_of(status.code(), status.message()));
                    return Ok(status.into_http());
                }
            };
            let timeout = if pending.method == UPLOAD {
                guard.calls.upload_timeout
            } else {
                guard.calls.request_timeout
            };
            // Everything the service logs for this call carries the method,
            // the caller and, once known, the referral.
            let span = Guard::span(&pending);
            // The call continues the caller's trace, and its commands'
            // messages carry it on to their deliveries.
            crate::trace_context::continue_call(request.headers(), &span);
            if let Some(trace) = crate::trace_context::of(&span) {
                request.extensions_mut().insert(trace);
            }
            async move {
                match tokio::time::timeout(timeout, inner.call(request)).await {
                    Ok(response) => Ok(body::audited(response?, pending)),
                    Err(_) => {
                        let status = status::too_slow(timeout);
                        pending.finish(&body::outcome_of(status.code(), status.message()));
                        Ok(status.into_http())
                    }
                }
            }
            .instrument(span)
            .await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_served_methods_get_a_label_of_their_own() {
        assert_eq!(
            metric_label("/mediation.court.v1.CourtGateway/SubmitReferral"),
            "mediation.court.v1.CourtGateway/SubmitReferral"
        );
        for made_up in [
            "/mediation.court.v1.CourtGateway/MadeUp1",
            "/mediation.court.v1.CourtReceiver/Deliver",
            "/no.such.Service/Call",
            "/",
            "",
        ] {
            assert_eq!(metric_label(made_up), "unknown", "{made_up}");
        }
    }
}
