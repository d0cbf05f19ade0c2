use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use tollgate_testkit::{call, client, create_key, synced};
use tollgate_testkit::{serve, TestProxy};
use tollgate_testkit::{Api, TestServer};

pub(crate) const PROVIDER_KEY: &str = "sk-mock-provider-key-0123456789";

/// An OpenAI-speaking provider on loopback. It reports 11 input tokens (3 of them cached) and
/// 7 output tokens for every chat call, and remembers the bodies it received.
#[derive(Clone)]
struct MockOpenAi {
    failing: bool,
    received: Arc<Mutex<Vec<Value>>>,
}

async fn mock_answer(
    State(mock): State<MockOpenAi>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok())
        != Some(&format!("Bearer {PROVIDER_KEY}"))
    {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": {"message": "bad key"}})),
        )
            .into_response();
    }
    mock.received.lock().unwrap().push(body.clone());
    if mock.failing {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({"error": {"message": "the mock is down"}})),
        )
            .into_response();
    }
    let usage = json!({"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18,
                       "prompt_tokens_details": {"cached_tokens": 3}});
    if body.get("input").is_some() {
        return Json(json!({"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
            "model": body["model"], "usage": {"prompt_tokens": 5, "total_tokens": 5}})).into_response();
    }
    if body.get("tools").is_some() {
        return Json(json!({"id": "c2", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": null,
                "tool_calls": [{"id": "call_1", "type": "function",
                    "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}}]}}],
            "usage": usage})).into_response();
    }
    if body["stream"] == true {
        let mut events = vec![
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}),
            json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                   "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}),
        ];
        if body["stream_options"]["include_usage"] == true {
            events.push(json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                               "choices": [], "usage": usage}));
        }
        let mut text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
        text.push_str("data: [DONE]\n\n");
        return ([("content-type", "text/event-stream")], Body::from(text)).into_response();
    }
    let content = if body.pointer("/response_format/type") == Some(&json!("json_object")) {
        "{\"sentiment\": \"positive\"}"
    } else {
        "Hello"
    };
    Json(json!({"id": "c1", "object": "chat.completion", "created": 1, "model": body["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": usage})).into_response()
}

pub(crate) async fn start_mock(failing: bool) -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new()
        .fallback(mock_answer)
        .with_state(MockOpenAi {
            failing,
            received: received.clone(),
        });
    let url = format!("{}/v1", serve(app).await);
    (url, received)
}

async fn provider(admin: &Api, name: &str, base_url: &str) {
    let reply = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": name,
        "kind": "openai_compatible", "base_url": base_url, "api_key": PROVIDER_KEY}),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
}

/// Starts an OpenAI-speaking mock and adds it as provider `name`; returns the bodies it gets.
pub(crate) async fn mock_provider(
    admin: &Api,
    name: &str,
    failing: bool,
) -> Arc<Mutex<Vec<Value>>> {
    let (url, received) = start_mock(failing).await;
    provider(admin, name, &url).await;
    received
}

