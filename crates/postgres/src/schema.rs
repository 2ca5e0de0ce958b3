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
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "the gateway's tables", V1),
    (2, "alerts raised once per subject, leads held by lease", V2),
    (3, "the audit log read in number order", V3),
    (4, "purged referrals' case files still to remove", V4),
    (5, "audit records whose outcome detail can be purged", V5),
];

/// The newest schema version this build knows.
pub const SCHEMA_VERSION: i64 = 5;

/// Audit records of version 3 (`mediation_records::encode_audit_record`)
/// keep an outcome's detail after the part the chain hashes, which holds
/// the detail's digest; the retention pass purges details (PIPL Art. 47)
/// and the chain still verifies. Appends hash that part: up to the digest
/// for version 3, whole for an older record (which an older build may
/// still append). Every chain written before is re-chained once, by the
/// first build to connect after this migration (`tables::audit`), and
/// listed here until it is; the retention pass's place in each chain is
/// kept beside.
const V5: &str = r#"
CREATE FUNCTION gateway_audit_hashed(p bytea) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT CASE
        WHEN length(p) >= 5 AND get_byte(p, 0) = 3 THEN substring(p FROM 1 FOR
            5 + ((get_byte(p, 1)::bigint << 24) | (get_byte(p, 2)::bigint << 16)
                 | (get_byte(p, 3)::bigint << 8) | get_byte(p, 4)::bigint)::integer + 32)
        ELSE p
    END
$$;

