//! Feeds arbitrary bytes to every gateway call of every adapter, in process:
//! the first byte picks the call, the rest is decoded as its request and
//! handed to the service with an authenticated caller. Whatever the bytes,
//! the gateway must answer with a status, never panic.
#![no_main]

use std::sync::{Arc, OnceLock, RwLock};

use libfuzzer_sys::fuzz_target;
use mediation_api::ccpit::CcpitService;
use mediation_api::court::CourtService;
use mediation_api::labour::LabourService;
use mediation_api::traffic::TrafficService;
use mediation_core::access::{Caller, Role};
use mediation_core::calendar::Calendar;
use mediation_core::clock::{Clock, ManualClock};
use mediation_core::court::CourtCode;
use mediation_core::partner::Partner;
use mediation_core::routing::{Roster, Router};
use mediation_proto::ccpit::v1 as cp;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_gateway_server::CourtGateway;
use mediation_proto::labour::v1 as lp;
use mediation_proto::labour::v1::labour_gateway_server::LabourGateway;
use mediation_proto::traffic::v1 as tp;
use mediation_proto::traffic::v1::traffic_gateway_server::TrafficGateway;
use mediation_service::{Commands, Policies};
use mediation_store::{StoreOptions, SledStore};
use prost::Message;

struct Services {
    _dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
    court: CourtService<SledStore>,
    ccpit: CcpitService<SledStore>,
    labour: LabourService<SledStore>,
    traffic: TrafficService<SledStore>,
}

fn services() -> &'static Services {
    static SERVICES: OnceLock<Services> = OnceLock::new();
    SERVICES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SledStore::open(StoreOptions::new(dir.path().join("store"))).expect("store");
        let calendar_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../config/calendar");
        let calendar = Calendar::load_dir(std::path::Path::new(calendar_dir)).expect("calendar");
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::new("2025-03-03T01:00:00Z".parse().expect("time")));
        let gateway = Arc::new(Commands::new(
            store,
            Arc::new(RwLock::new(calendar)),
            Policies::default(),
            Arc::new(Roster::new(Vec::new(), mediation_core::fixtures::courts()))
                as Arc<dyn Router>,
            mediation_core::fixtures::courts(),
            clock,
        ));
        Services {
            _dir: dir,
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime"),
            court: CourtService::new(Arc::clone(&gateway), None),
            ccpit: CcpitService::new(Arc::clone(&gateway), None),
            labour: LabourService::new(Arc::clone(&gateway), None),
            traffic: TrafficService::new(gateway, None),
        }
    })
}

fn caller(role: Role) -> Caller {
    Caller {
        tenant: "fuzz".into(),
        role,
        certificate: String::new(),
        subject: "fuzz".into(),
    }
}

fn platform(partner: Partner) -> Caller {
    caller(Role::Platform {
        partner,
        organisations: Default::default(),
    })
}

fn request<T>(message: T, who: Caller) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.extensions_mut().insert(who);
    request
}

/// Decodes `bytes` as `$ty` and calls `$service.$method` as `$who`.
macro_rules! call {
    ($s:expr, $bytes:expr, $service:ident, $method:ident, $ty:ty, $who:expr) => {{
        if let Ok(message) = <$ty>::decode($bytes) {
            let _ = $s
                .runtime
                .block_on($s.$service.$method(request(message, $who)));
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, bytes)) = data.split_first() else {
        return;
    };
    let s = services();
    let court = || {
        caller(Role::CourtSystem {
            courts: mediation_core::fixtures::shipped_courts()
                .with_lower(&CourtCode::parse("京").expect("court")),
        })
    };
    let ccpit = || platform(Partner::Ccpit);
    let labour = || platform(Partner::LabourArbitration);
    let traffic = || platform(Partner::RoadTraffic);
    match pick % 30 {
        0 => call!(s, bytes, court, submit_referral, pb::SubmitReferralRequest, court()),
        1 => call!(s, bytes, court, submit_batch, pb::SubmitBatchRequest, court()),
        2 => call!(s, bytes, court, get_referral, pb::GetReferralRequest, court()),
        3 => call!(s, bytes, court, recall_referral, pb::RecallReferralRequest, court()),
        4 => call!(s, bytes, court, record_ruling, pb::RecordRulingRequest, court()),
        5 => call!(s, bytes, ccpit, accept_case, cp::AcceptCaseRequest, ccpit()),
        6 => call!(s, bytes, ccpit, decline_case, cp::DeclineCaseRequest, ccpit()),
        7 => call!(s, bytes, ccpit, report_progress, cp::ReportProgressRequest, ccpit()),
        8 => call!(s, bytes, ccpit, submit_settlement, cp::SubmitSettlementRequest, ccpit()),
        9 => call!(s, bytes, ccpit, report_failure, cp::ReportFailureRequest, ccpit()),
        10 => call!(s, bytes, ccpit, report_sham_mediation, cp::ReportShamMediationRequest, ccpit()),
        11 => call!(s, bytes, ccpit, apply_for_confirmation, cp::ApplyForConfirmationRequest, ccpit()),
        12 => call!(s, bytes, ccpit, report_performance, cp::ReportPerformanceRequest, ccpit()),
        13 => call!(s, bytes, ccpit, file_direct_intake, cp::FileDirectIntakeRequest, ccpit()),
        14 => call!(s, bytes, labour, accept_dispute, lp::AcceptDisputeRequest, labour()),
        15 => call!(s, bytes, labour, decline_dispute, lp::DeclineDisputeRequest, labour()),
        16 => call!(s, bytes, labour, report_progress, lp::ReportProgressRequest, labour()),
        17 => call!(s, bytes, labour, submit_mediation_agreement, lp::SubmitMediationAgreementRequest, labour()),
        18 => call!(s, bytes, labour, report_mediation_failure, lp::ReportMediationFailureRequest, labour()),
        19 => call!(s, bytes, labour, report_sham_mediation, lp::ReportShamMediationRequest, labour()),
        20 => call!(s, bytes, labour, apply_for_confirmation, lp::ApplyForConfirmationRequest, labour()),
        21 => call!(s, bytes, labour, report_performance, lp::ReportPerformanceRequest, labour()),
        22 => call!(s, bytes, traffic, take_case, tp::TakeCaseRequest, traffic()),
        23 => call!(s, bytes, traffic, return_case, tp::ReturnCaseRequest, traffic()),
        24 => call!(s, bytes, traffic, report_progress, tp::ReportProgressRequest, traffic()),
        25 => call!(s, bytes, traffic, submit_compensation_agreement, tp::SubmitCompensationAgreementRequest, traffic()),
        26 => call!(s, bytes, traffic, report_failure, tp::ReportFailureRequest, traffic()),
        27 => call!(s, bytes, traffic, report_sham_mediation, tp::ReportShamMediationRequest, traffic()),
        28 => call!(s, bytes, traffic, apply_for_confirmation, tp::ApplyForConfirmationRequest, traffic()),
        _ => call!(s, bytes, traffic, report_performance, tp::ReportPerformanceRequest, traffic()),
    }
});