/// Creates models of the given deployments, each at $1 per million tokens in and out.
async fn models(admin: &Api, models: &[(&str, Value)]) {
    for (name, deployments) in models {
        let created = admin
            .post(
                "/api/v1/tenants/default/models",
                json!({"name": name, "deployments": deployments,
                       "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.text);
    }
}

/// An AI scenario in a few chained calls: mock providers and models, then `start` adds a key
/// and a synced proxy.
#[derive(Default)]
struct Scenario {
    providers: Vec<(&'static str, bool)>,
    models: Vec<(&'static str, Value)>,
}

/// A started scenario.
struct Running {
    key: String,
    proxy: TestProxy,
    received: std::collections::HashMap<&'static str, Arc<Mutex<Vec<Value>>>>,
}

impl Scenario {
    /// An OpenAI-speaking mock provider, answering or (`failing`) always 500.
    fn provider(mut self, name: &'static str, failing: bool) -> Self {
        self.providers.push((name, failing));
        self
    }

    /// A model over these deployments, at $1 per million tokens each way.
    fn model(mut self, name: &'static str, deployments: Value) -> Self {
        self.models.push((name, deployments));
        self
    }

    async fn start(self, server: &TestServer) -> Running {
        let admin = server.admin().await;
        let mut received = std::collections::HashMap::new();
        for (name, failing) in self.providers {
            received.insert(name, mock_provider(&admin, name, failing).await);
        }
        models(&admin, &self.models).await;
        let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
        Running {
            key,
            proxy: TestProxy::start(server).await,
            received,
        }
    }
}

impl Running {
    fn chat(&self, model: &str) -> reqwest::RequestBuilder {
        self.proxy.chat(&self.key, model)
    }

    /// How many calls the mock provider `name` got.
    fn calls_to(&self, name: &str) -> usize {
        self.received
            .get(name)
            .map_or(0, |calls| calls.lock().unwrap().len())
    }
}

/// gpt-4o-mini prices: 0.15 in, 0.075 cached, 0.60 out per million tokens. For 11 input (3
/// cached) and 7 output tokens: 8 × 150 + 3 × 75 + 7 × 600 = 5,625 nano-dollars.
const EXPECTED_COST: i64 = 5_625;

async fn ai_events(
    server: &TestServer,
    expected: usize,
) -> Vec<(i64, i64, i64, i64, i32, Option<String>)> {
    for _ in 0..100 {
        let rows: Vec<(i64, i64, i64, i64, i32, Option<String>)> = sqlx::query_as(
            "SELECT input_tokens, cached_input_tokens, output_tokens, cost_nanousd, fallbacks, upstream_model
             FROM usage_events WHERE model_id IS NOT NULL ORDER BY id")
            .fetch_all(&server.db).await.unwrap();
        if rows.len() >= expected {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the AI usage events did not arrive");
}

#[tokio::test]
async fn chat_completions_are_forwarded_and_metered_exactly_streamed_or_not() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let received = mock_provider(&admin, "mock", false).await;
    let model = admin.post("/api/v1/tenants/default/models", json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "mock", "model": "mock-mini-001"}],
        "prices": {"input_per_mtok": "0.15", "cached_input_per_mtok": "0.075", "output_per_mtok": "0.60"}})).await;
    assert_eq!(model.status, 201, "{}", model.text);
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());

    let (status, _, body) = call(client().post(format!("{base}/v1/chat/completions")).bearer_auth(&key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0.2}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Hello");
    let sent = received.lock().unwrap()[0].clone();
    assert_eq!(
        sent["model"], "mock-mini-001",
        "the deployment's model name is sent"
    );
    assert_eq!(sent["temperature"], 0.2, "other fields pass through");

    let response = client().post(format!("{base}/v1/chat/completions")).bearer_auth(&key)
        .json(&json!({"model": "gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "Hi"}]}))
        .send().await.unwrap();
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let text = response.text().await.unwrap();
    assert!(
        text.contains("\"content\":\"Hel\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    assert_eq!(
        received.lock().unwrap()[1]["stream_options"]["include_usage"],
        true
    );

    let embedding = call(
        client()
            .post(format!("{base}/v1/embeddings"))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-4o-mini", "input": "hello"})),
    )
    .await;
    assert_eq!(embedding.0, 200, "{}", embedding.2);

    let events = ai_events(&server, 3).await;
    assert_eq!(
        events[0],
        (11, 3, 7, EXPECTED_COST, 0, Some("mock-mini-001".into()))
    );
    assert_eq!(
        events[1],
        (11, 3, 7, EXPECTED_COST, 0, Some("mock-mini-001".into())),
        "streams are metered the same"
    );
    assert_eq!(events[2].0, 5);
    assert_eq!(events[2].3, 750, "5 input tokens at $0.15 per million");

    // The usage API shows tokens and cost per request, and sums them per model and provider.
    let model_id = model.body["id"].as_str().unwrap();
    let log = admin
        .get(&format!("/api/v1/tenants/default/usage?model={model_id}"))
        .await;
    let logged = log.body["events"].as_array().unwrap();
    assert_eq!(logged.len(), 3, "{}", log.text);
    assert_eq!(logged[2]["cost_usd"], "0.000005625");
    assert_eq!(logged[2]["input_tokens"], 11);
    assert_eq!(logged[2]["upstream_model"], "mock-mini-001");
    let summary = admin.get("/api/v1/tenants/default/usage/summary").await;
    assert_eq!(
        summary.body["total"]["cost_usd"], "0.000012",
        "5,625 + 5,625 + 750 nano-dollars: {}",
        summary.text
    );
    assert_eq!(summary.body["total"]["output_tokens"], 14);
    assert_eq!(summary.body["by_model"][0]["name"], "gpt-4o-mini");
    assert_eq!(summary.body["by_model"][0]["requests"], 3);
    assert_eq!(summary.body["by_provider"][0]["name"], "mock");
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_request_in_the_providers_dialect_reaches_it_as_the_client_wrote_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    // A provider that keeps the bodies as bytes.
    let bodies = Arc::new(Mutex::new(Vec::<String>::new()));
    let kept = bodies.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let kept = kept.clone();
        async move {
            let stream = body.contains("\"stream\":true");
            kept.lock().unwrap().push(body);
            let usage = r#"{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}"#;
            if stream {
                let chunk = format!("data: {{\"choices\":[],\"usage\":{usage}}}\n\ndata: [DONE]\n\n");
                ([("content-type", "text/event-stream")], chunk).into_response()
            } else {
                let answer = format!(r#"{{"choices":[{{"index":0,"message":{{"role":"assistant","content":"ok"}},"finish_reason":"stop"}}],"usage":{usage}}}"#);
                ([("content-type", "application/json")], answer).into_response()
            }
        }
    });
    let url = format!("{}/v1", serve(app).await);
    provider(&admin, "bytes", &url).await;
    models(
        &admin,
        &[(
            "exact",
            json!([{"provider": "bytes", "model": "upstream-m"}]),
        )],
    )
    .await;
    let (_, key) = create_key(&admin, json!({"name": "bytes"})).await;
    let proxy = TestProxy::start(&server).await;
    let url = format!("http://{}/v1/chat/completions", proxy.traffic_addr());

    // Key order, number formats, a number beyond 64 bits, escapes and unknown members.
    let written = r#"{"messages":[{"role":"user","content":"caf\u00e9 \"quoted\""}], "seed": 123456789012345678901234, "temperature":1.0,"x_vendor":{"b":1,"a":[1e3, 2.50]},"model":"exact"}"#;
    let (status, _, body) = call(
        client()
            .post(&url)
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(written),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let expected = r#"{"messages":[{"role":"user","content":"caf\u00e9 \"quoted\""}],"seed":123456789012345678901234,"temperature":1.0,"x_vendor":{"b":1,"a":[1e3, 2.50]},"model":"upstream-m"}"#;
    assert_eq!(
        bodies.lock().unwrap()[0],
        expected,
        "only the model is replaced"
    );

    // A stream gets the usage asked for, in the client's own stream_options.
    let written = r#"{"model":"exact","stream":true,"stream_options":{"x":1},"messages":[{"role":"user","content":"Hi"}]}"#;
    let response = client()
        .post(&url)
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(written)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    assert_eq!(
        text, "data: [DONE]\n\n",
        "the usage chunk the client did not ask for is cut"
    );
    let sent = bodies.lock().unwrap()[1].clone();
    let options = serde_json::from_str::<Value>(&sent).unwrap()["stream_options"].clone();
    assert_eq!(options, json!({"x": 1, "include_usage": true}), "{sent}");
    assert!(
        sent.starts_with(r#"{"model":"upstream-m","stream":true,"stream_options":{"#)
            && sent.ends_with(r#"},"messages":[{"role":"user","content":"Hi"}]}"#),
        "{sent}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_failing_deployment_falls_back_to_the_next_priority() {
    let server = TestServer::start().await;
    let ai = Scenario::default()
        .provider("down", true)
        .provider("up", false)
        .model(
            "resilient",
            json!([{"provider": "down", "model": "a", "priority": 0},
                   {"provider": "up", "model": "b", "priority": 1}]),
        )
        .model("doomed", json!([{"provider": "down", "model": "a"}]))
        .start(&server)
        .await;
    let chat = |model: &str| ai.chat(model);

    let (status, _, body) = call(chat("resilient")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "b");
    assert_eq!(ai.calls_to("down"), 1, "the first choice was tried first");
    let (status, _, body) = call(chat("doomed")).await;
    assert_eq!(status, 502);
    assert_eq!(body["error"]["code"], "provider_error");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the mock is down"),
        "{body}"
    );
    let events = ai_events(&server, 2).await;
    assert_eq!(events[0].4, 1, "one fallback");
    assert_eq!(events[0].5.as_deref(), Some("b"));
    ai.proxy.shutdown().await;
}

#[tokio::test]
async fn models_are_scoped_by_tenant_and_key() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    mock_provider(&admin, "mock", false).await;
    for name in ["alpha", "beta"] {
        admin
            .post(
                "/api/v1/tenants/default/models",
                json!({"name": name,
            "deployments": [{"provider": "mock", "model": name}],
            "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
            )
            .await;
    }
    let (_, all) = create_key(&admin, json!({"name": "all"})).await;
    let (_, beta_only) = create_key(
        &admin,
        json!({"name": "beta", "scopes": {"models": ["beta"]}}),
    )
    .await;
    admin
        .post(
            "/api/v1/tenants",
            json!({"name": "Globex", "slug": "globex"}),
        )
        .await;
    let (_, foreign) =
        tollgate_testkit::create_key_in(&admin, "globex", json!({"name": "g"})).await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());

    let ids = |body: &Value| {
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let (_, _, listed) = call(client().get(format!("{base}/v1/models")).bearer_auth(&all)).await;
    assert_eq!(ids(&listed), ["alpha", "beta"]);
    let (_, _, listed) = call(
        client()
            .get(format!("{base}/v1/models"))
            .bearer_auth(&beta_only),
    )
    .await;
    assert_eq!(ids(&listed), ["beta"]);
    let (_, _, listed) = call(
        client()
            .get(format!("{base}/v1/models"))
            .bearer_auth(&foreign),
    )
    .await;
    assert_eq!(ids(&listed), Vec::<String>::new());

    let chat = |key: &str, model: &str| {
        client()
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(key)
            .json(&json!({"model": model, "messages": [{"role": "user", "content": "Hi"}]}))
    };
    let (status, _, body) = call(chat(&beta_only, "alpha")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("model_not_allowed"))
    );
    let (status, _, body) = call(chat(&foreign, "alpha")).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("model_not_found"))
    );
    let (status, _, body) = call(chat(&all, "nope")).await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (404, Some("invalid_request_error"))
    );
    let (status, _, _) = call(
        client()
            .post(format!("{base}/v1/chat/completions"))
            .bearer_auth(&all)
            .body("{oops"),
    )
    .await;
    assert_eq!(status, 400);
    let (status, _, _) = call(
        client()
            .post(format!("{base}/v1/chat/completions"))
            .json(&json!({"model": "alpha"})),
    )
    .await;
    assert_eq!(status, 401);
    proxy.shutdown().await;
}

/// Anthropic's Messages API on loopback: 20 fresh + 5 cached input tokens, 9 output tokens.
pub(crate) async fn start_anthropic_mock() -> (String, Arc<Mutex<Vec<Value>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = axum::Router::new().fallback(move |headers: HeaderMap, Json(body): Json<Value>| {
        let seen = seen.clone();
        async move {
            if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(PROVIDER_KEY)
                || headers.get("anthropic-version").is_none()
            {
                return (StatusCode::UNAUTHORIZED, Json(json!({"type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"}}))).into_response();
            }
            seen.lock().unwrap().push(body.clone());
            let usage_start = json!({"input_tokens": 20, "cache_read_input_tokens": 5,
                                     "cache_creation_input_tokens": 4, "output_tokens": 1});
            if body["stream"] == true {
                let events = [
                    ("message_start", json!({"type": "message_start", "message": {"id": "msg_1", "model": body["model"],
                        "content": [], "usage": usage_start}})),
                    ("content_block_start", json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}})),
                    ("content_block_delta", json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "Bon"}})),
                    ("content_block_delta", json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": "jour"}})),
                    ("content_block_stop", json!({"type": "content_block_stop", "index": 0})),
                    ("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                        "usage": {"output_tokens": 9}})),
                    ("message_stop", json!({"type": "message_stop"})),
                ];
                let text: String = events.iter().map(|(name, data)| format!("event: {name}\ndata: {data}\n\n")).collect();
                return ([("content-type", "text/event-stream")], Body::from(text)).into_response();
            }
            Json(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": "Bonjour"}], "stop_reason": "end_turn",
                "usage": {"input_tokens": 20, "cache_read_input_tokens": 5, "cache_creation_input_tokens": 4,
                          "output_tokens": 9}})).into_response()
        }
    });
    let url = serve(app).await;
    (url, received)
}

