//! The database schema, as versioned migrations applied in order (sqlx's
//! migrator, which records each one with its checksum and takes an advisory
//! lock so that replicas starting together apply them once).
//!
//! Records are the store's own format (`mediation-records`), kept as
//! `bytea`; the columns beside them are what the queries select and order
//! by. Instants are nanoseconds since the Unix epoch (`*_ns`, `bigint`), so
//! that they compare exactly as the domain's timestamps do. Identifiers are
//! `text COLLATE "C"`, ordered byte by byte as the embedded store orders
//! them.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration, oldest first. A released migration is never edited:
/// the migrator refuses a database whose applied checksum differs.
const MIGRATIONS: &[(i64, &str, &str)] = &[(1, "the gateway's tables", V1)];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 1;

const V1: &str = r#"
CREATE TABLE referrals (
    id text COLLATE "C" PRIMARY KEY,
    version bigint NOT NULL,
    snapshot bytea NOT NULL,
    bundle bytea NOT NULL
);

CREATE TABLE events (
    referral text COLLATE "C" NOT NULL REFERENCES referrals (id),
    version bigint NOT NULL,
    -- Days since the epoch (UTC) of the event's instant: statistics find
    -- the referrals active in a period through it.
    day bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (referral, version)
);
CREATE INDEX events_by_day ON events (day, referral);

-- Idempotent submission: a court's id, in the namespace of whoever filed it
-- ('' for a court, the platform for a dispute it took directly), is claimed
-- by exactly one referral, whichever replica takes the call.
CREATE TABLE court_keys (
    filed_by text COLLATE "C" NOT NULL,
    court text COLLATE "C" NOT NULL,
    court_referral_id text COLLATE "C" NOT NULL,
    referral text COLLATE "C" NOT NULL REFERENCES referrals (id),
    PRIMARY KEY (filed_by, court, court_referral_id)
);

CREATE TABLE loads (
    organisation text COLLATE "C" PRIMARY KEY,
    open bigint NOT NULL CHECK (open >= 0)
);

CREATE TABLE timers (
    referral text COLLATE "C" NOT NULL REFERENCES referrals (id),
    kind text COLLATE "C" NOT NULL,
    fire_at_ns bigint NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (referral, kind)
);
CREATE INDEX timers_by_time ON timers (fire_at_ns, referral, kind);

-- The outbox. A lane is a destination and a referral; its messages leave in
-- `seq` order. Only a lane's head waiting for an attempt has `due_ns`; a
-- replica delivering it holds a lease until `lease_until_ns`.
CREATE SEQUENCE outbox_seq AS bigint;
CREATE TABLE outbox (
    seq bigint PRIMARY KEY,
    destination text COLLATE "C" NOT NULL,
    referral text COLLATE "C" NOT NULL REFERENCES referrals (id),
    enqueued_at_ns bigint NOT NULL,
    dead boolean NOT NULL DEFAULT false,
    due_ns bigint,
    leased_by text,
    lease_until_ns bigint,
    record bytea NOT NULL
);
CREATE INDEX outbox_lanes ON outbox (destination, referral, seq);
CREATE INDEX outbox_by_referral ON outbox (referral, seq);
CREATE INDEX outbox_due ON outbox (destination, due_ns) WHERE due_ns IS NOT NULL;
CREATE INDEX outbox_next_due ON outbox (due_ns) WHERE due_ns IS NOT NULL;
CREATE INDEX outbox_dead ON outbox (seq) WHERE dead;

-- Alerts are numbered from one counter row, updated in the transaction
-- that raises them: the row's lock orders the numbers as the commits, so a
-- reader that sees number n has seen every number below it.
CREATE TABLE counters (
    name text PRIMARY KEY,
    value bigint NOT NULL
);
INSERT INTO counters (name, value) VALUES ('alert', 0);

CREATE TABLE alerts (
    seq bigint PRIMARY KEY,
    record bytea NOT NULL
);
CREATE TABLE acknowledgements (
    seq bigint PRIMARY KEY REFERENCES alerts (seq),
    record bytea NOT NULL
);

-- The audit log: hash chains, each appended by one transaction at a time
-- (its head row locked). A transaction takes the first chain no other
-- holds, so concurrent replicas never wait on one another's audit; `store
-- verify` walks every chain.
CREATE TABLE audit_chains (
    chain integer PRIMARY KEY,
    next_seq bigint NOT NULL,
    last_hash text NOT NULL
);
CREATE TABLE audit (
    chain integer NOT NULL REFERENCES audit_chains (chain),
    seq bigint NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (chain, seq)
);
"#;

/// The migrator of this build.
pub fn migrator() -> Migrator {
    let migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .map(|&(version, description, sql)| {
            Migration::new(
                version,
                Cow::Borrowed(description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator {
        migrations: Cow::Owned(migrations),
        ..Migrator::DEFAULT
    }
}
