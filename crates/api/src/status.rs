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
//!   corrupt data → `INTERNAL`;
//! - a caller the guard cannot authenticate → `UNAUTHENTICATED`; a method or
//!   a court or organisation the caller does not act for →
//!   `PERMISSION_DENIED`; a tenant over its rate or its calls in flight →
//!   `RESOURCE_EXHAUSTED`; a call over its time → `DEADLINE_EXCEEDED`;
//! - a file that does not match its declaration → `INVALID_ARGUMENT` on the
//!   header field; a listed file the caller may not list →
//!   `FAILED_PRECONDITION` with one violation per file.
//!
//! Messages come from the errors' own `Display` wherever an error type
//! exists, so a message is written once.

use std::fmt::Display;
use std::time::Duration;

use mediation_core::document::DocumentError;
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
        ServiceError::Conflict { .. } => Status::already_exists(error.to_string()),
        ServiceError::Contention(_) => Status::aborted(error.to_string()),
        ServiceError::Store(e @ StoreError::Unavailable(_)) => Status::unavailable(e.to_string()),
        ServiceError::Store(e @ StoreError::NotFound(_)) => Status::not_found(e.to_string()),
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
        TransitionError::Calendar(_) => Status::internal(t.to_string()),
        other => Status::failed_precondition(other.to_string()),
    }
}

/// The one answer for a referral that does not exist and for one the caller
/// is not entitled to: the same code and the same words, so that neither its
/// existence nor its state leaks to another tenant.
pub fn referral_not_found() -> Status {
    Status::not_found("referral not found")
}

/// `NOT_FOUND` for a thing other than a referral, named by `what` (`alert 7`).
pub fn not_found(what: impl Display) -> Status {
    Status::not_found(format!("no {what}"))
}

/// `INTERNAL` for stored data that cannot be read back: the store's fault,
/// never the caller's.
pub fn unreadable(what: &str, error: impl Display) -> Status {
    tracing::error!(error = %error, "{what} cannot be read");
    Status::internal(format!("{what} cannot be read: {error}"))
}

/// `INTERNAL` for a task of the gateway's own that failed.
pub fn task_failed(what: &str, error: impl Display) -> Status {
    tracing::error!(error = %error, "{what} failed");
    Status::internal(format!("{what} failed: {error}"))
}

/// `UNAVAILABLE`: a part of the gateway the call needs is not working now;
/// retrying later may succeed.
pub fn unavailable(why: impl Display) -> Status {
    Status::unavailable(why.to_string())
}

/// `UNAUTHENTICATED`: the guard could not tell who calls.
pub fn unauthenticated(why: impl Display) -> Status {
    Status::unauthenticated(why.to_string())
}

/// `PERMISSION_DENIED` for a method the caller's role may not call.
pub fn method_not_permitted(tenant: &str, method: &str) -> Status {
    Status::permission_denied(format!("tenant {tenant} may not call {method}"))
}

/// `PERMISSION_DENIED` for a court or an organisation, named in `field`, that
/// the caller does not act for: "not yours". The field travels as a
/// `google.rpc.ErrorInfo` (reason `NOT_ENTITLED`, metadata `field`).
pub fn not_yours(field: &str, why: impl Display) -> Status {
    let details = ErrorDetails::with_error_info(
        "NOT_ENTITLED",
        "mediation-gateway",
        [("field".to_owned(), field.to_owned())],
    );
    Status::with_error_details(Code::PermissionDenied, format!("{field}: {why}"), details)
}

/// `RESOURCE_EXHAUSTED` for a tenant over its request rate.
pub fn over_rate(tenant: &str) -> Status {
    Status::resource_exhausted(format!(
        "tenant {tenant} is over its request rate; slow down and retry"
    ))
}

/// `RESOURCE_EXHAUSTED` for a tenant with all its calls in flight.
pub fn too_many_in_flight(tenant: &str, most: usize) -> Status {
    Status::resource_exhausted(format!(
        "tenant {tenant} has {most} calls in flight, the most it may; retry once some have finished"
    ))
}

/// `DEADLINE_EXCEEDED` for a call the gateway gave up on.
pub fn too_slow(limit: Duration) -> Status {
    Status::deadline_exceeded(format!("the call was not complete within {limit:?}"))
}

/// The status for a document that could not be taken or read: the file's
/// own faults name the header field they contradict; storage faults are
/// `UNAVAILABLE` and logged, without their detail.
pub fn from_document(error: &DocumentError) -> Status {
    match error {
        DocumentError::Io(e) => {
            tracing::error!(error = %e, "document storage failed");
            Status::unavailable("document storage is unavailable")
        }
        DocumentError::TooLarge { .. } | DocumentError::SizeMismatch { .. } => {
            invalid_field("header.size_bytes", error.to_string())
        }
        DocumentError::DigestMismatch { .. } => invalid_field("header.sha256", error.to_string()),
    }
}

/// The one answer for a document the caller may not read, the referral
/// does not list, or that does not exist.
pub fn document_not_found() -> Status {
    Status::not_found("no such document for this referral")
}

/// `FAILED_PRECONDITION` for listed files the caller may not list: `files`
/// pairs each file's request path with what is wrong with it.
pub fn files_not_uploaded(files: &[(String, String)]) -> Status {
    let mut details = ErrorDetails::new();
    for (path, why) in files {
        details.add_precondition_failure_violation("DOCUMENT_NOT_UPLOADED", path, why);
    }
    let paths: Vec<&str> = files.iter().map(|(p, _)| p.as_str()).collect();
    Status::with_error_details(
        Code::FailedPrecondition,
        format!("files not uploaded: {}", paths.join(", ")),
        details,
    )
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
    fn messages_come_from_the_errors_display() {
        let conflict = ServiceError::Conflict {
            existing: mediation_core::fixtures::referral_id(),
        };
        assert_eq!(from_service(&conflict).message(), conflict.to_string());
        let busy = ServiceError::Contention("referral 01JD".into());
        let status = from_service(&busy);
        assert_eq!(
            (status.code(), status.message()),
            (Code::Aborted, busy.to_string().as_str())
        );
    }

    #[test]
    fn not_yours_names_the_field_in_its_details() {
        let status = not_yours(
            "bundle.court",
            "tenant court-bj does not act for court 沪0115",
        );
        assert_eq!(status.code(), Code::PermissionDenied);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(info.reason, "NOT_ENTITLED");
        assert_eq!(info.metadata["field"], "bundle.court");
    }

    #[test]
    fn a_file_that_contradicts_its_header_names_the_header_field() {
        let short = from_document(&DocumentError::SizeMismatch {
            declared: 10,
            actual: 9,
        });
        let fields: Vec<String> = short
            .get_details_bad_request()
            .unwrap()
            .field_violations
            .into_iter()
            .map(|f| f.field)
            .collect();
        assert_eq!(fields, ["header.size_bytes"]);
        let io = from_document(&DocumentError::Io(std::io::Error::other("disk")));
        assert_eq!(io.code(), Code::Unavailable);
        assert!(
            !io.message().contains("disk"),
            "storage detail stays in the log"
        );
    }

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
