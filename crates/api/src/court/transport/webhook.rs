//! Delivering notices to court systems that cannot host gRPC: an HTTPS `POST`
//! of the same `CourtNotice` the gRPC transport sends, as proto3 JSON
//! (`docs/api.md` shows a body).
//!
//! The `Idempotency-Key` header repeats the message id, which stays the same
//! across retries. A 2xx answer (or 409, "I have it") acknowledges; 408, 425,
//! 429 and 5xx are retried; any other 4xx is a permanent failure and the
//! message becomes a dead letter.

use std::time::Duration;

use mediation_core::store::PendingDelivery;
use mediation_delivery::DeliveryError;
use reqwest::StatusCode;

use crate::court::outbound::court_notice;
use crate::outbound::Outbound;

/// The full protobuf name of the message a webhook body carries.
pub const NOTICE_MESSAGE: &str = "mediation.court.v1.CourtNotice";

/// The webhook body of one delivery: its court notice as proto3 JSON.
pub fn webhook_body(d: &PendingDelivery) -> Result<Vec<u8>, DeliveryError> {
    mediation_proto::json::to_json(&court_notice(d), NOTICE_MESSAGE)
        .map_err(|e| DeliveryError::Permanent(format!("the notice cannot be written as JSON: {e}")))
}

/// One court system's webhook.
#[derive(Debug, Clone)]
pub(crate) struct Webhook {
    client: reqwest::Client,
    url: reqwest::Url,
}

impl Webhook {
    pub(crate) fn new(url: &str, timeout: Duration, outbound: &Outbound) -> Result<Self, String> {
        let url = reqwest::Url::parse(url).map_err(|e| format!("{url:?} is not a URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("{url} must be an https:// address"));
        }
        let client = outbound.http_client(url.as_str(), timeout)?;
        Ok(Self { client, url })
    }

    pub(crate) async fn deliver(&self, d: &PendingDelivery) -> Result<(), DeliveryError> {
        let mut traced = http::HeaderMap::new();
        crate::trace_context::send_on_http(&mut traced);
        let response = self
            .client
            .post(self.url.clone())
            .headers(traced)
            .header("Idempotency-Key", d.id.to_string())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(webhook_body(d)?)
            .send()
            .await
            .map_err(|e| DeliveryError::Transient(format!("webhook {}: {e}", self.url)))?;
        classify(response.status(), &self.url)
    }
}

fn classify(status: StatusCode, url: &reqwest::Url) -> Result<(), DeliveryError> {
    let text = format!("webhook {url} answered {status}");
    match status.as_u16() {
        200..=299 | 409 => Ok(()),
        408 | 425 | 429 | 500..=599 => Err(DeliveryError::Transient(text)),
        _ => Err(DeliveryError::Permanent(text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_done_retry_and_give_up() {
        let url = reqwest::Url::parse("https://court.example/notices").unwrap();
        let of = |code: u16| classify(StatusCode::from_u16(code).unwrap(), &url);
        assert!(of(200).is_ok() && of(204).is_ok() && of(409).is_ok());
        for code in [408, 429, 500, 503] {
            assert!(
                matches!(of(code), Err(DeliveryError::Transient(_))),
                "{code}"
            );
        }
        for code in [400, 401, 404, 422] {
            assert!(
                matches!(of(code), Err(DeliveryError::Permanent(_))),
                "{code}"
            );
        }
    }
}
