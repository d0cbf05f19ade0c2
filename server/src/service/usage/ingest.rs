//! Idempotent, batched ingest: each event stored once (by id), hourly rollups updated with the
//! new events only, in one transaction.

use std::collections::{BTreeMap, HashSet};

use sqlx::PgPool;
use time::{OffsetDateTime, Time};
use tollgate_protocol::internal::{Ingested, MAX_USAGE_BATCH};
use tollgate_protocol::{UsageBatch, UsageEvent};
use uuid::Uuid;

use super::copy;
use super::counters::{Counters, BUCKETS};
use super::key_use::{KeyUse, LAST_USE_STEP};
use super::pacing;
use crate::error::{ApiError, ApiResult};

/// An hourly rollup's row: tenant, hour, key, route, model, provider, MCP server, MCP tool and
/// subscription (the nil UUID and the empty tool for "none").
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

/// Stores a batch: each event once (by id), rollups updated with the new ones only, in one
/// transaction, so a replayed batch changes nothing.
pub(crate) async fn ingest(
    db: &PgPool,
    key_use: &KeyUse,
    batch: &UsageBatch,
) -> ApiResult<Ingested> {
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
    upsert_rollups(&mut tx, &rollups).await?;
    let last_used = key_use.to_write(&last_used);
    if !last_used.is_empty() {
        sqlx::query(
            "UPDATE api_keys k SET last_used_at = u.t
             FROM UNNEST($1::uuid[], $2::timestamptz[]) AS u(id, t)
             WHERE k.id = u.id AND (k.last_used_at IS NULL OR k.last_used_at < u.t - $3)",
        )
        .bind(last_used.keys().copied().collect::<Vec<_>>())
        .bind(last_used.values().copied().collect::<Vec<_>>())
        .bind(LAST_USE_STEP)
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
    key_use.written(&last_used);
    Ok(Ingested {
        stored: stored.len(),
        duplicates: events.len() - stored.len(),
    })
}

/// Adds the batch's counters to their hourly rollups in one statement, however many rows (each
/// statement is a round trip: a batch over many keys and routes made hundreds). The rows come
/// sorted, so concurrent ingests lock them in the same order.
async fn upsert_rollups(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    rollups: &BTreeMap<RollupKey, Counters>,
) -> Result<(), sqlx::Error> {
    if rollups.is_empty() {
        return Ok(());
    }
    let keys = || rollups.keys();
    let counters = || rollups.values();
    let column = |value: fn(&Counters) -> i64| counters().map(value).collect::<Vec<i64>>();
    sqlx::query(
        "INSERT INTO usage_hourly (tenant_id, hour, key_id, route_id, model_id, provider_id,
             mcp_server_id, mcp_tool, subscription_id, requests, client_errors, server_errors,
             latency_sum_us, latency_buckets, bytes_in, bytes_out, input_tokens,
             cached_input_tokens, output_tokens, cost_nanousd)
         SELECT r.tenant_id, r.hour, r.key_id, r.route_id, r.model_id, r.provider_id,
                r.mcp_server_id, r.mcp_tool, r.subscription_id, r.requests, r.client_errors,
                r.server_errors, r.latency_sum_us,
                ($20::bigint[])[(r.n - 1) * $21 + 1 : r.n * $21],
                r.bytes_in, r.bytes_out, r.input_tokens, r.cached_input_tokens, r.output_tokens,
                r.cost_nanousd
         FROM UNNEST($1::uuid[], $2::timestamptz[], $3::uuid[], $4::uuid[], $5::uuid[],
                     $6::uuid[], $7::uuid[], $8::text[], $9::uuid[], $10::bigint[],
                     $11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::bigint[],
                     $16::bigint[], $17::bigint[], $18::bigint[], $19::bigint[])
              WITH ORDINALITY AS r(tenant_id, hour, key_id, route_id, model_id, provider_id,
                   mcp_server_id, mcp_tool, subscription_id, requests, client_errors,
                   server_errors, latency_sum_us, bytes_in, bytes_out, input_tokens,
                   cached_input_tokens, output_tokens, cost_nanousd, n)
         ORDER BY r.n
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
    .bind(keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(keys().map(|k| k.2).collect::<Vec<_>>())
    .bind(keys().map(|k| k.3).collect::<Vec<_>>())
    .bind(keys().map(|k| k.4).collect::<Vec<_>>())
    .bind(keys().map(|k| k.5).collect::<Vec<_>>())
    .bind(keys().map(|k| k.6).collect::<Vec<_>>())
    .bind(keys().map(|k| k.7.as_str()).collect::<Vec<_>>())
    .bind(keys().map(|k| k.8).collect::<Vec<_>>())
    .bind(column(|c| c.requests))
    .bind(column(|c| c.client_errors))
    .bind(column(|c| c.server_errors))
    .bind(column(|c| c.latency_sum_us))
    .bind(column(|c| c.bytes_in))
    .bind(column(|c| c.bytes_out))
    .bind(column(|c| c.input_tokens))
    .bind(column(|c| c.cached_input_tokens))
    .bind(column(|c| c.output_tokens))
    .bind(column(|c| c.cost_nanousd))
    .bind(counters().flat_map(|c| c.buckets).collect::<Vec<i64>>())
    .bind(i32::try_from(BUCKETS).unwrap_or(i32::MAX))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Copies the batch's events in, failing on one already stored (a unique violation: no check
/// per row beyond the primary key's); all their ids.
async fn copy_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &UsageBatch,
) -> Result<Vec<Uuid>, sqlx::Error> {
    copy_into(tx, batch, "usage_events").await?;
    Ok(batch.events.iter().map(|e| e.id).collect())
}

/// Stores the batch's events not already stored; the ids of those stored. The batch is copied
/// into a table of the transaction's own, then inserted from it skipping the events the log
/// holds (a batch sent again after its answer was lost, or one that lists an event twice).
async fn insert_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &UsageBatch,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query("CREATE TEMPORARY TABLE usage_incoming (LIKE usage_events) ON COMMIT DROP")
        .execute(&mut **tx)
        .await?;
    copy_into(tx, batch, "usage_incoming").await?;
    let columns = copy::EVENT_COLUMNS;
    sqlx::query_scalar(&format!(
        "INSERT INTO usage_events ({columns}) SELECT {columns} FROM usage_incoming
         ON CONFLICT DO NOTHING RETURNING id"
    ))
    .fetch_all(&mut **tx)
    .await
}

async fn copy_into(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    batch: &UsageBatch,
    table: &str,
) -> Result<(), sqlx::Error> {
    let mut copy = tx.copy_in_raw(&copy::copy_statement(table)).await?;
    if let Err(err) = pacing::send(&mut copy, &copy::encode(batch), batch.events.len()).await {
        let _ = copy.abort("the usage batch could not be sent").await;
        return Err(err);
    }
    copy.finish().await?;
    Ok(())
}
