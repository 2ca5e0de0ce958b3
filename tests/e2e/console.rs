//! The operators' console, against `serve` as shipped in the development
//! profile with the sandbox's clock and the console on loopback:
//! - in headless Chromium driven through chromedriver (WebDriver), an
//!   operator logs in, sees a breach appear live as the clock moves,
//!   acknowledges it, replays a dead letter, opens a referral's timeline and
//!   reads the figures, in both languages; the screenshots it takes are the
//!   ones in docs/operations.md (set `MG_CONSOLE_SCREENSHOTS=docs/images`
//!   to write them there);
//! - over plain HTTP, what a hostile page or a read-only operator tries is
//!   refused: no CSRF token, another site's origin, a platform's token, an
//!   acknowledgement by a read-only operator; and every console action is
//!   in the audit chain under the operator's name.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::replicas::{Counterparts, eventually, sample_submission, submit_as_court, token};

/// A `serve` process, with its console's address when it serves one.
pub(crate) struct Gateway {
    child: Child,
    pub(crate) addr: String,
    console: String,
    dir: PathBuf,
}

impl Gateway {
    pub(crate) fn start(dir: &Path, config: &Path) -> Self {
        let (child, addr, line) = crate::served::spawn_announced(dir, config, "gateway", &[]);
        let console = line
            .split("console on ")
            .nth(1)
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_default()
            .to_owned();
        Self {
            child,
            addr,
            console,
            dir: dir.to_owned(),
        }
    }

