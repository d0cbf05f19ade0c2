//! A cluster of processes on loopback: PostgreSQL, Redis, two servers (this test's, and a
//! `tollgate-server` process on the same database) behind a TCP load balancer, and three proxies
//! that reach the servers through it. Limits and budgets hold across the proxies; a revoked key
//! is refused everywhere within a second; losing Redis or a server loses nothing.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_proxy::config::{BudgetFailure, LimitMode};
use tollgate_testkit::{
    call, client, create_key, create_route, Api, Balancer, Behaviour, RedisServer, ServerProcess,
    TestProxy, TestServer, Upstream,
};

use crate::shared_budgets::{chat, priced_model, wait_for_shared};

struct Cluster {
    server: TestServer,
    replica: ServerProcess,
    redis: RedisServer,
    proxies: Vec<TestProxy>,
    admin: Api,
    _balancer: Balancer,
    _upstream: Upstream,
}

impl Cluster {
    async fn start(mode: LimitMode) -> Self {
        let server = TestServer::start().await;
        let replica = server
            .replica_process(env!("CARGO_BIN_EXE_tollgate-server"))
            .await;
        let balancer = Balancer::start(vec![server.addr(), replica.addr]).await;
        let redis = RedisServer::start().await;
        let mut proxies = Vec::new();
        for _ in 0..3 {
            let (server_url, redis_url) = (balancer.url(), redis.url());
            let proxy = TestProxy::start_with(&server, |config| {
                config.server_url = server_url;
                config.redis_url = Some(redis_url);
                config.limits_mode = mode;
                config.budget_failure = BudgetFailure::FailOpen;
            })
            .await;
            wait_for_shared(&proxy, 1.0).await;
            proxies.push(proxy);
        }
        // Every proxy has exchanged counts since the last one joined: all know there are three.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let admin = server.admin().await;
        let upstream = Upstream::start("up", Behaviour::Echo).await;
        create_route(
            &admin,
            json!({"name": "orders", "path": "/x", "targets": [{"url": upstream.url}]}),
        )
        .await;
        Self {
            server,
            replica,
            redis,
            proxies,
            admin,
            _balancer: balancer,
            _upstream: upstream,
        }
    }

    /// A key with these limits, once every proxy knows it (the route `/x` echoes).
    async fn key_with(&self, limits: Value) -> (String, String) {
        let key = create_key(&self.admin, json!({"name": "k", "limits": limits})).await;
        self.wait_until_synced().await;
        key
    }

    /// Waits until every proxy serves the server's latest configuration.
    async fn wait_until_synced(&self) {
        for proxy in &self.proxies {
            tollgate_testkit::synced(&self.server, proxy).await;
        }
    }

