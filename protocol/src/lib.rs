//! The contract between Tollgate's control plane (tollgate-server) and data plane
//! (tollgate-proxy): the configuration snapshot the proxy pulls, and the usage events it posts
//! back. Plain serde types, one definition for both sides.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

pub mod egress;
pub mod internal;
#[cfg(feature = "jwt")]
pub mod jwt;
#[cfg(feature = "logging")]
pub mod logging;
pub mod money;
pub mod namespace;
pub mod path;
pub mod provider;
pub mod role;
pub mod template;
pub mod usage_json;

pub use money::NanoUsd;
pub use namespace::{NamespaceEntry, Namespaces};
pub use provider::{Dialect, ProviderKind};
pub use role::Role;
pub use template::VariableType;

/// The token of an `Authorization: Bearer …` value, as both processes read credentials: the
/// scheme is case-insensitive (RFC 7235) and the token is trimmed.
pub fn bearer_token(value: &str) -> Option<&str> {
    const SCHEME: &[u8] = b"bearer ";
    let value = value.trim_start();
    let scheme = value.as_bytes().get(..SCHEME.len())?;
    scheme
        .eq_ignore_ascii_case(SCHEME)
        .then(|| value[SCHEME.len()..].trim())
        .filter(|t| !t.is_empty())
}

/// Everything a proxy needs to enforce the configuration, at one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Increases with every change; proxies ask for anything newer than what they hold.
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    /// When the server built it.
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
    /// Services whose targets proxies check actively (routes carry the targets they reach).
    #[serde(default)]
    pub services: Vec<ServiceEntry>,
    /// Identity providers whose JWTs callers may present instead of a key.
    #[serde(default)]
    pub jwt_issuers: Vec<JwtIssuerEntry>,
    /// Remote MCP servers, with the credentials proxies send them.
    #[serde(default)]
    pub mcp_servers: Vec<McpServerEntry>,
}

/// A remote MCP server (Streamable HTTP transport) served to its tenant's keys at
/// `/mcp/{name}` and, with its tools named `{name}__{tool}`, at `/mcp`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct McpServerEntry {
    /// Its id.
    pub id: Uuid,
    /// The tenant whose keys may reach it.
    pub tenant_id: Uuid,
    /// Its name: a slug, unique in the tenant.
    pub name: String,
    /// Its Streamable HTTP endpoint.
    pub url: String,
    /// Headers sent with every message, its credentials among them (decrypted for the proxy).
    pub headers: BTreeMap<String, String>,
    /// Time a message may take, from sending it to the end of its answer.
    pub timeout_ms: u64,
    /// Only these tools are listed and callable; empty: all it offers.
    pub tools: Vec<String>,
}

impl std::fmt::Debug for McpServerEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print credentials.
        f.debug_struct("McpServerEntry")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// An identity provider whose signed JWTs stand for keys: each caller (the value of
/// `consumer_claim`) is a consumer with the issuer's scopes and limits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JwtIssuerEntry {
    /// Its id.
    pub id: Uuid,
    /// The tenant whose routes, models and prompt APIs its callers reach.
    pub tenant_id: Uuid,
    /// Its name, for logs.
    pub name: String,
    /// The tokens' `iss`.
    pub issuer: String,
    /// The tokens' `aud` must name one of these.
    pub audiences: Vec<String>,
    /// Where its public keys are (read again when a token names an unknown key id).
    pub jwks_url: Option<String>,
    /// Or its public keys, as a JWKS document.
    pub keys: Option<serde_json::Value>,
    /// Accepted algorithms (asymmetric only).
    pub algorithms: Vec<String>,
    /// Clock skew allowed, in seconds.
    pub clock_skew_secs: u64,
    /// Claims every token must carry.
    pub required_claims: Vec<String>,
    /// The claim that names the caller (`sub`, `client_id`, …).
    pub consumer_claim: String,
    /// Route names its callers may use (`*` for all of the tenant's).
    pub routes: Vec<String>,
    /// Model names its callers may call.
    pub models: Vec<String>,
    /// Prompt API slugs its callers may call.
    pub prompt_apis: Vec<String>,
    /// MCP servers (or `server/tool`) its callers may call.
    #[serde(default)]
    pub mcp_servers: Vec<String>,
    /// Each caller's requests a minute.
    pub requests_per_minute: Option<u32>,
    /// Each caller's AI tokens a minute.
    pub tokens_per_minute: Option<u32>,
    /// Each caller's budget.
    pub budget: Option<KeyBudget>,
}

