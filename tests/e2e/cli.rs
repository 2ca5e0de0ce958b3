//! The command line through the real binary: the deadline calculator, the
//! calendar check, configuration checks, serve, the demo and store export.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary from the repository root, as the README does.
fn gateway(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .args(args)
        .current_dir(repo_root())
        .env_remove("MEDIATION_GATEWAY_CALENDAR_DIR")
        .output()
        .expect("the binary runs")
}

/// The binary, from the repository root, for commands that need more than
/// arguments.
fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"));
    command
        .current_dir(repo_root())
        .env_remove("MEDIATION_GATEWAY_CALENDAR_DIR");
    command
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}, stderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr_of_failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "expected failure, got: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(
        output.stdout.is_empty(),
        "a failure prints nothing on stdout"
    );
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json(args: &[&str]) -> serde_json::Value {
    let mut all = args.to_vec();
    all.push("--json");
    serde_json::from_str(stdout(&gateway(&all)).trim()).unwrap()
}

#[test]
fn acceptance_over_national_day_ends_on_a_make_up_saturday() {
    let line = stdout(&gateway(&[
        "deadline",
        "acceptance",
        "--delivered-at",
        "2025-09-30T10:00:00+08:00",
    ]));
    assert_eq!(
        line.trim(),
        "acceptance due 2025-10-11 (Saturday, a make-up working day for 国庆节、中秋节): \
         3 working days after 2025-09-30; overdue from 2025-10-12T00:00:00+08:00; \
         warning at 2025-10-11T00:00:00+08:00"
    );
}

#[test]
fn acceptance_as_json_has_the_documented_fields() {
    let v = json(&[
        "deadline",
        "acceptance",
        "--pushed-at",
        "2024-02-08T01:00:00Z",
    ]);
    assert_eq!(v["due_date"], "2024-02-19");
    assert_eq!(v["due_at"], "2024-02-20T00:00:00+08:00");
    assert_eq!(v["provisional"], false);
    assert_eq!(v["counted_from"], "2024-02-08");
}

#[test]
fn an_instant_is_counted_in_china_standard_time() {
    // 16:30 UTC on Thursday is 00:30 on Friday in China.
    let v = json(&[
        "deadline",
        "acceptance",
        "--pushed-at",
        "2025-06-05T16:30:00Z",
    ]);
    assert_eq!(v["counted_from"], "2025-06-06");
    assert_eq!(v["due_date"], "2025-06-11");
}

#[test]
fn a_period_into_a_year_without_a_notice_is_marked_provisional() {
    let v = json(&[
        "deadline",
        "acceptance",
        "--pushed-at",
        "2026-12-30T10:00:00+08:00",
    ]);
    assert_eq!(v["due_date"], "2027-01-05");
    assert_eq!(v["provisional"], true);
    assert_eq!(v["missing_years"], serde_json::json!([2027]));
    let line = stdout(&gateway(&[
        "deadline",
        "acceptance",
        "--pushed-at",
        "2026-12-30T10:00:00+08:00",
    ]));
    assert!(
        line.contains("PROVISIONAL: no holiday notice loaded for 2027"),
        "{line}"
    );
}

#[test]
fn mediation_with_a_pause_and_an_extension() {
    let v = json(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2025-03-03T10:00:00+08:00",
        "--pause",
        "2025-03-10..2025-03-13",
        "--extend-to",
        "2025-04-28",
        "--agreed-on",
        "2025-03-05",
    ]);
    // Agreed before the pause: 28 April + 3 paused days = 1 May, in the
    // Labour Day holiday, so 6 May (CPL Art. 85).
    assert_eq!(v["due_date"], "2025-05-06");
    assert_eq!(v["due_at"], "2025-05-07T00:00:00+08:00");
    assert_eq!(v["warn_at"], "2025-05-01T00:00:00+08:00");
    assert_eq!(v["provisional"], false);
    // Agreed after it: the agreed day already allows for the pause.
    let v = json(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2025-03-03T10:00:00+08:00",
        "--pause",
        "2025-03-10..2025-03-13",
        "--extend-to",
        "2025-04-28",
    ]);
    assert_eq!(v["due_date"], "2025-04-28");
    // By a number of days: 2 April + 10.
    let v = json(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2025-03-03T10:00:00+08:00",
        "--extend-by",
        "10",
    ]);
    assert_eq!(v["due_date"], "2025-04-14"); // 12 April is a Saturday
}

