//! Alert webhooks: every alert, as it is raised, POSTed to each configured
//! hook in one of three shapes (see `docs/operations.md`):
//!
//! - `json`: the gateway's own object, `{"source", "instance", "alert": {…}}`;
//! - `alertmanager`: the Prometheus Alertmanager v2 API's array of alerts,
//!   for `POST /api/v2/alerts`;
//! - `chat`: a group-chat robot's text message, `{"msgtype": "text", "text":
//!   {"content": …}}`, as WeCom and DingTalk robots take it.
//!
//! Each hook keeps its own cursor (the last alert number it accepted) in a
//! small file under `<data_dir>/webhooks/`, so a restart resumes where it
//! stopped: at least once, in order, per hook. A new hook starts at the
//! current end of the log rather than replaying history. A hook that fails
//! is retried with exponential backoff; the others are not held up.
//!
//! What Alertmanager is told is in real time, even on a sandbox whose clock
//! was moved forward: its `startsAt` and `endsAt` are compared with its own
//! clock. Each alert's labels tell its condition from every other's (its
//! number, referral, court, organisation, destination). An alert a hook
//! refuses on its own (400 or 422, whatever its format) is set aside,
//! logged and kept in `<name>.rejected`, and not sent again; a refused
//! Alertmanager batch is sent again one alert at a time, so that one bad
//! alert does not hold back the others.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mediation_core::clock::Clock;

use crate::backend::GatewayStore;
use mediation_core::alert::{Alert, AlertKind, AlertRecord, Severity};
use mediation_core::lifecycle::{Change, Event};
use mediation_core::store::AlertLog as _;
use mediation_core::store::ReferralStore as _;
use mediation_core::store::StoreError;
use mediation_delivery::RetryPolicy;
use serde_json::{Value, json};

use crate::config::{AlertSettings, DEFAULT_RUNBOOK_BASE_URL, WebhookFormat, WebhookSettings};

/// The body `alert` is posted with in `format`.
pub fn body(format: WebhookFormat, alert: &Alert, instance: &str) -> Value {
    let r = &alert.record;
    let referral = r.referral.as_ref().map(|id| id.to_string());
    let raised_at = mediation_calendar::cst::format(r.raised_at);
    let due_at = r.due_at.map(mediation_calendar::cst::format);
    let severity = r.kind.severity().as_str();
    match format {
        WebhookFormat::Json => json!({
            "source": "mediation-gateway",
            "instance": instance,
            "alert": {
                "seq": alert.seq,
                "kind": r.kind.as_str(),
                "severity": severity,
                "raised_at": raised_at,
                "referral_id": referral,
                "due_at": due_at,
                "detail": r.detail,
            }
        }),
        WebhookFormat::Alertmanager => json!([alertmanager_entry(
            alert,
            instance,
            &Shown::of(alert, DEFAULT_RUNBOOK_BASE_URL, alert.record.raised_at),
            None
        )]),
        WebhookFormat::Chat => {
            let mut content = format!(
                "[{}] {} #{}\n{}",
                severity.to_uppercase(),
                r.kind.as_str().replace('_', " "),
                alert.seq,
                r.detail
            );
            if let Some(referral) = &referral {
                content.push_str(&format!("\nreferral: {referral}"));
            }
            if let Some(due) = &due_at {
                content.push_str(&format!("\ndue: {due}"));
            }
            content.push_str(&format!("\nraised: {raised_at} ({instance})"));
            json!({"msgtype": "text", "text": {"content": content}})
        }
    }
}

/// How one alert is shown to Alertmanager, which tells alerts apart by
/// their labels alone: the labels that tell its condition from every other
/// alert's, when it started by the real clock, and its runbook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Beyond the kind's own labels: `alert_seq` always, and `referral_id`,
    /// `court`, `organisation`, `partner`, `destination` and `subject` where
    /// the alert has them.
    pub labels: BTreeMap<&'static str, String>,
    /// When the alert started, in real time: never after the first time it
    /// was shown.
    pub starts_at: Timestamp,
    /// `<runbook_base_url>#<kind>`, the runbook's section for its kind.
    pub runbook_url: String,
}

impl Shown {
    /// What the alert's own record says, shown at `now` by the real clock.
    /// The labels that need its referral's history are added by the
    /// notifier.
    pub fn of(alert: &Alert, runbooks: &str, now: Timestamp) -> Self {
        let r = &alert.record;
        let mut labels = BTreeMap::new();
        labels.insert("alert_seq", alert.seq.to_string());
        if let Some(referral) = &r.referral {
            labels.insert("referral_id", referral.to_string());
        }
        let destination = destination_of(r);
        if let Some(subject) = r
            .subject
            .as_ref()
            .filter(|s| destination.as_ref() != Some(*s))
        {
            labels.insert("subject", subject.clone());
        }
        if let Some(destination) = destination {
            labels.insert("destination", destination);
        }
        Self {
            labels,
            starts_at: real_start(r.raised_at, now),
            runbook_url: runbook_url(runbooks, r.kind),
        }
    }
}

