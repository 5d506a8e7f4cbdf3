//! Sign-in rate limits, per client address and per account.
//!
//! Each key has a leaky bucket of failures: a failed sign-in adds one, the
//! level drains at a steady rate, and while a bucket is full every attempt
//! on that key — right password or not — is refused with a retry delay.
//! So a burst of guesses is stopped, and the owner of the account is only
//! slowed, never locked out for good. The limiter lives in each server
//! process (per node): with several nodes an attacker gets at most that
//! many times the budget, which the Argon2id cost still makes expensive.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures a key may have in a burst, and how fast they drain.
#[derive(Debug, Clone, Copy)]
pub struct LimitPolicy {
    pub burst: u32,
    pub drain_every: Duration,
}

impl Default for LimitPolicy {
    fn default() -> Self {
        Self {
            burst: 5,
            drain_every: Duration::from_secs(12),
        }
    }
}

#[derive(Debug)]
struct Bucket {
    level: f64,
    at: Instant,
}

/// Past this many tracked keys, drained buckets are swept on the next failure.
const SWEEP_ABOVE: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginLimiter {
    policy: LimitPolicy,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl LoginLimiter {
    pub fn new(policy: LimitPolicy) -> Self {
        Self {
            policy,
            buckets: Mutex::default(),
        }
    }

    fn drained(&self, bucket: &Bucket, now: Instant) -> f64 {
        let drained = now.duration_since(bucket.at).as_secs_f64() / self.policy.drain_every.as_secs_f64();
        (bucket.level - drained).max(0.0)
    }

    /// `Err(wait)` if one more failure on any of `keys` would overflow its
    /// bucket: the attempt is refused without being tried.
    pub fn check(&self, keys: &[String]) -> Result<(), Duration> {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let burst = f64::from(self.policy.burst);
        let wait = keys
            .iter()
            .filter_map(|k| buckets.get(k))
            .map(|b| self.drained(b, now))
            .filter(|level| level + 1.0 > burst)
            .map(|level| self.policy.drain_every.mul_f64(level + 1.0 - burst))
            .max();
        wait.map_or(Ok(()), Err)
    }

    pub fn record_failure(&self, keys: &[String]) {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, b| self.drained(b, now) > 0.0);
        }
        for key in keys {
            let level = buckets.get(key).map_or(0.0, |b| self.drained(b, now));
            buckets.insert(
                key.clone(),
                Bucket {
                    level: level + 1.0,
                    at: now,
                },
            );
        }
    }

    /// A successful sign-in clears the account's bucket (not the address's).
    pub fn record_success(&self, account_key: &str) {
        self.buckets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(account_key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_stopped_and_drains_again() {
        let limiter = LoginLimiter::new(LimitPolicy {
            burst: 3,
            drain_every: Duration::from_millis(100),
        });
        let keys = ["ip:1".to_owned(), "acct:a".to_owned()];
        for _ in 0..3 {
            assert!(limiter.check(&keys).is_ok());
            limiter.record_failure(&keys);
        }
        let wait = limiter.check(&keys).unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(
            limiter.check(&["ip:2".to_owned()]).is_ok(),
            "other keys are not affected"
        );
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.check(&keys).is_ok(), "the bucket drains");
    }
}
