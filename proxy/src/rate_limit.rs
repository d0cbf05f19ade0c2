//! Per-key requests-per-minute limits: token buckets that refill continuously.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;
use uuid::Uuid;

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

/// A bucket per key, each holding up to `per_minute` and refilling that much a minute. FxHash,
/// not SipHash, on every request: the keys are ids the server made, random already.
#[derive(Default)]
struct Buckets(DashMap<Uuid, Mutex<Bucket>, FxBuildHasher>);

impl Buckets {
    /// Refills the key's bucket up to `now`, then runs `f` on it with the refill rate per second.
    fn with_bucket<T>(
        &self,
        key: Uuid,
        per_minute: u32,
        now: Instant,
        f: impl FnOnce(&mut Bucket, f64) -> T,
    ) -> T {
        let capacity = f64::from(per_minute.max(1));
        let per_second = capacity / 60.0;
        let entry = self.0.entry(key).or_insert_with(|| {
            Mutex::new(Bucket {
                tokens: capacity,
                refilled: now,
            })
        });
        let mut bucket = entry
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let elapsed = now.saturating_duration_since(bucket.refilled).as_secs_f64();
        // A lowered limit takes effect at once.
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(capacity);
        bucket.refilled = now;
        f(&mut bucket, per_second)
    }
}

/// The buckets of every key that has a limit.
#[derive(Default)]
pub(crate) struct RateLimiter {
    buckets: Buckets,
}

/// The outcome of taking one request from a key's bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Decision {
    pub(crate) allowed: bool,
    pub(crate) limit: u32,
    pub(crate) remaining: u32,
    /// When refused: how long until a request would be allowed. Else: until the bucket is full.
    pub(crate) reset: Duration,
}

impl RateLimiter {
    /// Takes one request from the key's bucket of `per_minute` requests.
    pub(crate) fn check_at(&self, key: Uuid, per_minute: u32, now: Instant) -> Decision {
        let capacity = f64::from(per_minute.max(1));
        self.buckets
            .with_bucket(key, per_minute, now, |bucket, per_second| {
                let allowed = bucket.tokens >= 1.0;
                if allowed {
                    bucket.tokens -= 1.0;
                }
                let reset_secs = if allowed {
                    (capacity - bucket.tokens) / per_second
                } else {
                    (1.0 - bucket.tokens) / per_second
                };
                // Tokens lie between 0 and the capacity, a u32.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let remaining = bucket.tokens.max(0.0).floor() as u32;
                Decision {
                    allowed,
                    limit: per_minute,
                    remaining,
                    reset: Duration::from_secs_f64(reset_secs.max(0.0)),
                }
            })
    }

    /// Forgets keys that are gone from the configuration.
    pub(crate) fn retain(&self, keep: impl Fn(&Uuid) -> bool) {
        self.buckets.0.retain(|key, _| keep(key));
    }
}

/// Per-key tokens-per-minute limits. A call's tokens are known only once it ends, so a call is
/// let through while the bucket is above zero and its tokens are taken afterwards (the bucket
/// may go below zero, and then the key waits until it refills).
#[derive(Default)]
pub(crate) struct TokenLimiter {
    buckets: Buckets,
}

impl TokenLimiter {
    /// Ok while the key has tokens left; else how long until it has.
    pub(crate) fn check_at(
        &self,
        key: Uuid,
        per_minute: u32,
        now: Instant,
    ) -> Result<(), Duration> {
        self.buckets
            .with_bucket(key, per_minute, now, |bucket, per_second| {
                if bucket.tokens > 0.0 {
                    Ok(())
                } else {
                    Err(Duration::from_secs_f64((-bucket.tokens + 1.0) / per_second))
                }
            })
    }

    /// Takes a finished call's tokens from the key's bucket.
    pub(crate) fn consume_at(&self, key: Uuid, per_minute: u32, tokens: u64, now: Instant) {
        self.buckets.with_bucket(key, per_minute, now, |bucket, _| {
            bucket.tokens -= tokens as f64;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_up_to_the_limit_then_refused_until_refilled() {
        let limiter = RateLimiter::default();
        let key = Uuid::nil();
        let start = Instant::now();
        for i in 0..3 {
            let decision = limiter.check_at(key, 3, start);
            assert!(decision.allowed);
            assert_eq!(decision.remaining, 2 - i);
        }
        let refused = limiter.check_at(key, 3, start);
        assert!(!refused.allowed);
        assert_eq!(refused.reset, Duration::from_secs(20));
        assert!(
            limiter
                .check_at(key, 3, start + Duration::from_secs(20))
                .allowed
        );
    }
}

#[cfg(test)]
mod token_tests {
    use super::*;

    #[test]
    fn calls_pass_while_tokens_remain_and_wait_once_overdrawn() {
        let limiter = TokenLimiter::default();
        let key = Uuid::nil();
        let start = Instant::now();
        assert!(limiter.check_at(key, 60, start).is_ok());
        limiter.consume_at(key, 60, 50, start);
        assert!(limiter.check_at(key, 60, start).is_ok());
        limiter.consume_at(key, 60, 50, start);
        let wait = limiter.check_at(key, 60, start);
        assert!(
            matches!(wait, Err(d) if d >= Duration::from_secs(40)),
            "{wait:?}"
        );
    }
}
