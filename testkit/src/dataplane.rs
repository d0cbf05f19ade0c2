//! Upstreams played by small real HTTP servers, and a proxy started beside the test server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tollgate_proxy::config::{Config, LogFormat};
use tollgate_proxy::Proxy;

use crate::api::Api;
use crate::server::{TestServer, PROXY_TOKEN};

/// What a test upstream does with each request.
#[derive(Clone)]
pub enum Behaviour {
    /// Answers 200 with a JSON description of the request it got.
    Echo,
    /// Waits, then echoes.
    Slow(Duration),
    /// Answers with this status.
    Status(u16),
}

#[derive(Clone)]
struct UpstreamState {
    name: String,
    behaviour: Behaviour,
    hits: Arc<AtomicUsize>,
}

/// A running test upstream.
pub struct Upstream {
    /// `http://127.0.0.1:port` of the upstream.
    pub url: String,
    hits: Arc<AtomicUsize>,
}

impl Upstream {
    /// Starts an upstream on an ephemeral loopback port; `name` is echoed in its answers.
    pub async fn start(name: &str, behaviour: Behaviour) -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let state = UpstreamState {
            name: name.into(),
            behaviour,
            hits: hits.clone(),
        };
        let app = axum::Router::new().fallback(answer).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, hits }
    }

    /// How many requests reached this upstream.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn answer(State(state): State<UpstreamState>, request: Request) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    match state.behaviour {
        Behaviour::Status(code) => return StatusCode::from_u16(code).unwrap().into_response(),
        Behaviour::Slow(delay) => tokio::time::sleep(delay).await,
        Behaviour::Echo => {}
    }
    let (parts, body) = request.into_parts();
    let headers: serde_json::Map<String, Value> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v.to_str().unwrap_or(""))))
        .collect();
    let body_len = body
        .collect()
        .await
        .map(|b| b.to_bytes().len())
        .unwrap_or(0);
    Json(json!({
        "upstream": state.name,
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "headers": headers,
        "body_len": body_len,
    }))
    .into_response()
}

/// An address nothing listens on: connections are refused.
pub async fn dead_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

/// Starts a proxy following the test server, with its state in `data_dir`.
pub async fn start_proxy(server: &TestServer, data_dir: &Path) -> Proxy {
    Proxy::start(&proxy_config(server, data_dir))
        .await
        .expect("proxy starts")
}

/// The configuration of a proxy following the test server.
pub fn proxy_config(server: &TestServer, data_dir: &Path) -> Config {
    Config {
        server_url: server.base.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        metrics_listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: data_dir.to_path_buf(),
        workers: 2,
        proxy_token: Some(PROXY_TOKEN.into()),
        log_format: LogFormat::Text,
        max_connections_per_client: 1024,
        header_timeout: Duration::from_secs(20),
        redis_url: None,
        limits_mode: tollgate_proxy::config::LimitMode::Sync,
        redis_sync_interval: Duration::from_millis(100),
        budget_failure: tollgate_proxy::config::BudgetFailure::FailOpen,
        budget_max_output_tokens: 4096,
    }
}

/// Waits until the proxy has loaded the server's newest configuration.
pub async fn synced(server: &TestServer, proxy: &Proxy) {
    let version: i64 = sqlx::query_scalar("SELECT version FROM config_version")
        .fetch_one(&server.db)
        .await
        .unwrap();
    for _ in 0..250 {
        if proxy.config_version() >= version {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "the proxy did not load version {version} (it has {})",
        proxy.config_version()
    );
}

/// Creates a route in the `default` tenant and returns its id.
pub async fn create_route(admin: &Api, route: Value) -> String {
    let reply = admin.post("/api/v1/tenants/default/routes", route).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    reply.body["id"].as_str().unwrap().to_string()
}

/// Creates a key in the `default` tenant; returns (id, secret).
pub async fn create_key(admin: &Api, key: Value) -> (String, String) {
    create_key_in(admin, "default", key).await
}

/// Creates a key in `tenant`; returns (id, secret).
pub async fn create_key_in(admin: &Api, tenant: &str, key: Value) -> (String, String) {
    let reply = admin
        .post(&format!("/api/v1/tenants/{tenant}/keys"), key)
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
    (
        reply.body["id"].as_str().unwrap().to_string(),
        reply.body["secret"].as_str().unwrap().to_string(),
    )
}

/// A plain HTTP client for calling through the proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().build().unwrap()
}

/// Sends a request through the proxy; returns status, headers and the body as JSON (or Null).
pub async fn call(request: reqwest::RequestBuilder) -> (u16, reqwest::header::HeaderMap, Value) {
    let response = request.send().await.expect("request through the proxy");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

/// Serves `app` on a loopback port (a provider or upstream played by a test); returns its
/// `http://address`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// A proxy following the test server, with a data directory of its own, that has loaded the
/// server's newest configuration.
pub struct TestProxy {
    proxy: Proxy,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for TestProxy {
    type Target = Proxy;

    fn deref(&self) -> &Proxy {
        &self.proxy
    }
}

impl TestProxy {
    /// Starts one and waits until it is in step with the server.
    pub async fn start(server: &TestServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let proxy = start_proxy(server, dir.path()).await;
        synced(server, &proxy).await;
        Self { proxy, _dir: dir }
    }

    /// Starts one with `adjust` applied to its configuration.
    pub async fn start_with(server: &TestServer, adjust: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = proxy_config(server, dir.path());
        adjust(&mut config);
        let proxy = Proxy::start(&config).await.expect("proxy starts");
        synced(server, &proxy).await;
        Self { proxy, _dir: dir }
    }

    /// A metric's value as the proxy exports it (`None` when absent).
    pub async fn metric(&self, name: &str) -> Option<f64> {
        let text = client()
            .get(format!("http://{}/metrics", self.proxy.metrics_addr()))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines().find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// The URL of `path` on the proxy's traffic port.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.traffic_addr())
    }

    /// A chat completion of `model` saying "Hi", with `key`.
    pub fn chat(&self, key: &str, model: &str) -> reqwest::RequestBuilder {
        client()
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]}))
    }

    /// Stops it gracefully (usage delivered or spooled).
    pub async fn shutdown(self) {
        self.proxy.shutdown().await;
    }
}
