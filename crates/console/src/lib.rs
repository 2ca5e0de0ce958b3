//! The operators' web console, served by the gateway on a listener of its
//! own.
//!
//! - **Login.** An operator pastes a bearer token from the operators'
//!   tenant's issuer, checked exactly as a gRPC call's token is; it becomes
//!   a session ([`session`]) in an HttpOnly, SameSite=Strict cookie, with a
//!   CSRF token every state-changing request must echo. Only operators'
//!   tenants may log in; a read-only operator's session can read and watch
//!   and nothing more.
//! - **Calls.** The page calls the operations service as JSON
//!   ([`transcode`]): each call passes the call guard's in-process
//!   admission, so the role rules, rate limits and audit chain are the
//!   gRPC API's own.
//! - **Live alerts** come as server-sent events from the same watch the
//!   gRPC stream uses.
//! - **The page** is embedded ([`assets`]) and speaks Chinese and English.
//!
//! The listener is plaintext only on loopback; anywhere else it is TLS with
//! the gateway's own certificate (the server assembles and checks that).

pub mod assets;
mod routes;
pub mod session;
pub mod transcode;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mediation_api::guard::Guard;
use mediation_core::clock::Clock;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

pub use session::SessionLimits;
pub use transcode::{AlertStream, Ops};

/// How long a browser has to finish the TLS handshake and to send a
/// request's headers, before its connection is closed.
const HANDSHAKE: Duration = Duration::from_secs(10);

/// The console's routes, calling `ops` through `guard`'s admission. `clock`
/// is real time (sessions follow it, not a sandbox's clock); `tls` says
/// whether it is served over TLS, which decides the cookie's attributes.
pub fn app(
    ops: Ops,
    guard: Guard,
    clock: Arc<dyn Clock>,
    tls: bool,
    limits: SessionLimits,
) -> axum::Router {
    routes::router(Arc::new(routes::Console {
        ops,
        guard,
        sessions: session::Sessions::new(limits),
        clock,
        tls,
    }))
}

/// Serves `app` on `listener` (over TLS with `tls`) until `shutdown`
/// completes; then lets open requests finish for at most `grace`. Each
/// connection is its own task, so a slow handshake holds up no other.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
    max_connections: usize,
) {
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(TlsAcceptor::from);
    let mut shutdown = std::pin::pin!(shutdown);
    // A failed accept (out of descriptors, usually) pauses the listener, and
    // clients are refused until there is room again, as on the gRPC
    // listener.
    let mut accepting = mediation_api::accept::Accepting::new("console");
    // At most this many connections open at once, each holding a file
    // descriptor: at the cap nothing more is accepted, and further clients
    // wait in the kernel's listen backlog, as on the gRPC listener.
    let places = Arc::new(tokio::sync::Semaphore::new(max_connections.max(1)));
    loop {
        let place = tokio::select! {
            place = Arc::clone(&places).acquire_owned() => match place {
                Ok(place) => place,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let next = std::future::poll_fn(|cx| {
            accepting.poll_accept(cx, |cx| listener.poll_accept(cx).map(Some))
        });
        let (stream, peer) = tokio::select! {
            accepted = next => match accepted {
                Some(accepted) => accepted,
                // A listener does not end.
                None => break,
            },
            () = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(app.clone());
        let acceptor = acceptor.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            // Held until the connection closes.
            let _place = place;
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(Some(HANDSHAKE));
            let served = match acceptor {
                Some(acceptor) => {
                    let stream =
                        match tokio::time::timeout(HANDSHAKE, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                tracing::debug!(%peer, %error, "console TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%peer, "console TLS handshake too slow");
                                return;
                            }
                        };
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
                None => {
                    watcher
                        .watch(http.serve_connection(TokioIo::new(stream), service))
                        .await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%peer, %error, "console connection ended with an error");
            }
        });
    }
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("console connections still open at the end of the grace period");
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::TcpStream;

    /// Sends a request on `stream` and reads the start of the answer.
    async fn ask(stream: &mut TcpStream) -> String {
        stream
            .write_all(b"GET / HTTP/1.1\r\nHost: console\r\n\r\n")
            .await
            .unwrap();
        let mut answer = vec![0; 64];
        let n = stream.read(&mut answer).await.unwrap();
        String::from_utf8_lossy(&answer[..n]).into_owned()
    }

    #[tokio::test(flavor = "current_thread")]
    async fn no_connection_is_served_beyond_the_cap_until_one_closes() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
        tokio::spawn(super::serve(
            listener,
            app,
            None,
            std::future::pending(),
            Duration::from_secs(1),
            1,
        ));
        let mut first = TcpStream::connect(addr).await.unwrap();
        assert!(ask(&mut first).await.starts_with("HTTP/1.1 200"));
        // The first stays open (keep-alive): the second waits for its place.
        let mut second = TcpStream::connect(addr).await.unwrap();
        let waiting = tokio::time::timeout(Duration::from_millis(300), ask(&mut second)).await;
        assert!(
            waiting.is_err(),
            "a second connection was served past the cap"
        );
        drop(first);
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            let mut answer = vec![0; 64];
            let n = second.read(&mut answer).await.unwrap();
            String::from_utf8_lossy(&answer[..n]).into_owned()
        })
        .await
        .expect("a place came free");
        assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    }
}
