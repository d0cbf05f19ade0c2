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
use crate::ai::sse::{
    error_frame, event_data, note_first_byte, ChunkTranslator, EventFramer, StreamFindings,
};
use crate::body::ProxyBody;

/// Gemini's adapter: chat requests become `generateContent` requests and back.
pub(crate) struct Gemini;

impl super::Adapter for Gemini {
    fn request(
        &self,
        deployment: &CompiledDeployment,
        document: &Value,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String> {
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

    fn answer(
        &self,
        status: http::StatusCode,
        body: Bytes,
        model: &str,
    ) -> (Bytes, Option<Tokens>) {
        super::translated_answer(status, &body, |answer| to_chat_completion(answer, model))
    }

    fn chunks(
        &self,
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        model: &str,
        include_usage: bool,
    ) -> Box<dyn ChunkTranslator + Send> {
        Box::new(ChunkStream::new(started, findings, model, include_usage))
    }
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
        if let Some(schema) = document.pointer("/response_format/json_schema/schema") {
            config.insert("responseSchema".into(), gemini_schema(schema)?);
        }
    }
    if document.get("logprobs") == Some(&Value::Bool(true)) {
        config.insert("responseLogprobs".into(), json!(true));
        if let Some(top) = document.get("top_logprobs") {
            config.insert("logprobs".into(), top.clone());
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
                    declaration["parameters"] = gemini_schema(parameters)?;
                }
                Ok(declaration)
            })
            .collect::<Result<_, String>>()?;
        body.insert(
            "tools".into(),
            json!([{"functionDeclarations": declarations}]),
        );
    }
    if let Some(choice) = document.get("tool_choice") {
        let config = match choice {
            Value::String(mode) if mode == "none" => json!({"mode": "NONE"}),
            Value::String(mode) if mode == "required" => json!({"mode": "ANY"}),
            Value::String(_) => json!({"mode": "AUTO"}),
            _ => json!({"mode": "ANY",
                "allowedFunctionNames": [choice.pointer("/function/name").cloned().unwrap_or(Value::Null)]}),
        };
        body.insert(
            "toolConfig".into(),
            json!({"functionCallingConfig": config}),
        );
    }
    Ok(Value::Object(body))
}

/// Schema keywords Gemini's `Schema` (an OpenAPI 3.0 subset) takes; others are refused by
/// Gemini, so they are left out (`additionalProperties`, `$schema`, `strict`, …).
const SCHEMA_KEYWORDS: [&str; 19] = [
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "anyOf",
    "items",
    "minimum",
    "maximum",
];

/// A JSON Schema (as OpenAI clients and pydantic write it) → Gemini's schema: `$ref`s to
/// `$defs` inlined, `["string", "null"]` types and `const` rewritten, unknown keywords left out.
pub(crate) fn gemini_schema(schema: &Value) -> Result<Value, String> {
    let definitions = schema
        .get("$defs")
        .or_else(|| schema.get("definitions"))
        .cloned()
        .unwrap_or_default();
    convert_schema(schema, &definitions, 0)
}

fn convert_schema(schema: &Value, definitions: &Value, depth: usize) -> Result<Value, String> {
    if depth > 32 {
        return Err(
            "the JSON schema is recursive or too deep for Gemini, which takes no $ref".into(),
        );
    }
    let Some(object) = schema.as_object() else {
        return Ok(schema.clone());
    };
    if let Some(reference) = object.get("$ref").and_then(Value::as_str) {
        let name = reference.rsplit('/').next().unwrap_or_default();
        let target = definitions
            .get(name)
            .ok_or_else(|| format!("the JSON schema's $ref '{reference}' points nowhere"))?;
        return convert_schema(target, definitions, depth + 1);
    }
    let mut out = Map::new();
    for (key, value) in object {
        match key.as_str() {
            "properties" => {
                let mut properties = Map::new();
                for (name, property) in value.as_object().into_iter().flatten() {
                    properties.insert(
                        name.clone(),
                        convert_schema(property, definitions, depth + 1)?,
                    );
                }
                out.insert(key.clone(), Value::Object(properties));
            }
            "items" => {
                out.insert(key.clone(), convert_schema(value, definitions, depth + 1)?);
            }
            "anyOf" | "oneOf" => {
                let variants: Vec<&Value> = value.as_array().into_iter().flatten().collect();
                let not_null: Vec<&Value> = variants
                    .iter()
                    .copied()
                    .filter(|v| v.get("type").and_then(Value::as_str) != Some("null"))
                    .collect();
                if not_null.len() < variants.len() {
                    out.insert("nullable".into(), json!(true));
                }
                if let [only] = not_null.as_slice() {
                    if let Value::Object(inner) = convert_schema(only, definitions, depth + 1)? {
                        out.extend(inner);
                    }
                } else {
                    let converted = not_null
                        .into_iter()
                        .map(|v| convert_schema(v, definitions, depth + 1))
                        .collect::<Result<Vec<_>, _>>()?;
                    out.insert("anyOf".into(), Value::Array(converted));
                }
            }
            "type" => match value {
                Value::Array(types) => {
                    let types: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    if types.len() != 1 {
                        return Err("Gemini takes one type per schema, not a list".into());
                    }
                    out.insert("nullable".into(), json!(true));
                    out.insert("type".into(), types[0].clone());
                }
                _ => {
                    out.insert(key.clone(), value.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), json!([value]));
            }
            _ if SCHEMA_KEYWORDS.contains(&key.as_str()) => {
                out.insert(key.clone(), value.clone());
            }
            _ => {}
        }
    }
    Ok(Value::Object(out))
}

