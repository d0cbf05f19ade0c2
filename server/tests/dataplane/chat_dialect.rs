//! The Chat Completions dialect as SDK loops rely on it, whatever the provider behind it: no
//! usage chunk the client did not ask for, no empty text parts, parameters mapped into each
//! provider's range, a 400 (never a silent loss, never a retried 502) for what a provider
//! cannot do, and `GET /v1/models/{id}`.

use serde_json::{json, Value};

use tollgate_testkit::{call, client, create_key, TestProxy, TestServer};

use crate::ai::{start_anthropic_mock, start_mock, PROVIDER_KEY};

/// A server with an OpenAI-compatible mock behind `gpt` and an Anthropic mock behind `claude`;
/// returns what each mock received, a key, and a synced proxy.
struct Setup {
    server: TestServer,
    openai: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    anthropic: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    key: String,
    proxy: TestProxy,
}

impl Setup {
    async fn start() -> Self {
        let server = TestServer::start().await;
        let admin = server.admin().await;
        let (openai_url, openai) = start_mock(false).await;
        let (anthropic_url, anthropic) = start_anthropic_mock().await;
        for (name, kind, url) in [
            ("oai", "openai_compatible", openai_url),
            ("ant", "anthropic", anthropic_url),
        ] {
            let created = admin
                .post(
                    "/api/v1/tenants/default/providers",
                    json!({"name": name, "kind": kind, "base_url": url, "api_key": PROVIDER_KEY}),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        for (name, provider, model) in [("gpt", "oai", "mock-1"), ("claude", "ant", "claude-x")] {
            let created = admin
                .post(
                    "/api/v1/tenants/default/models",
                    json!({"name": name, "deployments": [{"provider": provider, "model": model}],
                           "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
                )
                .await;
            assert_eq!(created.status, 201, "{}", created.text);
        }
        let (_, key) = create_key(
            &admin,
            json!({"name": "sdk", "scopes": {"models": ["gpt", "claude"]}}),
        )
        .await;
        let proxy = TestProxy::start(&server).await;
        Self {
            server,
            openai,
            anthropic,
            key,
            proxy,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.proxy.traffic_addr())
    }

    async fn chat(&self, body: Value) -> (u16, Value) {
        let (status, _, body) = call(
            client()
                .post(self.url("/v1/chat/completions"))
                .bearer_auth(&self.key)
                .json(&body),
        )
        .await;
        (status, body)
    }

    /// The data chunks of a streamed chat completion.
    async fn stream(&self, body: Value) -> Vec<Value> {
        let text = client()
            .post(self.url("/v1/chat/completions"))
            .bearer_auth(&self.key)
            .json(&body)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    }
}

#[tokio::test]
async fn streams_carry_the_usage_chunk_only_when_the_client_asks_but_are_always_metered() {
    let setup = Setup::start().await;
    for model in ["gpt", "claude"] {
        for asked in [None, Some(false), Some(true)] {
            let mut body = json!({"model": model, "stream": true,
                "messages": [{"role": "user", "content": "Hi"}]});
            if let Some(asked) = asked {
                body["stream_options"] = json!({"include_usage": asked});
            }
            let chunks = setup.stream(body).await;
            let usage_only: Vec<&Value> = chunks
                .iter()
                .filter(|c| c["choices"].as_array().is_some_and(Vec::is_empty))
                .collect();
            if asked == Some(true) {
                assert_eq!(usage_only.len(), 1, "{model}: {chunks:?}");
                assert!(usage_only[0]["usage"]["prompt_tokens"].as_u64() > Some(0));
            } else {
                assert!(usage_only.is_empty(), "{model} {asked:?}: {chunks:?}");
            }
        }
    }
    // The proxy still asked the provider for usage, and metered all six streams from it.
    let sent = setup.openai.lock().unwrap().clone();
    assert!(sent
        .iter()
        .all(|b| b["stream_options"]["include_usage"] == true));
    let metered: Vec<(i64, bool)> = loop {
        let rows: Vec<(i64, bool)> = sqlx::query_as(
            "SELECT input_tokens, tokens_estimated FROM usage_events WHERE model_id IS NOT NULL",
        )
        .fetch_all(&setup.server.db)
        .await
        .unwrap();
        if rows.len() >= 6 {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(
        metered
            .iter()
            .all(|(input, estimated)| *input > 0 && !estimated),
        "{metered:?}"
    );
    setup.proxy.shutdown().await;
}

#[tokio::test]
async fn anthropic_gets_no_empty_text_and_parameters_in_its_own_range() {
    let setup = Setup::start().await;
    let (status, body) = setup
        .chat(
            json!({"model": "claude", "temperature": 1.5, "parallel_tool_calls": false,
            "messages": [
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": "", "tool_calls": [{"id": "t1", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "21C"}],
            "tools": [{"type": "function", "function": {"name": "weather",
                "parameters": {"type": "object"}}}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let sent = setup.anthropic.lock().unwrap()[0].clone();
    assert_eq!(
        sent["temperature"], 1.0,
        "OpenAI's 0-2 is capped at Anthropic's 1"
    );
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "auto", "disable_parallel_tool_use": true})
    );
    assert!(sent["tools"][0].get("description").is_none(), "{sent}");
    let assistant = &sent["messages"][1]["content"];
    assert_eq!(assistant.as_array().map(Vec::len), Some(1), "{sent}");
    assert_eq!(assistant[0]["type"], "tool_use");
    setup.proxy.shutdown().await;
}

#[tokio::test]
async fn what_no_deployment_can_do_is_a_400_that_says_why() {
    let setup = Setup::start().await;
    let embeddings = call(
        client()
            .post(setup.url("/v1/embeddings"))
            .bearer_auth(&setup.key)
            .json(&json!({"model": "claude", "input": "hello"})),
    )
    .await;
    assert_eq!(embeddings.0, 400, "{}", embeddings.2);
    assert!(embeddings.2["error"]["message"]
        .as_str()
        .unwrap()
        .contains("embeddings"));
    for (field, value) in [("n", json!(2)), ("logprobs", json!(true))] {
        let mut body = json!({"model": "claude", "messages": [{"role": "user", "content": "Hi"}]});
        body[field] = value;
        let (status, answer) = setup.chat(body).await;
        assert_eq!(status, 400, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(field), "{message}");
    }
    assert!(
        setup.anthropic.lock().unwrap().is_empty(),
        "nothing was sent upstream"
    );
    setup.proxy.shutdown().await;
}

#[tokio::test]
async fn a_model_is_retrieved_by_name_when_the_key_may_call_it() {
    let setup = Setup::start().await;
    let get = |name: &str| {
        call(
            client()
                .get(setup.url(&format!("/v1/models/{name}")))
                .bearer_auth(&setup.key),
        )
    };
    let (status, _, model) = get("claude").await;
    assert_eq!(status, 200, "{model}");
    assert_eq!(
        model,
        json!({"id": "claude", "object": "model", "created": 0, "owned_by": "tollgate"})
    );
    let (status, _, missing) = get("nope").await;
    assert_eq!(status, 404, "{missing}");
    assert_eq!(missing["error"]["code"], "model_not_found");
    setup.proxy.shutdown().await;
}
