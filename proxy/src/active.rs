//! The configuration in force: a snapshot compiled into lookup structures for the hot path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Uri};
use time::OffsetDateTime;
use tollgate_protocol::{ProviderKind, RetryOn, RouteEntry, Snapshot};
use uuid::Uuid;

use crate::health::{HealthRegistry, TargetHealth};
use crate::route_match::RouteTable;

/// A snapshot ready to serve.
pub struct ActiveConfig {
    pub version: i64,
    pub generated_at: OffsetDateTime,
    pub routes: RouteTable,
    pub keys: HashMap<[u8; 32], Arc<CompiledKey>>,
    /// Models by (tenant, name).
    pub models: HashMap<(Uuid, String), Arc<CompiledModel>>,
    /// Prompt APIs by (tenant, slug).
    pub prompt_apis: HashMap<(Uuid, String), Arc<tollgate_protocol::PromptApiEntry>>,
    /// Where routes and providers may connect.
    pub egress: Arc<crate::egress::Egress>,
}

/// An AI provider ready to call.
#[derive(Debug)]
pub struct CompiledProvider {
    pub id: Uuid,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub api_version: Option<String>,
    /// Time allowed until the provider starts answering.
    pub timeout: Duration,
    /// Authentication and extra headers, ready to send.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// One way to serve a model.
#[derive(Debug)]
pub struct CompiledDeployment {
    pub provider: Arc<CompiledProvider>,
    pub model: String,
    pub weight: u32,
}

/// A model: deployment groups in priority order (fallbacks later), and its prices.
#[derive(Debug)]
pub struct CompiledModel {
    pub id: Uuid,
    pub name: String,
    pub groups: Vec<Vec<CompiledDeployment>>,
    pub prices: tollgate_protocol::ModelPrices,
}

/// An API key as the hot path needs it.
#[derive(Debug)]
pub struct CompiledKey {
    pub id: Uuid,
    pub tenant_id: Uuid,
    /// Route names the key may use; `*` means all of its tenant's, empty none.
    pub routes: HashSet<String>,
    /// Model names the key may call; `*` means all of its tenant's, empty none.
    pub models: HashSet<String>,
    /// Prompt API slugs the key may call; `*` means all of its tenant's, empty none.
    pub prompt_apis: HashSet<String>,
    pub requests_per_minute: Option<u32>,
    pub tokens_per_minute: Option<u32>,
    pub budget: Option<tollgate_protocol::KeyBudget>,
    pub expires_at: Option<OffsetDateTime>,
}

/// Whether a scope list names `name` or holds `*` (all). An empty list allows nothing.
pub fn scope_allows(scope: &HashSet<String>, name: &str) -> bool {
    scope.contains("*") || scope.contains(name)
}

/// An upstream target with its base URL taken apart.
#[derive(Debug)]
pub struct CompiledTarget {
    pub url: String,
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// The target URL's own path, without a trailing slash ("" for none).
    pub base_path: String,
    pub weight: u32,
    pub health: Arc<TargetHealth>,
}

/// A route ready to match and forward.
#[derive(Debug)]
pub struct CompiledRoute {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub label: String,
    pub name: String,
    pub hosts: Vec<String>,
    pub path: String,
    pub exact: bool,
    pub methods: Vec<Method>,
    pub strip_prefix: bool,
    pub targets: Vec<CompiledTarget>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub retry_on: Vec<RetryOn>,
    pub retry_non_idempotent: bool,
    pub require_key: bool,
    pub set_headers: Vec<(HeaderName, HeaderValue)>,
    pub remove_headers: Vec<HeaderName>,
    /// Forward the client's Tollgate key upstream (off: it is always removed).
    pub forward_key: bool,
    /// Time allowed between two pieces of the upstream's response body.
    pub body_idle_timeout: Duration,
}

impl ActiveConfig {
    /// The configuration before any snapshot arrived: serves nothing.
    pub fn empty() -> Self {
        Self {
            version: 0,
            generated_at: OffsetDateTime::UNIX_EPOCH,
            routes: RouteTable::default(),
            keys: HashMap::new(),
            models: HashMap::new(),
            prompt_apis: HashMap::new(),
            egress: Arc::new(crate::egress::Egress::new(&Default::default())),
        }
    }

