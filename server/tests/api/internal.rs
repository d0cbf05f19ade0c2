use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::{Api, TestServer, PROXY_TOKEN};

#[tokio::test]
async fn the_proxy_api_needs_the_proxy_token() {
    let server = TestServer::start().await;
    server
        .anonymous()
        .get("/internal/v1/snapshot?wait=0")
        .await
        .assert_problem(401);
    Api::with_bearer(&server.base, "wrong")
        .get("/internal/v1/snapshot?wait=0")
        .await
        .assert_problem(401);
    // An admin session is not a proxy token.
    server
        .admin()
        .await
        .get("/internal/v1/snapshot?wait=0")
        .await
        .assert_problem(401);
    let proxy = Api::with_bearer(&server.base, PROXY_TOKEN);
    let snapshot = proxy.get("/internal/v1/snapshot?after=0&wait=0").await;
    assert_eq!(snapshot.status, StatusCode::OK);
    assert!(snapshot.body["version"].as_i64().unwrap() >= 1);
}

#[tokio::test]
async fn the_snapshot_holds_key_hashes_never_secrets_and_waits_for_changes() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let proxy = Api::with_bearer(&server.base, PROXY_TOKEN);
    let created = admin
        .post("/api/v1/tenants/default/keys", json!({"name": "k"}))
        .await;
    let secret = created.body["secret"].as_str().unwrap();
    let revoked = admin
        .post("/api/v1/tenants/default/keys", json!({"name": "gone"}))
        .await;
    admin
        .delete(&format!(
            "/api/v1/tenants/default/keys/{}",
            revoked.body["id"].as_str().unwrap()
        ))
        .await;

    let snapshot = proxy.get("/internal/v1/snapshot?after=0&wait=0").await;
    let version = snapshot.body["version"].as_i64().unwrap();
    assert!(!snapshot.text.contains(secret));
    let keys = snapshot.body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "revoked keys are left out");
    assert_eq!(keys[0]["secret_sha256"].as_str().unwrap().len(), 64);

    // Nothing newer: 304 after the wait.
    let unchanged = proxy
        .get(&format!("/internal/v1/snapshot?after={version}&wait=1"))
        .await;
    assert_eq!(unchanged.status, StatusCode::NOT_MODIFIED);

    // A change wakes a waiting request long before its wait is over.
    let waiting = {
        let base = server.base.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let reply = Api::with_bearer(&base, PROXY_TOKEN)
                .get(&format!("/internal/v1/snapshot?after={version}&wait=30"))
                .await;
            (reply, started.elapsed())
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    admin
        .post("/api/v1/tenants/default/keys", json!({"name": "new"}))
        .await;
    let (reply, waited) = waiting.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body["version"].as_i64().unwrap() > version);
    assert!(waited < std::time::Duration::from_secs(5), "{waited:?}");
}

/// A usage event as a proxy posts it, with a new id.
fn usage_event(status: u32) -> serde_json::Value {
    json!({"id": uuid::Uuid::now_v7(), "time": "2026-11-28T12:00:00Z", "tenant_id": null,
    "key_id": null, "route_id": null, "method": "GET", "status": status, "latency_us": 1500,
    "upstream_latency_us": 1000, "bytes_in": 0, "bytes_out": 10, "error_class": null})
}

#[tokio::test]
async fn usage_batches_are_stored_once_however_often_they_arrive() {
    let server = TestServer::start().await;
    let proxy = Api::with_bearer(&server.base, PROXY_TOKEN);
    let event = |i: u32| usage_event(200 + i);
    let events = [event(0), event(1), event(2)];
    let batch = json!({"dataplane_id": uuid::Uuid::now_v7(), "events": events});
    let first = proxy.post("/internal/v1/usage", batch.clone()).await;
    assert_eq!(
        first.body,
        json!({"stored": 3, "duplicates": 0}),
        "{}",
        first.text
    );
    let again = proxy.post("/internal/v1/usage", batch).await;
    assert_eq!(again.body, json!({"stored": 0, "duplicates": 3}));
    // A batch with some events already stored, and one listing a new event twice.
    let overlapping = json!({"dataplane_id": uuid::Uuid::now_v7(),
        "events": [events[1], event(3)]});
    let partly = proxy.post("/internal/v1/usage", overlapping).await;
    assert_eq!(partly.body, json!({"stored": 1, "duplicates": 1}));
    let repeated = event(4);
    let twice = json!({"dataplane_id": uuid::Uuid::now_v7(), "events": [repeated, repeated]});
    let listed_twice = proxy.post("/internal/v1/usage", twice).await;
    assert_eq!(listed_twice.body, json!({"stored": 1, "duplicates": 1}));
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(stored, 5);
    let rolled: i64 = sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_hourly")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(rolled, 5);
    proxy
        .post("/internal/v1/usage", json!({"events": []}))
        .await
        .assert_problem(422);
}

