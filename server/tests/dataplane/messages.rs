//! Anthropic's Messages API in (`POST /v1/messages`, what Claude Code speaks), driven by the
//! official `anthropic` Python SDK, unmodified but for `base_url` and `api_key`: relayed as it
//! is to an Anthropic provider (thinking signatures survive tool turns), translated for OpenAI
//! and Gemini providers, streamed or not, counted, metered, and refused in Anthropic's shape.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Json;
use serde_json::{json, Value};

use tollgate_testkit::{serve, TestServer};

use crate::ai::{start_gemini_mock, start_mock, PROVIDER_KEY};
use crate::sdk::{model_per_kind, run_sdk_script};

/// What the Anthropic mock received: the headers it cares about and the body.
type Received = Arc<Mutex<Vec<(Option<String>, Option<String>, Value)>>>;

/// Anthropic on loopback. Asked with tools it thinks (with a signature) and calls `weather`;
/// given the tool's result it answers in text; streams say "Bonjour". Usage: 20 fresh + 5
/// cached input tokens, 9 output tokens.
async fn start_anthropic() -> (String, Received) {
    let received: Received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let messages = move |headers: HeaderMap, Json(body): Json<Value>| {
        let seen = seen.clone();
        async move {
            if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some(PROVIDER_KEY) {
                return (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({"type": "error",
                    "error": {"type": "authentication_error", "message": "invalid x-api-key"}})),
                )
                    .into_response();
            }
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string)
            };
            seen.lock().unwrap().push((
                header("anthropic-version"),
                header("anthropic-beta"),
                body.clone(),
            ));
            let usage = json!({"input_tokens": 20, "cache_read_input_tokens": 5,
                               "cache_creation_input_tokens": 0, "output_tokens": 9});
            if body["stream"] == true {
                let events = [
                    json!({"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant",
                        "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": 20, "cache_read_input_tokens": 5, "output_tokens": 1}}}),
                    json!({"type": "ping"}),
                    json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Bon"}}),
                    json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "jour"}}),
                    json!({"type": "content_block_stop", "index": 0}),
                    json!({"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": 9}}),
                    json!({"type": "message_stop"}),
                ];
                let text: String = events
                    .iter()
                    .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap()))
                    .collect();
                return ([("content-type", "text/event-stream")], Body::from(text)).into_response();
            }
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .cloned()
                .unwrap_or_default();
            let answered_tool = last["content"][0]["type"] == "tool_result";
            let content = if body.get("tools").is_some() && !answered_tool {
                json!([{"type": "thinking", "thinking": "The weather tool knows.", "signature": "sig-abc=="},
                       {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Paris"}}])
            } else if answered_tool {
                json!([{"type": "text", "text": "It is 21C in Paris."}])
            } else {
                json!([{"type": "text", "text": "Bonjour"}])
            };
            let stop = if content[content.as_array().unwrap().len() - 1]["type"] == "tool_use" {
                "tool_use"
            } else {
                "end_turn"
            };
            Json(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": content, "stop_reason": stop, "stop_sequence": null, "usage": usage})).into_response()
        }
    };
    let count = |Json(body): Json<Value>| async move {
        Json(json!({"input_tokens": 40 + body["messages"].as_array().map_or(0, Vec::len)}))
    };
    let app = axum::Router::new()
        .route("/v1/messages", post(messages))
        .route("/v1/messages/count_tokens", post(count));
    (serve(app).await, received)
}

const SCRIPT: &str = r#"
import os, json, anthropic
client = anthropic.Anthropic(base_url=os.environ["BASE_URL"], api_key=os.environ["API_KEY"])
out = {}
for model in ["claude", "gpt", "gemini"]:
    r = {}
    m = client.messages.create(model=model, max_tokens=100, system="Be brief.",
        messages=[{"role": "user", "content": "Hi"}])
    r["text"] = "".join(b.text for b in m.content if b.type == "text")
    r["stop"] = m.stop_reason
    r["model"] = m.model
    r["usage"] = [m.usage.input_tokens, m.usage.output_tokens]
    with client.messages.stream(model=model, max_tokens=100,
            messages=[{"role": "user", "content": "Hi"}]) as stream:
        r["stream"] = "".join(stream.text_stream)
        final = stream.get_final_message()
    r["stream_stop"] = final.stop_reason
    r["stream_output_tokens"] = final.usage.output_tokens
    out[model] = r

tools = [{"name": "weather", "description": "Current weather",
          "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]
ask = {"role": "user", "content": "Weather in Paris?"}
thinking = {"type": "enabled", "budget_tokens": 1024}
first = client.messages.create(model="claude", max_tokens=2000, tools=tools, thinking=thinking,
    messages=[ask], extra_headers={"anthropic-beta": "interleaved-thinking-2025-05-14"})
use = next(b for b in first.content if b.type == "tool_use")
second = client.messages.create(model="claude", max_tokens=2000, tools=tools, thinking=thinking,
    messages=[ask, {"role": "assistant", "content": first.content},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "21C"}]}])
out["claude_tools"] = [first.stop_reason, use.name, use.input, second.content[-1].text]

