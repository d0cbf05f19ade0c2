//! Idempotent, batched ingest: each event stored once (by id), hourly rollups updated with the
//! new events only, in one transaction.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgPool;
use time::{OffsetDateTime, Time};
use tollgate_protocol::internal::{Ingested, MAX_USAGE_BATCH};
use tollgate_protocol::{UsageBatch, UsageEvent};
use uuid::Uuid;

use super::copy;
use super::counters::Counters;
use crate::error::{ApiError, ApiResult};

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
pub(crate) async fn ingest(db: &PgPool, batch: &UsageBatch) -> ApiResult<Ingested> {
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
    // A batch is nearly always new: its rows are copied in without a conflict check each (a
    // large part of PostgreSQL's work per event). One sent again after its answer was lost
    // meets its own rows; it is then stored again skipping the events already there.
    let mut tx = db.begin().await?;
    let stored = match copy_events(&mut tx, batch).await {
        Err(sqlx::Error::Database(db_error)) if db_error.is_unique_violation() => {
            tx.rollback().await?;
            tx = db.begin().await?;
            insert_events(&mut tx, batch).await?
        }
        stored => stored?,
    };

    // The events stored now, each once (a batch may list one twice).
    let mut new: HashSet<Uuid> = stored.iter().copied().collect();
    let fresh: Vec<&UsageEvent> = events.iter().filter(|e| new.remove(&e.id)).collect();
    // Sorted, so concurrent ingests lock rollup rows in the same order.
    type RollupKey = (
        Uuid,
        OffsetDateTime,
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        Uuid,
        String,
        Uuid,
    );
    let mut rollups: BTreeMap<RollupKey, Counters> = BTreeMap::new();
    let mut last_used: BTreeMap<Uuid, OffsetDateTime> = BTreeMap::new();
    for event in &fresh {
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
            event
                .mcp
                .as_ref()
                .and_then(|m| m.server_id)
                .unwrap_or(Uuid::nil()),
            event
                .mcp
                .as_ref()
                .map(|m| m.tool.clone())
                .unwrap_or_default(),
            event
                .subscription
                .map_or(Uuid::nil(), |s| s.subscription_id),
        );
        rollups.entry(key).or_default().count(event);
        if let Some(key_id) = event.key_id {
            let seen = last_used.entry(key_id).or_insert(event.time);
            *seen = (*seen).max(event.time);
        }
    }
    for (
        (
            tenant_id,
            hour,
            key_id,
            route_id,
            model_id,
            provider_id,
            mcp_server_id,
            mcp_tool,
            subscription_id,
        ),
        r,
    ) in &rollups
    {
        sqlx::query(
            "INSERT INTO usage_hourly (tenant_id, hour, key_id, route_id, requests, client_errors,
                 server_errors, latency_sum_us, latency_buckets, bytes_in, bytes_out, model_id,
                 provider_id, input_tokens, cached_input_tokens, output_tokens, cost_nanousd,
                 mcp_server_id, mcp_tool, subscription_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                     $18, $19, $20)
             ON CONFLICT (tenant_id, hour, key_id, route_id, model_id, provider_id, mcp_server_id,
                          mcp_tool, subscription_id) DO UPDATE SET
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
        .bind(mcp_server_id)
        .bind(mcp_tool)
        .bind(subscription_id)
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
    // Callers with a JWT become consumers on first sight.
    let mut consumers: BTreeMap<Uuid, (Uuid, Uuid, String, OffsetDateTime)> = BTreeMap::new();
    for event in &fresh {
        if let (Some(consumer), Some(key_id), Some(tenant_id)) =
            (&event.consumer, event.key_id, event.tenant_id)
        {
            let seen = consumers.entry(key_id).or_insert((
                tenant_id,
                consumer.issuer_id,
                consumer.name.clone(),
                event.time,
            ));
            seen.3 = seen.3.max(event.time);
        }
    }
    if !consumers.is_empty() {
        sqlx::query(
            "INSERT INTO consumers (id, tenant_id, issuer_id, name, first_seen_at, last_seen_at)
             SELECT u.id, u.tenant_id, u.issuer_id, u.name, u.t, u.t
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[])
                  AS u(id, tenant_id, issuer_id, name, t)
             WHERE EXISTS (SELECT 1 FROM jwt_issuers i WHERE i.id = u.issuer_id AND i.tenant_id = u.tenant_id)
             ON CONFLICT (id) DO UPDATE SET last_seen_at = GREATEST(consumers.last_seen_at, EXCLUDED.last_seen_at)",
        )
        .bind(consumers.keys().copied().collect::<Vec<_>>())
        .bind(consumers.values().map(|c| c.0).collect::<Vec<_>>())
        .bind(consumers.values().map(|c| c.1).collect::<Vec<_>>())
        .bind(consumers.values().map(|c| c.2.clone()).collect::<Vec<_>>())
        .bind(consumers.values().map(|c| c.3).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(Ingested {
        stored: stored.len(),
        duplicates: events.len() - stored.len(),
    })
}

/// Copies the batch's events in, failing on one already stored (a unique violation: no check
/// per row beyond the primary key's); all their ids.
async fn copy_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &UsageBatch,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let mut copy = tx.copy_in_raw(copy::COPY_EVENTS).await?;
    if let Err(err) = copy.send(copy::encode(batch)).await {
        let _ = copy.abort("the usage batch could not be sent").await;
        return Err(err);
    }
    copy.finish().await?;
    Ok(batch.events.iter().map(|e| e.id).collect())
}

