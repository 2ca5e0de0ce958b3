//! Where the domain's "now" comes from. Deadline and retry logic reads a
//! [`Clock`] so that tests can move time by hand instead of sleeping.

use std::sync::Mutex;

use jiff::{SignedDuration, Timestamp};

/// How far past the gateway's clock a time another system gives as already
/// past may be and still be believed: systems' clocks differ by a little.
/// Beyond it, the time has not come yet (a consent given or a signature
/// made "later than now" is refused).
pub const CLOCK_SKEW: SignedDuration = SignedDuration::from_mins(10);

/// The latest instant a time stated as past may name, seen at `now`.
pub fn latest_past(now: Timestamp) -> Timestamp {
    now.checked_add(CLOCK_SKEW).unwrap_or(now)
}

/// A source of the current instant.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock {
    now: Mutex<Timestamp>,
}

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        Self {
            now: Mutex::new(start),
        }
    }

    /// Moves the clock to `instant` (backwards too, to test clock skew).
    pub fn set(&self, instant: Timestamp) {
        *self.lock() = instant;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: SignedDuration) {
        let mut now = self.lock();
        *now = now.saturating_add(by).unwrap_or(Timestamp::MAX);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Timestamp> {
        // A panic while holding this lock cannot leave a Timestamp half-written,
        // so a poisoned lock is still safe to use.
        self.now
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        *self.lock()
    }
}

/// A sandbox's clock, for rehearsing deadlines against a development
/// gateway: it runs `speed` times faster than real time from where it
/// started, and an operator can move it forward. It never goes back.
#[derive(Debug)]
pub struct SandboxClock {
    start: Timestamp,
    started: std::time::Instant,
    speed: f64,
    /// Nanoseconds moved forward by hand, in all.
    moved: std::sync::atomic::AtomicI64,
}

/// Why a sandbox's clock was not moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoveError {
    #[error("the clock only moves forward: give a positive duration, not {0}")]
    NotForward(SignedDuration),
    #[error("moving the clock by {0} goes past the end of time")]
    TooFar(SignedDuration),
}

impl SandboxClock {
    /// A clock at `start` now, running `speed` times real time (at least 1).
    pub fn new(start: Timestamp, speed: f64) -> Self {
        Self {
            start,
            started: std::time::Instant::now(),
            speed: if speed.is_finite() {
                speed.max(1.0)
            } else {
                1.0
            },
            moved: std::sync::atomic::AtomicI64::new(0),
        }
    }

    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Moves the clock forward by `by`; returns the instant it shows then.
    pub fn advance(&self, by: SignedDuration) -> Result<Timestamp, MoveError> {
        if by <= SignedDuration::ZERO {
            return Err(MoveError::NotForward(by));
        }
        let nanos = i64::try_from(by.as_nanos()).map_err(|_| MoveError::TooFar(by))?;
        let before = self.moved.load(std::sync::atomic::Ordering::Acquire);
        let after = before.checked_add(nanos).ok_or(MoveError::TooFar(by))?;
        if self.at(after) == Timestamp::MAX {
            return Err(MoveError::TooFar(by));
        }
        self.moved
            .fetch_add(nanos, std::sync::atomic::Ordering::AcqRel);
        Ok(self.now())
    }

    /// The instant shown with `moved` nanoseconds moved by hand.
    fn at(&self, moved: i64) -> Timestamp {
        let run = self.started.elapsed().as_secs_f64() * self.speed;
        self.start
            .checked_add(SignedDuration::from_secs_f64(run))
            .and_then(|t| t.checked_add(SignedDuration::from_nanos(moved)))
            .unwrap_or(Timestamp::MAX)
    }
}

impl Clock for SandboxClock {
    fn now(&self) -> Timestamp {
        // Real time only goes on and the moves only add: never back.
        self.at(self.moved.load(std::sync::atomic::Ordering::Acquire))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        let clock = ManualClock::new(start);
        assert_eq!(clock.now(), start);
        clock.advance(SignedDuration::from_hours(25));
        assert_eq!(clock.now(), "2025-01-02T01:00:00Z".parse().unwrap());
        clock.set(start);
        assert_eq!(clock.now(), start);
    }

    #[test]
    fn a_sandbox_clock_moves_forward_only_and_runs_at_its_speed() {
        let start: Timestamp = "2025-03-03T09:00:00+08:00".parse().unwrap();
        let clock = SandboxClock::new(start, 1.0);
        let first = clock.now();
        assert!(first >= start && first.duration_since(start) < SignedDuration::from_secs(5));
        let moved = clock.advance(SignedDuration::from_hours(72)).unwrap();
        assert!(moved.duration_since(first) >= SignedDuration::from_hours(72));
        assert!(clock.now() >= moved);
        assert_eq!(
            clock.advance(SignedDuration::from_secs(-1)),
            Err(MoveError::NotForward(SignedDuration::from_secs(-1)))
        );
        assert_eq!(
            clock.advance(SignedDuration::ZERO),
            Err(MoveError::NotForward(SignedDuration::ZERO))
        );
        assert!(clock.now() >= moved, "a refused move changes nothing");
        // A fast clock: a day of real time per millisecond would be far
        // beyond this test, so check the factor on a short real wait.
        let fast = SandboxClock::new(start, 3_600.0);
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(fast.now().duration_since(start) >= SignedDuration::from_secs(60));
    }
}
