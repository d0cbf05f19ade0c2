//! REST routes: what a proxy matches (hosts, path, methods) and where it forwards (weighted
//! targets, timeouts, retries, header rules).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::roles::Role;
use crate::service::{audit, config_version};
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

pub use tollgate_protocol::PathMatch;
use tollgate_protocol::RetryOn;

/// An upstream target and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `http://` or `https://` base URL; the request path is appended to its path.
    pub url: String,
    /// Relative share of the traffic, 0 to 10000 (default 1). 0 takes the target out of rotation.
    #[serde(default = "one")]
    pub weight: u32,
}

/// Request header changes made before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HeaderRules {
    /// Headers set, replacing whatever the client sent.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default)]
    pub remove: Vec<String>,
}

fn one() -> u32 {
    1
}

fn yes() -> bool {
    true
}

/// A route's settings, as created and as shown. PATCH takes any subset of these fields and
/// merges it in (JSON merge patch: `null` restores a field's default).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// Unique in the tenant; key scopes name routes by it.
    pub name: String,
    /// Exact hosts or wildcards like `*.example.com`; empty matches any host.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Path to match, starting with `/`.
    pub path: String,
    #[serde(default, rename = "match")]
    pub path_match: PathMatch,
    /// Methods to match; empty matches any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Remove the matched path prefix before forwarding.
    #[serde(default)]
    pub strip_prefix: bool,
    pub targets: Vec<Target>,
    /// Time allowed for the upstream's response headers, like "10s" or "500ms" (default 60s).
    #[schema(example = "10s")]
    pub timeout: Option<String>,
    /// Time allowed to connect to a target (default 5s).
    #[schema(example = "2s")]
    pub connect_timeout: Option<String>,
    /// Further attempts on other targets after a failure (0 to 10).
    #[serde(default)]
    pub retries: u32,
    /// Failures that are retried: any of connect_error, 502, 503, 504 (default all).
    pub retry_on: Option<Vec<String>>,
    /// Also retry methods that are not idempotent (POST, PATCH).
    #[serde(default)]
    pub retry_non_idempotent: bool,
    /// Require an API key (default true).
    #[serde(default = "yes")]
    pub require_key: bool,
    #[serde(default)]
    pub request_headers: HeaderRules,
    /// Forward the client's Tollgate key (`Authorization: Bearer tg_…`, `x-api-key: tg_…`) to
    /// the upstream. Off by default: upstreams never see Tollgate credentials.
    #[serde(default)]
    pub forward_key: bool,
    /// Time allowed between two pieces of the upstream's response body once it streams
    /// (default 60s); a stalled upstream is cut off after it.
    #[schema(example = "60s")]
    pub body_idle_timeout: Option<String>,
}

/// A route as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Route {
    pub id: Uuid,
    #[serde(flatten)]
    pub spec: RouteSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A checked route, ready to store.
struct Checked {
    spec: RouteSpec,
    connect_timeout: Duration,
    timeout: Duration,
    body_idle_timeout: Duration,
    retry_on: Vec<String>,
    signature: String,
}

