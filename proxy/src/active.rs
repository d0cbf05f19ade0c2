//! The configuration in force: a snapshot compiled into lookup structures for the hot path.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, HeaderValue};
use rustc_hash::FxHashMap;
use time::OffsetDateTime;
use tollgate_protocol::{ProviderKind, Snapshot};
use uuid::Uuid;

use crate::attempts::Candidate;
use crate::by_tenant::ByTenant;
use crate::health::{HealthRegistry, TargetHealth};
use crate::route::{self, CompiledRoute};
use crate::route_match::RouteTable;
use crate::scope::Scope;

/// A snapshot ready to serve.
pub(crate) struct ActiveConfig {
    pub(crate) version: i64,
    pub(crate) generated_at: OffsetDateTime,
    pub(crate) routes: RouteTable,
    /// Keys by the SHA-256 of their secret. FxHash, not SipHash: the digests are uniform
    /// already, and only the snapshot inserts, so a client cannot crowd a bucket.
    pub(crate) keys: FxHashMap<[u8; 32], Arc<CompiledKey>>,
    /// Models by tenant and name.
    pub(crate) models: ByTenant<Arc<CompiledModel>>,
    /// Prompt APIs by tenant and slug.
    pub(crate) prompt_apis: ByTenant<Arc<tollgate_protocol::PromptApiEntry>>,
    /// Where routes and providers may connect.
    pub(crate) egress: Arc<crate::egress::Egress>,
    /// Issuers whose JWTs callers may present instead of a key.
    pub(crate) jwt_issuers: Vec<Arc<crate::jwt_issuer::CompiledIssuer>>,
    /// Routes whose service publishes its operations as MCP tools.
    pub(crate) tool_routes: Vec<Arc<CompiledRoute>>,
    /// Remote MCP servers by tenant and name.
    pub(crate) mcp_servers: ByTenant<Arc<crate::mcp::server::McpServer>>,
}

/// An AI provider ready to call.
#[derive(Debug)]
pub(crate) struct CompiledProvider {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    /// Where its requests go, made once from its base URL (`None`: the URL is unusable, and
    /// every request to it fails with that reason).
    pub(crate) target: Option<ProviderTarget>,
    pub(crate) api_version: Option<String>,
    /// Time allowed until the provider starts answering.
    pub(crate) timeout: Duration,
    /// Authentication and extra headers, ready to send.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

/// A provider's base URL taken apart once, so that a request builds only its path.
#[derive(Debug)]
pub(crate) struct ProviderTarget {
    pub(crate) origin: crate::client::Origin,
    /// `Host` for its requests, as the client would make it.
    pub(crate) host: HeaderValue,
    /// The base URL's path without a trailing `/` (empty for the root).
    pub(crate) base_path: String,
}

/// One way to serve a model.
#[derive(Debug)]
pub(crate) struct CompiledDeployment {
    pub(crate) provider: Arc<CompiledProvider>,
    pub(crate) model: String,
    /// `model` as a JSON string, for the relayed request bodies.
    pub(crate) model_json: Box<[u8]>,
    pub(crate) weight: u32,
    /// Passive health, per model, provider and provider model.
    pub(crate) health: Arc<TargetHealth>,
}

impl Candidate for CompiledDeployment {
    fn weight(&self) -> u32 {
        self.weight
    }

    fn health(&self) -> &TargetHealth {
        &self.health
    }
}

/// A model: deployment groups in priority order (fallbacks later), and its prices.
#[derive(Debug)]
pub(crate) struct CompiledModel {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) groups: Vec<Vec<CompiledDeployment>>,
    pub(crate) prices: tollgate_protocol::ModelPrices,
    /// The most output its deployments may produce in one call, where known.
    pub(crate) max_output_tokens: Option<u32>,
}

/// An API key as the hot path needs it.
#[derive(Debug)]
pub(crate) struct CompiledKey {
    pub(crate) id: Uuid,
    pub(crate) tenant_id: Uuid,
    /// Route names the key may use; `*` means all of its tenant's, empty none.
    pub(crate) routes: Scope,
    /// Model names the key may call; `*` means all of its tenant's, empty none.
    pub(crate) models: Scope,
    /// Prompt API slugs the key may call; `*` means all of its tenant's, empty none.
    pub(crate) prompt_apis: Scope,
    /// MCP servers (`server`, or `server/tool` for one tool) the key may call; `*` all.
    pub(crate) mcp_servers: Scope,
    pub(crate) requests_per_minute: Option<u32>,
    pub(crate) tokens_per_minute: Option<u32>,
    pub(crate) budget: Option<tollgate_protocol::KeyBudget>,
    pub(crate) expires_at: Option<OffsetDateTime>,
    /// For a caller with a JWT: who it is.
    pub(crate) consumer: Option<tollgate_protocol::ConsumerRef>,
    /// The portal application of an application's key (it reaches its subscriptions only).
    pub(crate) application: Option<Uuid>,
    /// For an application's key: what each approved subscription reaches, as keys of their
    /// own (their ids are the subscriptions', so plan limits and budgets count per subscription).
    pub(crate) grants: Vec<CompiledKey>,
    /// Set on such a subscription's key: the key it belongs to, and the subscription.
    pub(crate) grant: Option<GrantRef>,
}