/// Inserts the batch's events not already stored; the ids of those stored.
async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &UsageBatch,
) -> Result<Vec<Uuid>, sqlx::Error> {
    let events = &batch.events;
    let column = |f: fn(&UsageEvent) -> Option<Uuid>| events.iter().map(f).collect::<Vec<_>>();
    sqlx::query_scalar(
        "INSERT INTO usage_events (id, time, tenant_id, key_id, route_id, dataplane_id, method,
             status, latency_us, upstream_latency_us, bytes_in, bytes_out, error_class, model_id,
             provider_id, upstream_model, input_tokens, cached_input_tokens, output_tokens,
             tokens_estimated, cost_nanousd, ttft_us, fallbacks, prompt_api_id, cache_write_tokens,
             mcp_server_id, mcp_tool, subscription_id)
         SELECT u.id, u.time, u.tenant_id, u.key_id, u.route_id, $6, u.method, u.status,
                u.latency_us, u.upstream_latency_us, u.bytes_in, u.bytes_out, u.error_class,
                u.model_id, u.provider_id, u.upstream_model, u.input_tokens, u.cached_input_tokens,
                u.output_tokens, u.tokens_estimated, u.cost_nanousd, u.ttft_us, u.fallbacks,
                u.prompt_api_id, u.cache_write_tokens, u.mcp_server_id, u.mcp_tool,
                u.subscription_id
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[], $7::text[],
                     $8::int2[], $9::int8[], $10::int8[], $11::int8[], $12::int8[], $13::text[],
                     $14::uuid[], $15::uuid[], $16::text[], $17::int8[], $18::int8[], $19::int8[],
                     $20::bool[], $21::int8[], $22::int8[], $23::int4[], $24::uuid[], $25::int8[],
                     $26::uuid[], $27::text[], $28::uuid[])
              AS u(id, time, tenant_id, key_id, route_id, method, status, latency_us,
                   upstream_latency_us, bytes_in, bytes_out, error_class, model_id, provider_id,
                   upstream_model, input_tokens, cached_input_tokens, output_tokens,
                   tokens_estimated, cost_nanousd, ttft_us, fallbacks, prompt_api_id,
                   cache_write_tokens, mcp_server_id, mcp_tool, subscription_id)
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
    .bind(ai_column(events, |ai| Some(clamp(ai.cache_write_tokens))))
    .bind(
        events
            .iter()
            .map(|e| e.mcp.as_ref().and_then(|m| m.server_id))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.mcp.as_ref().map(|m| m.tool.clone()))
            .collect::<Vec<_>>(),
    )
    .bind(
        events
            .iter()
            .map(|e| e.subscription.map(|s| s.subscription_id))
            .collect::<Vec<_>>(),
    )
    .fetch_all(&mut **tx)
    .await
}
