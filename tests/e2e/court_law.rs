//! The law as courts apply it, over gRPC with the manual clock: mediation
//! limits of 30 days for a 委派 referral, 15 for a 委托 one under ordinary
//! procedure and 7 under summary procedure for the labour and road-traffic
//! organisations (online rules Art. 24; invited-mediation rules Art. 27), and
//! 30 days for every kind for CCPIT centres (the CCPIT notice, 四(四)3);
//! pre-litigation case numbers on 委派 referrals (seed 004 (十六)); and no
//! judicial confirmation for a 委托 referral (CPL Art. 205).

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::{labour_bundle, sample_bundle};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::court::v1 as pb;
use mediation_proto::labour::v1 as lp;

use crate::world::{World, court_view, submit_bundle};

/// `bundle` as a 委托 referral of a first-instance case under `procedure`.
fn entrusted(
    mut bundle: pb::CaseBundle,
    reference: &str,
    procedure: pb::Procedure,
) -> pb::CaseBundle {
    bundle.court_referral_id = reference.into();
    bundle.kind = pb::ReferralKind::Entrusted.into();
    bundle.trial_stage = pb::TrialStage::FirstInstance.into();
    bundle.procedure = procedure.into();
    bundle.case_number = "（2025）京0105民初1234号".into();
    bundle.documents.clear();
    bundle
}

async fn submit(w: &mut World, bundle: pb::CaseBundle) -> String {
    submit_bundle(&mut w.court_api, bundle).await
}