/// The log probabilities of a candidate in OpenAI's `logprobs.content` shape.
fn logprobs_of(candidate: &Value) -> Option<Value> {
    let result = candidate.get("logprobsResult")?;
    let chosen = result.get("chosenCandidates")?.as_array()?;
    let top = result.get("topCandidates").and_then(Value::as_array);
    let content: Vec<Value> = chosen
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let alternatives: Vec<Value> = top
                .and_then(|t| t.get(i))
                .and_then(|t| t.get("candidates"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|c| json!({"token": c.get("token"), "logprob": c.get("logProbability"), "bytes": null}))
                .collect();
            json!({"token": token.get("token"), "logprob": token.get("logProbability"),
                   "bytes": null, "top_logprobs": alternatives})
        })
        .collect();
    Some(json!({"content": content}))
}

/// The choice that stands for a blocked prompt: Gemini answers it with no candidates.
fn blocked_choice(answer: &Value) -> Option<(String, Value)> {
    let reason = answer
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)?;
    let refusal = format!("the provider blocked the prompt ({reason})");
    Some((
        refusal.clone(),
        json!({"index": 0, "message": {"role": "assistant", "content": null, "refusal": refusal},
               "finish_reason": "content_filter"}),
    ))
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
        reasoning: number("thoughtsTokenCount").unwrap_or(0),
        cache_write: 0,
        reported: true,
        output_reported: usage.get("candidatesTokenCount").is_some(),
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
            let mut choice = json!({"index": index, "message": message, "finish_reason": reason});
            if let Some(logprobs) = logprobs_of(candidate) {
                choice["logprobs"] = logprobs;
            }
            choice
        })
        .collect();
    let choices = match blocked_choice(answer) {
        Some((_, choice)) if choices.is_empty() => vec![choice],
        _ => choices,
    };
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
    framer: EventFramer,
    out: VecDeque<Bytes>,
    /// Set once the provider's stream broke the framing; nothing more is read from it.
    failed: bool,
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
            framer: EventFramer::default(),
            out: VecDeque::new(),
            failed: false,
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
        if self.failed {
            return;
        }
        note_first_byte(&self.findings, self.started);
        self.framer.push(data);
        while let Some(event) = self.framer.next_json() {
            match event {
                Ok(partial) => self.translate(&partial),
                Err(too_large) => {
                    self.out.push_back(error_frame(&too_large.message()));
                    self.failed = true;
                }
            }
        }
    }

    fn translate(&mut self, partial: &Value) {
        if let Some(tokens) = partial.get("usageMetadata").and_then(tokens_of) {
            self.tokens = tokens;
            // Published at once: a client may abandon the stream before it ends.
            if let Ok(mut findings) = self.findings.lock() {
                findings.tokens = tokens;
            }
        }
        if let Some(model) = partial.get("modelVersion") {
            self.model = model.clone();
        }
        if let Some(id) = partial.get("responseId") {
            self.id = id.clone();
        }
        let (id, model) = (self.id.clone(), self.model.clone());
        let Some(candidate) = partial.pointer("/candidates/0") else {
            if let Some((refusal, _)) = blocked_choice(partial) {
                let chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                    "model": self.model, "choices": [{"index": 0,
                    "delta": {"role": "assistant", "refusal": refusal}, "finish_reason": "content_filter"}]});
                self.emit(chunk);
            }
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
        let mut chunk = json!({"id": id, "object": "chat.completion.chunk", "created": self.created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": reason}]});
        if let Some(logprobs) = logprobs_of(candidate) {
            chunk["choices"][0]["logprobs"] = logprobs;
        }
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
        if let Some(rest) = self.framer.rest().filter(|_| !self.failed) {
            if let Ok(partial) = serde_json::from_slice::<Value>(&event_data(&rest)) {
                self.translate(&partial);
            }
        }
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
                reasoning: 0,
                reported: true,
                output_reported: true
            }
        );
    }

    #[test]
    fn a_pydantic_schema_becomes_one_gemini_takes() {
        // What pydantic writes for a strict tool or response_format.
        let schema = json!({"type": "object", "additionalProperties": false, "title": "Trip",
            "$defs": {"City": {"type": "object", "additionalProperties": false,
                "properties": {"name": {"type": "string"}}, "required": ["name"]}},
            "properties": {"to": {"$ref": "#/$defs/City"},
                           "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": null},
                           "kind": {"const": "trip"}, "days": {"type": ["integer", "null"]}},
            "required": ["to", "note", "kind", "days"]});
        let converted = gemini_schema(&schema).unwrap_or_default();
        assert_eq!(
            converted,
            json!({"type": "object", "title": "Trip",
                "properties": {"to": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
                               "note": {"type": "string", "nullable": true},
                               "kind": {"enum": ["trip"]},
                               "days": {"type": "integer", "nullable": true}},
                "required": ["to", "note", "kind", "days"]})
        );
        let recursive = json!({"$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
            "$ref": "#/$defs/Node"});
        assert!(gemini_schema(&recursive).is_err());
    }

    #[test]
    fn json_schema_and_tool_choice_reach_gemini() {
        let openai = json!({"messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "w", "strict": true,
                "schema": {"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}}}},
            "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "additionalProperties": false}}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}}, "logprobs": true, "top_logprobs": 2});
        let gemini = to_generate_content(&openai).unwrap_or_default();
        let config = &gemini["generationConfig"];
        assert_eq!(
            config["responseSchema"],
            json!({"type": "object", "properties": {"a": {"type": "string"}}})
        );
        assert_eq!(config["responseLogprobs"], true);
        assert_eq!(config["logprobs"], 2);
        assert_eq!(
            gemini["tools"][0]["functionDeclarations"][0]["parameters"],
            json!({"type": "object"})
        );
        assert_eq!(
            gemini["toolConfig"]["functionCallingConfig"],
            json!({"mode": "ANY", "allowedFunctionNames": ["f"]})
        );
        for (choice, mode) in [("none", "NONE"), ("auto", "AUTO"), ("required", "ANY")] {
            let request = json!({"messages": [], "tool_choice": choice});
            let gemini = to_generate_content(&request).unwrap_or_default();
            assert_eq!(gemini["toolConfig"]["functionCallingConfig"]["mode"], mode);
        }
    }

    #[test]
    fn a_blocked_prompt_is_one_content_filter_choice() {
        let answer = json!({"promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}});
        let (completion, _) = to_chat_completion(&answer, "m");
        assert_eq!(completion["choices"][0]["finish_reason"], "content_filter");
        assert!(completion["choices"][0]["message"]["refusal"]
            .as_str()
            .unwrap_or_default()
            .contains("SAFETY"));

        let findings = Arc::new(Mutex::new(StreamFindings::default()));
        let mut stream = ChunkStream::new(Instant::now(), findings, "m", false);
        stream.feed(format!("data: {answer}\r\n\r\n").as_bytes());
        stream.end();
        let mut out = String::new();
        while let Some(frame) = stream.next_frame() {
            out.push_str(&String::from_utf8_lossy(&frame));
        }
        assert!(
            out.contains("\"finish_reason\":\"content_filter\""),
            "{out}"
        );
    }

    #[test]
    fn thoughts_are_output_and_reported_as_reasoning() {
        let answer = json!({"candidates": [{"content": {"parts": [{"text": "4"}]}, "finishReason": "STOP",
            "logprobsResult": {"chosenCandidates": [{"token": "4", "logProbability": -0.1}],
                               "topCandidates": [{"candidates": [{"token": "4", "logProbability": -0.1}]}]}}],
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1, "thoughtsTokenCount": 30}});
        let (completion, tokens) = to_chat_completion(&answer, "m");
        assert_eq!((tokens.output, tokens.reasoning), (31, 30));
        assert_eq!(
            completion["usage"]["completion_tokens_details"]["reasoning_tokens"],
            30
        );
        assert_eq!(
            completion["choices"][0]["logprobs"]["content"][0]["logprob"],
            -0.1
        );
        assert!(completion["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("chatcmpl-"));
    }
}