/// Each hourly rollup row gets its own events' counters, latency buckets included, whether a
/// batch makes the row or adds to it.
#[tokio::test]
async fn a_batch_over_many_keys_and_hours_adds_each_to_its_own_rollup() {
    let server = TestServer::start().await;
    let proxy = Api::with_bearer(&server.base, PROXY_TOKEN);
    let (a, b) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let event = |key: uuid::Uuid, time: &str, latency_us: u64, status: u32| {
        json!({"id": uuid::Uuid::now_v7(), "time": time, "tenant_id": null, "key_id": key,
        "route_id": null, "method": "GET", "status": status, "latency_us": latency_us,
        "upstream_latency_us": null, "bytes_in": 1, "bytes_out": 10, "error_class": null})
    };
    let dataplane = uuid::Uuid::now_v7();
    let first = json!({"dataplane_id": dataplane, "events": [
        event(a, "2026-11-28T12:10:00Z", 100, 200),
        event(a, "2026-11-28T12:20:00Z", 300, 404),
        event(b, "2026-11-28T12:30:00Z", 1_500, 502),
        event(a, "2026-11-28T13:05:00Z", 20_000_000, 200),
    ]});
    let second = json!({"dataplane_id": dataplane, "events": [
        event(a, "2026-11-28T12:40:00Z", 100, 200),
        event(b, "2026-11-28T12:50:00Z", 300, 200),
    ]});
    for batch in [first, second] {
        let reply = proxy.post("/internal/v1/usage", batch).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    }
    type Row = (uuid::Uuid, i32, i64, i64, i64, i64, Vec<i64>, i64);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT key_id, extract(hour FROM hour AT TIME ZONE 'UTC')::int, requests,
                client_errors, server_errors, latency_sum_us, latency_buckets, bytes_out
         FROM usage_hourly ORDER BY key_id, hour",
    )
    .fetch_all(&server.db)
    .await
    .unwrap();
    let buckets = |filled: &[(usize, i64)]| {
        let mut all = vec![0i64; 16];
        for (bucket, count) in filled {
            all[*bucket] = *count;
        }
        all
    };
    let mut expected = vec![
        (a, 12, 3, 1, 0, 500, buckets(&[(0, 2), (1, 1)]), 30),
        (a, 13, 1, 0, 0, 20_000_000, buckets(&[(15, 1)]), 10),
        (b, 12, 2, 0, 1, 1_800, buckets(&[(1, 1), (3, 1)]), 20),
    ];
    expected.sort_by_key(|row| (row.0, row.1));
    assert_eq!(rows, expected);
}

