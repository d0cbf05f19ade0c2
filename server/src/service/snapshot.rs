//! Builds the configuration snapshot the proxies pull.

use sqlx::PgPool;
use time::OffsetDateTime;
use tollgate_protocol::{
    BudgetPeriod, DeploymentEntry, KeyBudget, KeyEntry, ModelEntry, ModelPrices, PromptApiEntry,
    PromptMessage, PromptVariable, ProviderEntry, RetryOn, RouteEntry, ServiceEntry, Snapshot,
    Target,
};
use uuid::Uuid;

use crate::error::ApiResult;
use crate::secret_box::SecretBox;
use crate::service::prompt_apis::PromptApiSpec;
use crate::service::providers;
use crate::service::routes::{RouteRow, StoredDestination};
use crate::service::upstreams::ServiceRow;

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    tenant_id: Uuid,
    secret_hash: Vec<u8>,
    scope_routes: Vec<String>,
    scope_models: Vec<String>,
    scope_prompt_apis: Vec<String>,
    scope_mcp_servers: Vec<String>,
    application_id: Option<Uuid>,
    requests_per_minute: Option<i32>,
    tokens_per_minute: Option<i32>,
    budget_nanousd: Option<i64>,
    budget_period: Option<BudgetPeriod>,
    expires_at: Option<OffsetDateTime>,
}

/// A route row with its tenant's slug, for the label metrics and logs use.
#[derive(sqlx::FromRow)]
struct TenantRouteRow {
    tenant_id: Uuid,
    tenant_slug: String,
    #[sqlx(flatten)]
    route: RouteRow,
}

#[derive(sqlx::FromRow)]
struct TenantServiceRow {
    tenant_slug: String,
    #[sqlx(flatten)]
    service: ServiceRow,
}

/// The tenant's services by id, for the routes that forward to them.
type Services = std::collections::HashMap<Uuid, ServiceRow>;

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    kind: tollgate_protocol::ProviderKind,
    base_url: String,
    api_version: Option<String>,
    credentials: Vec<u8>,
    timeout_ms: i64,
}

#[derive(sqlx::FromRow)]
struct ModelRow {
    id: Uuid,
    tenant_id: Uuid,
    name: String,
    deployments: sqlx::types::Json<Vec<StoredDeployment>>,
    input_nanousd_per_mtok: i64,
    cached_nanousd_per_mtok: i64,
    output_nanousd_per_mtok: i64,
    cache_write_nanousd_per_mtok: i64,
    per_request_nanousd: i64,
    max_output_tokens: Option<i32>,
}

#[derive(serde::Deserialize)]
struct StoredDeployment {
    provider_id: Uuid,
    model: String,
    weight: u32,
    priority: u32,
}

