//! The dialect conformance suite: every client dialect (Chat Completions, Messages, Responses)
//! against every provider kind (OpenAI family, Anthropic, Gemini), for text, streamed text,
//! parallel tool calls (streamed as argument deltas where the provider streams them so), and a
//! provider's refusal. Provider answers follow each provider's public API reference; every
//! answer reports 10 input and 3 output tokens, and the usage the client sees and the proxy
//! meters must be exactly that.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use tollgate_testkit::{client, serve, TestServer};

use crate::sdk::model_per_kind;

const TEXT: &str = "Hello there";

/// What the client asked the mock for, from a marker in the prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    Text,
    Tools,
    Refused,
}

fn scenario_of(body: &Value) -> Scenario {
    let text = body.to_string();
    if text.contains("scenario:tools") {
        Scenario::Tools
    } else if text.contains("scenario:refused") {
        Scenario::Refused
    } else {
        Scenario::Text
    }
}

/// Anthropic's stream: each event named by its type.
fn anthropic_stream(events: &[Value]) -> Response {
    let text: String = events
        .iter()
        .map(|e| format!("event: {}\ndata: {e}\n\n", e["type"].as_str().unwrap_or("")))
        .collect();
    ([("content-type", "text/event-stream")], Body::from(text)).into_response()
}

/// OpenAI's stream: data lines, then `[DONE]`.
fn openai_stream(events: &[Value]) -> Response {
    let text: String = events.iter().map(|e| format!("data: {e}\n\n")).collect();
    let body = Body::from(text + "data: [DONE]\n\n");
    ([("content-type", "text/event-stream")], body).into_response()
}

/// OpenAI's Chat Completions, as api.openai.com answers.
async fn openai(Json(body): Json<Value>) -> Response {
    let usage = json!({"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13});
    let chunk = |delta: Value, finish: Value| {
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
    };
    let stream = body["stream"] == true;
    match scenario_of(&body) {
        Scenario::Refused => (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "bad thing",
            "type": "invalid_request_error", "param": null, "code": null}}))).into_response(),
        Scenario::Text if stream => {
            let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
            events.extend(["Hello", " there"].map(|t| chunk(json!({"content": t}), Value::Null)));
            events.push(chunk(json!({}), json!("stop")));
            events.push(json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                               "model": "gpt-x", "choices": [], "usage": usage}));
            openai_stream(&events)
        }
        Scenario::Text => Json(json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "gpt-x", "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT},
            "finish_reason": "stop"}], "usage": usage})).into_response(),
        Scenario::Tools if stream => {
            let call = |index: u64, id: &str, name: &str| json!({"tool_calls": [{"index": index, "id": id,
                "type": "function", "function": {"name": name, "arguments": ""}}]});
            let args = |index: u64, part: &str| json!({"tool_calls": [{"index": index, "function": {"arguments": part}}]});
            let events = vec![
                chunk(json!({"role": "assistant", "content": null}), Value::Null),
                chunk(call(0, "call_a", "get_weather"), Value::Null),
                chunk(args(0, "{\"city\":"), Value::Null),
                chunk(args(0, "\"Paris\"}"), Value::Null),
                chunk(call(1, "call_b", "get_time"), Value::Null),
                chunk(args(1, "{\"tz\":\"CET\"}"), Value::Null),
                chunk(json!({}), json!("tool_calls")),
                json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-x",
                       "choices": [], "usage": usage}),
            ];
            openai_stream(&events)
        }
        Scenario::Tools => Json(json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "gpt-x", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": null, "tool_calls": [
                    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": "{\"city\":\"Paris\"}"}},
                    {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": "{\"tz\":\"CET\"}"}}]}}],
            "usage": usage})).into_response(),
    }
}

