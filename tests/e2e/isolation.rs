//! What one tenant can learn of, or take from, another's referrals and case
//! files, tried the way a hostile tenant would: with ids and digests it has
//! seen or guessed, over mutual TLS against the assembled gateway.

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::sample_bundle;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use tonic::{Code, Status};
use tonic_types::StatusExt;

use crate::field_paths::named_fields;
use crate::world::{World, digest, scanned_file, settlement_parties, ts};

/// A bundle of `court` whose only file is `file`, kept by the gateway (no url).
fn bundle_listing(court: &str, court_referral_id: &str, file: &[u8]) -> pb::SubmitReferralRequest {
    let mut b = bundle_to_wire(&sample_bundle());
    b.court = court.into();
    b.court_referral_id = court_referral_id.into();
    b.documents.truncate(1);
    b.documents[0].sha256 = digest(file).to_string();
    b.documents[0].size_bytes = file.len() as u64;
    b.documents[0].url = String::new();
    pb::SubmitReferralRequest { bundle: Some(b) }
}

/// The precondition subjects of a refusal.
fn subjects(status: &Status) -> Vec<String> {
    status
        .get_details_precondition_failure()
        .map(|p| p.violations.into_iter().map(|v| v.subject).collect())
        .unwrap_or_default()
}

fn settlement(case_id: &str, files: Vec<cp::CaseFile>) -> cp::SubmitSettlementRequest {
    let signed_at = ts("2025-03-20T15:00:00+08:00");
    let sign = |t: &str, who: &str| cp::Signature {
        signer_type: t.into(),
        signer: who.into(),
        signed_at,
    };
    cp::SubmitSettlementRequest {
        case_id: case_id.into(),
        mediation_centre: "ccpit-sh-01".into(),
        parties: settlement_parties(),
        disputed_matters: "货款支付".into(),
        terms: vec!["被申请人于2025年5月31日前支付货款100000元".into()],
        performance_method: "银行转账".into(),
        perform_by: "2025-05-31".into(),
        signatures: vec![
            sign("CENTRE", "ccpit-sh-01"),
            sign("MEDIATOR", "m-301"),
            sign("PARTY", "P1"),
            sign("PARTY", "P2"),
        ],
        files,
    }
}

