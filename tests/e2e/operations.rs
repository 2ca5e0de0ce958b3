//! The operators' service over mutual TLS: a live alert stream that resumes
//! where it left off, acknowledging breaches, a referral's timeline, the
//! outbox backlog, dead letters replayed in order, and statistics.

use std::time::Duration;

use jiff::SignedDuration;
use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::court::v1 as pb;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use tonic::Code;

use crate::field_paths::named_fields;
use crate::tls::Authed;
use crate::world::{START, World, ts};

async fn next(stream: &mut tonic::Streaming<ops::Alert>) -> ops::Alert {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("an alert arrives while following")
        .unwrap()
        .expect("the stream stays open")
}

async fn collect(
    client: &mut OperationsClient<Authed>,
    after_seq: u64,
    kinds: Vec<ops::AlertKind>,
) -> Vec<ops::Alert> {
    let mut stream = client
        .watch_alerts(ops::WatchAlertsRequest {
            after_seq,
            follow: false,
            kinds: kinds.into_iter().map(Into::into).collect(),
        })
        .await
        .unwrap()
        .into_inner();
    let mut all = Vec::new();
    while let Some(alert) = stream.message().await.unwrap() {
        all.push(alert);
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_follow_alerts_acknowledge_breaches_and_replay_dead_letters() {
    let mut w = World::start().await;
    let mut operations = OperationsClient::new(w.connect_as("operators").await);
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    let id = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    w.deliver().await;

    // A watcher following from the start sees each alert as it is raised.
    let mut follow = operations
        .watch_alerts(ops::WatchAlertsRequest {
            after_seq: 0,
            follow: true,
            kinds: vec![],
        })
        .await
        .unwrap()
        .into_inner();
    w.at("2025-03-06T00:00:01+08:00").await;
    let warning = next(&mut follow).await;
    assert_eq!(warning.kind(), ops::AlertKind::AcceptanceWarning);
    assert_eq!(warning.severity(), ops::Severity::Warning);
    assert_eq!(warning.referral_id, id);
    w.at("2025-03-07T00:00:01+08:00").await;
    let breach = next(&mut follow).await;
    assert_eq!(breach.kind(), ops::AlertKind::AcceptanceBreach);
    assert_eq!(breach.severity(), ops::Severity::Critical);
    assert_eq!(breach.seq, warning.seq + 1);
    assert_eq!(
        breach.due_at.unwrap().seconds,
        "2025-03-07T00:00:00+08:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    );
    drop(follow);

    // A watcher that reconnects after the warning gets the breach and what
    // followed, nothing twice.
    let resumed = collect(&mut operations, warning.seq, vec![]).await;
    assert_eq!(resumed.first().map(|a| a.seq), Some(breach.seq));
    assert!(resumed.iter().all(|a| a.seq > warning.seq));
    let everything = collect(&mut operations, 0, vec![]).await;
    assert_eq!(everything.len(), resumed.len() + 1);
    let only_breaches = collect(&mut operations, 0, vec![ops::AlertKind::AcceptanceBreach]).await;
    assert_eq!(
        only_breaches.iter().map(|a| a.seq).collect::<Vec<_>>(),
        [breach.seq]
    );

    // The breach is open until someone acknowledges it; the referral has
    // moved on to the next centre.
    let open = operations
        .list_open_breaches(ops::ListOpenBreachesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .breaches;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].alert.as_ref().unwrap().seq, breach.seq);
    assert_eq!(open[0].referral_status, "awaiting_acceptance");
    assert_eq!(open[0].organisation, "ccpit-bj-02");
    // Asked for, the unacknowledged warning comes too, before its breach.
    let with_warnings = operations
        .list_open_breaches(ops::ListOpenBreachesRequest {
            include_warnings: true,
        })
        .await
        .unwrap()
        .into_inner()
        .breaches;
    let kinds: Vec<i32> = with_warnings
        .iter()
        .map(|b| b.alert.as_ref().unwrap().kind)
        .collect();
    assert_eq!(
        kinds,
        [
            ops::AlertKind::AcceptanceWarning as i32,
            ops::AlertKind::AcceptanceBreach as i32
        ]
    );
    let acked = operations
        .acknowledge_alert(ops::AcknowledgeAlertRequest {
            seq: breach.seq,
            note: "called the Beijing centre".into(),
        })
        .await
        .unwrap()
        .into_inner()
        .alert
        .unwrap();
    let ack = acked.acknowledgement.unwrap();
    assert!(ack.by.starts_with("operators/"), "{}", ack.by);
    assert_eq!(ack.note, "called the Beijing centre");
    let again = operations
        .acknowledge_alert(ops::AcknowledgeAlertRequest {
            seq: breach.seq,
            note: "someone else".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again.alert.unwrap().acknowledgement.unwrap().note,
        "called the Beijing centre",
        "the first acknowledgement stands"
    );
    assert!(
        operations
            .list_open_breaches(ops::ListOpenBreachesRequest::default())
            .await
            .unwrap()
            .into_inner()
            .breaches
            .is_empty()
    );
    let replayed = collect(&mut operations, warning.seq, vec![]).await;
    assert!(replayed[0].acknowledgement.is_some(), "watchers see it too");
    for (seq, code) in [(0, Code::InvalidArgument), (9_999, Code::NotFound)] {
        let err = operations
            .acknowledge_alert(ops::AcknowledgeAlertRequest {
                seq,
                note: String::new(),
            })
            .await
            .unwrap_err();
        assert_eq!(err.code(), code, "{seq}");
    }

    // The court system goes down just as the second centre accepts: the
    // notice waits, then is set aside after three days of failures.
    w.grpc_court.notices.set_down(true);
    w.ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-02".into(),
            mediator: "m-101".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    w.deliver().await;
    let backlog = operations
        .get_outbox_backlog(ops::GetOutboxBacklogRequest {})
        .await
        .unwrap()
        .into_inner()
        .destinations;
    let court = backlog
        .iter()
        .find(|d| d.destination == "court:京0105")
        .unwrap();
    assert_eq!((court.pending, court.dead), (1, 0));
    assert_eq!(court.consecutive_failures, 1);
    assert!(
        court.last_error.contains("down for maintenance"),
        "{}",
        court.last_error
    );
    assert!(court.oldest_enqueued_at.is_some());
    let ccpit = backlog
        .iter()
        .find(|d| d.destination == "partner:ccpit")
        .unwrap();
    assert_eq!((ccpit.pending, ccpit.consecutive_failures), (0, 0));

    let timeline = operations
        .get_referral_timeline(ops::GetReferralTimelineRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(timeline.status, "in_mediation");
    assert_eq!(timeline.organisation, "ccpit-bj-02");
    let events: Vec<&str> = timeline.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "received",
            "routed",
            "offer_delivered",
            "deadline_warning",
            "acceptance_overdue",
            "routed",
            "offer_delivered",
            "accepted"
        ]
    );
    assert_eq!(timeline.deadlines.len(), 2);
    assert_eq!(timeline.waiting.len(), 1);
    assert_eq!(timeline.waiting[0].event, "accepted");

    w.advance(SignedDuration::from_hours(73));
    w.deliver().await;
    let dead = operations
        .list_dead_letters(ops::ListDeadLettersRequest { limit: 0 })
        .await
        .unwrap()
        .into_inner()
        .dead_letters;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event, "accepted");
    assert_eq!(dead[0].referral_id, id);
    assert!(dead[0].dead_at.is_some());
    let dead_alert = collect(
        &mut operations,
        breach.seq,
        vec![ops::AlertKind::DeadLetter],
    )
    .await;
    assert_eq!(dead_alert.len(), 1);

    // Back up; the operator replays it and the court gets it, once.
    w.grpc_court.notices.set_down(false);
    let replay = operations
        .replay_dead_letter(ops::ReplayDeadLetterRequest {
            message_id: dead[0].message_id.clone(),
        })
        .await
        .unwrap()
        .into_inner()
        .message
        .unwrap();
    assert_eq!(replay.attempts, 0);
    assert!(replay.dead_at.is_none());
    w.deliver().await;
    assert_eq!(
        w.grpc_court
            .events_of(&id)
            .iter()
            .filter(|e| *e == "accepted")
            .count(),
        1
    );
    let err = operations
        .replay_dead_letter(ops::ReplayDeadLetterRequest {
            message_id: dead[0].message_id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // The month's figures for CCPIT.
    let stats = operations
        .get_statistics(ops::GetStatisticsRequest {
            from: ts(START),
            to: ts("2025-04-01T00:00:00+08:00"),
            partner: "ccpit".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stats.referrals_read, 1);
    let figures = |org: &str| {
        stats
            .organisations
            .iter()
            .find(|o| o.organisation == org)
            .unwrap()
            .figures
            .clone()
            .unwrap()
    };
    let first = figures("ccpit-bj-01");
    assert_eq!(
        (first.referrals, first.accepted, first.acceptance_breaches),
        (1, 0, 1)
    );
    let second = figures("ccpit-bj-02");
    assert_eq!((second.referrals, second.accepted), (1, 1));
    assert!(second.median_time_to_accept.is_some());
    assert_eq!(second.success_rate, None, "no mediation has ended");
    let partner = stats.partners[0].figures.clone().unwrap();
    assert_eq!((partner.referrals, partner.accepted), (2, 1));
    for (request, field) in [
        (
            ops::GetStatisticsRequest {
                from: ts("2025-04-01T00:00:00+08:00"),
                to: ts(START),
                partner: String::new(),
            },
            "to",
        ),
        (
            ops::GetStatisticsRequest {
                from: ts(START),
                to: ts("2025-04-01T00:00:00+08:00"),
                partner: "ccpit-ish".into(),
            },
            "partner",
        ),
    ] {
        let err = operations.get_statistics(request).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument);
        assert_eq!(named_fields(&err), [field], "{err:?}");
    }

    // Only operators are let in.
    let mut court_as_operator = OperationsClient::new(w.connect_as("court-bj").await);
    let err = court_as_operator
        .list_dead_letters(ops::ListDeadLettersRequest { limit: 0 })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_find_referrals_by_the_courts_reference_status_and_deadline() {
    let mut w = World::start().await;
    let operations = OperationsClient::new(w.connect_as("operators").await);
    let mut ids = Vec::new();
    for reference in ["FIND-1", "FIND-2"] {
        let mut bundle = bundle_to_wire(&sample_bundle());
        bundle.documents.clear();
        bundle.court_referral_id = reference.into();
        ids.push(
            w.court_api
                .submit_referral(pb::SubmitReferralRequest {
                    bundle: Some(bundle),
                })
                .await
                .unwrap()
                .into_inner()
                .referral_id,
        );
    }
    // The offers reach the platform: their acceptance periods start.
    w.deliver().await;
    let find = |r: ops::FindReferralsRequest| {
        let mut operations = operations.clone();
        async move { operations.find_referrals(r).await }
    };
    // By the court's own reference, as a court would tell it on the phone.
    let found = find(ops::FindReferralsRequest {
        court_referral_id: "FIND-2".into(),
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner();
    assert_eq!(found.referrals.len(), 1);
    assert_eq!(found.referrals[0].referral_id, ids[1]);
    assert_eq!(found.referrals[0].status, "awaiting_acceptance");
    assert_eq!(found.scanned, 2);
    // By status and a running deadline due before an instant: both are
    // due on Thursday 6 March (3 working days from Monday).
    let due = |before: &str| ops::FindReferralsRequest {
        status: "awaiting_acceptance".into(),
        due_before: ts(before),
        ..Default::default()
    };
    let soon = find(due("2025-03-08T00:00:00+08:00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(soon.referrals.len(), 2);
    let not_yet = find(due("2025-03-05T00:00:00+08:00"))
        .await
        .unwrap()
        .into_inner();
    assert!(not_yet.referrals.is_empty());
    // An unknown status is named, with the ones there are.
    let err = find(ops::FindReferralsRequest {
        status: "pending".into(),
        ..Default::default()
    })
    .await
    .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(err.message().contains("in_mediation"), "{err:?}");
    // Courts and platforms may not search.
    let mut court = OperationsClient::new(w.connect_as("court-bj").await);
    let err = court
        .find_referrals(ops::FindReferralsRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn courts_and_platforms_read_only_their_own_figures() {
    // Seed 003 五(三): evaluation is by organisation and court; a court
    // system sees its own referrals' figures, a platform its own
    // organisations', operators everything.
    let mut w = World::start().await;
    let mut beijing = bundle_to_wire(&sample_bundle());
    beijing.documents.clear();
    beijing.court_referral_id = "STATS-BJ".into();
    w.court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(beijing.clone()),
        })
        .await
        .unwrap();
    let mut labour = bundle_to_wire(&mediation_core::fixtures::labour_bundle());
    labour.documents.clear();
    labour.court_referral_id = "STATS-LAB".into();
    w.court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(labour),
        })
        .await
        .unwrap();
    let mut shanghai = beijing;
    shanghai.court_referral_id = "STATS-SH".into();
    shanghai.court = "沪0115".into();
    w.sh_court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(shanghai),
        })
        .await
        .unwrap();
    let request = ops::GetStatisticsRequest {
        from: ts("2025-03-01T00:00:00+08:00"),
        to: ts("2025-04-01T00:00:00+08:00"),
        partner: String::new(),
    };
    let as_tenant = |tenant: &'static str| {
        let w = &w;
        let request = request.clone();
        async move {
            OperationsClient::new(w.connect_as(tenant).await)
                .get_statistics(request)
                .await
                .unwrap()
                .into_inner()
        }
    };
    let organisations = |s: &ops::GetStatisticsResponse| {
        let mut o: Vec<String> = s
            .organisations
            .iter()
            .map(|o| o.organisation.clone())
            .collect();
        o.sort();
        o
    };
    let all = as_tenant("operators").await;
    assert_eq!(all.referrals_read, 3);
    // A month without activity reads no history at all: the store's
    // activity index names the referrals a period can count.
    let quiet = OperationsClient::new(w.connect_as("operators").await)
        .get_statistics(ops::GetStatisticsRequest {
            from: ts("2025-01-01T00:00:00+08:00"),
            to: ts("2025-02-01T00:00:00+08:00"),
            partner: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(quiet.referrals_read, 0);
    assert!(quiet.organisations.is_empty());
    assert_eq!(
        organisations(&all),
        ["ccpit-bj-01", "ccpit-sh-01", "labour-bj-cy"]
    );
    // Broken down by referring court and by kind of dispute.
    let by = |s: &ops::GetStatisticsResponse, dimension: &str| {
        let mut found: Vec<(String, u64)> = s
            .breakdowns
            .iter()
            .filter(|b| b.dimension == dimension)
            .map(|b| (b.value.clone(), b.figures.as_ref().unwrap().referrals))
            .collect();
        found.sort();
        found
    };
    assert_eq!(
        by(&all, "court"),
        [("京0105".to_owned(), 2), ("沪0115".to_owned(), 1)]
    );
    assert_eq!(
        by(&all, "domain"),
        [("commercial".to_owned(), 2), ("labour".to_owned(), 1)]
    );
    let beijing_court = as_tenant("court-bj").await;
    assert_eq!(beijing_court.referrals_read, 2, "not Shanghai's referral");
    assert_eq!(by(&beijing_court, "court"), [("京0105".to_owned(), 2)]);
    assert_eq!(
        organisations(&beijing_court),
        ["ccpit-bj-01", "labour-bj-cy"]
    );
    let ccpit = as_tenant("ccpit").await;
    assert_eq!(organisations(&ccpit), ["ccpit-bj-01", "ccpit-sh-01"]);
    assert_eq!(ccpit.partners.len(), 1, "its own platform only");
    let labour_platform = as_tenant("labour").await;
    assert_eq!(organisations(&labour_platform), ["labour-bj-cy"]);
    assert_eq!(by(&labour_platform, "domain"), [("labour".to_owned(), 1)]);
    // Everything else in the operators' service stays theirs alone.
    let err = OperationsClient::new(w.connect_as("court-bj").await)
        .list_open_breaches(ops::ListOpenBreachesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
}
