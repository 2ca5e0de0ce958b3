//! The main flow over real gRPC on loopback, with a simulated court system and a
//! simulated CCPIT platform: the court refers, the gateway routes to a centre on
//! the court's roster, the centre accepts, settles, applies for confirmation,
//! the court rules, and each side hears what it must, in order.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use crate::field_paths::named_fields;
use crate::tls::{ActingAs, ccpit_platform, court_system};
use crate::world::settlement_parties;
use mediation_api::ccpit::{CcpitService, CcpitTransport};
use mediation_api::court::{CourtAddress, CourtService, CourtTransport, bundle_to_wire};
use mediation_api::outbound::Outbound;
use mediation_api::transport::{Destinations, OfferReceipts};
use mediation_core::bundle::DisputeDomain;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::fixtures::{at, court, line, organisation, sample_bundle, shipped_calendar};
use mediation_core::partner::Partner;
use mediation_core::routing::{Roster, RosterEntry};
use mediation_delivery::{Relay, RelayOptions};
use mediation_gateway::sim::{SimCcpit, SimCourt, spawn_grpc};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_client::CcpitGatewayClient;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGatewayServer;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_client::CourtGatewayClient;
use mediation_proto::court::v1::court_gateway_server::CourtGatewayServer;
use mediation_service::{Commands, Policies};
use mediation_store::{SledStore, StoreOptions};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::Code;
use tonic::service::Routes;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_types::StatusExt;

