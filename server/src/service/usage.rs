//! Usage events from the proxies: idempotent batched ingest, hourly rollups, daily partitions,
//! and the request log and summaries the console reads.

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, Time};
use tollgate_protocol::{UsageBatch, UsageEvent};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::money;

use tollgate_protocol::internal::{Ingested, MAX_USAGE_BATCH};

/// Upper bounds (µs) of the latency buckets kept in rollups; the last bucket is unbounded.
const LATENCY_BOUNDS_US: [u64; 15] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];
const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

fn bucket_of(latency_us: u64) -> usize {
    LATENCY_BOUNDS_US
        .iter()
        .position(|bound| latency_us <= *bound)
        .unwrap_or(LATENCY_BOUNDS_US.len())
}

#[derive(Default)]
struct Rollup {
    input_tokens: i64,
    cached_input_tokens: i64,
    output_tokens: i64,
    cost_nanousd: i64,
    requests: i64,
    client_errors: i64,
    server_errors: i64,
    latency_sum_us: i64,
    buckets: [i64; BUCKETS],
    bytes_in: i64,
    bytes_out: i64,
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// One column of the AI metering, null for events that are not AI calls.
fn ai_column<T>(
    events: &[UsageEvent],
    field: impl Fn(&tollgate_protocol::AiUsage) -> Option<T>,
) -> Vec<Option<T>> {
    events
        .iter()
        .map(|e| e.ai.as_ref().and_then(&field))
        .collect()
}

/// Stores a batch: each event once (by id), rollups updated with the new ones only, in one
/// transaction, so a replayed batch changes nothing.
pub async fn ingest(db: &PgPool, batch: &UsageBatch) -> ApiResult<Ingested> {
    if batch.events.len() > MAX_USAGE_BATCH {
        return Err(ApiError::Invalid(format!(
            "at most {MAX_USAGE_BATCH} events per batch"
        )));
    }
    if batch.events.is_empty() {
        return Ok(Ingested {
            stored: 0,
            duplicates: 0,
        });
    }
    let events = &batch.events;
    let column = |f: fn(&UsageEvent) -> Option<Uuid>| events.iter().map(f).collect::<Vec<_>>();
    let mut tx = db.begin().await?;
    let stored: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO usage_events (id, time, tenant_id, key_id, route_id, dataplane_id, method,
             status, latency_us, upstream_latency_us, bytes_in, bytes_out, error_class, model_id,
             provider_id, upstream_model, input_tokens, cached_input_tokens, output_tokens,
             tokens_estimated, cost_nanousd, ttft_us, fallbacks, prompt_api_id)
         SELECT u.id, u.time, u.tenant_id, u.key_id, u.route_id, $6, u.method, u.status,
                u.latency_us, u.upstream_latency_us, u.bytes_in, u.bytes_out, u.error_class,
                u.model_id, u.provider_id, u.upstream_model, u.input_tokens, u.cached_input_tokens,
                u.output_tokens, u.tokens_estimated, u.cost_nanousd, u.ttft_us, u.fallbacks,
                u.prompt_api_id
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], $7::text[],
                     $8::int2[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::text[],
                     $14::uuid[], $15::uuid[], $16::text[], $17::int8[], $18::int8[], $19::int8[],
                     $20::bool[], $21::int8[], $22::int8[], $23::int4[], $24::uuid[])
              AS u(id, time, tenant_id, key_id, route_id, method, status, latency_us,
                   upstream_latency_us, bytes_in, bytes_out, error_class, model_id, provider_id,
                   upstream_model, input_tokens, cached_input_tokens, output_tokens,
                   tokens_estimated, cost_nanousd, ttft_us, fallbacks, prompt_api_id)
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(events.iter().map(|e| e.id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.time).collect::<Vec<_>>())
    .bind(column(|e| e.tenant_id))
    .bind(column(|e| e.key_id))
    .bind(column(|e| e.route_id))
    .bind(batch.dataplane_id)
    .bind(events.iter().map(|e| e.method.clone()).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| i16::try_from(e.status).unwrap_or(0))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| clamp(e.latency_us))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.upstream_latency_us.map(clamp))
            .collect::<Vec<_>>(),
    )
    .bind(events.iter().map(|e| clamp(e.bytes_in)).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| clamp(e.bytes_out))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.error_class.clone())
            .collect::<Vec<_>>(),
    )
    .bind(ai_column(events, |ai| Some(ai.model_id)))
    .bind(ai_column(events, |ai| ai.provider_id))
    .bind(ai_column(events, |ai| ai.upstream_model.clone()))
    .bind(ai_column(events, |ai| Some(clamp(ai.input_tokens))))
    .bind(ai_column(events, |ai| Some(clamp(ai.cached_input_tokens))))
    .bind(ai_column(events, |ai| Some(clamp(ai.output_tokens))))
    .bind(ai_column(events, |ai| Some(ai.estimated)))
    .bind(ai_column(events, |ai| Some(ai.cost_nanousd)))
    .bind(ai_column(events, |ai| ai.ttft_us.map(clamp)))
    .bind(ai_column(events, |ai| {
        Some(i32::try_from(ai.fallbacks).unwrap_or(i32::MAX))
    }))
    .bind(ai_column(events, |ai| ai.prompt_api_id))
    .fetch_all(&mut *tx)
    .await?;

    let new: HashSet<Uuid> = stored.iter().copied().collect();
    // Sorted, so concurrent ingests lock rollup rows in the same order.
    type RollupKey = (Uuid, OffsetDateTime, Uuid, Uuid, Uuid, Uuid);
    let mut rollups: BTreeMap<RollupKey, Rollup> = BTreeMap::new();
    let mut last_used: BTreeMap<Uuid, OffsetDateTime> = BTreeMap::new();
    for event in events.iter().filter(|e| new.contains(&e.id)) {
        let hour = event
            .time
            .replace_time(Time::from_hms(event.time.hour(), 0, 0).unwrap_or(Time::MIDNIGHT));
        let key = (
            event.tenant_id.unwrap_or(Uuid::nil()),
            hour,
            event.key_id.unwrap_or(Uuid::nil()),
            event.route_id.unwrap_or(Uuid::nil()),
            event.ai.as_ref().map_or(Uuid::nil(), |ai| ai.model_id),
            event
                .ai
                .as_ref()
                .and_then(|ai| ai.provider_id)
                .unwrap_or(Uuid::nil()),
        );
        let rollup = rollups.entry(key).or_default();
        if let Some(ai) = &event.ai {
            rollup.input_tokens += clamp(ai.input_tokens);
            rollup.cached_input_tokens += clamp(ai.cached_input_tokens);
            rollup.output_tokens += clamp(ai.output_tokens);
            rollup.cost_nanousd += ai.cost_nanousd;
        }
        rollup.requests += 1;
        rollup.client_errors += i64::from((400..500).contains(&event.status));
        rollup.server_errors += i64::from(event.status >= 500);
        rollup.latency_sum_us += clamp(event.latency_us);
        rollup.buckets[bucket_of(event.latency_us)] += 1;
        rollup.bytes_in += clamp(event.bytes_in);
        rollup.bytes_out += clamp(event.bytes_out);
        if let Some(key_id) = event.key_id {
            let seen = last_used.entry(key_id).or_insert(event.time);
            *seen = (*seen).max(event.time);
        }
    }
    for ((tenant_id, hour, key_id, route_id, model_id, provider_id), r) in &rollups {
        sqlx::query(
            "INSERT INTO usage_hourly (tenant_id, hour, key_id, route_id, requests, client_errors,
                 server_errors, latency_sum_us, latency_buckets, bytes_in, bytes_out, model_id,
                 provider_id, input_tokens, cached_input_tokens, output_tokens, cost_nanousd)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
             ON CONFLICT (tenant_id, hour, key_id, route_id, model_id, provider_id) DO UPDATE SET
                 input_tokens = usage_hourly.input_tokens + excluded.input_tokens,
                 cached_input_tokens = usage_hourly.cached_input_tokens + excluded.cached_input_tokens,
                 output_tokens = usage_hourly.output_tokens + excluded.output_tokens,
                 cost_nanousd = usage_hourly.cost_nanousd + excluded.cost_nanousd,
                 requests = usage_hourly.requests + excluded.requests,
                 client_errors = usage_hourly.client_errors + excluded.client_errors,
                 server_errors = usage_hourly.server_errors + excluded.server_errors,
                 latency_sum_us = usage_hourly.latency_sum_us + excluded.latency_sum_us,
                 latency_buckets = (SELECT array_agg(a + b ORDER BY i)
                     FROM unnest(usage_hourly.latency_buckets, excluded.latency_buckets)
                          WITH ORDINALITY AS t(a, b, i)),
                 bytes_in = usage_hourly.bytes_in + excluded.bytes_in,
                 bytes_out = usage_hourly.bytes_out + excluded.bytes_out",
        )
        .bind(tenant_id)
        .bind(hour)
        .bind(key_id)
        .bind(route_id)
        .bind(r.requests)
        .bind(r.client_errors)
        .bind(r.server_errors)
        .bind(r.latency_sum_us)
        .bind(r.buckets.to_vec())
        .bind(r.bytes_in)
        .bind(r.bytes_out)
        .bind(model_id)
        .bind(provider_id)
        .bind(r.input_tokens)
        .bind(r.cached_input_tokens)
        .bind(r.output_tokens)
        .bind(r.cost_nanousd)
        .execute(&mut *tx)
        .await?;
    }
    if !last_used.is_empty() {
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, u.t)
             FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, t) WHERE k.id = u.id",
        )
        .bind(last_used.keys().copied().collect::<Vec<_>>())
        .bind(last_used.values().copied().collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ingested {
        stored: stored.len(),
        duplicates: events.len() - stored.len(),
    })
}

