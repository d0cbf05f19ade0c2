use std::time::Duration;

use axum::body::Body;
use serde_json::json;
use tokio::sync::mpsc;

use tollgate_testkit::TestServer;
use tollgate_testkit::{
    call, client, create_key, create_route, start_proxy, synced, Behaviour, Upstream,
};
use tollgate_testkit::{serve, TestProxy};

#[tokio::test]
async fn a_proxy_restarted_while_the_server_is_down_serves_from_its_cache() {
    let mut server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    create_route(
        &admin,
        json!({"name": "orders", "path": "/", "targets": [{"url": up.url}]}),
    )
    .await;
    let (_, secret) = create_key(&admin, json!({"name": "k"})).await;
    let provider_key = "sk-cache-must-not-hold-this-key-1234";
    let provider = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "p", "kind": "openai", "api_key": provider_key}),
        )
        .await;
    assert_eq!(provider.status, 201, "{}", provider.text);
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&server, dir.path()).await;
    synced(&server, &proxy).await;
    let version = proxy.config_version();
    proxy.shutdown().await;
    // The cached snapshot holds provider credentials: on disk it is encrypted.
    let cached = std::fs::read(dir.path().join("snapshot.json")).unwrap();
    assert!(!cached
        .windows(provider_key.len())
        .any(|w| w == provider_key.as_bytes()));
    assert!(!cached.windows(secret.len()).any(|w| w == secret.as_bytes()));

    server.stop().await;
    let proxy = start_proxy(&server, dir.path()).await;
    assert_eq!(
        proxy.config_version(),
        version,
        "started from the cached snapshot"
    );
    let ready = client()
        .get(format!("http://{}/readyz", proxy.metrics_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let (status, _, body) = call(
        client()
            .get(format!("http://{}/x", proxy.traffic_addr()))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_proxy_without_any_configuration_is_not_ready() {
    let mut server = TestServer::start().await;
    server.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&server, dir.path()).await;
    let ready = client()
        .get(format!("http://{}/readyz", proxy.metrics_addr()))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let (status, _, body) = call(client().get(format!("http://{}/x", proxy.traffic_addr()))).await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["code"], "not_ready");
    proxy.shutdown().await;
}

#[tokio::test]
async fn large_bodies_stream_through_both_ways() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;

    // A download the upstream produces piece by piece: the first piece must reach the client
    // while the upstream still holds the rest back.
    let (release_tx, release_rx) = mpsc::channel::<()>(1);
    let release_rx = std::sync::Arc::new(tokio::sync::Mutex::new(Some(release_rx)));
    let streaming = axum::Router::new().fallback(move || {
        let release = release_rx.clone();
        async move {
            let mut release = release.lock().await.take().expect("one download");
            let stream = async_stream(move |tx| async move {
                let _ = tx
                    .send(Ok::<_, std::io::Error>(vec![b'a'; 1024 * 1024]))
                    .await;
                release.recv().await;
                for _ in 0..15 {
                    let _ = tx.send(Ok(vec![b'b'; 1024 * 1024])).await;
                }
            });
            Body::from_stream(stream)
        }
    });
    let stream_url = serve(streaming).await;

    create_route(
        &admin,
        json!({"name": "upload", "path": "/upload", "retries": 2, "require_key": false,
        "targets": [{"url": up.url}]}),
    )
    .await;
    create_route(
        &admin,
        json!({"name": "download", "path": "/download", "require_key": false,
        "targets": [{"url": stream_url}]}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;

    let upload = vec![b'x'; 20 * 1024 * 1024];
    let (status, _, body) = call(
        client()
            .post(format!("http://{}/upload", proxy.traffic_addr()))
            .body(upload),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["body_len"], 20 * 1024 * 1024);

    let mut response = client()
        .get(format!("http://{}/download", proxy.traffic_addr()))
        .send()
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), response.chunk())
        .await
        .expect("the first piece arrives before the upstream finishes: the proxy streams")
        .unwrap()
        .unwrap();
    assert_eq!(first[0], b'a');
    release_tx.send(()).await.unwrap();
    let mut total = first.len();
    while let Some(chunk) = response.chunk().await.unwrap() {
        total += chunk.len();
    }
    assert_eq!(total, 16 * 1024 * 1024);
    proxy.shutdown().await;
}

/// A stream fed by a task through a channel.
fn async_stream<T, F, Fut>(produce: F) -> impl futures_util::Stream<Item = T>
where
    T: Send + 'static,
    F: FnOnce(mpsc::Sender<T>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(produce(tx));
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[tokio::test]
async fn the_server_lists_each_proxy_with_its_configuration_version() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let up = Upstream::start("up", Behaviour::Echo).await;
    let proxy = TestProxy::start(&server).await;
    create_route(
        &admin,
        json!({"name": "new", "path": "/", "targets": [{"url": up.url}]}),
    )
    .await;
    synced(&server, &proxy).await;
    let mut listed = serde_json::Value::Null;
    for _ in 0..100 {
        listed = admin.get("/api/v1/dataplanes").await.body;
        if listed["dataplanes"][0]["version"] == listed["config_version"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        listed["dataplanes"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    assert_eq!(
        listed["dataplanes"][0]["version"], listed["config_version"],
        "{listed}"
    );
    assert_eq!(
        listed["dataplanes"][0]["address"],
        proxy.traffic_addr().to_string()
    );
    let viewer = server
        .user_with_role("acme", "viewer@example.com", "viewer")
        .await;
    viewer.get("/api/v1/dataplanes").await.assert_problem(403);
    proxy.shutdown().await;
}
