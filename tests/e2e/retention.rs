//! The records' life over the wire: a case carried through the National Day
//! holiday, an appraisal pause, an agreement and its confirmation, and then
//! past its retention (PIPL Art. 47). Its personal data and its case file
//! go, from the store and from disk; its timeline, its statistics and the
//! audit trail stay; the platform is told the particulars were deleted.

use jiff::SignedDuration;
use mediation_core::audit::AuditVerification;
use mediation_core::lifecycle::Change;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::court::v1 as pb;
use mediation_proto::operations::v1 as ops;
use mediation_proto::operations::v1::operations_client::OperationsClient;
use tonic::Code;

use crate::law_sequences::{
    CENTRE, accept, agreed_then_refused, apply, delegated, outcome, progress, ruling, settlement,
    submit, world_at,
};
use crate::world::{World, court_view, digest, scanned_file, ts};

async fn statistics(w: &World) -> ops::GetStatisticsResponse {
    OperationsClient::new(w.connect_as("operators").await)
        .get_statistics(ops::GetStatisticsRequest {
            from: ts("2026-08-01T00:00:00+08:00"),
            to: ts("2028-01-01T00:00:00+08:00"),
            partner: String::new(),
        })
        .await
        .unwrap()
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmed_case_past_its_retention_is_purged_with_its_file_and_still_counted() {
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    // The court uploads its scanned pleading and lists it.
    let scan = scanned_file(40_000, 7);
    let d = digest(&scan);
    w.upload("court-bj", &scan, &d, 8192).await.unwrap();
    let mut bundle = delegated("RET-E2E");
    bundle.documents = vec![pb::Document {
        name: "起诉状.pdf".into(),
        media_type: "application/pdf".into(),
        size_bytes: scan.len() as u64,
        sha256: d.to_string(),
        url: String::new(),
    }];
    let id = submit(&mut s, bundle).await;
    w.deliver().await;
    w.at("2026-09-02T10:00:00+08:00").await;
    s.ccpit.accept_case(accept(&id)).await.unwrap();
    // Accepted twice: refused, with a detail its audit entry keeps until
    // the audit details' period ends.
    let refused = s.ccpit.accept_case(accept(&id)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    // An appraisal across the holiday, then an agreement and its confirmation.
    w.at("2026-09-14T10:00:00+08:00").await;
    s.ccpit
        .report_progress(progress(
            &id,
            cp::report_progress_request::Progress::AppraisalStarted("工程造价鉴定".into()),
        ))
        .await
        .unwrap();
    w.at("2026-10-09T10:00:00+08:00").await;
    s.ccpit
        .report_progress(progress(
            &id,
            cp::report_progress_request::Progress::AppraisalEnded(true),
        ))
        .await
        .unwrap();
    w.at("2026-10-12T10:00:00+08:00").await;
    s.ccpit
        .submit_settlement(settlement(&id, "2026-10-12T09:00:00+08:00"))
        .await
        .unwrap();
    s.ccpit
        .apply_for_confirmation(apply(&id, "2026-10-12T09:30:00+08:00"))
        .await
        .unwrap();
    w.at("2026-10-19T10:00:00+08:00").await;
    s.court
        .record_ruling(ruling(
            &id,
            pb::RulingOutcome::Confirmed,
            "2026-10-19T10:00:00+08:00",
        ))
        .await
        .unwrap();
    w.deliver().await;
    assert_eq!(
        court_view(&mut s.court, &id).await.status(),
        pb::ReferralStatus::Confirmed
    );
    // The centre reads the whole case while it holds it.
    let particulars = cp::GetCaseParticularsRequest {
        case_id: id.clone(),
        mediation_centre: CENTRE.into(),
    };
    s.ccpit
        .get_case_particulars(particulars.clone())
        .await
        .unwrap();
    assert_eq!(w.download(&id, &d, "court-bj").await.unwrap(), scan);
    let figures = statistics(&w).await;
    let file = w
        .assembly
        .documents
        .root()
        .join("sha256")
        .join(&d.as_str()[..2])
        .join(d.as_str());
    assert!(file.is_file());

    let retention = w.assembly.retention.clone().expect("retention is on");
    // 179 days after the ruling: kept (the shipped policy keeps a confirmed
    // case 180 days).
    w.at("2027-04-16T10:00:00+08:00").await;
    let first = retention.pass().await.unwrap();
    assert_eq!((first.kept, first.purged), (1, 0), "{first:?}");
    // 180 days: purged, and its file with it.
    w.advance(SignedDuration::from_hours(24));
    let report = retention.pass().await.unwrap();
    assert_eq!((report.purged, report.files_removed), (1, 1), "{report:?}");

    // On disk: the file and the record of who uploaded it are gone.
    assert!(!file.exists(), "{} is still on disk", file.display());
    assert!(
        !w.assembly
            .documents
            .root()
            .join("uploaders")
            .join(d.as_str())
            .exists()
    );
    // In the store: no trace of a party's name, number, contact or the terms.
    let store = w.assembly.gateway.store().sled().unwrap();
    let referral_id = id.parse().unwrap();
    let history = store.history(&referral_id).unwrap().unwrap();
    let stored = format!("{history:?}{:?}", store.referral(&referral_id).unwrap());
    for personal in [
        "张三",
        "11010519491231002X",
        "13800000000",
        "100000元",
        "起诉状",
    ] {
        assert!(!stored.contains(personal), "{personal} survived the purge");
    }
    assert!(matches!(
        history.last().unwrap().change,
        Change::PersonalDataPurged { .. }
    ));
    // What `store verify` checks still holds.
    assert!(matches!(
        store.verify_audit().unwrap(),
        AuditVerification::Intact { .. }
    ));
    let check = store.verify_histories().unwrap();
    assert!(check.snapshot_mismatches.is_empty(), "{check:?}");
    assert!(check.load_mismatches.is_empty(), "{check:?}");

    // Over the wire: the court's timeline says so, the figures are the
    // same, the file is gone and the centre is told why.
    let view = court_view(&mut s.court, &id).await;
    assert_eq!(view.status(), pb::ReferralStatus::Confirmed);
    let last = view.timeline.last().unwrap();
    assert_eq!(last.event, "personal_data_purged");
    assert!(last.summary.contains("PIPL Art. 47"), "{}", last.summary);
    assert_eq!(statistics(&w).await, figures);
    let err = w.download(&id, &d, "court-bj").await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = s.ccpit.get_case_particulars(particulars).await.unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("retention policy"),
        "{}",
        err.message()
    );
    // The audit trail names the purge, its policy and who made it.
    let audit = OperationsClient::new(w.connect_as("operators").await)
        .query_audit(ops::QueryAuditRequest {
            referral_id: id.clone(),
            limit: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let purge = audit
        .entries
        .iter()
        .find(|e| e.action == "purge_personal_data")
        .expect("the purge is in the audit trail");
    assert_eq!(purge.actor, mediation_service::RETENTION_ACTOR);
    assert_eq!(purge.outcome, "ok: policy particulars.default");
    // The refused acceptance was older than the audit details' 180 days at
    // the first pass: its entry stays with its code, its detail is gone.
    assert!(first.audit_details_purged > 0, "{first:?}");
    let twice: Vec<&ops::AuditEntry> = audit
        .entries
        .iter()
        .filter(|e| {
            e.action
                .ends_with("/mediation.ccpit.v1.CcpitGateway/AcceptCase")
        })
        .collect();
    assert_eq!(twice.len(), 2, "{twice:?}");
    assert_eq!(twice[0].outcome, "ok");
    assert_eq!(
        (
            twice[1].outcome.as_str(),
            twice[1].detail_purged,
            twice[1].detail.as_str()
        ),
        ("FailedPrecondition", true, ""),
        "{:?}",
        twice[1]
    );
    // The trail says when the details were purged, and by which policy.
    let passes = OperationsClient::new(w.connect_as("operators").await)
        .query_audit(ops::QueryAuditRequest {
            method: "purge_audit_details".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let said = &passes.entries.first().expect("the purge is in the trail");
    assert_eq!(said.actor, mediation_service::RETENTION_ACTOR);
    assert_eq!(said.outcome, "ok");
    assert!(
        said.action
            .starts_with("purge_audit_details: policy audit_details (180 days): the details of"),
        "{}",
        said.action
    );
    // An auditor's export of the whole chain, purged details and all,
    // verifies with the independent checker.
    let (code, said) = verify_independently(&w).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.starts_with("verified "), "{said}");
}

/// Every entry of the chain over the operators' API, as `ops audit
/// --export` writes them (docs/security.md), checked by
/// `tests/python/verify_audit.py`: its exit code and what it printed.
async fn verify_independently(w: &World) -> (i32, String) {
    use base64::Engine as _;
    let mut client = OperationsClient::new(w.connect_as("operators").await);
    let mut lines = String::new();
    let mut after = None;
    loop {
        let page = client
            .query_audit(ops::QueryAuditRequest {
                after_seq: after,
                limit: 1000,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        for e in &page.entries {
            let at = e.at.as_ref().unwrap();
            let line = serde_json::json!({
                "seq": e.seq,
                "at": jiff::Timestamp::new(at.seconds, at.nanos).unwrap().to_string(),
                "actor": e.actor,
                "action": e.action,
                "referral": (!e.referral_id.is_empty()).then_some(&e.referral_id),
                "outcome": e.outcome,
                "prev_hash": e.prev_hash,
                "hash": e.hash,
                "record": base64::engine::general_purpose::STANDARD.encode(&e.record),
                "detail": (!e.detail_purged).then_some(&e.detail),
            });
            lines.push_str(&format!("{line}\n"));
        }
        match page.next_after_seq {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let export = dir.path().join("trail.jsonl");
    std::fs::write(&export, lines).unwrap();
    crate::audit_trail::verify(&export)
}

/// A refused confirmation rests (the parties may agree again or sue, CPL
/// Art. 206), once the court's reminder to decide has gone out. Past its
/// period it is purged; a new agreement then cannot be
/// checked against the parties and is refused with the reason, while the
/// court can still record the suit it docketed, and the next pass purges
/// nothing that event did not bring.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_refused_confirmation_is_purged_a_new_agreement_is_refused_and_the_suit_recorded() {
    let (w, mut s) = world_at("2026-08-31T09:00:00+08:00").await;
    let id = submit(&mut s, delegated("RET-REFUSED")).await;
    w.deliver().await;
    w.at("2026-09-02T10:00:00+08:00").await;
    s.ccpit.accept_case(accept(&id)).await.unwrap();
    agreed_then_refused(&w, &mut s, &id).await;
    w.deliver().await;
    let retention = w.assembly.retention.clone().expect("retention is on");
    // The court is awaited (CPL Art. 126: reminded after 7 working days):
    // its reminder keeps the referral busy, however short the policy.
    let report = retention.pass().await.unwrap();
    assert_eq!((report.busy, report.purged), (1, 0), "{report:?}");
    // The reminder goes out after the National Day holiday; then half a
    // year passes with nothing, more than the shipped 180 days.
    w.at("2026-10-12T10:00:00+08:00").await;
    w.at("2027-04-12T10:00:00+08:00").await;
    let report = retention.pass().await.unwrap();
    let timeline: Vec<String> = court_view(&mut s.court, &id)
        .await
        .timeline
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(report.purged, 1, "{report:?} {timeline:?}");
    assert!(timeline.contains(&"court_decision_overdue".to_owned()));
    assert_eq!(
        court_view(&mut s.court, &id).await.status(),
        pb::ReferralStatus::ConfirmationRefused
    );
    // The parties come back with a new agreement: nothing to check it against.
    let err = s
        .ccpit
        .submit_settlement(settlement(&id, "2027-04-12T09:00:00+08:00"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition);
    assert!(
        err.message().contains("retention policy")
            && err.message().contains("refers the case anew"),
        "{}",
        err.message()
    );
    // The court records the suit the parties brought instead.
    s.court
        .record_court_outcome(outcome(
            &id,
            pb::CourtOutcome::Docketed,
            "（2027）京0105民初77号",
        ))
        .await
        .unwrap();
    let seen = court_view(&mut s.court, &id).await;
    assert_eq!(seen.court_outcome(), pb::CourtOutcome::Docketed);
    // The docketing brought no personal data; the next pass purges it only
    // once its own period has passed.
    let report = retention.pass().await.unwrap();
    assert_eq!((report.purged, report.kept), (0, 1), "{report:?}");
    let events: Vec<String> = court_view(&mut s.court, &id)
        .await
        .timeline
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(
        events
            .iter()
            .filter(|e| *e == "personal_data_purged")
            .count(),
        1,
        "{events:?}"
    );
}
