//! The contract between Tollgate's control plane (tollgate-server) and data plane
//! (tollgate-proxy): the configuration snapshot the proxy pulls, and the usage events it posts
//! back. Plain serde types, one definition for both sides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub mod egress;
pub mod internal;
#[cfg(feature = "logging")]
pub mod logging;
pub mod money;
pub mod namespace;
pub mod path;
pub mod provider;
pub mod role;
pub mod template;

pub use money::NanoUsd;
pub use namespace::{NamespaceEntry, Namespaces};
pub use provider::{Dialect, ProviderKind};
pub use role::Role;
pub use template::VariableType;

/// The token of an `Authorization: Bearer …` value, as both processes read credentials: the
/// scheme is case-insensitive (RFC 7235) and the token is trimmed.
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Everything a proxy needs to enforce the configuration, at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases with every change; proxies ask for anything newer than what they hold.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Keys that may be usable: not revoked. Expiry is checked by the proxy per request.
    pub keys: Vec<KeyEntry>,
    /// REST routes of every tenant.
    #[serde(default)]
    pub routes: Vec<RouteEntry>,
    /// AI providers with their credentials (this is why the snapshot is only served to holders
    /// of the proxy token, and why proxies encrypt their cached copy).
    #[serde(default)]
    pub providers: Vec<ProviderEntry>,
    /// The model names clients call.
    #[serde(default)]
    pub models: Vec<ModelEntry>,
    /// Prompt APIs, each at its active version.
    #[serde(default)]
    pub prompt_apis: Vec<PromptApiEntry>,
    /// The part of the request space each tenant's routes may serve.
    #[serde(default)]
    pub namespaces: Vec<NamespaceEntry>,
    /// Where tenants' routes and providers may connect.
    #[serde(default)]
    pub egress: EgressPolicy,
}

/// Which addresses tenant-configured targets may connect to, checked against the resolved
/// address at connect time. `allow` wins over everything; then `deny`; then the built-in denials
/// (loopback, link-local and cloud metadata, unspecified, multicast), then private ranges unless
/// `allow_private` is off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressPolicy {
    /// CIDRs always allowed, like `127.0.0.1/32` for an upstream on the proxy's own machine.
    #[serde(default)]
    pub allow: Vec<String>,
    /// CIDRs always refused (unless also allowed).
    #[serde(default)]
    pub deny: Vec<String>,
    /// Private ranges (10/8, 172.16/12, 192.168/16, fc00::/7, 100.64/10) are allowed.
    #[serde(default = "yes")]
    pub allow_private: bool,
}

impl Default for EgressPolicy {
    fn default() -> Self {
        Self {
            allow: Vec::new(),
            deny: Vec::new(),
            allow_private: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// A prompt API served at `POST /prompts/{slug}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptApiEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub slug: String,
    pub version: i32,
    /// The model name (of the same tenant) to call.
    pub model: String,
    /// `[{"role", "content"}]` with `{{variable}}` placeholders.
    pub messages: Vec<PromptMessage>,
    pub variables: Vec<PromptVariable>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// The answer is JSON, parsed into `output`.
    pub json_output: bool,
}

/// A template message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptMessage {
    pub role: String,
    pub content: String,
}

/// A declared variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptVariable {
    pub name: String,
    pub kind: VariableType,
    pub required: bool,
    pub default: Option<serde_json::Value>,
    pub values: Vec<String>,
}

/// An AI provider and how to reach it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_version: Option<String>,
    pub api_key: Option<String>,
    pub headers: BTreeMap<String, String>,
    /// Time allowed until the provider starts answering.
    #[serde(default = "default_provider_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_provider_timeout_ms() -> u64 {
    120_000
}

impl std::fmt::Debug for ProviderEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        f.debug_struct("ProviderEntry")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// A model clients call by name, its deployments and prices.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub deployments: Vec<DeploymentEntry>,
    pub prices: ModelPrices,
}

/// One provider model behind a model name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentEntry {
    pub provider_id: Uuid,
    /// The model name the provider knows.
    pub model: String,
    pub weight: u32,
    /// Lower is tried first; higher priorities are fallbacks.
    pub priority: u32,
}

/// Prices in integer nano-dollars: per million input, cached input and output tokens, and per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrices {
    pub input_per_mtok: i64,
    pub cached_input_per_mtok: i64,
    pub output_per_mtok: i64,
    /// Tokens written to the provider's prompt cache (Anthropic).
    #[serde(default)]
    pub cache_write_per_mtok: i64,
    pub per_request: i64,
}

/// A REST route: what it matches and where it forwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// `<tenant slug>/<route name>`: the label metrics and logs use.
    pub label: String,
    /// The route's name, as key scopes list it.
    pub name: String,
    /// Exact hosts or wildcards like `*.example.com`, lower-case; empty matches any host.
    pub hosts: Vec<String>,
    pub path: String,
    pub path_match: PathMatch,
    /// Upper-case methods; empty matches any.
    pub methods: Vec<String>,
    pub strip_prefix: bool,
    pub targets: Vec<Target>,
    pub connect_timeout_ms: u64,
    pub timeout_ms: u64,
    pub retries: u32,
    pub retry_on: Vec<RetryOn>,
    /// Retry methods that are not idempotent (POST, PATCH) too.
    pub retry_non_idempotent: bool,
    pub require_key: bool,
    /// Request headers set (replacing any sent) before forwarding.
    pub set_headers: BTreeMap<String, String>,
    /// Request headers removed before forwarding.
    pub remove_headers: Vec<String>,
    /// Forward the client's Tollgate key (`Authorization: Bearer tg_…`, `x-api-key: tg_…`)
    /// upstream; off by default, so upstreams never see Tollgate credentials.
    #[serde(default)]
    pub forward_key: bool,
    /// Time allowed between two pieces of the upstream's response body.
    #[serde(default = "default_body_idle_timeout_ms")]
    pub body_idle_timeout_ms: u64,
}

