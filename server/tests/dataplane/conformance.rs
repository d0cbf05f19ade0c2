//! The dialect conformance suite: every client dialect (Chat Completions, Messages, Responses)
//! against every provider kind (OpenAI family, Anthropic, Gemini), streamed and not, for text,
//! parallel tool calls (streamed as argument deltas where the provider streams them so), a JSON
//! schema, an image, a provider's refusal (an error), content the provider blocked, and a stream
//! the client abandons. Provider answers follow each provider's public API reference, and the
//! mock providers refuse a request that lost the schema or the image on the way. Every answer
//! reports 10 input and 3 output tokens: the usage the client sees, the tokens metered and the
//! cost (at $1 per million tokens each way) must be exactly that.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use tollgate_testkit::{client, create_key, serve, TestProxy, TestServer};

use crate::sdk::model_per_kind;

const TEXT: &str = "Hello there";

/// What the client asked the mock for, from a marker in the prompt.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scenario {
    Text,
    Tools,
    Refused,
    Schema,
    Image,
    Blocked,
    Abandoned,
}

const SCENARIOS: [Scenario; 6] = [
    Scenario::Text,
    Scenario::Tools,
    Scenario::Refused,
    Scenario::Schema,
    Scenario::Image,
    Scenario::Blocked,
];

impl Scenario {
    fn marker(self) -> String {
        format!("scenario:{self:?}").to_lowercase()
    }
}

fn scenario_of(body: &Value) -> Scenario {
    let text = body.to_string();
    SCENARIOS
        .into_iter()
        .chain([Scenario::Abandoned])
        .find(|s| text.contains(&s.marker()))
        .unwrap_or(Scenario::Text)
}

/// The answer to the schema scenario: JSON matching it.
const SCHEMA_ANSWER: &str = "{\"city\":\"Paris\"}";

/// A tiny PNG, as clients send images inline.
const PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

/// The mock's refusal when a request lost what the scenario sent.
fn lost(what: &str) -> Response {
    let message = format!("the request lost its {what}");
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"error": {"message": message, "type": "invalid_request_error"}})),
    )
        .into_response()
}

