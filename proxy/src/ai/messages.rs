//! Anthropic's Messages API as a client dialect (`POST /v1/messages`, what Claude Code speaks).
//! To an Anthropic provider the request goes up as the client sent it (see `anthropic::relay`);
//! to any other provider it is translated here into a chat completion request, and the answer —
//! a chat completion or its chunks — back into a message or Messages stream events.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use http::StatusCode;
use serde_json::{json, Map, Value};

use crate::ai::metering::Tokens;
use crate::ai::sse::{ChatDelta, ChunkSink};
use crate::error::messages_error_body;

/// A Messages request → a chat completion request (for OpenAI-family and Gemini providers).
pub(crate) fn to_chat(document: &Value) -> Result<Value, String> {
    let mut messages = Vec::new();
    match document.get("system") {
        Some(Value::String(text)) if !text.is_empty() => {
            messages.push(json!({"role": "system", "content": text}));
        }
        Some(Value::Array(blocks)) => {
            let text = texts_of(blocks)?;
            if !text.is_empty() {
                messages.push(json!({"role": "system", "content": text}));
            }
        }
        _ => {}
    }
    let turns = document
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("'messages' must be an array of {role, content}")?;
    for turn in turns {
        let role = turn.get("role").and_then(Value::as_str).unwrap_or("user");
        match (role, turn.get("content")) {
            (_, Some(Value::String(text))) => {
                messages.push(json!({"role": role, "content": text}));
            }
            ("assistant", Some(Value::Array(blocks))) => messages.push(assistant_turn(blocks)?),
            (_, Some(Value::Array(blocks))) => user_turn(blocks, &mut messages)?,
            _ => return Err("every message needs 'content', a string or blocks".into()),
        }
    }
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        document.get("model").cloned().unwrap_or(Value::Null),
    );
    chat.insert("messages".into(), Value::Array(messages));
    if let Some(max) = document.get("max_tokens") {
        chat.insert("max_tokens".into(), max.clone());
    }
    for field in ["temperature", "top_p", "stream"] {
        if let Some(value) = document.get(field) {
            chat.insert(field.into(), value.clone());
        }
    }
    if let Some(stops) = document.get("stop_sequences") {
        chat.insert("stop".into(), stops.clone());
    }
    if let Some(user) = document.pointer("/metadata/user_id") {
        chat.insert("user".into(), user.clone());
    }
    if let Some(tools) = document.get("tools").and_then(Value::as_array) {
        let mut functions = Vec::new();
        for tool in tools {
            if tool
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t != "custom")
            {
                return Err(format!(
                    "the server tool '{}' runs only on Anthropic models",
                    tool.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            let mut function = json!({"name": tool.get("name"),
                "parameters": tool.get("input_schema").cloned().unwrap_or_else(|| json!({"type": "object"}))});
            if let Some(description) = tool.get("description").filter(|d| !d.is_null()) {
                function["description"] = description.clone();
            }
            functions.push(json!({"type": "function", "function": function}));
        }
        chat.insert("tools".into(), Value::Array(functions));
    }
    if let Some(choice) = document.get("tool_choice") {
        let mapped = match choice.get("type").and_then(Value::as_str) {
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice.get("name")}}),
            _ => json!("auto"),
        };
        chat.insert("tool_choice".into(), mapped);
        if choice.get("disable_parallel_tool_use") == Some(&Value::Bool(true)) {
            chat.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    Ok(Value::Object(chat))
}

/// The text of text blocks; any other block here cannot be translated.
fn texts_of(blocks: &[Value]) -> Result<String, String> {
    let mut texts = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => texts.push(block.get("text").and_then(Value::as_str).unwrap_or("")),
            other => return Err(unsupported_block(other)),
        }
    }
    Ok(texts.join("\n"))
}

fn unsupported_block(kind: Option<&str>) -> String {
    format!(
        "content blocks of type '{}' can be sent to Anthropic models only",
        kind.unwrap_or("(none)")
    )
}

/// An assistant turn: its text, and its tool uses as tool calls. Thinking blocks are the
/// model's own notes, meaningful to Anthropic only, and are left out.
fn assistant_turn(blocks: &[Value]) -> Result<Value, String> {
    let mut text = String::new();
    let mut calls = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("text") => text.push_str(block.get("text").and_then(Value::as_str).unwrap_or("")),
            Some("tool_use") => calls.push(json!({"id": block.get("id"), "type": "function",
                "function": {"name": block.get("name"),
                             "arguments": block.get("input").unwrap_or(&json!({})).to_string()}})),
            Some("thinking" | "redacted_thinking") => {}
            other => return Err(unsupported_block(other)),
        }
    }
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) }});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(message)
}

