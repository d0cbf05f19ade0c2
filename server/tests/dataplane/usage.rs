use std::time::Duration;

use serde_json::json;

use tollgate_testkit::TestProxy;
use tollgate_testkit::TestServer;
use tollgate_testkit::{call, client, create_key, create_route, Api, Behaviour, Upstream};

async fn stored_events(server: &TestServer) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM usage_events")
        .fetch_one(&server.db)
        .await
        .unwrap()
}

async fn wait_for_events(server: &TestServer, expected: i64) -> i64 {
    let mut stored = 0;
    for _ in 0..300 {
        stored = stored_events(server).await;
        if stored >= expected {
            // Give a duplicate, if any, the chance to show up.
            tokio::time::sleep(Duration::from_millis(200)).await;
            return stored_events(server).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stored
}

/// A route `/orders` to an echoing upstream (kept alive by the caller), and a key `k`: its id
/// and secret.
async fn orders_with_a_key(admin: &Api) -> (Upstream, String, String) {
    let up = Upstream::start("up", Behaviour::Echo).await;
    create_route(
        admin,
        json!({"name": "orders", "path": "/orders", "targets": [{"url": up.url}]}),
    )
    .await;
    let (key_id, secret) = create_key(admin, json!({"name": "k"})).await;
    (up, key_id, secret)
}

#[tokio::test]
async fn a_server_that_stops_answering_fills_the_spool_not_the_memory_and_loses_nothing() {
    let server = TestServer::start().await;
    let replica = server
        .replica_process(env!("CARGO_BIN_EXE_tollgate-server"))
        .await;
    let admin = server.admin().await;
    let (_up, _, secret) = orders_with_a_key(&admin).await;
    // The proxy reports to the replica, a process of its own that can be made to hang.
    let replica_url = format!("http://{}", replica.addr);
    let proxy = TestProxy::start_with(&server, |config| config.server_url = replica_url).await;
    let send = |count: usize| {
        let (url, secret) = (proxy.url("/orders"), secret.clone());
        async move {
            let requests = (0..count).map(|_| {
                let request = client().get(&url).bearer_auth(&secret);
                async move { call(request).await.0 }
            });
            let statuses = futures_util::future::join_all(requests).await;
            assert!(statuses.iter().all(|&status| status == 200));
        }
    };
    send(100).await;
    assert_eq!(wait_for_events(&server, 100).await, 100);

    // The server takes connections and requests but answers nothing: the post under way waits
    // (up to its timeout) while the queue is still drained, batches going to the spool.
    replica.pause();
    for _ in 0..10 {
        send(200).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    let queued = proxy.metric("tollgate_proxy_usage_queue_depth").await;
    let spooled = proxy.metric("tollgate_proxy_usage_spooled_batches").await;
    assert_eq!(queued, Some(0.0), "events wait in memory for the server");
    assert!(spooled.unwrap() >= 1.0, "spooled: {spooled:?}");

    replica.resume();
    assert_eq!(wait_for_events(&server, 2100).await, 2100);
    assert_eq!(
        proxy
            .metric("tollgate_proxy_usage_dropped_events_total")
            .await,
        Some(0.0)
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn every_request_is_counted_exactly_once_across_a_server_restart() {
    let mut server = TestServer::start().await;
    let admin = server.admin().await;
    let (_up, key_id, secret) = orders_with_a_key(&admin).await;
    let proxy = TestProxy::start(&server).await;
    let url = format!("http://{}/orders", proxy.traffic_addr());
    let http = client();

    let mut sent = 0;
    for i in 0..300 {
        if i == 100 {
            server.stop().await;
        }
        if i == 200 {
            server.restart().await;
        }
        // A mix of allowed and refused requests: both are usage.
        let request = if i % 10 == 0 {
            http.get(&url)
        } else {
            http.get(&url).bearer_auth(&secret)
        };
        call(request).await;
        sent += 1;
    }
    assert_eq!(wait_for_events(&server, sent).await, sent);
    proxy.shutdown().await;
    assert_eq!(
        stored_events(&server).await,
        sent,
        "nothing counted twice after the final flush"
    );

    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage_events WHERE status = 401 AND error_class = 'missing_api_key'",
    )
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert_eq!(refused, 30);
    let rolled_up: i64 = sqlx::query_scalar("SELECT sum(requests)::bigint FROM usage_hourly")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(rolled_up, sent, "rollups count each event once too");

    // The usage API shows the same.
    let summary = admin.get("/api/v1/tenants/default/usage/summary").await;
    assert_eq!(summary.body["total"]["requests"], sent, "{}", summary.text);
    assert_eq!(summary.body["total"]["client_errors"], 30);
    let by_key = summary.body["by_key"].as_array().unwrap();
    let key_row = by_key.iter().find(|k| k["id"] == key_id.as_str()).unwrap();
    assert_eq!(key_row["requests"], 270);
    assert_eq!(key_row["name"], "k");
    assert!(summary.body["total"]["p95_ms"].as_f64().unwrap() > 0.0);
    let key = admin
        .get(&format!("/api/v1/tenants/default/keys/{key_id}"))
        .await;
    assert!(key.body["last_used_at"].is_string(), "{}", key.text);
    assert_eq!(
        key.body["updated_at"], key.body["created_at"],
        "using a key is not an edit: {}",
        key.text
    );
}

#[tokio::test]
async fn the_usage_log_filters_and_pages() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let route_id = create_route(
        &admin,
        json!({"name": "orders", "path": "/", "targets": [{"url": up.url}]}),
    )
    .await;
    let (key_id, secret) = create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let url = format!("http://{}/x", proxy.traffic_addr());
    for _ in 0..5 {
        call(client().post(&url).bearer_auth(&secret).body("hello")).await;
    }
    for _ in 0..3 {
        call(client().get(&url)).await;
    }
    assert_eq!(wait_for_events(&server, 8).await, 8);

    let page = admin.get("/api/v1/tenants/default/usage?limit=3").await;
    assert_eq!(
        page.body["events"].as_array().unwrap().len(),
        3,
        "{}",
        page.text
    );
    let next = page.body["next_before"].as_str().unwrap();
    let rest = admin
        .get(&format!(
            "/api/v1/tenants/default/usage?limit=10&before={next}"
        ))
        .await;
    assert_eq!(rest.body["events"].as_array().unwrap().len(), 5);
    assert!(rest.body["next_before"].is_null());

    let ok = admin
        .get(&format!(
            "/api/v1/tenants/default/usage?key={key_id}&status=2xx"
        ))
        .await;
    let events = ok.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 5);
    assert_eq!(events[0]["route_id"], route_id.as_str());
    assert_eq!(events[0]["method"], "POST");
    assert_eq!(events[0]["bytes_in"], 5);
    assert!(events[0]["bytes_out"].as_i64().unwrap() > 0);
    assert!(events[0]["upstream_latency_us"].as_i64().unwrap() > 0);
    let refused = admin.get("/api/v1/tenants/default/usage?status=401").await;
    assert_eq!(refused.body["events"].as_array().unwrap().len(), 3);
    assert_eq!(refused.body["events"][0]["error_class"], "missing_api_key");
    admin
        .get("/api/v1/tenants/default/usage?status=abc")
        .await
        .assert_problem(422);
    admin
        .get("/api/v1/tenants/default/usage?from=yesterday")
        .await
        .assert_problem(422);

    // Another tenant sees none of it.
    let other = server
        .user_with_role("acme", "o@example.com", "owner")
        .await;
    let theirs = other.get("/api/v1/tenants/acme/usage").await;
    assert_eq!(theirs.body["events"], json!([]));
    other
        .get("/api/v1/tenants/default/usage")
        .await
        .assert_problem(404);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_request_that_finishes_while_the_proxy_stops_is_still_counted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("slow", Behaviour::Slow(Duration::from_millis(800))).await;
    create_route(
        &admin,
        json!({"name": "slow", "path": "/slow", "targets": [{"url": up.url}]}),
    )
    .await;
    let (_, secret) = create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let request = client().get(proxy.url("/slow")).bearer_auth(&secret);
    let in_flight = tokio::spawn(async move { call(request).await.0 });
    // The request is with the upstream when the stop comes; it finishes during the drain.
    tokio::time::sleep(Duration::from_millis(300)).await;
    proxy.shutdown().await;
    assert_eq!(in_flight.await.unwrap(), 200);
    assert_eq!(wait_for_events(&server, 1).await, 1);
}
