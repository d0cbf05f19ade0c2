//! Usage summaries: totals, a time series, and breakdowns by key, route, model, provider and
//! MCP tool,
//! added up from the hourly rollups.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::{OffsetDateTime, Time};
use tollgate_protocol::NanoUsd;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub(crate) use super::counters::UsageStats;
use super::counters::{Counters, BUCKETS};
use super::log::time_range;
use crate::access::TenantAccess;
use crate::error::ApiResult;

/// The MCP server names under which the proxy publishes prompt APIs and REST routes as tools.
const PROMPT_APIS_SERVER: &str = "prompt-apis";
const REST_APIS_SERVER: &str = "rest-apis";

/// Time buckets of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Granularity {
    Hour,
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct SummaryQuery {
    /// Start (RFC 3339); default 24 hours ago.
    pub(crate) from: Option<String>,
    /// End (RFC 3339); default now.
    pub(crate) to: Option<String>,
    /// `hour` (default) or `day`.
    pub(crate) bucket: Option<Granularity>,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SeriesPoint {
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) time: OffsetDateTime,
    #[serde(flatten)]
    pub(crate) stats: UsageStats,
    /// This bucket's cost split by model (AI calls only).
    pub(crate) cost_by_model: Vec<ModelCost>,
}

/// The cost of one model's calls.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelCost {
    pub(crate) model_id: Uuid,
    /// USD (exact decimal).
    pub(crate) cost_usd: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct GroupStats {
    /// The key's or route's id; absent for requests without one (refused before a key was known).
    pub(crate) id: Option<Uuid>,
    /// Its name, if it still exists.
    pub(crate) name: Option<String>,
    #[serde(flatten)]
    pub(crate) stats: UsageStats,
}

/// Usage of a tenant over a time range.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UsageSummary {
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) to: OffsetDateTime,
    pub(crate) bucket: Granularity,
    pub(crate) total: UsageStats,
    pub(crate) series: Vec<SeriesPoint>,
    pub(crate) by_key: Vec<GroupStats>,
    pub(crate) by_route: Vec<GroupStats>,
    pub(crate) by_model: Vec<GroupStats>,
    pub(crate) by_provider: Vec<GroupStats>,
    /// MCP tool calls by server and tool.
    pub(crate) by_tool: Vec<ToolStats>,
    /// Calls through subscriptions, by product (this tenant's products).
    pub(crate) by_product: Vec<GroupStats>,
    /// Calls through subscriptions, by subscribing application (`name` is `application
    /// (tenant)`).
    pub(crate) by_application: Vec<GroupStats>,
}

/// The calls of one MCP tool.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ToolStats {
    /// The MCP server's id; absent for the tools Tollgate publishes (prompt APIs).
    pub(crate) server_id: Option<Uuid>,
    /// The server's name (`prompt-apis` for prompt APIs, `rest-apis` for REST routes' operations),
    /// if it still exists.
    pub(crate) server: Option<String>,
    /// The tool's name on its server.
    pub(crate) tool: String,
    #[serde(flatten)]
    pub(crate) stats: UsageStats,
}

/// An hourly rollup as stored.
#[derive(sqlx::FromRow)]
struct RollupRow {
    hour: OffsetDateTime,
    key_id: Uuid,
    route_id: Uuid,
    requests: i64,
    client_errors: i64,
    server_errors: i64,
    latency_sum_us: i64,
    latency_buckets: Vec<i64>,
    bytes_in: i64,
    bytes_out: i64,
    model_id: Uuid,
    provider_id: Uuid,
    mcp_server_id: Uuid,
    mcp_tool: String,
    subscription_id: Uuid,
    input_tokens: i64,
    cached_input_tokens: i64,
    output_tokens: i64,
    cost_nanousd: i64,
}

impl RollupRow {
    fn counters(&self) -> Counters {
        let mut buckets = [0; BUCKETS];
        for (bucket, count) in buckets.iter_mut().zip(&self.latency_buckets) {
            *bucket = *count;
        }
        Counters {
            requests: self.requests,
            client_errors: self.client_errors,
            server_errors: self.server_errors,
            latency_sum_us: self.latency_sum_us,
            buckets,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            output_tokens: self.output_tokens,
            cost_nanousd: self.cost_nanousd,
        }
    }
}

