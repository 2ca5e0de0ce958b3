//! What operators' tools see: health that follows the store and the partners,
//! alert webhooks in each shape (resumed, filtered, retried), metrics, and a
//! graceful stop that finishes the calls in flight and loses nothing.

use std::sync::atomic::Ordering;

use jiff::SignedDuration;
use mediation_api::court::bundle_to_wire;
use mediation_core::alert::AlertKind;
use mediation_core::clock::Clock;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::court::v1 as pb;
use tonic::Code;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::tls::Authed;
use crate::world::World;

async fn status(health: &mut HealthClient<Authed>, service: &str) -> ServingStatus {
    health
        .check(HealthCheckRequest {
            service: service.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
        .status()
}

async fn submit(w: &mut World, court_referral_id: &str) -> Result<String, tonic::Status> {
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = court_referral_id.into();
    w.court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .map(|r| r.into_inner().referral_id)
}

const CCPIT: &str = "mediation.ccpit.v1.CcpitGateway";
const COURT: &str = "mediation.court.v1.CourtGateway";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_a_required_partner_and_the_store() {
    let mut w = World::start().await;
    let mut health = HealthClient::new(w.connect_as("operators").await);
    assert_eq!(status(&mut health, "").await, ServingStatus::Serving);
    assert!(w.assembly.health.current().serving);

    // CCPIT, which the configuration requires, stops answering: after two
    // failures in a row it is unreachable, and so is the gateway as a whole.
    w.ccpit.offers.set_down(true);
    submit(&mut w, "HEALTH-1").await.unwrap();
    w.deliver().await;
    w.assembly.health.refresh().await;
    assert_eq!(
        status(&mut health, "").await,
        ServingStatus::Serving,
        "one failure is not enough"
    );
    w.advance(SignedDuration::from_mins(2));
    w.deliver().await;
    let readiness = w.assembly.health.refresh().await;
    assert!(!readiness.serving);
    assert!(
        readiness.reasons[0].contains("ccpit"),
        "{:?}",
        readiness.reasons
    );
    assert_eq!(status(&mut health, "").await, ServingStatus::NotServing);
    assert_eq!(status(&mut health, CCPIT).await, ServingStatus::NotServing);
    assert_eq!(status(&mut health, COURT).await, ServingStatus::Serving);
    let unreachable = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .alerts_after(0, 100)
        .unwrap()
        .into_iter()
        .filter(|a| a.record.kind == AlertKind::DestinationUnreachable)
        .count();
    assert_eq!(unreachable, 1);

    // Back up: the next delivery succeeds and health recovers.
    w.ccpit.offers.set_down(false);
    w.advance(SignedDuration::from_mins(5));
    w.deliver().await;
    assert!(w.assembly.health.refresh().await.serving);
    assert_eq!(status(&mut health, CCPIT).await, ServingStatus::Serving);
    assert_eq!(w.ccpit.offers.all().len(), 1);

    // The store stops taking writes: nothing can be acknowledged, so
    // nothing is served, and a submission is refused rather than lost.
    w.assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .fail_for_test("no space left on device");
    let readiness = w.assembly.health.refresh().await;
    assert!(
        readiness
            .reasons
            .iter()
            .any(|r| r.contains("no space left")),
        "{readiness:?}"
    );
    for service in ["", COURT, CCPIT] {
        assert_eq!(
            status(&mut health, service).await,
            ServingStatus::NotServing,
            "{service}"
        );
    }
    let err = submit(&mut w, "HEALTH-2").await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_each_webhook_in_its_shape_once_and_a_failing_hook_catches_up() {
    let mut w = World::start().await;
    w.alert_hooks.flaky_failures.store(1, Ordering::SeqCst);
    let id = submit(&mut w, "HOOKS-1").await.unwrap();
    w.deliver().await;
    w.at("2025-03-06T00:00:01+08:00").await;
    w.at("2025-03-07T00:00:01+08:00").await;
    let posted = w.assembly.notifier.deliver_pending().await;
    // everything: warning and breach; alertmanager: the breach (critical
    // only); chat: the breach (its only kind); secure (over mutual TLS):
    // warning and breach; flaky: failed at once.
    assert_eq!(posted, 6);
    // The HTTPS hook was reached with the gateway's outbound TLS: its
    // server trusts only clients with a certificate from the test CA.
    let secure = w.alert_hooks.to("secure");
    assert_eq!(secure.len(), 2);
    assert_eq!(secure[1]["alert"]["kind"], "acceptance_breach");

    let everything = w.alert_hooks.to("everything");
    assert_eq!(everything.len(), 2);
    assert_eq!(everything[0]["source"], "mediation-gateway");
    assert_eq!(everything[0]["instance"], "gateway-test");
    assert_eq!(everything[0]["alert"]["kind"], "acceptance_warning");
    assert_eq!(everything[0]["alert"]["severity"], "warning");
    assert_eq!(everything[1]["alert"]["kind"], "acceptance_breach");
    assert_eq!(everything[1]["alert"]["referral_id"], id.as_str());
    assert_eq!(
        everything[1]["alert"]["due_at"],
        "2025-03-07T00:00:00+08:00"
    );
    assert!(
        everything[1]["alert"]["seq"].as_u64().unwrap()
            > everything[0]["alert"]["seq"].as_u64().unwrap()
    );

    let alertmanager = w.alert_hooks.to("alertmanager");
    assert_eq!(alertmanager.len(), 1);
    let alert = &alertmanager[0][0];
    assert_eq!(alert["labels"]["alertname"], "AcceptanceBreach");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["referral_id"], id.as_str());
    assert!(alert["startsAt"].as_str().unwrap().ends_with('Z'));
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("did not accept")
    );

    let chat = w.alert_hooks.to("chat");
    assert_eq!(chat.len(), 1);
    assert_eq!(chat[0]["msgtype"], "text");
    let content = chat[0]["text"]["content"].as_str().unwrap();
    assert!(
        content.starts_with("[CRITICAL] acceptance breach"),
        "{content}"
    );
    assert!(content.contains(&id), "{content}");

    // Nothing new: nothing is posted twice. The flaky hook waits out its
    // backoff on the gateway's clock, then catches up in order.
    assert!(w.alert_hooks.to("flaky").is_empty());
    assert_eq!(
        w.assembly.notifier.deliver_pending().await,
        0,
        "the flaky hook is backing off"
    );
    w.advance(SignedDuration::from_secs(5));
    assert_eq!(w.assembly.notifier.deliver_pending().await, 2);
    let flaky = w.alert_hooks.to("flaky");
    assert_eq!(
        flaky
            .iter()
            .map(|b| b["alert"]["kind"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["acceptance_warning", "acceptance_breach"]
    );
    assert_eq!(w.alert_hooks.to("everything").len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_calls_deliveries_and_the_outbox() {
    let handle = mediation_gateway::observe::recorder();
    let mut w = World::start().await;
    submit(&mut w, "METRICS-1").await.unwrap();
    w.assembly.audit.settled().await;
    mediation_gateway::observe::sample(&w.assembly, w.clock.now()).await;
    let before = handle.render();
    assert!(
        before.contains(r#"gateway_requests_total{method="mediation.court.v1.CourtGateway/SubmitReferral",code="ok"}"#),
        "{before}"
    );
    assert!(
        before.contains(r#"gateway_outbox_pending{destination="partner:ccpit"}"#),
        "{before}"
    );
    assert!(
        before.contains("gateway_store_group_operations_bucket"),
        "{before}"
    );
    w.deliver().await;
    let after = handle.render();
    assert!(
        after.contains(
            r#"gateway_delivery_attempts_total{destination="partner:ccpit",outcome="delivered"}"#
        ),
        "{after}"
    );
    assert!(after.contains("gateway_request_seconds_bucket"), "{after}");

    // A sweep that fires timers is timed (other tests share the recorder, so
    // the count is compared, not read as an absolute).
    let sweeps = |text: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix("gateway_deadline_sweep_seconds_count "))
            .map_or(0, |n| n.trim().parse::<u64>().unwrap())
    };
    w.advance(SignedDuration::from_hours(24 * 10));
    let report = w.assembly.engine.sweep().await.unwrap();
    assert!(report.fired > 0, "{report:?}");
    let swept = handle.render();
    assert!(sweeps(&swept) > sweeps(&after), "{swept}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_finishes_calls_in_flight_and_loses_nothing() {
    let mut w = World::start().await;
    // Hold the store's writer so that the calls below are all in flight,
    // waiting for their commits, when the stop comes.
    let store = w.assembly.gateway.store().sled().unwrap().clone();
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let holder = tokio::task::spawn_blocking(move || {
        store.with_writer_held(|| {
            held_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
    });
    held_rx.recv().unwrap();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..20 {
        let mut court = w.court_api.clone();
        calls.spawn(async move {
            let mut bundle = bundle_to_wire(&sample_bundle());
            bundle.documents.clear();
            bundle.court_referral_id = format!("INFLIGHT-{n}");
            court
                .submit_referral(pb::SubmitReferralRequest {
                    bundle: Some(bundle),
                })
                .await
                .map(|r| r.into_inner().referral_id)
        });
    }
    // Every call has reached the store and waits there.
    while w.assembly.gateway.store().sled().unwrap().operations_sent() < 20 {
        tokio::task::yield_now().await;
    }
    w.assembly.health.stopping().await;
    w.stop.send(true).unwrap();
    assert!(!w.assembly.health.current().serving);
    release_tx.send(()).unwrap();
    holder.await.unwrap();
    let mut acknowledged = Vec::new();
    while let Some(result) = calls.join_next().await {
        acknowledged.push(result.unwrap().expect("a call in flight finishes"));
    }
    assert_eq!(acknowledged.len(), 20);
    // The server has stopped: new calls are not taken.
    (&mut w.served).await.unwrap().unwrap();
    let mut late = w.court_api.clone();
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    assert!(
        late.submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle)
        })
        .await
        .is_err()
    );
    // Every acknowledged referral is stored, and its offer goes out.
    for id in &acknowledged {
        assert!(
            w.assembly
                .gateway
                .store()
                .sled()
                .unwrap()
                .history(&id.parse().unwrap())
                .unwrap()
                .is_some()
        );
    }
    w.deliver().await;
    assert_eq!(w.ccpit.offers.all().len(), 20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_hears_an_open_alert_again_until_it_is_acknowledged_then_its_end() {
    use mediation_core::alert::Acknowledgement;
    use mediation_core::store::AlertLog;
    let mut w = World::start().await;
    let id = submit(&mut w, "AM-1").await.unwrap();
    w.deliver().await;
    // The acceptance deadline passes: a critical breach, which is what the
    // alertmanager hook takes.
    w.at("2025-03-07T00:00:01+08:00").await;
    w.assembly.notifier.deliver_pending().await;
    let posts = w.alert_hooks.to("alertmanager");
    assert_eq!(posts.len(), 1);
    let first = &posts[0][0];
    assert_eq!(first["labels"]["alertname"], "AcceptanceBreach");
    assert_eq!(first["labels"]["referral_id"], id.as_str());
    let ends: jiff::Timestamp = first["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(
        ends > w.clock.now(),
        "an open alert ends in the future: {first}"
    );

    // Before the re-send interval (60 s) nothing more is sent; after it, the
    // open alert again, with the same labels and start, and a later end.
    w.advance(SignedDuration::from_secs(30));
    w.assembly.notifier.deliver_pending().await;
    assert_eq!(w.alert_hooks.to("alertmanager").len(), 1);
    w.advance(SignedDuration::from_secs(31));
    w.assembly.notifier.deliver_pending().await;
    let posts = w.alert_hooks.to("alertmanager");
    assert_eq!(posts.len(), 2);
    let again = &posts[1][0];
    assert_eq!(again["labels"], first["labels"]);
    assert_eq!(again["startsAt"], first["startsAt"]);
    let later: jiff::Timestamp = again["endsAt"].as_str().unwrap().parse().unwrap();
    assert!(later > ends);

    // An operator acknowledges it: Alertmanager is told it ended then.
    let seq = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .alerts_after(0, 100)
        .unwrap()
        .into_iter()
        .find(|a| a.record.kind == mediation_core::alert::AlertKind::AcceptanceBreach)
        .unwrap()
        .seq;
    let acked_at = w.clock.now();
    w.assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .acknowledge_alert(
            seq,
            Acknowledgement {
                by: "operators/duty".into(),
                at: acked_at,
                note: "calling the centre".into(),
            },
        )
        .await
        .unwrap();
    w.assembly.notifier.deliver_pending().await;
    let posts = w.alert_hooks.to("alertmanager");
    assert_eq!(posts.len(), 3);
    let resolved = &posts[2][0];
    assert_eq!(resolved["labels"], first["labels"]);
    let ended: jiff::Timestamp = resolved["endsAt"].as_str().unwrap().parse().unwrap();
    assert_eq!(ended, acked_at);
    // And it is not sent again.
    w.advance(SignedDuration::from_secs(300));
    w.assembly.notifier.deliver_pending().await;
    assert_eq!(w.alert_hooks.to("alertmanager").len(), 3);
}

/// Alertmanager refuses a post with an invalid alert in it (400, "start
/// time must be before end time"): the alert it refuses is set aside, once,
/// and the others go on being sent, each with the labels that tell it apart
/// (its referral, court and the organisation the breach concerns).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_alert_alertmanager_refuses_does_not_hold_back_the_others() {
    use mediation_core::lifecycle::Change;
    let mut w = World::start().await;
    let a = submit(&mut w, "AM-REFUSE-A").await.unwrap();
    let b = submit(&mut w, "AM-REFUSE-B").await.unwrap();
    let c = submit(&mut w, "AM-REFUSE-C").await.unwrap();
    w.deliver().await;
    // The acceptance deadlines pass: three breaches for the alertmanager
    // hook, of which it refuses C's.
    w.alert_hooks.refusing.lock().unwrap().push(c.clone());
    w.at("2025-03-07T00:00:01+08:00").await;
    w.assembly.notifier.deliver_pending().await;
    let about = |post: &serde_json::Value, id: &str| {
        post.as_array()
            .unwrap()
            .iter()
            .any(|alert| alert["labels"]["referral_id"] == id)
    };
    let posts = w.alert_hooks.to("alertmanager");
    let first_a = posts
        .iter()
        .find_map(|p| {
            p.as_array()
                .unwrap()
                .iter()
                .find(|alert| alert["labels"]["referral_id"] == a.as_str())
                .cloned()
        })
        .unwrap_or_else(|| panic!("A's breach was not taken: {posts:?}"));
    assert!(posts.iter().any(|p| about(p, &b)), "{posts:?}");
    assert!(!posts.iter().any(|p| about(p, &c)), "{posts:?}");
    assert_eq!(w.alert_hooks.refused.load(Ordering::SeqCst), 1);

    // A's breach names its court and the organisation that let the time
    // pass, although the referral has been offered to another since.
    let history = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .history(&a.parse().unwrap())
        .unwrap()
        .unwrap();
    let overdue = history
        .iter()
        .find_map(|e| match &e.change {
            Change::AcceptanceOverdue { organisation, .. } => Some(organisation.to_string()),
            _ => None,
        })
        .unwrap();
    let labels = &first_a["labels"];
    assert_eq!(labels["organisation"], overdue.as_str(), "{labels}");
    assert_eq!(labels["court"], "京0105", "{labels}");
    assert_eq!(labels["partner"], "ccpit", "{labels}");
    assert!(labels["alert_seq"].as_str().is_some(), "{labels}");
    assert_eq!(
        first_a["annotations"]["runbook_url"],
        "docs/runbooks.md#acceptance_breach"
    );

    // Now it refuses A's too. At the re-send, the batch of A and B is
    // refused as a whole; sent one at a time, B is taken and A set aside.
    w.alert_hooks.refusing.lock().unwrap().push(a.clone());
    let before = w.alert_hooks.to("alertmanager").len();
    w.advance(SignedDuration::from_secs(61));
    w.assembly.notifier.deliver_pending().await;
    let posts = w.alert_hooks.to("alertmanager");
    assert!(posts.len() > before, "B was not sent again: {posts:?}");
    let resent = &posts[before..];
    assert!(resent.iter().any(|p| about(p, &b)), "{resent:?}");
    assert!(!resent.iter().any(|p| about(p, &a)), "{resent:?}");
    // The batch, then A alone.
    assert_eq!(w.alert_hooks.refused.load(Ordering::SeqCst), 3);

    // Neither is tried again; B goes on being sent.
    let before = posts.len();
    w.advance(SignedDuration::from_secs(61));
    w.assembly.notifier.deliver_pending().await;
    let posts = w.alert_hooks.to("alertmanager");
    let resent = &posts[before..];
    assert!(resent.iter().any(|p| about(p, &b)), "{resent:?}");
    assert!(
        !resent.iter().any(|p| about(p, &a) || about(p, &c)),
        "{resent:?}"
    );
    assert_eq!(w.alert_hooks.refused.load(Ordering::SeqCst), 3);

    // The refused alerts are kept beside the hook's cursor.
    let kept = std::fs::read_to_string(
        w.assembly
            .config()
            .data_dir
            .join("webhooks/alertmanager.rejected"),
    )
    .unwrap();
    assert_eq!(kept.lines().count(), 2, "{kept}");
    assert!(kept.contains(&c) && kept.contains(&a), "{kept}");
}

/// A JSON or chat receiver that refuses an alert as invalid (400) does not
/// hold back the alerts after it: the refused one is set aside (logged and
/// kept in `<name>.rejected`), the cursor moves past it, and it is not sent
/// again. Before, the hook tried that one alert again and again, and took
/// nothing more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_or_chat_hook_that_refuses_one_alert_takes_the_next() {
    let mut w = World::start().await;
    let a = submit(&mut w, "JSON-REFUSE-A").await.unwrap();
    let b = submit(&mut w, "JSON-REFUSE-B").await.unwrap();
    w.deliver().await;
    w.alert_hooks
        .refusing_elsewhere
        .lock()
        .unwrap()
        .push(a.clone());
    // The acceptance deadlines pass: A's warning and breach come first.
    w.at("2025-03-07T00:00:01+08:00").await;
    w.assembly.notifier.deliver_pending().await;
    let mentions = |posts: &[serde_json::Value], id: &str| {
        posts.iter().filter(|p| p.to_string().contains(id)).count()
    };
    for hook in ["everything", "chat"] {
        let posts = w.alert_hooks.to(hook);
        assert!(
            mentions(&posts, &b) > 0,
            "{hook}: B's alerts were held back: {posts:?}"
        );
        assert_eq!(mentions(&posts, &a), 0, "{hook}: {posts:?}");
        let kept = std::fs::read_to_string(
            w.assembly
                .config()
                .data_dir
                .join(format!("webhooks/{hook}.rejected")),
        )
        .unwrap();
        assert!(kept.contains(&a) && !kept.contains(&b), "{hook}: {kept}");
    }
    // Neither A's alerts nor B's are sent again.
    let before = w.alert_hooks.to("everything").len();
    w.advance(SignedDuration::from_secs(61));
    w.assembly.notifier.deliver_pending().await;
    assert_eq!(w.alert_hooks.to("everything").len(), before);
}

/// A gauge with nothing to measure has no value: once no deadline timer
/// runs, the next deadline's gauge reads NaN, not the last one's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_deadline_gauge_has_no_value_once_no_timer_runs() {
    use mediation_core::store::TimerStore as _;
    let handle = mediation_gateway::observe::recorder();
    let mut w = World::start().await;
    let next_due = |text: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix("gateway_deadline_next_due_seconds "))
            .map(|v| v.trim().parse().unwrap())
    };
    let id = submit(&mut w, "NEXT-DUE-1").await.unwrap();
    // The offer reaches the platform: the acceptance deadline runs.
    w.deliver().await;
    assert!(
        w.assembly
            .gateway
            .store()
            .next_timer_at()
            .await
            .unwrap()
            .is_some()
    );
    mediation_gateway::observe::sample(&w.assembly, w.clock.now()).await;
    let running = next_due(&handle.render()).expect("the gauge is exported");
    assert!(running.is_finite() && running > 0.0, "{running}");

    // The court recalls the referral: no timer runs any more.
    w.court_api
        .clone()
        .recall_referral(pb::RecallReferralRequest {
            referral_id: id.clone(),
            court: sample_bundle().court.to_string(),
            reason: "当事人撤诉".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        w.assembly.gateway.store().next_timer_at().await.unwrap(),
        None,
        "a recalled referral's timers are gone"
    );
    mediation_gateway::observe::sample(&w.assembly, w.clock.now()).await;
    let idle = next_due(&handle.render());
    assert!(
        idle.is_none_or(f64::is_nan),
        "the gauge still reads {idle:?} with no timer running"
    );
}