fn case_file(bytes: &[u8]) -> cp::CaseFile {
    cp::CaseFile {
        name: "证据.pdf".into(),
        media_type: "application/pdf".into(),
        size_bytes: bytes.len() as u64,
        sha256: digest(bytes).to_string(),
        url: String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_digest_alone_neither_lists_nor_downloads_another_tenants_file() {
    let mut w = World::start().await;
    // Beijing uploads its file and refers a case listing it.
    let beijing_file = scanned_file(40_000, 7);
    w.upload("court-bj", &beijing_file, &digest(&beijing_file), 8192)
        .await
        .unwrap();
    let beijing = w
        .court_api
        .submit_referral(bundle_listing("京0105", "ISO-BJ-1", &beijing_file))
        .await
        .unwrap()
        .into_inner();
    assert!(
        w.download(&beijing.referral_id, &digest(&beijing_file), "court-bj")
            .await
            .is_ok()
    );

    // Shanghai lists Beijing's digest without having uploaded the file: it is
    // refused exactly as a digest nobody uploaded is, and nothing is written.
    let before = w.written();
    let stolen = w
        .sh_court_api
        .submit_referral(bundle_listing("沪0115", "ISO-SH-STOLEN", &beijing_file))
        .await
        .unwrap_err();
    let never = w
        .sh_court_api
        .submit_referral(bundle_listing("沪0115", "ISO-SH-NEVER", b"never uploaded"))
        .await
        .unwrap_err();
    for refused in [&stolen, &never] {
        assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        assert_eq!(subjects(refused), ["bundle.documents[0].sha256"]);
    }
    assert_eq!(
        stolen
            .message()
            .replace(&digest(&beijing_file).to_string(), "<d>"),
        never
            .message()
            .replace(&digest(b"never uploaded").to_string(), "<d>"),
        "a stranger cannot tell another tenant's file from no file"
    );
    assert_eq!(w.written(), before);

    // Shanghai refers its own case with its own upload; it is routed to the
    // Shanghai centre, whose tenant acts only for that centre.
    let shanghai_file = scanned_file(30_000, 9);
    w.upload("court-sh", &shanghai_file, &digest(&shanghai_file), 8192)
        .await
        .unwrap();
    let shanghai = w
        .sh_court_api
        .submit_referral(bundle_listing("沪0115", "ISO-SH-1", &shanghai_file))
        .await
        .unwrap()
        .into_inner();
    let case_id = shanghai.referral_id.clone();
    let mut centre = CcpitGatewayClient::new(w.connect_as("ccpit-sh").await);
    centre
        .accept_case(cp::AcceptCaseRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-sh-01".into(),
            mediator: "m-301".into(),
            centre_case_number: "SH-1".into(),
        })
        .await
        .unwrap();
    // The settlement is submitted once its parties signed it (a signature
    // dated later than now is not one yet).
    w.at("2025-03-20T16:00:00+08:00").await;

    // The centre lists Beijing's digest in its settlement: refused, by its
    // path in the request, and the case is unchanged.
    let before = w.written();
    let err = centre
        .submit_settlement(settlement(&case_id, vec![case_file(&beijing_file)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert_eq!(subjects(&err), ["files[0].sha256"]);
    assert_eq!(w.written(), before);
    // Nor can it download Beijing's file through its own case.
    let err = w
        .download(&case_id, &digest(&beijing_file), "ccpit-sh")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");

    // A file that already belongs to the case may be listed again, and one
    // the centre uploaded itself may be added.
    let minutes = scanned_file(5_000, 3);
    w.upload("ccpit-sh", &minutes, &digest(&minutes), 4096)
        .await
        .unwrap();
    centre
        .submit_settlement(settlement(
            &case_id,
            vec![case_file(&shanghai_file), case_file(&minutes)],
        ))
        .await
        .unwrap();
    assert_eq!(
        w.download(&case_id, &digest(&minutes), "court-sh")
            .await
            .unwrap(),
        minutes
    );
    // Beijing's file is still Beijing's alone.
    let err = w
        .download(&beijing.referral_id, &digest(&beijing_file), "court-sh")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
}

/// Status code and message, which must be the same for a stranger's referral
/// and for one that does not exist.
fn answer(status: &Status) -> (Code, String) {
    (status.code(), status.message().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_tenants_referral_is_answered_as_one_that_does_not_exist() {
    let mut w = World::start().await;
    let mut b = bundle_to_wire(&sample_bundle());
    b.court_referral_id = "ISO-LEAK-1".into();
    for d in &mut b.documents {
        d.url = "https://court-bj.example/files/1".into();
    }
    let submitted = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(b) })
        .await
        .unwrap()
        .into_inner();
    let id = submitted.referral_id;
    // A well-formed id that no referral has.
    let unknown = "01JB0000000000000000000000".to_owned();
    let before = w.written();

    // A ruling from another court system, naming its own court: the
    // referral is awaiting acceptance, which must not show.
    let ruling = |referral_id: &str| pb::RecordRulingRequest {
        referral_id: referral_id.into(),
        court: "沪0115".into(),
        outcome: pb::RulingOutcome::Confirmed.into(),
        case_number: "（2025）沪0115民特9号".into(),
        reasons: String::new(),
        ruled_at: ts("2025-03-20T10:00:00+08:00"),
    };
    let mut shanghai: CourtGatewayClient<_> = w.sh_court_api.clone();
    let stranger = shanghai.record_ruling(ruling(&id)).await.unwrap_err();
    let missing = shanghai.record_ruling(ruling(&unknown)).await.unwrap_err();
    assert_eq!(answer(&stranger), answer(&missing));
    assert_eq!(stranger.code(), Code::NotFound);
    // The same for a court of its own system that is not the referring court.
    let mut sibling = ruling(&id);
    sibling.court = "京0106".into();
    let err = w.court_api.record_ruling(sibling).await.unwrap_err();
    assert_eq!(answer(&err), answer(&missing));
    let recall = |referral_id: &str| pb::RecallReferralRequest {
        referral_id: referral_id.into(),
        court: "沪0115".into(),
        reason: "撤回".into(),
    };
    let stranger = shanghai.recall_referral(recall(&id)).await.unwrap_err();
    assert_eq!(answer(&stranger), answer(&missing));
    let get = |referral_id: &str| pb::GetReferralRequest {
        referral_id: referral_id.into(),
    };
    let stranger = shanghai.get_referral(get(&id)).await.unwrap_err();
    let missing_get = shanghai.get_referral(get(&unknown)).await.unwrap_err();
    assert_eq!(answer(&stranger), answer(&missing_get));
    assert_eq!(answer(&stranger), answer(&missing));

    // Platforms the case was never routed to, and organisations it was not
    // offered to, accepting, declining or reporting on it.
    let accept = |case_id: &str, centre: &str| cp::AcceptCaseRequest {
        case_id: case_id.into(),
        mediation_centre: centre.into(),
        mediator: "m-1".into(),
        centre_case_number: "X-1".into(),
    };
    let missing = w
        .ccpit_api
        .accept_case(accept(&unknown, "ccpit-bj-01"))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    for (tenant, centre) in [
        ("ccpit", "ccpit-bj-02"),
        ("ccpit", "ccpit-sh-01"),
        ("ccpit-sh", "ccpit-sh-01"),
    ] {
        let mut client = CcpitGatewayClient::new(w.connect_as(tenant).await);
        let err = client.accept_case(accept(&id, centre)).await.unwrap_err();
        assert_eq!(answer(&err), answer(&missing), "{tenant} as {centre}");
        let err = client
            .report_sham_mediation(cp::ReportShamMediationRequest {
                case_id: id.clone(),
                mediation_centre: centre.into(),
                grounds: "虚假调解".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(answer(&err), answer(&missing), "{tenant} as {centre}");
    }
    assert_eq!(w.written(), before, "no refusal wrote anything");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_intake_names_a_centre_of_the_callers_platform_on_the_roster() {
    let w = World::start().await;
    let before = w.written();
    let mut ccpit = w.ccpit_api.clone();
    for (centre, why) in [
        ("labour-bj-cy", "a labour committee"),
        ("ccpit-nowhere", "a centre not on the roster"),
    ] {
        let mut r = crate::ccpit_more::intake();
        r.mediation_centre = centre.into();
        for s in &mut r.settlement.as_mut().unwrap().signatures {
            if s.signer_type == "CENTRE" {
                s.signer = centre.into();
            }
        }
        let err = ccpit.file_direct_intake(r).await.unwrap_err();
        assert_eq!(err.code(), Code::InvalidArgument, "{why}: {err:?}");
        let fields = named_fields(&err);
        assert_eq!(fields, ["mediation_centre"], "{why}");
    }
    assert_eq!(w.written(), before, "neither intake was written");

    // A court's referral whose id looks like an intake's key does not
    // collide with the intake, nor is it named to the platform.
    let intake = crate::ccpit_more::intake();
    let mut b = bundle_to_wire(&sample_bundle());
    b.court = intake.court.clone();
    b.court_referral_id = format!("{}:{}", intake.mediation_centre, intake.intake_reference);
    for d in &mut b.documents {
        d.url = "https://court-sh.example/files/1".into();
    }
    let court_referral = w
        .sh_court_api
        .clone()
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(b) })
        .await
        .unwrap()
        .into_inner();
    // Filed after the settlement was signed: the receipt is the application's instant.
    w.clock.set("2025-03-11T09:00:00+08:00".parse().unwrap());
    let filed = ccpit.file_direct_intake(intake).await.unwrap().into_inner();
    assert_ne!(filed.case_id, court_referral.referral_id);
    assert_eq!(filed.state, "confirmation_requested");
}
