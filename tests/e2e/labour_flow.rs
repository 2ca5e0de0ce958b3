//! A labour dispute on the labour platform: referred in the platform's own
//! terms, accepted, paused for an appraisal, extended by both sides, and then
//! overdue; a failure report; and the platform down for a while.

use jiff::SignedDuration;
use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::labour_bundle;
use mediation_proto::court::v1 as pb;
use mediation_proto::labour::v1 as lp;
use tonic::Code;

use crate::field_paths::named_fields;
use crate::world::{LabourMessage, World, ts};

async fn refer(w: &mut World, court_referral_id: &str) -> String {
    let mut bundle = bundle_to_wire(&labour_bundle());
    bundle.court_referral_id = court_referral_id.into();
    bundle.documents.clear();
    let submitted = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status(), pb::ReferralStatus::AwaitingAcceptance);
    submitted.referral_id
}

fn accept(dispute: &str) -> lp::AcceptDisputeRequest {
    lp::AcceptDisputeRequest {
        dispute_id: dispute.into(),
        committee: "labour-bj-cy".into(),
        mediator: "m-101".into(),
        file_number: "朝劳调〔2025〕18号".into(),
    }
}

fn progress(dispute: &str, p: lp::report_progress_request::Progress) -> lp::ReportProgressRequest {
    lp::ReportProgressRequest {
        dispute_id: dispute.into(),
        committee: "labour-bj-cy".into(),
        progress: Some(p),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appraisal_and_an_agreed_extension_move_the_deadline_then_it_is_breached() {
    use lp::report_progress_request::Progress;
    // Three days of grace after the limit: a failure reported in them counts.
    let mut w =
        World::start_with_overlay("[mediation_days.labour_arbitration]\ngrace_days = 3\n").await;
    let id = refer(&mut w, "LAB-1").await;
    w.deliver().await;

    // The platform hears the dispute in its own terms.
    let received = w.labour.messages.all();
    let [LabourMessage::Referral(r)] = received.as_slice() else {
        panic!("expected one referral, got {received:?}")
    };
    assert_eq!(r.dispute_id, id);
    assert_eq!(r.committee, "labour-bj-cy");
    assert_eq!(r.court_stage(), lp::CourtStage::PreLitigation);
    assert_eq!(r.employer.as_ref().unwrap().name, "某贸易有限公司");
    // The referral leaves out identity numbers and the terms of
    // employment (PIPL Art. 6); the committee reads them once it accepts.
    assert_eq!(r.disclosure(), lp::Disclosure::Offer);
    assert!(r.worker.as_ref().unwrap().id_number.is_empty());
    assert!(r.employment.is_none());
    assert_eq!(
        r.arbitration_committee,
        "北京市朝阳区劳动人事争议仲裁委员会"
    );
    let kinds: Vec<_> = r.claim_items.iter().map(|c| c.kind()).collect();
    assert_eq!(
        kinds,
        [lp::ClaimKind::UnpaidWages, lp::ClaimKind::Severance]
    );

    // Accepted on Monday 3 March: 30 days, to Wednesday 2 April.
    let state = w
        .labour_api
        .accept_dispute(accept(&id))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.mediate_by, "2025-04-02");
    let full = w
        .labour_api
        .get_dispute_particulars(lp::GetDisputeParticularsRequest {
            dispute_id: id.clone(),
            committee: "labour-bj-cy".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.disclosure(), lp::Disclosure::Full);
    assert_eq!(
        full.worker.as_ref().unwrap().id_number,
        "11010519491231002X"
    );
    assert_eq!(full.employment.as_ref().unwrap().monthly_wage, "8000.00");

    // A work-capacity appraisal from 10 to 20 March stops the clock.
    w.at("2025-03-10T10:00:00+08:00").await;
    let state = w
        .labour_api
        .report_progress(progress(
            &id,
            Progress::AppraisalStarted("劳动能力鉴定".into()),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "suspended_for_appraisal");
    w.at("2025-03-20T10:00:00+08:00").await;
    let state = w
        .labour_api
        .report_progress(progress(&id, Progress::AppraisalEnded(true)))
        .await
        .unwrap()
        .into_inner();
    assert!(
        state.mediate_by.as_str() > "2025-04-02",
        "the appraisal's days do not count: {}",
        state.mediate_by
    );

    // A day that is not a day is refused, naming the field.
    let err = w
        .labour_api
        .report_progress(progress(&id, Progress::ExtendedUntil("30 April".into())))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(named_fields(&err), ["extended_until"], "{err:?}");

    // Both sides agree to go on until 30 April. As docs/deadlines.md says,
    // an extension to a day ends on that day: the ten appraisal days were
    // taken before the agreement, which allows for them, and 30 April is a
    // working day, so CPL Art. 85 does not move it.
    let state = w
        .labour_api
        .report_progress(progress(&id, Progress::ExtendedUntil("2025-04-30".into())))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.mediate_by, "2025-04-30");

    // Nothing is overdue on the last day; just after it, it is.
    w.at("2025-04-30T23:00:00+08:00").await;
    assert!(
        !w.grpc_court
            .events_of(&id)
            .contains(&"mediation_overdue".to_owned())
    );
    w.at("2025-05-01T00:00:01+08:00").await;
    assert_eq!(
        w.grpc_court.events_of(&id),
        [
            "routed",
            "offer_delivered",
            "accepted",
            "appraisal_started",
            // Fifteen days after acceptance (LDMAL Art. 14), during the
            // appraisal: the 15 days are not paused by it.
            "arbitration_available",
            "appraisal_ended",
            "extended",
            "mediation_overdue"
        ]
    );
    let got = w
        .court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got.status(), pb::ReferralStatus::MediationOverdue);

    // Within the grace an overdue mediation may still end: here, in failure.
    let state = w
        .labour_api
        .report_mediation_failure(lp::ReportMediationFailureRequest {
            dispute_id: id.clone(),
            committee: "labour-bj-cy".into(),
            course: "组织双方调解三次".into(),
            reasons: "对经济补偿金数额分歧较大".into(),
            undisputed_facts: vec!["劳动者于2022年3月1日入职".into()],
            notes_for_court: String::new(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "mediation_failed");
    w.deliver().await;
    let notices = w.grpc_court.notices.all();
    let failure = notices
        .iter()
        .find(|n| n.event == "mediation_failed")
        .unwrap();
    assert!(failure.detail_json.contains("对经济补偿金数额分歧较大"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_down_for_a_while_then_receives_everything_in_order_once() {
    let mut w = World::start().await;
    w.labour.messages.set_down(true);
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(refer(&mut w, &format!("LAB-DOWN-{i}")).await);
    }
    // The court withdraws the first while the platform is down: its lane then
    // holds the referral and the withdrawal, in that order. The referral is
    // no longer the committee's to have, so it is never sent; the
    // withdrawal is (PIPL Art. 6).
    w.court_api
        .recall_referral(pb::RecallReferralRequest {
            referral_id: ids[0].clone(),
            court: "京0105".into(),
            reason: "当事人已自行和解".into(),
        })
        .await
        .unwrap();
    for _ in 0..3 {
        w.deliver().await;
        w.advance(SignedDuration::from_mins(10));
    }
    assert!(w.labour.messages.refused() >= 3);
    assert!(w.labour.messages.all().is_empty());

    w.labour.messages.set_down(false);
    w.advance(SignedDuration::from_hours(1));
    w.deliver().await;
    let received = w.labour.messages.all();
    let seen: Vec<(String, &str)> = received
        .iter()
        .map(|m| match m {
            LabourMessage::Referral(r) => (r.dispute_id.clone(), "referral"),
            LabourMessage::Decision(d) => (d.dispute_id.clone(), "withdrawal"),
        })
        .collect();
    assert_eq!(seen.len(), 3, "each message once: {seen:?}");
    let first: Vec<&str> = seen
        .iter()
        .filter(|(id, _)| id == &ids[0])
        .map(|(_, what)| *what)
        .collect();
    assert_eq!(first, ["withdrawal"]);
    for id in &ids[1..] {
        assert_eq!(seen.iter().filter(|(d, _)| d == id).count(), 1);
    }
    // Delivering again sends nothing more.
    w.advance(SignedDuration::from_hours(1));
    w.deliver().await;
    assert_eq!(w.labour.messages.all().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labour_agreement_is_signed_by_both_sides_and_filed_for_confirmation() {
    let mut w = World::start().await;
    let id = refer(&mut w, "LAB-AGREE").await;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    let signed = ts("2025-03-12T15:00:00+08:00");
    // Submitted once they signed: a signature dated later than now is not one.
    w.at("2025-03-12T16:00:00+08:00").await;
    let mut agreement = lp::SubmitMediationAgreementRequest {
        dispute_id: id.clone(),
        committee: "labour-bj-cy".into(),
        payments: vec![lp::Payment {
            kind: lp::ClaimKind::UnpaidWages.into(),
            amount: "12000.00".into(),
        }],
        other_terms: vec!["用人单位出具解除劳动合同证明".into()],
        payment_method: "银行转账".into(),
        pay_by: "2025-03-31".into(),
        employer_signed_at: signed,
        worker_signed_at: None,
        mediator: "m-101".into(),
        mediator_signed_at: signed,
        committee_sealed_at: signed,
        files: vec![],
        ..Default::default()
    };
    let err = w
        .labour_api
        .submit_mediation_agreement(agreement.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(named_fields(&err), ["worker_signed_at"], "{err:?}");
    agreement.worker_signed_at = signed;
    let state = w
        .labour_api
        .submit_mediation_agreement(agreement)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "agreed");
    // Both sides apply on 13 March; the gateway's receipt is the instant.
    w.clock.set("2025-03-13T10:00:00+08:00".parse().unwrap());
    let state = w
        .labour_api
        .apply_for_confirmation(lp::ApplyForConfirmationRequest {
            dispute_id: id.clone(),
            committee: "labour-bj-cy".into(),
            applied_at: ts("2025-03-13T10:00:00+08:00"),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "confirmation_requested");
    w.deliver().await;
    let notices = w.grpc_court.notices.all();
    let agreed = notices
        .iter()
        .find(|n| n.event == "agreement_reached")
        .unwrap();
    assert!(
        agreed
            .detail_json
            .contains("用人单位向劳动者支付拖欠工资12000.00元"),
        "{}",
        agreed.detail_json
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_limit_mediation_ends_and_the_court_has_the_case_back() {
    // Online rules Art. 25: with no agreement and no extension by the limit,
    // mediation ends and the court dockets the case. No grace is the default.
    let mut w = World::start().await;
    let id = refer(&mut w, "LAB-END").await;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    // Accepted Monday 3 March 2025: 30 days, to Wednesday 2 April.
    w.at("2025-04-03T00:00:01+08:00").await;
    // The committee accepted before the offer's acknowledgement came back:
    // it had the case, and nothing started twice.
    assert_eq!(
        w.grpc_court.events_of(&id),
        [
            "routed",
            "accepted",
            "arbitration_available",
            "mediation_overdue",
            "returned_to_court"
        ]
    );
    let returned = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.event == "returned_to_court")
        .unwrap();
    let Some(pb::court_notice::Detail::Returned(why)) = returned.detail else {
        panic!("a return says why: {returned:?}");
    };
    assert_eq!(why.reason, "mediation_ended");
    // A late report no longer counts.
    let err = w
        .labour_api
        .report_mediation_failure(lp::ReportMediationFailureRequest {
            dispute_id: id.clone(),
            committee: "labour-bj-cy".into(),
            course: "组织双方调解三次".into(),
            reasons: "分歧较大".into(),
            undisputed_facts: vec![],
            notes_for_court: String::new(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_appraisal_is_shown_to_the_court_and_flagged_to_operators_once() {
    // Appraisal days do not count against the limit (online rules Art. 26),
    // so a pause that drags on is the one stall no deadline catches. The
    // court sees the pause and its reason; at 30 days operators are warned
    // and the court is told, once.
    use lp::report_progress_request::Progress;
    let mut w = World::start().await;
    let id = refer(&mut w, "LAB-LONG").await;
    w.deliver().await;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    w.at("2025-03-10T10:00:00+08:00").await;
    w.labour_api
        .report_progress(progress(
            &id,
            Progress::AppraisalStarted("伤残等级鉴定".into()),
        ))
        .await
        .unwrap();
    let seen = w
        .court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let pause = seen.appraisal.expect("the court sees the pause");
    assert_eq!(pause.since, "2025-03-10");
    assert_eq!(pause.note, "伤残等级鉴定");
    assert_eq!(
        pause.review_at,
        crate::world::ts("2025-04-10T00:00:00+08:00")
    );

    let overlong = |w: &World| {
        w.assembly
            .gateway
            .store()
            .sled()
            .unwrap()
            .alerts_after(0, 100)
            .unwrap()
            .into_iter()
            .filter(|a| a.record.kind == mediation_core::alert::AlertKind::AppraisalOverlong)
            .count()
    };
    w.at("2025-04-09T23:59:59+08:00").await;
    assert_eq!(overlong(&w), 0);
    w.at("2025-04-10T00:00:01+08:00").await;
    w.at("2025-04-20T00:00:01+08:00").await;
    assert_eq!(overlong(&w), 1, "raised once");
    let events = w.grpc_court.events_of(&id);
    assert_eq!(
        events.iter().filter(|e| *e == "appraisal_overlong").count(),
        1,
        "{events:?}"
    );
    // Still paused: no mediation breach while the appraisal runs.
    assert!(
        !events.contains(&"mediation_overdue".to_owned()),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committee_extends_by_days_naming_every_party_who_agreed() {
    // The limit may be extended with every party's consent (online rules
    // Art. 24): the committee names them, and may give the days rather
    // than the day.
    use lp::report_progress_request::Progress;
    let mut w = World::start().await;
    let id = refer(&mut w, "LAB-EXT").await;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    let extension = |until: &str, days: u32, agreed: &[&str]| {
        progress(
            &id,
            Progress::Extension(lp::Extension {
                until: until.into(),
                days,
                agreed_by: agreed.iter().map(|p| (*p).to_owned()).collect(),
            }),
        )
    };
    let before = w.written();
    for (request, field) in [
        (extension("", 10, &["P1"]), "extension.agreed_by"),
        (extension("2025-04-20", 10, &["P1", "P2"]), "extension.days"),
        (extension("", 400, &["P1", "P2"]), "extension.days"),
        (extension("", 0, &["P1", "P2"]), "extension.until"),
    ] {
        let err = w.labour_api.report_progress(request).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        let named = crate::field_paths::named_fields(&err);
        assert!(named.iter().any(|f| f == field), "{field} not in {named:?}");
    }
    assert_eq!(w.written(), before, "a refused extension writes nothing");
    // Accepted Monday 3 March: 30 days end on Wednesday 2 April; ten more
    // reach Saturday 12 April, a rest day, so Monday 14 April (CPL Art. 85).
    let state = w
        .labour_api
        .report_progress(extension("", 10, &["P1", "P2"]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.mediate_by, "2025-04-14");
    w.deliver().await;
    let extended = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.referral_id == id && n.event == "extended")
        .unwrap();
    let Some(pb::court_notice::Detail::Progress(p)) = extended.detail else {
        panic!("an extension carries its progress");
    };
    assert!(p.note.contains("with the consent of P1, P2"), "{}", p.note);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_days_without_an_agreement_open_arbitration_and_everyone_is_told_once() {
    // Labour Dispute Mediation and Arbitration Law Art. 14: no agreement 15
    // days after the committee took the dispute, and the parties may apply
    // for arbitration. Mediation itself may go on to its own limit.
    let mut w = World::start().await;
    let id = refer(&mut w, "LAB-15").await;
    w.deliver().await;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    // Accepted Monday 3 March 2025: the fifteenth day is Tuesday 18 March.
    w.at("2025-03-18T23:59:59+08:00").await;
    assert!(
        !w.grpc_court
            .events_of(&id)
            .contains(&"arbitration_available".to_owned())
    );
    w.at("2025-03-19T00:00:01+08:00").await;
    w.at("2025-03-25T00:00:01+08:00").await;
    let events = w.grpc_court.events_of(&id);
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "arbitration_available")
            .count(),
        1,
        "{events:?}"
    );
    let opened = w.labour.messages.all().into_iter().any(|m| {
        matches!(
            m,
            LabourMessage::Decision(lp::CourtDecision {
                decision: Some(lp::court_decision::Decision::ArbitrationOpen(_)),
                ..
            })
        )
    });
    assert!(opened, "the committee's platform is told");
    let alerts: Vec<_> = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .alerts_after(0, 100)
        .unwrap()
        .into_iter()
        .filter(|a| a.record.kind == mediation_core::alert::AlertKind::ArbitrationAvailable)
        .collect();
    assert_eq!(alerts.len(), 1);
    let seen = w
        .court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        seen.status(),
        pb::ReferralStatus::InMediation,
        "mediation goes on"
    );
    assert_eq!(
        seen.arbitration_open_since,
        crate::world::ts("2025-03-19T00:00:00+08:00")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_party_labour_agreement_takes_effect_when_every_party_has_signed() {
    // LDMAL Art. 14: the agreement takes effect once every party, the
    // mediator and the committee have signed. A worker sent by a labour
    // dispatch agency (P3) makes three parties; the agreement names them as
    // the platform states them, with its own disputed matters.
    let mut w = World::start().await;
    let mut bundle = bundle_to_wire(&labour_bundle());
    bundle.court_referral_id = "LAB-THREE".into();
    bundle.documents.clear();
    let mut agency = bundle.parties[1].clone();
    agency.reference = "P3".into();
    agency.name = "某劳务派遣有限公司".into();
    agency.identity = Some(pb::Identity {
        kind: pb::IdentityKind::UnifiedSocialCreditCode.into(),
        number: "91110000100001234U".into(),
    });
    bundle.parties.push(agency);
    let mut consent = bundle.consents[1].clone();
    consent.party = "P3".into();
    bundle.consents.push(consent);
    let submitted = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner();
    let id = submitted.referral_id;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    let signed = ts("2025-03-12T15:00:00+08:00");
    // Submitted once they signed: a signature dated later than now is not one.
    w.at("2025-03-12T16:00:00+08:00").await;
    let party = |reference: &str, name: &str, kind: &str, number: &str| lp::SigningParty {
        reference: reference.into(),
        name: name.into(),
        document_type: kind.into(),
        document_number: number.into(),
        signed_at: signed,
    };
    let mut agreement = lp::SubmitMediationAgreementRequest {
        dispute_id: id.clone(),
        committee: "labour-bj-cy".into(),
        payments: vec![lp::Payment {
            kind: lp::ClaimKind::UnpaidWages.into(),
            amount: "12000.00".into(),
        }],
        payment_method: "银行转账".into(),
        pay_by: "2025-03-31".into(),
        mediator: "m-101".into(),
        mediator_signed_at: signed,
        committee_sealed_at: signed,
        disputed_matters: "拖欠工资的支付主体及数额".into(),
        parties: vec![
            party("P1", "张三", "ID_CARD", "11010519491231002X"),
            party("P2", "某贸易有限公司", "USCC", "91350100M000100Y43"),
        ],
        ..Default::default()
    };
    // Two of three parties: the agreement has not taken effect.
    let err = w
        .labour_api
        .submit_mediation_agreement(agreement.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("P3"), "{err:?}");
    agreement.parties.push(party(
        "P3",
        "某劳务派遣有限公司",
        "USCC",
        "91110000100001234U",
    ));
    let state = w
        .labour_api
        .submit_mediation_agreement(agreement)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "agreed");
    w.deliver().await;
    let agreed = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.referral_id == id && n.event == "agreement_reached")
        .unwrap();
    let Some(pb::court_notice::Detail::Agreement(a)) = agreed.detail else {
        panic!("an agreement notice carries it");
    };
    assert_eq!(a.parties.len(), 3);
    assert_eq!(
        a.disputed_matters, "拖欠工资的支付主体及数额",
        "the platform's own words"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labour_failure_report_carries_every_element_the_court_uses() {
    // Online rules Art. 21; seed 003 四(四)2: the course, the reasons,
    // conduct that raised the others' costs, confirmed addresses,
    // undisputed facts and notes for the court.
    let mut w = World::start().await;
    let id = refer(&mut w, "LAB-FAIL").await;
    w.labour_api.accept_dispute(accept(&id)).await.unwrap();
    let report = |party: &str| lp::ReportMediationFailureRequest {
        dispute_id: id.clone(),
        committee: "labour-bj-cy".into(),
        course: "组织双方调解两次".into(),
        reasons: "对经济补偿金数额分歧较大".into(),
        undisputed_facts: vec!["劳动者于2022年3月1日入职".into()],
        notes_for_court: "用人单位同意先行支付部分工资".into(),
        cost_raising_conduct: "用人单位两次无故缺席调解".into(),
        confirmed_addresses: vec![lp::ConfirmedAddress {
            party: party.into(),
            address: "北京市朝阳区某路8号".into(),
        }],
    };
    let err = w
        .labour_api
        .report_mediation_failure(report("P9"))
        .await
        .unwrap_err();
    assert_eq!(named_fields(&err), ["confirmed_addresses[0].party"]);
    w.labour_api
        .report_mediation_failure(report("P2"))
        .await
        .unwrap();
    w.deliver().await;
    let failed = w
        .grpc_court
        .notices
        .all()
        .into_iter()
        .find(|n| n.referral_id == id && n.event == "mediation_failed")
        .unwrap();
    let Some(pb::court_notice::Detail::Failure(f)) = failed.detail else {
        panic!("a failure notice carries the report");
    };
    assert_eq!(f.cost_raising_conduct, "用人单位两次无故缺席调解");
    assert_eq!(f.confirmed_addresses[0].party, "P2");
    assert_eq!(f.notes_for_court, "用人单位同意先行支付部分工资");
}

/// A committee's filing of a dispute it took directly: a worker, the
/// employer and the dispatch agency that sent the worker, all signed.
fn labour_intake() -> lp::FileDirectIntakeRequest {
    let signed = ts("2025-03-10T15:00:00+08:00");
    let party = |reference: &str, role: lp::IntakeRole, name: &str, kind: &str, number: &str| {
        lp::IntakeParty {
            reference: reference.into(),
            role: role.into(),
            name: name.into(),
            organisation: kind == "USCC",
            document_type: kind.into(),
            document_number: number.into(),
            contact: "13800000000".into(),
            address: "北京市朝阳区某路1号".into(),
            region: "北京市朝阳区".into(),
        }
    };
    let signing = |reference: &str, name: &str, kind: &str, number: &str| lp::SigningParty {
        reference: reference.into(),
        name: name.into(),
        document_type: kind.into(),
        document_number: number.into(),
        signed_at: signed,
    };
    lp::FileDirectIntakeRequest {
        committee: "labour-bj-cy".into(),
        intake_reference: "CY-2025-031".into(),
        court: "京0105".into(),
        cause_of_action: "追索劳动报酬纠纷".into(),
        parties: vec![
            party(
                "P1",
                lp::IntakeRole::Worker,
                "张三",
                "ID_CARD",
                "11010519491231002X",
            ),
            party(
                "P2",
                lp::IntakeRole::Employer,
                "某贸易有限公司",
                "USCC",
                "91350100M000100Y43",
            ),
            party(
                "P3",
                lp::IntakeRole::Other,
                "某劳务派遣有限公司",
                "USCC",
                "91110000100001234U",
            ),
        ],
        employment: Some(lp::Employment {
            written_contract: true,
            started_on: "2023-05-01".into(),
            ended_on: "2025-01-31".into(),
            position: "仓库管理员".into(),
            monthly_wage: "8000.00".into(),
        }),
        claim_items: vec![lp::ClaimItem {
            kind: lp::ClaimKind::UnpaidWages.into(),
            amount: "12000.00".into(),
        }],
        mediation_agreed_at: ts("2025-03-03T10:00:00+08:00"),
        agreement: Some(lp::SubmitMediationAgreementRequest {
            payments: vec![lp::Payment {
                kind: lp::ClaimKind::UnpaidWages.into(),
                amount: "12000.00".into(),
            }],
            payment_method: "银行转账".into(),
            pay_by: "2025-03-31".into(),
            mediator: "m-101".into(),
            mediator_signed_at: signed,
            committee_sealed_at: signed,
            disputed_matters: "拖欠工资的支付主体及数额".into(),
            parties: vec![
                signing("P1", "张三", "ID_CARD", "11010519491231002X"),
                signing("P2", "某贸易有限公司", "USCC", "91350100M000100Y43"),
                signing("P3", "某劳务派遣有限公司", "USCC", "91110000100001234U"),
            ],
            ..Default::default()
        }),
        applied_at: ts("2025-03-11T09:00:00+08:00"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committee_files_a_dispute_it_took_directly_for_confirmation() {
    // LDMAL Art. 14 and CPL Art. 205: a committee that mediated a dispute
    // the parties brought to it files it, with the agreement and the joint
    // application, as a CCPIT centre does.
    let mut w = World::start().await;

    // Bad input is named field by field, and nothing is written.
    let before = w.written();
    let mut bad = labour_intake();
    bad.parties[1].document_number = "91350100M000100Y44".into();
    bad.parties[2].role = lp::IntakeRole::Unspecified.into();
    bad.employment = None;
    let err = w.labour_api.file_direct_intake(bad).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    let mut fields = named_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "employment",
            "parties[1].document_number",
            "parties[2].role"
        ],
        "{err:?}"
    );
    // The older two-signature form has no referral to take its parties from.
    let mut older = labour_intake();
    let agreement = older.agreement.as_mut().unwrap();
    agreement.parties.clear();
    agreement.employer_signed_at = ts("2025-03-10T15:00:00+08:00");
    agreement.worker_signed_at = ts("2025-03-10T15:00:00+08:00");
    let err = w.labour_api.file_direct_intake(older).await.unwrap_err();
    assert_eq!(named_fields(&err), ["agreement.parties"], "{err:?}");
    // Two employers: which one the dispute is with must be said.
    let mut two = labour_intake();
    two.parties[2].role = lp::IntakeRole::Employer.into();
    let err = w.labour_api.file_direct_intake(two).await.unwrap_err();
    assert_eq!(named_fields(&err), ["parties"], "{err:?}");
    // A high court does not confirm a directly taken dispute.
    let mut high = labour_intake();
    high.court = "京".into();
    let err = w.labour_api.file_direct_intake(high).await.unwrap_err();
    assert_eq!(named_fields(&err), ["court"], "{err:?}");
    assert!(err.message().contains("CPL Art. 205"), "{err:?}");
    // The labour platform cannot file as another platform's organisation.
    let mut foreign = labour_intake();
    foreign.committee = "ccpit-bj-01".into();
    let err = w.labour_api.file_direct_intake(foreign).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert_eq!(named_fields(&err), ["committee"], "{err:?}");
    assert!(
        err.message()
            .contains("not a labour_arbitration organisation on the roster")
    );
    assert_eq!(w.written(), before, "nothing was written");

    w.clock.set("2025-03-11T09:00:00+08:00".parse().unwrap());
    let state = w
        .labour_api
        .file_direct_intake(labour_intake())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.status, "confirmation_requested");
    let again = w
        .labour_api
        .file_direct_intake(labour_intake())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.dispute_id, state.dispute_id, "filed once");

    // The court gets the whole dispute, then the agreement and the
    // application.
    w.deliver().await;
    assert_eq!(
        w.grpc_court.events_of(&state.dispute_id),
        [
            "taken_directly",
            "agreement_reached",
            "confirmation_applied"
        ]
    );
    let notices = w.grpc_court.notices.all();
    let first = notices
        .iter()
        .find(|n| n.referral_id == state.dispute_id)
        .unwrap();
    let bundle = first.bundle.as_ref().unwrap();
    assert_eq!(bundle.kind(), pb::ReferralKind::DirectIntake);
    assert_eq!(bundle.parties.len(), 3);
    assert_eq!(
        bundle.amount_in_dispute.as_ref().unwrap().amount,
        "12000.00"
    );
    // The committee holds it and reads it in full.
    let full = w
        .labour_api
        .get_dispute_particulars(lp::GetDisputeParticularsRequest {
            dispute_id: state.dispute_id.clone(),
            committee: "labour-bj-cy".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.employment.unwrap().monthly_wage, "8000.00");
    assert_eq!(full.others.len(), 1, "the dispatch agency");
}
