//! The proxy on its own: configured from a hand-built snapshot (no server, no database), in
//! front of upstreams played by small HTTP servers on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use tollgate_protocol::{
    EgressPolicy, NamespaceEntry, PathMatch, RetryOn, RouteEntry, Snapshot, Target,
};
use tollgate_proxy::config::{Config, LogFormat};
use tollgate_proxy::Proxy;
use uuid::Uuid;

const TENANT: Uuid = Uuid::from_u128(1);

/// An upstream that answers 200 with its name and counts its requests.
async fn upstream(name: &'static str) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = axum::Router::new().fallback(move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async move { name }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

/// A proxy whose server never answers: it serves only what it is given.
async fn proxy(dir: &std::path::Path) -> Proxy {
    let config = Config {
        server_url: "http://127.0.0.1:9".into(),
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        workers: 1,
        proxy_token: Some("t".into()),
        log_format: LogFormat::Text,
        max_connections_per_client: 1024,
        header_timeout: Duration::from_secs(20),
        redis_url: None,
        limits_mode: tollgate_proxy::config::LimitMode::Sync,
        redis_sync_interval: Duration::from_millis(100),
        budget_failure: tollgate_proxy::config::BudgetFailure::FailOpen,
        budget_max_output_tokens: 4096,
    };
    Proxy::start(&config).await.unwrap()
}

fn route(targets: Vec<Target>) -> RouteEntry {
    RouteEntry {
        id: Uuid::from_u128(2),
        tenant_id: TENANT,
        label: "acme/canary".into(),
        name: "canary".into(),
        hosts: vec![],
        path: "/".into(),
        path_match: PathMatch::Prefix,
        methods: vec![],
        strip_prefix: false,
        targets,
        connect_timeout_ms: 1000,
        timeout_ms: 5000,
        retries: 0,
        retry_on: RetryOn::ALL.to_vec(),
        retry_non_idempotent: false,
        require_key: false,
        set_headers: Default::default(),
        remove_headers: vec![],
        forward_key: false,
        body_idle_timeout_ms: 5000,
        tools: vec![],
    }
}

fn snapshot(routes: Vec<RouteEntry>) -> Snapshot {
    Snapshot {
        version: 1,
        generated_at: OffsetDateTime::now_utc(),
        keys: vec![],
        routes,
        providers: vec![],
        models: vec![],
        prompt_apis: vec![],
        namespaces: vec![NamespaceEntry {
            tenant_id: TENANT,
            host: String::new(),
            path_prefix: "/".into(),
        }],
        egress: EgressPolicy {
            allow: vec!["127.0.0.0/8".into()],
            ..EgressPolicy::default()
        },
        services: vec![],
        jwt_issuers: vec![],
        mcp_servers: vec![],
    }
}

#[tokio::test]
async fn without_a_snapshot_the_proxy_is_not_ready() {
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path()).await;
    let answer = reqwest::get(format!("http://{}/x", proxy.traffic_addr()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 503);
    proxy.shutdown().await;
}

#[tokio::test]
async fn both_targets_of_a_weighted_route_get_traffic() {
    let (v1, v1_hits) = upstream("v1").await;
    let (v2, v2_hits) = upstream("v2").await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path()).await;
    proxy.apply_snapshot(&snapshot(vec![route(vec![
        Target {
            url: v1,
            weight: 3,
            service_id: None,
        },
        Target {
            url: v2,
            weight: 1,
            service_id: None,
        },
    ])]));
    let http = reqwest::Client::new();
    // The split itself is tested on the chooser (attempts.rs); here each target must be
    // reached. Both are missed by 100 draws with probability 0.75^100 + 0.25^100 < 1e-12.
    for _ in 0..100 {
        let answer = http
            .get(format!("http://{}/x", proxy.traffic_addr()))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 200);
    }
    let (v1, v2) = (
        v1_hits.load(Ordering::SeqCst),
        v2_hits.load(Ordering::SeqCst),
    );
    assert_eq!(v1 + v2, 100);
    assert!(v1 > 0 && v2 > 0, "v1 {v1}, v2 {v2}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_route_outside_every_namespace_is_not_served() {
    let (url, hits) = upstream("up").await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = proxy(dir.path()).await;
    let mut config = snapshot(vec![route(vec![Target {
        url,
        weight: 1,
        service_id: None,
    }])]);
    config.namespaces.clear();
    proxy.apply_snapshot(&config);
    let answer = reqwest::get(format!("http://{}/x", proxy.traffic_addr()))
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
    assert_eq!(hits.load(Ordering::SeqCst), 0);
    proxy.shutdown().await;
}