    fn ops_clock(&self, config: &Path, by: &str) {
        let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
            .current_dir(&self.dir)
            .args(["ops", "clock", "--config"])
            .arg(config)
            .args(["--gateway", &format!("http://{}", self.addr)])
            .args(["--advance", by])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Stops it with SIGTERM, as an orchestrator does: the last call
    /// records are written and the last spans sent.
    pub(crate) fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while self.child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(30), "no stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The configuration both tests start from: the development profile on
/// loopback, the sandbox's clock, the console on a port of its own, and a
/// notice that fails once set aside as a dead letter at once.
async fn stage(dir: &Path, in_flight: i64) -> (Counterparts, PathBuf) {
    let mut counterparts = Counterparts::start(dir).await;
    let config = std::mem::take(&mut counterparts.config)
        .set("limits.calls_in_flight_per_tenant", in_flight)
        .set("sandbox.clock", "movable")
        .set("console.listen", "127.0.0.1:0")
        .set("relay.max_attempts", 1)
        .write(dir)
        .unwrap();
    (counterparts, config)
}

/// chromedriver on a free port, and a headless Chromium session through it.
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn start() -> Self {
        let driver = chromedriver();
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let profile = tempfile::tempdir().unwrap();
        // The flags keep Chromium off the network it would otherwise try to
        // reach at start (this machine's is closed) and fit a container.
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium(),
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1360,900",
                    "--lang=en-GB",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if started.elapsed() < Duration::from_secs(30) => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => panic!("no browser session through chromedriver: {e}"),
            }
        };
        Self {
            driver,
            client,
            _profile: profile,
        }
    }

    async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} never appeared: {e}"))
    }

    /// Waits until no element matches `css`.
    async fn wait_gone(&self, css: &str) {
        let started = Instant::now();
        while !self
            .client
            .find_all(Locator::Css(css))
            .await
            .unwrap()
            .is_empty()
        {
            assert!(started.elapsed() < Duration::from_secs(30), "{css} stayed");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `act` on the element `css` names, finding it again when the
    /// page redrew it in between (a live page redraws as alerts arrive).
    async fn with<T, F>(&self, css: &str, act: F) -> T
    where
        F: AsyncFn(fantoccini::elements::Element) -> Result<T, fantoccini::error::CmdError>,
    {
        let started = Instant::now();
        loop {
            let element = self.wait_for(css).await;
            match act(element).await {
                Ok(value) => return value,
                Err(e) if started.elapsed() < Duration::from_secs(30) && is_stale(&e) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
    }

    async fn text(&self, css: &str) -> String {
        self.with(css, async |e| e.text().await).await
    }

    async fn click(&self, css: &str) {
        self.with(css, async |e| e.click().await).await;
    }

    async fn type_into(&self, css: &str, text: &str) {
        self.with(css, async |e| e.send_keys(text).await).await;
    }

    async fn screenshot(&self, name: &str, fallback: &Path) {
        let png = self.client.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        assert!(png.len() > 10_000, "{name} is nearly empty");
        let dir = std::env::var_os("MG_CONSOLE_SCREENSHOTS")
            .map(|d| Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(d))
            .unwrap_or_else(|| fallback.to_owned());
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("console-{name}.png")), png).unwrap();
    }

    /// Ends the browser's session; the driver goes with `self`.
    async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    /// chromedriver is stopped even when the test fails before `close`, so
    /// no driver outlives its test.
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn is_stale(e: &fantoccini::error::CmdError) -> bool {
    matches!(
        e,
        fantoccini::error::CmdError::Standard(w)
            if w.error == fantoccini::error::ErrorStatus::StaleElementReference
    )
}

fn chromium() -> &'static str {
    "/usr/bin/chromium"
}

/// chromedriver, installed with Debian's Chromium when missing and this is
/// root (as on CI, which installs both first).
fn chromedriver() -> &'static str {
    const DRIVER: &str = "/usr/bin/chromedriver";
    if !Path::new(DRIVER).exists() {
        let installed = Command::new("apt-get")
            .args(["install", "-y", "-qq", "chromium", "chromium-driver"])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status();
        assert!(
            installed.is_ok_and(|s| s.success()) && Path::new(DRIVER).exists(),
            "the console's browser test needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)"
        );
    }
    DRIVER
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_acknowledges_a_live_breach_and_replays_a_dead_letter_in_a_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (Counterparts { court, ccpit, .. }, config) = stage(dir.path(), 64).await;
    let gateway = Gateway::start(dir.path(), &config);
    assert!(
        gateway.console.starts_with("http://127.0.0.1:"),
        "{}",
        gateway.console
    );
    let id = submit_as_court(&gateway.addr, &config, sample_submission("CONSOLE-1")).await;
    eventually("no offer arrived", || !ccpit.offers.all().is_empty()).await;

    let browser = Browser::start().await;
    let b = &browser;
    b.client.goto(&gateway.console).await.unwrap();
    b.client
        .execute(
            "localStorage.setItem('mg-lang', 'en'); location.reload();",
            vec![],
        )
        .await
        .unwrap();
    b.wait_for("#token").await;
    b.screenshot("login", dir.path()).await;

    // A wrong token is refused on the page, and nothing opens.
    b.type_into("#token", "not-a-token").await;
    b.click("#login").await;
    let refused = b.text("#login-error").await;
    assert!(refused.contains("UNAUTHENTICATED"), "{refused}");
    let app = b.client.find(Locator::Css("#app-view")).await.unwrap();
    assert!(!app.is_displayed().await.unwrap(), "nothing opens");

    let operator = mediation_gateway::commands::dev::development_token(
        &mediation_gateway::config::Config::load(&config).unwrap(),
        "operators",
        "alice",
        3_600,
        jiff::Timestamp::now(),
    )
    .unwrap();
    b.with("#token", async |e| e.clear().await).await;
    b.type_into("#token", &operator).await;
    b.click("#login").await;
    b.wait_for("#live.on").await;
    assert_eq!(b.text("#who").await, "alice · operators");
    // A value is put in the page as given: `$&` or `` $` `` in a name is not
    // expanded by the translation helper.
    let acked = b
        .client
        .execute(
            "return t('acked', { by: arguments[0] });",
            vec![json!("operators/a$&b$`c")],
        )
        .await
        .unwrap();
    assert_eq!(acked, json!("Acknowledged by operators/a$&b$`c"));
    b.wait_for("#clock.sandbox").await;
    b.wait_for("#no-breaches").await;

    // The court's system goes down; ten days pass in the sandbox. The
    // warning and the breach appear on the open page as they are raised.
    court.notices.set_down(true);
    gateway.ops_clock(&config, "10d");
    const BREACH: &str = "#breaches tr[data-kind='acceptance_breach']";
    let row = b.text(BREACH).await;
    assert!(row.contains(&id), "{row}");
    assert!(row.contains("Acceptance breach"), "{row}");
    // The referral's status in words, not its code name.
    let status = b.text(&format!("{BREACH} td.status")).await;
    assert!(
        status != "—" && !status.contains('_'),
        "a status by its code name: {status}"
    );
    b.wait_for("#breaches tr[data-kind='acceptance_warning']")
        .await;
    b.wait_for("#alert-log li").await;
    let overdue = b.text(&format!("{BREACH} .overdue")).await;
    assert!(overdue.contains('d'), "overdue by days: {overdue}");
    b.screenshot("breaches", dir.path()).await;

    // Acknowledged with a note: it leaves the open list, and the page says
    // who acknowledged it.
    b.type_into(&format!("{BREACH} .ack-note"), "called the centre")
        .await;
    b.click(&format!("{BREACH} button.ack")).await;
    b.wait_gone(BREACH).await;
    let notice = b.text("#notice").await;
    assert!(
        notice.contains("operators/alice") && notice.contains("called the centre"),
        "{notice}"
    );

    // The breach's notice to the court failed once and was set aside.
    b.click(".tab[data-tab='delivery']").await;
    const LETTER: &str = "#dead-letters tr[data-message]";
    let message_id = b
        .with(LETTER, async |e| e.attr("data-message").await)
        .await
        .unwrap();
    let text = b.text(LETTER).await;
    assert!(text.contains("acceptance_overdue"), "{text}");
    b.wait_for("#backlog tr[data-destination^='court:']").await;
    b.screenshot("delivery", dir.path()).await;
    // The court is back: the operator replays it, and the court gets it.
    court.notices.set_down(false);
    b.click(&format!(
        "#dead-letters tr[data-message='{message_id}'] button.replay"
    ))
    .await;
    b.wait_gone(LETTER).await;
    eventually("the replayed notice never reached the court", || {
        court
            .events_of(&id)
            .iter()
            .any(|e| e == "acceptance_overdue")
    })
    .await;

    // The referral's timeline, found by the court's own reference.
    b.click(".tab[data-tab='referral']").await;
    b.type_into("#search", "CONSOLE-1").await;
    b.click("#search-go").await;
    b.wait_for("#timeline-events li[data-event='acceptance_overdue']")
        .await;
    assert_eq!(b.text("#timeline-title").await, id);
    let facts = b.text("#timeline-facts").await;
    assert!(facts.contains("CONSOLE-1"), "{facts}");
    b.wait_for("#timeline-alerts li").await;
    b.screenshot("timeline", dir.path()).await;

    // The figures for the period, with their charts.
    b.click(".tab[data-tab='figures']").await;
    b.click("#figures-go").await;
    // The breach counts against the organisation that let it pass.
    b.wait_for("#charts svg rect.bad").await;
    let partners = b.text("#figures-partners").await;
    assert!(partners.contains("ccpit"), "{partners}");
    // Nothing was accepted, so no organisation has a time to accept: that
    // chart says so instead of being an empty box.
    assert_eq!(b.text("#charts .no-data").await, "No data");
    b.screenshot("figures", dir.path()).await;
    // A mediator's figures start at acceptance (offers go to
    // organisations): the mediators' table has no offers column to read 0
    // beside the acceptances.
    b.client
        .execute(
            "renderFigures({ breakdowns: [{ dimension: 'mediator', value: 'm-007', figures: { accepted: '130', agreements: '100', failures: '20' } }] });",
            vec![],
        )
        .await
        .unwrap();
    let mediators = b.text("#figures-mediators").await;
    assert!(
        mediators.contains("m-007") && mediators.contains("130"),
        "{mediators}"
    );
    assert!(
        !mediators.contains("Referrals") && !mediators.contains("Declined"),
        "{mediators}"
    );

    // The audit trail, a page at a time: the operator's own calls are in
    // it, and "More" goes on where the page ended.
    b.click(".tab[data-tab='audit']").await;
    b.type_into("#audit-tenant", "operators").await;
    b.click("#audit-go").await;
    b.wait_for("#audit-entries tbody tr").await;
    let first_page = b.text("#audit-entries tbody").await;
    assert!(first_page.contains("tenant=operators"), "{first_page}");
    b.client
        .execute(
            "auditQuery = { tenant: 'operators', limit: 1 }; showAudit(false);",
            vec![],
        )
        .await
        .unwrap();
    b.wait_for("#audit-entries tbody tr:only-child").await;
    b.wait_for("#audit-more:not([hidden])").await;
    b.click("#audit-more").await;
    b.wait_for("#audit-entries tbody tr:nth-child(2)").await;
    b.screenshot("audit", dir.path()).await;

    // In Chinese.
    b.click(".tab[data-tab='breaches']").await;
    b.click("#lang").await;
    let heading = b.text("#tab-breaches h2").await;
    assert_eq!(heading, "未处理的超期与预警");
    // The status column is in Chinese too, not the status's code name.
    let status = b
        .text("#breaches tr[data-kind='acceptance_warning'] td.status")
        .await;
    assert!(status != "—" && !status.is_ascii(), "{status}");
    b.screenshot("breaches-zh", dir.path()).await;

    // Logging out ends the session: the page is back at its login.
    b.click("#logout").await;
    b.wait_for("#login-view:not([hidden])").await;
    browser.close().await;

    // Every action is in the audit chain under the operator's name.
    gateway.stop();
    let store = mediation_store::SledStore::open(mediation_store::StoreOptions::new(
        dir.path().join("data/store"),
    ))
    .unwrap();
    let audit = store.audit_entries(0, 100_000).unwrap();
    let console_action = |action: &str| {
        audit.iter().any(|e| {
            e.record.action == action
                && e.record.actor.contains("tenant=operators sub=alice")
                && e.record.outcome == "ok"
        })
    };
    for action in [
        "console login",
        "console /mediation.operations.v1.Operations/AcknowledgeAlert",
        "console /mediation.operations.v1.Operations/ReplayDeadLetter",
        "console /mediation.operations.v1.Operations/GetReferralTimeline",
        "console logout",
    ] {
        assert!(console_action(action), "{action} is not in the audit log");
    }
    assert!(
        audit.iter().any(|e| e.record.action == "console login"
            && e.record.outcome.starts_with("Unauthenticated")),
        "the refused login is in the audit log too"
    );
}

