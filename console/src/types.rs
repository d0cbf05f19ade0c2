//! The console's view of the admin API's JSON: only the fields pages show or send.

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) use tollgate_protocol::Role;

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Me {
    pub id: String,
    pub email: String,
    pub platform_admin: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Tenant {
    pub name: String,
    pub slug: String,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct TenantView {
    #[serde(flatten)]
    pub tenant: Tenant,
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub joined_at: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct Scopes {
    pub routes: Vec<String>,
    pub models: Vec<String>,
    pub prompt_apis: Vec<String>,
    #[serde(default)]
    pub mcp_servers: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct Limits {
    pub requests_per_minute: Option<i64>,
    pub tokens_per_minute: Option<i64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Budget {
    pub amount_usd: String,
    pub period: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ApiKey {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub status: String,
    pub scopes: Scopes,
    pub limits: Limits,
    pub budget: Option<Budget>,
    pub budget_spent_usd: Option<String>,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub created_at: String,
}

/// A credential just created, with its secret (shown this once).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Created<T> {
    #[serde(flatten)]
    pub item: T,
    pub secret: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AdminToken {
    pub id: String,
    pub name: String,
    pub prefix: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Provider {
    pub id: String,
    pub name: String,
    pub kind: tollgate_protocol::ProviderKind,
    pub base_url: String,
    pub api_version: Option<String>,
    pub key_hint: String,
    pub header_names: Vec<String>,
    pub timeout: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderTest {
    pub ok: bool,
    pub status: Option<u16>,
    pub latency_ms: u64,
    pub detail: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Deployment {
    pub provider: String,
    pub model: String,
    pub weight: u32,
    pub priority: u32,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct Prices {
    pub input_per_mtok: String,
    pub cached_input_per_mtok: Option<String>,
    pub output_per_mtok: String,
    pub cache_write_per_mtok: Option<String>,
    pub per_request: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Model {
    pub id: String,
    pub name: String,
    pub deployments: Vec<Deployment>,
    pub prices: Prices,
    pub price_source: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct TemplateMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Variable {
    pub name: String,
    #[serde(rename = "type", default = "string_type")]
    pub kind: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn string_type() -> String {
    "string".into()
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub(crate) struct Parameters {
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    pub response_format: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct PromptApiSpec {
    pub slug: String,
    pub description: Option<String>,
    pub model: String,
    pub messages: Vec<TemplateMessage>,
    #[serde(default)]
    pub variables: Vec<Variable>,
    #[serde(default)]
    pub parameters: Parameters,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PromptApiVersion {
    pub version: i32,
    pub created_at: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct PromptApi {
    pub id: String,
    #[serde(flatten)]
    pub spec: PromptApiSpec,
    pub version: i32,
    pub versions: Vec<PromptApiVersion>,
    pub updated_at: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Target {
    pub url: String,
    pub weight: u32,
}

/// A share of a route's traffic for a service or one of its subsets.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Destination {
    pub service: String,
    pub subset: Option<String>,
    pub weight: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct RouteSpec {
    pub name: String,
    pub hosts: Vec<String>,
    pub path: String,
    #[serde(rename = "match")]
    pub path_match: String,
    pub methods: Vec<String>,
    pub strip_prefix: bool,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub destinations: Vec<Destination>,
    pub timeout: Option<String>,
    pub connect_timeout: Option<String>,
    pub retries: u32,
    pub require_key: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ServiceTarget {
    pub url: String,
    pub weight: u32,
    pub subset: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct HealthCheck {
    pub path: String,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Service {
    pub id: String,
    pub name: String,
    pub targets: Vec<ServiceTarget>,
    pub connect_timeout: Option<String>,
    pub health_check: Option<HealthCheck>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Route {
    pub id: String,
    #[serde(flatten)]
    pub spec: RouteSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub(crate) struct UsageStats {
    pub requests: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ModelCost {
    pub model_id: String,
    pub cost_usd: String,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SeriesPoint {
    pub time: String,
    #[serde(flatten)]
    pub stats: UsageStats,
    pub cost_by_model: Vec<ModelCost>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct GroupStats {
    pub id: Option<String>,
    pub name: Option<String>,
    #[serde(flatten)]
    pub stats: UsageStats,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UsageSummary {
    pub total: UsageStats,
    pub series: Vec<SeriesPoint>,
    pub by_key: Vec<GroupStats>,
    pub by_model: Vec<GroupStats>,
    #[serde(default)]
    pub by_tool: Vec<ToolStats>,
}

/// MCP tool calls of one tool.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ToolStats {
    pub server: Option<String>,
    pub tool: String,
    #[serde(flatten)]
    pub stats: UsageStats,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UsageRecord {
    pub id: String,
    pub time: String,
    pub key_id: Option<String>,
    pub route_id: Option<String>,
    pub method: String,
    pub status: i64,
    pub latency_us: i64,
    pub error_class: Option<String>,
    pub model_id: Option<String>,
    pub upstream_model: Option<String>,
    pub input_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    #[serde(default)]
    pub cache_write_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    pub tokens_estimated: Option<bool>,
    pub cost_usd: Option<String>,
    #[serde(default)]
    pub mcp_server_id: Option<String>,
    #[serde(default)]
    pub mcp_tool: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct UsagePage {
    pub events: Vec<UsageRecord>,
    pub next_before: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct AuditEntry {
    pub time: String,
    pub actor_email: Option<String>,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    pub details: Value,
}