async fn mediation_due(w: &mut World, id: &str) -> String {
    court_view(&mut w.court_api, id)
        .await
        .mediation_deadline
        .unwrap()
        .due_date
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entrusted_labour_dispute_gets_15_or_7_days_and_a_delegated_one_30() {
    let mut w = World::start().await;
    let labour = bundle_to_wire(&labour_bundle());
    let ordinary = submit(
        &mut w,
        entrusted(labour.clone(), "TL-ORD", pb::Procedure::Ordinary),
    )
    .await;
    let summary = submit(
        &mut w,
        entrusted(labour.clone(), "TL-SUM", pb::Procedure::Summary),
    )
    .await;
    let mut delegated = labour.clone();
    delegated.court_referral_id = "TL-DEL".into();
    delegated.documents.clear();
    let delegated = submit(&mut w, delegated).await;
    // Accepted on Monday 3 March 2025, the world's first day.
    for (id, number) in [(&ordinary, "18"), (&summary, "19"), (&delegated, "20")] {
        w.labour_api
            .accept_dispute(lp::AcceptDisputeRequest {
                dispute_id: id.clone(),
                committee: "labour-bj-cy".into(),
                mediator: "m-101".into(),
                file_number: format!("朝劳调〔2025〕{number}号"),
            })
            .await
            .unwrap();
    }
    assert_eq!(mediation_due(&mut w, &ordinary).await, "2025-03-18");
    assert_eq!(mediation_due(&mut w, &summary).await, "2025-03-10");
    assert_eq!(mediation_due(&mut w, &delegated).await, "2025-04-02");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ccpit_centre_gets_30_days_whatever_the_kind() {
    let mut w = World::start().await;
    let bundle = entrusted(
        bundle_to_wire(&sample_bundle()),
        "TL-CCPIT",
        pb::Procedure::Summary,
    );
    let id = submit(&mut w, bundle).await;
    let offer_centre = "ccpit-bj-01";
    w.ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: offer_centre.into(),
            mediator: "m-007".into(),
            centre_case_number: "CCPIT-BJ-2025-0099".into(),
        })
        .await
        .unwrap();
    assert_eq!(mediation_due(&mut w, &id).await, "2025-04-02");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pre_litigation_number_travels_with_a_delegated_referral_and_a_docketed_one_does_not() {
    // Seed 004 (十六): pre-litigation mediation has numbers of its own
    // (诉前调); a docketed case's number belongs to a 委托 referral.
    let mut w = World::start().await;
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "TL-PRE".into();
    bundle.case_number = "（2025）京0105民诉前调123号".into();
    submit(&mut w, bundle.clone()).await;
    bundle.court_referral_id = "TL-PRE-BAD".into();
    bundle.case_number = "（2025）京0105民初123号".into();
    let err = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        crate::field_paths::named_fields(&err),
        ["bundle.case_number"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entrusted_referral_is_not_filed_for_judicial_confirmation() {
    // CPL Art. 205; seed 003 四(四)2: a docketed case ends with a mediation
    // paper or a withdrawal.
    let mut w = World::start().await;
    let bundle = entrusted(
        bundle_to_wire(&sample_bundle()),
        "TL-CONF",
        pb::Procedure::Ordinary,
    );
    let id = submit(&mut w, bundle).await;
    w.ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            mediator: "m-007".into(),
            centre_case_number: "CCPIT-BJ-2025-0100".into(),
        })
        .await
        .unwrap();
    w.clock.set("2025-03-04T09:00:00+08:00".parse().unwrap());
    w.ccpit_api
        .submit_settlement(mediation_gateway::sim::cases::settlement(
            &id,
            crate::world::ts("2025-03-03T15:00:00+08:00"),
        ))
        .await
        .unwrap();
    let err = w
        .ccpit_api
        .apply_for_confirmation(cp::ApplyForConfirmationRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            applicants: vec!["P1".into(), "P2".into()],
            applied_at: crate::world::ts("2025-03-04T09:00:00+08:00"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");

    // The court ends it with its mediation paper, in the case's own number.
    let record = |outcome: pb::CourtOutcome, case_number: &str| pb::RecordCourtOutcomeRequest {
        referral_id: id.clone(),
        court: "京0105".into(),
        outcome: outcome.into(),
        case_number: case_number.into(),
        ..Default::default()
    };
    let err = w
        .court_api
        .record_court_outcome(record(
            pb::CourtOutcome::MediationPaper,
            "（2025）京0105民初9999号",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(crate::field_paths::named_fields(&err), ["case_number"]);
    let done = w
        .court_api
        .record_court_outcome(record(
            pb::CourtOutcome::MediationPaper,
            "（2025）京0105民初1234号",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status(), pb::ReferralStatus::Concluded);
    let seen = view(&mut w, &id).await;
    assert_eq!(seen.court_outcome(), pb::CourtOutcome::MediationPaper);
    assert_eq!(seen.court_case_number, "（2025）京0105民初1234号");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_failure_the_docketed_case_number_is_recorded_with_the_failure_record() {
    // Seed 004 (十六): the undisputed facts and confirmed addresses of a
    // failed mediation serve the case the court dockets afterwards.
    let mut w = World::start().await;
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "TL-DOCKET".into();
    let id = submit(&mut w, bundle).await;
    w.ccpit_api
        .accept_case(accepted_by(&id, "ccpit-bj-01"))
        .await
        .unwrap();
    w.ccpit_api
        .report_failure(cp::ReportFailureRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            course: "两次组织调解".into(),
            reasons: "双方对货款金额分歧过大".into(),
            undisputed_facts: vec!["双方于2024年签订买卖合同".into()],
            confirmed_addresses: vec![cp::ConfirmedAddress {
                party: "P2".into(),
                address: "福建省福州市某路2号".into(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let record = |case_number: &str| pb::RecordCourtOutcomeRequest {
        referral_id: id.clone(),
        court: "京0105".into(),
        outcome: pb::CourtOutcome::Docketed.into(),
        case_number: case_number.into(),
        ..Default::default()
    };
    // A pre-litigation number is not a docketed case's.
    let err = w
        .court_api
        .record_court_outcome(record("（2025）京0105民诉前调77号"))
        .await
        .unwrap_err();
    assert_eq!(crate::field_paths::named_fields(&err), ["case_number"]);
    let done = w
        .court_api
        .record_court_outcome(record("（2025）京0105民初777号"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status(), pb::ReferralStatus::MediationFailed);
    let seen = view(&mut w, &id).await;
    assert_eq!(seen.court_outcome(), pb::CourtOutcome::Docketed);
    assert_eq!(seen.court_case_number, "（2025）京0105民初777号");
    let failure = seen.failure.expect("the failure record travels with it");
    assert_eq!(failure.undisputed_facts, ["双方于2024年签订买卖合同"]);
    assert_eq!(failure.confirmed_addresses[0].party, "P2");
    // Once.
    let again = w
        .court_api
        .record_court_outcome(record("（2025）京0105民初778号"))
        .await
        .unwrap_err();
    assert_eq!(again.code(), tonic::Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_referral_goes_back_unless_the_court_let_it_go() {
    // Online rules Art. 12 and seed 000 §(十三): after a decline the court
    // decides who mediates next. Here no court allows it in configuration,
    // though CCPIT's policy is to reroute and a second Beijing centre could
    // take the case.
    let mut w = World::start_with_overlay("[reassignment]\ncourts = []\n").await;
    let decline = |id: &str| cp::DeclineCaseRequest {
        case_id: id.into(),
        mediation_centre: "ccpit-bj-01".into(),
        reason_code: "NO_CAPACITY".into(),
        explanation: "本月调解员已满负荷".into(),
    };
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "RE-NO".into();
    let kept = submit(&mut w, bundle.clone()).await;
    let state = w
        .ccpit_api
        .decline_case(decline(&kept))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "returned_to_court");
    // The court lets this one referral go, in its bundle: it is offered to
    // the next centre.
    bundle.court_referral_id = "RE-YES".into();
    bundle.reassignment_allowed = true;
    let passed = submit(&mut w, bundle).await;
    let state = w
        .ccpit_api
        .decline_case(decline(&passed))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "awaiting_acceptance");
    let view = w
        .court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: passed,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.organisation, "ccpit-bj-02");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_ends_mediation_early_and_the_court_has_the_case_back() {
    // Online rules Art. 25: a party withdrew, could not be reached, refused to
    // sign, or the dispute is unsuitable; each platform names its ground.
    let mut w = World::start().await;
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "END-CCPIT".into();
    let ccpit = submit(&mut w, bundle).await;
    w.ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: ccpit.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            mediator: "m-007".into(),
            centre_case_number: "CCPIT-BJ-2025-0200".into(),
        })
        .await
        .unwrap();
    let end = |ground: &str| cp::EndMediationRequest {
        case_id: ccpit.clone(),
        mediation_centre: "ccpit-bj-01".into(),
        ground: ground.into(),
        explanation: "被申请人明确表示不再参加调解".into(),
    };
    let err = w.ccpit_api.end_mediation(end("BORED")).await.unwrap_err();
    assert_eq!(crate::field_paths::named_fields(&err), ["ground"]);
    let state = w
        .ccpit_api
        .end_mediation(end("PARTY_WITHDREW"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "returned_to_court");
    w.deliver().await;
    let returned = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.referral_id == ccpit && n.event == "returned_to_court")
        .unwrap();
    let Some(pb::court_notice::Detail::Returned(why)) = returned.detail else {
        panic!("a return says why: {returned:?}");
    };
    assert_eq!(why.reason, "ended_early");
    assert!(
        why.explanation.contains("party_withdrew"),
        "{}",
        why.explanation
    );

    // The labour committee names its ground from the platform's own enum.
    let mut labour = bundle_to_wire(&labour_bundle());
    labour.documents.clear();
    labour.court_referral_id = "END-LAB".into();
    let dispute = submit(&mut w, labour).await;
    w.labour_api
        .accept_dispute(lp::AcceptDisputeRequest {
            dispute_id: dispute.clone(),
            committee: "labour-bj-cy".into(),
            mediator: "m-101".into(),
            file_number: "朝劳调〔2025〕30号".into(),
        })
        .await
        .unwrap();
    let state = w
        .labour_api
        .end_mediation(lp::EndMediationRequest {
            dispute_id: dispute,
            committee: "labour-bj-cy".into(),
            ground: lp::EndGround::PartyUnreachable.into(),
            explanation: "用人单位联系电话停机".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "returned_to_court");
}

async fn view(w: &mut World, id: &str) -> pb::GetReferralResponse {
    w.court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_court_hierarchy_is_the_registrys_and_an_unknown_court_is_refused() {
    // The registry (config/courts.toml) puts 朝阳 (京0105) under the third
    // intermediate court and 海淀 (京0108) under the first, whatever their
    // codes suggest. The Chaoyang labour centre is on 京03's roster, which
    // serves the courts below it (seed 000 §(十)).
    let mut w = World::start().await;
    let mut unknown = bundle_to_wire(&labour_bundle());
    unknown.court_referral_id = "TL-NOWHERE".into();
    unknown.court = "京0199".into();
    unknown.documents.clear();
    let before = w.written();
    let err = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(unknown),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert_eq!(
        crate::field_paths::named_fields(&err),
        ["bundle.court"],
        "{err:?}"
    );
    assert!(
        err.message().contains("not in the court registry"),
        "{err:?}"
    );
    assert_eq!(w.written(), before, "a refused bundle writes nothing");

    let mut haidian = bundle_to_wire(&labour_bundle());
    haidian.court_referral_id = "TL-HAIDIAN".into();
    haidian.court = "京0108".into();
    haidian.documents.clear();
    let haidian = submit(&mut w, haidian).await;
    let seen = view(&mut w, &haidian).await;
    assert_eq!(seen.status(), pb::ReferralStatus::ReturnedToCourt);
    w.deliver().await;
    let returned = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.referral_id == haidian && n.event == "returned_to_court")
        .unwrap();
    let Some(pb::court_notice::Detail::Returned(why)) = returned.detail else {
        panic!("a return says why: {returned:?}");
    };
    assert!(
        why.explanation
            .contains("labour-bj-cy: not on the roster of court 京0108 (confirmed by 京03)"),
        "{}",
        why.explanation
    );
    let mut chaoyang = bundle_to_wire(&labour_bundle());
    chaoyang.court_referral_id = "TL-CHAOYANG".into();
    chaoyang.documents.clear();
    let chaoyang = submit(&mut w, chaoyang).await;
    let seen = view(&mut w, &chaoyang).await;
    assert_eq!(seen.status(), pb::ReferralStatus::AwaitingAcceptance);
    assert_eq!(seen.organisation, "labour-bj-cy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directly_taken_dispute_is_filed_with_a_basic_or_intermediate_court() {
    // CPL Art. 205 (2): the basic court where a party lives, the subject
    // matter lies or the organisation sits, or the matching intermediate
    // court. A high court, or a court the registry does not know, is refused
    // on the request's court field and nothing is written.
    let mut w = World::start().await;
    // The day after the settlement was signed.
    w.clock.set("2025-03-11T09:00:00+08:00".parse().unwrap());
    let before = w.written();
    for (court, says) in [
        ("沪", "is a high court"),
        ("最高法", "is a supreme court"),
        ("沪0199", "not in the court registry"),
    ] {
        let mut intake = crate::ccpit_more::intake();
        intake.court = court.into();
        let err = w.ccpit_api.file_direct_intake(intake).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{court}: {err:?}");
        assert_eq!(crate::field_paths::named_fields(&err), ["court"], "{court}");
        assert!(err.message().contains(says), "{court}: {err:?}");
    }
    assert_eq!(w.written(), before);
    let mut intermediate = crate::ccpit_more::intake();
    intermediate.court = "沪01".into();
    let state = w
        .ccpit_api
        .file_direct_intake(intermediate)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "confirmation_requested");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_court_registry_reloads_and_a_broken_one_is_refused_keeping_the_old() {
    let mut w = World::start().await;
    let path = w.assembly.config().court_registry.clone();
    let shipped = std::fs::read_to_string(&path).unwrap();
    let mut bundle = bundle_to_wire(&labour_bundle());
    bundle.court_referral_id = "TL-NEW-COURT".into();
    bundle.court = "京0199".into();
    bundle.documents.clear();
    let refused = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle.clone()),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);

    // A new basic court under the third intermediate court: once loaded,
    // the Beijing court system acts for it (lower_courts) and the 京03
    // roster serves it.
    let added = format!(
        "{shipped}\n[[court]]\ncode = \"京0199\"\nname = \"北京市某新设区人民法院\"\nlevel = \"basic\"\nparent = \"京03\"\n"
    );
    std::fs::write(&path, added).unwrap();
    w.assembly.reload().unwrap();
    let id = submit(&mut w, bundle.clone()).await;
    let seen = view(&mut w, &id).await;
    assert_eq!(seen.status(), pb::ReferralStatus::AwaitingAcceptance);
    assert_eq!(seen.organisation, "labour-bj-cy");

    // A registry whose court names a parent it lacks is refused whole, and
    // the one in use stays.
    std::fs::write(
        &path,
        shipped.replace("parent = \"京03\"", "parent = \"京09\""),
    )
    .unwrap();
    let err = w.assembly.reload().unwrap_err();
    assert!(
        format!("{err:#}").contains("its parent 京09 is not in the registry"),
        "{err:#}"
    );
    bundle.court_referral_id = "TL-NEW-COURT-2".into();
    let again = submit(&mut w, bundle).await;
    assert_eq!(
        view(&mut w, &again).await.status(),
        pb::ReferralStatus::AwaitingAcceptance
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_acceptance_period_runs_from_the_platforms_receipt_and_an_outage_does_not_count() {
    // Online rules Art. 12: the organisation confirms within 3 working days
    // of receiving the case. The CCPIT platform is down from Monday 3 March
    // until Wednesday 5 March; the centre's three days run from Wednesday's
    // delivery (Thursday, Friday, Monday), not from Monday's routing
    // (which would have ended on Thursday).
    let mut w = World::start().await;
    w.ccpit.offers.set_down(true);
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "TL-OUTAGE".into();
    let id = submit(&mut w, bundle).await;
    w.at("2025-03-05T09:00:00+08:00").await;
    assert!(w.ccpit.offers.refused() > 0, "the platform was down");
    let seen = view(&mut w, &id).await;
    assert_eq!(seen.status(), pb::ReferralStatus::AwaitingAcceptance);
    assert_eq!(seen.acceptance_deadline, None, "nothing runs yet");
    assert_eq!(
        seen.routed_at,
        crate::world::ts("2025-03-03T09:00:00+08:00")
    );
    assert_eq!(seen.offered_at, None);

    // The platform is back: the offer goes out on Wednesday and states its
    // deadline from then, the end of Monday 10 March.
    w.ccpit.offers.set_down(false);
    w.at("2025-03-05T10:00:00+08:00").await;
    let offers = w.ccpit.offers.all();
    assert_eq!(offers.len(), 1);
    let due = "2025-03-11T00:00:00+08:00"
        .parse::<jiff::Timestamp>()
        .unwrap();
    assert_eq!(offers[0].accept_by.unwrap().seconds, due.as_second());
    let seen = view(&mut w, &id).await;
    assert_eq!(
        seen.offered_at,
        crate::world::ts("2025-03-05T10:00:00+08:00")
    );
    assert_eq!(seen.acceptance_deadline.unwrap().due_date, "2025-03-10");

    // The court sees both instants: the routing, and the delivery with the
    // deadline it started.
    w.deliver().await;
    let notices = w.grpc_court.notices.all();
    let routing = |event: &str| {
        let notice = notices
            .iter()
            .find(|n| n.referral_id == id && n.event == event)
            .unwrap_or_else(|| panic!("no {event} notice"));
        let Some(pb::court_notice::Detail::Routed(routing)) = notice.detail.clone() else {
            panic!("{event} carries its routing: {notice:?}");
        };
        (notice.occurred_at, routing)
    };
    let (routed_at, routed) = routing("routed");
    assert_eq!(routed_at, crate::world::ts("2025-03-03T09:00:00+08:00"));
    assert_eq!(routed.acceptance_deadline, None);
    let (_, delivered) = routing("offer_delivered");
    assert_eq!(delivered.organisation, "ccpit-bj-01");
    assert_eq!(
        delivered.offered_at,
        crate::world::ts("2025-03-05T10:00:00+08:00")
    );
    assert_eq!(
        delivered.acceptance_deadline.unwrap().due_date,
        "2025-03-10"
    );

    // Past the end of Thursday, when a period from routing would have
    // ended: no breach. At the end of Monday: in breach.
    w.at("2025-03-07T00:00:01+08:00").await;
    assert_eq!(
        view(&mut w, &id).await.status(),
        pb::ReferralStatus::AwaitingAcceptance
    );
    assert!(
        !w.grpc_court
            .events_of(&id)
            .contains(&"acceptance_overdue".to_owned())
    );
    w.at("2025-03-11T00:00:01+08:00").await;
    assert!(
        w.grpc_court
            .events_of(&id)
            .contains(&"acceptance_overdue".to_owned())
    );
}

fn declined_by(id: &str, centre: &str) -> cp::DeclineCaseRequest {
    cp::DeclineCaseRequest {
        case_id: id.into(),
        mediation_centre: centre.into(),
        reason_code: "NO_CAPACITY".into(),
        explanation: "本月调解员已满负荷".into(),
    }
}

fn accepted_by(id: &str, centre: &str) -> cp::AcceptCaseRequest {
    cp::AcceptCaseRequest {
        case_id: id.into(),
        mediation_centre: centre.into(),
        mediator: "m-007".into(),
        centre_case_number: "CCPIT-BJ-2025-0100".into(),
    }
}

/// The withdrawals the CCPIT platform was sent for `id`: (cause, reason).
fn withdrawals(w: &World, id: &str) -> Vec<(String, String)> {
    w.ccpit
        .decisions
        .all()
        .into_iter()
        .filter(|d| d.case_id == id)
        .filter_map(|d| match d.decision {
            Some(cp::court_decision::Decision::Recall(r)) => Some((r.cause, r.reason)),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_court_reassigns_a_returned_referral_or_hands_it_back_to_routing() {
    // Online rules Art. 12; seed 000 §(十三): after a decline the referral
    // is the court's, and where it goes next is the court's decision. No
    // court lets the gateway pass referrals on by itself here.
    let mut w = World::start_with_overlay("[reassignment]\ncourts = []\n").await;
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "RE-COURT".into();
    let id = submit(&mut w, bundle).await;
    w.deliver().await;
    w.ccpit_api
        .decline_case(declined_by(&id, "ccpit-bj-01"))
        .await
        .unwrap();
    assert_eq!(
        view(&mut w, &id).await.status(),
        pb::ReferralStatus::ReturnedToCourt
    );
    let reassign = |organisation: &str| pb::ReassignReferralRequest {
        referral_id: id.clone(),
        court: "京0105".into(),
        organisation: organisation.into(),
        reason: "当事人同意由其他调解组织调解".into(),
    };

    // A centre on no roster serving 京0105 is refused by name; nothing changes.
    let before = w.written();
    let err = w
        .court_api
        .reassign_referral(reassign("ccpit-sh-01"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
    assert_eq!(crate::field_paths::named_fields(&err), ["organisation"]);
    assert!(
        err.message().contains("not on the roster of court 京0105"),
        "{err:?}"
    );
    // Another court system's referral does not exist for it.
    let err = w
        .sh_court_api
        .reroute_referral(pb::RerouteReferralRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound);
    assert_eq!(w.written(), before);

    // Handed back to routing: the next eligible centre, not the one that
    // declined.
    let rerouted = w
        .court_api
        .reroute_referral(pb::RerouteReferralRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            reason: "请另行指定调解组织".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rerouted.status(), pb::ReferralStatus::AwaitingAcceptance);
    assert_eq!(rerouted.organisation, "ccpit-bj-02");
    w.deliver().await;
    let offers = w.ccpit.offers.all();
    assert_eq!(offers.last().unwrap().mediation_centre, "ccpit-bj-02");

    // While ccpit-bj-02 considers it, the court gives it back to ccpit-bj-01
    // after all: ccpit-bj-02 is told the case is withdrawn, and loses it.
    let reassigned = w
        .court_api
        .reassign_referral(reassign("ccpit-bj-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reassigned.organisation, "ccpit-bj-01");
    w.deliver().await;
    // ccpit-bj-01's decline was confirmed with a deletion notice; now
    // ccpit-bj-02 is told it lost the case.
    let withdrawn = withdrawals(&w, &id);
    assert_eq!(withdrawn.len(), 2, "{withdrawn:?}");
    assert_eq!(withdrawn[0].0, "DECLINED");
    assert!(withdrawn[0].1.contains("ccpit-bj-01"), "{withdrawn:?}");
    assert!(withdrawn[0].1.contains("delete"), "{withdrawn:?}");
    assert_eq!(withdrawn[1].0, "REASSIGNED");
    assert!(withdrawn[1].1.contains("ccpit-bj-02"), "{withdrawn:?}");
    let err = w
        .ccpit_api
        .accept_case(accepted_by(&id, "ccpit-bj-02"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "it sees nothing more");
    w.ccpit_api
        .accept_case(accepted_by(&id, "ccpit-bj-01"))
        .await
        .unwrap();
    // The particulars: the centre that lost the case can never read them,
    // the one that accepted it can.
    let particulars = |centre: &str| cp::GetCaseParticularsRequest {
        case_id: id.clone(),
        mediation_centre: centre.into(),
    };
    let err = w
        .ccpit_api
        .get_case_particulars(particulars("ccpit-bj-02"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::NotFound, "{err:?}");
    let full = w
        .ccpit_api
        .get_case_particulars(particulars("ccpit-bj-01"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.disclosure(), cp::Disclosure::Full);
    assert_eq!(full.mediation_centre, "ccpit-bj-01");
    w.deliver().await;
    // The court was told who held the case at each step.
    let events = w.grpc_court.events_of(&id);
    assert_eq!(
        events,
        [
            "routed",
            "offer_delivered",
            "declined",
            "returned_to_court",
            "routed",
            "offer_delivered",
            "routed",
            "offer_delivered",
            "accepted"
        ]
    );

    // Once an organisation mediates, the court dockets the case instead.
    let err = w
        .court_api
        .reroute_referral(pb::RerouteReferralRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            reason: "x".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::FailedPrecondition, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_centre_that_lets_the_time_pass_is_told_the_case_is_withdrawn() {
    let mut w = World::start().await;
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "RE-LAPSE".into();
    let id = submit(&mut w, bundle).await;
    w.deliver().await;
    // Delivered Monday 3 March: the three working days end on Thursday.
    w.at("2025-03-07T00:00:01+08:00").await;
    let withdrawn = withdrawals(&w, &id);
    assert_eq!(withdrawn.len(), 1, "{withdrawn:?}");
    assert_eq!(withdrawn[0].0, "ACCEPTANCE_LAPSED");
    assert!(withdrawn[0].1.contains("ccpit-bj-01"), "{withdrawn:?}");
    assert!(withdrawn[0].1.contains("delete"), "{withdrawn:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_the_court_names_is_offered_the_case_or_it_comes_back() {
    let mut w = World::start().await;
    let mut named = bundle_to_wire(&sample_bundle());
    named.documents.clear();
    named.court_referral_id = "RE-NAMED".into();
    // The parties preferred the first centre; the court names the second.
    named.preferred_organisation = "ccpit-bj-01".into();
    named.designated_organisation = "ccpit-bj-02".into();
    let id = submit(&mut w, named.clone()).await;
    assert_eq!(view(&mut w, &id).await.organisation, "ccpit-bj-02");
    // A centre that cannot take it: back to the court, not elsewhere.
    named.court_referral_id = "RE-NAMED-SH".into();
    named.designated_organisation = "ccpit-sh-01".into();
    let id = submit(&mut w, named).await;
    let seen = view(&mut w, &id).await;
    assert_eq!(seen.status(), pb::ReferralStatus::ReturnedToCourt);
    w.deliver().await;
    let returned = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.referral_id == id && n.event == "returned_to_court")
        .unwrap();
    let Some(pb::court_notice::Detail::Returned(why)) = returned.detail else {
        panic!("a return says why");
    };
    assert!(
        why.explanation.contains("the court named ccpit-sh-01"),
        "{}",
        why.explanation
    );
}
