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

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use mediation_core::clock::Clock;

use crate::backend::GatewayStore;
use mediation_core::alert::{Alert, Severity};
use mediation_core::store::AlertLog as _;
use mediation_core::store::StoreError;
use mediation_delivery::RetryPolicy;
use serde_json::{Value, json};

use crate::config::{WebhookFormat, WebhookSettings};

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
        WebhookFormat::Alertmanager => json!([alertmanager_entry(alert, instance, None)]),
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

/// One alert as Alertmanager's v2 API takes it, with `endsAt` when given:
/// in the future while the alert is open, in the past once it is resolved.
pub fn alertmanager_entry(alert: &Alert, instance: &str, ends_at: Option<Timestamp>) -> Value {
    let r = &alert.record;
    let severity = r.kind.severity().as_str();
    let mut labels = json!({
        "alertname": alert_name(r.kind.as_str()),
        "kind": r.kind.as_str(),
        "severity": severity,
        "instance": instance,
    });
    if let Some(referral) = &r.referral {
        labels["referral_id"] = json!(referral.to_string());
    }
    let mut annotations = json!({
        "summary": format!("{} (alert #{})", r.kind.as_str().replace('_', " "), alert.seq),
        "description": r.detail,
    });
    if let Some(due) = r.due_at {
        annotations["due_at"] = json!(mediation_calendar::cst::format(due));
    }
    let mut entry = json!({
        "labels": labels,
        "annotations": annotations,
        "startsAt": r.raised_at.to_string(),
    });
    if let Some(ends_at) = ends_at {
        entry["endsAt"] = json!(ends_at.to_string());
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
    state: Mutex<HookState>,
    /// For an Alertmanager hook: the alerts posted and not yet resolved,
    /// with when each was last sent.
    open: Mutex<std::collections::BTreeMap<u64, (Alert, Timestamp)>>,
}

#[derive(Debug, Default)]
struct HookState {
    failures: u32,
    retry_at: Option<Timestamp>,
}

/// Posts alerts to every configured hook.
pub struct Notifier {
    hooks: Vec<Hook>,
    store: GatewayStore,
    instance: String,
    retry: RetryPolicy,
    clock: Arc<dyn Clock>,
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
    /// Prepares every hook, creating cursors for new ones at the current end
    /// of the alert log.
    pub async fn new(
        settings: &[WebhookSettings],
        store: GatewayStore,
        dir: &Path,
        instance: &str,
        clock: Arc<dyn Clock>,
        outbound: &mediation_api::outbound::Outbound,
    ) -> Result<Self, NotifyError> {
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
            let mut open = std::collections::BTreeMap::new();
            if s.format == WebhookFormat::Alertmanager {
                let sent = read_cursor(&cursor_file).map_err(|e| setup(&s.name, e.to_string()))?;
                let mut at = 0;
                loop {
                    let page = store.alerts_after(at, 1_000).await?;
                    let Some(last) = page.last() else { break };
                    at = last.seq;
                    for alert in page {
                        if alert.seq <= sent
                            && wanted(s, &alert)
                            && store.acknowledgement(alert.seq).await?.is_none()
                        {
                            // Found again at start: re-sent one interval on.
                            open.insert(alert.seq, (alert, clock.now()));
                        }
                    }
                }
            }
            hooks.push(Hook {
                settings: s.clone(),
                client,
                cursor_file,
                state: Mutex::default(),
                open: Mutex::new(open),
            });
        }
        Ok(Self {
            hooks,
            store,
            instance: instance.to_owned(),
            retry: RetryPolicy {
                first_delay: Duration::from_secs(1),
                max_delay: Duration::from_secs(300),
                ..RetryPolicy::default()
            },
            clock,
        })
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
                    let body = if alertmanager {
                        json!([alertmanager_entry(
                            alert,
                            &self.instance,
                            Some(self.open_until(hook))
                        )])
                    } else {
                        body(hook.settings.format, alert, &self.instance)
                    };
                    self.post(hook, &body)
                        .await
                        .map_err(|e| (posted, format!("alert #{}: {e}", alert.seq)))?;
                    posted += 1;
                    if alertmanager {
                        lock(&hook.open).insert(alert.seq, (alert.clone(), self.clock.now()));
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

    /// How far ahead an open alert's `endsAt` is set: three re-send
    /// intervals, so that one lost re-send does not resolve it.
    fn open_until(&self, hook: &Hook) -> Timestamp {
        let ahead = SignedDuration::from_secs(
            i64::try_from(hook.settings.resend_seconds.saturating_mul(3)).unwrap_or(i64::MAX),
        );
        self.clock
            .now()
            .checked_add(ahead)
            .unwrap_or(Timestamp::MAX)
    }

    /// Resolves the acknowledged open alerts (`endsAt` at the
    /// acknowledgement), and re-sends each of the others whose interval is up.
    async fn resolve_and_resend(&self, hook: &Hook) -> Result<(), String> {
        let open: Vec<Alert> = lock(&hook.open).values().map(|(a, _)| a.clone()).collect();
        let mut resolved = Vec::new();
        for alert in &open {
            if let Some(ack) = self
                .store
                .acknowledgement(alert.seq)
                .await
                .map_err(|e| e.to_string())?
            {
                resolved.push((alert, ack.at));
            }
        }
        if !resolved.is_empty() {
            let entries: Vec<Value> = resolved
                .iter()
                .map(|(alert, at)| alertmanager_entry(alert, &self.instance, Some(*at)))
                .collect();
            self.post(hook, &Value::Array(entries)).await?;
            let mut still = lock(&hook.open);
            for (alert, _) in &resolved {
                still.remove(&alert.seq);
            }
        }
        let now = self.clock.now();
        let interval = SignedDuration::from_secs(
            i64::try_from(hook.settings.resend_seconds).unwrap_or(i64::MAX),
        );
        let due: Vec<Alert> = lock(&hook.open)
            .values()
            .filter(|(_, sent)| now >= sent.checked_add(interval).unwrap_or(Timestamp::MAX))
            .map(|(alert, _)| alert.clone())
            .collect();
        if !due.is_empty() {
            let until = self.open_until(hook);
            let entries: Vec<Value> = due
                .iter()
                .map(|alert| alertmanager_entry(alert, &self.instance, Some(until)))
                .collect();
            self.post(hook, &Value::Array(entries)).await?;
            let mut open = lock(&hook.open);
            for alert in &due {
                if let Some((_, sent)) = open.get_mut(&alert.seq) {
                    *sent = now;
                }
            }
        }
        Ok(())
    }

    async fn post(&self, hook: &Hook, body: &Value) -> Result<(), String> {
        let result = hook
            .client
            .post(&hook.settings.url)
            .json(body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!("gateway_alert_webhook_posts_total", "hook" => hook.settings.name.clone(), "result" => outcome)
            .increment(1);
        result.map(|_| ()).map_err(|e| e.to_string())
    }

    /// Delivers every `every` until `shutdown`.
    pub async fn run(&self, every: Duration, shutdown: impl std::future::Future<Output = ()>) {
        if self.hooks.is_empty() {
            return;
        }
        tokio::pin!(shutdown);
        // Replicas on one database share the alert log and the hooks'
        // cursors (in the shared data directory): one of them posts.
        let mut lead = crate::backend::Lead::default();
        loop {
            if self.store.keep_lead("alert-webhooks", &mut lead).await {
                self.deliver_pending().await;
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    }
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

fn write_cursor(path: &Path, seq: u64) -> std::io::Result<()> {
    let partial = path.with_extension("cursor.partial");
    std::fs::write(&partial, format!("{seq}\n"))?;
    std::fs::rename(partial, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediation_core::alert::{AlertKind, AlertRecord};

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
}