impl JwtIssuerEntry {
    /// The id a caller of this issuer has, as a key has one: the same every time and on every
    /// proxy (a UUID v5 of the issuer and the caller).
    pub fn consumer_id(&self, consumer: &str) -> Uuid {
        Uuid::new_v5(&self.id, consumer.as_bytes())
    }
}

/// A service with an active health check: proxies probe each of its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEntry {
    /// Its id; route targets that belong to it name it.
    pub id: Uuid,
    /// `<tenant slug>/<service name>`: the label metrics and logs use.
    pub label: String,
    /// Its targets' URLs.
    pub targets: Vec<String>,
    /// How they are checked.
    pub health_check: HealthCheck,
}

/// An active health check: a GET of `path` on each target every `interval_ms`; a target is out
/// of rotation after `unhealthy_threshold` failures in a row, and back after
/// `healthy_threshold` successes (any answer below 500 in `timeout_ms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    /// Asked for with GET on each target, like `/healthz`.
    pub path: String,
    /// Time between two checks of a target.
    pub interval_ms: u64,
    /// Time a check may take.
    pub timeout_ms: u64,
    /// Passes in a row that bring a target back.
    pub healthy_threshold: u32,
    /// Failures in a row that take a target out of rotation.
    pub unhealthy_threshold: u32,
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
    /// Its id.
    pub id: Uuid,
    /// The tenant it belongs to.
    pub tenant_id: Uuid,
    /// The last part of its path: `POST /prompts/{slug}`.
    pub slug: String,
    /// What it does, for people and agents (its MCP tool's description).
    #[serde(default)]
    pub description: Option<String>,
    /// The version in force.
    pub version: i32,
    /// The model name (of the same tenant) to call.
    pub model: String,
    /// `[{"role", "content"}]` with `{{variable}}` placeholders.
    pub messages: Vec<PromptMessage>,
    /// The variables callers fill in.
    pub variables: Vec<PromptVariable>,
    /// Sampling temperature sent to the model.
    pub temperature: Option<f64>,
    /// Most output tokens the model may write.
    pub max_tokens: Option<u32>,
    /// The answer is JSON, parsed into `output`.
    pub json_output: bool,
}

/// A template message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text, with `{{variable}}` placeholders.
    pub content: String,
}

/// A declared variable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptVariable {
    /// The name its `{{name}}` placeholders use.
    pub name: String,
    /// The type its values must have.
    pub kind: VariableType,
    /// Callers must give it (else `default`, or empty).
    pub required: bool,
    /// The value used when a caller gives none.
    pub default: Option<serde_json::Value>,
    /// The allowed values of an enum variable.
    pub values: Vec<String>,
    /// What it is for (its MCP tool's input schema shows it).
    #[serde(default)]
    pub description: Option<String>,
}

/// An AI provider and how to reach it.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ProviderEntry {
    /// Its id.
    pub id: Uuid,
    /// The tenant it belongs to.
    pub tenant_id: Uuid,
    /// Its name, unique in the tenant.
    pub name: String,
    /// The API family and vendor.
    pub kind: ProviderKind,
    /// Where its API lives.
    pub base_url: String,
    /// The API version some vendors require (Azure OpenAI).
    pub api_version: Option<String>,
    /// The credential, decrypted for the proxy.
    pub api_key: Option<String>,
    /// Extra headers sent with every call.
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
    /// Its id.
    pub id: Uuid,
    /// The tenant it belongs to.
    pub tenant_id: Uuid,
    /// Its name, unique in the tenant.
    pub name: String,
    /// The provider models that serve it.
    pub deployments: Vec<DeploymentEntry>,
    /// What its calls cost.
    pub prices: ModelPrices,
    /// The most output tokens its deployments may produce in one call, where the price catalog
    /// knows it (the largest among them): what a call without `max_tokens` may cost at worst.
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
}