/// The key and subscription a subscription's key stands for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GrantRef {
    /// The application's key that was presented.
    pub(crate) key_id: Uuid,
    pub(crate) subscription: tollgate_protocol::SubscriptionRef,
}

impl CompiledKey {
    /// What the key reaches through: itself (its own tenant's), then each of its subscriptions.
    pub(crate) fn reaches(&self) -> impl Iterator<Item = &CompiledKey> {
        std::iter::once(self).chain(&self.grants)
    }

    /// The key usage events name: the presented key, also for a subscription's reach.
    pub(crate) fn presented_id(&self) -> Uuid {
        self.grant.map_or(self.id, |g| g.key_id)
    }

    /// The subscription's reach that serves this tenant's route, if one does.
    pub(crate) fn grant_for_route(&self, tenant: Uuid, route: &str) -> Option<&CompiledKey> {
        self.grants
            .iter()
            .find(|g| g.tenant_id == tenant && g.routes.allows(route))
    }

    /// The subscription's reach that serves a model or prompt API of this name (`prompt`:
    /// a prompt API), with the config to know which tenant has it.
    pub(crate) fn grant_for_ai(
        &self,
        config: &ActiveConfig,
        name: &str,
        prompt: bool,
    ) -> Option<&CompiledKey> {
        self.grants.iter().find(|g| {
            if prompt {
                g.prompt_apis.allows(name) && config.prompt_apis.contains(g.tenant_id, name)
            } else {
                g.models.allows(name) && config.models.contains(g.tenant_id, name)
            }
        })
    }
}

/// A subscription's reach as a key: the product's contents, the plan's limits.
fn grant_key(
    key: &tollgate_protocol::KeyEntry,
    grant: &tollgate_protocol::GrantEntry,
) -> CompiledKey {
    CompiledKey {
        id: grant.subscription_id,
        tenant_id: grant.tenant_id,
        routes: grant.routes.iter().cloned().collect(),
        models: grant.models.iter().cloned().collect(),
        prompt_apis: grant.prompt_apis.iter().cloned().collect(),
        mcp_servers: grant.mcp_servers.iter().cloned().collect(),
        requests_per_minute: grant.requests_per_minute,
        tokens_per_minute: grant.tokens_per_minute,
        budget: grant.budget,
        expires_at: key.expires_at,
        consumer: None,
        application: None,
        grants: Vec::new(),
        grant: Some(GrantRef {
            key_id: key.id,
            subscription: tollgate_protocol::SubscriptionRef {
                subscription_id: grant.subscription_id,
                product_id: grant.product_id,
                application_id: grant.application_id,
            },
        }),
    }
}

impl ActiveConfig {
    /// The budget of every key that has one, by key id.
    pub(crate) fn key_budgets(&self) -> HashMap<Uuid, tollgate_protocol::KeyBudget> {
        self.keys
            .values()
            .flat_map(|key| key.reaches())
            .filter_map(|key| Some((key.id, key.budget?)))
            .collect()
    }

    /// The configuration before any snapshot arrived: serves nothing.
    pub(crate) fn empty() -> Self {
        Self {
            version: 0,
            generated_at: OffsetDateTime::UNIX_EPOCH,
            routes: RouteTable::default(),
            keys: FxHashMap::default(),
            models: ByTenant::default(),
            prompt_apis: ByTenant::default(),
            egress: Arc::new(crate::egress::Egress::new(&Default::default())),
            jwt_issuers: Vec::new(),
            mcp_servers: ByTenant::default(),
            tool_routes: Vec::new(),
        }
    }

