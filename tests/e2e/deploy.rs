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
    let text = std::fs::read_to_string(&file).unwrap();
    let configmap = deploy("kubernetes/configmap.yaml");
    for line in text.lines().filter(|l| !l.is_empty()) {
        assert!(
            configmap.contains(&format!("    {line}")),
            "the ConfigMap lacks {line:?}"
        );
    }
    let statefulset = deploy("kubernetes/statefulset.yaml");
    assert!(statefulset.contains("path: /readyz") && statefulset.contains("path: /healthz"));
}
