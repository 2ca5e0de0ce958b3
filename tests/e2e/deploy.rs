//! The deployment files agree with the gateway: the alert rules and the
//! dashboard use only metrics it exports, and the production configuration
//! they ship is one the gateway accepts.

use std::collections::BTreeSet;
use std::path::PathBuf;

use mediation_gateway::config::{Config, Sources};
use mediation_gateway::observe::METRICS;

fn deploy(path: &str) -> String {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(path);
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// Every `gateway_*` name in `text`, without histogram suffixes.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices("gateway_") {
        if i > 0 && text.as_bytes()[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(&name);
        names.insert(base.to_owned());
    }
    names
}

#[test]
fn alert_rules_and_the_dashboard_use_only_exported_metrics() {
    let rules = deploy("prometheus/alerts.yml");
    let dashboard = deploy("grafana/mediation-gateway.json");
    let parsed: serde_json::Value = serde_json::from_str(&dashboard).unwrap();
    assert!(parsed["panels"].as_array().unwrap().len() >= 10);
    let used: BTreeSet<String> = metric_names(&rules)
        .into_iter()
        .chain(metric_names(&dashboard))
        .collect();
    assert!(used.len() >= 10, "{used:?}");
    for name in &used {
        assert!(
            METRICS.contains(&name.as_str()),
            "{name} is not a metric the gateway exports"
        );
    }
    // Every rule links a runbook section that exists.
    let runbooks = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/runbooks.md"),
    )
    .unwrap()
    .to_lowercase();
    for line in rules.lines().filter(|l| l.contains("runbook_url")) {
        let anchor = line.split('#').nth(1).unwrap().trim_end_matches('"');
        assert!(
            runbooks.contains(&format!("## {anchor}"))
                || runbooks.contains(&format!("<a id=\"{anchor}\">")),
            "docs/runbooks.md has no section {anchor}"
        );
    }
}

#[test]
fn the_runbooks_name_only_rules_that_exist_and_count_the_alerts_right() {
    use mediation_core::alert::AlertKind;

    let rules: BTreeSet<String> = deploy("prometheus/alerts.yml")
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect();
    assert!(rules.len() >= 9, "{rules:?}");
    let runbooks = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/runbooks.md"),
    )
    .unwrap();
    // Every rule the text names (MediationSomething) is one alerts.yml has.
    let prefix = "Mediation";
    for (i, _) in runbooks.match_indices(prefix) {
        if i > 0 && runbooks.as_bytes()[i - 1].is_ascii_alphanumeric() {
            continue;
        }
        let name: String = runbooks[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        if name.len() > prefix.len() && name.as_bytes()[prefix.len()].is_ascii_uppercase() {
            assert!(
                rules.contains(&name),
                "docs/runbooks.md names {name}, which deploy/prometheus/alerts.yml does not have"
            );
        }
    }
    // One section per alert kind first, then only sections for rules.
    let sections: Vec<&str> = runbooks
        .lines()
        .filter_map(|line| line.strip_prefix("## "))
        .map(str::trim)
        .collect();
    let kinds: BTreeSet<&str> = AlertKind::ALL.into_iter().map(AlertKind::as_str).collect();
    let own: BTreeSet<&str> = sections.iter().take(kinds.len()).copied().collect();
    assert_eq!(own, kinds, "one section per alert kind first");
    let rule_sections = &sections[kinds.len()..];
    for section in rule_sections {
        assert!(
            rules.contains(*section),
            "docs/runbooks.md has a section {section}, neither an alert kind nor a rule"
        );
    }
    // The introduction's counts are the real ones.
    let numbers = "zero one two three four five six seven eight nine ten eleven twelve";
    let word = |n: usize| {
        numbers
            .split(' ')
            .nth(n)
            .unwrap_or_else(|| panic!("no word for {n}: extend the list"))
    };
    let first = word(kinds.len());
    let last = word(rule_sections.len());
    let all = word(rules.len());
    let other = word(rules.len() - rule_sections.len());
    let text = runbooks.split_whitespace().collect::<Vec<_>>().join(" ");
    for claim in [
        format!("The first {first} are the gateway's own alerts"),
        format!("The last {last} are Prometheus rules"),
        format!("That file has {all} rules"),
        format!("the other {other} watch the same events as gateway alerts"),
    ] {
        assert!(text.contains(&claim), "runbooks.md should say: {claim}");
    }
}

