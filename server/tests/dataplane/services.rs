//! Services (upstreams) as objects of their own: routes that point at them, weighted splits
//! between subsets, and active health checks, through a real proxy.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;
use tollgate_testkit::{
    call, client, create_key, serve, synced, Behaviour, TestProxy, TestServer, Upstream,
};

#[tokio::test]
async fn a_route_splits_its_traffic_between_subsets_of_a_service() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let v1 = Upstream::start("v1", Behaviour::Echo).await;
    let v2 = Upstream::start("v2", Behaviour::Echo).await;
    let created = admin
        .post(
            "/api/v1/tenants/default/services",
            json!({"name": "orders", "targets": [
                {"url": v1.url, "subset": "v1"}, {"url": v2.url, "subset": "v2"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let route = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "canary", "path": "/orders", "require_key": false,
                   "destinations": [{"service": "orders", "subset": "v1", "weight": 90},
                                    {"service": "orders", "subset": "v2", "weight": 10}]}),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text);
    assert_eq!(route.body["destinations"][1]["subset"], "v2");
    assert!(route.body.get("targets").is_none(), "{}", route.text);

    let proxy = TestProxy::start(&server).await;
    for _ in 0..2000 {
        let (status, _, _) = call(client().get(proxy.url("/orders"))).await;
        assert_eq!(status, 200);
    }
    let share = v1.hits() as f64 / 2000.0;
    assert!((0.87..=0.93).contains(&share), "v1 got {share}");
    assert_eq!(v1.hits() + v2.hits(), 2000);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_route_to_a_service_follows_the_service_and_keeps_it_from_being_deleted() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let first = Upstream::start("first", Behaviour::Echo).await;
    let second = Upstream::start("second", Behaviour::Echo).await;
    let service = admin
        .post(
            "/api/v1/tenants/default/services",
            json!({"name": "my-service", "targets": [{"url": first.url}], "connect_timeout": "2s"}),
        )
        .await;
    assert_eq!(service.status, 201, "{}", service.text);
    let id = service.body["id"].as_str().unwrap().to_string();

    // A route naming a service the tenant does not have is refused.
    let missing = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "r", "path": "/service", "service": "nope"}),
        )
        .await;
    assert_eq!(missing.status, 422, "{}", missing.text);
    assert!(missing.text.contains("'nope'"), "{}", missing.text);
    // And one that says where to go twice.
    let both = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "r", "path": "/service", "service": "my-service",
                   "targets": [{"url": first.url}]}),
        )
        .await;
    assert_eq!(both.status, 422, "{}", both.text);

    let route = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "r", "path": "/service", "service": "my-service"}),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text);
    assert_eq!(route.body["service"], "my-service");
    let (_, key) = create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let (status, _, body) = call(client().get(proxy.url("/service/x")).bearer_auth(&key)).await;
    assert_eq!((status, body["upstream"].as_str()), (200, Some("first")));

    // Changing the service moves the route's traffic.
    let changed = admin
        .patch(
            &format!("/api/v1/tenants/default/services/{id}"),
            json!({"targets": [{"url": second.url}]}),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    synced(&server, &proxy).await;
    let (_, _, body) = call(client().get(proxy.url("/service/x")).bearer_auth(&key)).await;
    assert_eq!(body["upstream"], "second");

    // In use: it cannot be deleted, and the subsets routes use must keep a target.
    let refused = admin
        .delete(&format!("/api/v1/tenants/default/services/{id}"))
        .await;
    assert_eq!(refused.status, 409, "{}", refused.text);
    assert!(refused.text.contains("route 'r'"), "{}", refused.text);
    let route_id = route.body["id"].as_str().unwrap();
    admin
        .delete(&format!("/api/v1/tenants/default/routes/{route_id}"))
        .await;
    let deleted = admin
        .delete(&format!("/api/v1/tenants/default/services/{id}"))
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    let audit = admin.get("/api/v1/tenants/default/audit").await;
    assert!(audit.text.contains("service.delete"), "{}", audit.text);
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_subset_in_use_keeps_a_target() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let service = admin
        .post(
            "/api/v1/tenants/default/services",
            json!({"name": "s", "targets": [{"url": up.url, "subset": "v1"},
                                            {"url": format!("{}/b", up.url), "subset": "v2"}]}),
        )
        .await;
    let id = service.body["id"].as_str().unwrap().to_string();
    let route = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "r", "path": "/x", "destinations": [{"service": "s", "subset": "v2"}]}),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text);
    let unknown_subset = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "r2", "path": "/y", "destinations": [{"service": "s", "subset": "v3"}]}),
        )
        .await;
    assert_eq!(unknown_subset.status, 422, "{}", unknown_subset.text);
    let dropped = admin
        .patch(
            &format!("/api/v1/tenants/default/services/{id}"),
            json!({"targets": [{"url": up.url, "subset": "v1"}]}),
        )
        .await;
    assert_eq!(dropped.status, 409, "{}", dropped.text);
    assert!(dropped.text.contains("subset 'v2'"), "{}", dropped.text);
}