/// Anthropic's Messages API, as api.anthropic.com answers.
async fn anthropic(Json(body): Json<Value>) -> Response {
    let stream = body["stream"] == true;
    let scenario = scenario_of(&body);
    if scenario == Scenario::Refused {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"type": "error",
            "error": {"type": "invalid_request_error", "message": "bad thing"}})),
        )
            .into_response();
    }
    let tools = scenario == Scenario::Tools;
    if !stream {
        let content = if tools {
            json!([{"type": "tool_use", "id": "toolu_a", "name": "get_weather", "input": {"city": "Paris"}},
                   {"type": "tool_use", "id": "toolu_b", "name": "get_time", "input": {"tz": "CET"}}])
        } else {
            json!([{"type": "text", "text": TEXT}])
        };
        return Json(
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": if tools { "tool_use" } else { "end_turn" },
            "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 3}}),
        )
        .into_response();
    }
    let mut events = vec![
        json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1}}}),
        json!({"type": "ping"}),
    ];
    if tools {
        for (index, id, name, parts) in [
            (0, "toolu_a", "get_weather", ["{\"city\":", "\"Paris\"}"]),
            (1, "toolu_b", "get_time", ["{\"tz\":", "\"CET\"}"]),
        ] {
            events.push(json!({"type": "content_block_start", "index": index,
                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}));
            for part in parts {
                events.push(json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": part}}));
            }
            events.push(json!({"type": "content_block_stop", "index": index}));
        }
    } else {
        events.push(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
        for text in ["Hello", " there"] {
            events.push(json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": text}}));
        }
        events.push(json!({"type": "content_block_stop", "index": 0}));
    }
    events.push(json!({"type": "message_delta", "delta": {"stop_reason": if tools { "tool_use" } else { "end_turn" },
        "stop_sequence": null}, "usage": {"output_tokens": 3}}));
    events.push(json!({"type": "message_stop"}));
    anthropic_stream(&events)
}

/// Gemini's generateContent and streamGenerateContent (`alt=sse`), as Google answers.
async fn gemini(uri: Uri, Json(body): Json<Value>) -> Response {
    let stream = uri.path().ends_with(":streamGenerateContent");
    let usage = json!({"promptTokenCount": 10, "candidatesTokenCount": 3, "totalTokenCount": 13});
    let candidate = |parts: Value, finish: Option<&str>| {
        let mut candidate = json!({"content": {"role": "model", "parts": parts}, "index": 0});
        if let Some(finish) = finish {
            candidate["finishReason"] = json!(finish);
        }
        candidate
    };
    let answer = match scenario_of(&body) {
        Scenario::Refused => {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"error": {"code": 400, "message": "bad thing",
                "status": "INVALID_ARGUMENT"}})),
            )
                .into_response()
        }
        Scenario::Tools => vec![json!({"candidates": [candidate(json!([
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {"tz": "CET"}}}]), Some("STOP"))],
            "usageMetadata": usage, "modelVersion": "gemini-x"})],
        Scenario::Text if stream => vec![
            json!({"candidates": [candidate(json!([{"text": "Hello"}]), None)], "modelVersion": "gemini-x"}),
            json!({"candidates": [candidate(json!([{"text": " there"}]), Some("STOP"))],
                   "usageMetadata": usage, "modelVersion": "gemini-x"}),
        ],
        Scenario::Text => vec![
            json!({"candidates": [candidate(json!([{"text": TEXT}]), Some("STOP"))],
            "usageMetadata": usage, "modelVersion": "gemini-x"}),
        ],
    };
    if stream {
        let text: String = answer
            .iter()
            .map(|p| format!("data: {p}\r\n\r\n"))
            .collect();
        return ([("content-type", "text/event-stream")], Body::from(text)).into_response();
    }
    Json(answer[0].clone()).into_response()
}

/// What a client made of an answer, in any dialect.
#[derive(Debug, Default, PartialEq)]
struct Outcome {
    text: String,
    /// Tool calls by name, with their parsed arguments.
    calls: BTreeMap<String, Value>,
    input_tokens: u64,
    output_tokens: u64,
}

#[derive(Debug, Clone, Copy)]
enum Dialect {
    Chat,
    Messages,
    Responses,
}

fn request(dialect: Dialect, model: &str, scenario: &str, stream: bool) -> (&'static str, Value) {
    let prompt = format!("scenario:{scenario}");
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "tz": {"type": "string"}}});
    match dialect {
        Dialect::Chat => (
            "/v1/chat/completions",
            json!({"model": model, "stream": stream,
            "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
            "messages": [{"role": "user", "content": prompt}],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": schema}},
                      {"type": "function", "function": {"name": "get_time", "parameters": schema}}]}),
        ),
        Dialect::Messages => (
            "/v1/messages",
            json!({"model": model, "stream": stream, "max_tokens": 100,
            "messages": [{"role": "user", "content": prompt}],
            "tools": [{"name": "get_weather", "input_schema": schema}, {"name": "get_time", "input_schema": schema}]}),
        ),
        Dialect::Responses => (
            "/v1/responses",
            json!({"model": model, "stream": stream, "input": prompt,
            "tools": [{"type": "function", "name": "get_weather", "parameters": schema},
                      {"type": "function", "name": "get_time", "parameters": schema}]}),
        ),
    }
}

fn events_of(text: &str) -> Vec<Value> {
    text.split("\n\n")
        .filter_map(|event| {
            let data: String = event
                .lines()
                .filter_map(|l| l.strip_prefix("data:"))
                .map(str::trim)
                .collect();
            serde_json::from_str(&data).ok()
        })
        .collect()
}

fn number(value: &Value) -> u64 {
    value.as_u64().unwrap_or(0)
}

