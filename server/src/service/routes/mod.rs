//! REST routes: what a proxy matches (hosts, path, methods) and where it forwards (weighted
//! targets, timeouts, retries, header rules). `spec` validates, `store` persists.

mod spec;
mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) use spec::{
    check_duration, check_host, check_prefix, check_target_url, RESERVED_HEADERS,
};
pub(crate) use store::RouteRow;
pub(crate) use store::{create, delete, get, insert, list, replace, update};

/// A route's settings as they would be stored (defaults filled in, names normalised), or why
/// they cannot be.
pub(crate) fn normalised(spec: RouteSpec) -> crate::error::ApiResult<RouteSpec> {
    spec::check(spec).map(|checked| checked.spec)
}

pub(crate) use tollgate_protocol::PathMatch;

/// An upstream target and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Target {
    /// `http://` or `https://` base URL; the request path is appended to its path.
    pub(crate) url: String,
    /// Relative share of the traffic, 0 to 10000 (default 1). 0 takes the target out of rotation.
    #[serde(default = "one")]
    pub(crate) weight: u32,
}

/// A share of a route's traffic sent to a service, or to one subset of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Destination {
    /// The service's name.
    pub(crate) service: String,
    /// Only its targets labelled with this subset, like `v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subset: Option<String>,
    /// Relative share of the route's traffic, 0 to 10000 (default 1).
    #[serde(default = "one")]
    pub(crate) weight: u32,
}

/// A destination as stored: the service by id, so renaming it keeps the route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StoredDestination {
    pub(crate) service_id: Uuid,
    pub(crate) subset: Option<String>,
    pub(crate) weight: u32,
}

/// Request header changes made before forwarding.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HeaderRules {
    /// Headers set, replacing whatever the client sent.
    #[serde(default)]
    pub(crate) set: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default)]
    pub(crate) remove: Vec<String>,
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
pub(crate) struct RouteSpec {
    /// Unique in the tenant; key scopes name routes by it.
    pub(crate) name: String,
    /// Exact hosts or wildcards like `*.example.com`; empty matches any host.
    #[serde(default)]
    pub(crate) hosts: Vec<String>,
    /// Path to match, starting with `/`.
    pub(crate) path: String,
    #[serde(default, rename = "match")]
    pub(crate) path_match: PathMatch,
    /// Methods to match; empty matches any.
    #[serde(default)]
    pub(crate) methods: Vec<String>,
    /// Remove the matched path prefix before forwarding.
    #[serde(default)]
    pub(crate) strip_prefix: bool,
    /// Where it forwards, by weight. A route has targets, or a `service`, or `destinations`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) targets: Vec<Target>,
    /// Forward to this service's targets (all its subsets, by their weights).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) service: Option<String>,
    /// Split the traffic by weight between services and their subsets, like 90 to `v1` and
    /// 10 to `v2` of one service.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) destinations: Vec<Destination>,
    /// Time allowed for the upstream's response headers, like "10s" or "500ms" (default 60s).
    #[schema(example = "10s")]
    pub(crate) timeout: Option<String>,
    /// Time allowed to connect to a target (default 5s); routes to services use the
    /// services' own.
    #[schema(example = "2s")]
    pub(crate) connect_timeout: Option<String>,
    /// Further attempts on other targets after a failure (0 to 10).
    #[serde(default)]
    pub(crate) retries: u32,
    /// Failures that are retried: any of connect_error, 502, 503, 504 (default all).
    pub(crate) retry_on: Option<Vec<String>>,
    /// Also retry methods that are not idempotent (POST, PATCH).
    #[serde(default)]
    pub(crate) retry_non_idempotent: bool,
    /// Require an API key (default true).
    #[serde(default = "yes")]
    pub(crate) require_key: bool,
    #[serde(default)]
    pub(crate) request_headers: HeaderRules,
    /// Forward the client's Tollgate key (`Authorization: Bearer tg_…`, `x-api-key: tg_…`) to
    /// the upstream. Off by default: upstreams never see Tollgate credentials.
    #[serde(default)]
    pub(crate) forward_key: bool,
    /// Time allowed between two pieces of the upstream's response body once it streams
    /// (default 60s); a stalled upstream is cut off after it.
    #[schema(example = "60s")]
    pub(crate) body_idle_timeout: Option<String>,
}

/// A route as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Route {
    pub(crate) id: Uuid,
    #[serde(flatten)]
    pub(crate) spec: RouteSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}