#[tokio::test]
async fn anthropic_is_called_in_its_own_api_and_answers_in_openais() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (url, received) = start_anthropic_mock().await;
    let created = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "claude", "kind": "anthropic",
        "base_url": url, "api_key": PROVIDER_KEY}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "haiku",
        "deployments": [{"provider": "claude", "model": "claude-haiku-4-5"}]}),
        )
        .await;
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let request = |stream: bool| {
        client().post(format!("{base}/v1/chat/completions")).bearer_auth(&key)
        .json(&json!({"model": "haiku", "stream": stream, "max_tokens": 50,
            "stream_options": {"include_usage": stream},
            "messages": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello"}]}))
    };

    let (status, _, body) = call(request(false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], "Bonjour");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!(body["usage"]["prompt_tokens"], 29);
    assert_eq!(body["usage"]["cache_creation_input_tokens"], 4);
    let sent = received.lock().unwrap()[0].clone();
    assert_eq!(sent["system"], "Answer in French.");
    assert_eq!(sent["model"], "claude-haiku-4-5");
    assert_eq!(sent["max_tokens"], 50);

    let text = request(true).send().await.unwrap().text().await.unwrap();
    let chunks: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
        })
        .collect();
    assert_eq!(content, "Bonjour");
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk"));
    assert!(chunks
        .iter()
        .any(|c| c.pointer("/choices/0/finish_reason") == Some(&json!("stop"))));
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 9);
    assert!(text.ends_with("data: [DONE]\n\n"));

    // haiku-4-5's list prices: $1 in, $0.10 cached, $1.25 cache write, $5 out per million
    // tokens: 20 × 1,000 + 5 × 100 + 4 × 1,250 + 9 × 5,000 = 70,500 nano-dollars, streamed or not.
    let events = ai_events(&server, 2).await;
    for event in &events {
        assert_eq!(
            (event.0, event.1, event.2, event.3),
            (29, 5, 9, 70_500),
            "{events:?}"
        );
    }
    let log = admin.get("/api/v1/tenants/default/usage").await;
    let logged = log.body["events"].as_array().unwrap();
    assert!(
        logged.iter().all(|e| e["cache_write_tokens"] == 4),
        "cache writes are in the usage log: {}",
        log.text
    );
    proxy.shutdown().await;
}

