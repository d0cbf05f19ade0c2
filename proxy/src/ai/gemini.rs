//! Google's Gemini API (`generateContent`, `streamGenerateContent`), translated to and from
//! OpenAI's chat completions: contents and parts, system instruction, function calls and their
//! responses, finish reasons, usage metadata.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::Request;

use serde_json::{json, Map, Value};

use crate::active::CompiledDeployment;
use crate::ai::metering::{now_secs, openai_usage, Tokens};
use crate::ai::sse::{ChunkTranslator, StreamFindings};
use crate::body::ProxyBody;

/// Builds the Gemini request for a chat completion.
pub(crate) fn request(
    deployment: &CompiledDeployment,
    endpoint: &str,
    document: &Value,
    stream: bool,
) -> Result<Request<ProxyBody>, String> {
    if endpoint != "chat/completions" {
        return Err(format!(
            "embeddings are not supported for Gemini ({}) yet",
            deployment.provider.name
        ));
    }
    if stream
        && document
            .get("n")
            .and_then(Value::as_u64)
            .is_some_and(|n| n > 1)
    {
        return Err("'n' above 1 is not streamed from Gemini; ask without stream".into());
    }
    let body = to_generate_content(document)?;
    let method = if stream {
        "streamGenerateContent?alt=sse"
    } else {
        "generateContent"
    };
    let url = format!(
        "{}/models/{}:{method}",
        deployment.provider.base_url, deployment.model
    );
    super::provider_post(deployment, url, &body)
}

/// The Gemini parts of an OpenAI message's content. Empty text makes no part: Gemini refuses
/// empty text parts (OpenAI clients send `""` next to tool calls).
/// Nothing the client sent may vanish: a part Gemini cannot take refuses the request.
fn parts_of(content: Option<&Value>) -> Result<Vec<Value>, String> {
    let Some(Value::Array(parts)) = content else {
        return Ok(match content {
            Some(Value::String(text)) if !text.is_empty() => vec![json!({"text": text})],
            _ => Vec::new(),
        });
    };
    let mut out = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("text") => {
                let text = part.get("text").and_then(Value::as_str).unwrap_or("");
                if !text.is_empty() {
                    out.push(json!({"text": text}));
                }
            }
            Some("image_url") => {
                let url = part
                    .pointer("/image_url/url")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let (mime, data) = url
                    .strip_prefix("data:")
                    .and_then(|rest| rest.split_once(";base64,"))
                    .ok_or("Gemini takes images as base64 data: URLs only, not links")?;
                out.push(json!({"inline_data": {"mime_type": mime, "data": data}}));
            }
            other => {
                return Err(format!(
                    "content parts of type '{}' cannot be sent to Gemini",
                    other.unwrap_or("(none)")
                ))
            }
        }
    }
    Ok(out)
}

/// The text of a tool result given as a string or as text parts.
fn tool_result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join("\n"),
        _ => String::new(),
    }
}