/// A stream that sends `text` and then stays open, as a long answer does.
fn held_open(text: String) -> Response {
    let first = futures_util::stream::once(async move { Ok::<_, std::io::Error>(text) });
    let body = Body::from_stream(futures_util::StreamExt::chain(
        first,
        futures_util::stream::pending(),
    ));
    ([("content-type", "text/event-stream")], body).into_response()
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
    let scenario = scenario_of(&body);
    match scenario {
        Scenario::Schema
            if body["response_format"]["json_schema"]["schema"]["properties"]["city"].is_null() =>
        {
            return lost("schema")
        }
        Scenario::Image
            if !body
                .to_string()
                .contains(&format!("data:image/png;base64,{PNG}")) =>
        {
            return lost("image")
        }
        _ => {}
    }
    let text = if scenario == Scenario::Schema {
        SCHEMA_ANSWER
    } else {
        TEXT
    };
    match scenario {
        Scenario::Abandoned => {
            let first = [chunk(json!({"role": "assistant", "content": ""}), Value::Null),
                         chunk(json!({"content": "Hello"}), Value::Null)];
            held_open(first.iter().map(|e| format!("data: {e}\n\n")).collect())
        }
        Scenario::Blocked => {
            let usage = json!({"prompt_tokens": 10, "completion_tokens": 0, "total_tokens": 10});
            if stream {
                openai_stream(&[
                    chunk(json!({"role": "assistant", "content": ""}), Value::Null),
                    chunk(json!({}), json!("content_filter")),
                    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                           "model": "gpt-x", "choices": [], "usage": usage}),
                ])
            } else {
                Json(json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-x",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": null, "refusal": null},
                    "finish_reason": "content_filter"}], "usage": usage})).into_response()
            }
        }
        Scenario::Refused => (StatusCode::BAD_REQUEST, Json(json!({"error": {"message": "bad thing",
            "type": "invalid_request_error", "param": null, "code": null}}))).into_response(),
        Scenario::Text | Scenario::Schema | Scenario::Image if stream => {
            let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
            let (head, tail) = text.split_at(5);
            events.extend([head, tail].map(|t| chunk(json!({"content": t}), Value::Null)));
            events.push(chunk(json!({}), json!("stop")));
            events.push(json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                               "model": "gpt-x", "choices": [], "usage": usage}));
            openai_stream(&events)
        }
        Scenario::Text | Scenario::Schema | Scenario::Image => Json(json!({"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": "gpt-x", "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
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
    let has_image = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|turn| {
            turn["content"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|block| {
                    block["type"] == "image"
                        && block["source"]
                            == json!({"type": "base64", "media_type": "image/png", "data": PNG})
                })
        });
    match scenario {
        Scenario::Schema if !body["system"].as_str().unwrap_or("").contains("\"city\"") => {
            return lost("schema")
        }
        Scenario::Image if !has_image => return lost("image"),
        _ => {}
    }
    let text = if scenario == Scenario::Schema {
        SCHEMA_ANSWER
    } else {
        TEXT
    };
    let start = json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "model": body["model"], "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 1}}});
    if scenario == Scenario::Abandoned {
        let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}});
        return held_open(format!(
            "event: message_start\ndata: {start}\n\nevent: content_block_delta\ndata: {delta}\n\n"
        ));
    }
    if scenario == Scenario::Blocked {
        let usage = json!({"input_tokens": 10, "output_tokens": 0});
        if !stream {
            return Json(json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
                "content": [], "stop_reason": "refusal", "stop_sequence": null, "usage": usage})).into_response();
        }
        return anthropic_stream(&[
            start,
            json!({"type": "message_delta",
            "delta": {"stop_reason": "refusal", "stop_sequence": null}, "usage": {"output_tokens": 0}}),
            json!({"type": "message_stop"}),
        ]);
    }
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
            json!([{"type": "text", "text": text}])
        };
        return Json(
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": content, "stop_reason": if tools { "tool_use" } else { "end_turn" },
            "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 3}}),
        )
        .into_response();
    }
    let mut events = vec![start, json!({"type": "ping"})];
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
        let (head, tail) = text.split_at(5);
        for text in [head, tail] {
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
    let scenario = scenario_of(&body);
    let has_image = body["contents"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|content| {
            content["parts"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|part| part["inlineData"] == json!({"mimeType": "image/png", "data": PNG}))
        });
    let schema = &body["generationConfig"]["responseSchema"];
    match scenario {
        // Gemini refuses JSON Schema keywords its Schema lacks.
        Scenario::Schema
            if schema["properties"]["city"].is_null()
                || body.to_string().contains("additionalProperties") =>
        {
            return lost("schema")
        }
        Scenario::Image if !has_image => return lost("image"),
        _ => {}
    }
    let text = if scenario == Scenario::Schema {
        SCHEMA_ANSWER
    } else {
        TEXT
    };
    let answer = match scenario {
        Scenario::Abandoned => {
            let first = json!({"candidates": [candidate(json!([{"text": "Hello"}]), None)],
                "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}, "modelVersion": "gemini-x"});
            return held_open(format!("data: {first}\r\n\r\n"));
        }
        Scenario::Blocked => vec![json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 10, "totalTokenCount": 10}, "modelVersion": "gemini-x"})],
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
        _ if stream => {
            let (head, tail) = text.split_at(5);
            vec![
                json!({"candidates": [candidate(json!([{"text": head}]), None)], "modelVersion": "gemini-x"}),
                json!({"candidates": [candidate(json!([{"text": tail}]), Some("STOP"))],
                       "usageMetadata": usage, "modelVersion": "gemini-x"}),
            ]
        }
        _ => vec![
            json!({"candidates": [candidate(json!([{"text": text}]), Some("STOP"))],
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
    /// Why the answer ended, in the dialect's words.
    stop: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dialect {
    Chat,
    Messages,
    Responses,
}

fn request(
    dialect: Dialect,
    model: &str,
    scenario: Scenario,
    stream: bool,
) -> (&'static str, Value) {
    let prompt = scenario.marker();
    let schema = json!({"type": "object", "properties": {"city": {"type": "string"}, "tz": {"type": "string"}}});
    // What pydantic writes for a strict structured output.
    let strict = json!({"type": "object", "additionalProperties": false, "title": "Place",
        "properties": {"city": {"type": "string"}}, "required": ["city"]});
    let image_url = format!("data:image/png;base64,{PNG}");
    let (path, mut body) = match dialect {
        Dialect::Chat => {
            let content = if scenario == Scenario::Image {
                json!([{"type": "text", "text": prompt}, {"type": "image_url", "image_url": {"url": image_url}}])
            } else {
                json!(prompt)
            };
            (
                "/v1/chat/completions",
                json!({"model": model, "stream": stream,
                "messages": [{"role": "user", "content": content}],
                "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": schema}},
                          {"type": "function", "function": {"name": "get_time", "parameters": schema}}]}),
            )
        }
        Dialect::Messages => {
            let content = if scenario == Scenario::Image {
                json!([{"type": "text", "text": prompt}, {"type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG}}])
            } else {
                json!(prompt)
            };
            (
                "/v1/messages",
                json!({"model": model, "stream": stream, "max_tokens": 100,
                "messages": [{"role": "user", "content": content}],
                "tools": [{"name": "get_weather", "input_schema": schema}, {"name": "get_time", "input_schema": schema}]}),
            )
        }
        Dialect::Responses => {
            let input = if scenario == Scenario::Image {
                json!([{"role": "user", "content": [{"type": "input_text", "text": prompt},
                    {"type": "input_image", "image_url": image_url}]}])
            } else {
                json!(prompt)
            };
            (
                "/v1/responses",
                json!({"model": model, "stream": stream, "input": input,
                "tools": [{"type": "function", "name": "get_weather", "parameters": schema},
                          {"type": "function", "name": "get_time", "parameters": schema}]}),
            )
        }
    };
    if stream && matches!(dialect, Dialect::Chat) {
        body["stream_options"] = json!({"include_usage": true});
    }
    if scenario == Scenario::Schema {
        match dialect {
            Dialect::Chat => {
                body["response_format"] = json!({"type": "json_schema",
                    "json_schema": {"name": "place", "strict": true, "schema": strict}});
            }
            Dialect::Responses => {
                body["text"] = json!({"format": {"type": "json_schema", "name": "place", "strict": true,
                    "schema": strict}});
            }
            // The Messages API has no structured output setting to translate.
            Dialect::Messages => {}
        }
    }
    (path, body)
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
            assert_eq!(answer["object"], "chat.completion", "{text}");
            out.stop = answer["choices"][0]["finish_reason"]
                .as_str()
                .unwrap_or("")
                .into();
        }
        (Dialect::Chat, true) => {
            assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
            for chunk in events_of(text) {
                if let Some(usage) = chunk.get("usage").filter(|u| u.is_object()) {
                    out.input_tokens = number(&usage["prompt_tokens"]);
                    out.output_tokens = number(&usage["completion_tokens"]);
                }
                assert_eq!(chunk["object"], "chat.completion.chunk", "{text}");
                if let Some(finish) = chunk["choices"][0]["finish_reason"].as_str() {
                    out.stop = finish.into();
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
            out.stop = message["stop_reason"].as_str().unwrap_or("").into();
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
                        out.stop = event["delta"]["stop_reason"].as_str().unwrap_or("").into();
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
                    Some("response.completed" | "response.incomplete") => {
                        completed = Some(event["response"].clone())
                    }
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
            out.stop = whole.stop;
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
    let reason = response["incomplete_details"]["reason"].as_str();
    out.stop = match (response["status"].as_str(), reason) {
        (Some(status), Some(reason)) => format!("{status}: {reason}"),
        (status, None) => status.unwrap_or("").to_string(),
        _ => String::new(),
    };
}

/// Why an answer of `scenario` ends, in each dialect's words.
fn expected_stop(dialect: Dialect, scenario: Scenario) -> &'static str {
    match (dialect, scenario) {
        (Dialect::Chat, Scenario::Tools) => "tool_calls",
        (Dialect::Chat, Scenario::Blocked) => "content_filter",
        (Dialect::Chat, _) => "stop",
        (Dialect::Messages, Scenario::Tools) => "tool_use",
        (Dialect::Messages, Scenario::Blocked) => "refusal",
        (Dialect::Messages, _) => "end_turn",
        (Dialect::Responses, Scenario::Blocked) => "incomplete: content_filter",
        (Dialect::Responses, _) => "completed",
    }
}

/// The usage events of `key`, once there are `count` of them: (upstream model, input tokens,
/// output tokens, estimated, cost).
async fn metered(
    server: &TestServer,
    key: &str,
    count: usize,
) -> Vec<(String, i64, i64, bool, i64)> {
    for _ in 0..200 {
        let rows: Vec<(String, i64, i64, bool, i64)> = sqlx::query_as(
            "SELECT upstream_model, input_tokens, output_tokens, tokens_estimated, cost_nanousd
             FROM usage_events WHERE key_id = $1::uuid AND model_id IS NOT NULL AND status = 200
             ORDER BY time",
        )
        .bind(key)
        .fetch_all(&server.db)
        .await
        .unwrap();
        if rows.len() >= count {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{count} usage events of key {key} never arrived");
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
    let key_id = key_id_of(&server, "sdk").await;

    let expected_calls: BTreeMap<String, Value> = [
        ("get_time".to_string(), json!({"tz": "CET"})),
        ("get_weather".to_string(), json!({"city": "Paris"})),
    ]
    .into();
    let (mut answered, mut blocked) = (0, 0);
    for dialect in [Dialect::Chat, Dialect::Messages, Dialect::Responses] {
        for model in ["gpt", "claude", "gemini"] {
            for stream in [false, true] {
                for scenario in SCENARIOS {
                    if scenario == Scenario::Schema && dialect == Dialect::Messages {
                        continue;
                    }
                    let case = format!(
                        "{dialect:?} × {model} × {scenario:?}{}",
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
                    if scenario == Scenario::Refused {
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
                    let got = outcome(dialect, stream, &text);
                    let want = Outcome {
                        text: match scenario {
                            Scenario::Text | Scenario::Image => TEXT.into(),
                            Scenario::Schema => SCHEMA_ANSWER.into(),
                            // Gemini says why it blocked; others say nothing.
                            Scenario::Blocked => got.text.clone(),
                            _ => String::new(),
                        },
                        calls: if scenario == Scenario::Tools {
                            expected_calls.clone()
                        } else {
                            BTreeMap::new()
                        },
                        input_tokens: 10,
                        output_tokens: if scenario == Scenario::Blocked { 0 } else { 3 },
                        stop: expected_stop(dialect, scenario).into(),
                    };
                    assert_eq!(got, want, "{case}: {text}");
                    if scenario == Scenario::Blocked {
                        blocked += 1;
                    } else {
                        answered += 1;
                    }
                }
            }
        }
    }
    assert_eq!(
        (answered, blocked),
        (3 * 3 * 2 * 4 - 3 * 2, 3 * 3 * 2),
        "every dialect × provider × stream × scenario"
    );

    // Metered exactly as reported, streamed or not, in every dialect, and priced at $1 per
    // million tokens each way: 13 tokens cost 13,000 nano-dollars. A blocked prompt's output
    // is none (Gemini reports no output count for it: that part is an estimate of nothing).
    let rows = metered(&server, &key_id, answered + blocked).await;
    assert_eq!(rows.len(), answered + blocked);
    let full = rows
        .iter()
        .filter(|r| (r.1, r.2, r.3, r.4) == (10, 3, false, 13_000));
    let empty = rows.iter().filter(|r| (r.1, r.2, r.4) == (10, 0, 10_000));
    assert_eq!(
        (full.count(), empty.count()),
        (answered, blocked),
        "{rows:?}"
    );

    // A client that leaves mid-stream: every figure the provider had reported is kept (its
    // input), only the rest (the output) is estimated. OpenAI reports usage only at the end.
    let (abandon_id, abandon_key) =
        create_key(&server.admin().await, json!({"name": "leaves"})).await;
    wait_for_key(&proxy, &abandon_key).await;
    for dialect in [Dialect::Chat, Dialect::Messages, Dialect::Responses] {
        for model in ["gpt", "claude", "gemini"] {
            let (path, body) = request(dialect, model, Scenario::Abandoned, true);
            let mut response = client()
                .post(format!("http://{}{path}", proxy.traffic_addr()))
                .bearer_auth(&abandon_key)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{dialect:?} × {model}");
            let first = response.chunk().await.unwrap();
            assert!(
                first.is_some_and(|c| !c.is_empty()),
                "{dialect:?} × {model}"
            );
            drop(response);
        }
    }
    let rows = metered(&server, &abandon_id, 9).await;
    for (model, input, output, estimated, _) in &rows {
        assert!(*estimated && *output >= 1, "{rows:?}");
        if model != "mock-1" {
            assert_eq!(*input, 10, "the reported input is kept: {rows:?}");
        }
    }
    proxy.shutdown().await;
}

/// The id of the key named `name`.
async fn key_id_of(server: &TestServer, name: &str) -> String {
    let (id,): (uuid::Uuid,) = sqlx::query_as("SELECT id FROM api_keys WHERE name = $1")
        .bind(name)
        .fetch_one(&server.db)
        .await
        .unwrap();
    id.to_string()
}

/// Waits until the proxy knows a new key.
async fn wait_for_key(proxy: &TestProxy, key: &str) {
    for _ in 0..200 {
        let status = client()
            .get(format!("http://{}/v1/models", proxy.traffic_addr()))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status();
        if status == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the proxy never learnt the new key");
}