/// The official OpenAI Python SDK, unmodified but for base_url and api_key, against the proxy.
#[tokio::test]
async fn the_openai_python_sdk_works_against_the_proxy() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    mock_provider(&admin, "mock", false).await;
    let model = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "mock", "model": "mock-mini-001"}],
        "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}),
        )
        .await;
    assert_eq!(model.status, 201, "{}", model.text);
    let (_, key) = create_key(&admin, json!({"name": "sdk"})).await;
    let proxy = TestProxy::start(&server).await;

    let script = r#"
import os, json
from openai import OpenAI
client = OpenAI(base_url=os.environ["BASE_URL"], api_key=os.environ["API_KEY"])
out = {}
out["models"] = [m.id for m in client.models.list()]
chat = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
out["chat"] = chat.choices[0].message.content
out["chat_tokens"] = chat.usage.total_tokens
stream = client.chat.completions.create(model="gpt-4o-mini", stream=True,
    messages=[{"role": "user", "content": "Hi"}])
# The common loop: it fails on a usage-only chunk (choices == []) the client did not ask for.
out["stream"] = "".join(c.choices[0].delta.content or "" for c in stream)
tools = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Weather?"}],
    tools=[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}}}}])
call = tools.choices[0].message.tool_calls[0]
out["tool"] = [call.function.name, json.loads(call.function.arguments)]
emb = client.embeddings.create(model="gpt-4o-mini", input="hello")
out["embedding"] = len(emb.data[0].embedding)
try:
    client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "Hi"}])
