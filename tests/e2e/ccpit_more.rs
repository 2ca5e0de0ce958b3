//! CCPIT cases beyond the main flow: an acceptance deadline missed twice, so
//! the case is re-routed and then goes back to the court; and a settlement a
//! centre reached on a dispute it took directly, filed with a court that
//! takes notices by webhook.

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use tonic::Code;

use crate::field_paths::named_fields;
use crate::world::{World, settlement_parties, ts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_acceptance_deadline_reroutes_then_returns_to_the_court() {
    let mut w = World::start().await;
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
    assert_eq!(w.ccpit.offers.all()[0].mediation_centre, "ccpit-bj-01");

    // Routed Monday 3 March: three working days end on Thursday 6 March. The
    // warning comes a working day ahead; the breach just after midnight.
    w.at("2025-03-06T00:00:01+08:00").await;
    w.at("2025-03-07T00:00:01+08:00").await;
    let offers = w.ccpit.offers.all();
    assert_eq!(offers.len(), 2, "offered to the next centre");
    assert_eq!(offers[1].mediation_centre, "ccpit-bj-02");
    assert!(
        offers[1].routing_reasons.iter().any(|r| !r.is_empty()),
        "the new offer says why"
    );
    // The centre that let the deadline pass cannot accept any more.
    let err = w
        .ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Re-routed on Friday 7 March: Monday to Wednesday are its three days.
    assert_eq!(
        offers[1].accept_by.unwrap().seconds,
        "2025-03-13T00:00:00+08:00"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second()
    );
    // The second centre is silent too; no one is left, so the court has it
    // back with the reason.
    w.at("2025-03-12T23:59:59+08:00").await;
    assert!(
        !w.grpc_court
            .events_of(&id)
            .contains(&"returned_to_court".to_owned())
    );
    w.at("2025-03-13T00:00:01+08:00").await;
    let events = w.grpc_court.events_of(&id);
    assert_eq!(
        events.iter().filter(|e| *e == "acceptance_overdue").count(),
        2,
        "{events:?}"
    );
    assert_eq!(events.last().map(String::as_str), Some("returned_to_court"));
    let got = w
        .court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status(), pb::ReferralStatus::ReturnedToCourt);
    let last: Vec<&str> = got
        .timeline
        .iter()
        .rev()
        .take(2)
        .map(|e| e.event.as_str())
        .collect();
    // Back with the court, which now decides what follows.
    assert_eq!(last, ["court_decision_awaited", "returned_to_court"]);
}

fn participant(
    reference: &str,
    name: &str,
    enterprise: bool,
    doc: (&str, &str),
) -> cp::Participant {
    cp::Participant {
        reference: reference.into(),
        name: name.into(),
        enterprise,
        document_type: doc.0.into(),
        document_number: doc.1.into(),
        foreign: false,
        contact: "13800000000".into(),
        address_for_service: "上海市浦东新区某路1号".into(),
        region: "上海市浦东新区".into(),
    }
}

