use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use tollgate_proxy::clock::ManualClock;
use tollgate_proxy::Proxy;
use tollgate_testkit::TestProxy;
use tollgate_testkit::TestServer;
use tollgate_testkit::{
    call, client, create_key, create_key_in, create_route, proxy_config, synced, Behaviour,
    Upstream,
};

#[tokio::test]
async fn keys_are_refused_when_missing_unknown_expired_out_of_scope_or_foreign() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "orders", "path": "/orders", "targets": [{"url": up.url}]}),
    )
    .await;
    create_route(
        &admin,
        json!({"name": "billing", "path": "/billing", "targets": [{"url": up.url}]}),
    )
    .await;
    let (_, good) = create_key(&admin, json!({"name": "all"})).await;
    let (_, billing_only) = create_key(
        &admin,
        json!({"name": "billing", "scopes": {"routes": ["billing"]}}),
    )
    .await;
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::minutes(5))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let (_, expiring) = create_key(
        &admin,
        json!({"name": "short-lived", "expires_at": expires}),
    )
    .await;
    admin
        .post(
            "/api/v1/tenants",
            json!({"name": "Globex", "slug": "globex"}),
        )
        .await;
    let (_, foreign) = create_key_in(&admin, "globex", json!({"name": "globex key"})).await;

    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::default());
    let proxy = Proxy::start_with_clock(&proxy_config(&server, dir.path()), clock.clone())
        .await
        .unwrap();
    synced(&server, &proxy).await;
    let url = format!("http://{}/orders", proxy.traffic_addr());
    let with_key = |key: &str| client().get(&url).bearer_auth(key);

    assert_eq!(call(with_key(&good)).await.0, 200);
    assert_eq!(
        call(client().get(&url).header("x-api-key", &good)).await.0,
        200
    );
    assert_eq!(call(with_key(&expiring)).await.0, 200);

    let (status, _, body) = call(client().get(&url)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("missing_api_key"))
    );
    let (status, _, body) = call(with_key("tg_not-a-real-key")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_api_key"))
    );
    assert_eq!(body["error"]["type"], "authentication_error");
    let (status, _, body) = call(with_key(&billing_only)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("key_not_allowed"))
    );
    assert_eq!(
        call(
            client()
                .get(format!("http://{}/billing", proxy.traffic_addr()))
                .bearer_auth(&billing_only)
        )
        .await
        .0,
        200
    );
    let (status, _, body) = call(with_key(&foreign)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("key_not_allowed"))
    );

    clock.advance(Duration::from_secs(301));
    let (status, _, body) = call(with_key(&expiring)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("expired_api_key"))
    );
    assert_eq!(up.hits(), 4, "refused requests never reach the upstream");
    proxy.shutdown().await;
    // Refusals out of scope are logged under the key that was presented.
    let named: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM usage_events WHERE error_class = 'key_not_allowed' AND key_id IS NOT NULL",
    )
    .fetch_one(&server.db)
    .await
    .unwrap();
    assert_eq!(named, 2);
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_a_second() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "orders", "path": "/", "targets": [{"url": up.url}]}),
    )
    .await;
    let (id, secret) = create_key(&admin, json!({"name": "doomed"})).await;
    let proxy = TestProxy::start(&server).await;
    let url = format!("http://{}/x", proxy.traffic_addr());
    assert_eq!(call(client().get(&url).bearer_auth(&secret)).await.0, 200);

    assert_eq!(
        admin
            .delete(&format!("/api/v1/tenants/default/keys/{id}"))
            .await
            .status,
        204
    );
    let revoked_at = Instant::now();
    loop {
        let (status, _, _) = call(client().get(&url).bearer_auth(&secret)).await;
        if status == 401 {
            break;
        }
        assert!(
            revoked_at.elapsed() < Duration::from_secs(1),
            "the revoked key still works after 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn the_rate_limit_answers_429_with_retry_after_and_headers() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "orders", "path": "/", "targets": [{"url": up.url}]}),
    )
    .await;
    let (_, limited) = create_key(
        &admin,
        json!({"name": "limited", "limits": {"requests_per_minute": 3}}),
    )
    .await;
    let (_, other) = create_key(
        &admin,
        json!({"name": "other", "limits": {"requests_per_minute": 3}}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let url = format!("http://{}/x", proxy.traffic_addr());

    for remaining in ["2", "1", "0"] {
        let (status, headers, _) = call(client().get(&url).bearer_auth(&limited)).await;
        assert_eq!(status, 200);
        assert_eq!(headers["x-ratelimit-limit-requests"], "3");
        assert_eq!(headers["x-ratelimit-remaining-requests"], remaining);
    }
    let (status, headers, body) = call(client().get(&url).bearer_auth(&limited)).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limited");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    // Limits are per key.
    assert_eq!(call(client().get(&url).bearer_auth(&other)).await.0, 200);
    proxy.shutdown().await;
}