#[test]
fn mediation_limits_follow_the_kind_procedure_and_partner() {
    let due = |extra: &[&str]| {
        let mut args = vec![
            "deadline",
            "mediation",
            "--accepted-at",
            "2025-03-03T10:00:00+08:00",
        ];
        args.extend_from_slice(extra);
        json(&args)["due_date"].as_str().unwrap().to_owned()
    };
    // Online rules Art. 24: 30 days for 委派, 15 or 7 for 委托.
    assert_eq!(due(&[]), "2025-04-02");
    assert_eq!(
        due(&["--kind", "entrusted", "--procedure", "ordinary"]),
        "2025-03-18"
    );
    assert_eq!(
        due(&["--kind", "entrusted", "--procedure", "summary"]),
        "2025-03-10"
    );
    // The CCPIT notice: 30 days whatever the kind.
    assert_eq!(
        due(&[
            "--kind",
            "entrusted",
            "--procedure",
            "summary",
            "--partner",
            "ccpit"
        ]),
        "2025-04-02"
    );
    let message = stderr_of_failure(&gateway(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2025-03-03T10:00:00+08:00",
        "--kind",
        "entrusted",
    ]));
    assert!(message.contains("--procedure"), "{message}");
}

#[test]
fn mediation_limit_in_days_and_a_last_day_on_a_holiday() {
    let v = json(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2025-09-08T09:00:00+08:00",
    ]);
    assert_eq!(v["due_date"], "2025-10-09");
    let v = json(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2026-12-15T09:00:00+08:00",
        "--days",
        "15",
    ]);
    assert_eq!(v["due_date"], "2026-12-30");
    let v = json(&[
        "deadline",
        "mediation",
        "--accepted-at",
        "2025-03-03T10:00:00+08:00",
        "--warn-working-days",
        "0",
    ]);
    assert_eq!(v["warn_at"], serde_json::Value::Null);
}

