//! The law across sequences, as a court and a platform meet it over gRPC:
//! one case carried through the 2026 National Day holiday, an agreed
//! extension, an appraisal with a sham-mediation report inside it, the
//! court's finding, an agreement, a refused confirmation and the suit that
//! follows; the other ends a refused confirmation, a settlement and a lost
//! case can have; and bundles refused all at once.

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::{labour_bundle, sample_bundle};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::labour::v1 as lp;
use mediation_proto::labour::v1::labour_gateway_client::LabourGatewayClient;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use tonic::Code;

use crate::field_paths::named_fields;
use crate::tls::Authed;
use crate::world::{LabourMessage, World, court_view, settlement_parties, submit_bundle, ts};

/// The court system and the CCPIT platform, with tokens from the moved clock.
pub(crate) struct Sides {
    pub(crate) court: CourtGatewayClient<Authed>,
    pub(crate) ccpit: CcpitGatewayClient<Authed>,
    pub(crate) labour: LabourGatewayClient<Authed>,
}

/// The world with its clock at `instant`, and the two sides connected.
pub(crate) async fn world_at(instant: &str) -> (World, Sides) {
    let w = World::start().await;
    w.at(instant).await;
    let sides = Sides {
        court: CourtGatewayClient::new(w.connect_as("court-bj").await),
        ccpit: CcpitGatewayClient::new(w.connect_as("ccpit").await),
        labour: LabourGatewayClient::new(w.connect_as("labour").await),
    };
    (w, sides)
}

pub(crate) fn delegated(reference: &str) -> pb::CaseBundle {
    let mut bundle = bundle_to_wire(&sample_bundle());
    bundle.court_referral_id = reference.into();
    bundle.documents.clear();
    bundle
}

pub(crate) async fn submit(s: &mut Sides, bundle: pb::CaseBundle) -> String {
    submit_bundle(&mut s.court, bundle).await
}

async fn view(s: &mut Sides, id: &str) -> pb::GetReferralResponse {
    court_view(&mut s.court, id).await
}

pub(crate) const CENTRE: &str = "ccpit-bj-01";

pub(crate) fn accept(id: &str) -> cp::AcceptCaseRequest {
    cp::AcceptCaseRequest {
        case_id: id.into(),
        mediation_centre: CENTRE.into(),
        mediator: "m-007".into(),
        centre_case_number: String::new(),
    }
}

pub(crate) fn progress(
    id: &str,
    p: cp::report_progress_request::Progress,
) -> cp::ReportProgressRequest {
    cp::ReportProgressRequest {
        case_id: id.into(),
        mediation_centre: CENTRE.into(),
        progress: Some(p),
    }
}

fn extension(until: &str, days: u32) -> cp::report_progress_request::Progress {
    cp::report_progress_request::Progress::Extension(cp::Extension {
        until: until.into(),
        agreed_by: vec!["P1".into(), "P2".into()],
        days,
    })
}

/// A complete settlement, every signature at `signed_at`.
pub(crate) fn settlement(id: &str, signed_at: &str) -> cp::SubmitSettlementRequest {
    let sign = |signer_type: &str, signer: &str| cp::Signature {
        signer_type: signer_type.into(),
        signer: signer.into(),
        signed_at: ts(signed_at),
    };
    cp::SubmitSettlementRequest {
        case_id: id.into(),
        mediation_centre: CENTRE.into(),
        parties: settlement_parties(),
        disputed_matters: "货款支付".into(),
        terms: vec!["被申请人于2026年12月31日前支付货款100000元".into()],
        performance_method: "银行转账".into(),
        perform_by: "2026-12-31".into(),
        signatures: vec![
            sign("CENTRE", CENTRE),
            sign("MEDIATOR", "m-007"),
            sign("PARTY", "P1"),
            sign("PARTY", "P2"),
        ],
        files: vec![],
    }
}

pub(crate) fn apply(id: &str, applied_at: &str) -> cp::ApplyForConfirmationRequest {
    cp::ApplyForConfirmationRequest {
        case_id: id.into(),
        mediation_centre: CENTRE.into(),
        applicants: vec!["P1".into(), "P2".into()],
        applied_at: ts(applied_at),
    }
}