/// One provider model behind a model name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentEntry {
    /// The provider that serves it.
    pub provider_id: Uuid,
    /// The model name the provider knows.
    pub model: String,
    /// Relative share of the traffic; 0 takes it out of rotation.
    pub weight: u32,
    /// Lower is tried first; higher priorities are fallbacks.
    pub priority: u32,
}

/// Prices in integer nano-dollars: per million input, cached input and output tokens, and per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelPrices {
    /// Per million input tokens.
    pub input_per_mtok: i64,
    /// Per million input tokens read from the provider's prompt cache.
    pub cached_input_per_mtok: i64,
    /// Per million output tokens.
    pub output_per_mtok: i64,
    /// Tokens written to the provider's prompt cache (Anthropic).
    #[serde(default)]
    pub cache_write_per_mtok: i64,
    /// Per call, whatever its tokens.
    pub per_request: i64,
}

/// A REST route: what it matches and where it forwards.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteEntry {
    /// Its id.
    pub id: Uuid,
    /// The tenant it belongs to.
    pub tenant_id: Uuid,
    /// `<tenant slug>/<route name>`: the label metrics and logs use.
    pub label: String,
    /// The route's name, as key scopes list it.
    pub name: String,
    /// Exact hosts or wildcards like `*.example.com`, lower-case; empty matches any host.
    pub hosts: Vec<String>,
    /// The path it matches, starting with `/`.
    pub path: String,
    /// How `path` is compared with the request path.
    pub path_match: PathMatch,
    /// Upper-case methods; empty matches any.
    pub methods: Vec<String>,
    /// Remove the matched prefix before forwarding.
    pub strip_prefix: bool,
    /// Where it forwards, by weight.
    pub targets: Vec<Target>,
    /// Time allowed to connect to a target.
    pub connect_timeout_ms: u64,
    /// Time allowed until the target starts answering.
    pub timeout_ms: u64,
    /// Further attempts on other targets after a failure it retries on.
    pub retries: u32,
    /// The failures that are retried.
    pub retry_on: Vec<RetryOn>,
    /// Retry methods that are not idempotent (POST, PATCH) too.
    pub retry_non_idempotent: bool,
    /// Callers must present a key of the route's tenant that may use it.
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
    /// The operations of its service's OpenAPI document, published as MCP tools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<RestTool>,
}

/// One operation of a service's OpenAPI document as an MCP tool: its arguments are the
/// operation's parameters by name, and `body` for a JSON request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestTool {
    /// The operation's name (its `operationId`, or method and path), unique in the route.
    pub name: String,
    /// What it does, from the document's summary and description.
    pub description: Option<String>,
    /// The HTTP method, upper-case.
    pub method: String,
    /// The document's path template, like `/orders/{id}`.
    pub path: String,
    /// The JSON Schema of the tool's arguments.
    pub input_schema: serde_json::Value,
    /// Where each named argument goes.
    pub parameters: Vec<RestToolParameter>,
    /// Whether `body` is sent as the JSON request body.
    pub body: bool,
}

/// A parameter of an operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestToolParameter {
    /// Its name.
    pub name: String,
    /// `path`, `query` or `header`.
    pub location: String,
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
    /// The name in the API, the database and the snapshot.
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
    /// `http://` or `https://` base URL; the request path is appended to its path.
    pub url: String,
    /// Relative share of the traffic; 0 takes it out of rotation.
    pub weight: u32,
    /// The service whose active health check covers it, if any: proxies send it no traffic
    /// while that check finds it failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_id: Option<Uuid>,
}

/// Failures after which a request is tried again on another target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
pub enum RetryOn {
    #[serde(rename = "connect_error")]
    /// The connection to the target failed (nothing was sent).
    ConnectError,
    #[serde(rename = "502")]
    /// The target answered 502.
    BadGateway,
    #[serde(rename = "503")]
    /// The target answered 503.
    ServiceUnavailable,
    #[serde(rename = "504")]
    /// The target answered 504, or did not answer in time.
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

