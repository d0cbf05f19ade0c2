//! Passive health: a target that fails several times in a row is skipped for a while. And
//! what active health checks (`probes`) found: a target out of rotation gets no traffic.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use tollgate_protocol::HealthCheck;

/// Consecutive failures that take a target out of rotation.
const FAILURES_TO_EJECT: u32 = 3;
/// How long an ejected target is skipped before it is tried again.
const EJECTION: Duration = Duration::from_secs(10);

/// The health of one upstream target, kept across configuration changes.
#[derive(Debug, Default)]
pub(crate) struct TargetHealth {
    consecutive_failures: AtomicU32,
    /// Milliseconds since the process epoch until which the target is skipped (0: in rotation).
    ejected_until_ms: AtomicU64,
}

fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl TargetHealth {
    pub(crate) fn is_ejected(&self) -> bool {
        // Zero until a first ejection: most targets never pay for reading the clock.
        let until = self.ejected_until_ms.load(Ordering::Relaxed);
        until != 0 && until > now_ms()
    }

    pub(crate) fn succeeded(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// Records a failure; returns true when it ejected the target.
    pub(crate) fn failed(&self) -> bool {
        let failures = self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1;
        if failures >= FAILURES_TO_EJECT {
            self.consecutive_failures.store(0, Ordering::Relaxed);
            let until = now_ms() + u64::try_from(EJECTION.as_millis()).unwrap_or(10_000);
            self.ejected_until_ms.store(until, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// What the checks of one target found so far. A target starts in rotation.
#[derive(Debug)]
pub(crate) struct ProbeState {
    up: AtomicBool,
    passes: AtomicU32,
    failures: AtomicU32,
}

impl Default for ProbeState {
    fn default() -> Self {
        Self {
            up: AtomicBool::new(true),
            passes: AtomicU32::new(0),
            failures: AtomicU32::new(0),
        }
    }
}

impl ProbeState {
    /// Whether the target may get traffic.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Records a check's outcome; returns the new state when it changed.
    pub(crate) fn record(&self, passed: bool, check: &HealthCheck) -> Option<bool> {
        if passed {
            self.failures.store(0, Ordering::Relaxed);
            let passes = self.passes.fetch_add(1, Ordering::Relaxed) + 1;
            (!self.is_up() && passes >= check.healthy_threshold).then(|| {
                self.up.store(true, Ordering::Relaxed);
                true
            })
        } else {
            self.passes.store(0, Ordering::Relaxed);
            let failures = self.failures.fetch_add(1, Ordering::Relaxed) + 1;
            (self.is_up() && failures >= check.unhealthy_threshold).then(|| {
                self.up.store(false, Ordering::Relaxed);
                false
            })
        }
    }

    pub(crate) fn reset(&self) {
        self.up.store(true, Ordering::Relaxed);
        self.passes.store(0, Ordering::Relaxed);
        self.failures.store(0, Ordering::Relaxed);
    }
}

/// Health by target URL, shared by every snapshot, so a reload does not forget a bad target.
#[derive(Debug, Default)]
pub(crate) struct HealthRegistry {
    targets: DashMap<String, Arc<TargetHealth>>,
    /// Active health check findings, by service and target URL.
    probes: DashMap<(uuid::Uuid, String), Arc<ProbeState>>,
}

impl HealthRegistry {
    /// What the active checks of a service's target found (in rotation until they say not).
    pub(crate) fn probe(&self, service: uuid::Uuid, url: &str) -> Arc<ProbeState> {
        self.probes
            .entry((service, url.to_string()))
            .or_default()
            .clone()
    }

    pub(crate) fn get(&self, url: &str) -> Arc<TargetHealth> {
        self.targets.entry(url.to_string()).or_default().clone()
    }

    /// Forgets the findings of checks no longer made (their targets are back in rotation).
    pub(crate) fn retain_probes(&self, wanted: impl Fn(&(uuid::Uuid, String)) -> bool) {
        self.probes.retain(|id, _| wanted(id));
    }

    /// Targets currently out of rotation.
    pub(crate) fn ejected(&self) -> usize {
        self.targets.iter().filter(|t| t.is_ejected()).count()
    }

    /// Forgets targets no route uses any more.
    pub(crate) fn retain(&self, in_use: impl Fn(&str) -> bool) {
        self.targets.retain(|url, _| in_use(url));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_ejected_after_consecutive_failures_only() {
        let health = TargetHealth::default();
        assert!(!health.failed());
        health.succeeded();
        assert!(!health.failed());
        assert!(!health.failed());
        assert!(health.failed());
        assert!(health.is_ejected());
    }

    #[test]
    fn thresholds_take_a_target_out_and_bring_it_back() {
        let check = HealthCheck {
            path: "/".into(),
            interval_ms: 1000,
            timeout_ms: 500,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        };
        let state = ProbeState::default();
        assert!(state.is_up());
        assert_eq!(state.record(false, &check), None);
        assert_eq!(state.record(false, &check), None);
        assert_eq!(
            state.record(true, &check),
            None,
            "a pass resets the failures"
        );
        for _ in 0..2 {
            assert_eq!(state.record(false, &check), None);
        }
        assert_eq!(state.record(false, &check), Some(false));
        assert!(!state.is_up());
        assert_eq!(state.record(true, &check), None);
        assert_eq!(state.record(true, &check), Some(true));
        assert!(state.is_up());
    }
}
