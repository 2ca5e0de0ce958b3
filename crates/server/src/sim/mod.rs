//! The simulation kit: the gateway's counterparts as they look from the
//! wire, for the end-to-end tests, the `demo` command and the load harness.
//!
//! - [`SimCourt`] and [`SimWebhookCourt`]: a court system over gRPC and one
//!   that takes notices by webhook;
//! - [`SimCcpit`], [`SimLabour`], [`SimTraffic`]: each partner platform's
//!   receiving service;
//! - [`Inbox`]: what each of them was sent, with switches that make it fail
//!   as if it were down;
//! - [`SimConfig`] and [`SimTenant`]: the gateway's configuration (the
//!   shipped file with typed overrides) and tenants file;
//! - [`spawn_grpc`] and [`spawn_http`]: serving them on a listener, over TLS
//!   or, on loopback, plaintext.
//!
//! It lives in the gateway's crate, not behind a test feature, because the
//! `demo` command ships in the binary and is built on it. It uses no test
//! fixtures: its sample cases are court-contract JSON files ([`cases`]).

pub mod cases;
mod config;
mod court;
mod inbox;
mod platforms;
mod tenants;

pub use config::{AlertHook, CourtAt, OnBreach, SHIPPED, SimConfig, TlsFiles};
pub use court::{SimCourt, SimWebhookCourt, WebhookCall};
pub use inbox::{Inbox, Observer, Refused};
pub use platforms::{LabourMessage, SimCcpit, SimLabour, SimTraffic};
pub use tenants::{SimRole, SimTenant, tenants_file};

use std::net::SocketAddr;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Server, ServerTlsConfig};

/// A listener on a free loopback port, and its address.
pub async fn listen() -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// Serves `routes` on `listener` until the task is dropped: over TLS with
/// `tls`, or plaintext without.
pub fn spawn_grpc(
    listener: TcpListener,
    tls: Option<ServerTlsConfig>,
    routes: Routes,
) -> JoinHandle<Result<(), tonic::transport::Error>> {
    tokio::spawn(async move {
        let mut server = Server::builder();
        if let Some(tls) = tls {
            server = server.tls_config(tls)?;
        }
        server
            .add_routes(routes)
            // Replies are small and many: no Nagle delay on them.
            .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
            .await
    })
}

/// Serves `router` over plaintext HTTP on `listener`.
pub fn spawn_http(listener: TcpListener, router: axum::Router) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move { axum::serve(listener, router).await })
}