/// When an alert raised at `raised_at` by the gateway's clock started, told
/// at `now` by the real clock: a sandbox's clock may be ahead of real time,
/// and Alertmanager's times are real.
fn real_start(raised_at: Timestamp, now: Timestamp) -> Timestamp {
    raised_at.min(now)
}

/// The runbook's section for `kind`: `docs/runbooks.md` has one per kind,
/// headed with the kind's name.
fn runbook_url(base: &str, kind: AlertKind) -> String {
    format!("{}#{}", base.trim_end_matches('#'), kind.as_str())
}

/// Whether `text` names a destination as metrics and the relay do:
/// `partner:<platform>` or `court:<code>`.
fn is_destination(text: &str) -> bool {
    text.strip_prefix("partner:")
        .or_else(|| text.strip_prefix("court:"))
        .is_some_and(|rest| !rest.is_empty())
}

/// The destination an alert is about: a subject that names one, or the one
/// the relay names in an unreachable destination's alert (`partner:ccpit
/// failed 2 attempts in a row; …`) or a dead letter's (`message … to
/// court:京0105 set aside after …`).
fn destination_of(record: &AlertRecord) -> Option<String> {
    if let Some(subject) = record.subject.as_deref().filter(|s| is_destination(s)) {
        return Some(subject.to_owned());
    }
    let named = match record.kind {
        AlertKind::DestinationUnreachable => record.detail.split_whitespace().next(),
        AlertKind::DeadLetter => record
            .detail
            .split_once(" to ")
            .and_then(|(_, rest)| rest.split_whitespace().next()),
        _ => None,
    };
    named.filter(|d| is_destination(d)).map(str::to_owned)
}

/// The labels an alert's referral gives it: the court that referred it, and
/// the organisation it concerns with its platform. For an acceptance breach
/// that is the organisation that let the time pass (the referral may have
/// been offered to another since); otherwise the one the referral was
/// assigned to when the alert was raised.
fn referral_labels(record: &AlertRecord, history: &[Event]) -> Vec<(&'static str, String)> {
    let mut court = None;
    let mut assigned = None;
    let mut overdue = None;
    for event in history {
        if event.at > record.raised_at {
            continue;
        }
        match &event.change {
            Change::Received { bundle, .. } => court = Some(bundle.court.to_string()),
            Change::Routed { assignment, .. } | Change::TakenDirectly { assignment, .. } => {
                assigned = Some((
                    assignment.organisation.to_string(),
                    Some(assignment.partner),
                ));
            }
            Change::AcceptanceOverdue {
                organisation,
                due_at,
                partner,
            } if record.kind == AlertKind::AcceptanceBreach && record.due_at == Some(*due_at) => {
                overdue = Some((organisation.to_string(), *partner));
            }
            _ => {}
        }
    }
    let mut labels = Vec::new();
    if let Some(court) = court {
        labels.push(("court", court));
    }
    if let Some((organisation, partner)) = overdue.or(assigned) {
        labels.push(("organisation", organisation));
        if let Some(partner) = partner {
            labels.push(("partner", partner.as_str().to_owned()));
        }
    }
    labels
}

/// How `alert` is shown to Alertmanager at `now` by the real clock, with
/// the labels its referral's history gives it.
async fn show(
    store: &GatewayStore,
    alert: &Alert,
    runbooks: &str,
    now: Timestamp,
) -> Result<Shown, StoreError> {
    let mut shown = Shown::of(alert, runbooks, now);
    if let Some(referral) = &alert.record.referral
        && let Some(history) = store.history(referral).await?
    {
        shown
            .labels
            .extend(referral_labels(&alert.record, &history));
    }
    Ok(shown)
}

/// One alert as Alertmanager's v2 API takes it, shown as `shown` says, with
/// `endsAt` when given: in the future while the alert is open, in the past
/// once it is resolved. Alertmanager refuses an `endsAt` before `startsAt`:
/// none is ever sent, such an end is sent as the start.
pub fn alertmanager_entry(
    alert: &Alert,
    instance: &str,
    shown: &Shown,
    ends_at: Option<Timestamp>,
) -> Value {
    let r = &alert.record;
    let severity = r.kind.severity().as_str();
    let mut labels = json!({
        "alertname": alert_name(r.kind.as_str()),
        "kind": r.kind.as_str(),
        "severity": severity,
        "instance": instance,
    });
    for (name, value) in &shown.labels {
        labels[*name] = json!(value);
    }
    // The times by the gateway's own clock (a sandbox's may be ahead of real
    // time) are for reading, in China Standard Time.
    let mut annotations = json!({
        "summary": format!("{} (alert #{})", r.kind.as_str().replace('_', " "), alert.seq),
        "description": r.detail,
        "runbook_url": shown.runbook_url,
        "raised_at": mediation_calendar::cst::format(r.raised_at),
    });
    if let Some(due) = r.due_at {
        annotations["due_at"] = json!(mediation_calendar::cst::format(due));
    }
    let mut entry = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": shown.starts_at.to_string(),
    });
    if let Some(ends_at) = ends_at {
        entry["endsAt"] = json!(ends_at.max(shown.starts_at).to_string());
    }
    entry
}