except Exception as e:
    out["error"] = type(e).__name__
print(json.dumps(out))
"#;
    let base_url = format!("http://{}/v1", proxy.traffic_addr());
    let out = crate::sdk::run_sdk_script(script, &base_url, &key).await;
    assert_eq!(out["models"], json!(["gpt-4o-mini"]));
    assert_eq!(out["chat"], "Hello");
    assert_eq!(out["chat_tokens"], 18);
    assert_eq!(out["stream"], "Hello");
    assert_eq!(out["tool"], json!(["get_weather", {"city": "Paris"}]));
    assert_eq!(out["embedding"], 2);
    assert_eq!(out["error"], "NotFoundError");
    proxy.shutdown().await;
}

/// Gemini's API on loopback: 30 prompt tokens (10 cached), 4 output tokens.
pub(crate) async fn start_gemini_mock() -> (String, Arc<Mutex<Vec<(String, Value)>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap, Json(body): Json<Value>| {
        let seen = seen.clone();
        async move {
            if headers.get("x-goog-api-key").and_then(|v| v.to_str().ok()) != Some(PROVIDER_KEY) {
                return (StatusCode::FORBIDDEN, Json(json!({"error": {"code": 403, "message": "API key not valid", "status": "PERMISSION_DENIED"}}))).into_response();
            }
            seen.lock().unwrap().push((uri.to_string(), body));
            let usage = json!({"promptTokenCount": 30, "cachedContentTokenCount": 10, "candidatesTokenCount": 4, "totalTokenCount": 34});
            if uri.path().ends_with(":streamGenerateContent") {
                let parts = [
                    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hal"}]}}], "modelVersion": "gemini-2.5-flash"}),
                    json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
                           "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"}),
                ];
                let text: String = parts.iter().map(|p| format!("data: {p}\r\n\r\n")).collect();
                return ([("content-type", "text/event-stream")], Body::from(text)).into_response();
            }
            Json(json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hallo"}]}, "finishReason": "STOP"}],
                "usageMetadata": usage, "modelVersion": "gemini-2.5-flash"})).into_response()
        }
    });
    let url = format!("{}/v1beta", serve(app).await);
    (url, received)
}

