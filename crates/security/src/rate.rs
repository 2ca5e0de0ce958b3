//! Requests per tenant. Each tenant has its own token bucket, so one noisy
//! platform cannot starve the courts.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// The gateway-wide default and the buckets made so far.
#[derive(Debug)]
pub struct RateLimits {
    per_second: NonZeroU32,
    burst: NonZeroU32,
    buckets: Mutex<HashMap<(String, u32), Arc<DefaultDirectRateLimiter>>>,
}

impl RateLimits {
    /// `per_second` sustained, up to `burst` at once. Both at least 1.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        Self {
            per_second,
            burst,
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
                        Arc::new(RateLimiter::direct(
                            Quota::per_second(rate).allow_burst(burst),
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

    #[test]
    fn a_tenant_past_its_burst_is_refused_and_others_are_not() {
        let limits = RateLimits::new(NonZeroU32::MIN, NonZeroU32::new(3).unwrap());
        for _ in 0..3 {
            assert!(limits.admit("ccpit", None));
        }
        assert!(!limits.admit("ccpit", None));
        assert!(limits.admit("court-bj", None), "buckets are per tenant");
    }
}