/// Reads the whole configuration in one consistent view; provider credentials are decrypted
/// for the proxies, which alone may read the snapshot.
pub(crate) async fn build(db: &PgPool, secrets: &SecretBox) -> ApiResult<Snapshot> {
    let mut tx = db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    let version: i64 = sqlx::query_scalar("SELECT version FROM config_version")
        .fetch_one(&mut *tx)
        .await?;
    let jwt_issuers = crate::service::jwt_issuers::entries(&mut tx).await?;
    let mcp_servers = crate::service::mcp_servers::entries(&mut tx, secrets).await?;
    let grants = crate::service::portal::subscriptions::grants(&mut tx).await?;
    let keys: Vec<KeyRow> = sqlx::query_as(
        "SELECT id, tenant_id, secret_hash, scope_routes, scope_models, scope_prompt_apis,
                scope_mcp_servers, application_id, requests_per_minute, tokens_per_minute, budget_nanousd, budget_period, expires_at
         FROM api_keys
         WHERE revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
         ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let routes: Vec<TenantRouteRow> = sqlx::query_as(
        "SELECT r.*, '[]'::jsonb AS named_destinations, t.slug AS tenant_slug
         FROM routes r JOIN tenants t ON t.id = r.tenant_id
         ORDER BY r.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let service_rows: Vec<TenantServiceRow> = sqlx::query_as(
        "SELECT s.*, t.slug AS tenant_slug
         FROM services s JOIN tenants t ON t.id = s.tenant_id
         ORDER BY s.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let provider_rows: Vec<ProviderRow> = sqlx::query_as(
        "SELECT id, tenant_id, name, kind, base_url, api_version, credentials, timeout_ms
         FROM providers ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let model_rows: Vec<ModelRow> = sqlx::query_as(
        "SELECT id, tenant_id, name, deployments, input_nanousd_per_mtok, cached_nanousd_per_mtok,
                output_nanousd_per_mtok, cache_write_nanousd_per_mtok, per_request_nanousd,
                (SELECT max(c.max_output_tokens) FROM price_catalog c
                 WHERE c.model IN (SELECT d->>'model' FROM jsonb_array_elements(m.deployments) d))
                    AS max_output_tokens
         FROM models m ORDER BY id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let prompt_rows: Vec<(Uuid, Uuid, i32, sqlx::types::Json<PromptApiSpec>)> = sqlx::query_as(
        "SELECT p.id, p.tenant_id, p.active_version, v.spec
         FROM prompt_apis p JOIN prompt_api_versions v ON v.prompt_api_id = p.id AND v.version = p.active_version
         ORDER BY p.id",
    )
    .fetch_all(&mut *tx)
    .await?;
    let published_tools = crate::service::openapi_docs::published(&mut tx).await?;
    let namespaces = crate::service::namespaces::all(&mut tx).await?;
    let egress = crate::service::settings::egress(&mut tx).await?;
    tx.commit().await?;

    let mut provider_entries = Vec::with_capacity(provider_rows.len());
    for row in provider_rows {
        let credentials = providers::open(secrets, row.id, &row.credentials)?;
        provider_entries.push(ProviderEntry {
            id: row.id,
            tenant_id: row.tenant_id,
            name: row.name,
            kind: row.kind,
            base_url: row.base_url,
            api_version: row.api_version,
            api_key: credentials.api_key,
            headers: credentials.headers,
            timeout_ms: row.timeout_ms.max(1).unsigned_abs(),
        });
    }
    let service_entries = service_rows
        .iter()
        .filter_map(|row| {
            let check = row.service.health_check.as_ref()?;
            Some(ServiceEntry {
                id: row.service.id,
                label: format!("{}/{}", row.tenant_slug, row.service.name),
                targets: row.service.targets.iter().map(|t| t.url.clone()).collect(),
                health_check: check.0.clone(),
            })
        })
        .collect();
    let services: Services = service_rows
        .into_iter()
        .map(|row| (row.service.id, row.service))
        .collect();
    Ok(Snapshot {
        version,
        generated_at: OffsetDateTime::now_utc(),
        keys: keys
            .into_iter()
            .map(|row| {
                let grants = row
                    .application_id
                    .and_then(|app| grants.get(&app).cloned())
                    .unwrap_or_default();
                key_entry(row, grants)
            })
            .collect(),
        routes: routes
            .into_iter()
            .map(|route| route_entry(route, &services, &published_tools))
            .collect(),
        services: service_entries,
        providers: provider_entries,
        models: model_rows.into_iter().map(model_entry).collect(),
        prompt_apis: prompt_rows
            .into_iter()
            .map(|(id, tenant_id, version, spec)| prompt_api_entry(id, tenant_id, version, spec.0))
            .collect(),
        namespaces,
        egress,
        jwt_issuers,
        mcp_servers,
    })
}

fn key_entry(row: KeyRow, grants: Vec<tollgate_protocol::GrantEntry>) -> KeyEntry {
    let positive = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
    let period = row.budget_period;
    KeyEntry {
        id: row.id,
        tenant_id: row.tenant_id,
        secret_sha256: hex::encode(row.secret_hash),
        routes: row.scope_routes,
        models: row.scope_models,
        prompt_apis: row.scope_prompt_apis,
        mcp_servers: row.scope_mcp_servers,
        requests_per_minute: positive(row.requests_per_minute),
        tokens_per_minute: positive(row.tokens_per_minute),
        budget: row
            .budget_nanousd
            .zip(period)
            .map(|(nanousd, period)| KeyBudget { nanousd, period }),
        expires_at: row.expires_at,
        application_id: row.application_id,
        grants,
    }
}

/// A route's targets when it forwards to services: each destination's share split over its
/// targets by their weights (scaled so small shares keep their proportions), and the longest
/// connect timeout among the services.
fn service_targets(
    destinations: &[StoredDestination],
    services: &Services,
) -> (Vec<Target>, Option<u64>) {
    /// A destination's weight becomes this many parts, shared by its targets.
    const PARTS: u64 = 1000;
    let mut targets = Vec::new();
    let mut connect_timeout = None;
    for destination in destinations {
        let Some(service) = services.get(&destination.service_id) else {
            continue;
        };
        connect_timeout =
            connect_timeout.max(Some(service.connect_timeout_ms.max(1).unsigned_abs()));
        let group: Vec<_> = service
            .targets
            .iter()
            .filter(|t| destination.subset.is_none() || t.subset == destination.subset)
            .collect();
        let total: u64 = group.iter().map(|t| u64::from(t.weight)).sum();
        for target in group.into_iter().filter(|t| t.weight > 0) {
            let share = u64::from(destination.weight) * PARTS * u64::from(target.weight) / total;
            targets.push(Target {
                url: target.url.clone(),
                weight: u32::try_from(share.max(u64::from(destination.weight > 0)))
                    .unwrap_or(u32::MAX),
                // Only a checked target needs its service: proxies look up what the checks found.
                service_id: service.health_check.is_some().then_some(service.id),
            });
        }
    }
    (targets, connect_timeout)
}

fn route_entry(
    TenantRouteRow {
        tenant_id,
        tenant_slug,
        route: row,
    }: TenantRouteRow,
    services: &Services,
    published_tools: &std::collections::HashMap<Uuid, Vec<tollgate_protocol::RestTool>>,
) -> RouteEntry {
    // A route publishes the tools of the service it forwards to (the first, when it splits).
    let tools = row
        .destinations
        .first()
        .and_then(|d| published_tools.get(&d.service_id))
        .cloned()
        .unwrap_or_default();
    let (targets, connect_timeout_ms) = if row.destinations.is_empty() {
        let inline = row.targets.0.into_iter().map(|t| Target {
            url: t.url,
            weight: t.weight,
            service_id: None,
        });
        (
            inline.collect(),
            row.connect_timeout_ms.max(1).unsigned_abs(),
        )
    } else {
        let (targets, connect) = service_targets(&row.destinations, services);
        (
            targets,
            connect.unwrap_or(row.connect_timeout_ms.max(1).unsigned_abs()),
        )
    };
    let retry_on = row
        .retry_on
        .iter()
        .filter_map(|r| RetryOn::parse(r))
        .collect();
    RouteEntry {
        id: row.id,
        tenant_id,
        label: format!("{tenant_slug}/{}", row.name),
        name: row.name,
        hosts: row.hosts,
        path: row.path,
        path_match: row.path_match,
        methods: row.methods,
        strip_prefix: row.strip_prefix,
        targets,
        connect_timeout_ms,
        timeout_ms: row.timeout_ms.max(1).unsigned_abs(),
        retries: row.retries.max(0).unsigned_abs(),
        retry_on,
        retry_non_idempotent: row.retry_non_idempotent,
        require_key: row.require_key,
        set_headers: row.set_headers.0,
        remove_headers: row.remove_headers,
        forward_key: row.forward_key,
        body_idle_timeout_ms: row.body_idle_timeout_ms.max(1).unsigned_abs(),
        tools,
    }
}

fn model_entry(row: ModelRow) -> ModelEntry {
    ModelEntry {
        id: row.id,
        tenant_id: row.tenant_id,
        name: row.name,
        deployments: row
            .deployments
            .0
            .into_iter()
            .map(|d| DeploymentEntry {
                provider_id: d.provider_id,
                model: d.model,
                weight: d.weight,
                priority: d.priority,
            })
            .collect(),
        prices: ModelPrices {
            input_per_mtok: row.input_nanousd_per_mtok,
            cached_input_per_mtok: row.cached_nanousd_per_mtok,
            output_per_mtok: row.output_nanousd_per_mtok,
            cache_write_per_mtok: row.cache_write_nanousd_per_mtok,
            per_request: row.per_request_nanousd,
        },
        max_output_tokens: row.max_output_tokens.and_then(|n| u32::try_from(n).ok()),
    }
}

fn prompt_api_entry(
    id: Uuid,
    tenant_id: Uuid,
    version: i32,
    spec: PromptApiSpec,
) -> PromptApiEntry {
    PromptApiEntry {
        id,
        tenant_id,
        slug: spec.slug,
        description: spec.description,
        version,
        model: spec.model,
        messages: spec
            .messages
            .into_iter()
            .map(|m| PromptMessage {
                role: m.role,
                content: m.content,
            })
            .collect(),
        variables: spec
            .variables
            .into_iter()
            .map(|v| PromptVariable {
                name: v.name,
                kind: v.kind,
                required: v.required,
                default: v.default,
                values: v.values,
                description: v.description,
            })
            .collect(),
        temperature: spec.parameters.temperature,
        max_tokens: spec.parameters.max_tokens,
        json_output: spec.parameters.response_format.as_deref() == Some("json_object"),
    }
}
