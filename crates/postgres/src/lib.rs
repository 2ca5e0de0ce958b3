//! The gateway's store on PostgreSQL, shared by several gateway replicas.
//!
//! [`PgStore`] implements the storage traits of `mediation_core::store`, as
//! the embedded sled store does, and passes the same conformance suite. What
//! the embedded store gets from being the only writer, this one gets from
//! the database:
//! - every write is one transaction, acknowledged once committed with
//!   `synchronous_commit = on` (set on every connection);
//! - a referral's commands are serialised by its row's lock, taken before
//!   its version is checked, and every change to its outbox lanes takes the
//!   same lock;
//! - a court key is claimed by a unique constraint, not a read before the
//!   write;
//! - the relay's work is divided by leases on lane heads, taken with
//!   `FOR UPDATE SKIP LOCKED`; a crashed replica's leases expire;
//! - alert numbers come from one counter row, so they are gap-free and in
//!   commit order;
//! - the audit log is a set of hash chains, each appended by one transaction
//!   at a time ([`schema`]).
//!
//! Records are the store's own format (`mediation-records`), so a store
//! moves between the two backends without translation.

#[cfg(feature = "cluster")]
pub mod cluster;
mod import;
pub mod schema;
mod tables;

use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

pub use import::Imported;

use jiff::Timestamp;
use mediation_core::ids::ReferralId;
use mediation_core::store::{MessageId, StoreError};
use sqlx::ConnectOptions as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

/// How to reach the database.
#[derive(Clone)]
pub struct PgOptions {
    /// A `postgres://` URL. A password in it is accepted, but
    /// [`PgOptions::password`] keeps it out of the configuration file.
    pub url: String,
    /// The password, read from a file or the environment by the caller.
    pub password: Option<String>,
    /// Connections this replica keeps open at most.
    pub pool_size: u32,
    /// The CA that signed the server's certificate. When set, the connection
    /// is TLS and the server's name is verified against it
    /// (`sslmode=verify-full`).
    pub ca_file: Option<PathBuf>,
    /// How long to wait for a connection.
    pub connect_timeout: Duration,
    /// This replica's name in leases and in the server's
    /// `application_name`; unique per process.
    pub replica: String,
    /// How long a replica holds a lane head it is delivering. Another replica
    /// takes the head over once it expires, so it must outlast an attempt.
    pub lease: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redacted(&self.url))
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("pool_size", &self.pool_size)
            .field("ca_file", &self.ca_file)
            .field("replica", &self.replica)
            .field("lease", &self.lease)
            .finish()
    }
}

/// The URL with any password in it replaced, for logs and errors.
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((user, host)) => {
                let user = user.split(':').next().unwrap_or_default();
                format!("{scheme}://{user}@{host}")
            }
            None => url.to_owned(),
        },
        None => "(not a URL)".to_owned(),
    }
}

impl PgOptions {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            password: None,
            pool_size: 16,
            ca_file: None,
            connect_timeout: Duration::from_secs(5),
            replica: default_replica_name(),
            lease: Duration::from_secs(60),
        }
    }

    fn connect_options(&self) -> Result<PgConnectOptions, OpenError> {
        let mut options = PgConnectOptions::from_str(&self.url).map_err(|e| OpenError::Url {
            url: redacted(&self.url),
            message: e.to_string(),
        })?;
        if let Some(password) = &self.password {
            options = options.password(password);
        }
        if let Some(ca) = &self.ca_file {
            options = options.ssl_mode(PgSslMode::VerifyFull).ssl_root_cert(ca);
        }
        // An acknowledgement means the commit is on the primary's disk (and
        // a synchronous standby's, where the server is configured with one),
        // whatever the server's default.
        Ok(options
            .options([("synchronous_commit", "on")])
            .application_name(&format!("mediation-gateway {}", self.replica))
            .log_statements(tracing::log::LevelFilter::Trace))
    }
}

/// A name unique to this process: the host's, its process id and a
/// random suffix, so a restarted replica never mistakes its predecessor's
/// leases for its own.
pub fn default_replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "gateway".into());
    let nanos = Timestamp::now().subsec_nanosecond();
    format!("{host}/{}/{nanos:08x}", std::process::id())
}

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("the database URL {url} is not usable: {message}")]
    Url { url: String, message: String },
    #[error("cannot connect to the database at {url}: {message}")]
    Connect { url: String, message: String },
    #[error("cannot bring the database at {url} to schema version {version}: {message}")]
    Migrate {
        url: String,
        version: i64,
        message: String,
    },
    #[error(
        "the database at {url} is at schema version {found}, but this build knows versions up to {supported}; \
         run the newer build, or restore the database from before"
    )]
    Newer {
        url: String,
        found: i64,
        supported: i64,
    },
    #[error(
        "the database at {url} has no gateway schema (found version {found}); run `store migrate` or start `serve`, which applies it"
    )]
    Behind { url: String, found: i64 },
}

