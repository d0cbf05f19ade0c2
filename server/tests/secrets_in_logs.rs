//! Provider credentials never reach the logs of the server or the proxy, even at debug level.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};

use serde_json::json;
use tollgate_testkit::{serve, TestProxy};

/// Collects every log line of this test process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PROVIDER_KEY: &str = "sk-log-canary-0123456789abcdef";

#[tokio::test]
async fn provider_keys_never_appear_in_logs() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .init();

    let server = tollgate_testkit::TestServer::start().await;
    let admin = server.admin().await;
    // A provider that refuses the key: its error path is exercised too.
    let refusing = axum::Router::new().fallback(|| async {
        (
            axum::http::StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"message": "bad key"}})),
        )
    });
    let url = format!("{}/v1", serve(refusing).await);
    let created = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "p", "kind": "openai_compatible",
        "base_url": url, "api_key": PROVIDER_KEY, "headers": {"x-org": "org-canary-42"}}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    admin
        .post(
            &format!("/api/v1/tenants/default/providers/{id}/test"),
            json!({}),
        )
        .await;
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "m", "deployments": [{"provider": "p", "model": "m"}],
        "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
        )
        .await;
    let (_, key) = tollgate_testkit::create_key(&admin, json!({"name": "k"})).await;
    let proxy = TestProxy::start(&server).await;
    let (status, _, _) = tollgate_testkit::call(
        tollgate_testkit::client()
            .post(format!(
                "http://{}/v1/chat/completions",
                proxy.traffic_addr()
            ))
            .bearer_auth(&key)
            .json(&json!({"model": "m", "messages": [{"role": "user", "content": "Hi"}]})),
    )
    .await;
    assert_eq!(status, 401, "the provider's refusal is passed on");
    proxy.shutdown().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(
        logs.len() > 1000,
        "debug logging was captured: {} bytes",
        logs.len()
    );
    assert!(!logs.contains(PROVIDER_KEY), "a provider key was logged");
    assert!(
        !logs.contains("org-canary-42"),
        "a provider header was logged"
    );
    assert!(!logs.contains(&key), "an API key was logged");
}