/// Creates the daily partitions from yesterday to a week ahead, and drops those older than
/// the retention. Safe to run from several servers at once.
pub async fn maintain_partitions(db: &PgPool, retention_days: u32) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tollgate.usage_partitions'))")
        .execute(&mut *tx)
        .await?;
    let today = OffsetDateTime::now_utc().date();
    for offset in -1..=7 {
        let day = today + Duration::days(offset);
        let next = day + Duration::days(1);
        let name = format!("usage_events_{}", day_suffix(day));
        // A failure (rows for that day already in the default partition) must not stop start-up.
        sqlx::query("SAVEPOINT partition").execute(&mut *tx).await?;
        let created = sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF usage_events FOR VALUES FROM ('{day}') TO ('{next}')"
        ))
        .execute(&mut *tx)
        .await;
        if let Err(err) = created {
            tracing::warn!(partition = %name, error = %err, "could not create a usage partition");
            sqlx::query("ROLLBACK TO SAVEPOINT partition")
                .execute(&mut *tx)
                .await?;
        }
    }
    let cutoff = today - Duration::days(i64::from(retention_days));
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'usage_events'::regclass AND c.relname::text ~ '^usage_events_[0-9]{8}$'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for partition in partitions {
        if partition.trim_start_matches("usage_events_") < day_suffix(cutoff).as_str() {
            sqlx::query(&format!("DROP TABLE {partition}"))
                .execute(&mut *tx)
                .await?;
            tracing::info!(%partition, "dropped usage older than the retention");
        }
    }
    sqlx::query("DELETE FROM usage_hourly WHERE hour < $1")
        .bind(cutoff.midnight().assume_utc())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM usage_events_default WHERE time < $1")
        .bind(cutoff.midnight().assume_utc())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn day_suffix(day: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

/// Filters of the request log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// Start of the time range (RFC 3339); default 24 hours ago.
    pub from: Option<String>,
    /// End of the time range (RFC 3339); default now.
    pub to: Option<String>,
    /// Only this key's requests.
    pub key: Option<Uuid>,
    /// Only this route's requests.
    pub route: Option<Uuid>,
    /// Only this model's calls (its id).
    pub model: Option<Uuid>,
    /// A status code like `429`, or a class like `5xx`.
    pub status: Option<String>,
    /// Events per page, 1 to 1000 (default 100).
    pub limit: Option<i64>,
    /// Continue after this event id (the `next_before` of the previous page).
    pub before: Option<Uuid>,
}

