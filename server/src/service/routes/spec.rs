//! Route validation: pure functions from what a client sent to a normalised route, or a 422
//! that says which field is wrong and what it accepts.

use std::collections::BTreeMap;
use std::time::Duration;

use tollgate_protocol::RetryOn;

use super::{Destination, HeaderRules, PathMatch, RouteSpec, Target};
use crate::error::{ApiError, ApiResult};
use crate::validate;

const MAX_HOSTS: usize = 50;
const MAX_TARGETS: usize = 50;
const MAX_HEADER_RULES: usize = 50;
const MAX_RETRIES: u32 = 10;
const MAX_WEIGHT: u32 = 10_000;
const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// TRACE reaches an upstream only on a route that lists it.
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];
const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Headers the proxy manages itself; rules may not touch them.
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "trailer",
    "keep-alive",
    "proxy-connection",
];

/// A checked route, ready to store.
pub(crate) struct Checked {
    pub(crate) spec: RouteSpec,
    pub(crate) connect_timeout: Duration,
    pub(crate) timeout: Duration,
    pub(crate) body_idle_timeout: Duration,
    pub(crate) retry_on: Vec<String>,
    /// What the route matches, as one text: two routes of a tenant may not share it.
    pub(crate) signature: String,
}

/// Validates and normalises a route: the pure part of creating or changing one.
pub(crate) fn check(spec: RouteSpec) -> ApiResult<Checked> {
    let invalid = |msg: String| Err(ApiError::Invalid(msg));
    let name = validate::name("name", &spec.name)?;

    if spec.hosts.len() > MAX_HOSTS {
        return invalid(format!("hosts: at most {MAX_HOSTS}"));
    }
    let mut hosts = spec
        .hosts
        .iter()
        .map(|h| check_host(h))
        .collect::<ApiResult<Vec<_>>>()?;
    hosts.sort();
    hosts.dedup();

    let path = check_path(&spec.path, spec.path_match)?;

    let mut methods = Vec::new();
    for method in &spec.methods {
        let upper = method.trim().to_ascii_uppercase();
        if !METHODS.contains(&upper.as_str()) {
            return invalid(format!(
                "method '{}' is not one of {}",
                method.chars().take(20).collect::<String>(),
                METHODS.join(", ")
            ));
        }
        if !methods.contains(&upper) {
            methods.push(upper);
        }
    }
    methods.sort();

    let ways = usize::from(!spec.targets.is_empty())
        + usize::from(spec.service.is_some())
        + usize::from(!spec.destinations.is_empty());
    if ways != 1 {
        return invalid(
            "say where the route forwards with exactly one of targets, service or destinations"
                .into(),
        );
    }
    if spec.targets.len() > MAX_TARGETS {
        return invalid(format!("targets: give 1 to {MAX_TARGETS} targets"));
    }
    let mut targets = Vec::with_capacity(spec.targets.len());
    for target in &spec.targets {
        if target.weight > MAX_WEIGHT {
            return invalid(format!("target weight must be 0 to {MAX_WEIGHT}"));
        }
        targets.push(Target {
            url: check_target_url(&target.url)?,
            weight: target.weight,
        });
    }
    if !targets.is_empty() && targets.iter().map(|t| u64::from(t.weight)).sum::<u64>() == 0 {
        return invalid("targets: the weights add up to 0, so no target would get traffic".into());
    }
    let service = spec
        .service
        .as_deref()
        .map(|s| validate::name("service", s))
        .transpose()?;
    let destinations = check_destinations(&spec.destinations)?;

    let timeout = check_duration("timeout", spec.timeout.as_deref(), DEFAULT_TIMEOUT)?;
    let connect_timeout = check_duration(
        "connect_timeout",
        spec.connect_timeout.as_deref(),
        DEFAULT_CONNECT_TIMEOUT,
    )?;
    let body_idle_timeout = check_duration(
        "body_idle_timeout",
        spec.body_idle_timeout.as_deref(),
        DEFAULT_BODY_IDLE_TIMEOUT,
    )?;
    if spec.retries > MAX_RETRIES {
        return invalid(format!("retries must be 0 to {MAX_RETRIES}"));
    }
    let retry_on = match &spec.retry_on {
        None => RetryOn::ALL.map(|r| r.as_str().to_string()).to_vec(),
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for item in list {
                if RetryOn::parse(item).is_none() {
                    return invalid(format!(
                        "retry_on '{}' is not one of {}",
                        item.chars().take(20).collect::<String>(),
                        RetryOn::ALL.map(RetryOn::as_str).join(", ")
                    ));
                }
                if !out.contains(item) {
                    out.push(item.clone());
                }
            }
            out
        }
    };
    let request_headers = check_header_rules(&spec.request_headers)?;

    let signature = format!(
        "{}|{}|{}|{}",
        hosts.join(","),
        spec.path_match.as_str(),
        path,
        methods.join(",")
    );
    Ok(Checked {
        spec: RouteSpec {
            name,
            hosts,
            path,
            path_match: spec.path_match,
            methods,
            strip_prefix: spec.strip_prefix,
            targets,
            service,
            destinations,
            timeout: Some(humantime::format_duration(timeout).to_string()),
            connect_timeout: Some(humantime::format_duration(connect_timeout).to_string()),
            retries: spec.retries,
            retry_on: Some(retry_on.clone()),
            retry_non_idempotent: spec.retry_non_idempotent,
            require_key: spec.require_key,
            request_headers,
            forward_key: spec.forward_key,
            body_idle_timeout: Some(humantime::format_duration(body_idle_timeout).to_string()),
        },
        connect_timeout,
        timeout,
        body_idle_timeout,
        retry_on,
        signature,
    })
}