/// What [`PgStore::check`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaCheck {
    pub server_version: String,
    /// The newest migration applied.
    pub applied: i64,
    pub supported: i64,
    pub synchronous_commit: String,
    /// `synchronous_standby_names`: empty when no standby must confirm.
    pub synchronous_standbys: String,
}

/// The PostgreSQL store. Cheap to clone; clones share one pool.
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// A few connections for the relay's leases, whose commits do not wait
    /// for the disk (`synchronous_commit = off`): a lease lost in a crash
    /// only lets another replica deliver a head again, which at-least-once
    /// allows, and a busy relay takes leases after every answer.
    lease_pool: PgPool,
    replica: std::sync::Arc<str>,
    lease: Duration,
}

impl PgStore {
    /// Connects, without touching the schema.
    pub async fn connect(options: &PgOptions) -> Result<Self, OpenError> {
        let connect = options.connect_options()?;
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| OpenError::Connect {
                url: redacted(&options.url),
                message: e.to_string(),
            })?;
        let lease_pool = PgPoolOptions::new()
            .max_connections(2)
            .acquire_timeout(options.connect_timeout)
            .connect_lazy_with(connect.options([("synchronous_commit", "off")]));
        Ok(Self {
            pool,
            lease_pool,
            replica: options.replica.as_str().into(),
            lease: options.lease,
        })
    }

    /// Connects and applies every migration this build knows that the
    /// database lacks: what `serve` does at start.
    pub async fn open(options: &PgOptions) -> Result<Self, OpenError> {
        let store = Self::connect(options).await?;
        store.migrate(&options.url).await?;
        Ok(store)
    }

    /// Applies the migrations the database lacks. Refuses a database that
    /// a newer build migrated.
    pub async fn migrate(&self, url: &str) -> Result<i64, OpenError> {
        let applied = self.applied_version().await.unwrap_or(0);
        if applied > schema::SCHEMA_VERSION {
            return Err(OpenError::Newer {
                url: redacted(url),
                found: applied,
                supported: schema::SCHEMA_VERSION,
            });
        }
        schema::migrator()
            .run(&self.pool)
            .await
            .map_err(|e| OpenError::Migrate {
                url: redacted(url),
                version: schema::SCHEMA_VERSION,
                message: e.to_string(),
            })?;
        if applied < schema::SCHEMA_VERSION {
            tracing::info!(
                from = applied,
                to = schema::SCHEMA_VERSION,
                "database schema migrated"
            );
        }
        self.rechain_audit().await.map_err(|e| OpenError::Migrate {
            url: redacted(url),
            version: schema::SCHEMA_VERSION,
            message: e.to_string(),
        })?;
        Ok(schema::SCHEMA_VERSION)
    }

    /// The newest migration applied; 0 for a database without the schema.
    async fn applied_version(&self) -> Result<i64, sqlx::Error> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE tablename = '_sqlx_migrations')",
        )
        .fetch_one(&self.pool)
        .await?;
        if !exists {
            return Ok(0);
        }
        let version: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await?;
        Ok(version.unwrap_or(0))
    }

    /// Checks the database is reachable and at this build's schema, and
    /// reads the settings that decide what an acknowledgement means: for
    /// `check-config`.
    pub async fn check(&self, url: &str) -> Result<SchemaCheck, OpenError> {
        let connect = |e: sqlx::Error| OpenError::Connect {
            url: redacted(url),
            message: e.to_string(),
        };
        let applied = self.applied_version().await.map_err(connect)?;
        if applied > schema::SCHEMA_VERSION {
            return Err(OpenError::Newer {
                url: redacted(url),
                found: applied,
                supported: schema::SCHEMA_VERSION,
            });
        }
        if applied < schema::SCHEMA_VERSION {
            return Err(OpenError::Behind {
                url: redacted(url),
                found: applied,
            });
        }
        let show = |name: &'static str| {
            let pool = self.pool.clone();
            async move {
                sqlx::query_scalar::<_, String>(&format!("SHOW {name}"))
                    .fetch_one(&pool)
                    .await
            }
        };
        Ok(SchemaCheck {
            server_version: show("server_version").await.map_err(connect)?,
            applied,
            supported: schema::SCHEMA_VERSION,
            synchronous_commit: show("synchronous_commit").await.map_err(connect)?,
            synchronous_standbys: show("synchronous_standby_names").await.map_err(connect)?,
        })
    }

    /// Whether the database answers now: for health.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    /// Takes the lead of the work called `name`, which one replica at a
    /// time must do (posting alerts to webhooks), for [`LEAD_LEASE`]: a
    /// lease row, held while the leader renews it ([`Leader::still_held`])
    /// and taken over by another replica once it has run out, each taking a
    /// new generation. A leader that stops making progress (frozen, cut off
    /// from the database) so loses the lead within the lease, and on waking
    /// finds another generation in its place. `None` while another replica
    /// leads.
    pub async fn try_lead(&self, name: &str) -> Result<Option<Leader>, StoreError> {
        self.try_lead_for(name, LEAD_LEASE).await
    }

    /// The same, for a lease of `lease`.
    pub async fn try_lead_for(
        &self,
        name: &str,
        lease: Duration,
    ) -> Result<Option<Leader>, StoreError> {
        let generation: Option<i64> = sqlx::query_scalar(
            "INSERT INTO leads (work, holder, generation, expires_at) \
             VALUES ($1, $2, 1, clock_timestamp() + make_interval(secs => $3)) \
             ON CONFLICT (work) DO UPDATE \
                SET holder = excluded.holder, generation = leads.generation + 1, \
                    expires_at = excluded.expires_at \
              WHERE leads.expires_at <= clock_timestamp() \
             RETURNING generation",
        )
        .bind(name)
        .bind(&*self.replica)
        .bind(lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(generation.map(|generation| Leader {
            pool: self.pool.clone(),
            work: name.to_owned(),
            holder: std::sync::Arc::clone(&self.replica),
            generation,
            lease,
            released: false,
        }))
    }

    /// This replica's name in leases.
    pub fn replica(&self) -> &str {
        &self.replica
    }

    /// Closes every connection.
    pub async fn close(&self) {
        self.lease_pool.close().await;
        self.pool.close().await;
    }
}