gpt = client.messages.create(model="gpt", max_tokens=100, tools=tools, messages=[ask])
gpt_use = next(b for b in gpt.content if b.type == "tool_use")
out["gpt_tools"] = [gpt.stop_reason, gpt_use.name, gpt_use.input]

out["models"] = [m.id for m in client.models.list()]
out["model"] = [client.models.retrieve("claude").type, client.models.retrieve("claude").display_name]
out["count"] = [client.messages.count_tokens(model=m, messages=[ask]).input_tokens
                for m in ["claude", "gpt"]]
try:
    client.messages.create(model="nope", max_tokens=10, messages=[ask])
except anthropic.NotFoundError as e:
    out["not_found"] = e.body["error"]["type"]
try:
    anthropic.Anthropic(base_url=os.environ["BASE_URL"], api_key="tg_wrong", max_retries=0).messages.create(
        model="claude", max_tokens=10, messages=[ask])
except anthropic.AuthenticationError as e:
    out["bad_key"] = e.body["error"]["type"]
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_anthropic_sdk_works_against_every_provider_kind() {
    let server = TestServer::start().await;
    let (anthropic_url, anthropic) = start_anthropic().await;
    let (openai_url, _) = start_mock(false).await;
    let (gemini_url, _) = start_gemini_mock().await;
    let (key, proxy) = model_per_kind(&server, &openai_url, &anthropic_url, &gemini_url).await;

    let base_url = format!("http://{}", proxy.traffic_addr());
    let out = run_sdk_script(SCRIPT, &base_url, &key).await;

    // Anthropic: relayed; the usage Anthropic reports, its input without the cached part.
    assert_eq!(out["claude"]["text"], "Bonjour");
    assert_eq!(out["claude"]["model"], "claude-sonnet-4-5");
    assert_eq!(out["claude"]["usage"], json!([20, 9]));
    assert_eq!(out["claude"]["stream"], "Bonjour");
    assert_eq!(out["claude"]["stream_output_tokens"], 9);
    // OpenAI and Gemini: translated both ways, named as the client asked.
    assert_eq!(out["gpt"]["text"], "Hello");
    assert_eq!(out["gpt"]["model"], "gpt");
    assert_eq!(out["gpt"]["stop"], "end_turn");
    assert_eq!(
        out["gpt"]["usage"],
        json!([8, 7]),
        "11 input tokens, 3 of them cached"
    );
    assert_eq!(out["gpt"]["stream"], "Hello");
    assert_eq!(out["gpt"]["stream_stop"], "end_turn");
    assert_eq!(out["gpt"]["stream_output_tokens"], 7);
    assert_eq!(out["gemini"]["text"], "Hallo");
    assert_eq!(
        out["gemini"]["usage"],
        json!([20, 4]),
        "30 input tokens, 10 cached"
    );
    assert_eq!(out["gemini"]["stream"], "Hallo");
    assert_eq!(out["gemini"]["stream_output_tokens"], 4);

    assert_eq!(
        out["claude_tools"],
        json!(["tool_use", "weather", {"city": "Paris"}, "It is 21C in Paris."])
    );
    assert_eq!(
        out["gpt_tools"],
        json!(["tool_use", "get_weather", {"city": "Paris"}])
    );
    assert_eq!(out["models"], json!(["claude", "gemini", "gpt"]));
    assert_eq!(out["model"], json!(["model", "claude"]));
    assert_eq!(out["count"][0], 41, "asked of Anthropic");
    assert!(
        out["count"][1].as_u64().unwrap() > 0,
        "estimated: {}",
        out["count"]
    );
    assert_eq!(out["not_found"], "not_found_error");
    assert_eq!(out["bad_key"], "authentication_error");

    // What went up to Anthropic: the client's version and beta headers, the deployment's model
    // name, and the thinking block with its signature exactly as the model wrote it.
    let received = anthropic.lock().unwrap().clone();
    assert!(received.iter().all(
        |(version, _, body)| version.as_deref() == Some("2023-06-01")
            && body["model"] == "claude-sonnet-4-5"
    ));
    let first_tools = received
        .iter()
        .find(|(_, _, body)| body.get("tools").is_some())
        .unwrap();
    assert_eq!(
        first_tools.1.as_deref(),
        Some("interleaved-thinking-2025-05-14")
    );
    let second = &received
        .iter()
        .rev()
        .find(|(_, _, b)| b.get("tools").is_some())
        .unwrap()
        .2;
    assert_eq!(
        second["messages"][1]["content"][0],
        json!({"type": "thinking", "thinking": "The weather tool knows.", "signature": "sig-abc=="})
    );
    assert_eq!(
        second["thinking"],
        json!({"type": "enabled", "budget_tokens": 1024})
    );

    // Metered like chat completions: Anthropic's calls at 29 input (5 cached) and 9 output.
    let rows: Vec<(i64, i64, i64)> = loop {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT e.input_tokens, e.cached_input_tokens, e.output_tokens FROM usage_events e
             JOIN models m ON m.id = e.model_id WHERE m.name = 'claude' AND e.status = 200",
        )
        .fetch_all(&server.db)
        .await
        .unwrap();
        if rows.len() >= 4 {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(rows.iter().all(|row| *row == (25, 5, 9)), "{rows:?}");
    proxy.shutdown().await;
}