#[test]
fn the_shipped_production_configuration_loads_and_the_configmap_carries_it() {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/gateway.toml");
    let config = Config::load_from(&Sources {
        file: file.clone(),
        overrides: vec![],
        environment: false,
    })
    .unwrap();
    assert_eq!(config.metrics.listen.unwrap().port(), 9464);
    let statefulset = deploy("kubernetes/statefulset.yaml");
    assert!(statefulset.contains("path: /readyz") && statefulset.contains("path: /healthz"));
}

/// The `MEDIATION_GATEWAY_*` settings a manifest gives in its environment,
/// as `--set` overrides (a value from the pod's fields stands as `pod`).
fn environment_settings(manifest: &str) -> Vec<String> {
    let mut settings = Vec::new();
    let lines: Vec<&str> = manifest.lines().map(str::trim).collect();
    for (i, line) in lines.iter().enumerate() {
        let (name, value) = if let Some(name) = line.strip_prefix("- name: ") {
            let value = lines
                .get(i + 1)
                .and_then(|next| next.strip_prefix("value: "))
                .unwrap_or("pod");
            (name, value)
        } else if let Some((name, value)) = line.split_once(": ") {
            (name, value)
        } else {
            continue;
        };
        if let Some(key) = name.strip_prefix("MEDIATION_GATEWAY_") {
            let key = key.to_lowercase().replace("__", ".");
            settings.push(format!("{key}={}", value.trim_matches('"')));
        }
    }
    settings
}

#[test]
fn the_replicas_manifests_configure_postgres_as_the_configuration_rules_require() {
    let file =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes/gateway.toml");
    for manifest in [
        "kubernetes/replicas/deployment.yaml",
        "compose/compose.yaml",
    ] {
        let text = deploy(manifest);
        let overrides = environment_settings(&text);
        assert!(
            overrides.contains(&"store.backend=postgres".to_owned()),
            "{manifest}: {overrides:?}"
        );
        // The production configuration with the manifest's settings passes
        // every rule `serve` applies: TLS to the database, the password
        // from a file, leases that outlast an attempt.
        let config = Config::load_from(&Sources {
            file: file.clone(),
            overrides: overrides.clone(),
            environment: false,
        })
        .unwrap_or_else(|e| panic!("{manifest}: {e}"));
        let pg = &config.store.postgres;
        assert!(
            pg.ca_file.is_some() && pg.password_file.is_some(),
            "{manifest}"
        );
        let url = pg.url.as_deref().unwrap();
        let user = url.split("//").nth(1).unwrap().split('@').next().unwrap();
        assert!(!user.contains(':'), "{manifest}: a password in the URL");
        // Without the CA the production profile refuses a database beyond
        // loopback.
        let without_ca: Vec<String> = overrides
            .iter()
            .filter(|o| !o.starts_with("store.postgres.ca_file="))
            .cloned()
            .collect();
        let refused = Config::load_from(&Sources {
            file: file.clone(),
            overrides: without_ca,
            environment: false,
        })
        .unwrap_err();
        assert!(
            refused.to_string().contains("store.postgres.ca_file"),
            "{refused}"
        );
    }
    let deployment = deploy("kubernetes/replicas/deployment.yaml");
    assert!(deployment.contains("replicas: 3") && deployment.contains("path: /readyz"));
    let compose = deploy("compose/compose.yaml");
    for n in 1..=3 {
        assert!(compose.contains(&format!(
            "MEDIATION_GATEWAY_STORE__POSTGRES__REPLICA: gateway-{n}"
        )));
    }
    // The replicas' secrets are generated from files never committed.
    let ignored =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.gitignore"))
            .unwrap();
    for dir in [
        "deploy/kubernetes/replicas/secrets/",
        "deploy/compose/secrets/",
    ] {
        assert!(ignored.lines().any(|l| l == dir), "{dir} is not ignored");
    }
}