pub(crate) fn ruling(id: &str, outcome: pb::RulingOutcome, at: &str) -> pb::RecordRulingRequest {
    pb::RecordRulingRequest {
        referral_id: id.into(),
        court: "京0105".into(),
        outcome: outcome.into(),
        case_number: "（2026）京0105民特12号".into(),
        reasons: "协议内容违反法律强制性规定".into(),
        ruled_at: ts(at),
    }
}

pub(crate) fn outcome(
    id: &str,
    outcome: pb::CourtOutcome,
    case_number: &str,
) -> pb::RecordCourtOutcomeRequest {
    pb::RecordCourtOutcomeRequest {
        referral_id: id.into(),
        court: "京0105".into(),
        outcome: outcome.into(),
        case_number: case_number.into(),
        ..Default::default()
    }
}

/// The accepted case `id` settles on Tuesday 8 September 2026, the parties
/// apply for confirmation, and the court refuses it on the 15th.
pub(crate) async fn agreed_then_refused(w: &World, s: &mut Sides, id: &str) {
    w.at("2026-09-08T10:00:00+08:00").await;
    s.ccpit
        .submit_settlement(settlement(id, "2026-09-08T09:00:00+08:00"))
        .await
        .unwrap();
    s.ccpit
        .apply_for_confirmation(apply(id, "2026-09-08T09:30:00+08:00"))
        .await
        .unwrap();
    w.at("2026-09-15T10:00:00+08:00").await;
    s.court
        .record_ruling(ruling(
            id,
            pb::RulingOutcome::Dismissed,
            "2026-09-15T10:00:00+08:00",
        ))
        .await
        .unwrap();
}

