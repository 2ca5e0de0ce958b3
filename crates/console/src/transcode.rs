//! The operations service's unary methods as JSON over HTTP, for the
//! console's page: the request and the response in the proto3 JSON mapping
//! (read from the contracts' own descriptor set), a gRPC status as an HTTP
//! status with the same code name, message and field violations.
//!
//! Each call goes through the call guard's in-process admission, so the
//! console is held to exactly what the operator's role may do over gRPC,
//! and every call, refused or not, is in the audit chain under the
//! operator's name with `console` as its channel.

use std::pin::Pin;
use std::sync::Arc;

use axum::http::StatusCode;
use mediation_api::guard::{Guard, InProcessCall};
use mediation_api::status::{code_name, invalid_field};
use mediation_core::access::Caller;
use mediation_proto::json::{from_json, to_json};
use mediation_proto::operations::v1 as pb;
use mediation_proto::operations::v1::operations_server::Operations;
use serde::Serialize;
use tokio_stream::Stream;
use tonic::{Code, Status};
use tonic_types::StatusExt as _;

/// What `WatchAlerts` answers with.
pub type AlertStream = Pin<Box<dyn Stream<Item = Result<pb::Alert, Status>> + Send>>;

/// The operations service, as the console calls it.
pub type Ops = Arc<dyn Operations<WatchAlertsStream = AlertStream>>;

const PACKAGE: &str = "mediation.operations.v1";

/// The method's path as the guard and the audit log name it.
pub fn method_path(method: &str) -> String {
    format!("/{PACKAGE}.Operations/{method}")
}

/// `body`, the proto3 JSON of a `full_name` message; an empty body is the
/// empty message.
fn decode<M: prost::Message + Default>(body: &[u8], full_name: &str) -> Result<M, Status> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    from_json(body, full_name).map_err(|e| invalid_field("body", e.to_string()))
}

fn encode(message: &impl prost::Message, full_name: &str) -> Result<Vec<u8>, Status> {
    to_json(message, full_name).map_err(|e| Status::internal(e.to_string()))
}

/// Calls `method` of the operations service for `caller` with the JSON
/// `body`; the response's JSON, or the status it was refused with.
pub async fn call(
    ops: &Ops,
    guard: &Guard,
    caller: Caller,
    method: &str,
    body: &[u8],
) -> Result<Vec<u8>, Status> {
    macro_rules! unary {
        ($name:literal, $call:ident, $request:ty, $response:literal) => {{
            let (admitted, audit) = guard
                .admit_in_process(caller, &method_path($name), ())
                .await?;
            let outcome = async {
                let message: $request =
                    decode(body, concat!("mediation.operations.v1.", $name, "Request"))?;
                let response = ops.$call(admitted.map(|()| message)).await?;
                encode(
                    response.get_ref(),
                    concat!("mediation.operations.v1.", $response),
                )
            }
            .await;
            finish(audit, &outcome);
            outcome
        }};
    }
    match method {
        "ListOpenBreaches" => unary!(
            "ListOpenBreaches",
            list_open_breaches,
            pb::ListOpenBreachesRequest,
            "ListOpenBreachesResponse"
        ),
        "AcknowledgeAlert" => unary!(
            "AcknowledgeAlert",
            acknowledge_alert,
            pb::AcknowledgeAlertRequest,
            "AcknowledgeAlertResponse"
        ),
        "GetReferralTimeline" => unary!(
            "GetReferralTimeline",
            get_referral_timeline,
            pb::GetReferralTimelineRequest,
            "GetReferralTimelineResponse"
        ),
        "FindReferrals" => unary!(
            "FindReferrals",
            find_referrals,
            pb::FindReferralsRequest,
            "FindReferralsResponse"
        ),
        "GetOutboxBacklog" => unary!(
            "GetOutboxBacklog",
            get_outbox_backlog,
            pb::GetOutboxBacklogRequest,
            "GetOutboxBacklogResponse"
        ),
        "ListDeadLetters" => unary!(
            "ListDeadLetters",
            list_dead_letters,
            pb::ListDeadLettersRequest,
            "ListDeadLettersResponse"
        ),
        "ReplayDeadLetter" => unary!(
            "ReplayDeadLetter",
            replay_dead_letter,
            pb::ReplayDeadLetterRequest,
            "ReplayDeadLetterResponse"
        ),
        "GetStatistics" => unary!(
            "GetStatistics",
            get_statistics,
            pb::GetStatisticsRequest,
            "GetStatisticsResponse"
        ),
        "QueryAudit" => unary!(
            "QueryAudit",
            query_audit,
            pb::QueryAuditRequest,
            "QueryAuditResponse"
        ),
        "GetClock" => unary!("GetClock", get_clock, pb::GetClockRequest, "ClockState"),
        "AdvanceClock" => unary!(
            "AdvanceClock",
            advance_clock,
            pb::AdvanceClockRequest,
            "ClockState"
        ),
        other => Err(Status::not_found(format!(
            "the console has no method {other:?}"
        ))),
    }
}

fn finish<T>(audit: InProcessCall, outcome: &Result<T, Status>) {
    audit.finish(outcome.as_ref().map(|_| ()));
}

/// A refusal as the console's page reads it.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    /// The gRPC code's name, e.g. `INVALID_ARGUMENT`.
    pub code: &'static str,
    pub message: String,
    /// Each field the request got wrong, and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldError>,
}

#[derive(Debug, Serialize)]
pub struct FieldError {
    pub field: String,
    pub description: String,
}

/// The HTTP status for a gRPC code, as gRPC's own HTTP mappings choose it.
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::InvalidArgument | Code::FailedPrecondition | Code::OutOfRange => {
            StatusCode::BAD_REQUEST
        }
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::Cancelled => StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// `status` as the console answers it.
pub fn error_body(status: &Status) -> ErrorBody {
    let fields = status
        .get_details_bad_request()
        .map(|bad| {
            bad.field_violations
                .into_iter()
                .map(|v| FieldError {
                    field: v.field,
                    description: v.description,
                })
                .collect()
        })
        .unwrap_or_default();
    ErrorBody {
        code: code_name(status.code()),
        message: status.message().to_owned(),
        fields,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_that_is_not_its_message_is_an_invalid_argument_naming_the_body() {
        let empty: pb::ListOpenBreachesRequest =
            decode(b"  ", "mediation.operations.v1.ListOpenBreachesRequest").unwrap();
        assert_eq!(empty, pb::ListOpenBreachesRequest::default());
        let ack: pb::AcknowledgeAlertRequest = decode(
            br#"{"seq": "7", "note": "on it"}"#,
            "mediation.operations.v1.AcknowledgeAlertRequest",
        )
        .unwrap();
        assert_eq!((ack.seq, ack.note.as_str()), (7, "on it"));
        let refused = decode::<pb::AcknowledgeAlertRequest>(
            br#"{"seq": 7, "nope": 1}"#,
            "mediation.operations.v1.AcknowledgeAlertRequest",
        )
        .unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument);
        let body = error_body(&refused);
        assert_eq!(body.code, "INVALID_ARGUMENT");
        assert_eq!(body.fields.len(), 1);
        assert_eq!(body.fields[0].field, "body");
        assert!(body.fields[0].description.contains("nope"), "{body:?}");
    }

    #[test]
    fn codes_map_to_the_http_statuses_browsers_and_proxies_expect() {
        assert_eq!(http_status(Code::PermissionDenied), StatusCode::FORBIDDEN);
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(http_status(Code::InvalidArgument), StatusCode::BAD_REQUEST);
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(http_status(Code::Unauthenticated), StatusCode::UNAUTHORIZED);
    }
}