#[test]
fn kustomize_applies_configuration_roster_and_calendar_and_never_a_placeholder_secret() {
    let kustomization = deploy("kubernetes/kustomization.yaml");
    // The files the ConfigMaps are generated from exist, and the roster and
    // holiday notices are the shipped ones, so the two cannot drift apart.
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    for line in kustomization.lines().map(str::trim) {
        if let Some(file) = line
            .strip_prefix("- ")
            .filter(|f| f.ends_with(".toml") && !f.starts_with("secrets/"))
        {
            assert!(
                root.join("deploy/kubernetes").join(file).is_file(),
                "kustomization.yaml names {file}, which is missing"
            );
        }
    }
    for shipped in ["roster.toml", "courts.toml"] {
        assert_eq!(
            deploy(&format!("kubernetes/{shipped}")),
            std::fs::read_to_string(root.join("config").join(shipped)).unwrap(),
            "deploy/kubernetes/{shipped} differs from config/{shipped}"
        );
        assert!(
            kustomization.contains(&format!("- {shipped}")),
            "the ConfigMap lacks {shipped}"
        );
    }
    for notice in std::fs::read_dir(root.join("config/calendar")).unwrap() {
        let notice = notice.unwrap().path();
        if notice.extension().is_some_and(|e| e == "toml") {
            let name = notice.file_name().unwrap().to_str().unwrap().to_owned();
            assert_eq!(
                deploy(&format!("kubernetes/calendar/{name}")),
                std::fs::read_to_string(&notice).unwrap(),
                "deploy/kubernetes/calendar/{name} differs from the shipped notice"
            );
            assert!(
                kustomization.contains(&format!("calendar/{name}")),
                "the calendar ConfigMap lacks {name}"
            );
        }
    }
    // Secrets come from files that are never committed; the templates live
    // outside the applied directory.
    assert!(kustomization.contains("secretGenerator"));
    assert!(!root.join("deploy/kubernetes/secret.yaml").exists());
    let ignored = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignored.lines().any(|l| l == "deploy/kubernetes/secrets/"));
    // The image is pinned, and the metrics port has a network policy.
    let statefulset = deploy("kubernetes/statefulset.yaml");
    assert!(!statefulset.contains(":latest") && !kustomization.contains("latest"));
    assert!(kustomization.contains("newTag: \"0.1.0\""));
    let policy = deploy("kubernetes/networkpolicy.yaml");
    assert!(policy.contains("port: 9464") && policy.contains("monitoring"));
    // The configuration the ConfigMap carries points at where the ConfigMaps
    // are mounted.
    let config = deploy("kubernetes/gateway.toml");
    assert!(config.contains("roster = \"/etc/mediation-gateway/config/roster.toml\""));
    assert!(config.contains("court_registry = \"/etc/mediation-gateway/config/courts.toml\""));
    assert!(statefulset.contains("mountPath: /etc/mediation-gateway/calendar"));
}

/// A tool the CI machine installs from the distribution (`.ci/run`).
fn tool(name: &str) -> std::process::Command {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{name} is not installed (.ci/run installs it)");
    std::process::Command::new(name)
}