/// How long a lead lasts without being renewed: a leader that stops making
/// progress loses the lead within this, and another replica takes it over.
pub const LEAD_LEASE: Duration = Duration::from_secs(20);

/// The lead of some work, held by lease while the leader renews it.
#[derive(Debug)]
pub struct Leader {
    pool: PgPool,
    work: String,
    holder: std::sync::Arc<str>,
    /// Which taking of the lead this is: every taking adds one, so a
    /// leader that lost the lead, however briefly, never holds it again
    /// under the same generation.
    generation: i64,
    lease: Duration,
    released: bool,
}

impl Leader {
    /// Which taking of the lead this is.
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// Whether the lead is still held, renewing its lease if so: false once
    /// the lease ran out (whether or not another replica took it over since)
    /// or the database cannot tell. Work done in the lead's name is fenced
    /// by this: done only after it answered true, within the lease.
    pub async fn still_held(&mut self) -> bool {
        let renewed: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "UPDATE leads SET expires_at = clock_timestamp() + make_interval(secs => $4) \
              WHERE work = $1 AND holder = $2 AND generation = $3 \
                AND expires_at > clock_timestamp() \
             RETURNING generation",
        )
        .bind(&self.work)
        .bind(&*self.holder)
        .bind(self.generation)
        .bind(self.lease.as_secs_f64())
        .fetch_optional(&self.pool)
        .await;
        matches!(renewed, Ok(Some(_)))
    }

    /// Gives the lead up at once, so another replica need not wait for the
    /// lease to run out.
    pub async fn release(mut self) {
        self.released = true;
        let _ = release(&self.pool, &self.work, &self.holder, self.generation).await;
    }
}

/// Ends the lease of `generation`, if it is still the one held.
async fn release(
    pool: &PgPool,
    work: &str,
    holder: &str,
    generation: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE leads SET expires_at = clock_timestamp() \
          WHERE work = $1 AND holder = $2 AND generation = $3",
    )
    .bind(work)
    .bind(holder)
    .bind(generation)
    .execute(pool)
    .await
    .map(|_| ())
}

impl Drop for Leader {
    /// A lead dropped (its work stopped, or found lost) is given up in the
    /// background where a runtime is at hand; otherwise its lease runs out.
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let pool = self.pool.clone();
        let work = std::mem::take(&mut self.work);
        let holder = std::sync::Arc::clone(&self.holder);
        let generation = self.generation;
        runtime.spawn(async move {
            let _ = release(&pool, &work, &holder, generation).await;
        });
    }
}

/// A database error, as the storage traits report it.
pub(crate) fn unavailable(e: sqlx::Error) -> StoreError {
    StoreError::Unavailable(format!("database: {e}"))
}

/// A stored record that could not be read.
pub(crate) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// An instant as the columns keep it.
pub(crate) fn ns(t: Timestamp) -> i64 {
    i64::try_from(t.as_nanosecond()).unwrap_or(if t > Timestamp::UNIX_EPOCH {
        i64::MAX
    } else {
        i64::MIN
    })
}

pub(crate) fn from_ns(n: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_nanosecond(i128::from(n)).map_err(|e| corrupt("instant", e))
}

/// The day (since the epoch, UTC) an instant falls on.
pub(crate) fn day_of(t: Timestamp) -> i64 {
    t.as_second().div_euclid(86_400)
}

/// A message's id, as both backends give it: its referral and its number
/// in hex.
pub(crate) fn message_id(referral: &str, seq: i64) -> MessageId {
    MessageId(format!("{referral}-{:016x}", seq as u64))
}

/// The referral and number a message id names.
pub(crate) fn parse_message_id(id: &MessageId) -> Option<(ReferralId, i64)> {
    let (referral, n) = id.0.rsplit_once('-')?;
    let n = u64::from_str_radix(n, 16).ok()?;
    Some((ReferralId::parse(referral).ok()?, i64::try_from(n).ok()?))
}

#[cfg(test)]
mod tests;