#[tokio::test]
async fn every_field_of_a_usage_event_is_stored_as_sent() {
    let server = TestServer::start().await;
    let proxy = Api::with_bearer(&server.base, PROXY_TOKEN);
    let ids: Vec<uuid::Uuid> = (0..9).map(|_| uuid::Uuid::now_v7()).collect();
    let full = json!({"id": ids[0], "time": "2026-11-28T12:34:56.789012Z", "tenant_id": ids[1],
        "key_id": ids[2], "route_id": ids[3], "method": "PATCH", "status": 503,
        "latency_us": 9_000_000_000u64, "upstream_latency_us": 7, "bytes_in": 12,
        "bytes_out": 34, "error_class": "upstream_status ü",
        "ai": {"model_id": ids[4], "provider_id": ids[5], "upstream_model": "gpt-4o-mini",
            "input_tokens": 120, "cached_input_tokens": 20, "cache_write_tokens": 5,
            "output_tokens": 40, "estimated": true, "cost_nanousd": -3, "ttft_us": 250,
            "fallbacks": 2, "prompt_api_id": ids[6], "streamed": true},
        "mcp": {"server_id": ids[7], "tool": "search ✓"},
        "subscription": {"subscription_id": ids[8], "product_id": ids[1],
            "application_id": ids[2]}});
    let bare = usage_event(200);
    let dataplane = uuid::Uuid::now_v7();
    let batch = json!({"dataplane_id": dataplane, "events": [full, bare]});
    let stored = proxy.post("/internal/v1/usage", batch).await;
    assert_eq!(
        stored.body,
        json!({"stored": 2, "duplicates": 0}),
        "{}",
        stored.text
    );

    let row = |id: serde_json::Value| {
        let db = server.db.clone();
        async move {
            let id: uuid::Uuid = serde_json::from_value(id).unwrap();
            let (mut row, time): (serde_json::Value, String) = sqlx::query_as(
                "SELECT to_jsonb(u) - 'time', to_char(time AT TIME ZONE 'UTC',
                        'YYYY-MM-DD\"T\"HH24:MI:SS.US')
                 FROM usage_events u WHERE id = $1",
            )
            .bind(id)
            .fetch_one(&db)
            .await
            .unwrap();
            row["time"] = json!(time);
            row
        }
    };
    assert_eq!(
        row(json!(ids[0])).await,
        json!({"id": ids[0], "time": "2026-11-28T12:34:56.789012", "tenant_id": ids[1],
            "key_id": ids[2], "route_id": ids[3], "dataplane_id": dataplane, "method": "PATCH",
            "status": 503, "latency_us": 9_000_000_000u64, "upstream_latency_us": 7,
            "bytes_in": 12, "bytes_out": 34, "error_class": "upstream_status ü",
            "model_id": ids[4], "provider_id": ids[5], "upstream_model": "gpt-4o-mini",
            "input_tokens": 120, "cached_input_tokens": 20, "cache_write_tokens": 5,
            "output_tokens": 40, "tokens_estimated": true, "cost_nanousd": -3, "ttft_us": 250,
            "fallbacks": 2, "prompt_api_id": ids[6], "mcp_server_id": ids[7],
            "mcp_tool": "search ✓", "subscription_id": ids[8]})
    );
    let bare_row = row(bare["id"].clone()).await;
    assert_eq!(bare_row["time"], json!("2026-11-28T12:00:00.000000"));
    for column in [
        "tenant_id",
        "key_id",
        "route_id",
        "error_class",
        "model_id",
        "provider_id",
        "upstream_model",
        "input_tokens",
        "tokens_estimated",
        "cost_nanousd",
        "ttft_us",
        "fallbacks",
        "prompt_api_id",
        "cache_write_tokens",
        "mcp_server_id",
        "mcp_tool",
        "subscription_id",
    ] {
        assert_eq!(bare_row[column], json!(null), "{column}");
    }
    assert_eq!(
        (
            &bare_row["method"],
            &bare_row["status"],
            &bare_row["upstream_latency_us"]
        ),
        (&json!("GET"), &json!(200), &json!(1000))
    );
}

#[tokio::test]
async fn a_batch_copied_in_paced_pieces_is_stored_whole() {
    // 900 events (a light-load batch) make about 170 KB of `COPY` data: sent in pieces (rows
    // split between them), with pauses, as a lone batch that size is.
    let server = TestServer::start().await;
    let events: Vec<_> = (0..900u64)
        .map(|i| {
            let mut event = usage_event(200);
            event["latency_us"] = json!(i);
            event["method"] = json!(format!("M{i}"));
            event
        })
        .collect();
    let batch = json!({"dataplane_id": uuid::Uuid::now_v7(), "events": events});
    let posted = Api::with_bearer(&server.base, PROXY_TOKEN)
        .post("/internal/v1/usage", batch)
        .await;
    assert_eq!(posted.body, json!({"stored": 900, "duplicates": 0}));
    let (rows, latency, methods): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), sum(latency_us)::bigint, count(DISTINCT method) FROM usage_events",
    )
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert_eq!((rows, latency, methods), (900, 899 * 900 / 2, 900));
    let rolled: i64 = sqlx::query_scalar("SELECT sum(latency_sum_us)::bigint FROM usage_hourly")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(rolled, 899 * 900 / 2);
}

#[tokio::test]
async fn a_batch_posted_twice_at_once_is_stored_once() {
    let server = TestServer::start().await;
    let events: Vec<_> = (0..200).map(|_| usage_event(200)).collect();
    let batch = json!({"dataplane_id": uuid::Uuid::now_v7(), "events": events});
    let post = |batch: serde_json::Value| {
        let base = server.base.clone();
        tokio::spawn(async move {
            Api::with_bearer(&base, PROXY_TOKEN)
                .post("/internal/v1/usage", batch)
                .await
                .body
        })
    };
    let (first, second) = tokio::join!(post(batch.clone()), post(batch));
    let (first, second) = (first.unwrap(), second.unwrap());
    let stored = first["stored"].as_u64().unwrap() + second["stored"].as_u64().unwrap();
    assert_eq!(stored, 200, "{first} {second}");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(rows, 200);
    let rolled: i64 = sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_hourly")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(rolled, 200);
}
