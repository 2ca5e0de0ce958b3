//! The `TrafficGateway` service: the mediation rooms' calls become domain
//! commands.

use mediation_core::Violations;
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_proto::traffic::v1 as pb;
use mediation_proto::traffic::v1::traffic_gateway_server::TrafficGateway;
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes::PAYMENTS;
use super::inbound::{agreement, failure, signed};
use super::outbound::case;
use crate::guard::take;
use crate::partner::codes::{DECLINE_CODES, EARLY_ENDS};
use crate::partner::{CallFields, Disclosed, PartnerService, Platform, Reported, Step, mediate_by};

/// The road-traffic platform, as its service speaks.
#[derive(Debug)]
pub struct Traffic;

/// Serves the road-traffic platform.
pub type TrafficService<S> = PartnerService<S, Traffic>;

impl Platform for Traffic {
    const PARTNER: Partner = Partner::RoadTraffic;
    const FIELDS: CallFields = CallFields {
        case: "case_id",
        organisation: "room",
        files: "files",
        domain_paths: &[
            ("consenting", "extension.agreed_by"),
            // The agreement's signatures are read in the request's order.
            ("signatures[].signer", "signatures[].by"),
            ("signatures[].signed_at", "signatures[].at"),
            ("confirmed_service_addresses", "confirmed_addresses"),
            ("performance_deadline", "pay_by"),
            ("performance_method", "payment_method"),
            ("terms", "other_terms"),
        ],
    };
    type Answer = pb::CaseProgress;

    fn answer(r: &Referral) -> pb::CaseProgress {
        pb::CaseProgress {
            case_id: r.id().to_string(),
            state: r.status().as_str().to_owned(),
            mediate_by: mediate_by(r),
        }
    }
}

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> TrafficGateway for TrafficService<S> {
    async fn take_case(
        &self,
        request: Request<pb::TakeCaseRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::accept(
            &mut v,
            ("mediator", &r.mediator),
            ("room_case_number", &r.room_case_number),
        );
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn get_case_particulars(
        &self,
        request: Request<pb::GetCaseParticularsRequest>,
    ) -> Result<Response<pb::AccidentCase>, GrpcStatus> {
        let (call, r) = take(request)?;
        let referral = self.particulars(&call, &r.case_id, &r.room).await?;
        Disclosed::particulars(&referral)
            .map(|d| Response::new(case(&d)))
            .ok_or_else(crate::status::referral_not_found)
    }

    async fn return_case(
        &self,
        request: Request<pb::ReturnCaseRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let code = v.check("reason", DECLINE_CODES.read(&r.reason));
        let step = Step::decline(&mut v, code, &r.explanation);
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::reported(&mut v, r.progress.as_ref().map(Reported::from));
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn submit_compensation_agreement(
        &self,
        request: Request<pb::SubmitCompensationAgreementRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let signed = signed(&mut v, &r);
        // Payers, payees and signers are matched to the case's parties, so
        // the agreement is built against the referral itself.
        self.act(
            &call,
            &r.case_id,
            &r.room,
            "submit_compensation_agreement",
            v,
            signed.as_ref().map_or(&[][..], |s| &s.files[..]),
            |referral, org, c| match &signed {
                Some(s) => referral.record_agreement(org, agreement(referral, org, s)?, c.now),
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_failure(
        &self,
        request: Request<pb::ReportFailureRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = failure(&mut v, &r).map(|report| Step::Fail(Box::new(report)));
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::sham_mediation(&mut v, &r.grounds);
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn end_mediation(
        &self,
        request: Request<pb::EndMediationRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let ground = v.check("ground", EARLY_ENDS.read(&r.ground));
        let step = Step::end_early(&mut v, ground, &r.explanation);
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::apply_for_everyone(&mut v, r.applied_at.as_ref());
        self.run(&call, &r.case_id, &r.room, v, step).await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::CaseProgress>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let status = v.check("payment", PAYMENTS.read(&r.payment));
        let step = Step::performance(&mut v, status, &r.note);
        self.run(&call, &r.case_id, &r.room, v, step).await
    }
}