/// One request in the log.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub struct UsageRecord {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    pub key_id: Option<Uuid>,
    pub route_id: Option<Uuid>,
    pub method: String,
    pub status: i16,
    pub latency_us: i64,
    pub upstream_latency_us: Option<i64>,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub error_class: Option<String>,
    /// For AI calls: the model called, the provider and its model name that answered.
    pub model_id: Option<Uuid>,
    pub provider_id: Option<Uuid>,
    pub upstream_model: Option<String>,
    pub input_tokens: Option<i64>,
    pub cached_input_tokens: Option<i64>,
    pub output_tokens: Option<i64>,
    /// True when the provider reported no usage.
    pub tokens_estimated: Option<bool>,
    /// The call's cost in USD (exact decimal).
    #[sqlx(skip)]
    pub cost_usd: Option<String>,
    #[serde(skip)]
    pub cost_nanousd: Option<i64>,
    /// Time to the first byte of the answer.
    pub ttft_us: Option<i64>,
    /// Deployments that failed before one answered.
    pub fallbacks: Option<i32>,
}

/// A page of the request log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsagePage {
    pub events: Vec<UsageRecord>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<Uuid>,
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

fn time_range(from: Option<&str>, to: Option<&str>) -> ApiResult<(OffsetDateTime, OffsetDateTime)> {
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

pub async fn list(db: &PgPool, access: &TenantAccess, query: &UsageQuery) -> ApiResult<UsagePage> {
    let (from, to) = time_range(query.from.as_deref(), query.to.as_deref())?;
    let (status_low, status_high) = status_range(query.status.as_deref())?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid("limit must be between 1 and 1000".into()));
    }
    let mut events: Vec<UsageRecord> = sqlx::query_as(
        "SELECT id, time, key_id, route_id, method, status, latency_us, upstream_latency_us,
                bytes_in, bytes_out, error_class, model_id, provider_id, upstream_model, input_tokens,
                cached_input_tokens, output_tokens, tokens_estimated, cost_nanousd, ttft_us, fallbacks
         FROM usage_events
         WHERE tenant_id = $1 AND time >= $2 AND time < $3
           AND ($4::uuid IS NULL OR key_id = $4) AND ($5::uuid IS NULL OR route_id = $5)
           AND status BETWEEN $6 AND $7 AND ($8::uuid IS NULL OR id < $8)
           AND ($10::uuid IS NULL OR model_id = $10)
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
    .fetch_all(db)
    .await?;
    for event in &mut events {
        event.cost_usd = event.cost_nanousd.map(money::format_usd);
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

/// Time buckets of a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    Hour,
    Day,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Start (RFC 3339); default 24 hours ago.
    pub from: Option<String>,
    /// End (RFC 3339); default now.
    pub to: Option<String>,
    /// `hour` (default) or `day`.
    pub bucket: Option<Granularity>,
}

/// Counts and latency of a set of requests. Percentiles come from latency buckets, so they are
/// estimates within a bucket's width.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct UsageStats {
    pub requests: i64,
    pub client_errors: i64,
    pub server_errors: i64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub mean_ms: f64,
    pub bytes_in: i64,
    pub bytes_out: i64,
    pub input_tokens: i64,
    pub cached_input_tokens: i64,
    pub output_tokens: i64,
    /// Cost in USD (exact decimal).
    pub cost_usd: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SeriesPoint {
    #[serde(with = "time::serde::rfc3339")]
    pub time: OffsetDateTime,
    #[serde(flatten)]
    pub stats: UsageStats,
    /// This bucket's cost split by model (AI calls only).
    pub cost_by_model: Vec<ModelCost>,
}

/// The cost of one model's calls.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelCost {
    pub model_id: Uuid,
    /// USD (exact decimal).
    pub cost_usd: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupStats {
    /// The key's or route's id; absent for requests without one (refused before a key was known).
    pub id: Option<Uuid>,
    /// Its name, if it still exists.
    pub name: Option<String>,
    #[serde(flatten)]
    pub stats: UsageStats,
}

/// Usage of a tenant over a time range.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageSummary {
    #[serde(with = "time::serde::rfc3339")]
    pub from: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub to: OffsetDateTime,
    pub bucket: Granularity,
    pub total: UsageStats,
    pub series: Vec<SeriesPoint>,
    pub by_key: Vec<GroupStats>,
    pub by_route: Vec<GroupStats>,
    pub by_model: Vec<GroupStats>,
    pub by_provider: Vec<GroupStats>,
}

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
    input_tokens: i64,
    cached_input_tokens: i64,
    output_tokens: i64,
    cost_nanousd: i64,
}

