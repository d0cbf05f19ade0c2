//! Slows, then refuses, repeated failed logins per account and per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures remembered for this long after the last one.
const WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a locked account or address is refused.
const LOCKOUT: Duration = Duration::from_secs(15 * 60);
/// Failures before answers are slowed down.
const FREE_FAILURES: u32 = 2;
/// Failures on one account before it is locked.
const ACCOUNT_LIMIT: u32 = 5;
/// Failures from one address (across accounts) before it is locked.
const ADDRESS_LIMIT: u32 = 20;
/// Entries kept before expired ones are swept out.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    Account(String),
    Address(IpAddr),
}

#[derive(Debug)]
struct Failures {
    count: u32,
    last: Instant,
    locked_until: Option<Instant>,
}

/// In-memory record of recent failed logins.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    entries: Mutex<HashMap<Subject, Failures>>,
}

/// What to do with a login attempt before checking its password.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse: locked for this long yet.
    Locked(Duration),
}

impl LoginThrottle {
    /// Whether the account (by lower-cased email) or the address is locked out.
    pub fn check(&self, email: &str, address: Option<IpAddr>) -> Verdict {
        let now = Instant::now();
        let entries = self.lock();
        subjects(email, address)
            .filter_map(|s| entries.get(&s)?.locked_until)
            .filter(|until| *until > now)
            .max()
            .map_or(Verdict::Allow, |until| Verdict::Locked(until - now))
    }

    /// Records a failure and returns how long to hold the answer back (growing with failures).
    pub fn failed(&self, email: &str, address: Option<IpAddr>) -> Duration {
        let now = Instant::now();
        let mut entries = self.lock();
        if entries.len() > SWEEP_AT {
            entries
                .retain(|_, f| now.duration_since(f.last) < WINDOW || f.locked_until > Some(now));
        }
        let mut account_failures = 0;
        for subject in subjects(email, address) {
            let (limit, is_account) = match subject {
                Subject::Account(_) => (ACCOUNT_LIMIT, true),
                Subject::Address(_) => (ADDRESS_LIMIT, false),
            };
            let entry = entries.entry(subject).or_insert(Failures {
                count: 0,
                last: now,
                locked_until: None,
            });
            if now.duration_since(entry.last) >= WINDOW {
                entry.count = 0;
            }
            entry.count += 1;
            entry.last = now;
            if entry.count >= limit {
                entry.locked_until = Some(now + LOCKOUT);
                entry.count = 0;
            }
            if is_account {
                account_failures = entry.count;
            }
        }
        let slowed = account_failures.saturating_sub(FREE_FAILURES);
        Duration::from_millis(250 * u64::from(slowed)).min(Duration::from_secs(2))
    }

    /// Forgets the account's failures after a successful login.
    pub fn succeeded(&self, email: &str) {
        self.lock().remove(&Subject::Account(email.to_lowercase()));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Subject, Failures>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

fn subjects(email: &str, address: Option<IpAddr>) -> impl Iterator<Item = Subject> {
    std::iter::once(Subject::Account(email.to_lowercase())).chain(address.map(Subject::Address))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_locked_after_repeated_failures_and_others_are_not() {
        let throttle = LoginThrottle::default();
        let address = Some(IpAddr::from([127, 0, 0, 1]));
        for _ in 0..ACCOUNT_LIMIT {
            assert_eq!(throttle.check("a@x", address), Verdict::Allow);
            throttle.failed("A@x", address);
        }
        assert!(matches!(throttle.check("a@x", address), Verdict::Locked(_)));
        assert_eq!(throttle.check("b@x", address), Verdict::Allow);
    }

    #[test]
    fn failures_slow_answers_down_after_the_first_few() {
        let throttle = LoginThrottle::default();
        assert_eq!(throttle.failed("a@x", None), Duration::ZERO);
        assert_eq!(throttle.failed("a@x", None), Duration::ZERO);
        assert!(throttle.failed("a@x", None) > Duration::ZERO);
    }
}
