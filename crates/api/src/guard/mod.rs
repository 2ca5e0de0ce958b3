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
use mediation_core::audit::AuditRecord;
use mediation_core::clock::Clock;
use mediation_core::ids::ReferralId;
use mediation_core::text::printable;
use mediation_security::rate::RateLimits;
use mediation_security::{Authenticator, Credentials};
use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use audit::AuditSlot;
pub use audit::{AUDIT_QUEUE, AuditProgress, AuditSink, write_call_audit};
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
        .ok_or_else(|| Status::unauthenticated("the call was not authenticated"))
}

/// An authenticated call: who makes it, and where to note the referral it
/// concerns for the audit record.
#[derive(Debug, Clone)]
pub struct Call {
    pub caller: Caller,
    subject: Subject,
}

impl Call {
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
    Ok((Call { caller, subject }, request.into_inner()))
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

/// What the guard needs: who may call, how often, and where records go.
#[derive(Clone)]
pub struct Guard {
    authenticator: Arc<Authenticator>,
    limits: Arc<RateLimits>,
    audit: AuditSink,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").finish_non_exhaustive()
    }
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
        }
    }

    /// Decides whether the call may reach its service. On success the
    /// request carries the caller and a subject slot, and the returned
    /// pending record is completed when the response ends; on refusal, the
    /// pending record and the status to answer with.
    fn admit<B>(
        &self,
        request: &mut http::Request<B>,
        slot: AuditSlot,
    ) -> Result<Pending, Box<(Pending, Status)>> {
        let method = request.uri().path().to_owned();
        let access = access_for(&method);
        let mut pending = Pending {
            slot,
            clock: Arc::clone(&self.clock),
            actor: String::from("unauthenticated"),
            label: metric_label(&method).to_owned(),
            method,
            subject: Subject::default(),
            started: std::time::Instant::now(),
        };
        let certs = request
            .extensions()
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(TlsConnectInfo::peer_certs);
        let certificate = certs.as_ref().and_then(|c| c.first()).map(|c| c.as_ref());
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (caller, own_rate) = match self.authenticator.authenticate(Credentials {
            certificate,
            authorization,
        }) {
            Ok(found) => found,
            Err(e) => {
                if let Some(cert) =
                    certificate.and_then(|der| mediation_security::certificate::read(der).ok())
                {
                    pending.actor = format!("unauthenticated cert={}", cert.description);
                }
                return Err(Box::new((pending, Status::unauthenticated(e.to_string()))));
            }
        };
        pending.actor = caller.audit_actor();
        if !access.allows(&caller.role) {
            let status = Status::permission_denied(format!(
                "tenant {} may not call {}",
                caller.tenant, pending.method
            ));
            return Err(Box::new((pending, status)));
        }
        if !self.limits.admit(&caller.tenant, own_rate) {
            let status = Status::resource_exhausted(format!(
                "tenant {} is over its request rate; slow down and retry",
                caller.tenant
            ));
            return Err(Box::new((pending, status)));
        }
        request.extensions_mut().insert(caller);
        request.extensions_mut().insert(pending.subject.clone());
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

/// An audit record waiting for the call's outcome, and its place in the
/// audit queue.
struct Pending {
    slot: AuditSlot,
    clock: Arc<dyn Clock>,
    actor: String,
    method: String,
    /// The method as a metrics label.
    label: String,
    subject: Subject,
    started: std::time::Instant,
}

impl Pending {
    fn finish(self, outcome: &str) {
        let code = outcome.split(':').next().unwrap_or("unknown").to_owned();
        metrics::counter!("gateway_requests_total", "method" => self.label.clone(), "code" => code)
            .increment(1);
        metrics::histogram!("gateway_request_seconds", "method" => self.label.clone())
            .record(self.started.elapsed().as_secs_f64());
        let record = AuditRecord {
            at: self.clock.now(),
            actor: self.actor,
            action: format!("call {}", self.method),
            referral: self.subject.get(),
            outcome: outcome.to_owned(),
        };
        self.slot.fill(record);
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
                return Ok(Status::unavailable(
                    "the audit log cannot be written; the call is refused rather than left unrecorded",
                )
                .into_http());
            }
            let slot = guard.audit.reserve().await;
            let pending = match guard.admit(&mut request, slot) {
                Ok(pending) => pending,
                Err(refused) => {
                    let (refused, status) = *refused;
                    refused.finish(&body::outcome_of(status.code(), status.message()));
                    return Ok(status.into_http());
                }
            };
            // Everything the service logs for this call carries the method,
            // the caller and, once known, the referral.
            let span = Guard::span(&pending);
            async move {
                let response = inner.call(request).await?;
                Ok(body::audited(response, pending))
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
