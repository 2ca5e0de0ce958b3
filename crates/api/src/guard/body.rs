//! Reading a call's outcome from its response: the `grpc-status` of a
//! trailers-only response, or of the trailers at the end of the body.

use std::pin::Pin;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use tonic::codegen::Bytes;
use tonic::{Code, Status};

use super::Pending;

/// `ok`, or the code and message, as the audit log records outcomes.
pub(super) fn outcome_of(code: Code, message: &str) -> String {
    if code == Code::Ok {
        "ok".to_owned()
    } else if message.is_empty() {
        format!("{code:?}")
    } else {
        format!("{code:?}: {message}")
    }
}

fn outcome_in(headers: &http::HeaderMap) -> Option<String> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    let message = headers
        .get("grpc-message")
        .and_then(|m| m.to_str().ok())
        .unwrap_or_default();
    Some(outcome_of(Code::from_i32(code), message))
}

/// Completes `pending` when the response's outcome is known.
pub(super) fn audited(
    response: http::Response<tonic::body::Body>,
    pending: Pending,
) -> http::Response<tonic::body::Body> {
    if let Some(outcome) = outcome_in(response.headers()) {
        pending.finish(&outcome);
        return response;
    }
    response.map(|inner| {
        tonic::body::Body::new(AuditedBody {
            inner,
            pending: Some(pending),
        })
    })
}

pin_project_lite::pin_project! {
    struct AuditedBody {
        #[pin]
        inner: tonic::body::Body,
        pending: Option<Pending>,
    }

    impl PinnedDrop for AuditedBody {
        fn drop(this: Pin<&mut Self>) {
            // The client went away before the call finished.
            if let Some(pending) = this.project().pending.take() {
                pending.finish("Cancelled: the response was not completed");
            }
        }
    }
}

impl Body for AuditedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref()
                    && let Some(pending) = this.pending.take()
                {
                    pending.finish(&outcome_in(trailers).unwrap_or_else(|| "ok".to_owned()));
                }
            }
            Poll::Ready(Some(Err(status))) => {
                if let Some(pending) = this.pending.take() {
                    pending.finish(&outcome_of(status.code(), status.message()));
                }
            }
            Poll::Ready(None) => {
                if let Some(pending) = this.pending.take() {
                    pending.finish("ok");
                }
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
