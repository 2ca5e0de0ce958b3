//! Minimum disclosure (PIPL Art. 6; seed 003 二(一)), over the wire: what
//! each platform's offer carries, byte for byte; the particulars and the
//! files only after acceptance; and nothing, with a deletion notice, for an
//! organisation that declined.

use mediation_api::court::bundle_to_wire;
use mediation_core::bundle::CaseBundle;
use mediation_core::fixtures::{accident_bundle, labour_bundle, sample_bundle};
use mediation_core::particulars::Particulars;
use mediation_core::text::Line;
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::court::v1 as pb;
use mediation_proto::labour::v1 as lp;
use mediation_proto::traffic::v1 as tp;
use prost::Message;
use tonic::Code;

use crate::world::{LabourMessage, World};

/// The bundle with a region for every party, as a court would state it.
fn with_regions(mut bundle: CaseBundle, court_referral_id: &str) -> CaseBundle {
    for (i, party) in bundle.parties.iter_mut().enumerate() {
        party.region = Some(Line::parse(&format!("北京市第{i}区")).unwrap());
    }
    bundle.court_referral_id = court_referral_id.parse().unwrap();
    bundle
}

async fn submit(w: &World, bundle: &CaseBundle) -> String {
    let mut wire = bundle_to_wire(bundle);
    wire.documents.clear();
    w.court_api
        .clone()
        .submit_referral(pb::SubmitReferralRequest { bundle: Some(wire) })
        .await
        .unwrap()
        .into_inner()
        .referral_id
}