fn check_destinations(destinations: &[Destination]) -> ApiResult<Vec<Destination>> {
    let invalid = |msg: String| Err(ApiError::Invalid(msg));
    if destinations.len() > MAX_TARGETS {
        return invalid(format!("destinations: at most {MAX_TARGETS}"));
    }
    let mut checked: Vec<Destination> = Vec::with_capacity(destinations.len());
    for destination in destinations {
        if destination.weight > MAX_WEIGHT {
            return invalid(format!("destination weight must be 0 to {MAX_WEIGHT}"));
        }
        let service = validate::name("destinations.service", &destination.service)?;
        let subset = destination
            .subset
            .as_deref()
            .map(crate::service::upstreams::check_subset)
            .transpose()?;
        if checked
            .iter()
            .any(|d| d.service == service && d.subset == subset)
        {
            return invalid(format!(
                "destinations: {service}{} is listed twice",
                subset
                    .as_deref()
                    .map(|s| format!(" subset {s}"))
                    .unwrap_or_default()
            ));
        }
        checked.push(Destination {
            service,
            subset,
            weight: destination.weight,
        });
    }
    if !checked.is_empty() && checked.iter().all(|d| d.weight == 0) {
        return invalid(
            "destinations: the weights add up to 0, so no service would get traffic".into(),
        );
    }
    Ok(checked)
}

pub(crate) fn check_host(host: &str) -> ApiResult<String> {
    let host = host.trim().to_ascii_lowercase();
    let bare = host.strip_prefix("*.").unwrap_or(&host);
    let ok = !bare.is_empty()
        && bare.len() <= 253
        && bare.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if ok {
        Ok(host)
    } else {
        Err(ApiError::Invalid(format!(
            "host '{}' is not a host name or a wildcard like '*.example.com' (no port, no scheme)",
            host.chars().take(60).collect::<String>()
        )))
    }
}

/// A namespace's path prefix, normalised as route prefixes are.
pub(crate) fn check_prefix(path: &str) -> ApiResult<String> {
    check_path(path, PathMatch::Prefix)
}

fn check_path(path: &str, path_match: PathMatch) -> ApiResult<String> {
    let ok = path.starts_with('/')
        && path.len() <= 1000
        && !path
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '?' || c == '#');
    if !ok {
        return Err(ApiError::Invalid(format!(
            "path '{}' must start with '/' and hold no spaces, '?' or '#' (at most 1000 characters)",
            path.chars().take(60).collect::<String>()
        )));
    }
    // The proxy matches normalised request paths, so a route path must be normalised too.
    match tollgate_protocol::path::normalise(path) {
        Ok(normal) if normal == path => {}
        Ok(normal) => {
            return Err(ApiError::Invalid(format!(
                "path '{}' is not in normal form; write it as '{}'",
                path.chars().take(60).collect::<String>(),
                normal.chars().take(60).collect::<String>()
            )))
        }
        Err(bad) => {
            return Err(ApiError::Invalid(format!(
                "path '{}' is refused: {}",
                path.chars().take(60).collect::<String>(),
                bad.0
            )))
        }
    }
    // "/orders/" and "/orders" are the same prefix.
    if path_match == PathMatch::Prefix && path.len() > 1 {
        return Ok(path.trim_end_matches('/').to_string());
    }
    Ok(path.to_string())
}

