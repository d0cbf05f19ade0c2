//! Limits counted across proxies through a real Redis server.

use std::time::Duration;

use serde_json::json;
use tollgate_proxy::config::LimitMode;
use tollgate_testkit::{
    call, client, create_key, create_route, Api, Behaviour, RedisServer, SlowLink, TestProxy,
    TestServer, Upstream,
};

const SHARED_UP: &str = "tollgate_proxy_shared_limits_up";

async fn proxy_with(server: &TestServer, redis: &RedisServer, mode: LimitMode) -> TestProxy {
    let url = redis.url();
    let proxy = TestProxy::start_with(server, |config| {
        config.redis_url = Some(url);
        config.limits_mode = mode;
    })
    .await;
    wait_for_metric(&proxy, SHARED_UP, 1.0).await;
    proxy
}

async fn wait_for_metric(proxy: &TestProxy, name: &str, value: f64) {
    for _ in 0..200 {
        if proxy.metric(name).await == Some(value) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "{name} never became {value}: {:?}",
        proxy.metric(name).await
    );
}

/// Waits until the (only) proxy's heartbeat reports how it counts limits.
async fn wait_for_reported(admin: &tollgate_testkit::Api, limits: &str) {
    let mut listed = serde_json::Value::Null;
    for _ in 0..200 {
        listed = admin.get("/api/v1/dataplanes").await.body;
        if listed["dataplanes"][0]["limits"] == limits {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the proxy never reported limits {limits}: {listed}");
}

/// A route to `up` and a key allowed `per_minute` requests a minute.
async fn limited_key(admin: &Api, up: &Upstream, per_minute: u32) -> String {
    create_route(
        admin,
        json!({"name": "orders", "path": "/", "targets": [{"url": up.url}]}),
    )
    .await;
    create_key(
        admin,
        json!({"name": "limited", "limits": {"requests_per_minute": per_minute}}),
    )
    .await
    .1
}

/// Sends `count` requests, alternating between the proxies, `gap` apart; returns how many
/// were admitted.
async fn admitted(proxies: &[&TestProxy], key: &str, count: usize, gap: Duration) -> usize {
    let mut admitted = 0;
    for i in 0..count {
        let proxy = proxies[i % proxies.len()];
        let (status, _, _) = call(client().get(proxy.url("/x")).bearer_auth(key)).await;
        assert!(status == 200 || status == 429, "{status}");
        admitted += usize::from(status == 200);
        tokio::time::sleep(gap).await;
    }
    admitted
}

#[tokio::test]
async fn two_proxies_in_sync_mode_admit_one_limit_between_them() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let key = limited_key(&server.admin().await, &up, 60).await;
    let a = proxy_with(&server, &redis, LimitMode::Sync).await;
    let b = proxy_with(&server, &redis, LimitMode::Sync).await;
    // 150 requests over about 1.5 s: alone, each proxy would admit 60 (120 in all). Together
    // they admit 60, plus at most what the previous minute's fading weight frees if the run
    // straddles a minute boundary.
    let admitted = admitted(&[&a, &b], &key, 150, Duration::from_millis(10)).await;
    assert!((60..=62).contains(&admitted), "admitted {admitted}");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn two_proxies_in_strict_mode_admit_exactly_the_limit() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let key = limited_key(&server.admin().await, &up, 60).await;
    let a = proxy_with(&server, &redis, LimitMode::Strict).await;
    let b = proxy_with(&server, &redis, LimitMode::Strict).await;
    let admitted = admitted(&[&a, &b], &key, 100, Duration::ZERO).await;
    // 60, plus at most what the previous minute's fading weight frees if the run straddles a
    // minute boundary.
    assert!((60..=62).contains(&admitted), "admitted {admitted}");
    let (status, headers, body) = call(client().get(a.url("/x")).bearer_auth(&key)).await;
    assert_eq!(status, 429);
    assert_eq!(body["error"]["code"], "rate_limited");
    assert_eq!(headers["x-ratelimit-remaining-requests"], "0");
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn a_lease_redis_grants_after_the_proxy_stopped_waiting_goes_back_to_the_key() {
    let server = TestServer::start().await;
    let redis = RedisServer::start().await;
    let link = SlowLink::start(redis.addr()).await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let key = limited_key(&server.admin().await, &up, 3).await;
    let url = format!("redis://{}/0", link.addr());
    let proxy = TestProxy::start_with(&server, |config| {
        config.redis_url = Some(url);
        config.limits_mode = LimitMode::Strict;
    })
    .await;
    wait_for_metric(&proxy, SHARED_UP, 1.0).await;

    // Redis takes the request's lease, but its answer comes after the proxy stopped waiting:
    // the proxy counts on its own meanwhile, and gives the lease back once the answer comes.
    link.delay(Duration::from_millis(1500));
    let (status, _, _) = call(client().get(proxy.url("/x")).bearer_auth(&key)).await;
    assert_eq!(status, 200);
    link.delay(Duration::ZERO);
    wait_for_metric(&proxy, SHARED_UP, 1.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let admitted = admitted(&[&proxy], &key, 4, Duration::ZERO).await;
    assert_eq!(admitted, 3, "the late lease was not given back");
}

#[tokio::test]
async fn without_redis_each_proxy_counts_alone_and_sharing_resumes_when_it_returns() {
    let server = TestServer::start().await;
    let mut redis = RedisServer::start().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let admin = server.admin().await;
    let key = limited_key(&admin, &up, 5).await;
    let proxy = proxy_with(&server, &redis, LimitMode::Sync).await;
    wait_for_reported(&admin, "shared").await;

    redis.stop();
    wait_for_metric(&proxy, SHARED_UP, 0.0).await;
    // The proxies list says so too, and the console's proxies page.
    wait_for_reported(&admin, "local_fallback").await;
    let (status, html) = admin.page("/t/default/proxies").await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Redis is unreachable"), "{html}");
    // Still limited, by the proxy's own bucket.
    let statuses = {
        let mut statuses = Vec::new();
        for _ in 0..6 {
            statuses.push(
                call(client().get(proxy.url("/x")).bearer_auth(&key))
                    .await
                    .0,
            );
        }
        statuses
    };
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429]);

    // Back without a restart: the (empty) shared count admits again.
    redis.resume().await;
    wait_for_metric(&proxy, SHARED_UP, 1.0).await;
    let (status, headers, _) = call(client().get(proxy.url("/x")).bearer_auth(&key)).await;
    assert_eq!(status, 200);
    assert_eq!(headers["x-ratelimit-remaining-requests"], "4");
    wait_for_reported(&admin, "shared").await;
    proxy.shutdown().await;
}

#[tokio::test]
async fn without_a_redis_url_the_metric_is_absent() {
    let server = TestServer::start().await;
    let proxy = TestProxy::start(&server).await;
    assert_eq!(proxy.metric(SHARED_UP).await, None);
    wait_for_reported(&server.admin().await, "local").await;
    proxy.shutdown().await;
}
