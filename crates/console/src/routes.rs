//! The console's HTTP routes: the embedded page, the session's login and
//! logout, the operations service as JSON, and the live alert feed as
//! server-sent events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use cookie::{Cookie, SameSite};
use futures_util::StreamExt as _;
use mediation_api::guard::Guard;
use mediation_core::access::{Caller, Role};
use mediation_core::clock::Clock;
use mediation_proto::json::to_json;
use mediation_proto::operations::v1 as pb;
use serde::{Deserialize, Serialize};
use tonic::Status;

use crate::assets;
use crate::session::{Session, Sessions};
use crate::transcode::{self, Ops, error_body, http_status, method_path};

/// What the routes share.
pub(crate) struct Console {
    pub(crate) ops: Ops,
    pub(crate) guard: Guard,
    pub(crate) sessions: Sessions,
    /// Real time: sessions and tokens do not follow a sandbox's clock.
    pub(crate) clock: Arc<dyn Clock>,
    /// Served over TLS: the cookie is `Secure` with the `__Host-` prefix,
    /// and browsers are told to keep to HTTPS.
    pub(crate) tls: bool,
}

impl Console {
    fn cookie_name(&self) -> &'static str {
        if self.tls {
            "__Host-mg_console"
        } else {
            "mg_console"
        }
    }
}

pub(crate) fn router(console: Arc<Console>) -> Router {
    let tls = console.tls;
    Router::new()
        .route("/", get(page))
        .route("/assets/{file}", get(asset))
        .route("/api/session", get(session_info))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/ops/{method}", post(operation))
        .route("/api/alerts", get(alerts))
        .with_state(console)
        .layer(axum::middleware::map_response(
            move |mut response: Response| async move {
                let headers = response.headers_mut();
                // No inline script or style, nothing from elsewhere, never
                // framed: the page is only what the binary carries.
                headers.insert(
                    header::CONTENT_SECURITY_POLICY,
                    HeaderValue::from_static(
                        "default-src 'none'; script-src 'self'; style-src 'self'; \
                         img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
                         form-action 'none'; frame-ancestors 'none'",
                    ),
                );
                headers.insert(
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                );
                headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                headers.insert(
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("no-referrer"),
                );
                if !headers.contains_key(header::CACHE_CONTROL) {
                    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                }
                if tls {
                    headers.insert(
                        header::STRICT_TRANSPORT_SECURITY,
                        HeaderValue::from_static("max-age=31536000"),
                    );
                }
                response
            },
        ))
}

/// A refusal, as JSON with its HTTP status.
fn refused(status: &Status) -> Response {
    (http_status(status.code()), Json(error_body(status))).into_response()
}

async fn page() -> Response {
    asset_response("index.html")
}

async fn asset(Path(file): Path<String>) -> Response {
    asset_response(&file)
}