    /// The value of a name `as_str` gives; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What a proxy reports about itself to `POST /internal/v1/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Chosen by the proxy at start; stable for the life of the process.
    pub id: Uuid,
    /// The machine the proxy runs on.
    pub hostname: String,
    /// The address the proxy serves traffic on.
    pub address: String,
    /// The snapshot version it has loaded (0: none yet).
    pub version: i64,
    /// Seconds since the proxy started.
    pub uptime_secs: u64,
    /// The proxy's release.
    pub proxy_version: String,
    /// How it counts limits: `local` (no Redis configured), `shared` (through Redis), or
    /// `local_fallback` (Redis configured but unreachable). Older proxies do not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<String>,
}

/// A data-plane API key as the proxy sees it: its hash, never its secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Its id.
    pub id: Uuid,
    /// The tenant it belongs to.
    pub tenant_id: Uuid,
    /// Hex SHA-256 of the full secret (`tg_…`).
    pub secret_sha256: String,
    /// Route names the key may use; `*` for all of its tenant's, empty for none.
    pub routes: Vec<String>,
    /// Model names the key may call; `*` for all of its tenant's, empty for none.
    pub models: Vec<String>,
    /// Prompt API slugs the key may call; `*` for all of its tenant's, empty for none.
    pub prompt_apis: Vec<String>,
    /// MCP servers the key may call: a server's name (all its tools), `server/tool` (one
    /// tool), `*` for all of its tenant's; empty for none.
    #[serde(default)]
    pub mcp_servers: Vec<String>,
    /// Most requests a minute.
    pub requests_per_minute: Option<u32>,
    /// Most AI tokens (input and output) a minute.
    pub tokens_per_minute: Option<u32>,
    /// Most the key may spend per period.
    pub budget: Option<KeyBudget>,
    #[serde(with = "time::serde::rfc3339::option")]
    /// When the key stops working.
    pub expires_at: Option<OffsetDateTime>,
    /// The portal application the key belongs to: it reaches its approved subscriptions only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_id: Option<Uuid>,
    /// For an application's key: what its approved subscriptions reach, in other tenants too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<GrantEntry>,
}

/// An approved subscription of an application to an API product: what the application's keys
/// reach in the product's tenant, and the plan's limits (counted per subscription).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GrantEntry {
    /// The subscription.
    pub subscription_id: Uuid,
    /// The product subscribed to.
    pub product_id: Uuid,
    /// The subscribing application.
    pub application_id: Uuid,
    /// The product's tenant.
    pub tenant_id: Uuid,
    /// Route names of the product.
    pub routes: Vec<String>,
    /// Model names of the product.
    pub models: Vec<String>,
    /// Prompt API slugs of the product.
    pub prompt_apis: Vec<String>,
    /// MCP servers of the product.
    pub mcp_servers: Vec<String>,
    /// The plan's requests a minute.
    pub requests_per_minute: Option<u32>,
    /// The plan's AI tokens a minute.
    pub tokens_per_minute: Option<u32>,
    /// The plan's budget.
    pub budget: Option<KeyBudget>,
}

/// The subscription a request went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionRef {
    /// The subscription.
    pub subscription_id: Uuid,
    /// Its product.
    pub product_id: Uuid,
    /// Its application.
    pub application_id: Uuid,
}

/// A key's spending limit in integer nano-dollars per period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBudget {
    /// The limit, in nano-dollars.
    pub nanousd: i64,
    /// When the spend starts again from zero.
    pub period: BudgetPeriod,
}

/// How often a budget starts afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum BudgetPeriod {
    /// Each UTC day.
    Day,
    /// Each UTC calendar month.
    Month,
    /// Never: the budget is for the key's whole life.
    Total,
}

