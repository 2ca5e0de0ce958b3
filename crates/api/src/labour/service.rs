//! The `LabourGateway` service: the committees' calls become domain commands.

use mediation_core::Violations;
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_proto::labour::v1 as pb;
use mediation_proto::labour::v1::labour_gateway_server::LabourGateway;
use tonic::{Request, Response, Status as GrpcStatus};

use super::codes::{DECLINE_REASONS, EARLY_ENDS, PERFORMANCE};
use super::inbound::{agreement, failure, signed};
use super::outbound::referral as referral_message;
use crate::guard::take;
use crate::partner::{
    CallFields, Disclosed, IntakeFields, PartnerService, Platform, Reported, Step, mediate_by,
};

/// The labour platform, as its service speaks.
#[derive(Debug)]
pub struct Labour;

/// Serves the labour platform.
pub type LabourService<S> = PartnerService<S, Labour>;

impl Platform for Labour {
    const PARTNER: Partner = Partner::LabourArbitration;
    const FIELDS: CallFields = CallFields {
        case: "dispute_id",
        organisation: "committee",
        files: "files",
        domain_paths: &[
            ("consenting", "extension.agreed_by"),
            // The only mediator signing is the one the agreement names.
            ("signatures[].signer", "mediator"),
            ("confirmed_service_addresses", "confirmed_addresses"),
            ("parties[].party", "parties[].reference"),
            ("parties[].identity", "parties[].document_number"),
            ("performance_deadline", "pay_by"),
            ("performance_method", "payment_method"),
            ("terms", "other_terms"),
        ],
    };
    type Answer = pb::DisputeStatus;

    fn answer(r: &Referral) -> pb::DisputeStatus {
        pb::DisputeStatus {
            dispute_id: r.id().to_string(),
            status: r.status().as_str().to_owned(),
            mediate_by: mediate_by(r),
        }
    }
}

#[tonic::async_trait]
impl<S: ReferralStore + AuditLog + 'static> LabourGateway for LabourService<S> {
    async fn accept_dispute(
        &self,
        request: Request<pb::AcceptDisputeRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::accept(
            &mut v,
            ("mediator", &r.mediator),
            ("file_number", &r.file_number),
        );
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn get_dispute_particulars(
        &self,
        request: Request<pb::GetDisputeParticularsRequest>,
    ) -> Result<Response<pb::DisputeReferral>, GrpcStatus> {
        let (call, r) = take(request)?;
        let referral = self.particulars(&call, &r.dispute_id, &r.committee).await?;
        Disclosed::particulars(&referral)
            .map(|d| Response::new(referral_message(&d)))
            .ok_or_else(crate::status::referral_not_found)
    }

    async fn file_direct_intake(
        &self,
        request: Request<pb::FileDirectIntakeRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let intake = super::intake::intake(&r).map_err(|v| crate::status::invalid(&v))?;
        self.file_direct_intake(
            &call,
            intake,
            IntakeFields {
                organisation: "committee",
                files: "agreement.files",
            },
        )
        .await
    }

    async fn decline_dispute(
        &self,
        request: Request<pb::DeclineDisputeRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let code = v.check("reason", DECLINE_REASONS.read_number(r.reason));
        let step = Step::decline(&mut v, code, &r.explanation);
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn report_progress(
        &self,
        request: Request<pb::ReportProgressRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::reported(&mut v, r.progress.as_ref().map(Reported::from));
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn submit_mediation_agreement(
        &self,
        request: Request<pb::SubmitMediationAgreementRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let signed = signed(&mut v, &r);
        // The agreement names the case's employer and worker, so it is built
        // against the referral itself.
        self.act(
            &call,
            &r.dispute_id,
            &r.committee,
            "submit_mediation_agreement",
            v,
            signed.as_ref().map_or(&[][..], |s| &s.files[..]),
            |referral, org, c| match &signed {
                Some(s) => {
                    referral.record_agreement(org, agreement(referral.bundle(), org, s)?, c.now)
                }
                None => Ok(Vec::new()),
            },
        )
        .await
    }

    async fn report_mediation_failure(
        &self,
        request: Request<pb::ReportMediationFailureRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = failure(&mut v, &r).map(|report| Step::Fail(Box::new(report)));
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn report_sham_mediation(
        &self,
        request: Request<pb::ReportShamMediationRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::sham_mediation(&mut v, &r.grounds);
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn end_mediation(
        &self,
        request: Request<pb::EndMediationRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let ground = v.check("ground", EARLY_ENDS.read_number(r.ground));
        let step = Step::end_early(&mut v, ground, &r.explanation);
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn apply_for_confirmation(
        &self,
        request: Request<pb::ApplyForConfirmationRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let step = Step::apply_for_everyone(&mut v, r.applied_at.as_ref());
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }

    async fn report_performance(
        &self,
        request: Request<pb::ReportPerformanceRequest>,
    ) -> Result<Response<pb::DisputeStatus>, GrpcStatus> {
        let (call, r) = take(request)?;
        let mut v = Violations::new();
        let status = v.check("performance", PERFORMANCE.read_number(r.performance));
        let step = Step::performance(&mut v, status, &r.note);
        self.run(&call, &r.dispute_id, &r.committee, v, step).await
    }
}