/// Reads an answer the way each dialect's SDK would.
fn outcome(dialect: Dialect, stream: bool, text: &str) -> Outcome {
    let mut out = Outcome::default();
    let mut arguments: BTreeMap<u64, (String, String)> = BTreeMap::new();
    match (dialect, stream) {
        (Dialect::Chat, false) => {
            let answer: Value = serde_json::from_str(text).unwrap();
            let message = &answer["choices"][0]["message"];
            out.text = message["content"].as_str().unwrap_or("").to_string();
            for (i, call) in message["tool_calls"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                arguments.insert(
                    i as u64,
                    (
                        call["function"]["name"].as_str().unwrap().into(),
                        call["function"]["arguments"].as_str().unwrap().into(),
                    ),
                );
            }
            out.input_tokens = number(&answer["usage"]["prompt_tokens"]);
            out.output_tokens = number(&answer["usage"]["completion_tokens"]);
        }
        (Dialect::Chat, true) => {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            for chunk in events_of(text) {
                if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
                    out.input_tokens = number(&usage["prompt_tokens"]);
                    out.output_tokens = number(&usage["completion_tokens"]);
                }
                let delta = &chunk["choices"][0]["delta"];
                out.text.push_str(delta["content"].as_str().unwrap_or(""));
                for call in delta["tool_calls"].as_array().into_iter().flatten() {
                    let entry = arguments.entry(number(&call["index"])).or_default();
                    entry
                        .0
                        .push_str(call["function"]["name"].as_str().unwrap_or(""));
                    entry
                        .1
                        .push_str(call["function"]["arguments"].as_str().unwrap_or(""));
                }
            }
        }
        (Dialect::Messages, false) => {
            let message: Value = serde_json::from_str(text).unwrap();
            assert_eq!(message["type"], "message", "{text}");
            for (i, block) in message["content"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                match block["type"].as_str() {
                    Some("text") => out.text.push_str(block["text"].as_str().unwrap()),
                    Some("tool_use") => {
                        arguments.insert(
                            i as u64,
                            (
                                block["name"].as_str().unwrap().into(),
                                block["input"].to_string(),
                            ),
                        );
                    }
                    _ => {}
                }
            }
            out.input_tokens = number(&message["usage"]["input_tokens"]);
            out.output_tokens = number(&message["usage"]["output_tokens"]);
        }
        (Dialect::Messages, true) => {
            let events = events_of(text);
            assert_eq!(
                events.first().map(|e| e["type"].clone()),
                Some(json!("message_start")),
                "{text}"
            );
            assert_eq!(
                events.last().map(|e| e["type"].clone()),
                Some(json!("message_stop")),
                "{text}"
            );
            for event in events {
                match event["type"].as_str() {
                    Some("message_start") => {
                        out.input_tokens = number(&event["message"]["usage"]["input_tokens"])
                    }
                    Some("content_block_start") if event["content_block"]["type"] == "tool_use" => {
                        arguments.entry(number(&event["index"])).or_default().0 =
                            event["content_block"]["name"].as_str().unwrap().into();
                    }
                    Some("content_block_delta") => {
                        let delta = &event["delta"];
                        out.text.push_str(delta["text"].as_str().unwrap_or(""));
                        if let Some(part) = delta["partial_json"].as_str() {
                            arguments
                                .entry(number(&event["index"]))
                                .or_default()
                                .1
                                .push_str(part);
                        }
                    }
                    Some("message_delta") => {
                        out.output_tokens = number(&event["usage"]["output_tokens"]);
                        out.input_tokens = out
                            .input_tokens
                            .max(number(&event["usage"]["input_tokens"]));
                    }
                    _ => {}
                }
            }
        }
        (Dialect::Responses, false) => {
            let response: Value = serde_json::from_str(text).unwrap();
            assert_eq!(response["object"], "response", "{text}");
            responses_output(&response, &mut out, &mut arguments);
        }
        (Dialect::Responses, true) => {
            let events = events_of(text);
            let mut completed = None;
            for event in &events {
                match event["type"].as_str() {
                    Some("response.output_text.delta") => {
                        out.text.push_str(event["delta"].as_str().unwrap())
                    }
                    Some("response.output_item.added")
                        if event["item"]["type"] == "function_call" =>
                    {
                        arguments
                            .entry(number(&event["output_index"]))
                            .or_default()
                            .0 = event["item"]["name"].as_str().unwrap().into();
                    }
                    Some("response.function_call_arguments.delta") => {
                        arguments
                            .entry(number(&event["output_index"]))
                            .or_default()
                            .1
                            .push_str(event["delta"].as_str().unwrap());
                    }
                    Some("response.completed") => completed = Some(event["response"].clone()),
                    _ => {}
                }
            }
            let completed = completed.unwrap_or_else(|| panic!("no response.completed: {text}"));
            let mut whole = Outcome::default();
            let mut whole_arguments = BTreeMap::new();
            responses_output(&completed, &mut whole, &mut whole_arguments);
            assert_eq!(
                whole.text, out.text,
                "the completed response holds the streamed text"
            );
            out.input_tokens = whole.input_tokens;
            out.output_tokens = whole.output_tokens;
        }
    }
    for (name, args) in arguments.into_values() {
        let parsed = serde_json::from_str(&args)
            .unwrap_or_else(|e| panic!("{name} arguments {args:?}: {e}"));
        out.calls.insert(name, parsed);
    }
    out
}