fn check(spec: RouteSpec) -> ApiResult<Checked> {
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

    if spec.targets.is_empty() || spec.targets.len() > MAX_TARGETS {
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
    if targets.iter().map(|t| u64::from(t.weight)).sum::<u64>() == 0 {
        return invalid("targets: the weights add up to 0, so no target would get traffic".into());
    }

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

fn check_target_url(text: &str) -> ApiResult<String> {
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

fn check_duration(field: &str, text: Option<&str>, default: Duration) -> ApiResult<Duration> {
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

#[derive(sqlx::FromRow)]
struct RouteRow {
    id: Uuid,
    name: String,
    hosts: Vec<String>,
    path: String,
    path_match: PathMatch,
    methods: Vec<String>,
    strip_prefix: bool,
    targets: sqlx::types::Json<Vec<Target>>,
    connect_timeout_ms: i64,
    timeout_ms: i64,
    retries: i32,
    retry_on: Vec<String>,
    retry_non_idempotent: bool,
    require_key: bool,
    set_headers: sqlx::types::Json<BTreeMap<String, String>>,
    remove_headers: Vec<String>,
    forward_key: bool,
    body_idle_timeout_ms: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

const ROUTE_COLUMNS: &str = "id, name, hosts, path, path_match, methods, strip_prefix, targets,
     connect_timeout_ms, timeout_ms, retries, retry_on, retry_non_idempotent, require_key,
     set_headers, remove_headers, forward_key, body_idle_timeout_ms, created_at, updated_at";

fn millis_text(ms: i64) -> String {
    humantime::format_duration(Duration::from_millis(ms.max(0).unsigned_abs())).to_string()
}

impl From<RouteRow> for Route {
    fn from(row: RouteRow) -> Self {
        Self {
            id: row.id,
            spec: RouteSpec {
                name: row.name,
                hosts: row.hosts,
                path: row.path,
                path_match: row.path_match,
                methods: row.methods,
                strip_prefix: row.strip_prefix,
                targets: row.targets.0,
                timeout: Some(millis_text(row.timeout_ms)),
                connect_timeout: Some(millis_text(row.connect_timeout_ms)),
                retries: row.retries.max(0).unsigned_abs(),
                retry_on: Some(row.retry_on),
                retry_non_idempotent: row.retry_non_idempotent,
                require_key: row.require_key,
                request_headers: HeaderRules {
                    set: row.set_headers.0,
                    remove: row.remove_headers,
                },
                forward_key: row.forward_key,
                body_idle_timeout: Some(millis_text(row.body_idle_timeout_ms)),
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn conflict(err: sqlx::Error, name: &str) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            if db.constraint() == Some("routes_match_signature_key") {
                ApiError::Conflict(
                    "another route of this tenant already matches exactly these hosts, path, \
                     match and methods; change one of them"
                        .into(),
                )
            } else {
                ApiError::Conflict(format!(
                    "a route named '{name}' exists in this tenant; choose another name"
                ))
            }
        }
        _ => ApiError::Database(err),
    }
}

pub async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Route>> {
    let rows: Vec<RouteRow> = sqlx::query_as(&format!(
        "SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Route::from).collect())
}

pub async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Route> {
    let row: Option<RouteRow> = sqlx::query_as(&format!(
        "SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(Route::from)
        .ok_or_else(|| ApiError::not_found("route", &id.to_string()))
}

pub async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: RouteSpec,
) -> ApiResult<Route> {
    access.role.require(Role::Admin, "manage routes")?;
    let checked = check(spec)?;
    let mut tx = db.begin().await?;
    admit(&mut tx, access, &checked, true).await?;
    let row: RouteRow = bind_spec(
        sqlx::query_as(&format!(
            "INSERT INTO routes (tenant_id, id, name, hosts, path, path_match, methods, strip_prefix,
                 targets, connect_timeout_ms, timeout_ms, retries, retry_on, retry_non_idempotent,
                 require_key, set_headers, remove_headers, match_signature, forward_key,
                 body_idle_timeout_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20)
             RETURNING {ROUTE_COLUMNS}"
        )),
        access.tenant.id,
        Uuid::now_v7(),
        &checked,
    )
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict(e, &checked.spec.name))?;
    let route = Route::from(row);
    config_version::commit(tx, principal, change(access, "route.create", &route)).await?;
    Ok(route)
}

/// Applies a JSON merge patch to the route's settings.
pub async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: serde_json::Value,
) -> ApiResult<Route> {
    access.role.require(Role::Admin, "manage routes")?;
    if !patch.is_object() {
        return Err(ApiError::Invalid(
            "send a JSON object with the fields to change".into(),
        ));
    }
    let current = get(db, access, id).await?;
    let mut merged = serde_json::to_value(&current.spec).map_err(ApiError::internal)?;
    crate::merge_patch::apply(&mut merged, &patch);
    let spec: RouteSpec = serde_json::from_value(merged)
        .map_err(|e| ApiError::Invalid(format!("the changed route does not fit: {e}")))?;
    let checked = check(spec)?;
    let mut tx = db.begin().await?;
    admit(&mut tx, access, &checked, false).await?;
    let row: Option<RouteRow> = bind_spec(
        sqlx::query_as(&format!(
            "UPDATE routes SET name = $3, hosts = $4, path = $5, path_match = $6, methods = $7,
                 strip_prefix = $8, targets = $9, connect_timeout_ms = $10, timeout_ms = $11,
                 retries = $12, retry_on = $13, retry_non_idempotent = $14, require_key = $15,
                 set_headers = $16, remove_headers = $17, match_signature = $18, forward_key = $19,
                 body_idle_timeout_ms = $20
             WHERE tenant_id = $1 AND id = $2
             RETURNING {ROUTE_COLUMNS}"
        )),
        access.tenant.id,
        id,
        &checked,
    )
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| conflict(e, &checked.spec.name))?;
    let route = Route::from(row.ok_or_else(|| ApiError::not_found("route", &id.to_string()))?);
    config_version::commit(tx, principal, change(access, "route.update", &route)).await?;
    Ok(route)
}

pub async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage routes")?;
    let mut tx = db.begin().await?;
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM routes WHERE tenant_id = $1 AND id = $2 RETURNING name")
            .bind(access.tenant.id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
    let name = name.ok_or_else(|| ApiError::not_found("route", &id.to_string()))?;
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "route.delete",
            target_type: "route",
            target_id: id.to_string(),
            details: json!({ "name": name }),
        },
    )
    .await?;
    Ok(())
}

type RouteQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, RouteRow, sqlx::postgres::PgArguments>;

fn bind_spec<'q>(
    query: RouteQuery<'q>,
    tenant_id: Uuid,
    id: Uuid,
    checked: &'q Checked,
) -> RouteQuery<'q> {
    let spec = &checked.spec;
    query
        .bind(tenant_id)
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.hosts)
        .bind(&spec.path)
        .bind(spec.path_match)
        .bind(&spec.methods)
        .bind(spec.strip_prefix)
        .bind(sqlx::types::Json(&spec.targets))
        .bind(duration_ms(checked.connect_timeout))
        .bind(duration_ms(checked.timeout))
        .bind(i32::try_from(spec.retries).unwrap_or(0))
        .bind(&checked.retry_on)
        .bind(spec.retry_non_idempotent)
        .bind(spec.require_key)
        .bind(sqlx::types::Json(&spec.request_headers.set))
        .bind(&spec.request_headers.remove)
        .bind(&checked.signature)
        .bind(spec.forward_key)
        .bind(duration_ms(checked.body_idle_timeout))
}

/// Checks what depends on the platform's settings, inside the storing transaction: the route
/// stays in its tenant's namespace, targets obey the egress policy, the tenant's quotas hold.
async fn admit(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    checked: &Checked,
    adding: bool,
) -> ApiResult<()> {
    crate::service::settings::check_quota(
        &mut *conn,
        access.tenant.id,
        crate::service::settings::Kind::Routes,
        adding,
        &checked.spec,
    )
    .await?;
    crate::service::namespaces::check_route(conn, access, &checked.spec.hosts, &checked.spec.path)
        .await?;
    let egress = crate::service::settings::egress(&mut *conn).await?;
    for target in &checked.spec.targets {
        crate::service::settings::check_url_egress(&egress, "target url", &target.url)?;
    }
    Ok(())
}

fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The audit entry of a change to this item.
fn change<'a>(access: &TenantAccess, action: &'a str, route: &Route) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "route",
        target_id: route.id.to_string(),
        details: serde_json::to_value(&route.spec).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
