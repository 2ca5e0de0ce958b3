//! Requests per tenant. Each tenant has its own token bucket, so one noisy
//! platform cannot starve the courts. Buckets refill by the injected clock,
//! so tests decide when time passes.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use mediation_core::clock::Clock;

/// The gateway's clock as governor reads it: nanoseconds since the epoch.
#[derive(Clone)]
struct Injected(Arc<dyn Clock>);

impl GovernorClock for Injected {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(u64::try_from(self.0.now().as_nanosecond()).unwrap_or(0))
    }
}

type Bucket = RateLimiter<NotKeyed, InMemoryState, Injected, NoOpMiddleware<Nanos>>;

/// The gateway-wide default and the buckets made so far.
pub struct RateLimits {
    per_second: NonZeroU32,
    burst: NonZeroU32,
    clock: Injected,
    buckets: Mutex<HashMap<(String, u32), Arc<Bucket>>>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish_non_exhaustive()
    }
}

impl RateLimits {
    /// `per_second` sustained, up to `burst` at once. Both at least 1.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32, clock: Arc<dyn Clock>) -> Self {
        Self {
            per_second,
            burst,
            clock: Injected(clock),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one request from `tenant`'s bucket. `own` is the tenant's own
    /// rate, if it has one, and then also its burst: one second's worth.
    /// False when the bucket is empty.
    pub fn admit(&self, tenant: &str, own: Option<u32>) -> bool {
        let rate = own.and_then(NonZeroU32::new).unwrap_or(self.per_second);
        let bucket = {
            let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
            Arc::clone(
                buckets
                    .entry((tenant.to_owned(), rate.get()))
                    .or_insert_with(|| {
                        let burst = if own.is_some() { rate } else { self.burst };
                        Arc::new(RateLimiter::direct_with_clock(
                            Quota::per_second(rate).allow_burst(burst),
                            self.clock.clone(),
                        ))
                    }),
            )
        };
        bucket.check().is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use mediation_core::clock::ManualClock;

    #[test]
    fn a_tenant_past_its_burst_is_refused_until_time_passes_and_others_are_not() {
        let clock = Arc::new(ManualClock::new(
            jiff::Timestamp::from_second(1_767_225_600).unwrap(),
        ));
        let limits = RateLimits::new(NonZeroU32::MIN, NonZeroU32::new(3).unwrap(), clock.clone());
        for _ in 0..3 {
            assert!(limits.admit("ccpit", None));
        }
        assert!(!limits.admit("ccpit", None));
        assert!(limits.admit("court-bj", None), "buckets are per tenant");
        clock.advance(jiff::SignedDuration::from_secs(1));
        assert!(limits.admit("ccpit", None), "one request a second refills");
        assert!(!limits.admit("ccpit", None));
    }
}