pub(crate) fn check_target_url(text: &str) -> ApiResult<String> {
    let invalid = |why: &str| {
        Err(ApiError::Invalid(format!(
            "target url '{}' {why}",
            text.chars().take(100).collect::<String>()
        )))
    };
    let Ok(url) = url::Url::parse(text.trim()) else {
        return invalid("is not a URL; write it like http://10.0.0.5:8080");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return invalid("must be http:// or https://");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return invalid("has no host");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return invalid("must not have a query or fragment");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return invalid("must not hold credentials; use a header rule instead");
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

pub(crate) fn check_duration(
    field: &str,
    text: Option<&str>,
    default: Duration,
) -> ApiResult<Duration> {
    let Some(text) = text else { return Ok(default) };
    let duration = humantime::parse_duration(text.trim()).map_err(|_| {
        ApiError::Invalid(format!(
            "{field} '{}' is not a positive duration like \"10s\", \"500ms\" or \"2m\"",
            text.chars().take(30).collect::<String>()
        ))
    })?;
    if duration < Duration::from_millis(1) || duration > MAX_TIMEOUT {
        return Err(ApiError::Invalid(format!(
            "{field} must be at least 1ms and at most 1h"
        )));
    }
    Ok(duration)
}

fn check_header_rules(rules: &HeaderRules) -> ApiResult<HeaderRules> {
    if rules.set.len() + rules.remove.len() > MAX_HEADER_RULES {
        return Err(ApiError::Invalid(format!(
            "request_headers: at most {MAX_HEADER_RULES} rules"
        )));
    }
    let check_name = |name: &str| -> ApiResult<String> {
        let lower = name.trim().to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
            return Err(ApiError::Invalid(format!(
                "'{}' is not a valid header name",
                name.chars().take(60).collect::<String>()
            )));
        }
        if RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(ApiError::Invalid(format!(
                "header '{lower}' is managed by the proxy and cannot be changed by a rule"
            )));
        }
        Ok(lower)
    };
    let mut set = BTreeMap::new();
    for (name, value) in &rules.set {
        if axum::http::HeaderValue::from_str(value).is_err() || value.len() > 4096 {
            return Err(ApiError::Invalid(format!(
                "the value of header '{name}' is not a valid header value"
            )));
        }
        set.insert(check_name(name)?, value.clone());
    }
    let remove = rules
        .remove
        .iter()
        .map(|name| check_name(name))
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(HeaderRules { set, remove })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(json: serde_json::Value) -> RouteSpec {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_issue_example_is_accepted_and_normalised() {
        let checked = check(spec(json!({"name": "orders", "hosts": [], "path": "/orders/", "match": "prefix",
            "methods": ["get", "POST"], "strip_prefix": true,
            "targets": [{"url": "http://10.0.0.5:8080/", "weight": 90}, {"url": "http://10.0.0.6:8080", "weight": 10}],
            "timeout": "10s", "retries": 3, "require_key": true})))
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(checked.spec.path, "/orders");
        assert_eq!(checked.spec.methods, ["GET", "POST"]);
        assert_eq!(checked.spec.targets[0].url, "http://10.0.0.5:8080");
        assert_eq!(checked.timeout, Duration::from_secs(10));
        assert_eq!(checked.retry_on, RetryOn::ALL.map(RetryOn::as_str));
        assert_eq!(checked.signature, "|prefix|/orders|GET,POST");
        let encoded = check(spec(json!({"name": "r", "path": "/a%20b",
            "targets": [{"url": "http://a:1"}]})));
        assert!(encoded.is_ok(), "an encoded space is a normal path");
    }

    #[test]
    fn bad_routes_are_refused() {
        let base = json!({"name": "r", "path": "/x", "targets": [{"url": "http://a:1"}]});
        let cases = [
            json!({"targets": [{"url": "ftp://a"}]}),
            json!({"targets": [{"url": "not a url"}]}),
            json!({"targets": [{"url": "http://a", "weight": 0}]}),
            json!({"targets": []}),
            json!({"timeout": "-1s"}),
            json!({"timeout": "0s"}),
            json!({"connect_timeout": "soon"}),
            json!({"path": "x"}),
            json!({"methods": ["BREW"]}),
            json!({"hosts": ["http://x.com"]}),
            json!({"retries": 11}),
            json!({"retry_on": ["500"]}),
            json!({"request_headers": {"set": {"host": "x"}}}),
            json!({"path": "/a/../b"}),
            json!({"path": "/a//b"}),
            json!({"path": "/a/%2e%2e/b"}),
            json!({"path": "/a%2fb"}),
        ];
        for case in cases {
            let mut value = base.clone();
            crate::merge_patch::apply(&mut value, &case);
            assert!(check(spec(value)).is_err(), "{case} should be refused");
        }
    }
}
