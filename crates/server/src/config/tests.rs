use std::collections::BTreeSet;

use super::*;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_shipped_configuration_and_roster_load() {
    let path = repo().join("config/gateway.toml");
    let config = Config::load(&path).unwrap();
    assert!(config.listen.ip().is_loopback());
    assert_eq!(config.court_addresses(&path).unwrap().len(), 1);
    let mut config = config;
    config.court_registry = repo().join(&config.court_registry);
    let courts = config.court_registry(&path).unwrap();
    let roster = load_roster(&repo().join(&config.roster), &courts).unwrap();
    let partners: BTreeSet<Partner> = roster.iter().map(|e| e.partner).collect();
    assert_eq!(partners.len(), 3, "every platform has an organisation");
}

fn shipped_courts() -> mediation_core::court::CourtRegistry {
    load_courts(&repo().join("config/courts.toml")).unwrap()
}

#[test]
fn the_shipped_court_registry_holds_every_court_of_beijing_and_shanghai() {
    let courts = shipped_courts();
    let code = |s: &str| CourtCode::parse(s).unwrap();
    // 16 districts and the intermediate, special and high courts of each
    // municipality, and the Supreme People's Court.
    let beijing = courts.with_lower(&code("京"));
    let shanghai = courts.with_lower(&code("沪"));
    assert_eq!(beijing.len(), 1 + 7 + 16 + 2, "{beijing:?}");
    assert_eq!(shanghai.len(), 1 + 7 + 16 + 1, "{shanghai:?}");
    assert_eq!(courts.len(), 1 + beijing.len() + shanghai.len());
    for (court, above) in [
        ("京0105", "京03"), // 朝阳
        ("京0108", "京01"), // 海淀
        ("京0101", "京02"), // 东城
        ("京0491", "京04"), // the internet court
        ("京7101", "京71"), // the railway-transport court
        ("沪0115", "沪01"), // 浦东
        ("沪0101", "沪02"), // 黄浦
        ("沪7101", "沪71"),
    ] {
        assert_eq!(
            courts.get(&code(court)).unwrap().parent,
            Some(code(above)),
            "{court}"
        );
    }
    assert!(!courts.is_within(&code("京0105"), &code("京01")));
}

#[test]
fn every_court_the_configuration_names_must_be_in_the_registry() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let registry = repo().join("config/courts.toml");
    let body = |courts: &str| {
        format!(
            "court_registry = {registry:?}\n[courts]\n{courts} = {{ grpc = \"http://127.0.0.1:1\" }}\n[reassignment]\ncourts = [\"京03\"]\n"
        )
    };
    std::fs::write(&path, body("\"京\"")).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.court_registry(&path).unwrap().len(), 52);
    std::fs::write(&path, body("\"京0199\"")).unwrap();
    let e = Config::load(&path)
        .unwrap()
        .court_registry(&path)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("courts.京0199: court 京0199 is not in the court registry"),
        "{e}"
    );
    // A broken registry names each broken entry.
    let broken = dir.path().join("courts.toml");
    std::fs::write(
        &broken,
        "[[court]]\ncode = \"京\"\nname = \"北京市高级人民法院\"\nlevel = \"high\"\nparent = \"最高法\"\n",
    )
    .unwrap();
    let e = load_courts(&broken).unwrap_err().to_string();
    assert!(
        e.contains("court[0] (京): its parent 最高法 is not in the registry"),
        "{e}"
    );
}

fn sources(dir: &Path, body: &str, overrides: &[&str]) -> Sources {
    let file = dir.join("gateway.toml");
    std::fs::write(&file, body).unwrap();
    Sources {
        file,
        overrides: overrides.iter().map(|s| s.to_string()).collect(),
        environment: false,
    }
}