/// OpenAI chat request → Gemini `GenerateContentRequest`.
pub(crate) fn to_generate_content(document: &Value) -> Result<Value, String> {
    let messages = document
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("'messages' must be an array")?;
    let mut system = Vec::new();
    let mut contents: Vec<Value> = Vec::new();
    let mut tool_names: HashMap<String, String> = HashMap::new();
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let (role, parts) = match role {
            "system" | "developer" => {
                system.extend(parts_of(message.get("content"))?);
                continue;
            }
            "assistant" => {
                let mut parts = parts_of(message.get("content"))?;
                for call in message
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let name = call
                        .pointer("/function/name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    if let Some(id) = call.get("id").and_then(Value::as_str) {
                        tool_names.insert(id.to_string(), name.to_string());
                    }
                    let arguments = call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    parts.push(json!({"functionCall": {"name": name,
                        "args": serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({}))}}));
                }
                ("model", parts)
            }
            "tool" => {
                let id = message
                    .get("tool_call_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let name = tool_names
                    .get(id)
                    .cloned()
                    .unwrap_or_else(|| id.to_string());
                let content = tool_result_text(message.get("content"));
                let response = serde_json::from_str::<Value>(&content)
                    .ok()
                    .filter(Value::is_object)
                    .unwrap_or_else(|| json!({"content": content}));
                (
                    "user",
                    vec![json!({"functionResponse": {"name": name, "response": response}})],
                )
            }
            _ => ("user", parts_of(message.get("content"))?),
        };
        contents.push(json!({"role": role, "parts": parts}));
    }
    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({"parts": system}));
    }
    let mut config = Map::new();
    for (from, to) in [
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("n", "candidateCount"),
    ] {
        if let Some(value) = document.get(from) {
            config.insert(to.into(), value.clone());
        }
    }
    if let Some(max) = document
        .get("max_completion_tokens")
        .or_else(|| document.get("max_tokens"))
    {
        config.insert("maxOutputTokens".into(), max.clone());
    }
    match document.get("stop") {
        Some(Value::String(stop)) => {
            config.insert("stopSequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) => {
            config.insert("stopSequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if let Some(format) = document
        .pointer("/response_format/type")
        .and_then(Value::as_str)
    {
        if format == "json_object" || format == "json_schema" {
            config.insert("responseMimeType".into(), json!("application/json"));
        }
    }
    if !config.is_empty() {
        body.insert("generationConfig".into(), Value::Object(config));
    }
    if let Some(tools) = document.get("tools").and_then(Value::as_array) {
        let declarations: Vec<Value> = tools
            .iter()
            .filter_map(|t| t.get("function"))
            .map(|f| {
                let mut declaration = json!({"name": f.get("name")});
                if let Some(description) = f.get("description").filter(|d| !d.is_null()) {
                    declaration["description"] = description.clone();
                }
                if let Some(parameters) = f.get("parameters") {
                    declaration["parameters"] = parameters.clone();
                }
                declaration
            })
            .collect();
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    Ok(Value::Object(body))
}

/// An OpenAI-style id for an answer Gemini gave none.
fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

fn finish_reason(reason: Option<&str>, has_calls: bool) -> Value {
    match reason {
        _ if has_calls => json!("tool_calls"),
        Some("MAX_TOKENS") => json!("length"),
        Some("SAFETY") | Some("RECITATION") | Some("BLOCKLIST") | Some("PROHIBITED_CONTENT") => {
            json!("content_filter")
        }
        Some(_) => json!("stop"),
        None => Value::Null,
    }
}

fn tokens_of(usage: &Value) -> Option<Tokens> {
    let number = |field: &str| usage.get(field).and_then(Value::as_u64);
    let input = number("promptTokenCount")?;
    Some(Tokens {
        input,
        cached_input: number("cachedContentTokenCount").unwrap_or(0).min(input),
        output: number("candidatesTokenCount").unwrap_or(0)
            + number("thoughtsTokenCount").unwrap_or(0),
        cache_write: 0,
        reported: true,
    })
}

/// The text and function calls of one candidate, as OpenAI's message fields.
fn message_of(candidate: &Value, call_offset: usize) -> (String, Vec<Value>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    for part in candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = part.get("text").and_then(Value::as_str) {
            text.push_str(t);
        }
        if let Some(call) = part.get("functionCall") {
            calls.push(json!({"index": call_offset + calls.len(), "id": format!("call_{}", call_offset + calls.len()),
                "type": "function", "function": {"name": call.get("name"),
                "arguments": call.get("args").map(Value::to_string).unwrap_or_else(|| "{}".into())}}));
        }
    }
    (text, calls)
}

/// Gemini response → OpenAI chat completion, with the usage it reported.
pub(crate) fn to_chat_completion(answer: &Value, model: &str) -> (Value, Tokens) {
    let choices: Vec<Value> = answer
        .get("candidates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(index, candidate)| {
            let (text, calls) = message_of(candidate, 0);
            let content = if text.is_empty() && !calls.is_empty() {
                Value::Null
            } else {
                json!(text)
            };
            let mut message = json!({"role": "assistant", "content": content});
            if !calls.is_empty() {
                let calls: Vec<Value> = calls
                    .into_iter()
                    .map(|mut c| {
                        c.as_object_mut().map(|o| o.remove("index"));
                        c
                    })
                    .collect();
                message["tool_calls"] = Value::Array(calls);
            }
            let reason = finish_reason(
                candidate.get("finishReason").and_then(Value::as_str),
                message.get("tool_calls").is_some(),
            );
            json!({"index": index, "message": message, "finish_reason": reason})
        })
        .collect();
    let tokens = answer
        .get("usageMetadata")
        .and_then(tokens_of)
        .unwrap_or_default();
    let completion = json!({"id": answer.get("responseId").cloned().unwrap_or_else(|| json!(completion_id())),
        "object": "chat.completion", "created": now_secs(),
        "model": answer.get("modelVersion").and_then(Value::as_str).unwrap_or(model),
        "choices": choices, "usage": openai_usage(&tokens)});
    (completion, tokens)
}

/// Gemini's SSE stream of partial responses, re-emitted as OpenAI chunks.
pub(crate) struct ChunkStream {
    started: Instant,
    findings: Arc<Mutex<StreamFindings>>,
    buffer: Vec<u8>,
    out: VecDeque<Bytes>,
    tokens: Tokens,
    calls: usize,
    created: u64,
    role_sent: bool,
    /// The chunks' `id` (Gemini's `responseId` once seen) and `model`.
    id: Value,
    model: Value,
    /// Whether the client asked for the usage chunk (`stream_options.include_usage`).
    include_usage: bool,
}

impl ChunkStream {
    pub(crate) fn new(
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        model: &str,
        include_usage: bool,
    ) -> Self {
        Self {
            started,
            findings,
            buffer: Vec::new(),
            out: VecDeque::new(),
            tokens: Tokens::default(),
            calls: 0,
            created: now_secs(),
            role_sent: false,
            id: json!(completion_id()),
            model: json!(model),
            include_usage,
        }
    }

    fn emit(&mut self, chunk: Value) {
        self.out
            .push_back(Bytes::from(format!("data: {chunk}\n\n")));
    }

    fn consume(&mut self, data: &[u8]) {
        if let Ok(mut findings) = self.findings.lock() {
            findings
                .first_byte
                .get_or_insert_with(|| self.started.elapsed());
        }
        self.buffer.extend_from_slice(data);
        while let Some(end) = self.buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let Some(payload) = line.strip_prefix(b"data:") else {
                continue;
            };
            if let Ok(partial) = serde_json::from_slice::<Value>(payload.trim_ascii()) {
                self.translate(&partial);
            }
        }
    }

    fn translate(&mut self, partial: &Value) {
        if let Some(tokens) = partial.get("usageMetadata").and_then(tokens_of) {
            self.tokens = tokens;
        }
        if let Some(model) = partial.get("modelVersion") {
            self.model = model.clone();
        }
        if let Some(id) = partial.get("responseId") {
            self.id = id.clone();
        }
        let (id, model) = (self.id.clone(), self.model.clone());
        let Some(candidate) = partial.pointer("/candidates/0") else {
            return;
        };
        let (text, calls) = message_of(candidate, self.calls);
        self.calls += calls.len();
        if let Ok(mut findings) = self.findings.lock() {
            findings.add_text(&text);
        }
        let mut delta = json!({});
        if !self.role_sent {
            delta["role"] = json!("assistant");
            self.role_sent = true;
        }
        if !text.is_empty() {
            delta["content"] = json!(text);
        }
        if !calls.is_empty() {
            delta["tool_calls"] = Value::Array(calls);
        }
        let reason = finish_reason(
            candidate.get("finishReason").and_then(Value::as_str),
            self.calls > 0,
        );
        let reason = if candidate.get("finishReason").is_some() {
            reason
        } else {
            Value::Null
        };
        let chunk = json!({"id": id, "object": "chat.completion.chunk", "created": self.created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]});
        self.emit(chunk);
    }

    fn finish(&mut self) {
        if let Ok(mut findings) = self.findings.lock() {
            findings.tokens = self.tokens;
        }
        if self.include_usage {
            let usage = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": [], "usage": openai_usage(&self.tokens)});
            self.emit(usage);
        }
        self.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
    }
}

