//! Errors to gRPC status codes, in one place.
//!
//! - invalid input → `INVALID_ARGUMENT`, with a `google.rpc.BadRequest` naming
//!   every offending field;
//! - a referral that is not the caller's, or does not exist → `NOT_FOUND` (the
//!   two are not told apart, so another tenant's referral does not leak);
//! - a command that does not fit the referral's state, or a deadline passed →
//!   `FAILED_PRECONDITION`;
//! - a court referral id reused with different content → `ALREADY_EXISTS`;
//! - contention → `ABORTED` (retry); the store unavailable → `UNAVAILABLE`;
//!   corrupt data → `INTERNAL`.

use mediation_core::store::StoreError;
use mediation_core::{TransitionError, Violations};
use mediation_service::ServiceError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// `INVALID_ARGUMENT` with one field violation per broken rule.
pub fn invalid(violations: &Violations) -> Status {
    let mut details = ErrorDetails::new();
    for e in &violations.0 {
        details.add_bad_request_violation(e.field.clone(), e.rule.clone());
    }
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {violations}"),
        details,
    )
}

/// The status for a service error.
pub fn from_service(error: &ServiceError) -> Status {
    match error {
        ServiceError::Invalid(v) => invalid(v),
        ServiceError::Transition(t) => from_transition(t),
        ServiceError::NotFound(_) => referral_not_found(),
        ServiceError::Conflict { existing } => Status::already_exists(format!(
            "the court referral id is already used by referral {existing} with different content"
        )),
        ServiceError::Contention(what) => {
            Status::aborted(format!("{what} is changing too fast; try again"))
        }
        ServiceError::Store(StoreError::Unavailable(why)) => {
            Status::unavailable(format!("store unavailable: {why}"))
        }
        ServiceError::Store(StoreError::NotFound(what)) => {
            Status::not_found(format!("{what} not found"))
        }
        ServiceError::Store(e) => {
            tracing::error!(error = %e, "store error");
            Status::internal("internal storage error")
        }
    }
}

fn from_transition(t: &TransitionError) -> Status {
    match t {
        TransitionError::Invalid(v) => invalid(v),
        // Acting on a referral that is not yours looks exactly like acting on
        // one that does not exist.
        TransitionError::NotAssigned { .. } | TransitionError::NotReferringCourt { .. } => {
            referral_not_found()
        }
        TransitionError::Calendar(e) => {
            Status::internal(format!("deadline cannot be computed: {e}"))
        }
        other => Status::failed_precondition(other.to_string()),
    }
}

/// The one answer for a referral that does not exist and for one the caller
/// is not entitled to: the same code and the same words, so that neither its
/// existence nor its state leaks to another tenant.
pub fn referral_not_found() -> Status {
    Status::not_found("referral not found")
}

/// A status code's name as the gRPC specification spells it
/// (`INVALID_ARGUMENT`), which is what contracts and clients compare against;
/// tonic's `Debug` gives `InvalidArgument`.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// `INVALID_ARGUMENT` for a single field.
pub fn invalid_field(field: &str, rule: impl Into<String>) -> Status {
    let mut v = Violations::new();
    v.push(field, rule);
    invalid(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_become_bad_request_details() {
        let mut v = Violations::new();
        v.push("bundle.consents", "required");
        v.push("bundle.parties[0].identity.number", "check digit is wrong");
        let status = invalid(&v);
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().unwrap();
        let fields: Vec<_> = bad
            .field_violations
            .iter()
            .map(|f| f.field.as_str())
            .collect();
        assert_eq!(
            fields,
            ["bundle.consents", "bundle.parties[0].identity.number"]
        );
    }

    #[test]
    fn code_names_are_the_specifications() {
        assert_eq!(code_name(Code::InvalidArgument), "INVALID_ARGUMENT");
        assert_eq!(code_name(Code::FailedPrecondition), "FAILED_PRECONDITION");
        // Every code's name is its number's name in the specification, so
        // the list is complete when each of 0..=16 maps to a distinct name.
        let names: std::collections::BTreeSet<_> =
            (0..=16).map(|n| code_name(Code::from_i32(n))).collect();
        assert_eq!(names.len(), 17);
    }

    #[test]
    fn another_tenants_referral_is_not_found() {
        let s = from_service(&ServiceError::Transition(
            TransitionError::NotReferringCourt {
                court: "京0106".into(),
            },
        ));
        assert_eq!(s.code(), Code::NotFound);
        assert!(
            !s.message().contains("京0106"),
            "the message must not reveal the owner"
        );
    }
}