pub(crate) fn intake() -> cp::FileDirectIntakeRequest {
    let signed = ts("2025-03-10T15:00:00+08:00");
    let sign = |t: &str, who: &str| cp::Signature {
        signer_type: t.into(),
        signer: who.into(),
        signed_at: signed,
    };
    cp::FileDirectIntakeRequest {
        mediation_centre: "ccpit-sh-01".into(),
        intake_reference: "SH-2025-0077".into(),
        court: "沪0115".into(),
        cause_of_action: "国际货物买卖合同纠纷".into(),
        applicants: vec![participant(
            "P1",
            "张三",
            false,
            ("ID_CARD", "11010519491231002X"),
        )],
        respondents: vec![participant(
            "P2",
            "某贸易有限公司",
            true,
            ("USCC", "91350100M000100Y43"),
        )],
        amount_in_dispute: Some(cp::Money {
            amount: "50000.00".into(),
            currency: "CNY".into(),
        }),
        claims: vec!["支付货款".into()],
        mediation_agreed_at: ts("2025-03-01T10:00:00+08:00"),
        settlement: Some(cp::SubmitSettlementRequest {
            parties: settlement_parties(),
            disputed_matters: "货款支付".into(),
            terms: vec!["被申请人于2025年4月30日前支付货款45000元".into()],
            performance_method: "银行转账".into(),
            perform_by: "2025-04-30".into(),
            signatures: vec![
                sign("CENTRE", "ccpit-sh-01"),
                sign("MEDIATOR", "m-301"),
                sign("PARTY", "P1"),
                sign("PARTY", "P2"),
            ],
            ..Default::default()
        }),
        mediator: "m-301".into(),
        applied_at: ts("2025-03-11T09:00:00+08:00"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directly_taken_settlement_is_filed_with_a_webhook_court_and_ruled_on() {
    let mut w = World::start().await;
    // A respondent's identity that fails its check is named by request path.
    let mut bad = intake();
    bad.respondents[0].document_number = "91350100M000100Y44".into();
    bad.settlement.as_mut().unwrap().signatures.pop();
    let err = w.ccpit_api.file_direct_intake(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = named_fields(&err);
    assert_eq!(fields, ["respondents[0].document_number"], "{err:?}");

    // The centre files on 11 March, the day after the settlement was signed:
    // the gateway's receipt is the application's instant.
    w.clock.set("2025-03-11T09:00:00+08:00".parse().unwrap());
    // The court system is briefly unavailable: the first two calls fail.
    w.webhook_court.calls.fail_next(2);
    let state = w
        .ccpit_api
        .file_direct_intake(intake())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "confirmation_requested");
    // Filing the same application again is the same case.
    let again = w
        .ccpit_api
        .file_direct_intake(intake())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.case_id, state.case_id);

    w.deliver().await;
    w.advance(jiff::SignedDuration::from_mins(5));
    w.deliver().await;
    w.advance(jiff::SignedDuration::from_mins(5));
    w.deliver().await;
    let calls = w.webhook_court.calls.all();
    let events: Vec<&str> = calls.iter().map(|c| c.notice.event.as_str()).collect();
    assert_eq!(
        events,
        [
            "taken_directly",
            "agreement_reached",
            "confirmation_applied"
        ]
    );
    // The court sees the whole case on the first notice, and every notice
    // carries its id as the idempotency key.
    // The body is the gRPC notice in proto3 JSON: camelCase names, enums by
    // name, and the same bundle message a gRPC court gets.
    let first = &calls[0].body;
    assert_eq!(first["referralId"], state.case_id.as_str());
    assert_eq!(first["bundle"]["court"], "沪0115");
    assert_eq!(first["bundle"]["kind"], "REFERRAL_KIND_DIRECT_INTAKE");
    let bundle = calls[0].notice.bundle.as_ref().unwrap();
    assert_eq!(bundle.court, "沪0115");
    assert!(!bundle.parties.is_empty());
    for call in &calls {
        assert_eq!(call.idempotency_key, call.notice.message_id);
        assert_eq!(call.body["messageId"], call.notice.message_id.as_str());
    }
    let Some(pb::court_notice::Detail::ConfirmationApplication(application)) =
        &calls[2].notice.detail
    else {
        panic!(
            "the last notice carries the application: {:?}",
            calls[2].notice
        );
    };
    assert!(!application.applicants.is_empty());

    // The court rules; the centre is told.
    w.sh_court_api
        .record_ruling(pb::RecordRulingRequest {
            referral_id: state.case_id.clone(),
            court: "沪0115".into(),
            outcome: pb::RulingOutcome::Confirmed.into(),
            case_number: "（2025）沪0115民特5号".into(),
            reasons: String::new(),
            ruled_at: ts("2025-03-20T10:00:00+08:00"),
        })
        .await
        .unwrap();
    w.deliver().await;
    let decisions = w.ccpit.decisions.all();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].case_id, state.case_id);
    // No offer was ever made for it.
    assert!(w.ccpit.offers.all().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_roster_reloads_and_a_bad_one_is_refused_keeping_the_old() {
    let mut w = World::start().await;
    let roster = w.assembly.config().roster.clone();
    let original = std::fs::read_to_string(&roster).unwrap();
    // Take the first Beijing centre off the roster.
    let without = original.replacen("id = \"ccpit-bj-01\"", "id = \"ccpit-bj-09\"", 1);
    std::fs::write(&roster, &without).unwrap();
    w.assembly.reload().unwrap();
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "RELOAD-1".into();
    w.court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle.clone()),
        })
        .await
        .unwrap();
    w.deliver().await;
    assert_ne!(w.ccpit.offers.all()[0].mediation_centre, "ccpit-bj-01");

    // A roster that does not parse is refused and the one in use stays.
    std::fs::write(&roster, "[[organisation]]\nid = \"\"\n").unwrap();
    let err = w.assembly.reload().unwrap_err();
    assert!(format!("{err:#}").contains("roster.toml"), "{err:#}");
    bundle.court_referral_id = "RELOAD-2".into();
    let submitted = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status(), pb::ReferralStatus::AwaitingAcceptance);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_notice_loaded_on_reload_makes_a_provisional_deadline_certain() {
    let mut w = World::start().await;
    // Referred on Wednesday 30 December 2026: the three working days reach
    // into 2027, which has no notice yet.
    w.at("2026-12-30T09:00:00+08:00").await;
    // A fresh token for the new date.
    w.court_api = CourtGatewayClient::new(w.connect_as("court-bj").await);
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.documents.clear();
    bundle.court_referral_id = "NEW-YEAR-1".into();
    let submitted = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner();
    let id = submitted.referral_id.clone();
    // The offer reaches the platform the same day: its period starts.
    w.deliver().await;
    let deadline = |r: &pb::GetReferralResponse| {
        let d = r.acceptance_deadline.clone().unwrap();
        (d.due_date, d.provisional)
    };
    let read = || async {
        w.court_api
            .clone()
            .get_referral(pb::GetReferralRequest {
                referral_id: id.clone(),
            })
            .await
            .unwrap()
            .into_inner()
    };
    assert_eq!(deadline(&read().await), ("2027-01-05".to_owned(), true));

    // Nothing in the calendar changed: no recomputation.
    assert!(w.assembly.reload().unwrap().recompute.is_none());

    // The 2027 notice is installed and the gateway told to reload.
    let dir = &w.assembly.config().calendar_dir;
    std::fs::write(
        dir.join("2027.toml"),
        "year = 2027\nsource = \"test notice\"\n\n[[holidays]]\nname = \"元旦\"\n\
         first = \"2027-01-01\"\nlast = \"2027-01-05\"\n",
    )
    .unwrap();
    let report = w
        .assembly
        .reload()
        .unwrap()
        .recompute
        .expect("a new notice recomputes")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((report.considered, report.changed), (1, 1), "{report:?}");
    assert_eq!(report.still_provisional, 0);
    let now = read().await;
    assert_eq!(deadline(&now), ("2027-01-07".to_owned(), false));
    // The court reads it in the timeline; it is not pushed to anyone.
    assert_eq!(
        now.timeline.last().map(|e| e.event.as_str()),
        Some("deadline_recomputed")
    );
    // The breach now falls after the new day, not the guessed one.
    w.at("2027-01-06T00:00:01+08:00").await;
    assert_eq!(w.grpc_court.events_of(&id), ["routed", "offer_delivered"]);
    w.at("2027-01-08T00:00:01+08:00").await;
    assert!(
        w.grpc_court
            .events_of(&id)
            .contains(&"acceptance_overdue".to_owned())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_intake_names_its_bad_fields_and_its_bundle_rules_in_one_answer() {
    let w = World::start().await;
    let mut bad = intake();
    // A bad field...
    bad.mediator = String::new();
    // ...and a rule across fields: the respondent reuses the applicant's
    // reference.
    bad.respondents[0].reference = "P1".into();
    let err = w
        .ccpit_api
        .clone()
        .file_direct_intake(bad)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let fields = named_fields(&err);
    assert!(fields.contains(&"mediator".to_owned()), "{fields:?}");
    assert!(
        fields.contains(&"respondents[0].reference".to_owned()),
        "{fields:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_is_cross_border_by_the_courts_word_a_partys_residence_or_the_subject_matter() {
    // The elements courts use for a foreign-related case (SPC interpretation
    // of the CPL, Art. 520): not only a party's document. The case's language
    // and any need for an interpreter travel with the offer.
    let mut w = World::start().await;
    let mut plain = bundle_to_wire(&sample_bundle());
    plain.documents.clear();
    type Change = fn(&mut pb::CaseBundle);
    let variants: [(&str, Change); 4] = [
        ("XB-PLAIN", |_| {}),
        ("XB-STATED", |b| b.cross_border = true),
        ("XB-RESIDES", |b| b.parties[1].resides_abroad = true),
        ("XB-ABROAD", |b| b.subject_matter_abroad = true),
    ];
    for (reference, change) in &variants {
        let mut bundle = plain.clone();
        bundle.court_referral_id = (*reference).into();
        change(&mut bundle);
        if *reference == "XB-RESIDES" {
            bundle.language = "en".into();
            bundle.interpreter_needed = true;
        }
        w.court_api
            .submit_referral(pb::SubmitReferralRequest {
                bundle: Some(bundle),
            })
            .await
            .unwrap();
    }
    w.deliver().await;
    let offers = w.ccpit.offers.all();
    let offer = |reference: &str| {
        offers
            .iter()
            .find(|o| o.court_reference == reference)
            .unwrap_or_else(|| panic!("no offer for {reference}"))
    };
    assert!(!offer("XB-PLAIN").cross_border);
    assert!(offer("XB-STATED").cross_border);
    assert!(offer("XB-ABROAD").cross_border);
    let resides = offer("XB-RESIDES");
    assert!(resides.cross_border);
    assert!(resides.respondents[0].foreign, "the party is marked too");
    assert_eq!(resides.language, "en");
    assert!(resides.interpreter_needed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_offer_and_each_decline_moves_the_organisations_load_at_once() {
    // Routing weighs an organisation's spare capacity: every referral it is
    // offered takes one, every one it gives up frees one, as each command
    // commits, not only when the gateway restarts.
    let w = World::start().await;
    let submit = |n: u32| {
        let mut api = w.court_api.clone();
        async move {
            let mut bundle = bundle_to_wire(&sample_bundle());
            bundle.documents.clear();
            bundle.court_referral_id = format!("LOAD-{n}");
            api.submit_referral(pb::SubmitReferralRequest {
                bundle: Some(bundle),
            })
            .await
            .unwrap()
            .into_inner()
            .referral_id
        }
    };
    let spare = |w: &World| -> Vec<String> {
        w.ccpit
            .offers
            .all()
            .iter()
            .map(|o| {
                o.routing_reasons
                    .iter()
                    .find(|r| r.starts_with("spare capacity"))
                    .cloned()
                    .unwrap_or_default()
            })
            .collect()
    };
    let first = submit(1).await;
    submit(2).await;
    submit(3).await;
    w.deliver().await;
    // Lanes are delivered in no fixed order among themselves.
    let mut seen = spare(&w);
    seen.sort();
    assert_eq!(
        seen,
        [
            "spare capacity 48 of 50",
            "spare capacity 49 of 50",
            "spare capacity 50 of 50"
        ]
    );
    w.ccpit_api
        .clone()
        .decline_case(cp::DeclineCaseRequest {
            case_id: first,
            mediation_centre: "ccpit-bj-01".into(),
            reason_code: "NO_CAPACITY".into(),
            explanation: "本月案件已满".into(),
        })
        .await
        .unwrap();
    submit(4).await;
    w.deliver().await;
    let offers = w.ccpit.offers.all();
    let fourth = offers
        .iter()
        .find(|o| o.court_reference == "LOAD-4")
        .unwrap();
    assert!(
        fourth
            .routing_reasons
            .contains(&"spare capacity 48 of 50".to_owned()),
        "the decline freed one: {:?}",
        fourth.routing_reasons
    );
}

/// The platform's acknowledgement of an offer starts the acceptance period
/// (online rules Art. 12); the commit that records it also records the
/// offer delivered, so an offer costs one durable write after it is sent,
/// not two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offers_receipt_and_its_delivery_are_one_write() {
    let w = World::start().await;
    let store = w.assembly.gateway.store().sled().unwrap().clone();
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.court_referral_id = "one-write-offer".into();
    for (i, d) in bundle.documents.iter_mut().enumerate() {
        d.url = format!("https://court-bj.example/files/{i}");
    }
    let id = w
        .court_api
        .clone()
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    let before = store.operations_sent();
    w.deliver().await;
    assert_eq!(w.grpc_court.events_of(&id), ["routed", "offer_delivered"]);
    assert_eq!(
        store.operations_sent() - before,
        3,
        "the offer's receipt with its delivery, and the court's two notices"
    );
    let id: mediation_core::ids::ReferralId = id.parse().unwrap();
    assert!(
        mediation_core::store::OutboxStore::pending_messages(&store, &id)
            .await
            .unwrap()
            .is_empty(),
        "nothing left to deliver"
    );
}
