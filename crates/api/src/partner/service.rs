//! The one home of a partner platform's gRPC service: every platform's
//! service is a [`PartnerService`] of its own [`Platform`], which says how
//! its calls name the case, the organisation and the files, and what it
//! answers; the service runs each call through the shared desk.

use std::marker::PhantomData;
use std::sync::Arc;

use mediation_core::document::Document;
use mediation_core::ids::OrganisationId;
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, DocumentFiles, ReferralStore};
use mediation_core::{Event, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_service::{Commands, Context};
use tonic::{Response, Status};

use super::desk::{CallFields, Desk};
use super::intake::{Intake, IntakeFields};
use super::step::Step;
use crate::guard::Call;

/// What sets one partner platform apart: whose it is, its names for the
/// fields every call carries, and the state it answers a command with.
pub trait Platform: Send + Sync + 'static {
    const PARTNER: Partner;
    /// Its names for the case, the organisation and the files, and for the
    /// fields the domain's rules name in their own terms.
    const FIELDS: CallFields;
    /// The answer to a command: the case's state as the platform reads it.
    type Answer: Send + 'static;
    fn answer(referral: &Referral) -> Self::Answer;
}

/// A partner platform's gRPC service.
#[derive(Debug)]
pub struct PartnerService<S, P> {
    desk: Desk<S>,
    platform: PhantomData<fn() -> P>,
}

impl<S: ReferralStore + AuditLog + 'static, P: Platform> PartnerService<S, P> {
    pub fn new(gateway: Arc<Commands<S>>, relay: Option<RelayHandle>) -> Self {
        Self {
            desk: Desk::new(gateway, relay, P::PARTNER),
            platform: PhantomData,
        }
    }

    /// Refuses agreements that list files without a url that were not
    /// uploaded.
    pub fn with_documents(mut self, documents: Arc<dyn DocumentFiles>) -> Self {
        self.desk.documents = Some(documents);
        self
    }

    /// Runs a call read into a [`Step`] as the organisation it names and
    /// answers with the case's state; `None` means the request was invalid
    /// and `v` says how.
    pub(crate) async fn run(
        &self,
        call: &Call,
        case_id: &str,
        organisation: &str,
        v: Violations,
        step: Option<Step>,
    ) -> Result<Response<P::Answer>, Status> {
        let referral = self
            .desk
            .run(call, P::FIELDS, case_id, organisation, v, step)
            .await?;
        Ok(Response::new(P::answer(&referral)))
    }

    /// Runs `decide` as the organisation the call names, for the calls
    /// whose command is built against the referral itself (an agreement
    /// matched to the case's parties).
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one part of a platform's call, as in `Desk::act`"
    )]
    pub(crate) async fn act<F>(
        &self,
        call: &Call,
        case_id: &str,
        organisation: &str,
        action: &str,
        v: Violations,
        files: &[Document],
        decide: F,
    ) -> Result<Response<P::Answer>, Status>
    where
        F: Fn(&Referral, &OrganisationId, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    {
        let referral = self
            .desk
            .act(
                call,
                P::FIELDS,
                case_id,
                organisation,
                action,
                v,
                files,
                decide,
            )
            .await?;
        Ok(Response::new(P::answer(&referral)))
    }

    /// The case for its organisation to read in full ([`Desk::particulars`]).
    pub(crate) async fn particulars(
        &self,
        call: &Call,
        case_id: &str,
        organisation: &str,
    ) -> Result<Referral, Status> {
        self.desk
            .particulars(call, P::FIELDS, case_id, organisation)
            .await
    }

    /// Files a dispute the organisation took directly, and answers with its
    /// state.
    pub(crate) async fn file_direct_intake(
        &self,
        call: &Call,
        intake: Intake,
        names: IntakeFields,
    ) -> Result<Response<P::Answer>, Status> {
        let referral = self.desk.file_direct_intake(call, intake, names).await?;
        Ok(Response::new(P::answer(&referral)))
    }
}
