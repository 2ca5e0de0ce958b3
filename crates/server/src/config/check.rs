//! The rules a value's type cannot express, checked once every layer is in.

use std::collections::BTreeSet;

use super::Config;

impl Config {
    /// Rules a value's type cannot express.
    pub(super) fn check(&self) -> Result<(), String> {
        self.check_limits()?;
        self.check_store()?;
        self.check_sandbox()?;
        self.check_traces()?;
        self.check_mediation_days()?;
        self.check_retention()?;
        if let Some(days) = self.court_decision.remind_after_working_days
            && days > 60
        {
            return Err(format!(
                "court_decision.remind_after_working_days: must be at most 60 working days (0 for no reminder), got {days}"
            ));
        }
        // Whether each court is in the registry is checked when the
        // registry is read (`Config::court_registry`); its spelling is
        // checked here, with the other keys.
        for (i, court) in self.reassignment.courts.iter().enumerate() {
            mediation_core::court::CourtCode::parse(court)
                .map_err(|e| format!("reassignment.courts[{i}]: {}", e.rule))?;
        }
        let r = &self.relay;
        for (key, value) in [
            ("relay.first_delay_seconds", r.first_delay_seconds),
            ("relay.max_attempts", u64::from(r.max_attempts)),
            ("relay.max_age_hours", u64::from(r.max_age_hours)),
            ("relay.unreachable_after", u64::from(r.unreachable_after)),
            (
                "relay.per_destination_in_flight",
                r.per_destination_in_flight as u64,
            ),
            ("relay.attempt_timeout_seconds", r.attempt_timeout_seconds),
        ] {
            if value == 0 {
                return Err(format!("{key}: must be at least 1"));
            }
        }
        if r.max_delay_seconds < r.first_delay_seconds {
            return Err(
                "relay.max_delay_seconds: must not be less than relay.first_delay_seconds".into(),
            );
        }
        let mut names = BTreeSet::new();
        for (i, hook) in self.alerts.webhook.iter().enumerate() {
            let key = format!("alerts.webhook[{i}]");
            if hook.name.trim().is_empty() || !names.insert(hook.name.as_str()) {
                return Err(format!(
                    "{key}.name: must be given and unique, got {:?}",
                    hook.name
                ));
            }
            let url = url::Url::parse(&hook.url)
                .map_err(|e| format!("{key}.url: {e}: {:?}", hook.url))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(format!(
                    "{key}.url: must be http:// or https://, got {:?}",
                    hook.url
                ));
            }
            if hook.timeout_seconds == 0 {
                return Err(format!("{key}.timeout_seconds: must be at least 1"));
            }
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(format!("log.level: {e}: {:?}", self.log.level));
        }
        if let Some(metrics) = self.metrics.listen
            && metrics == self.listen
        {
            return Err(format!(
                "metrics.listen: {metrics} is already the gRPC listen address"
            ));
        }
        if let Some(console) = self.console.listen
            && (console == self.listen || Some(console) == self.metrics.listen)
            && console.port() != 0
        {
            return Err(format!(
                "console.listen: {console} is already the gRPC or the metrics listen address"
            ));
        }
        if self.console.session_idle_minutes == 0 || self.console.session_hours == 0 {
            return Err(
                "console.session_idle_minutes and console.session_hours: must be at least 1"
                    .to_owned(),
            );
        }
        if !(1..=4096).contains(&self.console.max_connections) {
            return Err(format!(
                "console.max_connections: must be from 1 to 4096, got {}",
                self.console.max_connections
            ));
        }
        Ok(())
    }

    /// Traces go to a collector over plaintext gRPC: on loopback (a sidecar)
    /// in the production profile, as nothing else leaves the gateway
    /// unencrypted.
    fn check_traces(&self) -> Result<(), String> {
        let t = &self.traces;
        if !(0.0..=1.0).contains(&t.sample_ratio) {
            return Err(format!(
                "traces.sample_ratio: {} is not between 0 and 1",
                t.sample_ratio
            ));
        }
        if t.service_name.trim().is_empty() {
            return Err("traces.service_name: must not be empty".to_owned());
        }
        let Some(endpoint) = &t.otlp_endpoint else {
            return Ok(());
        };
        let url = url::Url::parse(endpoint)
            .map_err(|e| format!("traces.otlp_endpoint: {endpoint:?} is not a URL: {e}"))?;
        if url.scheme() != "http" {
            return Err(format!(
                "traces.otlp_endpoint: {endpoint:?}: only http:// (OTLP over plaintext gRPC to a collector beside the gateway) is supported"
            ));
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(d)) => d == "localhost",
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        if self.profile == super::Profile::Production && !loopback {
            return Err(format!(
                "traces.otlp_endpoint: {endpoint:?}: in the production profile the collector must be on loopback (a sidecar), since spans are sent without TLS"
            ));
        }
        Ok(())
    }

    /// The PostgreSQL settings, when that is the backend: a URL the driver
    /// reads, with no password in it (secrets come from a file or the
    /// environment), TLS to a server beyond loopback in production, and
    /// leases that outlast an attempt.
    fn check_store(&self) -> Result<(), String> {
        use super::{Backend, Profile};
        if let Some(mib) = self.store.checkpoint_mib {
            // Below a few MiB the store would reopen all the time; above a
            // few GiB a restart replays for seconds (about 1 s per GB).
            if !(16..=4096).contains(&mib) {
                return Err(format!(
                    "store.checkpoint_mib: {mib} is outside 16 to 4096 (MiB written between checkpoints; default 256)"
                ));
            }
        }
        if self.store.backend != Backend::Postgres {
            return Ok(());
        }
        let pg = &self.store.postgres;
        let url = pg
            .url
            .as_deref()
            .ok_or("store.postgres.url: required with store.backend = \"postgres\"")?;
        let parsed = url::Url::parse(url).map_err(|e| format!("store.postgres.url: {e}"))?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(format!(
                "store.postgres.url: must be postgres://user@host:port/database, got a {}:// URL",
                parsed.scheme()
            ));
        }
        if parsed.password().is_some() {
            return Err(format!(
                "store.postgres.url: holds a password; give it in store.postgres.password_file or the environment variable {}, never in the URL",
                super::DATABASE_PASSWORD_ENV
            ));
        }
        let loopback = match parsed.host() {
            // A postgres:// URL's host is not parsed as an address (the
            // scheme is not one the URL standard knows), so parse it here.
            Some(url::Host::Domain(d)) => {
                d == "localhost"
                    || d.trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => true,
        };
        if self.profile == Profile::Production && !loopback && pg.ca_file.is_none() {
            return Err(format!(
                "store.postgres.ca_file: required in the production profile for a database beyond loopback ({}); the connection is then TLS and the server's name is verified",
                parsed.host_str().unwrap_or_default()
            ));
        }
        if pg.pool_size == 0 {
            return Err("store.postgres.pool_size: must be at least 1".into());
        }
        if pg.lease_seconds <= self.relay.attempt_timeout_seconds {
            return Err(format!(
                "store.postgres.lease_seconds: must be longer than relay.attempt_timeout_seconds ({}), or another replica could take over a message still being delivered",
                self.relay.attempt_timeout_seconds
            ));
        }
        Ok(())
    }

    /// A movable clock never reaches production: deadlines there are the
    /// law's, and nobody may move them.
    fn check_sandbox(&self) -> Result<(), String> {
        use super::{Profile, SandboxClockKind};
        let sandbox = &self.sandbox;
        if sandbox.clock == SandboxClockKind::Movable && self.profile == Profile::Production {
            return Err(
                "sandbox.clock: \"movable\" is for the development profile only; the production profile runs on the system's clock, which nobody moves".into(),
            );
        }
        if !(sandbox.speed.is_finite() && (1.0..=100_000.0).contains(&sandbox.speed)) {
            return Err(format!(
                "sandbox.speed: must be from 1 to 100000 times real time, got {}",
                sandbox.speed
            ));
        }
        if sandbox.speed != 1.0 && sandbox.clock != SandboxClockKind::Movable {
            return Err(
                "sandbox.speed: only a movable clock runs faster (sandbox.clock = \"movable\")"
                    .into(),
            );
        }
        Ok(())
    }

    fn check_limits(&self) -> Result<(), String> {
        let l = &self.limits;
        for (key, value) in [
            ("max_message_bytes", l.max_message_bytes),
            ("max_batch", l.max_batch),
            ("max_parties", l.max_parties),
            ("max_claims", l.max_claims),
            ("max_documents", l.max_documents),
            ("rate_per_second", l.rate_per_second as usize),
            ("rate_burst", l.rate_burst as usize),
            (
                "calls_in_flight_per_tenant",
                l.calls_in_flight_per_tenant as usize,
            ),
            ("streams_per_connection", l.streams_per_connection as usize),
            ("max_connections", l.max_connections as usize),
            (
                "request_timeout_seconds",
                l.request_timeout_seconds as usize,
            ),
            ("upload_timeout_seconds", l.upload_timeout_seconds as usize),
            (
                "tls_handshake_timeout_seconds",
                l.tls_handshake_timeout_seconds as usize,
            ),
        ] {
            if value == 0 {
                return Err(format!("limits.{key}: must be at least 1"));
            }
        }
        // An upload chunk (1 MiB) and its framing must fit in one message.
        let chunk = mediation_api::documents::MAX_CHUNK + 1024;
        if l.max_message_bytes < chunk {
            return Err(format!(
                "limits.max_message_bytes: must be at least {chunk} so that an upload chunk fits"
            ));
        }
        Ok(())
    }

    /// The retention policy, and a pace that neither stalls calls nor
    /// never finishes.
    fn check_retention(&self) -> Result<(), String> {
        let r = &self.retention;
        self.retention.policy()?;
        if !(1..=10_000).contains(&r.batch) {
            return Err(format!(
                "retention.batch: must be from 1 to 10000 referrals, got {}",
                r.batch
            ));
        }
        if r.pause_ms > 10_000 {
            return Err(format!(
                "retention.pause_ms: must be at most 10000, got {}",
                r.pause_ms
            ));
        }
        if !(1..=7 * 24 * 60).contains(&r.every_minutes) {
            return Err(format!(
                "retention.every_minutes: must be from 1 to 10080 (a week), got {}",
                r.every_minutes
            ));
        }
        if r.first_pass_after_seconds > 86_400 {
            return Err(format!(
                "retention.first_pass_after_seconds: must be at most 86400 (a day), got {}",
                r.first_pass_after_seconds
            ));
        }
        Ok(())
    }

    /// A mediation limit is at least a day and at most a year: the rules give
    /// 7 to 30 days, and an extension, not the limit, is how the parties take
    /// longer.
    fn check_mediation_days(&self) -> Result<(), String> {
        for (partner, days) in &self.mediation_days {
            if let Some(grace) = days.grace_days
                && grace > 30
            {
                return Err(format!(
                    "mediation_days.{}.grace_days: must be at most 30 days, got {grace}",
                    partner.as_str()
                ));
            }
            if let Some(review) = days.appraisal_review_days
                && review > 365
            {
                return Err(format!(
                    "mediation_days.{}.appraisal_review_days: must be at most 365 days (0 for no warning), got {review}",
                    partner.as_str()
                ));
            }
            for (kind, value) in [
                ("delegated", days.delegated),
                ("entrusted_ordinary", days.entrusted_ordinary),
                ("entrusted_summary", days.entrusted_summary),
            ] {
                if let Some(value) = value
                    && !(1..=365).contains(&value)
                {
                    return Err(format!(
                        "mediation_days.{}.{kind}: must be from 1 to 365 days, got {value}",
                        partner.as_str()
                    ));
                }
            }
        }
        Ok(())
    }
}