/// The embedded store's checkpoint interval: 256 MiB unless configured,
/// and a value that would reopen the store all the time, or let a restart
/// replay for seconds, is refused by name.
#[test]
fn the_checkpoint_interval_is_configured_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Config::load_from(&sources(dir.path(), "", &[])).unwrap();
    assert_eq!(shipped.store.checkpoint_bytes(), 256 * 1024 * 1024);
    let set =
        Config::load_from(&sources(dir.path(), "[store]\ncheckpoint_mib = 64\n", &[])).unwrap();
    assert_eq!(set.store.checkpoint_bytes(), 64 * 1024 * 1024);
    for bad in [0, 8, 5000] {
        let err = Config::load_from(&sources(
            dir.path(),
            &format!("[store]\ncheckpoint_mib = {bad}\n"),
            &[],
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("store.checkpoint_mib"), "{err}");
    }
}

#[test]
fn the_store_is_named_by_the_backend_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = "data_dir = \"/srv/gateway\"\n";
    let sled = Config::load_from(&sources(dir.path(), data, &[])).unwrap();
    assert_eq!(sled.store_description(), "sled in /srv/gateway/store");
    let pg = format!(
        "{data}[store]\nbackend = \"postgres\"\n[store.postgres]\nurl = \"postgres://gateway@127.0.0.1:5432/mediation\"\n"
    );
    let postgres = Config::load_from(&sources(dir.path(), &pg, &[])).unwrap();
    let said = postgres.store_description();
    assert_eq!(
        said,
        "postgres at postgres://gateway@127.0.0.1:5432/mediation"
    );
    assert!(!said.contains("/srv/gateway"), "{said}");
}

#[test]
fn each_partner_has_one_name_and_the_old_one_is_read_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load_from(&sources(
        dir.path(),
        "[partners]\nlabour = \"https://labour.example:7443\"\n[partners.server_names]\nlabour = \"labour.example\"\n",
        &[],
    ))
    .unwrap();
    assert_eq!(
        config.partners.labour_arbitration.as_deref(),
        Some("https://labour.example:7443")
    );
    assert_eq!(
        config.partners.server_names.labour_arbitration.as_deref(),
        Some("labour.example")
    );
    assert_eq!(config.deprecations.len(), 2, "{:?}", config.deprecations);
    assert!(
        config.deprecations[0]
            .contains("partners.labour is the old name of partners.labour_arbitration")
    );
    // Both at once is refused rather than guessed at.
    let err = Config::load_from(&sources(
        dir.path(),
        "[partners]\nlabour = \"https://a.example\"\nlabour_arbitration = \"https://b.example\"\n",
        &[],
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("name the same platform"), "{err}");
    // The new name alone: no warning.
    let config = Config::load_from(&sources(
        dir.path(),
        "[partners]\nlabour_arbitration = \"https://b.example\"\n",
        &[],
    ))
    .unwrap();
    assert!(config.deprecations.is_empty());
}

#[test]
fn layers_override_in_order_defaults_file_overlays_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let s = sources(
        dir.path(),
        "[limits]\nmax_batch = 10\nmax_claims = 11\n",
        &[],
    );
    let config = Config::load_from(&s).unwrap();
    assert_eq!(config.listen, default_listen(), "a default");
    assert_eq!(config.limits.max_batch, 10, "from the file");
    std::fs::create_dir(dir.path().join("gateway.d")).unwrap();
    std::fs::write(
        dir.path().join("gateway.d/20-b.toml"),
        "[limits]\nmax_batch = 30\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("gateway.d/10-a.toml"),
        "[limits]\nmax_batch = 20\nmax_claims = 21\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("gateway.d/notes.txt"), "not configuration").unwrap();
    let config = Config::load_from(&s).unwrap();
    assert_eq!(config.limits.max_batch, 30, "overlays in name order");
    assert_eq!(config.limits.max_claims, 21);
    let s = Sources {
        overrides: vec![
            "limits.max_batch=40".into(),
            "metrics.listen=127.0.0.1:9464".into(),
            "health.required_partners=[\"ccpit\"]".into(),
        ],
        ..s
    };
    let config = Config::load_from(&s).unwrap();
    assert_eq!(config.limits.max_batch, 40, "a flag beats everything");
    assert_eq!(config.limits.max_claims, 21);
    assert_eq!(
        config.metrics.listen,
        Some("127.0.0.1:9464".parse().unwrap())
    );
    assert_eq!(config.health.required_partners, [Partner::Ccpit]);
}

