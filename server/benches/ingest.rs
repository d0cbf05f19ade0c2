//! Usage ingestion throughput: batches of usage events posted to the server as proxies post
//! them (2,000 events a batch, from several proxies at once), into a real PostgreSQL. Prints
//! events per second. Needs `DATABASE_URL` (as the tests do: `./test.sh` starts one); run with
//! `cargo bench -p tollgate-server --bench ingest`. `EVENTS` (default 200000) and `PROXIES`
//! (default 2) change the load.

#![allow(clippy::expect_used, clippy::panic)]

use std::time::Instant;

use time::OffsetDateTime;
use tollgate_protocol::internal::USAGE_PATH;
use tollgate_protocol::{AiUsage, UsageBatch, UsageEvent};
use tollgate_testkit::{TestServer, PROXY_TOKEN};
use uuid::Uuid;

/// Events per batch, as the proxy's shipper sends at most.
const BATCH: usize = 2_000;

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A batch like a busy proxy's: REST calls over a few routes and many keys, one in four an AI
/// call with tokens and cost, a few errors.
fn batch(tenant: Uuid, keys: &[Uuid], routes: &[Uuid], model: Uuid, seed: usize) -> UsageBatch {
    let now = OffsetDateTime::now_utc();
    let events = (0..BATCH)
        .map(|i| {
            let n = seed * BATCH + i;
            let ai = n.is_multiple_of(4).then(|| AiUsage {
                model_id: model,
                provider_id: Some(model),
                upstream_model: Some("gpt-4o-mini".into()),
                input_tokens: 120,
                cached_input_tokens: 20,
                output_tokens: 40,
                cache_write_tokens: 0,
                estimated: false,
                cost_nanousd: 42_000,
                ttft_us: Some(900),
                fallbacks: 0,
                prompt_api_id: None,
                streamed: false,
            });
            UsageEvent {
                id: Uuid::now_v7(),
                time: now,
                tenant_id: Some(tenant),
                key_id: Some(keys[n % keys.len()]),
                route_id: ai.is_none().then(|| routes[n % routes.len()]),
                method: "POST".into(),
                status: if n.is_multiple_of(50) { 502 } else { 200 },
                latency_us: 300 + (n % 700) as u64,
                upstream_latency_us: Some(250),
                bytes_in: 512,
                bytes_out: 2048,
                consumer: None,
                mcp: None,
                subscription: None,
                error_class: n.is_multiple_of(50).then(|| "upstream_status".into()),
                ai,
            }
        })
        .collect();
    UsageBatch {
        dataplane_id: Uuid::nil(),
        events,
    }
}

#[tokio::main]
async fn main() {
    let total = env_number("EVENTS", 200_000).div_ceil(BATCH);
    let proxies = env_number("PROXIES", 2).max(1);
    let server = TestServer::start().await;
    let (tenant,): (Uuid,) = sqlx::query_as("SELECT id FROM tenants ORDER BY created_at LIMIT 1")
        .fetch_one(&server.db)
        .await
        .expect("the default tenant");
    let keys: Vec<Uuid> = (0..50).map(|_| Uuid::now_v7()).collect();
    let routes: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    let model = Uuid::now_v7();
    // Serialised before the clock starts: the proxies' work is not the server's.
    let bodies: Vec<Vec<u8>> = (0..total)
        .map(|i| serde_json::to_vec(&batch(tenant, &keys, &routes, model, i)).expect("JSON"))
        .collect();
    let url = format!("{}{USAGE_PATH}", server.base);
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut posters = Vec::new();
    for proxy in 0..proxies {
        let mine: Vec<Vec<u8>> = bodies
            .iter()
            .skip(proxy)
            .step_by(proxies)
            .cloned()
            .collect();
        let (client, url) = (client.clone(), url.clone());
        posters.push(tokio::spawn(async move {
            for body in mine {
                let reply = client
                    .post(&url)
                    .bearer_auth(PROXY_TOKEN)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                    .expect("the server answers");
                assert!(reply.status().is_success(), "{}", reply.status());
            }
        }));
    }
    for poster in posters {
        poster.await.expect("a poster");
    }
    let elapsed = started.elapsed();
    let (stored,): (i64,) = sqlx::query_as("SELECT count(*) FROM usage_events")
        .fetch_one(&server.db)
        .await
        .expect("count");
    assert_eq!(
        usize::try_from(stored).ok(),
        Some(total * BATCH),
        "every event stored once"
    );
    let rate = (total * BATCH) as f64 / elapsed.as_secs_f64();
    println!(
        "| usage ingestion ({proxies} proxies posting batches of {BATCH}) | {} events | {:.2} s | {rate:.0} events/s |",
        total * BATCH,
        elapsed.as_secs_f64()
    );
}