pub(crate) async fn summary(
    db: &PgPool,
    access: &TenantAccess,
    query: &SummaryQuery,
) -> ApiResult<UsageSummary> {
    let (from, to) = time_range(query.from.as_deref(), query.to.as_deref())?;
    let bucket = query.bucket.unwrap_or(Granularity::Hour);
    let rows: Vec<RollupRow> = sqlx::query_as(
        "SELECT hour, key_id, route_id, requests, client_errors, server_errors, latency_sum_us,
                latency_buckets, bytes_in, bytes_out, model_id, provider_id, input_tokens,
                cached_input_tokens, output_tokens, cost_nanousd, mcp_server_id, mcp_tool,
                subscription_id
         FROM usage_hourly
         WHERE tenant_id = $1 AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3",
    )
    .bind(access.tenant.id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;

    let mut total = Counters::default();
    let mut series: BTreeMap<OffsetDateTime, Counters> = BTreeMap::new();
    let mut by_key: BTreeMap<Uuid, Counters> = BTreeMap::new();
    let mut by_route: BTreeMap<Uuid, Counters> = BTreeMap::new();
    let mut by_model: BTreeMap<Uuid, Counters> = BTreeMap::new();
    let mut by_provider: BTreeMap<Uuid, Counters> = BTreeMap::new();
    // By server, whether a REST route served it (Tollgate's own tools have no server), tool.
    let mut by_tool: BTreeMap<(Uuid, bool, &str), Counters> = BTreeMap::new();
    let mut series_cost: BTreeMap<(OffsetDateTime, Uuid), i64> = BTreeMap::new();
    let mut by_subscription: BTreeMap<Uuid, Counters> = BTreeMap::new();
    for row in &rows {
        let counters = row.counters();
        let time = match bucket {
            Granularity::Hour => row.hour,
            Granularity::Day => row.hour.replace_time(Time::MIDNIGHT),
        };
        if !row.model_id.is_nil() {
            by_model.entry(row.model_id).or_default().add(&counters);
            by_provider
                .entry(row.provider_id)
                .or_default()
                .add(&counters);
            *series_cost.entry((time, row.model_id)).or_default() += row.cost_nanousd;
        }
        if !row.mcp_tool.is_empty() {
            by_tool
                .entry((
                    row.mcp_server_id,
                    !row.route_id.is_nil(),
                    row.mcp_tool.as_str(),
                ))
                .or_default()
                .add(&counters);
        }
        if !row.subscription_id.is_nil() {
            by_subscription
                .entry(row.subscription_id)
                .or_default()
                .add(&counters);
        }
        total.add(&counters);
        series.entry(time).or_default().add(&counters);
        by_key.entry(row.key_id).or_default().add(&counters);
        by_route.entry(row.route_id).or_default().add(&counters);
    }
    let mut key_names = names(db, "api_keys", access.tenant.id).await?;
    // Callers with a JWT count as keys of their own, named after their issuer's claim.
    for (id, name) in names(db, "consumers", access.tenant.id).await? {
        key_names.insert(id, format!("jwt:{name}"));
    }
    let route_names = names(db, "routes", access.tenant.id).await?;
    let model_names = names(db, "models", access.tenant.id).await?;
    let provider_names = names(db, "providers", access.tenant.id).await?;
    let server_names = names(db, "mcp_servers", access.tenant.id).await?;
    let mut by_tool: Vec<ToolStats> = by_tool
        .into_iter()
        .map(|((server_id, rest, tool), acc)| ToolStats {
            server_id: (!server_id.is_nil()).then_some(server_id),
            server: match (server_id.is_nil(), rest) {
                (false, _) => server_names.get(&server_id).cloned(),
                (true, true) => Some(REST_APIS_SERVER.to_string()),
                (true, false) => Some(PROMPT_APIS_SERVER.to_string()),
            },
            tool: tool.to_string(),
            stats: acc.stats(),
        })
        .collect();
    by_tool.sort_by_key(|group| std::cmp::Reverse(group.stats.requests));
    let (by_product, by_application, product_names, application_names) =
        by_product_and_application(db, by_subscription).await?;
    let groups = |groups: BTreeMap<Uuid, Counters>, names: &BTreeMap<Uuid, String>| {
        let mut out: Vec<GroupStats> = groups
            .into_iter()
            .map(|(id, acc)| GroupStats {
                id: (!id.is_nil()).then_some(id),
                name: names.get(&id).cloned(),
                stats: acc.stats(),
            })
            .collect();
        out.sort_by_key(|group| std::cmp::Reverse(group.stats.requests));
        out
    };
    Ok(UsageSummary {
        from,
        to,
        bucket,
        total: total.stats(),
        series: series
            .into_iter()
            .map(|(time, acc)| SeriesPoint {
                time,
                stats: acc.stats(),
                cost_by_model: series_cost
                    .range((time, Uuid::nil())..=(time, Uuid::max()))
                    .map(|((_, model_id), nanos)| ModelCost {
                        model_id: *model_id,
                        cost_usd: NanoUsd(*nanos).to_string(),
                    })
                    .collect(),
            })
            .collect(),
        by_key: groups(by_key, &key_names),
        by_route: groups(by_route, &route_names),
        by_model: groups(by_model, &model_names),
        by_provider: groups(by_provider, &provider_names),
        by_tool,
        by_product: groups(by_product, &product_names),
        by_application: groups(by_application, &application_names),
    })
}

/// Counters of subscriptions added up by product and by application, with their names.
async fn by_product_and_application(
    db: &PgPool,
    by_subscription: BTreeMap<Uuid, Counters>,
) -> ApiResult<(
    BTreeMap<Uuid, Counters>,
    BTreeMap<Uuid, Counters>,
    BTreeMap<Uuid, String>,
    BTreeMap<Uuid, String>,
)> {
    let ids: Vec<Uuid> = by_subscription.keys().copied().collect();
    let rows: Vec<(Uuid, Uuid, String, Uuid, String)> = sqlx::query_as(
        "SELECT s.id, p.id, p.title, a.id, a.name || ' (' || t.slug || ')'
         FROM subscriptions s JOIN api_products p ON p.id = s.product_id
         JOIN applications a ON a.id = s.application_id JOIN tenants t ON t.id = a.tenant_id
         WHERE s.id = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(db)
    .await?;
    let mut by_product: BTreeMap<Uuid, Counters> = BTreeMap::new();
    let mut by_application: BTreeMap<Uuid, Counters> = BTreeMap::new();
    let mut product_names = BTreeMap::new();
    let mut application_names = BTreeMap::new();
    for (subscription, product, product_name, application, application_name) in rows {
        if let Some(counters) = by_subscription.get(&subscription) {
            by_product.entry(product).or_default().add(counters);
            by_application.entry(application).or_default().add(counters);
        }
        product_names.insert(product, product_name);
        application_names.insert(application, application_name);
    }
    Ok((by_product, by_application, product_names, application_names))
}

/// An application's usage through its subscriptions, whichever tenants' products they reach.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApplicationUsage {
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) to: OffsetDateTime,
    pub(crate) total: UsageStats,
    pub(crate) series: Vec<SeriesPoint>,
    pub(crate) by_product: Vec<GroupStats>,
}