#[test]
fn a_bad_key_or_value_is_named_with_where_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let err = |body: &str, overrides: &[&str]| {
        Config::load_from(&sources(dir.path(), body, overrides))
            .unwrap_err()
            .to_string()
    };
    let e = err("[limits]\nmax_bach = 3\n", &[]);
    assert!(
        e.contains("limits") && e.contains("max_bach") && e.contains("gateway.toml"),
        "{e}"
    );
    let e = err("", &["limits.max_batch=many"]);
    assert!(e.contains("limits.max_batch") && e.contains("many"), "{e}");
    let e = err("listen = \"localhost\"\n", &[]);
    assert!(e.contains("listen"), "{e}");
    let e = err("", &["limits.max_batch"]);
    assert!(e.contains("key=value"), "{e}");
    let e = err("[relay]\nmax_attempts = 0\n", &[]);
    assert_eq!(e, "relay.max_attempts: must be at least 1");
    let e = err(
        "[[alerts.webhook]]\nname = \"pager\"\nurl = \"ftp://x\"\n",
        &[],
    );
    assert!(e.starts_with("alerts.webhook[0].url"), "{e}");
    let e = err(
        "[[alerts.webhook]]\nname = \"pager\"\nurl = \"https://x\"\nformat = \"slack\"\n",
        &[],
    );
    assert!(e.contains("alerts.webhook") && e.contains("slack"), "{e}");
    let e = err("[log]\nlevel = \"info,=[\"\n", &[]);
    assert!(e.starts_with("log.level"), "{e}");
    let e = err(
        "listen = \"127.0.0.1:7443\"\n[metrics]\nlisten = \"127.0.0.1:7443\"\n",
        &[],
    );
    assert!(e.starts_with("metrics.listen"), "{e}");
    let missing = Config::load_from(&Sources {
        file: dir.path().join("absent.toml"),
        ..Sources::default()
    })
    .unwrap_err()
    .to_string();
    assert!(missing.contains("absent.toml"), "{missing}");
}

#[test]
fn the_shipped_configuration_mentions_every_key() {
    let text = std::fs::read_to_string(repo().join("config/gateway.toml")).unwrap();
    let mentioned = |section: &str, key: &str| {
        let mut in_section = section.is_empty();
        text.lines().any(|line| {
            let line = line.trim().trim_start_matches('#').trim();
            if line.starts_with('[') {
                in_section = line.trim_matches(|c| c == '[' || c == ']') == section;
                return false;
            }
            in_section && line.starts_with(&format!("{key} ="))
        })
    };
    let keys: &[(&str, &[&str])] = &[
        (
            "",
            &["profile", "listen", "data_dir", "calendar_dir", "roster"],
        ),
        (
            "tls",
            &[
                "mode",
                "certificate",
                "private_key",
                "client_ca",
                "server_ca",
            ],
        ),
        ("auth", &["tenants", "audience", "leeway_seconds"]),
        (
            "limits",
            &[
                "max_message_bytes",
                "max_batch",
                "max_parties",
                "max_claims",
                "max_documents",
                "rate_per_second",
                "rate_burst",
            ],
        ),
        (
            "relay",
            &[
                "first_delay_seconds",
                "max_delay_seconds",
                "max_attempts",
                "max_age_hours",
                "unreachable_after",
                "per_destination_in_flight",
                "attempt_timeout_seconds",
            ],
        ),
        ("health", &["required_partners"]),
        ("metrics", &["listen"]),
        ("alerts", &["instance", "runbook_base_url"]),
        (
            "alerts.webhook",
            &[
                "name",
                "url",
                "format",
                "min_severity",
                "kinds",
                "timeout_seconds",
                "resend_seconds",
            ],
        ),
        ("log", &["format", "level"]),
        ("shutdown", &["grace_seconds"]),
        ("partners", &["ccpit", "labour_arbitration", "road_traffic"]),
        (
            "partners.server_names",
            &["ccpit", "labour_arbitration", "road_traffic"],
        ),
        (
            "acceptance_breach",
            &["ccpit", "labour_arbitration", "road_traffic"],
        ),
    ];
    for (section, names) in keys {
        for key in *names {
            assert!(
                mentioned(section, key),
                "config/gateway.toml does not document [{section}] {key}"
            );
        }
    }
}