fn asset_response(file: &str) -> Response {
    match assets::get(file) {
        Some((content_type, body)) => (
            [
                (header::CONTENT_TYPE, content_type),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response(),
        None => refused(&Status::not_found(format!("no asset {file:?}"))),
    }
}

/// What the page is told of its session.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionInfo {
    tenant: String,
    operator: String,
    read_only: bool,
    csrf: String,
    expires_at: String,
}

impl SessionInfo {
    fn of(session: &Session) -> Self {
        Self {
            tenant: session.caller.tenant.clone(),
            operator: session.caller.subject.clone(),
            read_only: matches!(session.caller.role, Role::Operator { read_only: true }),
            csrf: session.csrf.clone(),
            expires_at: session.expires.to_string(),
        }
    }
}

impl Console {
    /// The session the request's cookie names, its operator's role read
    /// again from the current tenants (a reload may have removed the tenant
    /// or made it read-only).
    fn session(&self, headers: &HeaderMap) -> Result<(String, Session), Status> {
        let name = self.cookie_name();
        let id = headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(Cookie::split_parse)
            .filter_map(Result::ok)
            .find(|c| c.name() == name)
            .map(|c| c.value().to_owned())
            .ok_or_else(|| Status::unauthenticated("log in first"))?;
        let mut session = self
            .sessions
            .find(&id, self.clock.now())
            .ok_or_else(|| Status::unauthenticated("the session has ended; log in again"))?;
        let tenants = self.guard.authenticator().tenants();
        match tenants.get(&session.caller.tenant) {
            Some(tenant) if matches!(tenant.role, Role::Operator { .. }) => {
                session.caller.role = tenant.role.clone();
                Ok((id, session))
            }
            _ => {
                self.sessions.end(&id);
                Err(Status::unauthenticated(
                    "the operator's tenant is no longer configured; the session has ended",
                ))
            }
        }
    }

    /// The session of a request that changes something: its cookie, its
    /// CSRF header, and (when the browser sends one) an `Origin` that is
    /// this console's own.
    fn acting_session(&self, headers: &HeaderMap) -> Result<(String, Session), Status> {
        same_origin(headers)?;
        let (id, session) = self.session(headers)?;
        let sent = headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if !session.csrf_matches(sent) {
            return Err(Status::permission_denied(
                "the request lacks this session's x-csrf-token header",
            ));
        }
        Ok((id, session))
    }

    fn session_cookie(&self, value: String, max_age_seconds: i64) -> HeaderValue {
        let cookie = Cookie::build((self.cookie_name(), value))
            .path("/")
            .http_only(true)
            .secure(self.tls)
            .same_site(SameSite::Strict)
            .max_age(cookie::time::Duration::seconds(max_age_seconds.max(0)))
            .build();
        HeaderValue::from_str(&cookie.encoded().to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("mg_console=; Max-Age=0"))
    }
}

/// Refuses a request whose `Origin` is not the host it was sent to: a form
/// or script of another site.
fn same_origin(headers: &HeaderMap) -> Result<(), Status> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    if origin_host.is_empty() || !origin_host.eq_ignore_ascii_case(host) {
        return Err(Status::permission_denied(
            "the request comes from another site's page",
        ));
    }
    Ok(())
}

fn wants_json(headers: &HeaderMap) -> Result<(), Status> {
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if json {
        Ok(())
    } else {
        Err(Status::invalid_argument(
            "the body must be JSON, sent as content-type application/json",
        ))
    }
}

async fn session_info(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    match console.session(&headers) {
        Ok((_, session)) => Json(SessionInfo::of(&session)).into_response(),
        Err(status) => refused(&status),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    token: String,
}

async fn login(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(status) = same_origin(&headers).and_then(|()| wants_json(&headers)) {
        return refused(&status);
    }
    let Ok(Login { token }) = serde_json::from_slice::<Login>(&body) else {
        return refused(&Status::invalid_argument(
            "the body must be {\"token\": \"<an operator's bearer token>\"}",
        ));
    };
    let authenticated = console.guard.authenticator().authenticate_token(&token);
    let (caller, token_expires) = match authenticated {
        Ok((caller, expires)) if matches!(caller.role, Role::Operator { .. }) => (caller, expires),
        Ok((caller, _)) => {
            let status = Status::permission_denied(format!(
                "tenant {} is not an operators' tenant; the console is for operators",
                caller.tenant
            ));
            record_login(&console, Some(&caller), Err(&status)).await;
            return refused(&status);
        }
        Err(e) => {
            let status = Status::unauthenticated(e.to_string());
            record_login(&console, None, Err(&status)).await;
            return refused(&status);
        }
    };
    let now = console.clock.now();
    let (id, session) = match console.sessions.start(caller, token_expires, now) {
        Ok(started) => started,
        Err(e) => {
            return refused(&Status::unavailable(format!(
                "no random session id could be made: {e}"
            )));
        }
    };
    record_login(&console, Some(&session.caller), Ok(())).await;
    let max_age = session.expires.as_second() - now.as_second();
    let mut response = Json(SessionInfo::of(&session)).into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, console.session_cookie(id, max_age));
    response
}