#[tokio::test]
async fn gemini_is_called_in_its_own_api_and_answers_in_openais() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (url, received) = start_gemini_mock().await;
    admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "google", "kind": "gemini",
        "base_url": url, "api_key": PROVIDER_KEY}),
        )
        .await;
    let model = admin.post("/api/v1/tenants/default/models", json!({"name": "flash",
        "deployments": [{"provider": "google", "model": "gemini-2.5-flash"}],
        "prices": {"input_per_mtok": "0.30", "cached_input_per_mtok": "0.03", "output_per_mtok": "2.50"}})).await;
    assert_eq!(model.status, 201, "{}", model.text);
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let request = |stream: bool| {
        client().post(format!("{base}/v1/chat/completions")).bearer_auth(&key)
        .json(&json!({"model": "flash", "stream": stream,
            "messages": [{"role": "system", "content": "German only."}, {"role": "user", "content": "Hello"}]}))
    };

    let (status, _, body) = call(request(false)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Hallo");
    assert_eq!(body["usage"]["prompt_tokens_details"]["cached_tokens"], 10);
    let (path, sent) = received.lock().unwrap()[0].clone();
    assert_eq!(path, "/v1beta/models/gemini-2.5-flash:generateContent");
    assert_eq!(
        sent["systemInstruction"]["parts"][0]["text"],
        "German only."
    );

    let text = request(true).send().await.unwrap().text().await.unwrap();
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .filter_map(|d| serde_json::from_str::<Value>(d).ok())
        .filter_map(|c| {
            c.pointer("/choices/0/delta/content")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect();
    assert_eq!(content, "Hallo");
    assert!(received.lock().unwrap()[1]
        .0
        .ends_with(":streamGenerateContent?alt=sse"));

    // 20 × 300 + 10 × 30 + 4 × 2,500 = 16,300 nano-dollars, streamed or not.
    let events = ai_events(&server, 2).await;
    for event in &events {
        assert_eq!(
            (event.0, event.1, event.2, event.3),
            (30, 10, 4, 16_300),
            "{events:?}"
        );
    }
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_spent_budget_refuses_calls_on_every_proxy_until_it_resets() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let received = mock_provider(&admin, "mock", false).await;
    admin.post("/api/v1/tenants/default/models", json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "mock", "model": "m"}],
        "prices": {"input_per_mtok": "0.15", "cached_input_per_mtok": "0.075", "output_per_mtok": "0.60"}})).await;
    // Each call costs 5,625 nano-dollars: the budget of 10,000 allows two.
    let (_, key) = create_key(
        &admin,
        json!({"name": "capped",
        "budget": {"amount_usd": "0.00001", "period": "month"}}),
    )
    .await;
    let (_, burst_key) = create_key(
        &admin,
        json!({"name": "burst",
        "budget": {"amount_usd": "0.00001", "period": "day"}}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let chat =
        |key: &str| {
            client().post(format!("{base}/v1/chat/completions")).bearer_auth(key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        };

    assert_eq!(call(chat(&key)).await.0, 200);
    assert_eq!(call(chat(&key)).await.0, 200);
    let (status, _, body) = call(chat(&key)).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "budget_exceeded");
    assert_eq!(body["error"]["type"], "insufficient_quota");
    assert_eq!(
        received.lock().unwrap().len(),
        2,
        "a refused call never reaches the provider"
    );

    // Concurrent calls: at most those already in flight overrun; then the key is refused.
    let burst: Vec<_> = (0..8)
        .map(|_| tokio::spawn(chat(&burst_key).send()))
        .collect();
    for call in burst {
        let _ = call.await.unwrap();
    }
    assert_eq!(call(chat(&burst_key)).await.0, 429);

    // Another proxy (or this one restarted) learns the spend from the server.
    proxy.shutdown().await;
    let other = TestProxy::start(&server).await;
    for _ in 0..250 {
        if other.spend_reports() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let other_base = format!("http://{}", other.traffic_addr());
    let (status, _, body) = call(
        client()
            .post(format!("{other_base}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(
                &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
            ),
    )
    .await;
    assert_eq!(status, 429, "{body}");

    // Raising the budget lets the key call again.
    let id = admin.id_of("/api/v1/tenants/default/keys", "capped").await;
    admin
        .patch(
            &format!("/api/v1/tenants/default/keys/{id}"),
            json!({"budget": {"amount_usd": "1", "period": "month"}}),
        )
        .await;
    synced(&server, &other).await;
    let (status, _, _) = call(
        client()
            .post(format!("{other_base}/v1/chat/completions"))
            .bearer_auth(&key)
            .json(
                &json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
            ),
    )
    .await;
    assert_eq!(status, 200);
    other.shutdown().await;
}

#[tokio::test]
async fn the_tokens_per_minute_limit_refuses_calls_once_spent() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    mock_provider(&admin, "mock", false).await;
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "mock", "model": "m"}],
        "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}),
        )
        .await;
    // Each call uses 18 tokens: with 20 per minute, the second call overdraws the bucket.
    let (_, key) = create_key(
        &admin,
        json!({"name": "tpm", "limits": {"tokens_per_minute": 20}}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let chat =
        || {
            client().post(format!("{base}/v1/chat/completions")).bearer_auth(&key)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}))
        };
    assert_eq!(call(chat()).await.0, 200);
    assert_eq!(call(chat()).await.0, 200);
    let (status, headers, body) = call(chat()).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "token_rate_limited");
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((40..=60).contains(&retry_after), "{retry_after}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn prompt_apis_render_validate_version_and_meter() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let received = mock_provider(&admin, "mock", false).await;
    admin.post("/api/v1/tenants/default/models", json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "mock", "model": "m"}],
        "prices": {"input_per_mtok": "0.15", "cached_input_per_mtok": "0.075", "output_per_mtok": "0.60"}})).await;
    // The issue's shape.
    let created = admin.post("/api/v1/tenants/default/prompt-apis", json!({"slug": "sentiment", "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "You classify sentiment."}, {"role": "user", "content": "Text: {{text}}"}],
        "variables": [{"name": "text", "required": true}]})).await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.body["version"], 1);
    let id = created.body["id"].as_str().unwrap().to_string();
    admin
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "bad", "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "{{undeclared}}"}]}),
        )
        .await
        .assert_problem(422);
    admin
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "bad", "model": "no-such-model",
        "messages": [{"role": "user", "content": "x"}]}),
        )
        .await
        .assert_problem(422);

    let (_, key) = create_key(
        &admin,
        json!({"name": "prompts", "scopes": {"prompt_apis": ["sentiment"]}}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let run = |body: Value| {
        client()
            .post(format!("{base}/prompts/sentiment"))
            .bearer_auth(&key)
            .json(&body)
    };

    let (status, _, body) = call(run(json!({"text": "I love it"}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"], "Hello");
    assert_eq!(body["cost_usd"], "0.000005625");
    assert_eq!(body["usage"]["prompt_tokens"], 11);
    assert_eq!(body["prompt_api"]["version"], 1);
    let sent = received.lock().unwrap()[0].clone();
    assert_eq!(sent["messages"][1]["content"], "Text: I love it");
    assert_eq!(sent["messages"][0]["role"], "system");

    for (bad, named) in [
        (json!({}), "text"),
        (json!({"text": "a", "mood": 1}), "mood"),
        (json!({"text": 3}), "text"),
    ] {
        let (status, _, body) = call(run(bad)).await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(named),
            "{body}"
        );
    }

    // A JSON response format gives parsed output; the edit is version 2, version 1 stays.
    let patched = admin
        .patch(
            &format!("/api/v1/tenants/default/prompt-apis/{id}"),
            json!({"parameters": {"response_format": "json_object", "temperature": 0}}),
        )
        .await;
    assert_eq!(patched.body["version"], 2, "{}", patched.text);
    assert_eq!(patched.body["versions"].as_array().unwrap().len(), 2);
    synced(&server, &proxy).await;
    let (_, _, body) = call(run(json!({"text": "great"}))).await;
    assert_eq!(body["output"], json!({"sentiment": "positive"}), "{body}");
    assert_eq!(body["prompt_api"]["version"], 2);

    let back = admin
        .post(
            &format!("/api/v1/tenants/default/prompt-apis/{id}/versions/1/activate"),
            json!({}),
        )
        .await;
    assert_eq!(back.body["version"], 1, "{}", back.text);
    synced(&server, &proxy).await;
    let (_, _, body) = call(run(json!({"text": "great"}))).await;
    assert_eq!(body["output"], "Hello");

    // Streaming, the prompt's own OpenAPI document, and usage attributed to the prompt API.
    let text = client()
        .post(format!("{base}/prompts/sentiment?stream=true"))
        .bearer_auth(&key)
        .json(&json!({"text": "x"}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("\"content\":\"Hel\"") && text.ends_with("data: [DONE]\n\n"),
        "{text}"
    );
    let doc = admin
        .get(&format!(
            "/api/v1/tenants/default/prompt-apis/{id}/openapi.json"
        ))
        .await;
    assert_eq!(
        doc.body["paths"]["/prompts/sentiment"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["required"],
        json!(["text"])
    );
    let attributed: i64 = {
        let mut n = 0;
        for _ in 0..50 {
            n = sqlx::query_scalar(
                "SELECT count(*) FROM usage_events WHERE prompt_api_id = $1::uuid",
            )
            .bind(&id)
            .fetch_one(&server.db)
            .await
            .unwrap();
            if n >= 4 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        n
    };
    assert_eq!(attributed, 4, "three answered calls and one stream");
    proxy.shutdown().await;
}

/// A provider whose stream breaks off after two chunks, before any usage.
async fn start_cut_stream_mock() -> String {
    let app = axum::Router::new().fallback(|| async {
        let chunks = [
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "The quick brown fox"}}]}),
            json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
                   "choices": [{"index": 0, "delta": {"content": " jumps over the lazy dog"}}]}),
        ];
        let mut items: Vec<Result<String, std::io::Error>> =
            chunks.iter().map(|c| Ok(format!("data: {c}\n\n"))).collect();
        items.push(Err(std::io::Error::other("connection lost")));
        // Each piece a moment apart, so the first ones are sent before the connection breaks.
        let paced = futures_util::stream::unfold(items.into_iter(), |mut items| async move {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            items.next().map(|item| (item, items))
        });
        ([("content-type", "text/event-stream")], Body::from_stream(paced))
    });
    let url = format!("{}/v1", serve(app).await);
    url
}

