//! Helpers of the tests that drive the proxy with the official Python SDKs, and of the
//! tests that set up one model per provider kind.

use serde_json::{json, Value};

use tollgate_testkit::{create_key, Api, TestProxy, TestServer};

use crate::ai::PROVIDER_KEY;

/// Adds each provider (name, kind, base URL) with the mock providers' key, then each model
/// (name, provider, upstream model name) at $1 per million tokens each way.
pub(crate) async fn providers_and_models(
    admin: &Api,
    providers: &[(&str, &str, &str)],
    models: &[(&str, &str, &str)],
) {
    for (name, kind, url) in providers {
        let created = admin
            .post(
                "/api/v1/tenants/default/providers",
                json!({"name": name, "kind": kind, "base_url": url, "api_key": PROVIDER_KEY}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
    for (name, provider, model) in models {
        let created = admin
            .post(
                "/api/v1/tenants/default/models",
                json!({"name": name, "deployments": [{"provider": provider, "model": model}],
                       "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
}

/// Runs a Python script with the SDKs `test.sh` installs, `BASE_URL` and `API_KEY` in its
/// environment; returns the JSON it printed last.
pub(crate) async fn run_sdk_script(script: &str, base_url: &str, key: &str) -> Value {
    let python = std::env::var("TOLLGATE_TEST_PYTHON").expect(
        "TOLLGATE_TEST_PYTHON is not set: run the tests with ./test.sh, which installs the SDKs",
    );
    let output = tokio::process::Command::new(python)
        .args(["-c", script])
        .env("BASE_URL", base_url)
        .env("API_KEY", key)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap()
}

/// One model per provider kind on the given mock providers — `gpt` (OpenAI-compatible, upstream
/// `mock-1`), `claude` (Anthropic, `claude-sonnet-4-5`) and `gemini` (`gemini-2.5-flash`) — and
/// a key that may call them; returns the key and a synced proxy.
pub(crate) async fn model_per_kind(
    server: &TestServer,
    openai_url: &str,
    anthropic_url: &str,
    gemini_url: &str,
) -> (String, TestProxy) {
    let admin = server.admin().await;
    providers_and_models(
        &admin,
        &[
            ("oai", "openai_compatible", openai_url),
            ("ant", "anthropic", anthropic_url),
            ("goo", "gemini", gemini_url),
        ],
        &[
            ("gpt", "oai", "mock-1"),
            ("claude", "ant", "claude-sonnet-4-5"),
            ("gemini", "goo", "gemini-2.5-flash"),
        ],
    )
    .await;
    let (_, key) = create_key(&admin, json!({"name": "sdk"})).await;
    (key, TestProxy::start(server).await)
}
