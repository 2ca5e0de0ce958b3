//! Simulated court systems: one that hosts `CourtReceiver` over gRPC, and
//! one that takes the same notices by webhook, as proto3 JSON.

use mediation_proto::court::v1 as pb;
use mediation_proto::court::v1::court_receiver_server::{CourtReceiver, CourtReceiverServer};
use tonic::{Request, Response, Status};

use super::Inbox;

/// A court system's `CourtReceiver`: every notice it took, in order.
#[derive(Debug, Default, Clone)]
pub struct SimCourt {
    pub notices: Inbox<pb::CourtNotice>,
}

impl SimCourt {
    pub fn new(notices: Inbox<pb::CourtNotice>) -> Self {
        Self { notices }
    }

    /// The events the court heard of one referral, in order.
    pub fn events_of(&self, referral: &str) -> Vec<String> {
        self.notices
            .all()
            .into_iter()
            .filter(|n| n.referral_id == referral)
            .map(|n| n.event)
            .collect()
    }

    pub fn server(&self) -> CourtReceiverServer<Self> {
        CourtReceiverServer::new(self.clone())
    }
}

#[tonic::async_trait]
impl CourtReceiver for SimCourt {
    async fn deliver(
        &self,
        r: Request<pb::CourtNotice>,
    ) -> Result<Response<pb::DeliveryAck>, Status> {
        self.notices.take(r.into_inner())?;
        Ok(Response::new(pb::DeliveryAck {}))
    }
}

/// One webhook call as the court system's HTTP server saw it: the key, the
/// JSON body, and the `CourtNotice` a court reads from it by the proto3 JSON
/// mapping.
#[derive(Debug, Clone)]
pub struct WebhookCall {
    pub idempotency_key: String,
    pub body: serde_json::Value,
    pub notice: pb::CourtNotice,
}

/// A court system that takes notices by HTTPS `POST` at `/notices`. It
/// answers 503 while its inbox is down, 400 to a body that is not a
/// `CourtNotice`, and 204 otherwise.
#[derive(Debug, Default, Clone)]
pub struct SimWebhookCourt {
    pub calls: Inbox<WebhookCall>,
}

impl SimWebhookCourt {
    /// Its HTTP routes.
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/notices", axum::routing::post(take_notice))
            .with_state(self.clone())
    }
}

async fn take_notice(
    axum::extract::State(court): axum::extract::State<SimWebhookCourt>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    use axum::http::StatusCode;
    let notice = match mediation_proto::json::from_json(&body, "mediation.court.v1.CourtNotice") {
        Ok(notice) => notice,
        Err(_) => return StatusCode::BAD_REQUEST,
    };
    let Ok(body) = serde_json::from_slice(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    let idempotency_key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let call = WebhookCall {
        idempotency_key,
        body,
        notice,
    };
    match court.calls.take(call) {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    }
}