/// A session made over plain HTTP: its cookie and CSRF token.
struct Session {
    cookie: String,
    csrf: String,
    body: Value,
}

async fn login(
    http: &reqwest::Client,
    console: &str,
    token: &str,
) -> Result<Session, (u16, Value)> {
    let response = http
        .post(format!("{console}/api/login"))
        .json(&json!({ "token": token }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let set_cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap();
    if status != 200 {
        return Err((status, body));
    }
    let set_cookie = set_cookie.unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    Ok(Session {
        cookie: set_cookie.split(';').next().unwrap().to_owned(),
        csrf: body["csrf"].as_str().unwrap().to_owned(),
        body,
    })
}

async fn call(
    http: &reqwest::Client,
    console: &str,
    session: &Session,
    method: &str,
    body: Value,
    csrf: Option<&str>,
    origin: Option<&str>,
) -> (u16, Value) {
    let mut request = http
        .post(format!("{console}/api/ops/{method}"))
        .header("cookie", &session.cookie)
        .json(&body);
    if let Some(csrf) = csrf {
        request = request.header("x-csrf-token", csrf);
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn open_breaches(http: &reqwest::Client, console: &str, s: &Session) -> (u16, Value) {
    call(
        http,
        console,
        s,
        "ListOpenBreaches",
        json!({}),
        Some(&s.csrf),
        None,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_refuses_what_a_hostile_page_or_a_read_only_operator_tries() {
    let dir = tempfile::tempdir().unwrap();
    // Few calls in flight per tenant, to show that open feeds count.
    let (Counterparts { ccpit, .. }, config) = stage(dir.path(), 3).await;
    let gateway = Gateway::start(dir.path(), &config);
    let console = gateway.console.clone();
    let http = reqwest::Client::new();
    submit_as_court(&gateway.addr, &config, sample_submission("HOSTILE-1")).await;
    eventually("no offer arrived", || !ccpit.offers.all().is_empty()).await;
    gateway.ops_clock(&config, "10d");

    // The page is the binary's own, under a policy that allows nothing else.
    let page = http.get(&console).send().await.unwrap();
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"));
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.text().await.unwrap().contains("/assets/console.js"));
    // Nothing without a session.
    let anonymous = http
        .get(format!("{console}/api/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let feed = http
        .get(format!("{console}/api/alerts"))
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status().as_u16(), 401);

    // Only operators log in; a garbage token is refused.
    let (status, body) = login(&http, &console, "garbage").await.err().unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (401, Some("UNAUTHENTICATED"))
    );
    let platform = token(&config, "ccpit");
    let (status, body) = login(&http, &console, &platform).await.err().unwrap();
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("PERMISSION_DENIED"))
    );

    let operators = login(&http, &console, &token(&config, "operators"))
        .await
        .unwrap();
    assert_eq!(operators.body["readOnly"], false);
    let (status, open) = open_breaches(&http, &console, &operators).await;
    assert_eq!(status, 200, "{open}");
    let seq = open["breaches"][0]["alert"]["seq"]
        .as_str()
        .unwrap()
        .to_owned();

    // A page of another site: no CSRF token, or the wrong one, or its own
    // origin. Nothing is acknowledged.
    let ack = json!({ "seq": seq, "note": "forged" });
    for (csrf, origin) in [
        (None, None),
        (Some("0".repeat(64)), None),
        (Some(operators.csrf.clone()), Some("http://evil.example")),
    ] {
        let (status, body) = call(
            &http,
            &console,
            &operators,
            "AcknowledgeAlert",
            ack.clone(),
            csrf.as_deref(),
            origin,
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (403, Some("PERMISSION_DENIED"))
        );
    }
    let (_, still) = open_breaches(&http, &console, &operators).await;
    assert_eq!(still["breaches"].as_array().unwrap().len(), 1, "{still}");

    // A read-only operator reads everything and acknowledges nothing.
    let auditor = login(&http, &console, &token(&config, "auditors"))
        .await
        .unwrap();
    assert_eq!(auditor.body["readOnly"], true);
    let (status, _) = open_breaches(&http, &console, &auditor).await;
    assert_eq!(status, 200);
    let (status, body) = call(
        &http,
        &console,
        &auditor,
        "AcknowledgeAlert",
        json!({ "seq": seq }),
        Some(&auditor.csrf),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (403, Some("PERMISSION_DENIED")),
        "{body}"
    );
    // The auditor reads the trail from the console: its own refused
    // acknowledgement is there, under its name (written by the audit
    // writer just after the answer, so within moments).
    let mut refused_ack = false;
    for _ in 0..50 {
        let (status, trail) = call(
            &http,
            &console,
            &auditor,
            "QueryAudit",
            json!({
                "tenant": "auditors",
                "method": "/mediation.operations.v1.Operations/AcknowledgeAlert",
            }),
            Some(&auditor.csrf),
            None,
        )
        .await;
        assert_eq!(status, 200, "{trail}");
        refused_ack = trail["entries"].as_array().is_some_and(|entries| {
            entries.iter().any(|e| {
                e["outcome"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("PermissionDenied")
                    && e["action"] == "console /mediation.operations.v1.Operations/AcknowledgeAlert"
            })
        });
        if refused_ack {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        refused_ack,
        "the auditor's refused acknowledgement is not in the trail"
    );
    let (status, _) = call(
        &http,
        &console,
        &auditor,
        "AdvanceClock",
        json!({ "by": "60s" }),
        Some(&auditor.csrf),
        None,
    )
    .await;
    assert_eq!(status, 403);

    // Bad input names the field; an unknown method is not found.
    let (status, body) = call(
        &http,
        &console,
        &operators,
        "AcknowledgeAlert",
        json!({ "seq": "not a number" }),
        Some(&operators.csrf),
        None,
    )
    .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("INVALID_ARGUMENT"))
    );
    assert_eq!(body["fields"][0]["field"], "body");
    let (status, _) = call(
        &http,
        &console,
        &operators,
        "DropTables",
        json!({}),
        Some(&operators.csrf),
        None,
    )
    .await;
    assert_eq!(status, 404);

    // The operator acknowledges; a second acknowledgement does not replace
    // the first, as in the gRPC API.
    let (status, body) = call(
        &http,
        &console,
        &operators,
        "AcknowledgeAlert",
        json!({ "seq": seq, "note": "first" }),
        Some(&operators.csrf),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["acknowledgement"]["note"], "first");
    let (status, body) = call(
        &http,
        &console,
        &operators,
        "AcknowledgeAlert",
        json!({ "seq": seq, "note": "second" }),
        Some(&operators.csrf),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["alert"]["acknowledgement"]["note"], "first", "{body}");

    // An open alert feed holds one of its tenant's calls in flight, as a
    // gRPC stream does: a tenant cannot open feeds without bound.
    let feed = |s: &Session| {
        http.get(format!("{console}/api/alerts"))
            .header("cookie", &s.cookie)
            .send()
    };
    let mut feeds = Vec::new();
    for _ in 0..3 {
        let open = feed(&auditor).await.unwrap();
        assert_eq!(open.status().as_u16(), 200);
        feeds.push(open);
    }
    let over = feed(&auditor).await.unwrap();
    assert_eq!(over.status().as_u16(), 429);
    let body: Value = over.json().await.unwrap();
    assert_eq!(body["code"], "RESOURCE_EXHAUSTED", "{body}");
    // Another tenant is not held up by it.
    let (status, _) = open_breaches(&http, &console, &operators).await;
    assert_eq!(status, 200);
    // A feed the browser closes gives its place back.
    drop(feeds.pop());
    let started = Instant::now();
    loop {
        let again = feed(&auditor).await.unwrap();
        if again.status().as_u16() == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(feeds);

    // After logout the cookie is worth nothing.
    let out = http
        .post(format!("{console}/api/logout"))
        .header("cookie", &operators.cookie)
        .header("x-csrf-token", &operators.csrf)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let (status, _) = open_breaches(&http, &console, &operators).await;
    assert_eq!(status, 401);

    // Every refusal above is in the audit chain, under whoever tried.
    gateway.stop();
    let store = mediation_store::SledStore::open(mediation_store::StoreOptions::new(
        dir.path().join("data/store"),
    ))
    .unwrap();
    let audit = store.audit_entries(0, 100_000).unwrap();
    let refused_ack = audit.iter().any(|e| {
        e.record.action == "console /mediation.operations.v1.Operations/AcknowledgeAlert"
            && e.record.actor.contains("tenant=auditors")
            && e.record.outcome.starts_with("PermissionDenied")
    });
    assert!(refused_ack, "the read-only operator's attempt is recorded");

    // Plaintext is for loopback only: the configuration's rules refuse a
    // console elsewhere without TLS.
    let refused = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(dir.path())
        .args(["check-config", "--config"])
        .arg(&config)
        .args(["--set", "console.listen=0.0.0.0:0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("console.listen") && said.contains("loopback"),
        "{said}"
    );
}