    /// Sends `count` requests over the proxies, `workers` at a time; returns the statuses.
    async fn spread(&self, count: usize, workers: usize, request: Request) -> Vec<u16> {
        let sent = Arc::new(AtomicUsize::new(0));
        let urls: Arc<Vec<String>> = Arc::new(self.proxies.iter().map(|p| p.url("")).collect());
        let tasks: Vec<_> = (0..workers)
            .map(|_| {
                let (sent, urls, request) = (sent.clone(), urls.clone(), request.clone());
                tokio::spawn(async move {
                    let mut statuses = Vec::new();
                    loop {
                        let i = sent.fetch_add(1, Ordering::Relaxed);
                        if i >= count {
                            return statuses;
                        }
                        let (status, _, body) = call(request(&urls[i % urls.len()])).await;
                        assert!([200, 429].contains(&status), "request {i}: {status} {body}");
                        statuses.push(status);
                    }
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for task in tasks {
            statuses.extend(task.await.unwrap());
        }
        statuses
    }
}

/// Builds one request to a proxy's base URL.
type Request = Arc<dyn Fn(&str) -> reqwest::RequestBuilder + Send + Sync>;

fn admitted(statuses: &[u16]) -> usize {
    statuses.iter().filter(|&&s| s == 200).count()
}

/// Waits, if need be, for a minute that has most of its time ahead: limits count per sliding
/// minute, and a run straddling two minutes would see the earlier one's weight fade.
async fn fresh_minute() {
    let second = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 60;
    if second >= 45 {
        tokio::time::sleep(Duration::from_secs(61 - second)).await;
    }
}

fn get_x(key: &str) -> Request {
    let key = key.to_string();
    Arc::new(move |base: &str| client().get(format!("{base}/x")).bearer_auth(&key))
}

#[tokio::test]
async fn in_sync_mode_three_proxies_admit_a_key_s_limits_without_passing_them() {
    let cluster = Cluster::start(LimitMode::Sync).await;
    let (_, key) = cluster.key_with(json!({"requests_per_minute": 600})).await;
    fresh_minute().await;
    let statuses = cluster.spread(800, 12, get_x(&key)).await;
    let admitted = admitted(&statuses);
    // Leases never add up to more than the limit; the proxies holding one at the end use it on
    // the requests that follow.
    assert!((595..=600).contains(&admitted), "admitted {admitted}");

    // Tokens: every call of model `m` uses 20; 1,000 a minute is 50 calls.
    priced_model(&cluster.admin, "1", "2").await;
    let (_, tokens_key) = create_key(
        &cluster.admin,
        json!({"name": "tokens", "limits": {"tokens_per_minute": 1000}}),
    )
    .await;
    cluster.wait_until_synced().await;
    fresh_minute().await;
    let mut admitted_calls = 0;
    for i in 0..80 {
        let (status, _, body) = call(chat(&cluster.proxies[i % 3], &tokens_key, false)).await;
        assert!([200, 429].contains(&status), "{status} {body}");
        admitted_calls += usize::from(status == 200);
    }
    let tokens = admitted_calls * 20;
    // At most 5% over, and at most one call short.
    assert!((980..=1050).contains(&tokens), "admitted {tokens} tokens");
}

#[tokio::test]
async fn in_strict_mode_three_proxies_admit_a_key_s_limit_exactly() {
    let cluster = Cluster::start(LimitMode::Strict).await;
    let (_, key) = cluster.key_with(json!({"requests_per_minute": 600})).await;
    fresh_minute().await;
    let statuses = cluster.spread(800, 12, get_x(&key)).await;
    assert_eq!(admitted(&statuses), 600);
}

#[tokio::test]
async fn a_dollar_budget_holds_under_200_concurrent_calls_over_three_proxies() {
    let cluster = Cluster::start(LimitMode::Sync).await;
    // A call: 10 tokens in at $300 and 10 out at $600 per million, $0.009; its reservation
    // (a token or two of input, 20 of output) at most $0.0126.
    priced_model(&cluster.admin, "300", "600").await;
    let (call_cost, worst_case, budget) = (9_000_000_i64, 12_600_000_i64, 1_000_000_000_i64);
    let (_, key) = create_key(
        &cluster.admin,
        json!({"name": "capped", "budget": {"amount_usd": "1.00", "period": "month"}}),
    )
    .await;
    cluster.wait_until_synced().await;

    let burst: Vec<_> = (0..200)
        .map(|i| {
            let request = chat(&cluster.proxies[i % 3], &key, i % 4 == 0);
            tokio::spawn(async move { call(request).await })
        })
        .collect();
    let mut admitted = 0;
    for call in burst {
        let (status, _, body) = call.await.unwrap();
        match status {
            200 => admitted += 1,
            429 => assert_eq!(body["error"]["type"], "insufficient_quota", "{body}"),
            other => panic!("{other}: {body}"),
        }
    }
    assert!(
        admitted as i64 * worst_case <= budget,
        "admitted {admitted}"
    );
    // Then one call after another until the budget refuses: settled calls gave back what they
    // reserved beyond their cost.
    let mut calls = admitted;
    loop {
        let (status, _, body) = call(chat(&cluster.proxies[calls % 3], &key, false)).await;
        if status == 429 {
            assert_eq!(body["error"]["code"], "budget_exceeded", "{body}");
            break;
        }
        assert_eq!(status, 200, "{body}");
        calls += 1;
        assert!(calls <= 200, "the budget never refused");
    }
    let events = 200 + (calls - admitted) + 1;
    wait_for_events(&cluster.server, events).await;
    let spent: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(cost_nanousd), 0)::bigint FROM usage_events WHERE status = 200",
    )
    .fetch_one(&cluster.server.db)
    .await
    .unwrap();
    assert_eq!(spent, calls as i64 * call_cost);
    assert!(spent <= budget + call_cost, "spent {spent}");
    assert!(
        spent > budget - worst_case - call_cost,
        "spent only {spent}"
    );
}

#[tokio::test]
async fn a_revoked_key_is_refused_by_every_proxy_within_a_second() {
    let cluster = Cluster::start(LimitMode::Sync).await;
    let (id, key) = cluster.key_with(json!({})).await;
    for proxy in &cluster.proxies {
        let (status, _, _) = call(client().get(proxy.url("/x")).bearer_auth(&key)).await;
        assert_eq!(status, 200);
    }
    let revoked = Instant::now();
    let reply = cluster
        .admin
        .delete(&format!("/api/v1/tenants/default/keys/{id}"))
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text);
    for proxy in &cluster.proxies {
        loop {
            let (status, _, _) = call(client().get(proxy.url("/x")).bearer_auth(&key)).await;
            if status == 401 {
                break;
            }
            assert!(
                revoked.elapsed() < Duration::from_secs(1),
                "a proxy still admits the revoked key after {:?}",
                revoked.elapsed()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[tokio::test]
async fn losing_redis_or_a_server_mid_run_loses_no_request_and_no_usage() {
    let mut cluster = Cluster::start(LimitMode::Sync).await;
    let (key_id, key) = cluster
        .key_with(json!({"requests_per_minute": 1_000_000}))
        .await;
    let request = get_x(&key);
    let mut statuses = cluster.spread(300, 6, request.clone()).await;

    cluster.redis.stop();
    for proxy in &cluster.proxies {
        wait_for_shared(proxy, 0.0).await;
    }
    statuses.extend(cluster.spread(300, 6, request.clone()).await);
    cluster.redis.resume().await;
    for proxy in &cluster.proxies {
        wait_for_shared(proxy, 1.0).await;
    }
    statuses.extend(cluster.spread(300, 6, request.clone()).await);

    // One server dies at once; the proxies that followed or reported to it go on through the
    // load balancer to the other.
    cluster.replica.kill();
    statuses.extend(cluster.spread(300, 6, request.clone()).await);
    assert_eq!(statuses.len(), 1200);
    assert!(statuses.iter().all(|&s| s == 200), "a request failed");

    let stored = wait_for_events(&cluster.server, 1200).await;
    let of_key: i64 = sqlx::query_scalar("SELECT count(*) FROM usage_events WHERE key_id = $1")
        .bind(uuid::Uuid::parse_str(&key_id).unwrap())
        .fetch_one(&cluster.server.db)
        .await
        .unwrap();
    assert_eq!((stored, of_key), (1200, 1200));
    // The proxies that talked to the dead server still follow configuration changes.
    let (_, other) = create_key(&cluster.admin, json!({"name": "after"})).await;
    cluster.wait_until_synced().await;
    for proxy in &cluster.proxies {
        let (status, _, _) = call(client().get(proxy.url("/x")).bearer_auth(&other)).await;
        assert_eq!(status, 200);
    }
}

/// Waits until `expected` usage events are stored (and a moment more, for duplicates to show).
async fn wait_for_events(server: &TestServer, expected: usize) -> i64 {
    let count = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM usage_events")
            .fetch_one(&server.db)
            .await
            .unwrap()
    };
    for _ in 0..400 {
        if count().await >= expected as i64 {
            tokio::time::sleep(Duration::from_millis(300)).await;
            return count().await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    count().await
}

/// Signs in to `base` as a client at `address` (the servers trust loopback's X-Forwarded-For).
async fn sign_in(base: &str, address: &str, password: &str) -> u16 {
    client()
        .post(format!("{base}/api/v1/auth/login"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": tollgate_testkit::ADMIN_EMAIL, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn replicas_share_sign_in_lock_outs_and_run_the_hourly_upkeep_once() {
    let server = TestServer::start().await;
    let replica = server
        .replica_process(env!("CARGO_BIN_EXE_tollgate-server"))
        .await;
    let replica_base = format!("http://{}", replica.addr);
    // Failures on one server slow the address down on the other.
    for _ in 0..3 {
        assert_eq!(
            sign_in(&server.base, "203.0.113.7", "guess-guess").await,
            401
        );
    }
    assert_eq!(
        sign_in(
            &replica_base,
            "203.0.113.7",
            tollgate_testkit::ADMIN_PASSWORD
        )
        .await,
        429
    );

    // Each replica checks the upkeep when it starts; one of them ran it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let runs: i64 = sqlx::query_scalar("SELECT runs FROM job_runs WHERE name = 'hourly_upkeep'")
        .fetch_one(&server.db)
        .await
        .unwrap();
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn replicas_starting_together_on_an_empty_database_all_come_up() {
    let database = tollgate_testkit::EmptyDatabase::create().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let starts = dirs.iter().map(|dir| {
        let mut config =
            tollgate_server::config::Config::for_database(&database.url, dir.path().to_path_buf());
        config.admin_email = "admin@example.com".into();
        config.admin_password = Some("correct horse battery".into());
        async move { tollgate_server::Server::start(&config).await }
    });
    let servers = futures_util::future::join_all(starts).await;
    let mut admins_created = 0;
    for server in servers {
        let server = server.expect("every replica starts");
        admins_created += usize::from(server.created_admin().is_some());
    }
    // The first admin is made once.
    assert_eq!(admins_created, 1);
}