#[tokio::test]
async fn a_stream_cut_before_its_usage_is_metered_with_estimated_tokens() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let url = start_cut_stream_mock().await;
    provider(&admin, "flaky", &url).await;
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "m",
        "deployments": [{"provider": "flaky", "model": "m"}],
        "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
        )
        .await;
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let response = client().post(format!("http://{}/v1/chat/completions", proxy.traffic_addr())).bearer_auth(&key)
        .json(&json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "Tell me about foxes and dogs"}]}))
        .send().await.unwrap();
    // The client gets what came before the break, then the stream ends in an error.
    let mut response = response;
    let mut received = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        received.extend_from_slice(&chunk);
    }
    let received = String::from_utf8_lossy(&received);
    assert!(received.contains("The quick brown fox"), "{received}");

    let mut row = None;
    for _ in 0..50 {
        row = sqlx::query_as::<_, (i64, i64, bool, i64)>(
            "SELECT input_tokens, output_tokens, tokens_estimated, cost_nanousd FROM usage_events WHERE model_id IS NOT NULL")
            .fetch_optional(&server.db).await.unwrap();
        if row.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (input, output, estimated, cost) = row.expect("the cut stream was metered");
    assert!(estimated);
    assert!(
        (5..=10).contains(&input),
        "input {input} output {output} cost {cost}"
    );
    assert!(
        (7..=12).contains(&output),
        "output {output}: 'The quick brown fox jumps over the lazy dog'"
    );
    assert_eq!(
        cost,
        (input + output) * 1_000,
        "$1 per million tokens each way"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn deployments_of_one_priority_share_calls_by_weight() {
    let server = TestServer::start().await;
    let ai = Scenario::default()
        .provider("a", false)
        .provider("b", false)
        .model(
            "split",
            json!([{"provider": "a", "model": "a", "weight": 3},
                   {"provider": "b", "model": "b", "weight": 1}]),
        )
        .start(&server)
        .await;
    for _ in 0..400 {
        let (status, _, _) = call(ai.chat("split")).await;
        assert_eq!(status, 200);
    }
    let share = ai.calls_to("a") as f64 / 400.0;
    assert_eq!(ai.calls_to("a") + ai.calls_to("b"), 400);
    // Random by weight: 400 calls give a standard deviation of about 0.022 around 0.75, so
    // these bounds (±4.5σ) fail a correct proxy about once in 100,000 runs.
    assert!(
        (0.65..=0.85).contains(&share),
        "a got {share:.3} of the calls (weight 3 of 4)"
    );
    ai.proxy.shutdown().await;
}

#[tokio::test]
async fn a_rate_limited_provider_falls_back_and_a_lone_one_passes_its_429_on() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let limited = axum::Router::new().fallback(|| async {
        (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({"error": {"message": "Rate limit reached for requests"}})),
        )
    });
    let limited_url = format!("{}/v1", serve(limited).await);
    let (ok_url, _) = start_mock(false).await;
    provider(&admin, "limited", &limited_url).await;
    provider(&admin, "spare", &ok_url).await;
    models(
        &admin,
        &[
            (
                "with-spare",
                json!([{"provider": "limited", "model": "x"}, {"provider": "spare", "model": "y", "priority": 1}]),
            ),
            ("alone", json!([{"provider": "limited", "model": "x"}])),
        ],
    )
    .await;
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let chat = |model: &str| proxy.chat(&key, model);
    let (status, _, body) = call(chat("with-spare")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "y");
    let (status, _, body) = call(chat("alone")).await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Rate limit reached"),
        "{body}"
    );
    proxy.shutdown().await;
}

