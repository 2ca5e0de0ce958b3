//! The `CcpitGateway` service: the platform's calls become domain commands.

use mediation_core::Violations;
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_proto::ccpit::v1 as pb;
use mediation_proto::ccpit::v1::ccpit_gateway_server::CcpitGateway;
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes::{DECLINE_CODES, PERFORMANCE};
use super::inbound::{failure, settlement};
use super::outbound::case_offer;
use crate::guard::take;
use crate::partner::codes::EARLY_ENDS;
use crate::partner::{
    CallFields, Disclosed, IntakeFields, PartnerService, Platform, Step, mediate_by,
};
use crate::status::{self, invalid};
use crate::wire::read::{party_refs, required_time};

/// The CCPIT platform, as its service speaks.
#[derive(Debug)]
pub struct Ccpit;

/// Serves the CCPIT platform.
pub type CcpitService<S> = PartnerService<S, Ccpit>;

impl Platform for Ccpit {
    const PARTNER: Partner = Partner::Ccpit;
    const FIELDS: CallFields = CallFields {
        case: "case_id",
        organisation: "mediation_centre",
        files: "files",
        domain_paths: &[
            ("consenting", "extension.agreed_by"),
            ("parties[].party", "parties[].reference"),
            ("parties[].identity", "parties[].document_number"),
            ("performance_deadline", "perform_by"),
            ("confirmed_service_addresses", "confirmed_addresses"),
        ],
    };
    type Answer = pb::CaseState;

    fn answer(r: &Referral) -> pb::CaseState {
        pb::CaseState {
            case_id: r.id().to_string(),
            state: r.status().as_str().to_owned(),
            mediate_by: mediate_by(r),
        }
    }
}

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> CcpitGateway for CcpitService<S> {
    async fn accept_case(
        &self,
        request: Request<pb::AcceptCaseRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::accept(
            &mut v,
            ("mediator", &r.mediator),
            ("centre_case_number", &r.centre_case_number),
        );
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn get_case_particulars(
        &self,
        request: Request<pb::GetCaseParticularsRequest>,
    ) -> Result<Response<pb::CaseOffer>, GrpcStatus> {
        let (call, r) = take(request)?;
        let referral = self
            .particulars(&call, &r.case_id, &r.mediation_centre)
            .await?;
        Disclosed::particulars(&referral)
            .map(|d| Response::new(case_offer(&d)))
            .ok_or_else(status::referral_not_found)
    }

    async fn decline_case(
        &self,
        request: Request<pb::DeclineCaseRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let code = v.check("reason_code", DECLINE_CODES.read(&r.reason_code));
        let step = Step::decline(&mut v, code, &r.explanation);
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        use pb::report_progress_request::Progress;
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = match &r.progress {
            Some(Progress::AppraisalStarted(note)) => {
                Step::appraisal_started(&mut v, "appraisal_started", note)
            }
            Some(Progress::AppraisalEnded(_)) => Some(Step::AppraisalEnded),
            // The centre names who agreed; the domain checks it is everyone.
            Some(Progress::Extension(e)) => {
                Step::extension(&mut v, "extension", &e.until, e.days, &e.agreed_by)
            }
            None => Step::no_progress(&mut v, "extension"),
        };
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn submit_settlement(
        &self,
        request: Request<pb::SubmitSettlementRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let agreement = settlement(&mut v, &r);
        let step = agreement.map(|a| Step::Agree(Box::new(a)));
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_failure(
        &self,
        request: Request<pb::ReportFailureRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = failure(&mut v, &r).map(|report| Step::Fail(Box::new(report)));
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::sham_mediation(&mut v, &r.grounds);
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn end_mediation(
        &self,
        request: Request<pb::EndMediationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let ground = v.check("ground", EARLY_ENDS.read(&r.ground));
        let step = Step::end_early(&mut v, ground, &r.explanation);
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let applicants = party_refs(&mut v, "applicants", &r.applicants);
        let step =
            required_time(&mut v, "applied_at", r.applied_at.as_ref()).map(|_| Step::Apply {
                applicants: Some(applicants),
            });
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let status = v.check("status", PERFORMANCE.read(&r.status));
        let step = Step::performance(&mut v, status, &r.note);
        self.run(&call, &r.case_id, &r.mediation_centre, v, step)
            .await
    }

    async fn file_direct_intake(
        &self,
        request: Request<pb::FileDirectIntakeRequest>,
    ) -> Result<Response<pb::CaseState>, GrpcStatus> {
        let (call, r) = take(request)?;
        let intake = super::inbound::intake(&r).map_err(|v| invalid(&v))?;
        self.file_direct_intake(
            &call,
            intake,
            IntakeFields {
                organisation: "mediation_centre",
                files: "settlement.files",
            },
        )
        .await
    }
}
