//! A road-traffic accident claim on the road-traffic platform, with case
//! materials uploaded in chunks and fetched only by those entitled; and a
//! suspected staged accident reported as sham mediation.

use mediation_api::court::bundle_to_wire;
use mediation_core::fixtures::accident_bundle;
use mediation_proto::court::v1 as pb;
use mediation_proto::traffic::v1 as tp;
use tonic::Code;
use tonic_types::StatusExt;

use crate::world::{World, digest, scanned_file, ts};

/// Refers the accident with its certificate scan, uploaded first.
async fn refer(w: &mut World, court_referral_id: &str, scan: &[u8]) -> String {
    let mut bundle = bundle_to_wire(&accident_bundle());
    bundle.court_referral_id = court_referral_id.into();
    bundle.documents[0].name = "事故认定书.pdf".into();
    bundle.documents[0].sha256 = digest(scan).to_string();
    bundle.documents[0].size_bytes = scan.len() as u64;
    let submitted = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap()
        .into_inner();
    submitted.referral_id
}

fn take(case: &str) -> tp::TakeCaseRequest {
    tp::TakeCaseRequest {
        case_id: case.into(),
        room: "traffic-bj-cy".into(),
        mediator: "m-201".into(),
        room_case_number: "朝交调〔2025〕7号".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accident_claim_settles_with_uploaded_files_and_is_confirmed() {
    let mut w = World::start().await;
    let scan = scanned_file(3 * 1024 * 1024 + 17, 7);

    // A bundle listing a file that was never uploaded is refused, naming it.
    let mut bundle = bundle_to_wire(&accident_bundle());
    bundle.documents[0].sha256 = digest(&scan).to_string();
    let err = w
        .court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    let failure = err.get_details_precondition_failure().unwrap();
    assert_eq!(failure.violations[0].subject, "bundle.documents[0].sha256");

    // An upload whose bytes do not match the declared digest keeps nothing.
    let mut tampered = scan.clone();
    tampered[1000] ^= 1;
    let err = w
        .upload("court-bj", &tampered, &digest(&scan), 1024 * 1024)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "header.sha256"
    );
    // The court uploads the scan in 1 MiB chunks, then refers the case.
    let receipt = w
        .upload("court-bj", &scan, &digest(&scan), 1024 * 1024)
        .await
        .unwrap();
    assert!(receipt.created);
    let id = refer(&mut w, "TRF-1", &scan).await;
    w.deliver().await;

    // The room hears the accident in the platform's terms.
    let case = w.traffic.cases.all().remove(0);
    assert_eq!(case.case_id, id);
    assert_eq!(case.room, "traffic-bj-cy");
    // The delegation holds what deciding needs: who is involved and how
    // they stand, what is claimed. The certificate, the vehicles and
    // policies, liabilities and injuries wait for the room to take the case
    // (PIPL Art. 6 and 28).
    assert_eq!(case.disclosure(), tp::Disclosure::Offer);
    assert!(case.certificate_number.is_empty());
    assert!(case.vehicles.is_empty());
    let standing: Vec<(&str, &str, &str)> = case
        .persons
        .iter()
        .map(|p| (p.party.as_str(), p.standing.as_str(), p.liability.as_str()))
        .collect();
    assert_eq!(
        standing,
        [
            ("P1", "INJURED", ""),
            ("P2", "LIABLE", ""),
            ("P3", "INSURER", "")
        ]
    );
    assert_eq!(case.persons[0].disability_grade, 0);
    let items: Vec<&str> = case.claimed.iter().map(|c| c.item.as_str()).collect();
    assert_eq!(items, ["MEDICAL", "LOST_EARNINGS", "NURSING"]);
    assert_eq!(case.evidence[0].url, "", "kept by the gateway");

    // Before it takes the case the room sees the list of files but cannot
    // fetch them, nor the particulars; another organisation learns nothing.
    let err = w
        .download(&id, &digest(&scan), "traffic")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let particulars = tp::GetCaseParticularsRequest {
        case_id: id.clone(),
        room: "traffic-bj-cy".into(),
    };
    let err = w
        .traffic_api
        .get_case_particulars(particulars.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    let err = w.download(&id, &digest(&scan), "ccpit").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        w.download(&id, &digest(&scan), "court-bj")
            .await
            .unwrap()
            .len(),
        scan.len()
    );
    let err = w
        .download(&id, &digest(&scan), "court-sh")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "another court sees nothing");

    w.traffic_api.take_case(take(&id)).await.unwrap();
    // Taken: the room reads the whole case and fetches the files.
    let full = w
        .traffic_api
        .get_case_particulars(particulars)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.disclosure(), tp::Disclosure::Full);
    assert_eq!(full.certificate_number, "京公交认字〔2025〕第0105001号");
    let standing: Vec<(&str, &str, &str)> = full
        .persons
        .iter()
        .map(|p| (p.party.as_str(), p.standing.as_str(), p.liability.as_str()))
        .collect();
    assert_eq!(
        standing,
        [
            ("P1", "INJURED", "NONE"),
            ("P2", "LIABLE", "FULL"),
            ("P3", "INSURER", "")
        ]
    );
    assert_eq!(full.persons[0].disability_grade, 10);
    assert_eq!(full.vehicles[0].insurer, "P3");
    let fetched = w.download(&id, &digest(&scan), "traffic").await.unwrap();
    assert!(fetched == scan, "the room gets the bytes uploaded");

    // The signed agreement is uploaded by the room and listed with it.
    let signed_pdf = scanned_file(200_000, 9);
    w.upload("traffic", &signed_pdf, &digest(&signed_pdf), 64 * 1024)
        .await
        .unwrap();
    let at = ts("2025-03-14T16:00:00+08:00");
    // Submitted once they signed: a signature dated later than now is not one.
    w.at("2025-03-14T17:00:00+08:00").await;
    let signature = |by: &str| tp::Signed { by: by.into(), at };
    let mut agreement = tp::SubmitCompensationAgreementRequest {
        case_id: id.clone(),
        room: "traffic-bj-cy".into(),
        payouts: vec![
            tp::Payout {
                payer: "P3".into(),
                payee: "P1".into(),
                item: "MEDICAL".into(),
                amount: "30000.00".into(),
            },
            tp::Payout {
                payer: "P2".into(),
                payee: "P1".into(),
                item: "NURSING".into(),
                amount: "8000.00".into(),
            },
        ],
        other_terms: vec![],
        payment_method: "保险公司及李四转账至张三账户".into(),
        pay_by: "2025-04-15".into(),
        mediator: "m-201".into(),
        signatures: ["P1", "P2", "P3", "m-201", "traffic-bj-cy"]
            .into_iter()
            .map(signature)
            .collect(),
        files: vec![tp::Evidence {
            name: "赔偿调解协议.pdf".into(),
            media_type: "application/pdf".into(),
            size_bytes: signed_pdf.len() as u64,
            sha256: digest(&signed_pdf).to_string(),
            url: String::new(),
        }],
        // The parties and matters as the agreement states them; the gateway
        // checks them against the case and fills in nothing.
        parties: vec![
            tp::AgreementParty {
                reference: "P1".into(),
                name: "张三".into(),
                document_type: "ID_CARD".into(),
                document_number: "11010519491231002X".into(),
            },
            tp::AgreementParty {
                reference: "P2".into(),
                name: "李四".into(),
                document_type: "ID_CARD".into(),
                // Not the number the court gave.
                document_number: "11010519491231002X".into(),
            },
            tp::AgreementParty {
                reference: "P3".into(),
                name: "某财产保险股份有限公司北京分公司".into(),
                document_type: "USCC".into(),
                document_number: "91110000100001234U".into(),
            },
        ],
        disputed_matters: "医疗费、护理费的数额及赔付主体".into(),
    };
    let err = w
        .traffic_api
        .submit_compensation_agreement(agreement.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument, "{err:?}");
    assert!(err.message().contains("P2"), "{err:?}");
    agreement.parties[1].document_number = "110108198503120038".into();
    agreement.payouts[1].item = "TEA".into();
    let err = w
        .traffic_api
        .submit_compensation_agreement(agreement.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "payouts[1].item"
    );
    agreement.payouts[1].item = "NURSING".into();
    let state = w
        .traffic_api
        .submit_compensation_agreement(agreement)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "agreed");
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
    assert_eq!(
        a.disputed_matters, "医疗费、护理费的数额及赔付主体",
        "the agreement's own words, not the cause of action"
    );
    // The court can now fetch the signed agreement too.
    assert_eq!(
        w.download(&id, &digest(&signed_pdf), "court-bj")
            .await
            .unwrap(),
        signed_pdf
    );

    w.clock.set("2025-03-15T09:00:00+08:00".parse().unwrap());
    w.traffic_api
        .apply_for_confirmation(tp::ApplyForConfirmationRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            applied_at: ts("2025-03-15T09:00:00+08:00"),
        })
        .await
        .unwrap();
    w.court_api
        .record_ruling(pb::RecordRulingRequest {
            referral_id: id.clone(),
            court: "京0105".into(),
            outcome: pb::RulingOutcome::Confirmed.into(),
            case_number: "（2025）京0105民特88号".into(),
            reasons: String::new(),
            ruled_at: ts("2025-03-20T10:00:00+08:00"),
        })
        .await
        .unwrap();
    w.deliver().await;
    let decisions = w.traffic.decisions.all();
    assert_eq!(decisions.len(), 1);
    assert_eq!(decisions[0].decision, "CONFIRMED");
    assert_eq!(decisions[0].court_case_number, "（2025）京0105民特88号");
    assert_eq!(
        w.grpc_court.events_of(&id),
        [
            "routed",
            "offer_delivered",
            "accepted",
            "agreement_reached",
            "confirmation_applied"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspected_staged_accident_is_reported_to_the_court() {
    let mut w = World::start().await;
    let scan = scanned_file(10_000, 3);
    w.upload("court-bj", &scan, &digest(&scan), 4096)
        .await
        .unwrap();
    let id = refer(&mut w, "TRF-SHAM", &scan).await;
    w.traffic_api.take_case(take(&id)).await.unwrap();
    let err = w
        .traffic_api
        .report_sham_mediation(tp::ReportShamMediationRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            grounds: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let state = w
        .traffic_api
        .report_sham_mediation(tp::ReportShamMediationRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            grounds: "双方当事人系亲属，事故现场照片显示车辆损伤与陈述不符，疑为骗取保险金".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "sham_mediation_reported");
    w.deliver().await;
    assert_eq!(
        w.grpc_court.events_of(&id),
        ["routed", "accepted", "sham_mediation_suspected"]
    );
    // Operators are alerted, without the grounds, which are case content.
    let alerts = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .alerts_after(0, 100)
        .unwrap();
    let sham: Vec<_> = alerts
        .iter()
        .filter(|a| a.record.kind == mediation_core::alert::AlertKind::ShamMediationReported)
        .collect();
    assert_eq!(sham.len(), 1, "{alerts:?}");
    assert_eq!(
        sham[0].record.referral.as_ref().map(ToString::to_string),
        Some(id.clone())
    );
    assert!(!sham[0].record.detail.contains("骗取保险金"));
    // Mediation stopped: the room can no longer settle it.
    let err = w
        .traffic_api
        .apply_for_confirmation(tp::ApplyForConfirmationRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            applied_at: ts("2025-03-15T09:00:00+08:00"),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    // The report suspends mediation until the court decides (seed 000
    // §(十七)). Reported on Monday 3 March, decided on Monday 10 March: the
    // court finds no sham, mediation resumes and the seven suspended days do
    // not count (30 days from 3 March: 2 April, now 9 April).
    w.clock.set("2025-03-10T09:00:00+08:00".parse().unwrap());
    let resolve = |finding: pb::ShamMediationFinding| pb::ResolveShamMediationRequest {
        referral_id: id.clone(),
        court: "京0105".into(),
        finding: finding.into(),
        note: "经审查，事故属实，不构成虚假调解".into(),
    };
    let resumed = w
        .court_api
        .resolve_sham_mediation(resolve(pb::ShamMediationFinding::NotSham))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(resumed.status(), pb::ReferralStatus::InMediation);
    assert_eq!(resumed.mediation_deadline.unwrap().due_date, "2025-04-09");
    w.deliver().await;
    let decisions = w.traffic.decisions.all();
    let told = decisions.iter().find(|d| d.case_id == id).unwrap();
    assert_eq!(told.decision, "MEDIATION_RESUMED");
    assert_eq!(told.mediate_by, "2025-04-09");
    // Reported again, and this time the court finds it real: mediation
    // ends, the case comes back, and the room is told to let it go.
    w.traffic_api
        .report_sham_mediation(tp::ReportShamMediationRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            grounds: "新发现双方串通的证据".into(),
        })
        .await
        .unwrap();
    let ended = w
        .court_api
        .resolve_sham_mediation(resolve(pb::ShamMediationFinding::Sham))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ended.status(), pb::ReferralStatus::ReturnedToCourt);
    w.deliver().await;
    let last = w
        .traffic
        .decisions
        .all()
        .into_iter()
        .rev()
        .find(|d| d.case_id == id)
        .unwrap();
    assert_eq!(
        (last.decision.as_str(), last.cause.as_str()),
        ("WITHDRAWN", "SHAM_MEDIATION")
    );
    let events = w.grpc_court.events_of(&id);
    assert_eq!(
        events.last().map(String::as_str),
        Some("returned_to_court"),
        "{events:?}"
    );
    // Nothing is left to decide.
    let err = w
        .court_api
        .resolve_sham_mediation(resolve(pb::ShamMediationFinding::NotSham))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rooms_failure_report_carries_notes_and_confirmed_addresses() {
    // Online rules Art. 21: what the court uses after a failure, as the
    // other platforms report it.
    let mut w = World::start().await;
    let scan = scanned_file(10_000, 5);
    w.upload("court-bj", &scan, &digest(&scan), 4096)
        .await
        .unwrap();
    let id = refer(&mut w, "TRF-FAIL", &scan).await;
    w.traffic_api.take_case(take(&id)).await.unwrap();
    w.traffic_api
        .report_failure(tp::ReportFailureRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            course: "组织三方调解一次".into(),
            reasons: "保险公司对伤残等级有异议".into(),
            undisputed_facts: vec!["事故发生于2025年2月20日".into()],
            notes_for_court: "建议委托伤残等级鉴定".into(),
            cost_raising_conduct: String::new(),
            confirmed_addresses: vec![tp::ConfirmedAddress {
                party: "P1".into(),
                address: "北京市朝阳区某路1号".into(),
            }],
        })
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
    assert_eq!(f.notes_for_court, "建议委托伤残等级鉴定");
    assert_eq!(f.confirmed_addresses.len(), 1);
    assert_eq!(f.confirmed_addresses[0].address, "北京市朝阳区某路1号");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insurers_hear_of_the_case_and_of_what_their_policies_pay_party_or_not() {
    // An insurer takes part in a road-traffic mediation whether or not it is
    // sued. The driver's compulsory insurer here is not a party; the
    // commercial insurer of a second vehicle (P3) is.
    use mediation_core::particulars::{Particulars, Vehicle};
    use mediation_core::text::Line;
    let w = World::start().await;
    let mut bundle = accident_bundle();
    bundle.court_referral_id = "TRF-INS".parse().unwrap();
    let Some(Particulars::RoadTraffic(accident)) = &mut bundle.particulars else {
        panic!("an accident bundle has accident particulars")
    };
    accident.vehicles[0].insurer = None;
    accident.vehicles[0].insurer_name =
        Some(Line::parse("某财产保险股份有限公司北京分公司").unwrap());
    accident.vehicles.push(Vehicle {
        plate: Line::parse("京B67890").unwrap(),
        driver: None,
        insurer: Some("P3".parse().unwrap()),
        insurer_name: None,
        compulsory_policy: None,
        commercial_policy: Some(Line::parse("PDAA202511010000777").unwrap()),
    });
    let mut wire = bundle_to_wire(&bundle);
    wire.documents.clear();
    assert_eq!(
        wire.particulars
            .as_ref()
            .and_then(|p| match p {
                pb::case_bundle::Particulars::RoadTraffic(a) => {
                    Some(a.vehicles[0].insurer_name.clone())
                }
                _ => None,
            })
            .unwrap(),
        "某财产保险股份有限公司北京分公司",
        "the court names an insurer that is not a party"
    );
    let id = w
        .court_api
        .clone()
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(wire) })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    w.deliver().await;
    assert!(
        w.traffic.insurers.all().is_empty(),
        "nothing before the room takes it"
    );

    w.traffic_api.clone().take_case(take(&id)).await.unwrap();
    w.deliver().await;
    let notices = w.traffic.insurers.all();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let referral = &notices[0];
    assert_eq!(referral.stage(), tp::InsurerStage::Referral);
    assert_eq!(referral.case_id, id);
    assert_eq!(referral.room, "traffic-bj-cy");
    let who: Vec<(&str, &str, Vec<String>, Vec<String>)> = referral
        .insurers
        .iter()
        .map(|i| {
            (
                i.party.as_str(),
                i.name.as_str(),
                i.policies.clone(),
                i.plates.clone(),
            )
        })
        .collect();
    assert_eq!(
        who,
        [
            (
                "",
                "某财产保险股份有限公司北京分公司",
                vec!["PDZA202511010000001".to_owned()],
                vec!["京A12345".to_owned()]
            ),
            (
                "P3",
                bundle.party(&"P3".parse().unwrap()).unwrap().name.as_str(),
                vec!["PDAA202511010000777".to_owned()],
                vec!["京B67890".to_owned()]
            ),
        ]
    );
    assert!(referral.insurers.iter().all(|i| i.payouts.is_empty()));

    // The agreement: the driver (P2) pays nursing, P3 pays medical costs.
    let at = ts("2025-03-14T16:00:00+08:00");
    // Submitted once they signed: a signature dated later than now is not one.
    w.at("2025-03-14T17:00:00+08:00").await;
    let signature = |by: &str| tp::Signed { by: by.into(), at };
    let payout = |payer: &str, item: &str, amount: &str| tp::Payout {
        payer: payer.into(),
        payee: "P1".into(),
        item: item.into(),
        amount: amount.into(),
    };
    w.traffic_api
        .clone()
        .submit_compensation_agreement(tp::SubmitCompensationAgreementRequest {
            case_id: id.clone(),
            room: "traffic-bj-cy".into(),
            payouts: vec![
                payout("P3", "MEDICAL", "30000.00"),
                payout("P2", "NURSING", "8000.00"),
            ],
            other_terms: vec![],
            payment_method: "转账".into(),
            pay_by: "2025-04-15".into(),
            mediator: "m-201".into(),
            signatures: ["P1", "P2", "P3", "m-201", "traffic-bj-cy"]
                .into_iter()
                .map(signature)
                .collect(),
            files: vec![],
            // The older form: the parties as the court named them.
            parties: vec![],
            disputed_matters: String::new(),
        })
        .await
        .unwrap();
    w.deliver().await;
    let notices = w.traffic.insurers.all();
    assert_eq!(notices.len(), 2, "{notices:?}");
    let agreed = &notices[1];
    assert_eq!(agreed.stage(), tp::InsurerStage::Agreement);
    let pays: Vec<Vec<(&str, &str, &str)>> = agreed
        .insurers
        .iter()
        .map(|i| {
            i.payouts
                .iter()
                .map(|p| (p.payer.as_str(), p.item.as_str(), p.amount.as_str()))
                .collect()
        })
        .collect();
    assert_eq!(
        pays,
        [
            vec![("P2", "NURSING", "8000.00")],
            vec![("P3", "MEDICAL", "30000.00")]
        ],
        "each insurer hears of what its policies answer for, and only that"
    );
}