    /// Compiles a snapshot; entries that cannot be used are skipped with a warning, so one bad
    /// entry never takes the others down.
    pub(crate) fn compile(
        snapshot: &Snapshot,
        health: &HealthRegistry,
        metrics: &crate::metrics::Metrics,
    ) -> Self {
        let mut keys = FxHashMap::with_capacity_and_hasher(snapshot.keys.len(), Default::default());
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
                    mcp_servers: key.mcp_servers.iter().cloned().collect(),
                    requests_per_minute: key.requests_per_minute,
                    tokens_per_minute: key.tokens_per_minute,
                    budget: key.budget,
                    expires_at: key.expires_at,
                    consumer: None,
                    application: key.application_id,
                    grants: key.grants.iter().map(|g| grant_key(key, g)).collect(),
                    grant: None,
                }),
            );
        }
        let routes: Vec<Arc<CompiledRoute>> = snapshot
            .routes
            .iter()
            .filter_map(|entry| match route::compile(entry, health, metrics) {
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
                    .map(|t| route::health_key(r.id, &t.url))
                    .collect::<Vec<_>>()
            })
            .chain(snapshot.models.iter().flat_map(|m| {
                m.deployments
                    .iter()
                    .map(|d| deployment_health_key(m.id, d))
                    .collect::<Vec<_>>()
            }))
            .collect();
        health.retain(|key| in_use.contains(key));
        let tool_routes = routes
            .iter()
            .filter(|r| !r.tools.is_empty())
            .cloned()
            .collect();
        Self {
            tool_routes,
            version: snapshot.version,
            generated_at: snapshot.generated_at,
            routes: RouteTable::new(routes, &snapshot.namespaces),
            egress: Arc::new(crate::egress::Egress::new(&snapshot.egress)),
            keys,
            models: compile_models(snapshot, health),
            prompt_apis: snapshot
                .prompt_apis
                .iter()
                .map(|p| ((p.tenant_id, p.slug.clone()), Arc::new(p.clone())))
                .collect(),
            jwt_issuers: snapshot
                .jwt_issuers
                .iter()
                .filter_map(
                    |entry| match crate::jwt_issuer::CompiledIssuer::compile(entry) {
                        Ok(issuer) => Some(Arc::new(issuer)),
                        Err(why) => {
                            tracing::warn!(issuer = %entry.name, %why, "skipping a JWT issuer");
                            None
                        }
                    },
                )
                .collect(),
            mcp_servers: snapshot
                .mcp_servers
                .iter()
                .filter_map(
                    |entry| match crate::mcp::server::McpServer::compile(entry) {
                        Ok(server) => {
                            Some(((entry.tenant_id, entry.name.clone()), Arc::new(server)))
                        }
                        Err(why) => {
                            tracing::warn!(server = %entry.name, %why, "skipping an MCP server");
                            None
                        }
                    },
                )
                .collect(),
        }
    }
}

fn compile_models(snapshot: &Snapshot, health: &HealthRegistry) -> ByTenant<Arc<CompiledModel>> {
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
                target: target_of(&entry.base_url),
                api_version: entry.api_version.clone(),
                timeout: Duration::from_millis(entry.timeout_ms.max(1)),
                headers,
            }),
        );
    }
    let compile_model = |entry: &tollgate_protocol::ModelEntry| {
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
                    model_json: serde_json::to_vec(&deployment.model)
                        .unwrap_or_default()
                        .into(),
                    weight: deployment.weight,
                    health: health.get(&deployment_health_key(entry.id, deployment)),
                });
        }
        Arc::new(CompiledModel {
            id: entry.id,
            name: entry.name.clone(),
            groups: by_priority.into_values().collect(),
            prices: entry.prices,
            max_output_tokens: entry.max_output_tokens,
        })
    };
    snapshot
        .models
        .iter()
        .map(|entry| ((entry.tenant_id, entry.name.clone()), compile_model(entry)))
        .collect()
}

/// Passive health of a deployment is tracked per model, provider and provider model.
fn deployment_health_key(model: Uuid, deployment: &tollgate_protocol::DeploymentEntry) -> String {
    format!("{model}|{}|{}", deployment.provider_id, deployment.model)
}

/// A provider base URL's origin, `Host` and path; `None` unless it is an absolute http(s) URL.
fn target_of(url: &str) -> Option<ProviderTarget> {
    let uri: http::Uri = url.parse().ok()?;
    let origin =
        crate::client::Origin::new(uri.scheme()?.clone(), uri.authority()?.clone()).ok()?;
    Some(ProviderTarget {
        host: origin.host_header().ok()?,
        origin,
        base_path: uri.path().trim_end_matches('/').to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::target_of;

    #[test]
    fn a_provider_base_url_is_taken_apart_once() {
        let target = target_of("https://example.test/openai/v1/").expect("usable");
        assert_eq!(target.base_path, "/openai/v1");
        assert_eq!(target.host, "example.test");
        assert_eq!(target.origin.authority().as_str(), "example.test");

        let target = target_of("http://127.0.0.1:8080").expect("usable");
        assert_eq!(target.base_path, "");
        assert_eq!(target.host, "127.0.0.1:8080");

        assert!(target_of("example.test/v1").is_none(), "no scheme");
        assert!(target_of("ftp://example.test").is_none(), "not http");
    }
}
