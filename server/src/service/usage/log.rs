//! The request log: filtered, paged, newest first.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use tollgate_protocol::NanoUsd;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};

/// Filters of the request log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct UsageQuery {
    /// Start of the time range (RFC 3339); default 24 hours ago.
    pub(crate) from: Option<String>,
    /// End of the time range (RFC 3339); default now.
    pub(crate) to: Option<String>,
    /// Only this key's requests.
    pub(crate) key: Option<Uuid>,
    /// Only this route's requests.
    pub(crate) route: Option<Uuid>,
    /// Only this model's calls (its id).
    pub(crate) model: Option<Uuid>,
    /// Only calls of this MCP tool (its name on its server).
    pub(crate) tool: Option<String>,
    /// A status code like `429`, or a class like `5xx`.
    pub(crate) status: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    pub(crate) limit: Option<i64>,
    /// Continue after this event id (the `next_before` of the previous page).
    pub(crate) before: Option<Uuid>,
}

/// One request in the log.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct UsageRecord {
    pub(crate) id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) time: OffsetDateTime,
    pub(crate) key_id: Option<Uuid>,
    pub(crate) route_id: Option<Uuid>,
    pub(crate) method: String,
    pub(crate) status: i16,
    pub(crate) latency_us: i64,
    pub(crate) upstream_latency_us: Option<i64>,
    pub(crate) bytes_in: i64,
    pub(crate) bytes_out: i64,
    pub(crate) error_class: Option<String>,
    /// For AI calls: the model called, the provider and its model name that answered.
    pub(crate) model_id: Option<Uuid>,
    pub(crate) provider_id: Option<Uuid>,
    pub(crate) upstream_model: Option<String>,
    pub(crate) input_tokens: Option<i64>,
    pub(crate) cached_input_tokens: Option<i64>,
    /// Input tokens written to the provider's prompt cache (Anthropic), priced apart.
    pub(crate) cache_write_tokens: Option<i64>,
    pub(crate) output_tokens: Option<i64>,
    /// True when the provider reported no usage.
    pub(crate) tokens_estimated: Option<bool>,
    /// The call's cost in USD (exact decimal).
    #[sqlx(skip)]
    pub(crate) cost_usd: Option<String>,
    #[serde(skip)]
    pub(crate) cost_nanousd: Option<i64>,
    /// Time to the first byte of the answer.
    pub(crate) ttft_us: Option<i64>,
    /// Deployments that failed before one answered.
    pub(crate) fallbacks: Option<i32>,
    /// For MCP tool calls: the server (absent for prompt APIs called as tools) and the tool.
    pub(crate) mcp_server_id: Option<Uuid>,
    pub(crate) mcp_tool: Option<String>,
}

/// A page of the request log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct UsagePage {
    pub(crate) events: Vec<UsageRecord>,
    /// Pass as `before` for the next page; absent on the last page.
    pub(crate) next_before: Option<Uuid>,
}

fn parse_time(
    field: &str,
    text: Option<&str>,
    default: OffsetDateTime,
) -> ApiResult<OffsetDateTime> {
    match text {
        None => Ok(default),
        Some(text) => OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
            ApiError::Invalid(format!(
                "{field} '{}' is not an RFC 3339 time like \"2026-11-28T00:00:00Z\"",
                text.chars().take(40).collect::<String>()
            ))
        }),
    }
}

pub(super) fn time_range(
    from: Option<&str>,
    to: Option<&str>,
) -> ApiResult<(OffsetDateTime, OffsetDateTime)> {
    let now = OffsetDateTime::now_utc();
    let to = parse_time("to", to, now)?;
    let from = parse_time("from", from, to - Duration::days(1))?;
    if from >= to {
        return Err(ApiError::Invalid("from must be before to".into()));
    }
    if to - from > Duration::days(400) {
        return Err(ApiError::Invalid(
            "the time range may span at most 400 days".into(),
        ));
    }
    Ok((from, to))
}

/// Status filter: (lowest, highest) inclusive.
fn status_range(text: Option<&str>) -> ApiResult<(i16, i16)> {
    let Some(text) = text else {
        return Ok((0, 999));
    };
    let invalid = || {
        ApiError::Invalid(format!(
            "status '{}' is not a code like 429 or a class like 5xx",
            text.chars().take(10).collect::<String>()
        ))
    };
    if let Some(class) = text.strip_suffix("xx") {
        let class: i16 = class.parse().map_err(|_| invalid())?;
        if !(1..=5).contains(&class) {
            return Err(invalid());
        }
        return Ok((class * 100, class * 100 + 99));
    }
    let code: i16 = text.parse().map_err(|_| invalid())?;
    if !(100..=599).contains(&code) {
        return Err(invalid());
    }
    Ok((code, code))
}

pub(crate) async fn list(
    db: &PgPool,
    access: &TenantAccess,
    query: &UsageQuery,
) -> ApiResult<UsagePage> {
    let (from, to) = time_range(query.from.as_deref(), query.to.as_deref())?;
    let (status_low, status_high) = status_range(query.status.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid("limit must be between 1 and 1000".into()));
    }
    let mut events: Vec<UsageRecord> = sqlx::query_as(
        "SELECT id, time, key_id, route_id, method, status, latency_us, upstream_latency_us,
                bytes_in, bytes_out, error_class, model_id, provider_id, upstream_model, input_tokens,
                cached_input_tokens, cache_write_tokens, output_tokens, tokens_estimated,
                cost_nanousd, ttft_us, fallbacks, mcp_server_id, mcp_tool
         FROM usage_events
         WHERE tenant_id = $1 AND time >= $2 AND time < $3
           AND ($4::uuid IS NULL OR key_id = $4) AND ($5::uuid IS NULL OR route_id = $5)
           AND status BETWEEN $6 AND $7 AND ($8::uuid IS NULL OR id < $8)
           AND ($10::uuid IS NULL OR model_id = $10) AND ($11::text IS NULL OR mcp_tool = $11)
         ORDER BY id DESC LIMIT $9",
    )
    .bind(access.tenant.id)
    .bind(from)
    .bind(to)
    .bind(query.key)
    .bind(query.route)
    .bind(status_low)
    .bind(status_high)
    .bind(query.before)
    .bind(limit + 1)
    .bind(query.model)
    .bind(query.tool.as_deref())
    .fetch_all(db)
    .await?;
    for event in &mut events {
        event.cost_usd = event.cost_nanousd.map(|n| NanoUsd(n).to_string());
    }
    let more = events.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    events.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_before = if more {
        events.last().map(|e| e.id)
    } else {
        None
    };
    Ok(UsagePage {
        events,
        next_before,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_filters_take_codes_and_classes() {
        assert_eq!(status_range(Some("5xx")).ok(), Some((500, 599)));
        assert_eq!(status_range(Some("429")).ok(), Some((429, 429)));
        assert!(status_range(Some("9xx")).is_err());
        assert!(status_range(Some("abc")).is_err());
    }
}