/// Whether `needle` occurs in `bytes`.
fn contains(bytes: &[u8], needle: &str) -> bool {
    bytes
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

/// Every party's name and region are in the offer's bytes, and none of its
/// identity number, contact, address or the `withheld` values. (The list of
/// files an offer carries is checked in `traffic_flow`.)
fn assert_minimal(platform: &str, bytes: &[u8], bundle: &CaseBundle, withheld: &[&str]) {
    for party in &bundle.parties {
        assert!(contains(bytes, party.name.as_str()), "{platform}: name");
        let region = party.region.as_ref().unwrap();
        assert!(contains(bytes, region.as_str()), "{platform}: region");
        for (what, value) in [
            ("identity number", party.identity.number()),
            ("contact", party.contact.as_str()),
            ("address", party.service_address.as_str()),
        ] {
            assert!(
                !contains(bytes, value),
                "{platform}'s offer holds {}'s {what} {value}",
                party.reference
            );
        }
    }
    for value in withheld {
        assert!(!contains(bytes, value), "{platform}'s offer holds {value}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_platforms_offer_holds_no_identity_numbers_contacts_or_addresses() {
    let w = World::start().await;

    // CCPIT.
    let ccpit = with_regions(sample_bundle(), "DISC-CCPIT");
    let ccpit_id = submit(&w, &ccpit).await;
    // Labour: the worker's wage and position are withheld too.
    let labour = with_regions(labour_bundle(), "DISC-LABOUR");
    let labour_id = submit(&w, &labour).await;
    // Road traffic: the accident certificate, plates and policies, and the
    // injuries (health data, PIPL Art. 28) are withheld too.
    let traffic = with_regions(accident_bundle(), "DISC-TRAFFIC");
    let traffic_id = submit(&w, &traffic).await;
    w.deliver().await;

    let offer = w
        .ccpit
        .offers
        .all()
        .into_iter()
        .find(|o| o.case_id == ccpit_id)
        .unwrap();
    assert_eq!(offer.disclosure(), cp::Disclosure::Offer);
    assert!(!offer.claims.is_empty() && offer.amount_in_dispute.is_some());
    assert_minimal("CCPIT", &offer.encode_to_vec(), &ccpit, &[]);

    let referral = w
        .labour
        .messages
        .all()
        .into_iter()
        .find_map(|m| match m {
            LabourMessage::Referral(r) if r.dispute_id == labour_id => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(referral.disclosure(), lp::Disclosure::Offer);
    assert!(!referral.claim_items.is_empty());
    let Some(Particulars::Labour(employment)) = &labour.particulars else {
        panic!("a labour bundle has labour particulars")
    };
    let wage = employment.monthly_wage.as_ref().unwrap().decimal();
    assert_minimal(
        "labour",
        &referral.encode_to_vec(),
        &labour,
        &[wage.as_str()],
    );

    let case = w
        .traffic
        .cases
        .all()
        .into_iter()
        .find(|c| c.case_id == traffic_id)
        .unwrap();
    assert_eq!(case.disclosure(), tp::Disclosure::Offer);
    let Some(Particulars::RoadTraffic(accident)) = &traffic.particulars else {
        panic!("an accident bundle has accident particulars")
    };
    let mut withheld = vec![
        accident.certificate_number.as_str(),
        accident.place.as_str(),
    ];
    for vehicle in &accident.vehicles {
        withheld.push(vehicle.plate.as_str());
        withheld.extend(vehicle.compulsory_policy.as_ref().map(|p| p.as_str()));
        withheld.extend(vehicle.commercial_policy.as_ref().map(|p| p.as_str()));
    }
    assert!(
        accident
            .injuries
            .iter()
            .any(|i| i.disability_grade.is_some())
    );
    assert!(case.persons.iter().all(|p| p.disability_grade == 0));
    assert_minimal("road-traffic", &case.encode_to_vec(), &traffic, &withheld);

    // Before acceptance the particulars are refused, plainly.
    let err = w
        .ccpit_api
        .clone()
        .get_case_particulars(cp::GetCaseParticularsRequest {
            case_id: ccpit_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");
    assert!(err.message().contains("accepts"), "{err:?}");
    let err = w
        .labour_api
        .clone()
        .get_dispute_particulars(lp::GetDisputeParticularsRequest {
            dispute_id: labour_id.clone(),
            committee: referral.committee.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::FailedPrecondition, "{err:?}");

    // After acceptance the centre reads every party's particulars.
    w.ccpit_api
        .clone()
        .accept_case(cp::AcceptCaseRequest {
            case_id: ccpit_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            mediator: "m-007".into(),
            centre_case_number: "CCPIT-BJ-2025-0099".into(),
        })
        .await
        .unwrap();
    let full = w
        .ccpit_api
        .clone()
        .get_case_particulars(cp::GetCaseParticularsRequest {
            case_id: ccpit_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.disclosure(), cp::Disclosure::Full);
    let bytes = full.encode_to_vec();
    for party in &ccpit.parties {
        assert!(contains(&bytes, party.identity.number()));
        assert!(contains(&bytes, party.contact.as_str()));
        assert!(contains(&bytes, party.service_address.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organisation_that_declines_is_told_to_delete_and_reads_nothing_more() {
    let w = World::start().await;
    let bundle = sample_bundle();
    let id = submit(&w, &bundle).await;
    w.deliver().await;
    w.ccpit_api
        .clone()
        .decline_case(cp::DeclineCaseRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            reason_code: "NO_CAPACITY".into(),
            explanation: "本月案件已满".into(),
        })
        .await
        .unwrap();
    w.deliver().await;

    // The platform is told, durably, that the decline is recorded and that
    // what it received must go (PIPL Art. 47).
    let notices: Vec<cp::Recall> = w
        .ccpit
        .decisions
        .all()
        .into_iter()
        .filter(|d| d.case_id == id)
        .filter_map(|d| match d.decision {
            Some(cp::court_decision::Decision::Recall(r)) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(notices[0].cause, "DECLINED");
    assert!(notices[0].reason.contains("delete"), "{notices:?}");

    // It can never read the particulars or fetch a file: to it, the case
    // does not exist.
    let err = w
        .ccpit_api
        .clone()
        .get_case_particulars(cp::GetCaseParticularsRequest {
            case_id: id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
    let err = w
        .download(&id, &bundle.documents[0].sha256, "ccpit")
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound, "{err:?}");
}

/// An offer still waiting in the outbox (its platform down) when the court
/// recalls the referral is never sent: the organisation would receive a
/// case it no longer holds. The lane moves on to what follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_waiting_when_its_referral_is_recalled_is_never_sent() {
    let w = World::start().await;
    w.ccpit.offers.set_down(true);
    w.ccpit.decisions.set_down(true);
    let bundle = with_regions(sample_bundle(), "DISC-STALE");
    let id = submit(&w, &bundle).await;
    w.deliver().await;
    assert!(w.ccpit.offers.all().is_empty(), "the platform is down");
    w.court_api
        .clone()
        .recall_referral(pb::RecallReferralRequest {
            referral_id: id.clone(),
            court: bundle.court.to_string(),
            reason: "当事人撤诉".into(),
        })
        .await
        .unwrap();
    w.ccpit.offers.set_down(false);
    w.ccpit.decisions.set_down(false);
    for _ in 0..3 {
        w.advance(jiff::SignedDuration::from_mins(30));
        w.deliver().await;
    }
    assert!(
        w.ccpit.offers.all().iter().all(|o| o.case_id != id),
        "the recalled referral's offer reached the platform"
    );
    let backlog = w
        .assembly
        .gateway
        .store()
        .sled()
        .unwrap()
        .pending_messages(&id.parse().unwrap())
        .unwrap();
    assert!(backlog.is_empty(), "nothing of it waits: {backlog:?}");
}
