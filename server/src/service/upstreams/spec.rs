//! Service validation: what a client sent, normalised, or a 422 naming the field.

use std::time::Duration;

use tollgate_protocol::HealthCheck;

use super::{HealthCheckSpec, ServiceSpec, ServiceTarget};
use crate::error::{ApiError, ApiResult};
use crate::service::routes::{check_duration, check_target_url};
use crate::validate;

const MAX_TARGETS: usize = 50;
const MAX_WEIGHT: u32 = 10_000;
const MAX_THRESHOLD: u32 = 20;
const SUBSET_MAX: usize = 63;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(2);
const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// A checked service, ready to store.
pub(crate) struct Checked {
    pub(crate) spec: ServiceSpec,
    pub(super) connect_timeout: Duration,
    pub(super) health_check: Option<HealthCheck>,
}

pub(super) fn check(spec: ServiceSpec) -> ApiResult<Checked> {
    let invalid = |msg: String| Err(ApiError::Invalid(msg));
    let name = validate::name("name", &spec.name)?;
    if spec.targets.is_empty() || spec.targets.len() > MAX_TARGETS {
        return invalid(format!("targets: give 1 to {MAX_TARGETS} targets"));
    }
    let mut targets = Vec::with_capacity(spec.targets.len());
    for target in &spec.targets {
        if target.weight > MAX_WEIGHT {
            return invalid(format!("target weight must be 0 to {MAX_WEIGHT}"));
        }
        let url = check_target_url(&target.url)?;
        if targets
            .iter()
            .any(|t: &ServiceTarget| t.url == url && t.subset == target.subset)
        {
            return invalid(format!("target {url} is listed twice"));
        }
        targets.push(ServiceTarget {
            url,
            weight: target.weight,
            subset: target.subset.as_deref().map(check_subset).transpose()?,
        });
    }
    if targets.iter().all(|t| t.weight == 0) {
        return invalid("targets: the weights add up to 0, so no target would get traffic".into());
    }
    let connect_timeout = check_duration(
        "connect_timeout",
        spec.connect_timeout.as_deref(),
        DEFAULT_CONNECT_TIMEOUT,
    )?;
    let health_check = spec.health_check.as_ref().map(check_health).transpose()?;
    Ok(Checked {
        spec: ServiceSpec {
            name,
            targets,
            connect_timeout: Some(humantime::format_duration(connect_timeout).to_string()),
            health_check: health_check.as_ref().map(health_spec),
        },
        connect_timeout,
        health_check,
    })
}

/// A subset label: letters, digits, `-`, `_` and `.`.
pub(crate) fn check_subset(subset: &str) -> ApiResult<String> {
    let subset = subset.trim();
    let fine = !subset.is_empty()
        && subset.len() <= SUBSET_MAX
        && subset
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if fine {
        Ok(subset.to_string())
    } else {
        Err(ApiError::Invalid(format!(
            "subset '{}' must be 1 to {SUBSET_MAX} letters, digits, '-', '_' or '.', like v1",
            subset.chars().take(30).collect::<String>()
        )))
    }
}

fn check_health(spec: &HealthCheckSpec) -> ApiResult<HealthCheck> {
    let invalid = |msg: String| Err(ApiError::Invalid(msg));
    let path = spec.path.trim();
    if !path.starts_with('/') || path.len() > 1024 || path.chars().any(char::is_whitespace) {
        return invalid("health_check.path must start with / and hold no spaces".into());
    }
    let interval = check_duration(
        "health_check.interval",
        spec.interval.as_deref(),
        DEFAULT_INTERVAL,
    )?;
    if interval < MIN_INTERVAL {
        return invalid("health_check.interval must be at least 100ms".into());
    }
    let timeout = check_duration(
        "health_check.timeout",
        spec.timeout.as_deref(),
        DEFAULT_CHECK_TIMEOUT.min(interval),
    )?;
    if timeout > interval {
        return invalid("health_check.timeout must not be longer than its interval".into());
    }
    for (field, value) in [
        ("healthy_threshold", spec.healthy_threshold),
        ("unhealthy_threshold", spec.unhealthy_threshold),
    ] {
        if !(1..=MAX_THRESHOLD).contains(&value) {
            return invalid(format!("health_check.{field} must be 1 to {MAX_THRESHOLD}"));
        }
    }
    Ok(HealthCheck {
        path: path.to_string(),
        interval_ms: millis(interval),
        timeout_ms: millis(timeout),
        healthy_threshold: spec.healthy_threshold,
        unhealthy_threshold: spec.unhealthy_threshold,
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A stored health check as the API shows it.
pub(super) fn health_spec(check: &HealthCheck) -> HealthCheckSpec {
    let text = |ms: u64| humantime::format_duration(Duration::from_millis(ms)).to_string();
    HealthCheckSpec {
        path: check.path.clone(),
        interval: Some(text(check.interval_ms)),
        timeout: Some(text(check.timeout_ms)),
        healthy_threshold: check.healthy_threshold,
        unhealthy_threshold: check.unhealthy_threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(targets: Vec<ServiceTarget>) -> ServiceSpec {
        ServiceSpec {
            name: "orders".into(),
            targets,
            connect_timeout: None,
            health_check: None,
        }
    }

    fn target(url: &str, subset: Option<&str>) -> ServiceTarget {
        ServiceTarget {
            url: url.into(),
            weight: 1,
            subset: subset.map(Into::into),
        }
    }

    #[test]
    fn targets_and_subsets_are_normalised_and_checked() {
        let checked = check(spec(vec![target("http://a:8080/", Some(" v1 "))])).unwrap();
        assert_eq!(checked.spec.targets[0].url, "http://a:8080");
        assert_eq!(checked.spec.targets[0].subset.as_deref(), Some("v1"));
        assert_eq!(checked.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
        assert!(check(spec(vec![target("http://a", Some("v 1"))])).is_err());
        assert!(check(spec(vec![])).is_err());
        assert!(check(spec(vec![
            target("http://a", None),
            target("http://a/", None)
        ]))
        .is_err());
    }

    #[test]
    fn a_health_check_gets_defaults_and_sane_bounds() {
        let mut with_check = spec(vec![target("http://a", None)]);
        with_check.health_check = Some(HealthCheckSpec {
            path: "/healthz".into(),
            interval: Some("1s".into()),
            timeout: None,
            healthy_threshold: 2,
            unhealthy_threshold: 3,
        });
        let checked = check(with_check.clone()).unwrap();
        let health = checked.health_check.unwrap();
        assert_eq!((health.interval_ms, health.timeout_ms), (1000, 1000));
        with_check.health_check.as_mut().unwrap().timeout = Some("5s".into());
        assert!(check(with_check.clone()).is_err());
        with_check.health_check.as_mut().unwrap().timeout = None;
        with_check
            .health_check
            .as_mut()
            .unwrap()
            .unhealthy_threshold = 0;
        assert!(check(with_check).is_err());
    }
}