impl ChunkTranslator for ChunkStream {
    fn feed(&mut self, data: &[u8]) {
        self.consume(data);
    }

    fn end(&mut self) {
        self.finish();
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_request_becomes_generate_content() {
        let openai = json!({"model": "x", "max_tokens": 64, "temperature": 0.1,
            "response_format": {"type": "json_object"},
            "messages": [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c9", "type": "function",
                    "function": {"name": "weather", "arguments": "{\"city\":\"Paris\"}"}}]},
                {"role": "tool", "tool_call_id": "c9", "content": "{\"celsius\": 21}"}],
            "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]});
        let gemini = to_generate_content(&openai).unwrap_or_default();
        assert_eq!(gemini["systemInstruction"]["parts"][0]["text"], "Be brief.");
        assert_eq!(gemini["generationConfig"]["maxOutputTokens"], 64);
        assert_eq!(
            gemini["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(gemini["contents"][1]["role"], "model");
        assert_eq!(
            gemini["contents"][1]["parts"][0]["functionCall"]["args"]["city"],
            "Paris"
        );
        assert_eq!(
            gemini["contents"][2]["parts"][0]["functionResponse"]["name"],
            "weather"
        );
        assert_eq!(
            gemini["contents"][2]["parts"][0]["functionResponse"]["response"]["celsius"],
            21
        );
        assert_eq!(
            gemini["tools"][0]["functionDeclarations"][0]["name"],
            "weather"
        );
    }

    #[test]
    fn a_response_becomes_a_chat_completion_with_usage() {
        let answer = json!({"candidates": [{"content": {"role": "model", "parts": [{"text": "Sunny"}]},
            "finishReason": "STOP"}], "modelVersion": "gemini-2.5-flash",
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 2, "cachedContentTokenCount": 4}});
        let (completion, tokens) = to_chat_completion(&answer, "x");
        assert_eq!(completion["choices"][0]["message"]["content"], "Sunny");
        assert_eq!(completion["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            tokens,
            Tokens {
                input: 10,
                cached_input: 4,
                output: 2,
                cache_write: 0,
                reported: true
            }
        );
    }
}