fn responses_output(
    response: &Value,
    out: &mut Outcome,
    arguments: &mut BTreeMap<u64, (String, String)>,
) {
    for (i, item) in response["output"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        match item["type"].as_str() {
            Some("message") => {
                for part in item["content"].as_array().into_iter().flatten() {
                    out.text.push_str(part["text"].as_str().unwrap_or(""));
                }
            }
            Some("function_call") => {
                arguments.insert(
                    i as u64,
                    (
                        item["name"].as_str().unwrap().into(),
                        item["arguments"].as_str().unwrap().into(),
                    ),
                );
            }
            _ => {}
        }
    }
    out.input_tokens = number(&response["usage"]["input_tokens"]);
    out.output_tokens = number(&response["usage"]["output_tokens"]);
}

#[tokio::test]
async fn every_client_dialect_works_with_every_provider_kind() {
    let server = TestServer::start().await;
    let openai_url = format!("{}/v1", serve(axum::Router::new().fallback(openai)).await);
    let anthropic_url = serve(axum::Router::new().fallback(anthropic)).await;
    let gemini_url = format!(
        "{}/v1beta",
        serve(axum::Router::new().fallback(gemini)).await
    );
    let (key, proxy) = model_per_kind(&server, &openai_url, &anthropic_url, &gemini_url).await;

    let expected_calls: BTreeMap<String, Value> = [
        ("get_time".to_string(), json!({"tz": "CET"})),
        ("get_weather".to_string(), json!({"city": "Paris"})),
    ]
    .into();
    let mut answered = 0;
    for dialect in [Dialect::Chat, Dialect::Messages, Dialect::Responses] {
        for model in ["gpt", "claude", "gemini"] {
            for stream in [false, true] {
                for scenario in ["text", "tools", "refused"] {
                    let case = format!(
                        "{dialect:?} × {model} × {scenario}{}",
                        if stream { " (stream)" } else { "" }
                    );
                    let (path, body) = request(dialect, model, scenario, stream);
                    let response = client()
                        .post(format!("http://{}{path}", proxy.traffic_addr()))
                        .bearer_auth(&key)
                        .json(&body)
                        .send()
                        .await
                        .unwrap();
                    let status = response.status().as_u16();
                    let text = response.text().await.unwrap();
                    if scenario == "refused" {
                        assert_eq!(status, 400, "{case}: {text}");
                        let error: Value = serde_json::from_str(&text)
                            .unwrap_or_else(|_| panic!("{case}: {text}"));
                        if let Dialect::Messages = dialect {
                            assert_eq!(error["type"], "error", "{case}: {text}");
                        }
                        assert!(
                            error["error"]["message"]
                                .as_str()
                                .unwrap_or("")
                                .contains("bad thing"),
                            "{case}: {text}"
                        );
                        continue;
                    }
                    assert_eq!(status, 200, "{case}: {text}");
                    answered += 1;
                    let got = outcome(dialect, stream, &text);
                    let want = Outcome {
                        text: if scenario == "text" {
                            TEXT.into()
                        } else {
                            String::new()
                        },
                        calls: if scenario == "tools" {
                            expected_calls.clone()
                        } else {
                            BTreeMap::new()
                        },
                        input_tokens: 10,
                        output_tokens: 3,
                    };
                    assert_eq!(got, want, "{case}: {text}");
                }
            }
        }
    }

    assert_eq!(
        answered,
        3 * 3 * 2 * 2,
        "every dialect × provider × stream × scenario"
    );

    // Metered exactly as reported, streamed or not, in every dialect.
    let rows: Vec<(i64, i64, bool)> = loop {
        let rows: Vec<(i64, i64, bool)> = sqlx::query_as(
            "SELECT input_tokens, output_tokens, tokens_estimated FROM usage_events
             WHERE model_id IS NOT NULL AND status = 200",
        )
        .fetch_all(&server.db)
        .await
        .unwrap();
        if rows.len() >= answered {
            break rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(rows.len(), answered);
    assert!(rows.iter().all(|row| *row == (10, 3, false)), "{rows:?}");
    proxy.shutdown().await;
}
