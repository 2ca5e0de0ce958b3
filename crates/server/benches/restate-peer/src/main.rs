//! The Restate peer of the load harness (`crates/server/benches/load/restate.rs`):
//! the gateway's referral flow written as a Restate service, the way a team
//! that chose Restate instead of writing a gateway would write it.
//!
//! Each referral is a virtual object keyed by the court's own id, and its one
//! handler, `Referrals/{id}/submit`, is the whole flow:
//!
//! - **received**: the court's submission reaches the handler through
//!   Restate's ingress, which answers the court once the invocation is in
//!   Restate's log (the harness calls `.../submit/send`);
//! - **offered**: one journaled step POSTs the referral to the platform its
//!   domain names and returns the platform's answer. Restate retries the step
//!   until it succeeds, and a crash after the POST but before the step's
//!   result is in the log posts again: at least once, as the gateway's relay;
//! - **recorded**: the platform's receipt is kept as the object's state.
//!
//! It serves Restate's service protocol on a free loopback port, announced on
//! its first line of output, and offers referrals to the platform whose base
//! URL (`http://host:port`) is in `RESTATE_PEER_PLATFORM`.

use restate_sdk::prelude::*;
use tokio::net::TcpListener;

/// The platform's base URL.
const PLATFORM: &str = "RESTATE_PEER_PLATFORM";
/// The object's state entry that holds the platform's receipt.
const RECEIPT: &str = "receipt";

struct Referrals {
    platform: reqwest::Client,
    base: String,
}

/// What the handler reads of a referral: the field of law, which names the
/// platform. The referral goes to the platform as it came.
#[derive(serde::Deserialize)]
struct Head {
    domain: String,
}

#[object]
impl Referrals {
    #[handler]
    async fn submit(&self, ctx: ObjectContext<'_>, referral: Vec<u8>) -> Result<(), HandlerError> {
        // A body that is not a referral will never be one: no retries.
        let head: Head = serde_json::from_slice(&referral)
            .map_err(|e| TerminalError::new(format!("not a referral: {e}")))?;
        let url = format!("{}/offers/{}/{}", self.base, head.domain, ctx.key());
        let platform = self.platform.clone();
        let receipt = ctx
            .run(move || offer(platform, url, referral))
            .name("offer")
            .await?;
        ctx.set(RECEIPT, receipt);
        Ok(())
    }
}

/// POSTs `referral` to `url`; the platform's answer is its receipt. Any
/// failure, a refusal included, is retried by Restate.
async fn offer(platform: reqwest::Client, url: String, referral: Vec<u8>) -> HandlerResult<String> {
    let answer = platform
        .post(url)
        .header("content-type", "application/json")
        .body(referral)
        .send()
        .await?
        .error_for_status()?;
    Ok(answer.text().await?)
}

#[tokio::main]
async fn main() {
    let base = std::env::var(PLATFORM)
        .expect("RESTATE_PEER_PLATFORM names the platform as http://host:port");
    // Loopback only: a proxy from the environment must not come between.
    let platform = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("an HTTP client");
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    // The harness reads the address from this line.
    println!(
        "restate peer listening on {}",
        listener.local_addr().expect("the listener's address")
    );
    HttpServer::new(
        Endpoint::builder()
            .bind(Referrals { platform, base })
            .build(),
    )
    .serve(listener)
    .await;
}