#[derive(Default)]
struct Accumulator {
    input_tokens: i64,
    cached_input_tokens: i64,
    output_tokens: i64,
    cost_nanousd: i64,
    requests: i64,
    client_errors: i64,
    server_errors: i64,
    latency_sum_us: i64,
    buckets: [i64; BUCKETS],
    bytes_in: i64,
    bytes_out: i64,
}

impl Accumulator {
    fn add(&mut self, row: &RollupRow) {
        self.requests += row.requests;
        self.client_errors += row.client_errors;
        self.server_errors += row.server_errors;
        self.latency_sum_us += row.latency_sum_us;
        for (sum, count) in self.buckets.iter_mut().zip(&row.latency_buckets) {
            *sum += count;
        }
        self.bytes_in += row.bytes_in;
        self.bytes_out += row.bytes_out;
        self.input_tokens += row.input_tokens;
        self.cached_input_tokens += row.cached_input_tokens;
        self.output_tokens += row.output_tokens;
        self.cost_nanousd += row.cost_nanousd;
    }

    fn stats(&self) -> UsageStats {
        let mean_ms = if self.requests > 0 {
            self.latency_sum_us as f64 / self.requests as f64 / 1000.0
        } else {
            0.0
        };
        UsageStats {
            requests: self.requests,
            client_errors: self.client_errors,
            server_errors: self.server_errors,
            p50_ms: percentile_ms(&self.buckets, 0.50),
            p95_ms: percentile_ms(&self.buckets, 0.95),
            mean_ms: (mean_ms * 1000.0).round() / 1000.0,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            output_tokens: self.output_tokens,
            cost_usd: money::format_usd(self.cost_nanousd),
        }
    }
}

