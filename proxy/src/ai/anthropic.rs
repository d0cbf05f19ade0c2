//! Anthropic's Messages API, translated to and from OpenAI's chat completions: system prompts,
//! images, tools and tool results, stop reasons, cache tokens, and streams event by event.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};

use serde_json::{json, Map, Value};

use crate::active::CompiledDeployment;
use crate::ai::metering::{now_secs, openai_usage, Tokens};
use crate::ai::sse::{note_first_byte, ChunkTranslator, EventFramer, StreamFindings};
use crate::body::ProxyBody;

/// Anthropic's adapter: chat requests become Messages requests and back.
pub(crate) struct Anthropic;

impl super::Adapter for Anthropic {
    fn request(
        &self,
        deployment: &CompiledDeployment,
        document: &Value,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String> {
        let body = to_messages(document, &deployment.model, stream)?;
        messages_post(deployment, MESSAGES_PATH, &body)
    }

    fn answer(&self, status: http::StatusCode, body: Bytes, _: &str) -> (Bytes, Option<Tokens>) {
        super::translated_answer(status, &body, to_chat_completion)
    }

    fn chunks(
        &self,
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        _model: &str,
        include_usage: bool,
    ) -> Box<dyn ChunkTranslator + Send> {
        Box::new(ChunkStream::new(started, findings, include_usage))
    }
}

/// Anthropic requires max_tokens; OpenAI clients often leave it out.
const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic's Messages API, and its token counter.
pub(crate) const MESSAGES_PATH: &str = "/v1/messages";
pub(crate) const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

/// A POST of `body` to the provider's Messages API at `path`, with its key and API version.
fn messages_post(
    deployment: &CompiledDeployment,
    path: &str,
    body: &Value,
) -> Result<Request<ProxyBody>, String> {
    let url = format!("{}{path}", deployment.provider.base_url);
    let mut request = super::provider_post(deployment, url, body)?;
    if let Some((name, value)) = deployment.provider.kind.version_header() {
        request.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    Ok(request)
}

/// Headers of a Messages client passed on to Anthropic as they are.
const RELAYED_HEADERS: [&str; 2] = ["anthropic-version", "anthropic-beta"];

/// A Messages client's request relayed to an Anthropic provider as it came, but for the
/// deployment's model name: thinking blocks and their signatures, `cache_control` and any
/// field this proxy does not know survive. The client's `anthropic-version` and
/// `anthropic-beta` go along (the provider's default version when the client sent none).
pub(crate) fn relay(
    deployment: &CompiledDeployment,
    path: &str,
    document: &Value,
    client_headers: &http::HeaderMap,
) -> Result<Request<ProxyBody>, String> {
    let mut body = document.clone();
    body["model"] = json!(deployment.model);
    let mut request = messages_post(deployment, path, &body)?;
    for name in RELAYED_HEADERS {
        if let Some(value) = client_headers.get(name) {
            request
                .headers_mut()
                .insert(HeaderName::from_static(name), value.clone());
        }
    }
    Ok(request)
}

/// The usage an Anthropic message reports.
pub(crate) fn answer_tokens(answer: &[u8]) -> Option<Tokens> {
    let answer = serde_json::from_slice::<Value>(answer).ok()?;
    let mut tokens = Tokens::default();
    tokens_of(answer.get("usage")?, &mut tokens);
    tokens.reported.then_some(tokens)
}

/// Notes an Anthropic event stream's usage (from `message_start` and `message_delta`), its
/// text, and when data began, passing every byte on unchanged.
pub(crate) struct UsageScan {
    started: Instant,
    line: Vec<u8>,
    tokens: Tokens,
    findings: Arc<Mutex<StreamFindings>>,
}

/// A relayed Anthropic stream, watched by [`UsageScan`].
pub(crate) type UsageScanner<B> = crate::body::Inspected<B, UsageScan>;

/// Scans `inner` into `findings`; `started` is when the request arrived.
pub(crate) fn usage_scanner<B>(
    inner: B,
    started: Instant,
    findings: Arc<Mutex<StreamFindings>>,
) -> UsageScanner<B> {
    crate::body::Inspected::with(
        inner,
        UsageScan {
            started,
            line: Vec::new(),
            tokens: Tokens::default(),
            findings,
        },
    )
}

/// Longest SSE line read for usage; longer ones pass unread.
const LINE_MAX: usize = 1 << 20;

impl crate::body::Inspect for UsageScan {
    fn inspect(&mut self, data: &Bytes) {
        note_first_byte(&self.findings, self.started);
        for &byte in data.iter() {
            if byte == b'\n' {
                let line = std::mem::take(&mut self.line);
                self.line_done(&line);
            } else if self.line.len() < LINE_MAX {
                self.line.push(byte);
            }
        }
    }
}

impl UsageScan {
    fn line_done(&mut self, line: &[u8]) {
        let Some(payload) = line.strip_prefix(b"data:") else {
            return;
        };
        let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
        if !has(b"\"usage\"") && !has(b"text_delta") {
            return;
        }
        let Ok(event) = serde_json::from_slice::<Value>(payload.trim_ascii()) else {
            return;
        };
        stream_tokens_of(&event, &mut self.tokens);
        let Ok(mut findings) = self.findings.lock() else {
            return;
        };
        if let Some(text) = event.pointer("/delta/text").and_then(Value::as_str) {
            findings.add_text(text);
        }
        if self.tokens.reported {
            findings.tokens = self.tokens;
        }
    }
}

/// OpenAI chat request → Anthropic Messages request.
pub(crate) fn to_messages(document: &Value, model: &str, stream: bool) -> Result<Value, String> {
    let messages = document
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("'messages' must be an array")?;
    if document
        .get("n")
        .and_then(Value::as_u64)
        .is_some_and(|n| n > 1)
    {
        return Err("'n' above 1: Anthropic models answer with one choice".into());
    }
    if document.get("logprobs") == Some(&Value::Bool(true)) {
        return Err("'logprobs': Anthropic models do not return log probabilities".into());
    }
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(String, Vec<Value>)> = Vec::new();
    for message in messages {
        let role = message
            .get("role")
            .and_then(Value::as_str)
            .unwrap_or("user");
        let (role, blocks) = match role {
            "system" | "developer" => {
                system.push(text_of(message.get("content")));
                continue;
            }
            "tool" => (
                "user",
                vec![json!({"type": "tool_result",
                    "tool_use_id": message.get("tool_call_id").cloned().unwrap_or(Value::Null),
                    "content": text_of(message.get("content"))})],
            ),
            "assistant" => {
                let mut blocks = content_blocks(message.get("content"));
                for call in message
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    let arguments = call
                        .pointer("/function/arguments")
                        .and_then(Value::as_str)
                        .unwrap_or("{}");
                    blocks.push(json!({"type": "tool_use", "id": call.get("id"),
                        "name": call.pointer("/function/name"),
                        "input": serde_json::from_str::<Value>(arguments).unwrap_or_else(|_| json!({}))}));
                }
                ("assistant", blocks)
            }
            _ => ("user", content_blocks(message.get("content"))),
        };
        // Anthropic wants turns to alternate: consecutive messages of one role become one turn.
        match turns.last_mut() {
            Some((last, existing)) if last == role => existing.extend(blocks),
            _ => turns.push((role.to_string(), blocks)),
        }
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    body.insert(
        "messages".into(),
        Value::Array(
            turns
                .into_iter()
                .map(|(role, content)| json!({"role": role, "content": content}))
                .collect(),
        ),
    );
    // Anthropic has no JSON mode: ask for it in the system prompt, as OpenAI's does implicitly.
    if matches!(
        document
            .pointer("/response_format/type")
            .and_then(Value::as_str),
        Some("json_object" | "json_schema")
    ) {
        let mut instruction =
            "Respond with a single valid JSON object and nothing else.".to_string();
        if let Some(schema) = document.pointer("/response_format/json_schema/schema") {
            instruction.push_str(&format!(" It must match this JSON schema: {schema}"));
        }
        system.push(instruction);
    }
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    let max_tokens = document
        .get("max_completion_tokens")
        .or_else(|| document.get("max_tokens"))
        .and_then(Value::as_u64)
        .unwrap_or(DEFAULT_MAX_TOKENS);
    body.insert("max_tokens".into(), json!(max_tokens));
    // OpenAI's temperature runs 0–2, Anthropic's 0–1: higher values are capped at 1.
    if let Some(temperature) = document.get("temperature").and_then(Value::as_f64) {
        body.insert("temperature".into(), json!(temperature.clamp(0.0, 1.0)));
    }
    if let Some(value) = document.get("top_p") {
        body.insert("top_p".into(), value.clone());
    }
    match document.get("stop") {
        Some(Value::String(stop)) => {
            body.insert("stop_sequences".into(), json!([stop]));
        }
        Some(Value::Array(stops)) => {
            body.insert("stop_sequences".into(), Value::Array(stops.clone()));
        }
        _ => {}
    }
    if let Some(tools) = document.get("tools").and_then(Value::as_array) {
        let tools: Vec<Value> = tools
            .iter()
            .filter_map(|tool| tool.get("function"))
            .map(|f| {
                let mut tool = json!({"name": f.get("name"),
                    "input_schema": f.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"}))});
                if let Some(description) = f.get("description").filter(|d| !d.is_null()) {
                    tool["description"] = description.clone();
                }
                tool
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
    }
    let serial = document.get("parallel_tool_calls") == Some(&Value::Bool(false));
    if document.get("tool_choice").is_some() || (serial && body.contains_key("tools")) {
        let mut choice = match document.get("tool_choice") {
            Some(Value::String(s)) if s == "required" => json!({"type": "any"}),
            Some(Value::String(s)) if s == "none" => json!({"type": "none"}),
            Some(choice @ Value::Object(_)) => {
                json!({"type": "tool", "name": choice.pointer("/function/name")})
            }
            _ => json!({"type": "auto"}),
        };
        if serial && choice["type"] != "none" {
            choice["disable_parallel_tool_use"] = json!(true);
        }
        body.insert("tool_choice".into(), choice);
    }
    if let Some(user) = document.get("user") {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if stream {
        body.insert("stream".into(), json!(true));
    }
    Ok(Value::Object(body))
}

fn text_of(content: Option<&Value>) -> String {
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

/// The Messages content blocks of an OpenAI message's content. Empty text makes no block:
/// Anthropic refuses empty text blocks (OpenAI clients send `""` next to tool calls).
fn content_blocks(content: Option<&Value>) -> Vec<Value> {
    match content {
        Some(Value::String(text)) if text.is_empty() => Vec::new(),
        Some(Value::String(text)) => vec![json!({"type": "text", "text": text})],
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|part| match part.get("type").and_then(Value::as_str) {
                Some("text") => {
                    let text = part.get("text").and_then(Value::as_str).unwrap_or("");
                    (!text.is_empty()).then(|| json!({"type": "text", "text": text}))
                }
                Some("image_url") => {
                    let url = part.pointer("/image_url/url").and_then(Value::as_str)?;
                    Some(
                        match url
                            .strip_prefix("data:")
                            .and_then(|rest| rest.split_once(";base64,"))
                        {
                            Some((media_type, data)) => json!({"type": "image",
                            "source": {"type": "base64", "media_type": media_type, "data": data}}),
                            None => json!({"type": "image", "source": {"type": "url", "url": url}}),
                        },
                    )
                }
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn finish_reason(stop_reason: Option<&str>) -> Value {
    match stop_reason {
        Some("max_tokens") => json!("length"),
        Some("tool_use") => json!("tool_calls"),
        Some(_) => json!("stop"),
        None => Value::Null,
    }
}

fn tokens_of(usage: &Value, tokens: &mut Tokens) {
    let number = |field: &str| usage.get(field).and_then(Value::as_u64);
    if let Some(input) = number("input_tokens") {
        let cache_read = number("cache_read_input_tokens").unwrap_or(0);
        let cache_write = number("cache_creation_input_tokens").unwrap_or(0);
        tokens.input = input + cache_read + cache_write;
        tokens.cached_input = cache_read;
        tokens.cache_write = cache_write;
        tokens.reported = true;
    }
    if let Some(output) = number("output_tokens") {
        tokens.output = output;
        tokens.output_reported = true;
    }
}

/// Reads a stream event's usage: `message_start` reports the input (its output count is a
/// placeholder), `message_delta` the final output.
fn stream_tokens_of(event: &Value, tokens: &mut Tokens) {
    if let Some(usage) = event.pointer("/message/usage") {
        let output_reported = tokens.output_reported;
        tokens_of(usage, tokens);
        tokens.output_reported = output_reported;
    } else if let Some(usage) = event.get("usage") {
        tokens_of(usage, tokens);
    }
}

/// Anthropic message → OpenAI chat completion, with the usage it reported.
pub(crate) fn to_chat_completion(answer: &Value) -> (Value, Tokens) {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in answer
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => tool_calls.push(json!({"id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"),
                             "arguments": block.get("input").map(Value::to_string).unwrap_or_else(|| "{}".into())}})),
            _ => {}
        }
    }
    let mut tokens = Tokens::default();
    if let Some(usage) = answer.get("usage") {
        tokens_of(usage, &mut tokens);
    }
    let mut message = json!({"role": "assistant", "content": if text.is_empty() && !tool_calls.is_empty() { Value::Null } else { json!(text) }});
    if !tool_calls.is_empty() {
        message["tool_calls"] = Value::Array(tool_calls);
    }
    let completion = json!({
        "id": answer.get("id"), "object": "chat.completion", "created": now_secs(), "model": answer.get("model"),
        "choices": [{"index": 0, "message": message,
                     "finish_reason": finish_reason(answer.get("stop_reason").and_then(Value::as_str))}],
        "usage": openai_usage(&tokens),
    });
    (completion, tokens)
}

/// Anthropic's event stream, re-emitted as OpenAI chat completion chunks.
pub(crate) struct ChunkStream {
    started: Instant,
    findings: Arc<Mutex<StreamFindings>>,
    framer: EventFramer,
    out: VecDeque<Bytes>,
    id: Value,
    model: Value,
    created: u64,
    tokens: Tokens,
    /// Content block index → tool call index.
    tools: HashMap<u64, usize>,
    finished: bool,
    /// Whether the client asked for the usage chunk (`stream_options.include_usage`).
    include_usage: bool,
}

impl ChunkStream {
    pub(crate) fn new(
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        include_usage: bool,
    ) -> Self {
        Self {
            started,
            findings,
            framer: EventFramer::default(),
            out: VecDeque::new(),
            id: Value::Null,
            model: Value::Null,
            created: now_secs(),
            tokens: Tokens::default(),
            tools: HashMap::new(),
            finished: false,
            include_usage,
        }
    }

    fn chunk(&mut self, choices: Value, usage: Option<Value>) {
        let mut chunk = json!({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                               "model": self.model, "choices": choices});
        if let Some(usage) = usage {
            chunk["usage"] = usage;
        }
        self.out
            .push_back(Bytes::from(format!("data: {chunk}\n\n")));
    }

    fn delta(&mut self, delta: Value, finish: Value) {
        self.chunk(
            json!([{"index": 0, "delta": delta, "finish_reason": finish}]),
            None,
        );
    }

    fn consume(&mut self, data: &[u8]) {
        if self.finished {
            return;
        }
        note_first_byte(&self.findings, self.started);
        self.framer.push(data);
        while let Some(event) = self.framer.next_json() {
            match event {
                Ok(event) => self.translate(&event),
                Err(too_large) => {
                    let error = json!({"type": "error",
                        "error": {"type": "api_error", "message": too_large.message()}});
                    self.translate(&error);
                }
            }
        }
    }

    fn translate(&mut self, event: &Value) {
        match event.get("type").and_then(Value::as_str) {
            Some("message_start") => {
                let message = event.get("message").cloned().unwrap_or_default();
                self.id = message.get("id").cloned().unwrap_or(Value::Null);
                self.model = message.get("model").cloned().unwrap_or(Value::Null);
                stream_tokens_of(event, &mut self.tokens);
                self.publish_tokens();
                self.delta(json!({"role": "assistant", "content": ""}), Value::Null);
            }
            Some("content_block_start") => {
                let block = event.get("content_block").cloned().unwrap_or_default();
                if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                    let index = self.tools.len();
                    self.tools.insert(
                        event.get("index").and_then(Value::as_u64).unwrap_or(0),
                        index,
                    );
                    self.delta(json!({"tool_calls": [{"index": index, "id": block.get("id"), "type": "function",
                        "function": {"name": block.get("name"), "arguments": ""}}]}), Value::Null);
                }
            }
            Some("content_block_delta") => {
                let delta = event.get("delta").cloned().unwrap_or_default();
                match delta.get("type").and_then(Value::as_str) {
                    Some("text_delta") => {
                        if let (Some(text), Ok(mut findings)) = (
                            delta.get("text").and_then(Value::as_str),
                            self.findings.lock(),
                        ) {
                            findings.add_text(text);
                        }
                        self.delta(json!({"content": delta.get("text")}), Value::Null)
                    }
                    Some("input_json_delta") => {
                        let block = event.get("index").and_then(Value::as_u64).unwrap_or(0);
                        let index = self.tools.get(&block).copied().unwrap_or(0);
                        self.delta(
                            json!({"tool_calls": [{"index": index,
                            "function": {"arguments": delta.get("partial_json")}}]}),
                            Value::Null,
                        );
                    }
                    _ => {}
                }
            }
            Some("message_delta") => {
                stream_tokens_of(event, &mut self.tokens);
                self.publish_tokens();
                let reason = event.pointer("/delta/stop_reason").and_then(Value::as_str);
                self.delta(json!({}), finish_reason(reason));
            }
            Some("message_stop") => self.finish(),
            Some("error") => {
                let error = json!({"error": {"message": event.pointer("/error/message"),
                    "type": event.pointer("/error/type"), "code": "provider_error"}});
                self.out
                    .push_back(Bytes::from(format!("data: {error}\n\n")));
                self.finish();
            }
            _ => {}
        }
    }

    /// Tokens are published as they are reported: a client may abandon the stream early.
    fn publish_tokens(&mut self) {
        if let Ok(mut findings) = self.findings.lock() {
            findings.tokens = self.tokens;
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        if let Ok(mut findings) = self.findings.lock() {
            findings.tokens = self.tokens;
        }
        if self.include_usage {
            let usage = openai_usage(&self.tokens);
            self.chunk(json!([]), Some(usage));
        }
        self.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
    }
}

impl ChunkTranslator for ChunkStream {
    fn feed(&mut self, data: &[u8]) {
        self.consume(data);
    }

    fn end(&mut self) {
        // A stream cut before message_stop still reports what it counted.
        if let Ok(mut findings) = self.findings.lock() {
            findings.tokens = self.tokens;
        }
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_request_becomes_a_messages_request() {
        let openai = json!({"model": "x", "max_tokens": 100, "temperature": 0.5, "stop": "END", "user": "u1",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "What is in"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "t1", "type": "function",
                    "function": {"name": "look", "arguments": "{\"q\":1}"}}]},
                {"role": "tool", "tool_call_id": "t1", "content": "a cat"},
                {"role": "user", "content": "so?"}],
            "tools": [{"type": "function", "function": {"name": "look", "parameters": {"type": "object"}}}],
            "tool_choice": "required"});
        let messages = to_messages(&openai, "claude-haiku-4-5", false).unwrap_or_default();
        assert_eq!(messages["system"], "Be brief.");
        let json_mode = to_messages(
            &json!({"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}),
            "m",
            false,
        )
        .unwrap_or_default();
        assert!(json_mode["system"]
            .as_str()
            .unwrap_or_default()
            .contains("JSON object"));
        assert_eq!(messages["model"], "claude-haiku-4-5");
        assert_eq!(messages["max_tokens"], 100);
        assert_eq!(messages["stop_sequences"], json!(["END"]));
        assert_eq!(messages["metadata"]["user_id"], "u1");
        assert_eq!(messages["tool_choice"], json!({"type": "any"}));
        assert_eq!(
            messages["tools"][0]["input_schema"],
            json!({"type": "object"})
        );
        let turns = messages["messages"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            turns.len(),
            3,
            "tool result and the next user message share a turn: {turns:?}"
        );
        assert_eq!(turns[0]["content"][1]["source"]["media_type"], "image/png");
        assert_eq!(turns[1]["content"][0]["type"], "tool_use");
        assert_eq!(turns[1]["content"][0]["input"], json!({"q": 1}));
        assert_eq!(turns[2]["content"][0]["type"], "tool_result");
        assert_eq!(turns[2]["content"][1]["text"], "so?");
    }

    #[test]
    fn a_message_becomes_a_chat_completion_with_usage() {
        let answer = json!({"id": "msg_1", "model": "claude", "stop_reason": "tool_use",
            "content": [{"type": "text", "text": "Let me look."},
                        {"type": "tool_use", "id": "t1", "name": "look", "input": {"q": 1}}],
            "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 5}});
        let (completion, tokens) = to_chat_completion(&answer);
        assert_eq!(completion["choices"][0]["finish_reason"], "tool_calls");
        assert_eq!(
            completion["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{\"q\":1}"
        );
        assert_eq!(
            tokens,
            Tokens {
                input: 100,
                cached_input: 90,
                output: 5,
                cache_write: 0,
                reasoning: 0,
                reported: true,
                output_reported: true
            }
        );
        assert_eq!(
            completion["usage"]["prompt_tokens_details"]["cached_tokens"],
            90
        );
    }

    #[test]
    fn a_stream_abandoned_early_keeps_the_input_it_reported() {
        let findings = Arc::new(Mutex::new(StreamFindings::default()));
        let mut stream = ChunkStream::new(Instant::now(), findings.clone(), false);
        let start = json!({"type": "message_start", "message": {"id": "m", "model": "c",
            "usage": {"input_tokens": 7891, "cache_read_input_tokens": 1500, "output_tokens": 1}}});
        let delta = json!({"type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": "Once upon"}});
        stream.feed(format!("event: message_start\ndata: {start}\n\nevent: content_block_delta\ndata: {delta}\n\n").as_bytes());
        // The client goes away: the stream is dropped, never ended.
        drop(stream);
        let tokens = findings.lock().map(|f| f.tokens).unwrap_or_default();
        assert_eq!((tokens.input, tokens.cached_input), (9391, 1500));
        assert!(tokens.reported && !tokens.output_reported, "{tokens:?}");
    }
}