#[test]
fn the_shipped_configuration_lists_every_alert_kind() {
    let text = std::fs::read_to_string(repo().join("config/gateway.toml")).unwrap();
    let comments = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix('#'))
        .collect::<Vec<_>>()
        .join(" ");
    let listed = comments
        .split("kinds: only these (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("config/gateway.toml lists the alert kinds a webhook may choose");
    let listed: BTreeSet<&str> = listed.split(',').map(str::trim).collect();
    let kinds: BTreeSet<&str> = mediation_core::alert::AlertKind::ALL
        .into_iter()
        .map(|kind| kind.as_str())
        .collect();
    assert_eq!(listed, kinds, "gateway.toml lists every alert kind");
}

#[test]
fn errors_name_the_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("roster.toml");
    std::fs::write(
        &path,
        "[[organisation]]\nid = \"o1\"\nname = \"甲\"\npartner = \"fax\"\nconfirmed_by = \"京\"\nregion = \"京01\"\ndomains = [\"commercial\"]\ncapacity = 1\n",
    )
    .unwrap();
    let e = load_roster(&path, &shipped_courts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("roster.toml") && e.contains("fax"), "{e}");
    std::fs::write(
        &path,
        "[[organisation]]\nid = \"o1\"\nname = \"甲\"\npartner = \"ccpit\"\nconfirmed_by = \"京0199\"\nregion = \"京01\"\ndomains = [\"commercial\"]\ncapacity = 1\n",
    )
    .unwrap();
    let e = load_roster(&path, &shipped_courts())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("organisation[0].confirmed_by: court 京0199 is not in the court registry"),
        "{e}"
    );
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:1\"\ndata_dir = \"d\"\ncalendar_dir = \"c\"\nroster = \"r\"\n[courts]\n\"X1\" = { grpc = \"http://x\" }\n").unwrap();
    let config = Config::load(&path).unwrap();
    let e = config.court_addresses(&path).unwrap_err().to_string();
    assert!(e.contains("courts.X1"), "{e}");
}

