//! Runs a platform's call as a command of the organisation it names.

use std::sync::Arc;

use mediation_core::access::Acting;
use mediation_core::document::Document;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, ReferralStore};
use mediation_core::{Event, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_service::{Context, Gateway};
use mediation_store::documents::DocumentStore;
use tonic::Status;

use super::decisions::Step;
use crate::documents::require_uploaded;
use crate::entitlement::decide_as;
use crate::guard::Call;
use crate::status::{from_service, invalid, referral_not_found};

/// The command path shared by the partner services.
#[derive(Debug)]
pub(crate) struct Desk<S> {
    pub(crate) gateway: Arc<Gateway<S>>,
    relay: Option<RelayHandle>,
    platform: Partner,
    /// When set, files listed without a url must have been uploaded by the
    /// caller or already belong to the case.
    pub(crate) documents: Option<DocumentStore>,
}

/// The names a platform gives the two fields every call carries.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CallFields {
    pub(crate) case: &'static str,
    pub(crate) organisation: &'static str,
    /// Where the call lists its files, e.g. `files` or `documents`.
    pub(crate) files: &'static str,
}

impl<S: ReferralStore + AuditLog + 'static> Desk<S> {
    pub(crate) fn new(
        gateway: Arc<Gateway<S>>,
        relay: Option<RelayHandle>,
        platform: Partner,
    ) -> Self {
        Self {
            gateway,
            relay,
            platform,
            documents: None,
        }
    }

    /// Checks the case and organisation the call names, and that the caller's
    /// platform acts for that organisation, then runs `decide` as it. `v` holds the violations of the call's other fields;
    /// a call with any is refused before anything is read or written. A case
    /// routed to another platform or organisation is NOT_FOUND.
    #[expect(
        clippy::too_many_arguments,
        reason = "each is one part of a platform's call; bundling them would only rename them"
    )]
    pub(crate) async fn act<F>(
        &self,
        call: &Call,
        names: CallFields,
        case_id: &str,
        organisation: &str,
        action: &str,
        mut v: Violations,
        files: &[Document],
        decide: F,
    ) -> Result<Referral, Status>
    where
        F: Fn(&Referral, &OrganisationId, &Context<'_>) -> Result<Vec<Event>, TransitionError>,
    {
        let id = v.check(names.case, ReferralId::parse(case_id));
        let organisation = v.check(names.organisation, OrganisationId::parse(organisation));
        let (Some(id), Some(organisation), true) = (id, organisation, v.is_empty()) else {
            return Err(invalid(&v));
        };
        call.concerns(&id);
        // A platform acting for an organisation that is not its own is told
        // what it would be told of a case that does not exist.
        if !call
            .caller
            .role
            .acts_for_organisation(self.platform, &organisation)
        {
            return Err(referral_not_found());
        }
        let actor = format!(
            "{}:{organisation} {}",
            self.platform.as_str(),
            call.caller.actor()
        );
        let acting = Acting::Organisation(self.platform, &organisation);
        if !files.is_empty()
            && let Some(store) = &self.documents
        {
            // Files are checked against the case, so only once the caller is
            // known to be entitled to it: a stranger learns nothing of which
            // files the case lists.
            let current = self
                .gateway
                .referral(&id)
                .map_err(|e| from_service(&e))?
                .filter(|r| call.caller.entitled(r, acting))
                .ok_or_else(referral_not_found)?;
            require_uploaded(
                store,
                &call.caller.tenant,
                Some(&current),
                files
                    .iter()
                    .enumerate()
                    .map(|(i, d)| (format!("{}[{i}]", names.files), d)),
            )?;
        }
        let referral = self
            .gateway
            .execute(&id, &actor, action, |r, c| {
                decide_as(&call.caller, r, acting, || decide(r, &organisation, c))
            })
            .await
            .map_err(|e| from_service(&e))?;
        self.wake();
        Ok(referral)
    }

    /// Runs a platform command read into a [`Step`]; `None` means the request
    /// was invalid and `v` says how.
    pub(crate) async fn run(
        &self,
        call: &Call,
        names: CallFields,
        case_id: &str,
        organisation: &str,
        mut v: Violations,
        step: Option<Step>,
    ) -> Result<Referral, Status> {
        let Some(step) = step else {
            if v.is_empty() {
                v.push("request", "could not be read");
            }
            return Err(invalid(&v));
        };
        self.act(
            call,
            names,
            case_id,
            organisation,
            step.action(),
            v,
            step.files(),
            |r, o, c| step.decide(r, o, c),
        )
        .await
    }

    /// Starts deliveries at once rather than at the relay's next poll.
    pub(crate) fn wake(&self) {
        if let Some(relay) = &self.relay {
            relay.wake();
        }
    }
}