CREATE OR REPLACE FUNCTION gateway_append_audit(p_records bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_chain integer;
    v_seq bigint;
    v_hash text;
    v_next text;
    v_record bytea;
BEGIN
    IF coalesce(array_length(p_records, 1), 0) = 0 THEN
        RETURN;
    END IF;
    SELECT chain, next_seq, last_hash INTO v_chain, v_seq, v_hash
      FROM audit_chains ORDER BY chain LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        INSERT INTO audit_chains (chain, next_seq, last_hash)
            VALUES (nextval('audit_chain_seq'), 0, repeat('0', 64))
            RETURNING chain, next_seq, last_hash INTO v_chain, v_seq, v_hash;
    END IF;
    FOREACH v_record IN ARRAY p_records LOOP
        v_next := encode(sha256(int8send(v_seq) || convert_to(v_hash, 'UTF8')
            || gateway_audit_hashed(v_record)), 'hex');
        INSERT INTO audit (chain, seq, prev_hash, hash, record)
            VALUES (v_chain, v_seq, v_hash, v_next, v_record);
        v_hash := v_next;
        v_seq := v_seq + 1;
    END LOOP;
    UPDATE audit_chains SET next_seq = v_seq, last_hash = v_hash WHERE chain = v_chain;
END
$$;

CREATE TABLE audit_rechain_pending (
    chain integer PRIMARY KEY REFERENCES audit_chains (chain)
);
INSERT INTO audit_rechain_pending (chain)
    SELECT chain FROM audit_chains WHERE next_seq > 0;

CREATE TABLE audit_details_purged_to (
    chain integer PRIMARY KEY REFERENCES audit_chains (chain),
    next_seq bigint NOT NULL
);
"#;

/// A purge (PIPL Art. 47) writes the redacted bundle and events over the
/// referral's and, when the referral listed case files, a row here until
/// the files are gone from disk.
const V4: &str = r#"
CREATE TABLE purged_files (
    referral text COLLATE "C" PRIMARY KEY REFERENCES referrals (id),
    files bytea NOT NULL
);
"#;

/// The audit trail is read in number order, then chain order
/// (`QueryAudit`, `audit_entries`): an index in that order, so that a page
/// does not sort every entry from its start on.
const V3: &str = r#"
CREATE INDEX audit_by_seq ON audit (seq, chain);
"#;

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

-- Each organisation's open referrals, as a sum over shards: a commit adds
-- its change to its connection's shard, so commits that route to one
-- organisation do not wait on one row.
CREATE TABLE loads (
    organisation text COLLATE "C" NOT NULL,
    shard smallint NOT NULL,
    open bigint NOT NULL,
    PRIMARY KEY (organisation, shard)
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
    -- When the next attempt is due (the record holds it too): what a head
    -- becomes due at when the message before it leaves.
    next_attempt_ns bigint NOT NULL,
    dead boolean NOT NULL DEFAULT false,
    due_ns bigint,
    leased_by text,
    lease_until_ns bigint,
    -- The W3C traceparent of the call that made the message, when traced:
    -- its delivery continues that trace.
    trace_context text,
    record bytea NOT NULL
);
CREATE INDEX outbox_lanes ON outbox (destination, referral, seq);
CREATE INDEX outbox_by_referral ON outbox (referral, seq);
-- A relay pass reads a destination's due heads earliest first, in order:
-- the index gives them so, and the pass stops at its limit without a sort.
CREATE INDEX outbox_due ON outbox (destination, due_ns, seq) WHERE due_ns IS NOT NULL;
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
-- (its head row locked). A transaction takes a chain no other holds, so
-- concurrent replicas never wait on one another's audit; `store verify`
-- walks every chain.
CREATE TABLE audit_chains (
    chain integer PRIMARY KEY,
    next_seq bigint NOT NULL,
    last_hash text NOT NULL
);
-- A new chain's number: from a sequence, so two transactions starting
-- chains at once never wait on each other.
CREATE SEQUENCE audit_chain_seq AS integer MINVALUE 0 START 0;

CREATE TABLE audit (
    chain integer NOT NULL REFERENCES audit_chains (chain),
    seq bigint NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    record bytea NOT NULL,
    PRIMARY KEY (chain, seq)
);

-- The writes that run on every call, each one statement from the gateway:
-- one round trip, atomic on its own, the logic beside the rows.

-- Appends audit records to the first chain no other transaction holds,
-- starting a new chain when every one is held. Each entry's hash is
-- SHA-256 over its number (8 bytes, big-endian), the previous hash (hex
-- text) and the record: mediation_records::chain_hash.
CREATE FUNCTION gateway_append_audit(p_records bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_chain integer;
    v_seq bigint;
    v_hash text;
    v_next text;
    v_record bytea;
BEGIN
    IF coalesce(array_length(p_records, 1), 0) = 0 THEN
        RETURN;
    END IF;
    -- The first chain no transaction holds, or a new one: never a wait.
    -- Writes one after another all go to the first chain.
    SELECT chain, next_seq, last_hash INTO v_chain, v_seq, v_hash
      FROM audit_chains ORDER BY chain LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        INSERT INTO audit_chains (chain, next_seq, last_hash)
            VALUES (nextval('audit_chain_seq'), 0, repeat('0', 64))
            RETURNING chain, next_seq, last_hash INTO v_chain, v_seq, v_hash;
    END IF;
    FOREACH v_record IN ARRAY p_records LOOP
        v_next := encode(sha256(int8send(v_seq) || convert_to(v_hash, 'UTF8') || v_record), 'hex');
        INSERT INTO audit (chain, seq, prev_hash, hash, record)
            VALUES (v_chain, v_seq, v_hash, v_next, v_record);
        v_hash := v_next;
        v_seq := v_seq + 1;
    END LOOP;
    UPDATE audit_chains SET next_seq = v_seq, last_hash = v_hash WHERE chain = v_chain;
END
$$;

-- Appends alerts, numbered from the counter row, whose lock orders the
-- numbers as the commits.
CREATE FUNCTION gateway_append_alerts(p_records bytea[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer := coalesce(array_length(p_records, 1), 0);
    v_last bigint;
BEGIN
    IF v_count = 0 THEN
        RETURN 0;
    END IF;
    UPDATE counters SET value = value + v_count WHERE name = 'alert' RETURNING value INTO v_last;
    INSERT INTO alerts (seq, record)
        SELECT v_last - v_count + n, r FROM unnest(p_records) WITH ORDINALITY AS a (r, n);
    RETURN v_last;
END
$$;

-- Records a message delivered: it leaves, and the next of its lane, unless
-- set aside, becomes the head, due at its next attempt. The referral's row
-- is locked first, as by every change to its lanes. False if there is no
-- such message.
CREATE FUNCTION gateway_delivered(p_referral text, p_seq bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    v_destination text;
BEGIN
    PERFORM 1 FROM referrals WHERE id = p_referral FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    DELETE FROM outbox WHERE seq = p_seq AND referral = p_referral
        RETURNING destination INTO v_destination;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    UPDATE outbox SET due_ns = next_attempt_ns
     WHERE seq = (SELECT seq FROM outbox
                   WHERE destination = v_destination AND referral = p_referral
                   ORDER BY seq LIMIT 1)
       AND NOT dead;
    RETURN true;
END
$$;

-- A command's commit. Refusals are errors, so nothing of the commit stays:
-- MGVER (the referral is at another version: the message is that version),
-- MGDUP (the court key is taken: the message is the referral holding it),
-- MGNOB (a new referral's first commit without its receipt).
CREATE FUNCTION gateway_commit(
    p_referral text, p_expected bigint, p_version bigint, p_snapshot bytea, p_bundle bytea,
    p_key_filed_by text, p_key_court text, p_key_id text,
    p_load_organisations text[], p_load_deltas bigint[],
    p_event_days bigint[], p_events bytea[],
    p_timer_kinds text[], p_timer_fire bigint[], p_timers bytea[],
    p_message_destinations text[], p_message_referrals text[], p_messages bytea[], p_at bigint,
    p_alerts bytea[], p_audit bytea[],
    p_delivered_referral text, p_delivered_seq bigint, p_trace text
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_actual bigint;
    v_existing text;
    i integer;
BEGIN
    IF p_expected = 0 THEN
        IF p_bundle IS NULL THEN
            SELECT version INTO v_actual FROM referrals WHERE id = p_referral FOR UPDATE;
            IF FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'MGVER', MESSAGE = v_actual::text;
            END IF;
            RAISE EXCEPTION USING ERRCODE = 'MGNOB',
                MESSAGE = 'the first commit does not start with its receipt';
        END IF;
        INSERT INTO referrals (id, version, snapshot, bundle)
            VALUES (p_referral, p_version, p_snapshot, p_bundle)
            ON CONFLICT (id) DO NOTHING;
        IF NOT FOUND THEN
            SELECT version INTO v_actual FROM referrals WHERE id = p_referral FOR UPDATE;
            RAISE EXCEPTION USING ERRCODE = 'MGVER', MESSAGE = coalesce(v_actual, 0)::text;
        END IF;
    ELSE
        SELECT version INTO v_actual FROM referrals WHERE id = p_referral FOR UPDATE;
        IF v_actual IS DISTINCT FROM p_expected THEN
            RAISE EXCEPTION USING ERRCODE = 'MGVER', MESSAGE = coalesce(v_actual, 0)::text;
        END IF;
        UPDATE referrals SET version = p_version, snapshot = p_snapshot WHERE id = p_referral;
    END IF;
    IF p_key_court IS NOT NULL THEN
        -- The key decides: of two replicas claiming it at once, the second
        -- waits for the first's commit, then finds it taken.
        INSERT INTO court_keys (filed_by, court, court_referral_id, referral)
            VALUES (p_key_filed_by, p_key_court, p_key_id, p_referral)
            ON CONFLICT DO NOTHING;
        IF NOT FOUND THEN
            SELECT referral INTO v_existing FROM court_keys
             WHERE filed_by = p_key_filed_by AND court = p_key_court
               AND court_referral_id = p_key_id;
            RAISE EXCEPTION USING ERRCODE = 'MGDUP', MESSAGE = coalesce(v_existing, '');
        END IF;
    END IF;
    FOR i IN 1 .. coalesce(array_length(p_load_organisations, 1), 0) LOOP
        INSERT INTO loads (organisation, shard, open)
            VALUES (p_load_organisations[i], pg_backend_pid() % 64, p_load_deltas[i])
            ON CONFLICT (organisation, shard) DO UPDATE SET open = loads.open + excluded.open;
    END LOOP;
    INSERT INTO events (referral, version, day, record)
        SELECT p_referral, p_expected + n, d, r
          FROM unnest(p_event_days, p_events) WITH ORDINALITY AS e (d, r, n);
    DELETE FROM timers WHERE referral = p_referral;
    INSERT INTO timers (referral, kind, fire_at_ns, record)
        SELECT p_referral, k, f, r FROM unnest(p_timer_kinds, p_timer_fire, p_timers) AS t (k, f, r);
    -- The referral's row is locked, so no other transaction adds to or
    -- delivers from its lanes meanwhile: a lane is empty or not as seen here.
    FOR i IN 1 .. coalesce(array_length(p_messages, 1), 0) LOOP
        INSERT INTO outbox (seq, destination, referral, enqueued_at_ns, next_attempt_ns, due_ns,
                            trace_context, record)
        VALUES (nextval('outbox_seq'), p_message_destinations[i], p_message_referrals[i], p_at, p_at,
                CASE WHEN EXISTS (SELECT 1 FROM outbox
                                   WHERE destination = p_message_destinations[i]
                                     AND referral = p_message_referrals[i])
                     THEN NULL ELSE p_at END,
                p_trace, p_messages[i]);
    END LOOP;
    IF p_delivered_seq IS NOT NULL THEN
        PERFORM gateway_delivered(p_delivered_referral, p_delivered_seq);
    END IF;
    -- The shared rows last, so that their locks are held for as short a
    -- time as the commit allows.
    PERFORM gateway_append_alerts(p_alerts);
    PERFORM gateway_append_audit(p_audit);
END
$$;
"#;

const V2: &str = r#"
-- An alert raised once for the whole deployment (a year without a holiday
-- notice, `calendar:<year>`) is claimed here by its subject, in the
-- transaction that records it: of several replicas raising it at once, the
-- first records it and the others' commits go ahead without it. The claim
-- is given up when what the alert reported has ended (the year's notice is
-- loaded), so that it may be raised again should it come back.
CREATE TABLE alert_subjects (
    subject text COLLATE "C" PRIMARY KEY
);

-- Work one replica at a time must do (posting alert webhooks) is led by the
-- holder of its lease, which the leader renews as it makes progress. A
-- lease not renewed by `expires_at` (the database's clock) may be taken
-- over, and each taking starts a new generation: a leader that wakes up
-- after losing it finds another generation and stops.
CREATE TABLE leads (
    work text COLLATE "C" PRIMARY KEY,
    holder text NOT NULL,
    generation bigint NOT NULL,
    expires_at timestamptz NOT NULL
);
"#;

/// The migrator of this build.
pub fn migrator() -> Migrator {
    migrator_to(SCHEMA_VERSION)
}

/// A migrator of the migrations up to `version`: what an older build
/// applied (tests of the migrations after it).
pub fn migrator_to(version: i64) -> Migrator {
    let migrations: Vec<Migration> = MIGRATIONS
        .iter()
        .filter(|&&(v, _, _)| v <= version)
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