#[test]
fn promtool_accepts_the_alert_rules_and_the_scrape_job_matches_them() {
    let rules =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy/prometheus/alerts.yml");
    let output = tool("promtool")
        .arg("check")
        .arg("rules")
        .arg(&rules)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool check rules: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    // Every runbook link is absolute, from the deployment's external label.
    let text = deploy("prometheus/alerts.yml");
    for line in text.lines().filter(|l| l.contains("runbook_url:")) {
        assert!(
            line.contains("{{ $externalLabels.mediation_runbooks }}#"),
            "{line}"
        );
    }
    // The mediation-breach rule points at the mediation runbook.
    let mediation = text
        .split("- alert:")
        .find(|r| r.contains("kind=\"mediation_breach\""))
        .expect("a rule for missed mediation deadlines");
    assert!(mediation.contains("#mediation_breach\""), "{mediation}");
    // The job the rules name is the job the scrape configuration makes, and
    // a configuration with that job and the rules is one Prometheus accepts.
    // (The distribution's promtool is built without Kubernetes discovery, so
    // the check uses the static form that scrape.yml also documents.)
    assert!(text.contains("job=\"mediation-gateway\""));
    let scrape = deploy("prometheus/scrape.yml");
    assert!(scrape.contains("job_name: mediation-gateway"));
    assert!(scrape.contains("#   - job_name: mediation-gateway"));
    let scrape = "scrape_configs:\n  - job_name: mediation-gateway\n    static_configs:\n      - targets: [\"gateway-host:9464\"]\n";
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  external_labels:\n    mediation_runbooks: https://wiki.example/runbooks\nrule_files:\n  - {rules:?}\n{scrape}"
        ),
    )
    .unwrap();
    let output = tool("promtool")
        .arg("check")
        .arg("config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "promtool check config: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_dashboard_chooses_job_and_instance_and_shows_open_breaches() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&deploy("grafana/mediation-gateway.json")).unwrap();
    let variables: Vec<&str> = dashboard["templating"]["list"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert!(
        variables.contains(&"job") && variables.contains(&"instance"),
        "{variables:?}"
    );
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.iter().any(
        |p| p["targets"].as_array().is_some_and(|t| t.iter().any(|t| {
            t["expr"]
                .as_str()
                .is_some_and(|e| e.contains("gateway_alerts_open"))
        }))
    ));
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default();
            if expr.contains("gateway_") {
                assert!(expr.contains("job=\"$job\""), "{expr}");
            }
        }
    }
}

#[test]
fn systemd_accepts_the_unit_and_scores_its_sandbox_below_three() {
    let dir = tempfile::tempdir().unwrap();
    // The unit names the installed binary; verify needs one that exists.
    let unit = deploy("systemd/mediation-gateway.service").replace(
        "/usr/local/bin/mediation-gateway",
        env!("CARGO_BIN_EXE_mediation-gateway"),
    );
    let path = dir.path().join("mediation-gateway.service");
    std::fs::write(&path, unit).unwrap();
    let output = tool("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "systemd-analyze verify: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = tool("systemd-analyze")
        .args(["security", "--offline=yes"])
        .arg(&path)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| {
            l.split("Overall exposure level for mediation-gateway.service: ")
                .nth(1)
        })
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no score in: {report}"));
    assert!(score < 3.0, "exposure {score}:\n{report}");
    // The user it runs as is created by the sysusers file beside it, and no
    // Documentation= names a file that is not installed.
    let sysusers = deploy("systemd/mediation-gateway.sysusers");
    assert!(
        sysusers
            .lines()
            .any(|l| l.starts_with("u mediation-gateway "))
    );
    assert!(!deploy("systemd/mediation-gateway.service").contains("Documentation="));
}

#[test]
fn the_image_checks_its_own_health_and_its_build_context_leaves_out_keys_and_builds() {
    let dockerfile = deploy("Dockerfile");
    assert!(dockerfile.contains("HEALTHCHECK") && dockerfile.contains("/healthz"));
    // Dependencies are cached across builds, not rebuilt with every change.
    assert!(dockerfile.contains("--mount=type=cache,target=/usr/local/cargo/registry"));
    // The image runs what the Kubernetes files mount and pin.
    assert!(dockerfile.contains("/etc/mediation-gateway/config/gateway.toml"));
    let ignore = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.dockerignore"),
    )
    .unwrap();
    for left_out in ["target/", "data/", "deploy/kubernetes/secrets/", ".git/"] {
        assert!(
            ignore.lines().any(|l| l.trim() == left_out),
            ".dockerignore lacks {left_out}"
        );
    }
}