#[test]
fn mediation_limits_follow_each_partners_rules_unless_configured() {
    use mediation_core::bundle::{Procedure, ReferralKind, TrialStage};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    let summary = ReferralKind::Entrusted {
        stage: TrialStage::FirstInstance,
        procedure: Procedure::Summary,
    };
    std::fs::write(&path, "").unwrap();
    let shipped = Config::load_from(&Sources {
        file: path.clone(),
        overrides: vec![],
        environment: false,
    })
    .unwrap()
    .policies();
    // Online rules Art. 24: 7 days under summary procedure; CCPIT: 30.
    let days = |p: &Policies, partner| {
        p.for_partner(partner)
            .deadlines
            .mediation
            .for_kind(&summary)
    };
    assert_eq!(days(&shipped, Partner::LabourArbitration), 7);
    assert_eq!(days(&shipped, Partner::RoadTraffic), 7);
    assert_eq!(days(&shipped, Partner::Ccpit), 30);

    std::fs::write(
        &path,
        "[mediation_days.road_traffic]\nentrusted_summary = 10\nappraisal_review_days = 45\n",
    )
    .unwrap();
    let configured = Config::load_from(&Sources {
        file: path.clone(),
        overrides: vec![],
        environment: false,
    })
    .unwrap()
    .policies();
    assert_eq!(days(&configured, Partner::RoadTraffic), 10);
    assert_eq!(
        configured
            .for_partner(Partner::RoadTraffic)
            .deadlines
            .mediation
            .entrusted_ordinary,
        15,
        "an unset kind keeps the partner's own rule"
    );
    let review = |p: &Policies, partner| p.for_partner(partner).deadlines.appraisal_review_days;
    assert_eq!(review(&configured, Partner::RoadTraffic), 45);
    assert_eq!(review(&configured, Partner::Ccpit), 30, "the default");

    std::fs::write(
        &path,
        "[mediation_days.ccpit]\nappraisal_review_days = 400\n",
    )
    .unwrap();
    let err = Config::load_from(&Sources {
        file: path.clone(),
        overrides: vec![],
        environment: false,
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("mediation_days.ccpit.appraisal_review_days:"),
        "{err}"
    );

    std::fs::write(&path, "[mediation_days.ccpit]\ndelegated = 0\n").unwrap();
    let err = Config::load_from(&Sources {
        file: path,
        overrides: vec![],
        environment: false,
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("mediation_days.ccpit.delegated:"), "{err}");
}

/// A roster of one organisation, ccpit-bj-01, followed by `mediators`.
fn roster_with_mediators(dir: &Path, mediators: &str) -> PathBuf {
    let path = dir.join("roster.toml");
    std::fs::write(
        &path,
        format!(
            "[[organisation]]\nid = \"ccpit-bj-01\"\nname = \"甲\"\npartner = \"ccpit\"\nconfirmed_by = \"京\"\nregion = \"京01\"\ndomains = [\"commercial\"]\ncapacity = 1\n{mediators}"
        ),
    )
    .unwrap();
    path
}

const MEDIATOR: &str = "[[organisation.mediator]]\nid = \"m-1\"\nname = \"李明\"\nqualification = \"特邀调解员\"\nvalid_from = \"2025-01-01\"\nvalid_until = \"2027-12-31\"\n";

#[test]
fn an_organisations_mediators_load_with_their_standing_and_validity() {
    use mediation_core::mediators::Standing;

    let dir = tempfile::tempdir().unwrap();
    let suspended =
        MEDIATOR.replace("m-1", "m-2").replace("李明", "王芳") + "standing = \"suspended\"\n";
    let path = roster_with_mediators(dir.path(), &format!("{MEDIATOR}{suspended}"));
    let roster = load_roster(&path, &shipped_courts()).unwrap();
    let mediators = &roster[0].mediators;
    assert_eq!(mediators.len(), 2);
    assert_eq!(mediators[0].id.as_str(), "m-1");
    assert_eq!(mediators[0].qualification.as_str(), "特邀调解员");
    assert_eq!(mediators[0].valid_from, jiff::civil::date(2025, 1, 1));
    assert_eq!(mediators[0].valid_until, jiff::civil::date(2027, 12, 31));
    assert_eq!(mediators[0].standing, Standing::Active, "the default");
    assert_eq!(mediators[1].standing, Standing::Suspended);
    // An organisation without mediators still loads, listing none.
    let path = roster_with_mediators(dir.path(), "");
    assert!(
        load_roster(&path, &shipped_courts()).unwrap()[0]
            .mediators
            .is_empty()
    );
}

#[test]
fn a_wrong_mediator_is_named_with_its_organisation() {
    let dir = tempfile::tempdir().unwrap();
    let courts = shipped_courts();
    let refused = |mediators: String| {
        let path = roster_with_mediators(dir.path(), &mediators);
        load_roster(&path, &courts).unwrap_err().to_string()
    };
    let e = refused(format!("{MEDIATOR}{MEDIATOR}"));
    assert!(
        e.contains("roster.toml")
            && e.contains(
                "organisation[0].mediator[1].id: mediator m-1 is listed twice by ccpit-bj-01"
            ),
        "{e}"
    );
    let e = refused(MEDIATOR.replace("2027-12-31", "2024-12-31"));
    assert!(
        e.contains("organisation[0].mediator[0].valid_until: mediator m-1 of ccpit-bj-01 is valid until 2024-12-31, before it is valid from 2025-01-01"),
        "{e}"
    );
    let e = refused(format!("{MEDIATOR}standing = \"paused\"\n"));
    assert!(
        e.contains(
            "organisation[0].mediator[0].standing: mediator m-1 of ccpit-bj-01: unknown standing"
        ) && e.contains("\"paused\""),
        "{e}"
    );
    let e = refused(MEDIATOR.replace("\"m-1\"", "\"m 1\""));
    assert!(
        e.contains("organisation[0].mediator[0].id: mediator \"m 1\" of ccpit-bj-01")
            && e.contains("' '"),
        "{e}"
    );
    let e = refused(MEDIATOR.replace("2025-01-01", "2025-13-01"));
    assert!(
        e.contains("organisation[0].mediator[0].valid_from: mediator m-1 of ccpit-bj-01: \"2025-13-01\" is not a date"),
        "{e}"
    );
    let e = refused(MEDIATOR.replace("\"2025-01-01\"", "2025-01-01"));
    assert!(
        e.contains("organisation[0].mediator[0].valid_from") && e.contains("in quotes"),
        "{e}"
    );
    let e = refused(MEDIATOR.replace("name = \"李明\"\n", ""));
    assert!(
        e.contains(
            "organisation[0].mediator[0].name: mediator m-1 of ccpit-bj-01: name must be given"
        ),
        "{e}"
    );
    let e = refused(format!("{MEDIATOR}grade = 1\n"));
    assert!(
        e.contains("organisation[0].mediator[0].grade: mediator m-1 of ccpit-bj-01: unknown key"),
        "{e}"
    );
}

#[test]
fn the_shipped_roster_lists_the_mediators_the_demo_and_tests_name() {
    use mediation_core::ids::{MediatorId, OrganisationId};
    use mediation_core::mediators::Standing;

    let roster = load_roster(&repo().join("config/roster.toml"), &shipped_courts()).unwrap();
    let entry = |id: &str| {
        roster
            .iter()
            .find(|e| e.id == OrganisationId::parse(id).unwrap())
            .unwrap_or_else(|| panic!("{id} is not on the shipped roster"))
    };
    // The demo starts on 3 March 2025; the tests on the system's clock run
    // today; the listings run to the end of 2027. When today is past it,
    // renew the shipped listings (and deploy/kubernetes/roster.toml).
    let days = [
        jiff::civil::date(2025, 3, 3),
        mediation_calendar::cst::date_of(jiff::Timestamp::now()),
        jiff::civil::date(2027, 12, 31),
    ];
    // Who the demo, the Python client and the e2e tests on the shipped
    // roster name, and where (the load harness accepts nothing).
    for (organisation, mediator) in [
        ("ccpit-bj-01", "m-007"),     // demo, sim::cases::settlement
        ("ccpit-bj-01", "m-101"),     // tests/e2e/traces.rs
        ("ccpit-bj-01", "m-1"),       // tests/e2e/replicas.rs
        ("ccpit-bj-01", "m-python"),  // tests/python/referral_client.py
        ("labour-bj-cy", "m-101"),    // demo
        ("labour-bj-cy", "m-python"), // tests/python/referral_client.py
    ] {
        for day in days {
            let checked =
                entry(organisation).check_mediator(&MediatorId::parse(mediator).unwrap(), day);
            assert!(
                checked.is_ok(),
                "{organisation} {mediator} on {day}: {checked:?}"
            );
        }
    }
    for organisation in &roster {
        for day in days {
            let active = organisation
                .mediators
                .iter()
                .filter(|m| {
                    m.standing == Standing::Active && m.check(&organisation.id, day).is_ok()
                })
                .count();
            assert!(
                active >= 2,
                "{} has {active} active mediators on {day}",
                organisation.id
            );
        }
    }
}

/// The retention policy is read per status, and every key that makes no
/// sense is refused by name, citing the rule where the law sets one.
#[test]
fn the_retention_policy_is_read_and_checked_by_name() {
    use mediation_core::lifecycle::Status;
    let dir = tempfile::tempdir().unwrap();
    let load = |toml: &str| Config::load_from(&sources(dir.path(), toml, &[]));
    let shipped = load("").unwrap();
    assert!(shipped.retention.enabled);
    let policy = shipped.retention.policy().unwrap();
    assert_eq!(policy.default_days, 180);
    let options = shipped.retention.options().unwrap();
    assert_eq!(options.audit_detail_days, Some(180));
    assert_eq!(options.first_after, std::time::Duration::from_secs(300));
    let set = load(
        "[retention.particulars]\ndays = 90\n[retention.particulars.by_outcome]\nrecalled = 30\nagreed = 60\n",
    )
    .unwrap();
    let policy = set.retention.policy().unwrap();
    assert_eq!(policy.period(Status::Recalled).0, 30);
    assert_eq!(policy.period(Status::Agreed).0, 60);
    assert_eq!(
        policy.period(Status::Confirmed),
        (90, "particulars.default".into())
    );
    for (bad, says) in [
        (
            "[retention.particulars.by_outcome]\nin_mediation = 30\n",
            "retention.particulars.by_outcome.in_mediation: not a status a referral rests in",
        ),
        (
            "[retention.particulars.by_outcome]\nsettled = 30\n",
            "retention.particulars.by_outcome.settled: no such status",
        ),
        (
            "[retention.particulars.by_outcome]\nagreed = 40\n",
            "retention.particulars.by_outcome.agreed: 40 days would purge an agreement",
        ),
        (
            "[retention.particulars]\ndays = 30\n",
            "retention.particulars.days: it applies to agreed referrals too",
        ),
        (
            "[retention.particulars]\ndays = 0\n",
            "retention.particulars.days: a period is 1 to 3653 days, not 0",
        ),
        (
            "[retention.audit_details]\ndays = 0\n",
            "retention.audit_details.days: must be from 1 to 3653, got 0",
        ),
        ("[retention]\nbatch = 0\n", "retention.batch"),
        (
            "[retention]\nfirst_pass_after_seconds = 100000\n",
            "retention.first_pass_after_seconds: must be at most 86400",
        ),
        (
            "[retention]\nevery_minutes = 0\n",
            "retention.every_minutes",
        ),
        ("[retention]\nkeep_forever = true\n", "keep_forever"),
    ] {
        let err = load(bad).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
    // Every problem at once, each by its key.
    let err = load("[retention.particulars.by_outcome]\nsettled = 30\nrecalled = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("by_outcome.settled: no such status")
            && err.contains("by_outcome.recalled: a period is 1 to 3653 days, not 0"),
        "{err}"
    );
    assert!(
        load("[retention.particulars.by_outcome]\nagreed = 40\n")
            .unwrap_err()
            .to_string()
            .contains("CPL Art. 205")
    );
}

/// The console's connection cap is shipped at 64 and bounded by name.
#[test]
fn the_console_connection_cap_is_read_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let load = |toml: &str| Config::load_from(&sources(dir.path(), toml, &[]));
    assert_eq!(load("").unwrap().console.max_connections, 64);
    assert_eq!(
        load("[console]\nmax_connections = 8\n")
            .unwrap()
            .console
            .max_connections,
        8
    );
    let err = load("[console]\nmax_connections = 0\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("console.max_connections: must be from 1 to 4096, got 0"),
        "{err}"
    );
}
