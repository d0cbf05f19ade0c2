//! Services (upstreams): named sets of targets, each optionally labelled with a subset (`v1`,
//! `v2`), with a connect timeout and an optional active health check. Routes point at a service
//! or split by weight between services and their subsets. `spec` validates, `store` persists.

mod spec;
mod store;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

pub(crate) use spec::check_subset;
pub(crate) use store::{
    create, delete, get, insert, list, remove, replace_unchecked, resolve, serves, still_served,
    update, ServiceRow,
};

/// A service's settings as they would be stored (defaults filled in), or why they cannot be.
pub(crate) fn normalised(spec: ServiceSpec) -> crate::error::ApiResult<ServiceSpec> {
    spec::check(spec).map(|checked| checked.spec)
}

/// One target of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceTarget {
    /// `http://` or `https://` base URL; the request path is appended to its path.
    pub(crate) url: String,
    /// Relative share of the traffic within its subset, 0 to 10000 (default 1).
    #[serde(default = "one")]
    pub(crate) weight: u32,
    /// A label routes split traffic by, like `v1` or `canary`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) subset: Option<String>,
}

fn one() -> u32 {
    1
}

/// An active health check, as written: durations as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct HealthCheckSpec {
    /// Path each target is asked for with GET (default `/`); any answer below 500 passes.
    #[serde(default = "root")]
    pub(crate) path: String,
    /// How often each target is checked (default 10s).
    #[schema(example = "5s")]
    pub(crate) interval: Option<String>,
    /// How long a check may take (default 2s, at most the interval).
    #[schema(example = "1s")]
    pub(crate) timeout: Option<String>,
    /// Passes in a row that bring a target back (default 2).
    #[serde(default = "two")]
    pub(crate) healthy_threshold: u32,
    /// Failures in a row that take a target out of rotation (default 3).
    #[serde(default = "three")]
    pub(crate) unhealthy_threshold: u32,
}

fn root() -> String {
    "/".into()
}

fn two() -> u32 {
    2
}

fn three() -> u32 {
    3
}

/// A service's settings, as created and as shown. PATCH takes any subset of these fields and
/// merges it in (JSON merge patch: `null` restores a field's default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ServiceSpec {
    /// Unique in the tenant; routes name services by it.
    pub(crate) name: String,
    pub(crate) targets: Vec<ServiceTarget>,
    /// Time allowed to connect to a target (default 5s).
    #[schema(example = "2s")]
    pub(crate) connect_timeout: Option<String>,
    /// Probe each target, and send no traffic to one that fails until it passes again.
    pub(crate) health_check: Option<HealthCheckSpec>,
}

/// A service as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Service {
    pub(crate) id: Uuid,
    #[serde(flatten)]
    pub(crate) spec: ServiceSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}
