//! Operators' sessions: what a login with an operator token turns into.
//!
//! A session lives in this process's memory and is named by a random
//! 256-bit id carried in an HttpOnly, SameSite=Strict cookie. It carries its
//! own random CSRF token, which the page reads from `/api/session` and sends
//! back in a header with every call: a page of another site can make the
//! browser send the cookie (SameSite aside) but can neither read the token
//! nor set the header without a CORS preflight the console never grants.
//!
//! A session ends when the operator logs out, when the token it was made
//! from expires, after `idle` without a request, or after `lifetime`,
//! whichever comes first. The session holds the operator's identity, not
//! the token.

use std::collections::HashMap;
use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};
use mediation_core::access::Caller;
use subtle::ConstantTimeEq as _;

/// At most this many sessions at once; the one closest to its end makes
/// room for a new login.
const MAX_SESSIONS: usize = 10_000;

/// A random 256-bit value, as 64 hex digits.
fn random_hex() -> Result<String, getrandom::Error> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// One operator's session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The operator as the token named them; its role is read again from the
    /// current tenants at every request.
    pub caller: Caller,
    /// What a state-changing request must send in `x-csrf-token`.
    pub csrf: String,
    /// The earlier of the token's expiry and the session's lifetime.
    pub expires: Timestamp,
    last_seen: Timestamp,
}

/// How long sessions last.
#[derive(Debug, Clone, Copy)]
pub struct SessionLimits {
    /// Without a request for this long, a session ends.
    pub idle: SignedDuration,
    /// A session ends this long after the login at the latest, even if the
    /// token would allow longer.
    pub lifetime: SignedDuration,
}

impl Default for SessionLimits {
    fn default() -> Self {
        Self {
            idle: SignedDuration::from_mins(30),
            lifetime: SignedDuration::from_hours(8),
        }
    }
}

/// The sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    limits: SessionLimits,
    open: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    pub fn new(limits: SessionLimits) -> Self {
        Self {
            limits,
            open: Mutex::default(),
        }
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new session for `caller`, whose token expires at `token_expires`:
    /// its id (the cookie's value) and the session.
    pub fn start(
        &self,
        caller: Caller,
        token_expires: Timestamp,
        now: Timestamp,
    ) -> Result<(String, Session), getrandom::Error> {
        let id = random_hex()?;
        let session = Session {
            caller,
            csrf: random_hex()?,
            expires: token_expires.min(now.saturating_add(self.limits.lifetime).unwrap_or(now)),
            last_seen: now,
        };
        let mut open = self.open();
        open.retain(|_, s| self.live(s, now));
        if open.len() >= MAX_SESSIONS
            && let Some(first) = open
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
        {
            open.remove(&first);
        }
        open.insert(id.clone(), session.clone());
        Ok((id, session))
    }

    fn live(&self, session: &Session, now: Timestamp) -> bool {
        now < session.expires
            && session
                .last_seen
                .saturating_add(self.limits.idle)
                .is_ok_and(|idle_end| now < idle_end)
    }

    /// The live session named `id`, its idle time restarted; an ended one
    /// is removed.
    pub fn find(&self, id: &str, now: Timestamp) -> Option<Session> {
        let mut open = self.open();
        let session = open.get_mut(id)?;
        if !self.live(session, now) {
            open.remove(id);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Whether the session named `id` still lives, without counting this as
    /// the operator's activity (an open alert feed asks).
    pub fn is_live(&self, id: &str, now: Timestamp) -> bool {
        self.open().get(id).is_some_and(|s| self.live(s, now))
    }

    /// Ends the session named `id`; whether there was one.
    pub fn end(&self, id: &str) -> Option<Session> {
        self.open().remove(id)
    }

    /// Sessions open now (ended ones not yet removed included).
    pub fn count(&self) -> usize {
        self.open().len()
    }
}

impl Session {
    /// Whether `sent` is this session's CSRF token, compared in constant
    /// time.
    pub fn csrf_matches(&self, sent: &str) -> bool {
        self.csrf.len() == sent.len() && bool::from(self.csrf.as_bytes().ct_eq(sent.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mediation_core::access::Role;

    fn operator() -> Caller {
        Caller {
            tenant: "operators".into(),
            role: Role::Operator { read_only: false },
            certificate: String::new(),
            subject: "alice".into(),
        }
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_session_ends_with_its_token_its_lifetime_or_its_idleness() {
        let sessions = Sessions::new(SessionLimits {
            idle: SignedDuration::from_mins(30),
            lifetime: SignedDuration::from_hours(8),
        });
        let t0 = at("2026-03-02T01:00:00Z");
        // The token expires in an hour: so does the session.
        let (id, s) = sessions
            .start(operator(), at("2026-03-02T02:00:00Z"), t0)
            .unwrap();
        assert_eq!(id.len(), 64);
        assert_ne!(id, s.csrf);
        assert_eq!(s.expires, at("2026-03-02T02:00:00Z"));
        assert!(sessions.find(&id, at("2026-03-02T01:29:00Z")).is_some());
        assert!(sessions.find(&id, at("2026-03-02T01:58:00Z")).is_some());
        assert!(sessions.find(&id, at("2026-03-02T02:00:00Z")).is_none());
        assert_eq!(sessions.count(), 0, "an ended session is removed");

        // A day-long token: the session's lifetime ends it.
        let (id, s) = sessions
            .start(operator(), at("2026-03-03T01:00:00Z"), t0)
            .unwrap();
        assert_eq!(s.expires, at("2026-03-02T09:00:00Z"));
        // Thirty minutes without a request end it too.
        assert!(sessions.find(&id, at("2026-03-02T01:30:00Z")).is_none());

        let (id, _) = sessions
            .start(operator(), at("2026-03-03T01:00:00Z"), t0)
            .unwrap();
        assert!(sessions.end(&id).is_some());
        assert!(sessions.find(&id, t0).is_none());
        assert!(sessions.find("not-a-session", t0).is_none());
    }

    #[test]
    fn the_csrf_token_must_match_exactly() {
        let sessions = Sessions::default();
        let now = at("2026-03-02T01:00:00Z");
        let (_, s) = sessions
            .start(operator(), at("2026-03-02T02:00:00Z"), now)
            .unwrap();
        assert!(s.csrf_matches(&s.csrf.clone()));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches(&s.csrf[..63]));
        let mut other = s.csrf.clone();
        other.replace_range(0..1, if other.starts_with('0') { "1" } else { "0" });
        assert!(!s.csrf_matches(&other));
    }
}