/// A user turn: tool results become `tool` messages (first, as chat requires them right after
/// the calls), the rest one user message of parts.
fn user_turn(blocks: &[Value], messages: &mut Vec<Value>) -> Result<(), String> {
    let mut parts = Vec::new();
    for block in blocks {
        match block.get("type").and_then(Value::as_str) {
            Some("tool_result") => {
                let content = match block.get("content") {
                    Some(Value::String(text)) => text.clone(),
                    Some(Value::Array(inner)) => texts_of(inner)?,
                    _ => String::new(),
                };
                let content = if block.get("is_error") == Some(&Value::Bool(true)) {
                    format!("Error: {content}")
                } else {
                    content
                };
                messages.push(
                    json!({"role": "tool", "tool_call_id": block.get("tool_use_id"),
                    "content": content}),
                );
            }
            Some("text") => parts.push(json!({"type": "text", "text": block.get("text")})),
            Some("image") => {
                let source = block.get("source").cloned().unwrap_or_default();
                let url = match source.get("type").and_then(Value::as_str) {
                    Some("base64") => format!(
                        "data:{};base64,{}",
                        source
                            .get("media_type")
                            .and_then(Value::as_str)
                            .unwrap_or("image/png"),
                        source.get("data").and_then(Value::as_str).unwrap_or("")
                    ),
                    Some("url") => source
                        .get("url")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    _ => return Err("an image's source must be base64 or url".into()),
                };
                parts.push(json!({"type": "image_url", "image_url": {"url": url}}));
            }
            other => return Err(unsupported_block(other)),
        }
    }
    if !parts.is_empty() {
        messages.push(json!({"role": "user", "content": parts}));
    }
    Ok(())
}

/// Chat's finish reason → Messages' stop reason.
fn stop_reason(finish: Option<&str>) -> Value {
    match finish {
        Some("length") => json!("max_tokens"),
        Some("tool_calls" | "function_call") => json!("tool_use"),
        Some("content_filter") => json!("refusal"),
        Some(_) => json!("end_turn"),
        None => Value::Null,
    }
}

/// Chat's usage → Messages' usage (Anthropic counts cached input apart from `input_tokens`).
fn usage_of(usage: Option<&Value>) -> Value {
    let tokens = usage
        .and_then(Tokens::from_openai_usage)
        .unwrap_or_default();
    json!({"input_tokens": tokens.input.saturating_sub(tokens.cached_input),
           "cache_read_input_tokens": tokens.cached_input, "cache_creation_input_tokens": 0,
           "output_tokens": tokens.output})
}

fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// A chat completion → a Messages answer, named by the client's `model`.
pub(crate) fn from_chat_completion(completion: &Value, model: &str) -> Value {
    let answer = ChatDelta::of_completion(completion);
    let mut content = Vec::new();
    if !answer.text.is_empty() {
        content.push(json!({"type": "text", "text": answer.text}));
    }
    for call in &answer.tool_calls {
        let input = serde_json::from_str::<Value>(call.arguments).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}));
    }
    json!({"id": message_id(), "type": "message", "role": "assistant", "model": model,
        "content": content,
        "stop_reason": stop_reason(answer.finish_reason),
        "stop_sequence": null, "usage": usage_of(answer.usage)})
}