async fn record_login(console: &Console, caller: Option<&Caller>, outcome: Result<(), &Status>) {
    let actor = caller.map_or_else(|| "unauthenticated".to_owned(), Caller::audit_actor);
    console
        .guard
        .record(
            caller.map(|c| c.tenant.as_str()),
            actor,
            "console login",
            outcome,
        )
        .await;
}

async fn logout(State(console): State<Arc<Console>>, headers: HeaderMap) -> Response {
    let (id, session) = match console.acting_session(&headers) {
        Ok(found) => found,
        Err(status) => return refused(&status),
    };
    console.sessions.end(&id);
    let caller = &session.caller;
    console
        .guard
        .record(
            Some(&caller.tenant),
            caller.audit_actor(),
            "console logout",
            Ok(()),
        )
        .await;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, console.session_cookie(String::new(), 0));
    response
}

async fn operation(
    State(console): State<Arc<Console>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let session = console
        .acting_session(&headers)
        .and_then(|s| wants_json(&headers).map(|()| s));
    let (_, session) = match session {
        Ok(found) => found,
        Err(status) => return refused(&status),
    };
    match transcode::call(&console.ops, &console.guard, session.caller, &method, &body).await {
        Ok(json) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Err(status) => refused(&status),
    }
}

#[derive(Debug, Deserialize)]
struct AlertsQuery {
    #[serde(default)]
    after: u64,
}

/// How often an open feed checks that its session still lives.
const SESSION_CHECK: Duration = Duration::from_secs(5);

/// Alerts after `after` (or the browser's `Last-Event-ID`, when it
/// reconnects), then each as it is raised, as server-sent events: `alert`
/// with the alert's JSON, `refusal` with the status that ended the feed.
async fn alerts(
    State(console): State<Arc<Console>>,
    Query(query): Query<AlertsQuery>,
    headers: HeaderMap,
) -> Response {
    let (id, session) = match console.session(&headers) {
        Ok(found) => found,
        Err(status) => return refused(&status),
    };
    let resumed = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let request = pb::WatchAlertsRequest {
        after_seq: query.after.max(resumed),
        follow: true,
        kinds: Vec::new(),
    };
    let admitted = console
        .guard
        .admit_in_process(session.caller, &method_path("WatchAlerts"), request)
        .await;
    let (request, audit) = match admitted {
        Ok(admitted) => admitted,
        Err(status) => return refused(&status),
    };
    let stream = match console.ops.watch_alerts(request).await {
        Ok(stream) => stream.into_inner(),
        Err(status) => {
            audit.finish(Err(&status));
            return refused(&status);
        }
    };
    // The feed ends with its session: logout, expiry or a removed tenant.
    let watcher = Arc::clone(&console);
    let session_ended = async move {
        let mut tick = tokio::time::interval(SESSION_CHECK);
        loop {
            tick.tick().await;
            if !watcher.sessions.is_live(&id, watcher.clock.now()) {
                return;
            }
        }
    };
    // The feed holds one of the tenant's calls in flight for as long as it
    // is open, as a gRPC stream does, and is recorded when it ends.
    let events = stream
        .map(move |item| -> Result<Event, Infallible> {
            let _open = &audit;
            Ok(match item {
                Ok(alert) => match to_json(&alert, "mediation.operations.v1.Alert") {
                    Ok(json) => Event::default()
                        .event("alert")
                        .id(alert.seq.to_string())
                        .data(String::from_utf8_lossy(&json)),
                    Err(e) => error_event(&Status::internal(e.to_string())),
                },
                Err(status) => error_event(&status),
            })
        })
        .take_until(session_ended);
    Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

fn error_event(status: &Status) -> Event {
    let body = serde_json::to_string(&error_body(status)).unwrap_or_default();
    Event::default().event("refusal").data(body)
}