/// Submitted on Monday 31 August 2026, offered, and accepted on Wednesday
/// 2 September: 30 days reach Friday 2 October, in the National Day
/// holiday (1–7 October), so mediation ends on Thursday 8 October.
async fn accepted_before_national_day(w: &World, s: &mut Sides, reference: &str) -> String {
    let id = submit(s, delegated(reference)).await;
    w.deliver().await;
    w.at("2026-09-02T10:00:00+08:00").await;
    let state = s.ccpit.accept_case(accept(&id)).await.unwrap().into_inner();
    assert_eq!(state.state, "in_mediation");
    assert_eq!(state.mediate_by, "2026-10-08");
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_case_through_the_holiday_an_extension_an_appraisal_a_sham_report_and_a_refused_confirmation()
 {
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    let id = accepted_before_national_day(&w, &mut s, "SEQ-HOLIDAY").await;

    // Two more days, agreed by every party (online rules Art. 24), count
    // from the day the period ends, 8 October: Saturday 10 October, a
    // make-up working day of the 2026 notice, so it ends then.
    w.at("2026-09-10T10:00:00+08:00").await;
    let state = s
        .ccpit
        .report_progress(progress(&id, extension("", 2)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.mediate_by, "2026-10-10");
    // "Until" 9 October would shorten it: refused, naming the day.
    let err = s
        .ccpit
        .report_progress(progress(&id, extension("2026-10-09", 0)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(named_fields(&err), ["extension.until"]);
    assert!(
        err.message().contains("does not lengthen"),
        "{}",
        err.message()
    );

    // An appraisal from Monday 14 September; a sham-mediation report during
    // it; the court finds the mediation genuine on the 18th. The appraisal
    // still runs: no deadline counts (online rules Art. 26).
    w.at("2026-09-14T10:00:00+08:00").await;
    let state = s
        .ccpit
        .report_progress(progress(
            &id,
            cp::report_progress_request::Progress::AppraisalStarted("工程造价鉴定".into()),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "suspended_for_appraisal");
    // No last day shows while the appraisal runs: 10 October no longer
    // holds, and the new one is not known until it ends.
    assert_eq!(state.mediate_by, "");
    let seen = view(&mut s, &id).await;
    assert_eq!(seen.mediation_deadline, None, "{seen:?}");
    assert_eq!(seen.appraisal.as_ref().unwrap().since, "2026-09-14");
    w.at("2026-09-16T10:00:00+08:00").await;
    s.ccpit
        .report_sham_mediation(cp::ReportShamMediationRequest {
            case_id: id.clone(),
            mediation_centre: CENTRE.into(),
            grounds: "双方疑似恶意串通损害案外人利益".into(),
        })
        .await
        .unwrap();
    assert_eq!(view(&mut s, &id).await.mediation_deadline, None);
    w.at("2026-09-18T10:00:00+08:00").await;
    let resolved = s
        .court
        .resolve_sham_mediation(pb::ResolveShamMediationRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            finding: pb::ShamMediationFinding::NotSham.into(),
            note: "未发现虚假调解".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resolved.status(), pb::ReferralStatus::SuspendedForAppraisal);
    assert_eq!(
        resolved.mediation_deadline, None,
        "the appraisal still runs"
    );
    let seen = view(&mut s, &id).await;
    assert!(seen.appraisal.is_some(), "the appraisal goes on");
    // A month on, no breach fired while the appraisal ran.
    w.at("2026-10-12T10:00:00+08:00").await;
    assert_eq!(
        view(&mut s, &id).await.status(),
        pb::ReferralStatus::SuspendedForAppraisal
    );
    // It ends on Monday 12 October: 28 days paused after the extension was
    // agreed push 10 October to 7 November, a Saturday: Monday 9 November.
    let state = s
        .ccpit
        .report_progress(progress(
            &id,
            cp::report_progress_request::Progress::AppraisalEnded(true),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "in_mediation");
    assert_eq!(state.mediate_by, "2026-11-09");
    let seen = view(&mut s, &id).await;
    assert_eq!(seen.mediation_deadline.unwrap().due_date, "2026-11-09");
    assert!(seen.appraisal.is_none());

    // A signature dated three days ahead is not a signature yet.
    w.at("2026-10-20T10:00:00+08:00").await;
    let mut early = settlement(&id, "2026-10-20T09:00:00+08:00");
    early.signatures[3].signed_at = ts("2026-10-23T09:00:00+08:00");
    let err = s.ccpit.submit_settlement(early).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(named_fields(&err), ["signatures[3].signed_at"]);
    let state = s
        .ccpit
        .submit_settlement(settlement(&id, "2026-10-20T09:00:00+08:00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "agreed");

    // The court refuses to confirm it (驳回); the parties then sue, and
    // the court records the suit it docketed (CPL Art. 206).
    w.at("2026-10-21T10:00:00+08:00").await;
    s.ccpit
        .apply_for_confirmation(apply(&id, "2026-10-21T09:00:00+08:00"))
        .await
        .unwrap();
    w.at("2026-10-28T10:00:00+08:00").await;
    let ruled = s
        .court
        .record_ruling(ruling(
            &id,
            pb::RulingOutcome::Dismissed,
            "2026-10-28T10:00:00+08:00",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ruled.status(), pb::ReferralStatus::ConfirmationRefused);
    s.court
        .record_court_outcome(outcome(
            &id,
            pb::CourtOutcome::Docketed,
            "（2026）京0105民初555号",
        ))
        .await
        .unwrap();
    let seen = view(&mut s, &id).await;
    assert_eq!(seen.court_outcome(), pb::CourtOutcome::Docketed);
    assert_eq!(seen.court_case_number, "（2026）京0105民初555号");
    // The case is before the court now: no new agreement beside it.
    let err = s
        .ccpit
        .submit_settlement(settlement(&id, "2026-10-28T09:00:00+08:00"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_refusal_the_parties_agree_again_and_a_delegated_settlement_gets_a_mediation_paper()
{
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    let id = submit(&mut s, delegated("SEQ-AGAIN")).await;
    let paper = submit(&mut s, delegated("SEQ-PAPER")).await;
    w.deliver().await;
    w.at("2026-09-02T10:00:00+08:00").await;
    for id in [&id, &paper] {
        s.ccpit.accept_case(accept(id)).await.unwrap();
    }
    agreed_then_refused(&w, &mut s, &id).await;
    // CPL Art. 206: a changed agreement through mediation, then the
    // parties apply again.
    w.at("2026-09-22T10:00:00+08:00").await;
    let state = s
        .ccpit
        .submit_settlement(settlement(&id, "2026-09-22T09:00:00+08:00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "agreed");
    let state = s
        .ccpit
        .apply_for_confirmation(apply(&id, "2026-09-22T09:30:00+08:00"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "confirmation_requested");

    // Another settled 委派 case ends in a mediation paper instead of
    // confirmation (seed 003 四(四)2), under a 诉前调书 number (seed 004 (十六)).
    s.ccpit
        .submit_settlement(settlement(&paper, "2026-09-08T09:00:00+08:00"))
        .await
        .unwrap();
    let err = s
        .court
        .record_court_outcome(outcome(
            &paper,
            pb::CourtOutcome::MediationPaper,
            "（2026）京0105民初9号",
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(named_fields(&err), ["case_number"]);
    let done = s
        .court
        .record_court_outcome(outcome(
            &paper,
            pb::CourtOutcome::MediationPaper,
            "（2026）京0105民诉前调书12号",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(done.status(), pb::ReferralStatus::Concluded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_that_lost_the_case_learns_nothing_more_of_it() {
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    // Ended as a sham: everything the centre asks is NOT_FOUND (PIPL Art. 6).
    let id = accepted_before_national_day(&w, &mut s, "SEQ-SHAM").await;
    s.ccpit
        .report_sham_mediation(cp::ReportShamMediationRequest {
            case_id: id.clone(),
            mediation_centre: CENTRE.into(),
            grounds: "双方恶意串通".into(),
        })
        .await
        .unwrap();
    s.court
        .resolve_sham_mediation(pb::ResolveShamMediationRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            finding: pb::ShamMediationFinding::Sham.into(),
            note: "虚假调解属实".into(),
        })
        .await
        .unwrap();
    let err = s
        .ccpit
        .get_case_particulars(cp::GetCaseParticularsRequest {
            case_id: id.clone(),
            mediation_centre: CENTRE.into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let err = s
        .ccpit
        .report_progress(progress(
            &id,
            cp::report_progress_request::Progress::AppraisalStarted("工程造价鉴定".into()),
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    // Recalled while on offer: accepting it is NOT_FOUND, as for a case
    // that does not exist, not FAILED_PRECONDITION.
    let recalled = submit(&mut s, delegated("SEQ-RECALLED")).await;
    w.deliver().await;
    s.court
        .recall_referral(pb::RecallReferralRequest {
            referral_id: recalled.clone(),
            court: "京0105".into(),
            reason: "当事人撤回申请".into(),
        })
        .await
        .unwrap();
    let err = s.ccpit.accept_case(accept(&recalled)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    let stranger = s
        .ccpit
        .accept_case(accept("01JD0000000000000000000000"))
        .await
        .unwrap_err();
    assert_eq!(err.message(), stranger.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundles_the_law_refuses_name_every_field_at_once() {
    let (_w, s) = world_at("2026-08-31T09:00:00+08:00").await;
    let submit_err = |bundle: pb::CaseBundle| {
        let mut court = s.court.clone();
        async move {
            court
                .submit_referral(pb::SubmitReferralRequest {
                    bundle: Some(bundle),
                })
                .await
                .unwrap_err()
        }
    };
    // A 委托 bundle without its stage, procedure or case number: all three.
    let mut bare = delegated("SEQ-BARE");
    bare.kind = pb::ReferralKind::Entrusted.into();
    let err = submit_err(bare).await;
    assert_eq!(err.code(), Code::InvalidArgument);
    let mut fields = named_fields(&err);
    fields.sort();
    assert_eq!(
        fields,
        [
            "bundle.case_number",
            "bundle.procedure",
            "bundle.trial_stage"
        ]
    );
    // CPL Art. 160: no summary procedure at second instance...
    let mut appeal = delegated("SEQ-APPEAL");
    appeal.kind = pb::ReferralKind::Entrusted.into();
    appeal.trial_stage = pb::TrialStage::SecondInstance.into();
    appeal.procedure = pb::Procedure::Summary.into();
    appeal.case_number = "（2026）京0105民初1234号".into();
    let err = submit_err(appeal).await;
    assert_eq!(named_fields(&err), ["bundle.procedure"]);
    // ...nor at an intermediate court.
    let mut intermediate = delegated("SEQ-INTERMEDIATE");
    intermediate.court = "京03".into();
    intermediate.kind = pb::ReferralKind::Entrusted.into();
    intermediate.trial_stage = pb::TrialStage::FirstInstance.into();
    intermediate.procedure = pb::Procedure::Summary.into();
    intermediate.case_number = "（2026）京03民初12号".into();
    let err = submit_err(intermediate).await;
    assert_eq!(named_fields(&err), ["bundle.procedure"]);
    assert!(err.message().contains("Art. 160") || format!("{err:?}").contains("Art. 160"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_docketed_labour_case_gets_no_arbitration_notice() {
    // LDMAL Art. 14 concerns mediation before arbitration.
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    let mut bundle = bundle_to_wire(&labour_bundle());
    bundle.court_referral_id = "SEQ-LABOUR".into();
    bundle.documents.clear();
    bundle.kind = pb::ReferralKind::Entrusted.into();
    bundle.trial_stage = pb::TrialStage::FirstInstance.into();
    bundle.procedure = pb::Procedure::Ordinary.into();
    bundle.case_number = "（2026）京0105民初4321号".into();
    let id = submit(&mut s, bundle).await;
    w.deliver().await;
    s.labour
        .accept_dispute(lp::AcceptDisputeRequest {
            dispute_id: id.clone(),
            committee: "labour-bj-cy".into(),
            mediator: "m-101".into(),
            file_number: "朝劳调〔2026〕18号".into(),
        })
        .await
        .unwrap();
    // Fifteen days on, and more: no notice to the court or the committee.
    w.at("2026-09-20T10:00:00+08:00").await;
    assert!(
        !w.grpc_court
            .events_of(&id)
            .contains(&"arbitration_available".to_owned())
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
    assert!(!opened);
    assert!(view(&mut s, &id).await.arbitration_open_since.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_mediator_the_room_lists_and_may_mediate_that_day_takes_the_case() {
    use mediation_core::fixtures::accident_bundle;
    use mediation_proto::traffic::v1 as tp;
    // The courts' roster of invited mediators (seed 000 (十), (二十一);
    // seed 003 四(二)2): World's traffic room lists m-201 (active), m-202
    // (suspended), m-203 (listed until 2024) and m-204 (removed).
    let w = World::start().await;
    let mut bundle = bundle_to_wire(&accident_bundle());
    bundle.court_referral_id = "SEQ-MEDIATOR".into();
    bundle.documents.clear();
    let id = submit_bundle(&mut w.court_api.clone(), bundle).await;
    w.deliver().await;
    let take = |mediator: &str| tp::TakeCaseRequest {
        case_id: id.clone(),
        room: "traffic-bj-cy".into(),
        mediator: mediator.into(),
        room_case_number: "朝交调〔2025〕9号".into(),
    };
    for (mediator, says) in [
        ("m-999", "not on the roster"),
        ("m-202", "suspended"),
        ("m-203", "2024-12-31"),
        ("m-204", "removed"),
    ] {
        let err = w
            .traffic_api
            .clone()
            .take_case(take(mediator))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{mediator}");
        assert_eq!(named_fields(&err), ["mediator"], "{mediator}");
        assert!(
            err.message().contains(says),
            "{mediator}: {}",
            err.message()
        );
    }
    let taken = w
        .traffic_api
        .clone()
        .take_case(take("m-201"))
        .await
        .unwrap();
    assert_eq!(taken.into_inner().state, "in_mediation");
    // Operators and the court read who mediates it.
    let seen = court_view(&mut w.court_api.clone(), &id).await;
    assert_eq!(seen.mediator, "m-201");
    let mut operators = OperationsClient::new(w.connect_as("operators").await);
    let timeline = operators
        .get_referral_timeline(ops::GetReferralTimelineRequest {
            referral_id: id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (timeline.mediator.as_str(), timeline.mediator_name.as_str()),
        ("m-201", "王立新")
    );
    // The figures per mediator follow the roster: per organisation, named,
    // and every mediator the room lists, with zeros where nothing happened.
    let figures = operators
        .get_statistics(ops::GetStatisticsRequest {
            from: ts("2025-03-01T00:00:00+08:00"),
            to: ts("2025-04-01T00:00:00+08:00"),
            partner: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    let mediators: Vec<(String, String, String, u64)> = figures
        .breakdowns
        .iter()
        .filter(|b| b.dimension == "mediator")
        .map(|b| {
            (
                b.organisation.clone(),
                b.value.clone(),
                b.name.clone(),
                b.figures.as_ref().unwrap().accepted,
            )
        })
        .collect();
    let row = |id: &str, name: &str, accepted: u64| {
        (
            "traffic-bj-cy".to_owned(),
            id.to_owned(),
            name.to_owned(),
            accepted,
        )
    };
    assert_eq!(
        mediators,
        [
            row("m-201", "王立新", 1),
            row("m-202", "赵敏", 0),
            row("m-203", "钱进", 0),
            row("m-204", "孙莉", 0),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_court_that_does_not_decide_on_a_returned_referral_is_reminded_after_the_holiday() {
    // Seed 003 二(二), seed 004 (十八): the court decides promptly whether to
    // docket; CPL Art. 126 gives it 7 days. The reminder comes after 7
    // working days (court_decision.remind_after_working_days).
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    let failed = accepted_before_national_day(&w, &mut s, "SEQ-WAIT").await;
    let refused = submit(&mut s, delegated("SEQ-WAIT-2")).await;
    w.deliver().await;
    s.ccpit.accept_case(accept(&refused)).await.unwrap();
    // Mediation fails on Monday 28 September. Seven working days: 29 and
    // 30 September, then after the National Day holiday 8, 9, 10 (a make-up
    // Saturday), 12 and 13 October; the court is reminded at the end of
    // the 13th.
    w.at("2026-09-28T10:00:00+08:00").await;
    // The other settles the same day and applies for confirmation.
    s.ccpit
        .submit_settlement(settlement(&refused, "2026-09-28T09:00:00+08:00"))
        .await
        .unwrap();
    s.ccpit
        .apply_for_confirmation(apply(&refused, "2026-09-28T09:30:00+08:00"))
        .await
        .unwrap();
    s.ccpit
        .report_failure(cp::ReportFailureRequest {
            case_id: failed.clone(),
            mediation_centre: CENTRE.into(),
            course: "两次组织调解".into(),
            reasons: "双方对货款金额分歧过大".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut operators = OperationsClient::new(w.connect_as("operators").await);
    let awaiting = |o: &mut OperationsClient<Authed>| {
        let mut o = o.clone();
        async move {
            o.list_awaiting_court(ops::ListAwaitingCourtRequest::default())
                .await
                .unwrap()
                .into_inner()
        }
    };
    let seen = awaiting(&mut operators).await;
    assert_eq!(seen.referrals.len(), 1);
    assert_eq!(seen.referrals[0].referral_id, failed);
    assert_eq!(seen.referrals[0].status, "mediation_failed");
    assert_eq!(seen.referrals[0].working_days, 0);
    assert_eq!(seen.referrals[0].remind_at, ts("2026-10-14T00:00:00+08:00"));
    // The last working day before the reminder: no notice yet.
    w.at("2026-10-13T23:00:00+08:00").await;
    assert!(
        !w.grpc_court
            .events_of(&failed)
            .contains(&"court_decision_overdue".to_owned())
    );
    let seen = awaiting(&mut operators).await;
    assert_eq!(seen.referrals[0].working_days, 7);
    assert!(!seen.referrals[0].reminded);
    // Then the court system is reminded, once, and operators see which
    // court let it wait.
    w.at("2026-10-14T00:00:01+08:00").await;
    w.at("2026-10-20T00:00:00+08:00").await;
    let events = w.grpc_court.events_of(&failed);
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "court_decision_overdue")
            .count(),
        1,
        "{events:?}"
    );
    let seen = awaiting(&mut operators).await;
    assert!(seen.referrals[0].reminded);
    assert_eq!(
        (
            seen.courts[0].court.as_str(),
            seen.courts[0].waiting,
            seen.courts[0].reminded
        ),
        ("京0105", 1, 1)
    );
    // A refused confirmation waits for the court too.
    s.court
        .record_ruling(ruling(
            &refused,
            pb::RulingOutcome::NotAccepted,
            "2026-10-20T00:00:00+08:00",
        ))
        .await
        .unwrap();
    let seen = awaiting(&mut operators).await;
    assert_eq!(seen.referrals.len(), 2);
    assert_eq!(seen.courts[0].waiting, 2);
    // The court decides: both leave the list.
    s.court
        .record_court_outcome(outcome(
            &failed,
            pb::CourtOutcome::Docketed,
            "（2026）京0105民初901号",
        ))
        .await
        .unwrap();
    // The other is closed without a suit: a reason, no case number.
    let mut closed = outcome(&refused, pb::CourtOutcome::NotDocketed, "");
    let err = s
        .court
        .record_court_outcome(closed.clone())
        .await
        .unwrap_err();
    assert_eq!(named_fields(&err), ["reason"]);
    closed.reason = "申请人撤回起诉申请".into();
    s.court.record_court_outcome(closed).await.unwrap();
    let seen = awaiting(&mut operators).await;
    assert!(seen.referrals.is_empty(), "{:?}", seen.referrals);
    assert!(seen.courts.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_behind_a_model_case_carries_it_to_the_platform() {
    // Seed 000 (十八): 示范性诉讼 + 批量化调解. The batch names its model
    // case once; each referral carries it, and the CCPIT offer says it.
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    let model = "（2026）京0105民初100号";
    let mut other = delegated("SEQ-MODEL-3");
    other.model_case_number = "（2026）京0105民初200号".into();
    let answer = s
        .court
        .submit_batch(pb::SubmitBatchRequest {
            bundles: vec![delegated("SEQ-MODEL-1"), delegated("SEQ-MODEL-2"), other],
            model_case_number: model.into(),
        })
        .await
        .unwrap()
        .into_inner();
    let accepted: Vec<String> = answer
        .results
        .iter()
        .filter_map(|r| match &r.result {
            Some(pb::batch_result::Result::Accepted(a)) => Some(a.referral_id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(accepted.len(), 2);
    // A bundle naming another model case is refused, by its path.
    match &answer.results[2].result {
        Some(pb::batch_result::Result::Rejected(r)) => {
            assert_eq!(r.code, "INVALID_ARGUMENT");
            assert_eq!(r.violations[0].field, "bundles[2].model_case_number");
        }
        other => panic!("{other:?}"),
    }
    w.deliver().await;
    let offers = w.ccpit.offers.all();
    for id in &accepted {
        let offer = offers
            .iter()
            .find(|o| &o.case_id == id)
            .unwrap_or_else(|| panic!("no offer of {id}"));
        assert_eq!(offer.model_case_number, model);
    }
    // A model case is a docketed suit: a pre-litigation number is refused.
    let mut pre = delegated("SEQ-MODEL-4");
    pre.model_case_number = "（2026）京0105民诉前调5号".into();
    let err = s
        .court
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(pre) })
        .await
        .unwrap_err();
    assert_eq!(named_fields(&err), ["bundle.model_case_number"]);
    let err = s
        .court
        .submit_batch(pb::SubmitBatchRequest {
            bundles: vec![delegated("SEQ-MODEL-5")],
            model_case_number: "not a case".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(named_fields(&err), ["model_case_number"]);
}