/// A provider's refusal in chat's error shape → Messages' shape.
pub(crate) fn from_chat_error(status: StatusCode, body: &[u8]) -> Bytes {
    let message = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| {
            v.pointer("/error/message")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_else(|| "the provider refused the request".into());
    messages_error_body(status, &message)
}

/// Chat completion chunks re-emitted as Messages stream events (fed by `sse::Rechunked`).
pub(crate) struct EventStream {
    out: VecDeque<Bytes>,
    model: String,
    started: bool,
    /// The open content block: its index and whether it is text (else a tool use).
    open: Option<(usize, bool)>,
    blocks: usize,
    /// Chat's tool call index → content block index.
    tools: HashMap<u64, usize>,
    stop_reason: Value,
    usage: Option<Value>,
    finished: bool,
}

impl EventStream {
    /// Messages events for a client that asked for `model`.
    pub(crate) fn new(model: &str) -> Self {
        Self {
            out: VecDeque::new(),
            model: model.to_string(),
            started: false,
            open: None,
            blocks: 0,
            tools: HashMap::new(),
            stop_reason: Value::Null,
            usage: None,
            finished: false,
        }
    }

    fn emit(&mut self, event: Value) {
        let name = event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        self.out
            .push_back(Bytes::from(format!("event: {name}\ndata: {event}\n\n")));
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let message = json!({"id": message_id(), "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}});
        self.emit(json!({"type": "message_start", "message": message}));
        self.emit(json!({"type": "ping"}));
    }

    fn close_block(&mut self) {
        if let Some((index, _)) = self.open.take() {
            self.emit(json!({"type": "content_block_stop", "index": index}));
        }
    }

    fn open_block(&mut self, block: Value, text: bool) -> usize {
        self.close_block();
        let index = self.blocks;
        self.blocks += 1;
        self.open = Some((index, text));
        self.emit(json!({"type": "content_block_start", "index": index, "content_block": block}));
        index
    }
}

impl ChunkSink for EventStream {
    fn delta(&mut self, delta: &ChatDelta<'_>) {
        self.start();
        if let Some(usage) = delta.usage {
            self.usage = Some(usage.clone());
        }
        if !delta.text.is_empty() {
            let index = match self.open {
                Some((index, true)) => index,
                _ => self.open_block(json!({"type": "text", "text": ""}), true),
            };
            self.emit(json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "text_delta", "text": delta.text}}));
        }
        for call in &delta.tool_calls {
            let index = match self.tools.get(&call.index) {
                Some(index) => *index,
                None => {
                    let block =
                        json!({"type": "tool_use", "id": call.id, "name": call.name, "input": {}});
                    let index = self.open_block(block, false);
                    self.tools.insert(call.index, index);
                    index
                }
            };
            if !call.arguments.is_empty() {
                self.emit(json!({"type": "content_block_delta", "index": index,
                    "delta": {"type": "input_json_delta", "partial_json": call.arguments}}));
            }
        }
        if let Some(finish) = delta.finish_reason {
            self.stop_reason = stop_reason(Some(finish));
        }
    }

    fn fail(&mut self, message: &str) {
        self.emit(json!({"type": "error", "error": {"type": "api_error", "message": message}}));
        self.finished = true;
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.start();
        self.close_block();
        let stop = if self.stop_reason.is_null() {
            json!("end_turn")
        } else {
            self.stop_reason.clone()
        };
        let usage = usage_of(self.usage.as_ref());
        self.emit(json!({"type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": null}, "usage": usage}));
        self.emit(json!({"type": "message_stop"}));
    }

    fn finished(&self) -> bool {
        self.finished
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_messages_request_becomes_a_chat_request() {
        let request = json!({"model": "m", "max_tokens": 100, "system": [{"type": "text", "text": "Be brief."}],
            "stop_sequences": ["END"], "metadata": {"user_id": "u1"},
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "tools": [{"name": "look", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "What is this?"},
                    {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "hm", "signature": "s"},
                    {"type": "tool_use", "id": "t1", "name": "look", "input": {"q": 1}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a cat"},
                    {"type": "text", "text": "so?"}]}]});
        let chat = to_chat(&request).unwrap_or_default();
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            chat["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
        assert_eq!(chat["messages"][2]["content"], Value::Null);
        assert_eq!(
            chat["messages"][2]["tool_calls"][0]["function"]["arguments"],
            "{\"q\":1}"
        );
        assert_eq!(
            chat["messages"][3],
            json!({"role": "tool", "tool_call_id": "t1", "content": "a cat"})
        );
        assert_eq!(chat["messages"][4]["content"][0]["text"], "so?");
        assert_eq!(chat["stop"], json!(["END"]));
        assert_eq!(chat["user"], "u1");
        assert_eq!(chat["tool_choice"], "required");
        assert_eq!(chat["parallel_tool_calls"], false);
        assert!(chat["tools"][0]["function"].get("description").is_none());
    }

    #[test]
    fn what_only_anthropic_understands_is_refused_not_dropped() {
        for request in [
            json!({"messages": [{"role": "user", "content": [{"type": "document", "source": {}}]}]}),
            json!({"messages": [], "tools": [{"type": "web_search_20250305", "name": "web_search"}]}),
        ] {
            assert!(to_chat(&request).is_err(), "{request}");
        }
    }

    #[test]
    fn a_chat_completion_becomes_a_message() {
        let completion = json!({"choices": [{"finish_reason": "tool_calls", "message": {"content": null,
            "tool_calls": [{"id": "c1", "function": {"name": "look", "arguments": "{\"q\":1}"}}]}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 4}}});
        let message = from_chat_completion(&completion, "claude-like");
        assert_eq!(message["model"], "claude-like");
        assert_eq!(message["stop_reason"], "tool_use");
        assert_eq!(
            message["content"],
            json!([{"type": "tool_use", "id": "c1", "name": "look", "input": {"q": 1}}])
        );
        assert_eq!(message["usage"]["input_tokens"], 6);
        assert_eq!(message["usage"]["cache_read_input_tokens"], 4);
    }
}
