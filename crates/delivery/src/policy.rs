//! When to try again, and when to give up.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use jiff::{SignedDuration, Timestamp};

/// Exponential backoff with jitter, and the limits after which a message is
/// dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub factor: f32,
    /// Add random jitter up to the current delay, so that many lanes failing
    /// together do not retry together.
    pub jitter: bool,
    /// Give up after this many attempts.
    pub max_attempts: u32,
    /// Give up once a message has waited this long since it was enqueued.
    pub max_age: SignedDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(15 * 60),
            factor: 2.0,
            jitter: true,
            max_attempts: 30,
            max_age: SignedDuration::from_hours(72),
        }
    }
}

impl RetryPolicy {
    /// The wait before the attempt that follows `failed_attempts` failures.
    pub fn delay_after(&self, failed_attempts: u32) -> Duration {
        let mut builder = ExponentialBuilder::new()
            .with_min_delay(self.first_delay)
            .with_max_delay(self.max_delay)
            .with_factor(self.factor)
            .without_max_times();
        if self.jitter {
            builder = builder.with_jitter();
        }
        let index = failed_attempts.saturating_sub(1) as usize;
        builder.build().nth(index).unwrap_or(self.max_delay)
    }

    /// Whether a message that has now failed `attempts` times, enqueued at
    /// `enqueued_at`, should be given up at `now`.
    pub fn exhausted(&self, attempts: u32, enqueued_at: Timestamp, now: Timestamp) -> bool {
        attempts >= self.max_attempts || now.duration_since(enqueued_at) >= self.max_age
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_up_to_the_cap() {
        let policy = RetryPolicy {
            jitter: false,
            max_delay: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let delays: Vec<u64> = (1..=6).map(|n| policy.delay_after(n).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn jitter_stays_within_one_delay() {
        let policy = RetryPolicy::default();
        for n in 1..=8 {
            let plain = RetryPolicy {
                jitter: false,
                ..policy
            }
            .delay_after(n);
            let jittered = policy.delay_after(n);
            assert!(
                jittered >= plain && jittered <= plain * 2,
                "attempt {n}: {jittered:?} vs {plain:?}"
            );
        }
    }

    #[test]
    fn gives_up_on_attempts_or_age() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_age: SignedDuration::from_hours(1),
            ..RetryPolicy::default()
        };
        let t0: Timestamp = "2025-01-01T00:00:00Z".parse().unwrap();
        assert!(!policy.exhausted(2, t0, t0));
        assert!(policy.exhausted(3, t0, t0));
        assert!(policy.exhausted(1, t0, t0 + SignedDuration::from_hours(1)));
    }
}