/// The usage of one of the tenant's applications.
pub(crate) async fn application_usage(
    db: &PgPool,
    access: &TenantAccess,
    application_id: Uuid,
    query: &SummaryQuery,
) -> ApiResult<ApplicationUsage> {
    let (from, to) = time_range(query.from.as_deref(), query.to.as_deref())?;
    let bucket = query.bucket.unwrap_or(Granularity::Hour);
    #[derive(sqlx::FromRow)]
    struct ProductRow {
        product_id: Uuid,
        product_title: String,
        #[sqlx(flatten)]
        rollup: RollupRow,
    }
    let rows: Vec<ProductRow> = sqlx::query_as(
        "SELECT p.id AS product_id, p.title AS product_title, h.hour, h.key_id, h.route_id,
                h.requests, h.client_errors, h.server_errors, h.latency_sum_us, h.latency_buckets,
                h.bytes_in, h.bytes_out, h.model_id, h.provider_id, h.input_tokens,
                h.cached_input_tokens, h.output_tokens, h.cost_nanousd, h.mcp_server_id,
                h.mcp_tool, h.subscription_id
         FROM usage_hourly h
         JOIN subscriptions s ON s.id = h.subscription_id
         JOIN applications a ON a.id = s.application_id
         JOIN api_products p ON p.id = s.product_id
         WHERE a.tenant_id = $1 AND a.id = $2
           AND h.hour >= date_trunc('hour', $3::timestamptz) AND h.hour < $4",
    )
    .bind(access.tenant.id)
    .bind(application_id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;
    let mut total = Counters::default();
    let mut series: BTreeMap<OffsetDateTime, Counters> = BTreeMap::new();
    let mut by_product: BTreeMap<Uuid, Counters> = BTreeMap::new();
    let mut names = BTreeMap::new();
    for row in rows {
        let counters = row.rollup.counters();
        let hour = row.rollup.hour;
        let (product, title) = (row.product_id, row.product_title);
        let time = match bucket {
            Granularity::Hour => hour,
            Granularity::Day => hour.replace_time(Time::MIDNIGHT),
        };
        total.add(&counters);
        series.entry(time).or_default().add(&counters);
        by_product.entry(product).or_default().add(&counters);
        names.insert(product, title);
    }
    let mut by_product: Vec<GroupStats> = by_product
        .into_iter()
        .map(|(id, acc)| GroupStats {
            id: Some(id),
            name: names.get(&id).cloned(),
            stats: acc.stats(),
        })
        .collect();
    by_product.sort_by_key(|group| std::cmp::Reverse(group.stats.requests));
    Ok(ApplicationUsage {
        from,
        to,
        total: total.stats(),
        series: series
            .into_iter()
            .map(|(time, acc)| SeriesPoint {
                time,
                stats: acc.stats(),
                cost_by_model: Vec::new(),
            })
            .collect(),
        by_product,
    })
}

async fn names(db: &PgPool, table: &str, tenant_id: Uuid) -> ApiResult<BTreeMap<Uuid, String>> {
    let rows: Vec<(Uuid, String)> = sqlx::query_as(&format!(
        "SELECT id, name FROM {table} WHERE tenant_id = $1"
    ))
    .bind(tenant_id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}
