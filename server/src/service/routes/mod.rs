//! REST routes: what a proxy matches (hosts, path, methods) and where it forwards (weighted
//! targets, timeouts, retries, header rules). `spec` validates, `store` persists.

mod spec;
mod store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) use spec::{check_host, check_prefix, RESERVED_HEADERS};
pub(crate) use store::RouteRow;
pub use store::{create, delete, get, list, update};

pub use tollgate_protocol::PathMatch;

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
