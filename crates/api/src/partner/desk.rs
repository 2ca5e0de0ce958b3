//! Runs a platform's call as a command of the organisation it names.

use std::sync::Arc;

use mediation_core::access::{Acting, Disclosure};
use mediation_core::audit::Actor;
use mediation_core::document::Document;
use mediation_core::ids::{OrganisationId, ReferralId};
use mediation_core::lifecycle::Referral;
use mediation_core::partner::Partner;
use mediation_core::store::{AuditLog, DocumentFiles, ReferralStore};
use mediation_core::{Event, TransitionError, Violations};
use mediation_delivery::RelayHandle;
use mediation_service::{Commands, Context, ServiceError};
use tonic::Status;

use super::step::Step;
use crate::documents::require_uploaded;
use crate::entitlement::decide_as;
use crate::guard::Call;
use crate::status::{from_service, invalid, referral_not_found};

/// The command path shared by the partner services.
#[derive(Debug)]
pub(crate) struct Desk<S> {
    pub(crate) gateway: Arc<Commands<S>>,
    relay: Option<RelayHandle>,
    pub(crate) platform: Partner,
    /// When set, files listed without a url must have been uploaded by the
    /// caller or already belong to the case.
    pub(crate) documents: Option<Arc<dyn DocumentFiles>>,
}

/// The names a platform gives the two fields every call carries.
#[derive(Debug, Clone, Copy)]
pub struct CallFields {
    pub(crate) case: &'static str,
    pub(crate) organisation: &'static str,
    /// Where the call lists its files, e.g. `files` or `documents`.
    pub(crate) files: &'static str,
    /// The request's names for the fields the domain's rules name in their
    /// own terms, e.g. `("consenting", "extension.agreed_by")`; `[]` stands for
    /// any index. A refusal names every field by its path in the request.
    pub(crate) domain_paths: &'static [(&'static str, &'static str)],
}

/// `field`, a domain rule's name for a field, as the request names it.
pub(crate) fn request_path(field: &str, paths: &[(&str, &str)]) -> String {
    // The field with its indices taken out, to match rules written with `[]`.
    let mut indices = Vec::new();
    let mut shape = String::with_capacity(field.len());
    let mut rest = field;
    while let Some(open) = rest.find('[') {
        let Some(close) = rest[open..].find(']') else {
            break;
        };
        shape.push_str(&rest[..=open]);
        shape.push(']');
        indices.push(&rest[open + 1..open + close]);
        rest = &rest[open + close + 1..];
    }
    shape.push_str(rest);
    let Some((from, to)) = paths
        .iter()
        .filter(|(from, _)| {
            shape == *from
                || shape.starts_with(&format!("{from}."))
                || shape.starts_with(&format!("{from}["))
        })
        .max_by_key(|(from, _)| from.len())
    else {
        return field.to_owned();
    };
    let renamed = format!("{to}{}", &shape[from.len()..]);
    // Put the indices back, in order.
    let mut out = String::with_capacity(renamed.len() + 8);
    let mut indices = indices.into_iter();
    let mut parts = renamed.split("[]").peekable();
    while let Some(part) = parts.next() {
        out.push_str(part);
        if parts.peek().is_some() {
            out.push('[');
            out.push_str(indices.next().unwrap_or(""));
            out.push(']');
        }
    }
    out
}

/// The domain's violations in `error`, renamed to the request's paths.
fn in_request_terms(error: ServiceError, paths: &[(&str, &str)]) -> ServiceError {
    let rename = |v: Violations| {
        Violations(
            v.0.into_iter()
                .map(|e| mediation_core::FieldError {
                    field: request_path(&e.field, paths),
                    rule: e.rule,
                })
                .collect(),
        )
    };
    match error {
        ServiceError::Invalid(v) => ServiceError::Invalid(rename(v)),
        ServiceError::Transition(TransitionError::Invalid(v)) => {
            ServiceError::Transition(TransitionError::Invalid(rename(v)))
        }
        other => other,
    }
}

impl<S: ReferralStore + AuditLog + 'static> Desk<S> {
    /// Who acts when `call` acts for `organisation` on this platform: the
    /// name its commands' audit records give, with the call's own audit.
    pub(crate) fn organisation_actor(&self, call: &Call, organisation: &OrganisationId) -> Actor {
        Actor {
            name: format!(
                "{}:{organisation} {}",
                self.platform.as_str(),
                call.caller.actor()
            ),
            ..call.actor()
        }
    }

    pub(crate) fn new(
        gateway: Arc<Commands<S>>,
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
        let actor = self.organisation_actor(call, &organisation);
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
                .await
                .map_err(|e| from_service(&e))?
                .filter(|r| call.caller.entitled(r, acting))
                .ok_or_else(referral_not_found)?;
            require_uploaded(
                store.as_ref(),
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
            .map_err(|e| from_service(&in_request_terms(e, names.domain_paths)))?;
        self.wake();
        Ok(referral)
    }

    /// The case the call names, for its organisation to read in full. A case
    /// that is not, or no longer, the organisation's is NOT_FOUND, as for a
    /// stranger; one it has only been offered is FAILED_PRECONDITION: the
    /// particulars follow acceptance (PIPL Art. 6).
    pub(crate) async fn particulars(
        &self,
        call: &Call,
        names: CallFields,
        case_id: &str,
        organisation: &str,
    ) -> Result<Referral, Status> {
        let mut v = Violations::new();
        let id = v.check(names.case, ReferralId::parse(case_id));
        let organisation = v.check(names.organisation, OrganisationId::parse(organisation));
        let (Some(id), Some(organisation)) = (id, organisation) else {
            return Err(invalid(&v));
        };
        call.concerns(&id);
        let acting = Acting::Organisation(self.platform, &organisation);
        let referral = self
            .gateway
            .referral(&id)
            .await
            .map_err(|e| from_service(&e))?
            .filter(|r| call.caller.entitled(r, acting))
            .ok_or_else(referral_not_found)?;
        match referral.disclosure_to(&organisation) {
            Disclosure::Full if mediation_core::retention::is_purged(referral.bundle()) => {
                Err(Status::failed_precondition(
                    "the case's particulars were deleted under the gateway's retention policy \
                     (PIPL Art. 47); its status and history remain, without personal data",
                ))
            }
            Disclosure::Full => Ok(referral),
            Disclosure::Offer => Err(Status::failed_precondition(format!(
                "the case's particulars are disclosed once {organisation} accepts it; \
                 until then the offer holds what deciding needs"
            ))),
            Disclosure::Nothing => Err(referral_not_found()),
        }
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

#[cfg(test)]
mod tests {
    use super::request_path;

    const PATHS: &[(&str, &str)] = &[
        ("consenting", "extension.agreed_by"),
        ("parties[].party", "parties[].reference"),
        ("performance_deadline", "perform_by"),
    ];

    #[test]
    fn domain_names_become_request_paths_with_their_indices() {
        assert_eq!(request_path("consenting", PATHS), "extension.agreed_by");
        assert_eq!(
            request_path("consenting[2]", PATHS),
            "extension.agreed_by[2]"
        );
        assert_eq!(
            request_path("parties[3].party", PATHS),
            "parties[3].reference"
        );
        assert_eq!(
            request_path("parties[3].identity", PATHS),
            "parties[3].identity"
        );
        assert_eq!(request_path("performance_deadline", PATHS), "perform_by");
        assert_eq!(request_path("terms", PATHS), "terms");
    }
}