/// The q-quantile of bucketed latencies, interpolated within its bucket.
fn percentile_ms(buckets: &[i64; BUCKETS], q: f64) -> f64 {
    let total: i64 = buckets.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let mut seen = 0.0;
    for (i, count) in buckets.iter().enumerate() {
        let count = *count as f64;
        if count > 0.0 && seen + count >= rank {
            let low = if i == 0 { 0 } else { LATENCY_BOUNDS_US[i - 1] } as f64;
            let high = LATENCY_BOUNDS_US.get(i).map_or(low * 2.0, |b| *b as f64);
            let us = low + (high - low) * ((rank - seen) / count).clamp(0.0, 1.0);
            return (us / 1000.0 * 1000.0).round() / 1000.0;
        }
        seen += count;
    }
    0.0
}

pub async fn summary(
    db: &PgPool,
    access: &TenantAccess,
    query: &SummaryQuery,
) -> ApiResult<UsageSummary> {
    let (from, to) = time_range(query.from.as_deref(), query.to.as_deref())?;
    let bucket = query.bucket.unwrap_or(Granularity::Hour);
    let rows: Vec<RollupRow> = sqlx::query_as(
        "SELECT hour, key_id, route_id, requests, client_errors, server_errors, latency_sum_us,
                latency_buckets, bytes_in, bytes_out, model_id, provider_id, input_tokens,
                cached_input_tokens, output_tokens, cost_nanousd
         FROM usage_hourly
         WHERE tenant_id = $1 AND hour >= date_trunc('hour', $2::timestamptz) AND hour < $3",
    )
    .bind(access.tenant.id)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await?;

    let mut total = Accumulator::default();
    let mut series: BTreeMap<OffsetDateTime, Accumulator> = BTreeMap::new();
    let mut by_key: BTreeMap<Uuid, Accumulator> = BTreeMap::new();
    let mut by_route: BTreeMap<Uuid, Accumulator> = BTreeMap::new();
    let mut by_model: BTreeMap<Uuid, Accumulator> = BTreeMap::new();
    let mut by_provider: BTreeMap<Uuid, Accumulator> = BTreeMap::new();
    let mut series_cost: BTreeMap<(OffsetDateTime, Uuid), i64> = BTreeMap::new();
    for row in &rows {
        let time = match bucket {
            Granularity::Hour => row.hour,
            Granularity::Day => row.hour.replace_time(Time::MIDNIGHT),
        };
        if !row.model_id.is_nil() {
            by_model.entry(row.model_id).or_default().add(row);
            by_provider.entry(row.provider_id).or_default().add(row);
            *series_cost.entry((time, row.model_id)).or_default() += row.cost_nanousd;
        }
        total.add(row);
        series.entry(time).or_default().add(row);
        by_key.entry(row.key_id).or_default().add(row);
        by_route.entry(row.route_id).or_default().add(row);
    }
    let key_names = names(db, "api_keys", access.tenant.id).await?;
    let route_names = names(db, "routes", access.tenant.id).await?;
    let model_names = names(db, "models", access.tenant.id).await?;
    let provider_names = names(db, "providers", access.tenant.id).await?;
    let groups = |groups: BTreeMap<Uuid, Accumulator>, names: &BTreeMap<Uuid, String>| {
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
                        cost_usd: money::format_usd(*nanos),
                    })
                    .collect(),
            })
            .collect(),
        by_key: groups(by_key, &key_names),
        by_route: groups(by_route, &route_names),
        by_model: groups(by_model, &model_names),
        by_provider: groups(by_provider, &provider_names),
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

