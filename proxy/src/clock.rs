//! The proxy's source of time for rules that depend on it (key expiry, rate limits, budget
//! periods), so tests can move time instead of waiting for it.

use std::fmt::Debug;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use time::OffsetDateTime;

/// Wall-clock and monotonic time.
pub trait Clock: Send + Sync + Debug {
    /// The current time of day, for expiry and budget periods.
    fn now_utc(&self) -> OffsetDateTime;
    /// The current monotonic instant, for rate-limit buckets.
    fn now(&self) -> Instant;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_utc(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// The system clock moved ahead by hand (for tests): time passes as usual, plus every
/// `advance`.
#[derive(Debug, Default)]
pub struct ManualClock {
    ahead: Mutex<Duration>,
}

impl ManualClock {
    /// Moves this clock ahead.
    pub fn advance(&self, by: Duration) {
        *self.ahead.lock().unwrap_or_else(|p| p.into_inner()) += by;
    }

    fn ahead(&self) -> Duration {
        *self.ahead.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Clock for ManualClock {
    fn now_utc(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.ahead()
    }

    fn now(&self) -> Instant {
        Instant::now() + self.ahead()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manual_clock_moves_both_times_ahead() {
        let clock = ManualClock::default();
        let (utc, instant) = (clock.now_utc(), clock.now());
        clock.advance(Duration::from_secs(3600));
        assert!(clock.now_utc() - utc >= time::Duration::hours(1));
        assert!(clock.now() - instant >= Duration::from_secs(3600));
    }
}