#[test]
fn bad_arguments_exit_non_zero_and_say_what_is_wrong() {
    let cases: [(&[&str], &str); 7] = [
        (
            &["deadline", "acceptance", "--pushed-at", "2025-09-30"],
            "RFC 3339 instant with an offset",
        ),
        (&["deadline", "acceptance"], "--delivered-at"),
        (
            &[
                "deadline",
                "mediation",
                "--accepted-at",
                "2025-03-03T10:00:00+08:00",
                "--days",
                "0",
            ],
            "--days",
        ),
        (
            &[
                "deadline",
                "mediation",
                "--accepted-at",
                "2025-03-03T10:00:00+08:00",
                "--pause",
                "2025-03-20..2025-03-10",
            ],
            "ends (2025-03-10) before it starts",
        ),
        (
            &[
                "deadline",
                "mediation",
                "--accepted-at",
                "2025-03-03T10:00:00+08:00",
                "--pause",
                "2025-03-01..2025-03-04",
            ],
            "a pause cannot start on 2025-03-01",
        ),
        (
            &[
                "deadline",
                "mediation",
                "--accepted-at",
                "2025-03-03T10:00:00+08:00",
                "--extend-to",
                "2025-03-20",
            ],
            "does not lengthen the period",
        ),
        (
            &[
                "deadline",
                "acceptance",
                "--pushed-at",
                "2025-09-30T10:00:00+08:00",
                "--calendar-dir",
                "/nonexistent",
            ],
            "cannot load the working-day calendar from /nonexistent",
        ),
    ];
    for (args, expected) in cases {
        let err = stderr_of_failure(&gateway(args));
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn calendar_check_accepts_shipped_notices_and_names_a_bad_key() {
    let line = stdout(&gateway(&[
        "calendar",
        "check",
        "config/calendar/2026.toml",
    ]));
    assert!(line.contains("notice for 2026"), "{line}");
    assert!(line.contains("7 holidays"), "{line}");

    let dir = std::env::temp_dir().join(format!("mg-e2e-cal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("2027.toml");
    std::fs::write(
        &bad,
        "year = 2027\nsource = \"x\"\n[[holidays]]\nname = \"春节\"\nfirst = \"2027-02-05\"\nlast = \"2027-02-11\"\nworking_weekends = [\"2027-02-15\"]\n",
    )
    .unwrap();
    let err = stderr_of_failure(&gateway(&["calendar", "check", bad.to_str().unwrap()]));
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(err.contains("holidays[0].working_weekends[0]"), "{err}");
    assert!(err.contains("Saturday or Sunday"), "{err}");
}

#[test]
fn a_calendar_directory_from_the_environment_is_used() {
    // An empty directory is refused loudly rather than treated as "no holidays".
    let dir = std::env::temp_dir().join(format!("mg-e2e-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .args([
            "deadline",
            "acceptance",
            "--pushed-at",
            "2025-09-30T10:00:00+08:00",
        ])
        .env("MEDIATION_GATEWAY_CALENDAR_DIR", &dir)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = stderr_of_failure(&output);
    assert!(err.contains("no holiday notices"), "{err}");
}

#[test]
fn serve_runs_the_shipped_configuration_until_told_to_stop() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(repo_root().join("config/gateway.toml"))
        .unwrap()
        .replace("listen = \"127.0.0.1:7443\"", "listen = \"127.0.0.1:0\"")
        .replace(
            "tenants = \"config/tenants.toml\"",
            &format!("tenants = {:?}", repo_root().join("config/tenants.toml")),
        )
        .replace(
            "calendar_dir = \"config/calendar\"",
            &format!("calendar_dir = {:?}", repo_root().join("config/calendar")),
        )
        .replace(
            "roster = \"config/roster.toml\"",
            &format!("roster = {:?}", repo_root().join("config/roster.toml")),
        )
        .replace(
            "court_registry = \"config/courts.toml\"",
            &format!(
                "court_registry = {:?}",
                repo_root().join("config/courts.toml")
            ),
        );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    // The shipped tenants file names the development PKI under data/, which
    // the development profile writes there on this first start.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mediation-gateway"))
        .current_dir(dir.path())
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(
        first.starts_with("mediation gateway listening on 127.0.0.1:"),
        "{first}"
    );
    assert!(first.contains("mutual TLS"), "{first}");
    for file in [
        "ca.pem",
        "gateway.pem",
        "court-bj.pem",
        "court-bj.jwks.json",
    ] {
        assert!(
            dir.path().join("data/dev-pki").join(file).is_file(),
            "{file}"
        );
    }
    assert!(dir.path().join("data/store").is_dir());
    assert!(dir.path().join("data/documents").is_dir());
    let stopped = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "a graceful stop exits 0: {status:?}");
}

/// Runs `serve` on a configuration made of `body` and says why it refused.
fn serve_refusal(body: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(
        &path,
        format!("data_dir = \"d\"\ncalendar_dir = \"c\"\nroster = \"r\"\n{body}"),
    )
    .unwrap();
    let output = gateway(&["serve", "--config", path.to_str().unwrap()]);
    let message = stderr_of_failure(&output);
    assert!(
        !dir.path().join("d").exists(),
        "nothing was opened: {message}"
    );
    message
}

#[test]
fn serve_refuses_plaintext_beyond_loopback_and_says_why() {
    let message = serve_refusal("listen = \"0.0.0.0:7443\"\n[tls]\nmode = \"plaintext\"\n");
    assert!(
        message.contains(
            "listen = 0.0.0.0:7443: tls.mode = \"plaintext\" is allowed only on a loopback address"
        ),
        "{message}"
    );
    let message = serve_refusal(
        "listen = \"127.0.0.1:7443\"\n[partners]\nccpit = \"http://10.1.2.3:7101\"\n[tls]\nmode = \"plaintext\"\n",
    );
    assert!(
        message.contains("partners.ccpit = \"http://10.1.2.3:7101\": tls.mode = \"plaintext\" allows only loopback destinations"),
        "{message}"
    );
    // With TLS, every destination must be https.
    let message =
        serve_refusal("listen = \"0.0.0.0:7443\"\n[partners]\nccpit = \"http://127.0.0.1:7101\"\n");
    assert!(message.contains("must be an https:// address"), "{message}");
    // And every platform names the identity its server must present.
    let message =
        serve_refusal("listen = \"0.0.0.0:7443\"\n[partners]\nccpit = \"https://10.1.2.3:7101\"\n");
    assert!(
        message.contains("partners.server_names.ccpit: name the identity"),
        "{message}"
    );
}

#[test]
fn the_production_profile_never_generates_keys() {
    let message = serve_refusal("listen = \"0.0.0.0:7443\"\nprofile = \"production\"\n");
    assert!(
        message.contains("must all be set in the production profile; it never generates keys"),
        "{message}"
    );
}

#[test]
fn the_demo_runs_to_completion_and_its_store_exports_and_imports_whole() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("demo");
    let output = binary()
        .args(["demo", "--days-per-second", "8", "--data-dir"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "notified: accepted",
        "notified: agreement_reached",
        "confirmed the settlement",
        "ACCEPTANCE_BREACH",
        "notified: returned_to_court",
        "MEDIATION_BREACH",
        "notified: mediation_overdue",
        "): confirmed",
        "mediation ended at its limit; returned to the court for docketing",
        "): returned_to_court",
        "open breaches: 2",
        "demo finished",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }

    // The demo's store, exported and imported elsewhere, verifies the same.
    let archive = dir.path().join("demo.archive");
    let config = data.join("gateway.toml");
    let exported = binary()
        .args(["store", "export", "--config"])
        .arg(&config)
        .arg("--out")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let elsewhere = dir.path().join("elsewhere");
    let imported = binary()
        .args(["store", "import", "--config"])
        .arg(&config)
        .arg("--set")
        .arg(format!("data_dir={:?}", elsewhere.display().to_string()))
        .arg("--from")
        .arg(&archive)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert!(said.contains("audit chain: intact"), "{said}");
    let verify = |store: &std::path::Path| {
        let out = binary()
            .args(["store", "verify", "--json", "--data-dir"])
            .arg(store)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["data_dir"] = serde_json::Value::Null;
        report["size_on_disk_bytes"] = serde_json::Value::Null;
        report
    };
    let original = verify(&data.join("data/store"));
    assert!(original["audit_entries"].as_u64().unwrap() > 10);
    assert_eq!(verify(&elsewhere.join("store")), original);
    // The same archive moves the store to PostgreSQL whole.
    crate::replicas::moves_into_postgres(&config, &archive, &original, dir.path());
    // Importing over a store that is there is refused.
    let again = binary()
        .args(["store", "import", "--config"])
        .arg(&config)
        .arg("--from")
        .arg(&archive)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a store"));
}

#[test]
fn check_config_names_a_bad_key_from_the_file_the_environment_or_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let shipped = std::fs::read_to_string(repo_root().join("config/gateway.toml")).unwrap();
    std::fs::write(&path, &shipped).unwrap();
    let check = |envs: &[(&str, &str)], args: &[&str]| {
        let mut command = binary();
        command
            .current_dir(repo_root())
            .args(["check-config", "--config"])
            .arg(&path)
            .args(args);
        for (k, v) in envs {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let ok = check(&[], &[]);
    let said = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(said.contains("configuration is valid"), "{said}");
    assert!(said.contains("roster: "), "{said}");
    assert!(
        said.contains("court registry: 52 courts in config/courts.toml"),
        "{said}"
    );
    // A court the registry lacks, named in the configuration, is refused by
    // its key.
    let unknown = check(&[], &["--set", "reassignment.courts=[\"京0199\"]"]);
    let err = stderr_of_failure(&unknown);
    assert!(
        err.contains("reassignment.courts[0]: court 京0199 is not in the court registry"),
        "{err}"
    );

    let from_env = check(&[("MEDIATION_GATEWAY_LIMITS__MAX_BATCH", "lots")], &[]);
    let err = stderr_of_failure(&from_env);
    assert!(
        err.contains("limits.max_batch") && err.contains("MEDIATION_GATEWAY_LIMITS__MAX_BATCH"),
        "{err}"
    );

    let from_flag = check(&[], &["--set", "relay.max_attempts=0"]);
    assert!(stderr_of_failure(&from_flag).contains("relay.max_attempts: must be at least 1"));

    // A typo in an overlay names the overlay file.
    let overlays = dir.path().join("gateway.d");
    std::fs::create_dir(&overlays).unwrap();
    std::fs::write(
        overlays.join("50-site.toml"),
        "[metrics]\nlisen = \"127.0.0.1:9464\"\n",
    )
    .unwrap();
    let from_file = check(&[], &[]);
    let err = stderr_of_failure(&from_file);
    assert!(
        err.contains("metrics") && err.contains("lisen") && err.contains("50-site.toml"),
        "{err}"
    );
}

#[test]
fn calendar_load_installs_a_checked_notice_once() {
    let dir = tempfile::tempdir().unwrap();
    let calendar = dir.path().join("calendar");
    std::fs::create_dir(&calendar).unwrap();
    std::fs::copy(
        repo_root().join("config/calendar/2025.toml"),
        calendar.join("2025.toml"),
    )
    .unwrap();
    let shipped = std::fs::read_to_string(repo_root().join("config/gateway.toml")).unwrap();
    let config = dir.path().join("gateway.toml");
    std::fs::write(&config, shipped).unwrap();
    let load = |file: PathBuf, extra: &[&str]| {
        binary()
            .args(["calendar", "load", "--config"])
            .arg(&config)
            .arg("--set")
            .arg(format!("calendar_dir={:?}", calendar.display().to_string()))
            .arg(file)
            .args(extra)
            .output()
            .unwrap()
    };
    let notice = repo_root().join("config/calendar/2026.toml");
    let said = stdout(&load(notice.clone(), &[]));
    assert!(
        said.contains("installed") && said.contains("SIGHUP"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(calendar.join("2026.toml")).unwrap(),
        std::fs::read(&notice).unwrap()
    );
    let again = stderr_of_failure(&load(notice.clone(), &[]));
    assert!(again.contains("--replace"), "{again}");
    stdout(&load(notice, &["--replace"]));
    // A file that is not a valid notice is refused and nothing is installed.
    let bad = dir.path().join("2027.toml");
    std::fs::write(&bad, "year = 2027\nnonsense = true\n").unwrap();
    stderr_of_failure(&load(bad, &[]));
    assert!(!calendar.join("2027.toml").exists());
}

#[test]
fn errors_say_each_cause_once_and_name_what_the_operator_typed() {
    // A missing file: its cause once, not twice.
    let message = stderr_of_failure(&gateway(&["check-config", "--config", "/nonexistent.toml"]));
    assert_eq!(
        message.matches("No such file or directory").count(),
        1,
        "{message}"
    );
    // A typo in --set is located at the flag, not at a source line.
    let message = stderr_of_failure(&gateway(&["check-config", "--set", "limits.max_bach=3"]));
    assert!(
        message.contains("(from --set limits.max_bach=…)"),
        "{message}"
    );
    assert!(!message.contains(".rs:"), "{message}");
    // A data directory the gateway cannot write is named as such.
    let message = stderr_of_failure(&gateway(&[
        "check-config",
        "--set",
        "data_dir=/proc/no-such-dir",
    ]));
    assert!(
        message.contains("data_dir /proc/no-such-dir: the gateway cannot write there"),
        "{message}"
    );
}

#[test]
fn dev_token_refuses_an_empty_subject() {
    for subject in ["", "  "] {
        let message = stderr_of_failure(&gateway(&[
            "dev",
            "token",
            "--tenant",
            "court-bj",
            "--subject",
            subject,
        ]));
        assert!(message.contains("cannot be empty"), "{message}");
    }
}

#[test]
fn check_config_prints_the_effective_relay_limits_and_shutdown() {
    let said = stdout(&gateway(&[
        "check-config",
        "--set",
        "limits.calls_in_flight_per_tenant=7",
    ]));
    for line in [
        "relay: retry after",
        "limits: messages up to",
        "admission: 7 calls in flight per tenant",
        "shutdown: calls and deliveries",
        "partner ccpit must present: ccpit",
        "(writable)",
        "clock: the system's",
    ] {
        assert!(said.contains(line), "{line} missing from:\n{said}");
    }
    // A movable sandbox clock is said, so that nobody takes its deadlines
    // for the system clock's.
    let said = stdout(&gateway(&[
        "check-config",
        "--set",
        "sandbox.clock=movable",
    ]));
    assert!(
        said.contains("clock: the sandbox clock is movable (sandbox.clock = \"movable\")"),
        "{said}"
    );
    assert!(said.contains("runs at 1 times real time"), "{said}");
    assert!(!said.contains("clock: the system's"), "{said}");
}

#[test]
fn a_port_in_use_is_found_before_the_data_directory_is_written() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let message = serve_refusal(&format!(
        "listen = \"127.0.0.1:{port}\"\n[tls]\nmode = \"plaintext\"\n"
    ));
    assert!(
        message.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{message}"
    );
}