/// `mediation_breach` → `MediationBreach`.
fn alert_name(kind: &str) -> String {
    kind.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

struct Hook {
    settings: WebhookSettings,
    client: reqwest::Client,
    cursor_file: PathBuf,
    /// Where the alerts the hook refused on their own are kept, one JSON
    /// object a line.
    rejected_file: PathBuf,
    state: Mutex<HookState>,
    /// For an Alertmanager hook: the alerts posted and not yet resolved.
    open: Mutex<BTreeMap<u64, Open>>,
}

/// An alert an Alertmanager hook holds open.
#[derive(Debug, Clone)]
struct Open {
    alert: Alert,
    /// How it was first shown: it is sent again with the same labels and
    /// start.
    shown: Shown,
    /// When it was last sent, by the real clock.
    sent: Timestamp,
}

#[derive(Debug, Default)]
struct HookState {
    failures: u32,
    retry_at: Option<Timestamp>,
}

/// Why a post did not go through.
#[derive(Debug, thiserror::Error)]
enum PostError {
    /// The hook refused what was posted as invalid (400, or 422): it would
    /// refuse the same again.
    #[error("refused with HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// Anything else (unreachable, too slow, a server error, or a refusal
    /// that is about the poster, such as 401, 404 or 429): tried again.
    #[error("{0}")]
    Failed(String),
}

/// What became of the alerts of one Alertmanager post.
#[derive(Debug, Default)]
struct Posted {
    taken: BTreeSet<u64>,
    refused: BTreeSet<u64>,
}

/// Whether an answer refuses what was posted rather than the poster:
/// Alertmanager answers 400 for an invalid alert (an end before its start,
/// a bad label), and some receivers 422.
fn refuses_the_alerts(status: reqwest::StatusCode) -> bool {
    status == reqwest::StatusCode::BAD_REQUEST
        || status == reqwest::StatusCode::UNPROCESSABLE_ENTITY
}

/// Posts alerts to every configured hook.
pub struct Notifier {
    hooks: Vec<Hook>,
    store: GatewayStore,
    instance: String,
    /// The base of the runbooks' address (`alerts.runbook_base_url`).
    runbooks: String,
    retry: RetryPolicy,
    /// The gateway's clock, which retries wait on.
    clock: Arc<dyn Clock>,
    /// The real clock: what Alertmanager is told, and when it is told again.
    /// On a sandbox, the gateway's clock may be far ahead of it.
    wall: Arc<dyn Clock>,
    /// The lead of the webhooks among replicas on PostgreSQL, kept by
    /// [`Notifier::run`]: each post checks it first, so a leader that lost
    /// it while stopped posts nothing more of the pass it had begun.
    lead: tokio::sync::Mutex<crate::backend::Lead>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

/// Why a hook's cursor could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("webhook {name}: {message}")]
    Setup { name: String, message: String },
    #[error("{0}")]
    Store(#[from] StoreError),
}

impl Notifier {
    /// Prepares every hook `alerts` configures, creating cursors for new ones
    /// at the current end of the alert log. `clock` is the gateway's, `wall`
    /// the real one (the same, except on a sandbox).
    pub async fn new(
        alerts: &AlertSettings,
        store: GatewayStore,
        dir: &Path,
        clock: Arc<dyn Clock>,
        wall: Arc<dyn Clock>,
        outbound: &mediation_api::outbound::Outbound,
    ) -> Result<Self, NotifyError> {
        let settings = &alerts.webhook;
        let setup = |name: &str, message: String| NotifyError::Setup {
            name: name.to_owned(),
            message,
        };
        if !settings.is_empty() {
            std::fs::create_dir_all(dir).map_err(|e| setup("*", e.to_string()))?;
        }
        let end = last_seq(&store).await?;
        let mut hooks = Vec::new();
        for s in settings {
            let timeout = Duration::from_secs(s.timeout_seconds);
            // An https:// hook gets the gateway's outbound TLS, as court
            // webhooks do: only servers the configured CA signed, and the
            // gateway's client certificate for those that ask for it.
            let client = if s.url.starts_with("https://") {
                outbound
                    .http_client(&s.url, timeout)
                    .map_err(|e| setup(&s.name, e))?
            } else {
                reqwest::Client::builder()
                    .timeout(timeout)
                    .user_agent("mediation-gateway alert webhook")
                    .build()
                    .map_err(|e| setup(&s.name, e.to_string()))?
            };
            let cursor_file = dir.join(format!("{}.cursor", safe_name(&s.name)));
            if !cursor_file.exists() {
                write_cursor(&cursor_file, end).map_err(|e| setup(&s.name, e.to_string()))?;
            }
            // An Alertmanager hook's open alerts: those it was sent and that
            // nobody has acknowledged yet.
            let open = if s.format == WebhookFormat::Alertmanager {
                open_alerts(
                    &store,
                    s,
                    &cursor_file,
                    &alerts.runbook_base_url,
                    wall.now(),
                )
                .await?
            } else {
                BTreeMap::new()
            };
            hooks.push(Hook {
                settings: s.clone(),
                client,
                cursor_file,
                rejected_file: dir.join(format!("{}.rejected", safe_name(&s.name))),
                state: Mutex::default(),
                open: Mutex::new(open),
            });
        }
        Ok(Self {
            hooks,
            store,
            instance: alerts.instance.clone(),
            runbooks: alerts.runbook_base_url.clone(),
            retry: RetryPolicy {
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
                ..RetryPolicy::default()
            },
            clock,
            wall,
            lead: tokio::sync::Mutex::default(),
        })
    }

    /// Each Alertmanager hook's open alerts, read again from the alert log:
    /// those it was sent (up to its cursor) that nobody has acknowledged. A
    /// replica that takes the webhooks' lead goes on from what the previous
    /// leader sent.
    async fn reopen(&self) -> Result<(), NotifyError> {
        for hook in &self.hooks {
            if hook.settings.format != WebhookFormat::Alertmanager {
                continue;
            }
            let open = open_alerts(
                &self.store,
                &hook.settings,
                &hook.cursor_file,
                &self.runbooks,
                self.wall.now(),
            )
            .await?;
            *lock(&hook.open) = open;
        }
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Posts whatever each hook has not yet accepted; a failing hook stops at
    /// its first failure and waits its backoff. Returns the alerts posted.
    pub async fn deliver_pending(&self) -> usize {
        let mut posted = 0;
        for hook in &self.hooks {
            {
                let state = hook.state.lock().unwrap_or_else(|p| p.into_inner());
                if state.retry_at.is_some_and(|at| self.clock.now() < at) {
                    continue;
                }
            }
            match self.deliver_to(hook).await {
                Ok(n) => {
                    posted += n;
                    *hook.state.lock().unwrap_or_else(|p| p.into_inner()) = HookState::default();
                }
                Err((n, error)) => {
                    posted += n;
                    let mut state = hook.state.lock().unwrap_or_else(|p| p.into_inner());
                    state.failures += 1;
                    let delay = self.retry.delay_after(state.failures);
                    let wait = SignedDuration::try_from(delay).unwrap_or(SignedDuration::MAX);
                    state.retry_at = self.clock.now().checked_add(wait).ok();
                    tracing::warn!(hook = %hook.settings.name, %error, retry_in = ?delay, "alert webhook failed");
                }
            }
        }
        posted
    }

    async fn deliver_to(&self, hook: &Hook) -> Result<usize, (usize, String)> {
        let mut cursor = read_cursor(&hook.cursor_file).map_err(|e| (0, e.to_string()))?;
        let alertmanager = hook.settings.format == WebhookFormat::Alertmanager;
        let mut posted = 0;
        loop {
            let page = self
                .store
                .alerts_after(cursor, 100)
                .await
                .map_err(|e| (posted, e.to_string()))?;
            if page.is_empty() {
                break;
            }
            for alert in &page {
                if wanted(&hook.settings, alert) {
                    if alertmanager {
                        // One the hook refuses on its own is set aside: the
                        // cursor moves past it all the same.
                        if self
                            .post_new(hook, alert)
                            .await
                            .map_err(|e| (posted, format!("alert #{}: {e}", alert.seq)))?
                        {
                            posted += 1;
                        }
                    } else {
                        let body = body(hook.settings.format, alert, &self.instance);
                        match self.post(hook, &body).await {
                            Ok(()) => posted += 1,
                            // Refused on its own (400, 422): it would be
                            // refused again and hold back every alert after
                            // it, so it is set aside and the cursor moves on.
                            Err(PostError::Rejected { status, message }) => {
                                self.set_aside(hook, alert, status, &message, &body);
                            }
                            Err(e) => {
                                return Err((posted, format!("alert #{}: {e}", alert.seq)));
                            }
                        }
                    }
                }
                cursor = alert.seq;
                write_cursor(&hook.cursor_file, cursor).map_err(|e| (posted, e.to_string()))?;
            }
        }
        if alertmanager {
            self.resolve_and_resend(hook)
                .await
                .map_err(|e| (posted, e))?;
        }
        Ok(posted)
    }

    /// Sends a new alert to an Alertmanager hook, which then holds it open.
    /// Returns whether the hook took it; one it refuses on its own is set
    /// aside instead.
    async fn post_new(&self, hook: &Hook, alert: &Alert) -> Result<bool, String> {
        let shown = show(&self.store, alert, &self.runbooks, self.wall.now())
            .await
            .map_err(|e| e.to_string())?;
        let entry = alertmanager_entry(alert, &self.instance, &shown, Some(self.open_until(hook)));
        match self.post(hook, &Value::Array(vec![entry.clone()])).await {
            Ok(()) => {
                let sent = self.wall.now();
                lock(&hook.open).insert(
                    alert.seq,
                    Open {
                        alert: alert.clone(),
                        shown,
                        sent,
                    },
                );
                Ok(true)
            }
            Err(PostError::Rejected { status, message }) => {
                self.set_aside(hook, alert, status, &message, &entry);
                Ok(false)
            }
            Err(PostError::Failed(error)) => Err(error),
        }
    }

    /// How far ahead an open alert's `endsAt` is set, by the real clock:
    /// three re-send intervals, so that one lost re-send does not resolve it.
    fn open_until(&self, hook: &Hook) -> Timestamp {
        let ahead = SignedDuration::from_secs(
            i64::try_from(hook.settings.resend_seconds.saturating_mul(3)).unwrap_or(i64::MAX),
        );
        self.wall.now().checked_add(ahead).unwrap_or(Timestamp::MAX)
    }

    /// Resolves the acknowledged open alerts (`endsAt` at the
    /// acknowledgement), and re-sends each of the others whose interval is up.
    async fn resolve_and_resend(&self, hook: &Hook) -> Result<(), String> {
        let open: Vec<Open> = lock(&hook.open).values().cloned().collect();
        let mut resolved = Vec::new();
        for o in &open {
            if let Some(ack) = self
                .store
                .acknowledgement(o.alert.seq)
                .await
                .map_err(|e| e.to_string())?
            {
                resolved.push((o, ack.at));
            }
        }
        if !resolved.is_empty() {
            // The acknowledgement's time is the gateway's; on a sandbox whose
            // clock is ahead it would be an end still to come, which does not
            // resolve anything. It is never later than now.
            let now = self.wall.now();
            let entries: Vec<(&Alert, Value)> = resolved
                .iter()
                .map(|(o, at)| {
                    let entry = alertmanager_entry(
                        &o.alert,
                        &self.instance,
                        &o.shown,
                        Some((*at).min(now)),
                    );
                    (&o.alert, entry)
                })
                .collect();
            let mut outcome = Posted::default();
            let result = self.post_each(hook, &entries, &mut outcome).await;
            {
                let mut still = lock(&hook.open);
                for seq in outcome.taken.iter().chain(&outcome.refused) {
                    still.remove(seq);
                }
            }
            result?;
        }
        let now = self.wall.now();
        let interval = SignedDuration::from_secs(
            i64::try_from(hook.settings.resend_seconds).unwrap_or(i64::MAX),
        );
        let due: Vec<Open> = lock(&hook.open)
            .values()
            .filter(|o| now >= o.sent.checked_add(interval).unwrap_or(Timestamp::MAX))
            .cloned()
            .collect();
        if !due.is_empty() {
            let until = self.open_until(hook);
            let entries: Vec<(&Alert, Value)> = due
                .iter()
                .map(|o| {
                    let entry = alertmanager_entry(&o.alert, &self.instance, &o.shown, Some(until));
                    (&o.alert, entry)
                })
                .collect();
            let mut outcome = Posted::default();
            let result = self.post_each(hook, &entries, &mut outcome).await;
            {
                let mut open = lock(&hook.open);
                for seq in &outcome.refused {
                    open.remove(seq);
                }
                for seq in &outcome.taken {
                    if let Some(o) = open.get_mut(seq) {
                        o.sent = now;
                    }
                }
            }
            result?;
        }
        Ok(())
    }

    /// Posts `entries` to an Alertmanager hook in one request. When the hook
    /// refuses the request as invalid, posts them again one at a time, so
    /// that the valid ones are taken, and sets aside each it refuses on its
    /// own. `outcome` says which were taken and which refused, also when a
    /// failure stops the posting part way.
    async fn post_each(
        &self,
        hook: &Hook,
        entries: &[(&Alert, Value)],
        outcome: &mut Posted,
    ) -> Result<(), String> {
        let batch = Value::Array(entries.iter().map(|(_, entry)| entry.clone()).collect());
        match self.post(hook, &batch).await {
            Ok(()) => {
                outcome
                    .taken
                    .extend(entries.iter().map(|(alert, _)| alert.seq));
                return Ok(());
            }
            Err(PostError::Failed(error)) => return Err(error),
            Err(PostError::Rejected { status, message }) => {
                if let [(alert, entry)] = entries {
                    self.set_aside(hook, alert, status, &message, entry);
                    outcome.refused.insert(alert.seq);
                    return Ok(());
                }
                tracing::warn!(
                    hook = %hook.settings.name,
                    status,
                    reason = %message,
                    alerts = entries.len(),
                    "the alert webhook refused a batch; posting its alerts one at a time"
                );
            }
        }
        for (alert, entry) in entries {
            match self.post(hook, &Value::Array(vec![entry.clone()])).await {
                Ok(()) => {
                    outcome.taken.insert(alert.seq);
                }
                Err(PostError::Rejected { status, message }) => {
                    self.set_aside(hook, alert, status, &message, entry);
                    outcome.refused.insert(alert.seq);
                }
                Err(PostError::Failed(error)) => {
                    return Err(format!("alert #{}: {error}", alert.seq));
                }
            }
        }
        Ok(())
    }

    /// An alert the hook refused on its own: it would be refused again, so
    /// it is not sent again. It is logged, and kept in `<name>.rejected`
    /// beside the hook's cursor with the answer and what was sent.
    fn set_aside(&self, hook: &Hook, alert: &Alert, status: u16, message: &str, entry: &Value) {
        tracing::error!(
            hook = %hook.settings.name,
            seq = alert.seq,
            kind = alert.record.kind.as_str(),
            status,
            reason = %message,
            "the alert webhook refused this alert; it is set aside and not sent to this hook again"
        );
        let line = json!({
            "seq": alert.seq,
            "kind": alert.record.kind.as_str(),
            "status": status,
            "reason": message,
            "at": self.wall.now().to_string(),
            "sent": entry,
        });
        if let Err(error) = append_line(&hook.rejected_file, &line.to_string()) {
            tracing::warn!(hook = %hook.settings.name, %error, file = %hook.rejected_file.display(), "cannot keep the refused alert");
        }
    }

    async fn post(&self, hook: &Hook, body: &Value) -> Result<(), PostError> {
        // Fenced by the lead: a replica that lost it (its lease ran out
        // while it was stopped) posts nothing more.
        {
            let mut lead = self.lead.lock().await;
            if lead.is_held() && !self.store.still_leads(&mut lead).await {
                return Err(PostError::Failed(
                    "this replica no longer leads the alert webhooks".into(),
                ));
            }
        }
        let result = match hook.client.post(&hook.settings.url).json(body).send().await {
            Err(error) => Err(PostError::Failed(error.to_string())),
            Ok(response) if refuses_the_alerts(response.status()) => {
                let status = response.status().as_u16();
                let message = response.text().await.unwrap_or_default();
                Err(PostError::Rejected {
                    status,
                    message: message.trim().chars().take(1_000).collect(),
                })
            }
            Ok(response) => response
                .error_for_status()
                .map(|_| ())
                .map_err(|e| PostError::Failed(e.to_string())),
        };
        let outcome = match &result {
            Ok(()) => "ok",
            Err(PostError::Rejected { .. }) => "rejected",
            Err(PostError::Failed(_)) => "failed",
        };
        metrics::counter!("gateway_alert_webhook_posts_total", "hook" => hook.settings.name.clone(), "result" => outcome)
            .increment(1);
        result
    }

    /// Delivers every `every` until `shutdown`.
    pub async fn run(&self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        if self.hooks.is_empty() {
            return;
        }
        tokio::pin!(shutdown);
        // Replicas on one database share the alert log and the hooks'
        // cursors (in the shared data directory): one of them posts.
        loop {
            let leading = {
                let mut lead = self.lead.lock().await;
                let before = lead.is_held();
                let leading = self.store.keep_lead("alert-webhooks", &mut lead).await;
                (leading, leading && lead.is_held() && !before)
            };
            if leading.1
                && let Err(error) = self.reopen().await
            {
                tracing::warn!(%error, "cannot read the open alerts again after taking the lead");
            }
            if leading.0 {
                self.deliver_pending().await;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
}

/// The alerts `hook` was sent (up to its cursor) that nobody has
/// acknowledged, as found now: each is sent again one interval on.
async fn open_alerts(
    store: &GatewayStore,
    hook: &WebhookSettings,
    cursor_file: &Path,
    runbooks: &str,
    now: Timestamp,
) -> Result<BTreeMap<u64, Open>, NotifyError> {
    let sent = read_cursor(cursor_file).map_err(|e| NotifyError::Setup {
        name: hook.name.clone(),
        message: e.to_string(),
    })?;
    let mut open = BTreeMap::new();
    let mut at = 0;
    loop {
        let page = store.alerts_after(at, 1_000).await?;
        let Some(last) = page.last() else { break };
        at = last.seq;
        for alert in page {
            if alert.seq <= sent
                && wanted(hook, &alert)
                && store.acknowledgement(alert.seq).await?.is_none()
            {
                let shown = show(store, &alert, runbooks, now).await?;
                open.insert(
                    alert.seq,
                    Open {
                        alert,
                        shown,
                        sent: now,
                    },
                );
            }
        }
    }
    Ok(open)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

fn wanted(hook: &WebhookSettings, alert: &Alert) -> bool {
    let kind = alert.record.kind;
    let severe_enough = match hook.min_severity {
        Severity::Warning => true,
        Severity::Critical => kind.severity() == Severity::Critical,
    };
    severe_enough && (hook.kinds.is_empty() || hook.kinds.contains(&kind))
}

async fn last_seq(store: &GatewayStore) -> Result<u64, StoreError> {
    let mut cursor = 0;
    loop {
        let page = store.alerts_after(cursor, 1_000).await?;
        match page.last() {
            Some(last) => cursor = last.seq,
            None => return Ok(cursor),
        }
    }
}

fn safe_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn read_cursor(path: &Path) -> std::io::Result<u64> {
    let text = std::fs::read_to_string(path)?;
    text.trim().parse().map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} does not hold an alert number", path.display()),
        )
    })
}

fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    writeln!(file, "{line}")
}

fn write_cursor(path: &Path, seq: u64) -> std::io::Result<()> {
    let partial = path.with_extension("cursor.partial");
    std::fs::write(&partial, format!("{seq}\n"))?;
    std::fs::rename(partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breach() -> Alert {
        Alert {
            seq: 12,
            record: AlertRecord {
                kind: AlertKind::MediationBreach,
                raised_at: "2025-04-04T00:00:01+08:00".parse().unwrap(),
                referral: Some("01JD0000000000000000000042".parse().unwrap()),
                due_at: Some("2025-04-04T00:00:00+08:00".parse().unwrap()),
                detail: "mediation did not end in time".into(),
                subject: None,
            },
        }
    }

    #[test]
    fn each_shape_carries_the_alert() {
        let json = body(WebhookFormat::Json, &breach(), "gw-1");
        assert_eq!(json["source"], "mediation-gateway");
        assert_eq!(json["instance"], "gw-1");
        assert_eq!(json["alert"]["seq"], 12);
        assert_eq!(json["alert"]["kind"], "mediation_breach");
        assert_eq!(json["alert"]["severity"], "critical");
        assert_eq!(json["alert"]["raised_at"], "2025-04-04T00:00:01+08:00");
        assert_eq!(json["alert"]["due_at"], "2025-04-04T00:00:00+08:00");
        assert_eq!(json["alert"]["referral_id"], "01JD0000000000000000000042");

        let am = body(WebhookFormat::Alertmanager, &breach(), "gw-1");
        let first = &am.as_array().unwrap()[0];
        assert_eq!(first["labels"]["alertname"], "MediationBreach");
        assert_eq!(first["labels"]["severity"], "critical");
        assert_eq!(first["labels"]["referral_id"], "01JD0000000000000000000042");
        assert_eq!(
            first["annotations"]["description"],
            "mediation did not end in time"
        );
        assert_eq!(first["startsAt"], "2025-04-03T16:00:01Z");
        assert_eq!(
            first["annotations"]["runbook_url"],
            "docs/runbooks.md#mediation_breach"
        );

        let chat = body(WebhookFormat::Chat, &breach(), "gw-1");
        assert_eq!(chat["msgtype"], "text");
        let content = chat["text"]["content"].as_str().unwrap();
        assert!(
            content.starts_with("[CRITICAL] mediation breach #12"),
            "{content}"
        );
        assert!(
            content.contains("referral: 01JD0000000000000000000042"),
            "{content}"
        );
    }

    #[test]
    fn hooks_filter_by_kind_and_severity() {
        let mut hook = WebhookSettings {
            name: "pager".into(),
            url: "http://127.0.0.1:1/".into(),
            format: WebhookFormat::Json,
            kinds: vec![],
            min_severity: Severity::Critical,
            timeout_seconds: 1,
            resend_seconds: 60,
        };
        let mut warning = breach();
        warning.record.kind = AlertKind::MediationWarning;
        assert!(wanted(&hook, &breach()));
        assert!(!wanted(&hook, &warning));
        hook.min_severity = Severity::Warning;
        hook.kinds = vec![AlertKind::DeadLetter];
        assert!(!wanted(&hook, &breach()));
        assert_eq!(alert_name("calendar_year_missing"), "CalendarYearMissing");
        assert_eq!(safe_name("ops/pager 1"), "ops_pager_1");
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn raised(seq: u64, kind: AlertKind, detail: &str) -> Alert {
        Alert {
            seq,
            record: AlertRecord {
                kind,
                raised_at: at("2025-04-04T00:00:01+08:00"),
                referral: None,
                due_at: None,
                detail: detail.into(),
                subject: None,
            },
        }
    }

    /// What Alertmanager receives for `alert`, shown at its raising.
    fn entry(alert: &Alert) -> Value {
        let shown = Shown::of(
            alert,
            "https://wiki.example/runbooks",
            alert.record.raised_at,
        );
        alertmanager_entry(alert, "gw-1", &shown, None)
    }

    #[test]
    fn two_alerts_of_one_kind_for_two_destinations_have_their_own_labels() {
        let labour = entry(&raised(
            7,
            AlertKind::DestinationUnreachable,
            "partner:labour_arbitration failed 2 attempts in a row; last error: connection refused",
        ));
        let traffic = entry(&raised(
            8,
            AlertKind::DestinationUnreachable,
            "partner:road_traffic failed 2 attempts in a row; last error: connection refused",
        ));
        assert_ne!(labour["labels"], traffic["labels"]);
        assert_eq!(
            labour["labels"]["destination"],
            "partner:labour_arbitration"
        );
        assert_eq!(traffic["labels"]["destination"], "partner:road_traffic");
        assert_eq!(labour["labels"]["alertname"], "DestinationUnreachable");
        assert_eq!(labour["labels"]["alert_seq"], "7");
        assert_eq!(
            labour["annotations"]["runbook_url"],
            "https://wiki.example/runbooks#destination_unreachable"
        );
        // A dead letter names the destination it was for; a year without a
        // notice, its subject.
        let dead = entry(&raised(
            9,
            AlertKind::DeadLetter,
            "message 01JD0000000000000000000042-3 to court:京0105 set aside after 4 attempt(s): refused",
        ));
        assert_eq!(dead["labels"]["destination"], "court:京0105");
        let mut year = raised(10, AlertKind::CalendarYearMissing, "no holiday notice");
        year.record.subject = Some("calendar:2027".into());
        let year = entry(&year);
        assert_eq!(year["labels"]["subject"], "calendar:2027");
        assert!(year["labels"].get("destination").is_none());
        // Every label name is a Prometheus label name.
        for alert in [&labour, &traffic, &dead, &year] {
            for name in alert["labels"].as_object().unwrap().keys() {
                let mut chars = name.chars();
                assert!(
                    chars
                        .next()
                        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{name}"
                );
            }
        }
    }

    #[test]
    fn an_alert_is_labelled_with_its_court_and_the_organisation_it_concerns() {
        use mediation_core::lifecycle::Assignment;
        use mediation_core::partner::Partner;
        let id: mediation_core::ids::ReferralId = "01JD0000000000000000000042".parse().unwrap();
        let routed = |at_: &str, organisation: &str| Event {
            at: at(at_),
            change: Change::Routed {
                assignment: Assignment {
                    partner: Partner::Ccpit,
                    organisation: organisation.parse().unwrap(),
                    mediator: None,
                },
                reasons: vec![],
                acceptance_deadline: None,
            },
        };
        let history = vec![
            Event {
                at: at("2025-03-03T09:00:00+08:00"),
                change: Change::Received {
                    id: id.clone(),
                    bundle: Box::new(mediation_core::fixtures::sample_bundle()),
                },
            },
            routed("2025-03-03T09:00:00+08:00", "ccpit-bj-01"),
            Event {
                at: at("2025-03-07T00:00:01+08:00"),
                change: Change::AcceptanceOverdue {
                    organisation: "ccpit-bj-01".parse().unwrap(),
                    due_at: at("2025-03-07T00:00:00+08:00"),
                    partner: Some(Partner::Ccpit),
                },
            },
            // Offered to another at the same instant.
            routed("2025-03-07T00:00:01+08:00", "ccpit-bj-02"),
        ];
        let breach = AlertRecord {
            kind: AlertKind::AcceptanceBreach,
            raised_at: at("2025-03-07T00:00:01+08:00"),
            referral: Some(id.clone()),
            due_at: Some(at("2025-03-07T00:00:00+08:00")),
            detail: "organisation ccpit-bj-01 did not accept or decline in time".into(),
            subject: None,
        };
        assert_eq!(
            referral_labels(&breach, &history),
            [
                ("court", "京0105".to_owned()),
                ("organisation", "ccpit-bj-01".to_owned()),
                ("partner", "ccpit".to_owned()),
            ]
        );
        // A later alert concerns the organisation that has it then.
        let warning = AlertRecord {
            kind: AlertKind::AcceptanceWarning,
            raised_at: at("2025-03-11T00:00:00+08:00"),
            due_at: Some(at("2025-03-12T00:00:00+08:00")),
            ..breach
        };
        assert!(
            referral_labels(&warning, &history)
                .contains(&("organisation", "ccpit-bj-02".to_owned()))
        );
    }

    #[test]
    fn alertmanager_is_told_real_times_and_never_an_end_before_the_start() {
        // A sandbox's clock ten days ahead of real time raised the breach.
        let now = at("2025-04-04T00:00:01+08:00");
        let mut ahead = breach();
        ahead.record.raised_at = at("2025-04-14T00:00:01+08:00");
        let shown = Shown::of(&ahead, DEFAULT_RUNBOOK_BASE_URL, now);
        assert_eq!(shown.starts_at, now);
        let until = now.checked_add(SignedDuration::from_mins(3)).unwrap();
        let open = alertmanager_entry(&ahead, "gw-1", &shown, Some(until));
        assert_eq!(open["startsAt"], "2025-04-03T16:00:01Z");
        assert_eq!(open["endsAt"], "2025-04-03T16:03:01Z");
        // The gateway's own times stay readable in the annotations.
        assert_eq!(
            open["annotations"]["raised_at"],
            "2025-04-14T00:00:01+08:00"
        );
        assert_eq!(open["annotations"]["due_at"], "2025-04-04T00:00:00+08:00");
        // An end before the start, which Alertmanager refuses, is sent as
        // the start.
        let early = alertmanager_entry(&ahead, "gw-1", &shown, Some(at("2025-04-01T00:00:00Z")));
        assert_eq!(early["endsAt"], early["startsAt"]);
    }

    #[test]
    fn every_kind_links_a_runbook_section_that_exists() {
        let runbooks = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/runbooks.md"
        ))
        .unwrap();
        for kind in AlertKind::ALL {
            let url = runbook_url(DEFAULT_RUNBOOK_BASE_URL, kind);
            let (_, anchor) = url.rsplit_once('#').unwrap();
            assert!(
                runbooks.lines().any(|l| l == format!("## {anchor}")),
                "{url} names no section of docs/runbooks.md"
            );
        }
    }

    #[test]
    fn only_a_refusal_of_the_alerts_themselves_sets_them_aside() {
        use reqwest::StatusCode;
        assert!(refuses_the_alerts(StatusCode::BAD_REQUEST));
        assert!(refuses_the_alerts(StatusCode::UNPROCESSABLE_ENTITY));
        for about_the_hook in [
            StatusCode::UNAUTHORIZED,
            StatusCode::FORBIDDEN,
            StatusCode::NOT_FOUND,
            StatusCode::REQUEST_TIMEOUT,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            assert!(!refuses_the_alerts(about_the_hook), "{about_the_hook}");
        }
    }
}