/// An upstream whose health endpoint can be made to fail while it keeps serving everything
/// else; counts the requests that are not health checks.
struct Flaky {
    url: String,
    healthy: Arc<AtomicBool>,
    served: Arc<AtomicUsize>,
}

impl Flaky {
    async fn start() -> Self {
        let healthy = Arc::new(AtomicBool::new(true));
        let served = Arc::new(AtomicUsize::new(0));
        let (h, s) = (healthy.clone(), served.clone());
        let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
            let (healthy, served) = (h.clone(), s.clone());
            async move {
                if uri.path() == "/health" {
                    if healthy.load(Ordering::SeqCst) {
                        StatusCode::OK.into_response()
                    } else {
                        StatusCode::SERVICE_UNAVAILABLE.into_response()
                    }
                } else {
                    served.fetch_add(1, Ordering::SeqCst);
                    "flaky".into_response()
                }
            }
        });
        Self {
            url: serve(app).await,
            healthy,
            served,
        }
    }
}

#[tokio::test]
async fn an_active_health_check_takes_a_failing_target_out_and_brings_it_back() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let steady = Upstream::start("steady", Behaviour::Echo).await;
    let flaky = Flaky::start().await;
    let created = admin
        .post(
            "/api/v1/tenants/default/services",
            json!({"name": "checked", "targets": [{"url": steady.url}, {"url": flaky.url}],
                   "health_check": {"path": "/health", "interval": "200ms", "timeout": "100ms",
                                    "unhealthy_threshold": 2, "healthy_threshold": 2}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["health_check"]["interval"], "200ms");
    admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "r", "path": "/", "require_key": false, "service": "checked"}),
        )
        .await;
    let proxy = TestProxy::start(&server).await;
    let send = |count: usize| {
        let url = proxy.url("/work");
        async move {
            for _ in 0..count {
                assert_eq!(call(client().get(&url)).await.0, 200);
            }
        }
    };
    send(40).await;
    assert!(
        flaky.served.load(Ordering::SeqCst) > 0,
        "both targets serve"
    );

    // Its checks fail: within interval × threshold (400 ms) it gets no traffic at all, though
    // it still answers everything else.
    flaky.healthy.store(false, Ordering::SeqCst);
    let failed_at = Instant::now();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before = flaky.served.load(Ordering::SeqCst);
    send(40).await;
    assert_eq!(
        flaky.served.load(Ordering::SeqCst),
        before,
        "traffic reached a target out of rotation"
    );
    assert!(failed_at.elapsed() < Duration::from_secs(5));

    // It passes again: back within interval × healthy threshold.
    flaky.healthy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(700)).await;
    send(40).await;
    assert!(
        flaky.served.load(Ordering::SeqCst) > before,
        "the target never came back"
    );
    proxy.shutdown().await;
}
