//! One module per table, as `mediation_core::store` has one trait module
//! per table: each holds that table's SQL reads and writes and its storage
//! trait's implementation for `PgStore`.
//! - `referrals`: referrals' snapshots and bundles, their histories
//!   (`events`, with the days they fall on) and court keys, and the row
//!   lock every change to a referral or its outbox lanes takes first;
//! - `commit`: a commit, which writes every table at once in one statement
//!   (`gateway_commit`, in the schema), claiming its alerts' subjects first
//!   where it raises alerts once each;
//! - `timers`: the deadline timers;
//! - `outbox`: the relay's leases on lane heads, the outcomes of its
//!   attempts, dead letters and their replay;
//! - `alerts`: alerts, their acknowledgements and the subjects claimed;
//! - `audit`: the audit chains and their verification;
//! - `counters`: organisations' loads and destinations' backlogs.
//!
//! Every write is one statement or one transaction. A transaction that
//! PostgreSQL aborts for a deadlock or a serialisation failure is run again,
//! a few times ([`retrying`]); any other failure rolls back, so a refused
//! write leaves nothing behind.

mod alerts;
mod audit;
mod commit;
mod counters;
mod outbox;
mod referrals;
mod timers;

use std::future::Future;

use mediation_core::store::StoreError;

use crate::unavailable;

/// How often a transaction aborted by the database's concurrency control is
/// tried in all.
const ATTEMPTS: u32 = 5;

/// Why a transaction failed: a refusal of the store's own, or the
/// database's error, which may be worth another attempt.
enum Failure {
    Store(StoreError),
    Db(sqlx::Error),
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        Failure::Store(e)
    }
}

impl From<sqlx::Error> for Failure {
    fn from(e: sqlx::Error) -> Self {
        Failure::Db(e)
    }
}

impl Failure {
    /// A deadlock or a serialisation failure: the transaction did nothing
    /// and may simply run again.
    fn is_transient(&self) -> bool {
        matches!(self, Failure::Db(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40001" | "40P01")))
    }

    fn into_store(self) -> StoreError {
        match self {
            Failure::Store(e) => e,
            Failure::Db(e) => unavailable(e),
        }
    }
}

/// Runs `attempt` until it succeeds, fails for good, or has been aborted
/// [`ATTEMPTS`] times.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let mut tries = 0;
    loop {
        tries += 1;
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(e) if e.is_transient() && tries < ATTEMPTS => {
                tracing::debug!("transaction aborted by the database; running it again");
            }
            Err(e) => return Err(e.into_store()),
        }
    }
}

/// A limit as a query binds it.
fn limit_of(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