fn default_body_idle_timeout_ms() -> u64 {
    60_000
}

/// How a route's path is compared with the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum PathMatch {
    /// The request path is the route path or continues it at a `/`.
    #[default]
    Prefix,
    /// The request path is exactly the route path.
    Exact,
}

impl PathMatch {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prefix => "prefix",
            Self::Exact => "exact",
        }
    }
}

/// An upstream target and its share of the traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub url: String,
    pub weight: u32,
}

/// Failures after which a request is tried again on another target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum RetryOn {
    #[serde(rename = "connect_error")]
    ConnectError,
    #[serde(rename = "502")]
    BadGateway,
    #[serde(rename = "503")]
    ServiceUnavailable,
    #[serde(rename = "504")]
    GatewayTimeout,
}

impl RetryOn {
    /// Every condition, which is also what a route retries on unless it says otherwise.
    pub const ALL: [Self; 4] = [
        Self::ConnectError,
        Self::BadGateway,
        Self::ServiceUnavailable,
        Self::GatewayTimeout,
    ];

    /// The name in the API, the database and the snapshot.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ConnectError => "connect_error",
            Self::BadGateway => "502",
            Self::ServiceUnavailable => "503",
            Self::GatewayTimeout => "504",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What a proxy reports about itself to `POST /internal/v1/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Chosen by the proxy at start; stable for the life of the process.
    pub id: Uuid,
    pub hostname: String,
    /// The address the proxy serves traffic on.
    pub address: String,
    /// The snapshot version it has loaded (0: none yet).
    pub version: i64,
    pub uptime_secs: u64,
    pub proxy_version: String,
}

/// A data-plane API key as the proxy sees it: its hash, never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Hex SHA-256 of the full secret (`tg_…`).
    pub secret_sha256: String,
    /// Allowed route, model and prompt API names; empty means all of the tenant's.
    pub routes: Vec<String>,
    pub models: Vec<String>,
    pub prompt_apis: Vec<String>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub budget: Option<KeyBudget>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A key's spending limit in integer nano-dollars per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBudget {
    pub nanousd: i64,
    pub period: BudgetPeriod,
}

/// How often a budget starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    Day,
    Month,
    Total,
}

/// One request seen by a proxy, allowed or refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// UUID v7, so events sort by time and a replayed batch is recognised.
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub tenant_id: Option<Uuid>,
    pub key_id: Option<Uuid>,
    pub route_id: Option<Uuid>,
    pub method: String,
    pub status: u16,
    pub latency_us: u64,
    pub upstream_latency_us: Option<u64>,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Why a request failed, in a few stable words (`unauthorized`, `upstream_timeout`, …).
    pub error_class: Option<String>,
    /// For AI calls: what was called and what it cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiUsage>,
}

/// The metering of one AI call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiUsage {
    pub model_id: Uuid,
    pub provider_id: Option<Uuid>,
    /// The provider's model name that answered.
    pub upstream_model: Option<String>,
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    pub output_tokens: u64,
    /// True when the provider reported no usage and the counts are estimates.
    pub estimated: bool,
    pub cost_nanousd: i64,
    /// Time to the first byte of the answer.
    pub ttft_us: Option<u64>,
    /// Deployments tried before one answered (0: the first did).
    pub fallbacks: u32,
    /// The prompt API the call was made for.
    #[serde(default)]
    pub prompt_api_id: Option<Uuid>,
    pub streamed: bool,
}

/// What `GET /internal/v1/spend` answers: each budgeted key's spend in its current period,
/// from every proxy's usage the server has stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendReport {
    pub keys: Vec<KeySpend>,
}

/// A key's spend so far in its budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpend {
    pub key_id: Uuid,
    pub spent_nanousd: i64,
}

/// What a proxy posts to `POST /internal/v1/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageBatch {
    /// The proxy that saw the events.
    pub dataplane_id: Uuid,
    pub events: Vec<UsageEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_credentials_never_show_in_debug_output() {
        let provider = ProviderEntry {
            id: Uuid::nil(),
            tenant_id: Uuid::nil(),
            name: "p".into(),
            kind: ProviderKind::Openai,
            base_url: "https://api.openai.com/v1".into(),
            api_version: None,
            api_key: Some("sk-secret-value".into()),
            headers: BTreeMap::from([("x-org".into(), "org-secret".into())]),
            timeout_ms: 1000,
        };
        let printed = format!("{provider:?}");
        assert!(
            !printed.contains("sk-secret-value") && !printed.contains("org-secret"),
            "{printed}"
        );
    }

    #[test]
    fn a_snapshot_survives_the_wire() {
        let snapshot = Snapshot {
            version: 7,
            generated_at: OffsetDateTime::UNIX_EPOCH,
            keys: vec![KeyEntry {
                id: Uuid::nil(),
                tenant_id: Uuid::nil(),
                secret_sha256: "ab".repeat(32),
                routes: vec!["orders".into()],
                models: vec![],
                prompt_apis: vec![],
                requests_per_minute: Some(60),
                tokens_per_minute: None,
                budget: Some(KeyBudget {
                    nanousd: 25_000_000_000,
                    period: BudgetPeriod::Month,
                }),
                expires_at: None,
            }],
            routes: vec![],
            providers: vec![],
            models: vec![],
            prompt_apis: vec![],
            namespaces: vec![],
            egress: EgressPolicy::default(),
        };
        let json = serde_json::to_string(&snapshot).unwrap_or_default();
        assert!(json.contains("\"period\":\"month\""));
        let back: Snapshot = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, snapshot);
    }
}