#[tokio::test]
async fn a_provider_slow_to_answer_times_out_and_falls_back() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let slow = axum::Router::new().fallback(|| async {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        Json(json!({"choices": []}))
    });
    let slow_url = format!("{}/v1", serve(slow).await);
    let (fast_url, _) = start_mock(false).await;
    let created = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "slow", "kind": "openai_compatible",
        "base_url": slow_url, "api_key": PROVIDER_KEY, "timeout": "300ms"}),
        )
        .await;
    assert_eq!(created.body["timeout"], "300ms", "{}", created.text);
    admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "x", "kind": "openai", "api_key": "k",
        "timeout": "-1s"}),
        )
        .await
        .assert_problem(422);
    provider(&admin, "fast", &fast_url).await;
    models(
        &admin,
        &[
            (
                "slow-first",
                json!([{"provider": "slow", "model": "s"}, {"provider": "fast", "model": "f", "priority": 1}]),
            ),
            ("slow-only", json!([{"provider": "slow", "model": "s"}])),
        ],
    )
    .await;
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let chat = |model: &str| proxy.chat(&key, model);
    let started = std::time::Instant::now();
    let (status, _, body) = call(chat("slow-first")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "f");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let (status, _, body) = call(chat("slow-only")).await;
    assert_eq!(status, 504, "{body}");
    proxy.shutdown().await;
}

#[tokio::test]
async fn azure_openai_is_called_with_its_api_version_and_key_header() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let azure = axum::Router::new().fallback(move |uri: axum::http::Uri, headers: HeaderMap| {
        let log = log.clone();
        async move {
            log.lock().unwrap().push((uri.to_string(), headers.get("api-key").and_then(|v| v.to_str().ok()).map(str::to_string),
                headers.contains_key("authorization")));
            Json(json!({"id": "az", "object": "chat.completion", "created": 1, "model": "gpt-4o",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi from Azure"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}}))
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!(
        "http://{}/openai/deployments/prod-4o",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, azure).await });
    let created = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "azure", "kind": "azure_openai",
        "base_url": base, "api_key": PROVIDER_KEY, "api_version": "2024-10-21"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt-4o",
        "deployments": [{"provider": "azure", "model": "gpt-4o"}]}),
        )
        .await;
    let (_, key) = create_key(&admin, json!({"name": "ai"})).await;
    let proxy = TestProxy::start(&server).await;
    let (status, _, body) = call(
        client()
            .post(format!(
                "http://{}/v1/chat/completions",
                proxy.traffic_addr()
            ))
            .bearer_auth(&key)
            .json(&json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["choices"][0]["message"]["content"], "Hi from Azure");
    let (uri, api_key, has_bearer) = seen.lock().unwrap()[0].clone();
    assert_eq!(
        uri,
        "/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21"
    );
    assert_eq!(api_key.as_deref(), Some(PROVIDER_KEY));
    assert!(!has_bearer, "Azure takes api-key, not a bearer token");
    proxy.shutdown().await;
}