/// The spend of every key with a budget, in its current period (UTC days and months).
pub async fn spend(db: &PgPool) -> ApiResult<tollgate_protocol::SpendReport> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT k.id, coalesce(sum(h.cost_nanousd), 0)::bigint
         FROM api_keys k
         LEFT JOIN usage_hourly h ON h.key_id = k.id AND h.hour >= CASE k.budget_period
             WHEN 'day' THEN date_trunc('day', now(), 'UTC')
             WHEN 'month' THEN date_trunc('month', now(), 'UTC')
             ELSE '-infinity'::timestamptz END
         WHERE k.budget_nanousd IS NOT NULL AND k.revoked_at IS NULL
         GROUP BY k.id",
    )
    .fetch_all(db)
    .await?;
    Ok(tollgate_protocol::SpendReport {
        keys: rows
            .into_iter()
            .map(|(key_id, spent_nanousd)| tollgate_protocol::KeySpend {
                key_id,
                spent_nanousd,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_into_the_right_buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(250), 0);
        assert_eq!(bucket_of(251), 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_interpolate_within_a_bucket() {
        let mut buckets = [0; BUCKETS];
        buckets[2] = 100; // 500 µs to 1 ms
        assert_eq!(percentile_ms(&buckets, 0.5), 0.75);
        assert_eq!(percentile_ms(&[0; BUCKETS], 0.5), 0.0);
    }

    #[test]
    fn status_filters_take_codes_and_classes() {
        assert_eq!(status_range(Some("5xx")).ok(), Some((500, 599)));
        assert_eq!(status_range(Some("429")).ok(), Some((429, 429)));
        assert!(status_range(Some("9xx")).is_err());
        assert!(status_range(Some("abc")).is_err());
    }
}