async fn listen() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn channel(addr: SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

fn roster() -> Roster {
    Roster::new(
        vec![RosterEntry {
            id: organisation("ccpit-bj-01"),
            name: line("中国贸促会北京调解中心"),
            partner: Partner::Ccpit,
            confirmed_by: court("京"),
            region: court("京01"),
            domains: [DisputeDomain::Commercial].into(),
            causes: BTreeSet::new(),
            specialities: [line("买卖合同")].into(),
            capacity: 50,
            mediators: Vec::new(),
        }],
        mediation_core::fixtures::courts(),
    )
}

struct World {
    _dir: tempfile::TempDir,
    court_side: SimCourt,
    platform: SimCcpit,
    relay: Arc<Relay<SledStore, Destinations>>,
    court_api: CourtGatewayClient<Channel>,
    ccpit_api: CcpitGatewayClient<Channel>,
    clock: Arc<ManualClock>,
}

/// A court system, a CCPIT platform and the gateway between them, on loopback.
async fn start() -> World {
    // The simulated court system and CCPIT platform.
    let court_side = SimCourt::default();
    let (l, court_addr) = listen().await;
    spawn_grpc(l, None, Routes::new(court_side.server()));
    let platform = SimCcpit::default();
    let (l, platform_addr) = listen().await;
    spawn_grpc(l, None, Routes::new(platform.server()));

    // The gateway.
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).unwrap();
    let manual = Arc::new(ManualClock::new(at("2025-03-03T09:00:00+08:00")));
    let clock: Arc<dyn Clock> = manual.clone();
    let gateway = Arc::new(Commands::new(
        store.clone(),
        Arc::new(RwLock::new(shipped_calendar())),
        Policies::default(),
        Arc::new(roster()),
        mediation_core::fixtures::courts(),
        Arc::clone(&clock),
    ));
    let destinations = Destinations {
        courts: CourtTransport::new(
            BTreeMap::from([(
                court("京"),
                CourtAddress::Grpc(format!("http://{court_addr}")),
            )]),
            mediation_core::fixtures::courts(),
            &Outbound::plaintext(),
        )
        .unwrap(),
        ccpit: Some(
            CcpitTransport::new(&format!("http://{platform_addr}"), &Outbound::plaintext())
                .unwrap(),
        ),
        receipts: Some(Arc::clone(&gateway) as Arc<dyn OfferReceipts>),
        ..Destinations::default()
    };
    let relay = Arc::new(Relay::new(
        store,
        Arc::new(destinations),
        clock,
        RelayOptions::default(),
    ));
    let (l, gateway_addr) = listen().await;
    let courts = CourtService::new(Arc::clone(&gateway), Some(relay.handle()));
    let partners = CcpitService::new(Arc::clone(&gateway), Some(relay.handle()));
    tokio::spawn(async move {
        Server::builder()
            .add_service(CourtGatewayServer::with_interceptor(
                courts,
                ActingAs(court_system()),
            ))
            .add_service(CcpitGatewayServer::with_interceptor(
                partners,
                ActingAs(ccpit_platform()),
            ))
            .serve_with_incoming(TcpListenerStream::new(l))
            .await
    });
    let court_api = CourtGatewayClient::new(channel(gateway_addr).await);
    let ccpit_api = CcpitGatewayClient::new(channel(gateway_addr).await);
    World {
        _dir: dir,
        court_side,
        platform,
        relay,
        court_api,
        ccpit_api,
        clock: manual,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refer_accept_settle_confirm_and_rule() {
    let World {
        _dir,
        court_side,
        platform,
        relay,
        mut court_api,
        mut ccpit_api,
        clock,
    } = start().await;
    // The court refers; the gateway routes to the centre on its roster.
    let submitted = court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle_to_wire(&sample_bundle())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(submitted.status(), pb::ReferralStatus::AwaitingAcceptance);
    let case_id = submitted.referral_id.clone();
    relay.drain().await.unwrap();
    let offer = platform.offers.all()[0].clone();
    assert_eq!(offer.case_id, case_id);
    assert_eq!(offer.mediation_centre, "ccpit-bj-01");
    assert_eq!(offer.court_reference, "BJ0105-2025-000123");
    assert!(offer.pre_litigation);
    assert!(!offer.cross_border);
    assert_eq!(offer.applicants[0].name, "张三");
    // The offer discloses what deciding needs, no more (PIPL Art. 6).
    assert_eq!(offer.disclosure(), cp::Disclosure::Offer);
    assert!(offer.respondents[0].document_type.is_empty());
    assert!(offer.respondents[0].enterprise);
    assert_eq!(
        offer.amount_in_dispute.as_ref().unwrap().amount,
        "120000.00"
    );
    assert!(
        offer
            .routing_reasons
            .iter()
            .any(|r| r.contains("specialities")),
        "{:?}",
        offer.routing_reasons
    );
    // Routed Monday 3 March 2025: accept by the end of Thursday 6 March.
    assert_eq!(
        offer.accept_by.unwrap().seconds,
        at("2025-03-07T00:00:00+08:00").as_second()
    );

    // Another centre cannot act on it: to it, the case does not exist.
    let err = ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-sh-01".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let state = ccpit_api
        .accept_case(cp::AcceptCaseRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            mediator: "m-007".into(),
            centre_case_number: "CCPIT-BJ-2025-0042".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "in_mediation");
    assert_eq!(state.mediate_by, "2025-04-02");
    // Accepted: the centre reads the whole case.
    let full = ccpit_api
        .get_case_particulars(cp::GetCaseParticularsRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.disclosure(), cp::Disclosure::Full);
    assert_eq!(full.respondents[0].document_type, "USCC");
    assert_eq!(full.applicants[0].name, offer.applicants[0].name);

    // The parties sign on 20 March: the settlement reaches the gateway
    // after that (a signature dated later than now is not one yet).
    clock.set(at("2025-03-20T16:00:00+08:00"));
    // An incomplete settlement is refused, naming what is missing.
    let signed_at = Some(prost_types::Timestamp {
        seconds: at("2025-03-20T15:00:00+08:00").as_second(),
        nanos: 0,
    });
    let mut settlement = cp::SubmitSettlementRequest {
        case_id: case_id.clone(),
        mediation_centre: "ccpit-bj-01".into(),
        parties: settlement_parties(),
        disputed_matters: "货款支付".into(),
        terms: vec!["被申请人于2025年5月31日前支付货款100000元".into()],
        performance_method: "银行转账".into(),
        perform_by: "2025-05-31".into(),
        signatures: vec![
            cp::Signature {
                signer_type: "CENTRE".into(),
                signer: "ccpit-bj-01".into(),
                signed_at,
            },
            cp::Signature {
                signer_type: "MEDIATOR".into(),
                signer: "m-007".into(),
                signed_at,
            },
            cp::Signature {
                signer_type: "PARTY".into(),
                signer: "P1".into(),
                signed_at,
            },
        ],
        files: vec![],
    };
    let err = ccpit_api
        .submit_settlement(settlement.clone())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    let missing = err.get_details_bad_request().unwrap().field_violations;
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].field, "signatures");
    assert!(
        missing[0].description.contains("party P2"),
        "{}",
        missing[0].description
    );
    let mut bad_code = settlement.clone();
    bad_code.signatures[0].signer_type = "STAMP".into();
    let err = ccpit_api.submit_settlement(bad_code).await.unwrap_err();
    assert_eq!(
        err.get_details_bad_request().unwrap().field_violations[0].field,
        "signatures[0].signer_type"
    );

    settlement.signatures.push(cp::Signature {
        signer_type: "PARTY".into(),
        signer: "P2".into(),
        signed_at,
    });
    assert_eq!(
        ccpit_api
            .submit_settlement(settlement)
            .await
            .unwrap()
            .into_inner()
            .state,
        "agreed"
    );

    // The parties apply on 25 March; the gateway's receipt is the instant.
    clock.set(at("2025-03-25T10:00:00+08:00"));
    let state = ccpit_api
        .apply_for_confirmation(cp::ApplyForConfirmationRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            applicants: vec!["P1".into(), "P2".into()],
            applied_at: Some(prost_types::Timestamp {
                seconds: at("2025-03-25T10:00:00+08:00").as_second(),
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "confirmation_requested");

    // The court rules; the platform hears of it.
    let ruled = court_api
        .record_ruling(pb::RecordRulingRequest {
            referral_id: case_id.clone(),
            court: "京0105".into(),
            outcome: pb::RulingOutcome::Confirmed.into(),
            case_number: "（2025）京0105民特12号".into(),
            reasons: String::new(),
            ruled_at: Some(prost_types::Timestamp {
                seconds: at("2025-04-01T10:00:00+08:00").as_second(),
                nanos: 0,
            }),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ruled.status(), pb::ReferralStatus::Confirmed);

    relay.drain().await.unwrap();
    let decisions = platform.decisions.all();
    match &decisions[0].decision {
        Some(cp::court_decision::Decision::Ruling(r)) => {
            assert_eq!(r.outcome, "CONFIRMED");
            assert_eq!(r.court_case_number, "（2025）京0105民特12号");
        }
        other => panic!("expected a ruling, got {other:?}"),
    }
    assert_eq!(
        court_side
            .notices
            .all()
            .into_iter()
            .map(|n| n.event)
            .collect::<Vec<_>>(),
        [
            "routed",
            "offer_delivered",
            "accepted",
            "agreement_reached",
            "confirmation_applied"
        ]
    );

    let view = court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: case_id,
        })
        .await
        .unwrap()
        .into_inner();
    let timeline: Vec<_> = view.timeline.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        timeline,
        [
            "received",
            "routed",
            "offer_delivered",
            "accepted",
            "agreement_reached",
            "confirmation_applied",
            "ruling_recorded"
        ]
    );
    assert_eq!(view.organisation, "ccpit-bj-01");
    assert_eq!(view.mediator, "m-007");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decline_with_reasons_goes_back_to_the_court() {
    let World {
        _dir,
        court_side,
        platform,
        relay,
        mut court_api,
        mut ccpit_api,
        ..
    } = start().await;
    let case_id = court_api
        .submit_referral(pb::SubmitReferralRequest {
            bundle: Some(bundle_to_wire(&sample_bundle())),
        })
        .await
        .unwrap()
        .into_inner()
        .referral_id;
    relay.drain().await.unwrap();
    assert_eq!(platform.offers.all().len(), 1);

    // Reasons are required, with a known code.
    let err = ccpit_api
        .decline_case(cp::DeclineCaseRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            reason_code: "BUSY".into(),
            explanation: String::new(),
        })
        .await
        .unwrap_err();
    let fields = named_fields(&err);
    assert_eq!(fields, ["reason_code", "explanation"]);

    let state = ccpit_api
        .decline_case(cp::DeclineCaseRequest {
            case_id: case_id.clone(),
            mediation_centre: "ccpit-bj-01".into(),
            reason_code: "CONFLICT_OF_INTEREST".into(),
            explanation: "调解员与被申请人存在利害关系".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(state.state, "returned_to_court");

    relay.drain().await.unwrap();
    assert_eq!(
        court_side
            .notices
            .all()
            .into_iter()
            .map(|n| n.event)
            .collect::<Vec<_>>(),
        ["routed", "offer_delivered", "declined", "returned_to_court"]
    );
    // The court is told who holds its case at each step: the centre it was
    // offered to, then no one once it is back.
    let notices = court_side.notices.all();
    let Some(pb::court_notice::Detail::Routed(routing)) = &notices[0].detail else {
        panic!("the first notice is the routing: {:?}", notices[0]);
    };
    assert_eq!(
        (routing.organisation.as_str(), routing.partner.as_str()),
        ("ccpit-bj-01", "ccpit")
    );
    // The period starts when the offer reaches the platform: the second
    // notice says when, and until when the centre may answer.
    assert_eq!(routing.acceptance_deadline, None);
    let Some(pb::court_notice::Detail::Routed(delivered)) = &notices[1].detail else {
        panic!("the second notice is the delivery: {:?}", notices[1]);
    };
    assert_eq!(notices[1].event, "offer_delivered");
    assert!(delivered.offered_at.is_some());
    assert!(delivered.acceptance_deadline.is_some());
    let holders: Vec<&str> = notices.iter().map(|n| n.organisation.as_str()).collect();
    assert_eq!(holders, ["ccpit-bj-01", "ccpit-bj-01", "", ""]);
    let view = court_api
        .get_referral(pb::GetReferralRequest {
            referral_id: case_id,
        })
        .await
        .unwrap()
        .into_inner();
    let declined = view
        .timeline
        .iter()
        .find(|e| e.event == "declined")
        .unwrap();
    assert!(
        declined.summary.contains("调解员与被申请人存在利害关系"),
        "{}",
        declined.summary
    );
    assert_eq!(view.status(), pb::ReferralStatus::ReturnedToCourt);
}