    /// Compiles a snapshot; entries that cannot be used are skipped with a warning, so one bad
    /// entry never takes the others down.
    pub fn compile(snapshot: &Snapshot, health: &HealthRegistry) -> Self {
        let mut keys = HashMap::with_capacity(snapshot.keys.len());
        for key in &snapshot.keys {
            let mut hash = [0u8; 32];
            if hex::decode_to_slice(&key.secret_sha256, &mut hash).is_err() {
                tracing::warn!(key = %key.id, "skipping a key with a malformed hash");
                continue;
            }
            keys.insert(
                hash,
                Arc::new(CompiledKey {
                    id: key.id,
                    tenant_id: key.tenant_id,
                    routes: key.routes.iter().cloned().collect(),
                    models: key.models.iter().cloned().collect(),
                    prompt_apis: key.prompt_apis.iter().cloned().collect(),
                    requests_per_minute: key.requests_per_minute,
                    tokens_per_minute: key.tokens_per_minute,
                    budget: key.budget,
                    expires_at: key.expires_at,
                }),
            );
        }
        let routes: Vec<Arc<CompiledRoute>> = snapshot
            .routes
            .iter()
            .filter_map(|entry| match compile_route(entry, health) {
                Ok(route) => Some(Arc::new(route)),
                Err(why) => {
                    tracing::warn!(route = %entry.label, %why, "skipping a route");
                    None
                }
            })
            .collect();
        let in_use: HashSet<String> = routes
            .iter()
            .flat_map(|r| {
                r.targets
                    .iter()
                    .map(|t| health_key(r.id, &t.url))
                    .collect::<Vec<_>>()
            })
            .collect();
        health.retain(|url| in_use.contains(url));
        Self {
            version: snapshot.version,
            generated_at: snapshot.generated_at,
            routes: RouteTable::new(routes, &snapshot.namespaces),
            egress: Arc::new(crate::egress::Egress::new(&snapshot.egress)),
            keys,
            models: compile_models(snapshot),
            prompt_apis: snapshot
                .prompt_apis
                .iter()
                .map(|p| ((p.tenant_id, p.slug.clone()), Arc::new(p.clone())))
                .collect(),
        }
    }
}

fn compile_models(snapshot: &Snapshot) -> HashMap<(Uuid, String), Arc<CompiledModel>> {
    let mut providers = HashMap::new();
    for entry in &snapshot.providers {
        let mut headers = Vec::new();
        let key = entry.api_key.as_deref().unwrap_or_default();
        let auth = (!key.is_empty()).then(|| {
            let (name, value) = entry.kind.auth_header(key);
            (HeaderName::from_static(name), value)
        });
        // Headers the proxy manages are never taken from configuration (older entries may
        // hold them: the server refuses them now).
        let extra = entry.headers.iter().filter_map(|(name, value)| {
            let name = HeaderName::from_bytes(name.as_bytes()).ok()?;
            (!crate::headers::is_managed(&name)).then(|| (name, value.clone()))
        });
        for (name, value) in auth.into_iter().chain(extra) {
            match HeaderValue::from_str(&value) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    headers.push((name, value));
                }
                Err(_) => {
                    tracing::warn!(provider = %entry.name, "skipping a header that is not a valid value")
                }
            }
        }
        providers.insert(
            entry.id,
            Arc::new(CompiledProvider {
                id: entry.id,
                name: entry.name.clone(),
                kind: entry.kind,
                base_url: entry.base_url.trim_end_matches('/').to_string(),
                api_version: entry.api_version.clone(),
                timeout: Duration::from_millis(entry.timeout_ms.max(1)),
                headers,
            }),
        );
    }
    let mut models = HashMap::new();
    for entry in &snapshot.models {
        let mut by_priority: std::collections::BTreeMap<u32, Vec<CompiledDeployment>> =
            Default::default();
        for deployment in &entry.deployments {
            let Some(provider) = providers.get(&deployment.provider_id) else {
                tracing::warn!(model = %entry.name, "skipping a deployment on an unknown provider");
                continue;
            };
            by_priority
                .entry(deployment.priority)
                .or_default()
                .push(CompiledDeployment {
                    provider: provider.clone(),
                    model: deployment.model.clone(),
                    weight: deployment.weight,
                });
        }
        models.insert(
            (entry.tenant_id, entry.name.clone()),
            Arc::new(CompiledModel {
                id: entry.id,
                name: entry.name.clone(),
                groups: by_priority.into_values().collect(),
                prices: entry.prices,
            }),
        );
    }
    models
}

fn compile_route(entry: &RouteEntry, health: &HealthRegistry) -> Result<CompiledRoute, String> {
    let mut targets = Vec::with_capacity(entry.targets.len());
    for target in &entry.targets {
        let uri: Uri = target
            .url
            .parse()
            .map_err(|e| format!("target {}: {e}", target.url))?;
        let (Some(scheme), Some(authority)) = (uri.scheme().cloned(), uri.authority().cloned())
        else {
            return Err(format!("target {} has no scheme or host", target.url));
        };
        targets.push(CompiledTarget {
            url: target.url.clone(),
            scheme,
            authority,
            base_path: uri.path().trim_end_matches('/').to_string(),
            weight: target.weight,
            // Health is kept per route: one tenant's failures never eject another's target.
            health: health.get(&health_key(entry.id, &target.url)),
        });
    }
    if targets.iter().all(|t| t.weight == 0) {
        return Err("no target has weight".into());
    }
    let methods = entry
        .methods
        .iter()
        .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| format!("method {m}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let set_headers = entry
        .set_headers
        .iter()
        .map(|(name, value)| {
            Ok((
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|e| format!("header {name}: {e}"))?,
                HeaderValue::from_str(value).map_err(|e| format!("header {name}: {e}"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let remove_headers = entry
        .remove_headers
        .iter()
        .map(|name| {
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header {name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompiledRoute {
        id: entry.id,
        tenant_id: entry.tenant_id,
        label: entry.label.clone(),
        name: entry.name.clone(),
        hosts: entry.hosts.clone(),
        path: entry.path.clone(),
        exact: entry.path_match == tollgate_protocol::PathMatch::Exact,
        methods,
        strip_prefix: entry.strip_prefix,
        targets,
        connect_timeout: Duration::from_millis(entry.connect_timeout_ms.max(1)),
        timeout: Duration::from_millis(entry.timeout_ms.max(1)),
        retries: entry.retries,
        retry_on: entry.retry_on.clone(),
        retry_non_idempotent: entry.retry_non_idempotent,
        require_key: entry.require_key,
        set_headers,
        remove_headers,
        forward_key: entry.forward_key,
        body_idle_timeout: Duration::from_millis(entry.body_idle_timeout_ms.max(1)),
    })
}

/// Passive health is tracked per route and target.
fn health_key(route: Uuid, url: &str) -> String {
    format!("{route}|{url}")
}