/// One request seen by a proxy, allowed or refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// UUID v7, so events sort by time and a replayed batch is recognised.
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    /// When the request arrived.
    pub time: OffsetDateTime,
    /// The tenant of its route or key, when known.
    pub tenant_id: Option<Uuid>,
    /// The key it presented, when it needed one.
    pub key_id: Option<Uuid>,
    /// The route it matched (REST only).
    pub route_id: Option<Uuid>,
    /// The HTTP method.
    pub method: String,
    /// The status the client got.
    pub status: u16,
    /// From arrival to the end of the response body.
    pub latency_us: u64,
    /// From sending upstream to the upstream's response headers.
    pub upstream_latency_us: Option<u64>,
    /// Request body bytes read.
    pub bytes_in: u64,
    /// Response body bytes sent.
    pub bytes_out: u64,
    /// Why a request failed, in a few stable words (`unauthorized`, `upstream_timeout`, …).
    pub error_class: Option<String>,
    /// For AI calls: what was called and what it cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai: Option<AiUsage>,
    /// For a caller with a JWT instead of a key (`key_id` is then the consumer's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ConsumerRef>,
    /// For an MCP tool call: the server and the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpUsage>,
    /// For a call through an application's subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<SubscriptionRef>,
}

/// The MCP tool a `tools/call` called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpUsage {
    /// The MCP server; absent for the tools Tollgate publishes itself (prompt APIs).
    pub server_id: Option<Uuid>,
    /// The tool's name on its server.
    pub tool: String,
}

/// Who called with a JWT: the issuer and the caller's name in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerRef {
    /// The JWT issuer's id.
    pub issuer_id: Uuid,
    /// The value of the issuer's consumer claim.
    pub name: String,
}

/// The metering of one AI call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AiUsage {
    /// The model called.
    pub model_id: Uuid,
    /// The provider that answered (or was tried last).
    pub provider_id: Option<Uuid>,
    /// The provider's model name that answered.
    pub upstream_model: Option<String>,
    /// Input tokens, cached ones included.
    pub input_tokens: u64,
    /// Input tokens read from the provider's prompt cache.
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache (Anthropic), priced apart.
    #[serde(default)]
    pub cache_write_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// True when the provider reported no usage and the counts are estimates.
    pub estimated: bool,
    /// What the call cost, in nano-dollars.
    pub cost_nanousd: i64,
    /// Time to the first byte of the answer.
    pub ttft_us: Option<u64>,
    /// Deployments tried before one answered (0: the first did).
    pub fallbacks: u32,
    /// The prompt API the call was made for.
    #[serde(default)]
    pub prompt_api_id: Option<Uuid>,
    /// The answer was streamed (server-sent events).
    pub streamed: bool,
}

/// What `GET /internal/v1/spend` answers: each budgeted key's spend in its current period,
/// from every proxy's usage the server has stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpendReport {
    /// Every key with a budget.
    pub keys: Vec<KeySpend>,
}

/// A key's spend so far in its budget period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpend {
    /// The key.
    pub key_id: Uuid,
    /// Its spend in the current period, in nano-dollars.
    pub spent_nanousd: i64,
}

/// What a proxy posts to `POST /internal/v1/usage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageBatch {
    /// The proxy that saw the events.
    pub dataplane_id: Uuid,
    /// The events, oldest first.
    pub events: Vec<UsageEvent>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bearer_token_is_read_in_any_case_and_trimmed() {
        assert_eq!(bearer_token("Bearer tg_abc"), Some("tg_abc"));
        assert_eq!(bearer_token("  BEARER   tg_abc \t"), Some("tg_abc"));
        assert_eq!(bearer_token("bearer tg_ä"), Some("tg_ä"));
        for refused in [
            "Bearer",
            "Bearer  ",
            "Basic tg_abc",
            "Bearertg_abc",
            "Bearer\ttg",
            "",
            "Bé",
        ] {
            assert_eq!(bearer_token(refused), None, "{refused:?}");
        }
    }

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
                mcp_servers: vec![],
                requests_per_minute: Some(60),
                tokens_per_minute: None,
                budget: Some(KeyBudget {
                    nanousd: 25_000_000_000,
                    period: BudgetPeriod::Month,
                }),
                expires_at: None,
                application_id: None,
                grants: vec![],
            }],
            routes: vec![],
            providers: vec![],
            models: vec![],
            prompt_apis: vec![],
            namespaces: vec![],
            egress: EgressPolicy::default(),
            services: vec![],
            jwt_issuers: vec![],
            mcp_servers: vec![],
        };
        let json = serde_json::to_string(&snapshot).unwrap_or_default();
        assert!(json.contains("\"period\":\"month\""));
        let back: Snapshot = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back, snapshot);
    }
}
