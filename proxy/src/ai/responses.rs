//! OpenAI's Responses API as a client dialect (`POST /v1/responses`, what Codex and the newer
//! OpenAI SDK features speak), stateless: every request carries its whole input. It is
//! translated into a chat completion request for any provider, and the answer — a chat
//! completion or its chunks — back into a response object or the typed stream events.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use serde_json::{json, Map, Value};

use crate::ai::metering::{now_secs, Tokens};
use crate::ai::sse::{ChatDelta, ChunkSink};

/// A Responses request → a chat completion request.
pub(crate) fn to_chat(document: &Value) -> Result<Value, String> {
    if document
        .get("previous_response_id")
        .is_some_and(|id| !id.is_null())
    {
        return Err("'previous_response_id': this gateway keeps no responses; send the whole conversation in 'input'".into());
    }
    if document.get("background") == Some(&Value::Bool(true)) {
        return Err("'background': responses are answered in the request here".into());
    }
    let mut messages = Vec::new();
    if let Some(instructions) = document.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match document.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                input_item(item, &mut messages)?;
            }
        }
        _ => return Err("'input' must be a string or an array of items".into()),
    }
    let mut chat = Map::new();
    chat.insert(
        "model".into(),
        document.get("model").cloned().unwrap_or(Value::Null),
    );
    chat.insert("messages".into(), Value::Array(messages));
    if let Some(max) = document.get("max_output_tokens").filter(|m| !m.is_null()) {
        chat.insert("max_tokens".into(), max.clone());
    }
    for field in [
        "temperature",
        "top_p",
        "stream",
        "parallel_tool_calls",
        "user",
    ] {
        if let Some(value) = document.get(field).filter(|v| !v.is_null()) {
            chat.insert(field.into(), value.clone());
        }
    }
    if let Some(effort) = document
        .pointer("/reasoning/effort")
        .filter(|e| !e.is_null())
    {
        chat.insert("reasoning_effort".into(), effort.clone());
    }
    match document
        .pointer("/text/format/type")
        .and_then(Value::as_str)
    {
        Some("json_schema") => {
            let format = &document["text"]["format"];
            let mut schema = json!({"name": format.get("name").cloned().unwrap_or(json!("response")),
                "schema": format.get("schema").cloned().unwrap_or(json!({}))});
            if let Some(strict) = format.get("strict") {
                schema["strict"] = strict.clone();
            }
            chat.insert(
                "response_format".into(),
                json!({"type": "json_schema", "json_schema": schema}),
            );
        }
        Some("json_object") => {
            chat.insert("response_format".into(), json!({"type": "json_object"}));
        }
        _ => {}
    }
    if let Some(tools) = document.get("tools").and_then(Value::as_array) {
        let mut functions = Vec::new();
        for tool in tools {
            if tool.get("type").and_then(Value::as_str) != Some("function") {
                return Err(format!(
                    "the built-in tool '{}' is not available through this gateway; declare a function tool",
                    tool.get("type").and_then(Value::as_str).unwrap_or("?")
                ));
            }
            let mut function = json!({"name": tool.get("name"),
                "parameters": tool.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object"}))});
            for field in ["description", "strict"] {
                if let Some(value) = tool.get(field).filter(|v| !v.is_null()) {
                    function[field] = value.clone();
                }
            }
            functions.push(json!({"type": "function", "function": function}));
        }
        if !functions.is_empty() {
            chat.insert("tools".into(), Value::Array(functions));
        }
    }
    if let Some(choice) = document.get("tool_choice") {
        let mapped = match choice {
            Value::String(mode) => json!(mode),
            Value::Object(_) if choice.get("type").and_then(Value::as_str) == Some("function") => {
                json!({"type": "function", "function": {"name": choice.get("name")}})
            }
            _ => return Err("'tool_choice' must be auto, none, required or a function".into()),
        };
        chat.insert("tool_choice".into(), mapped);
    }
    Ok(Value::Object(chat))
}

/// One input item → chat messages (consecutive function calls share one assistant message).
fn input_item(item: &Value, messages: &mut Vec<Value>) -> Result<(), String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
            let content = match item.get("content") {
                Some(Value::String(text)) => json!(text),
                Some(Value::Array(parts)) => message_parts(parts)?,
                _ => return Err("every message item needs 'content'".into()),
            };
            messages.push(json!({"role": role, "content": content}));
        }
        "function_call" => {
            let call = json!({"id": item.get("call_id"), "type": "function",
                "function": {"name": item.get("name"), "arguments": item.get("arguments").cloned().unwrap_or(json!("{}"))}});
            match messages.last_mut() {
                Some(last) if last["role"] == "assistant" && last.get("tool_calls").is_some() => {
                    if let Some(calls) = last["tool_calls"].as_array_mut() {
                        calls.push(call);
                    }
                }
                _ => messages
                    .push(json!({"role": "assistant", "content": null, "tool_calls": [call]})),
            }
        }
        "function_call_output" => {
            let output = match item.get("output") {
                Some(Value::String(text)) => text.clone(),
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<Vec<_>>()
                    .join("\n"),
                _ => String::new(),
            };
            messages.push(
                json!({"role": "tool", "tool_call_id": item.get("call_id"), "content": output}),
            );
        }
        // The model's own reasoning from an earlier turn: meaningful to that model only.
        "reasoning" => {}
        other => {
            return Err(format!(
                "input items of type '{other}' are not available through this gateway"
            ))
        }
    }
    Ok(())
}

/// Responses content parts → chat content parts (a plain string when it is all text).
fn message_parts(parts: &[Value]) -> Result<Value, String> {
    let mut out = Vec::new();
    for part in parts {
        match part.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "text") => {
                out.push(json!({"type": "text", "text": part.get("text")}));
            }
            Some("input_image") => {
                let url = part
                    .get("image_url")
                    .and_then(Value::as_str)
                    .ok_or("input_image needs an image_url (file ids are not available here)")?;
                let mut image = json!({"url": url});
                if let Some(detail) = part.get("detail") {
                    image["detail"] = detail.clone();
                }
                out.push(json!({"type": "image_url", "image_url": image}));
            }
            other => {
                return Err(format!(
                    "content parts of type '{}' are not available through this gateway",
                    other.unwrap_or("(none)")
                ))
            }
        }
    }
    if out.iter().all(|p| p["type"] == "text") {
        let text: Vec<&str> = out.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(json!(text.join("\n")));
    }
    Ok(Value::Array(out))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// Chat's usage → Responses' usage.
fn usage_of(usage: Option<&Value>) -> Value {
    let tokens = usage
        .and_then(Tokens::from_openai_usage)
        .unwrap_or_default();
    json!({"input_tokens": tokens.input,
           "input_tokens_details": {"cached_tokens": tokens.cached_input},
           "output_tokens": tokens.output,
           "output_tokens_details": {"reasoning_tokens": tokens.reasoning},
           "total_tokens": tokens.input + tokens.output})
}

/// The response object around `output`, echoing the request's settings.
fn response_object(
    id: &str,
    request: &Value,
    status: &str,
    output: Vec<Value>,
    finish: Option<&str>,
    usage: Option<Value>,
) -> Value {
    let incomplete = match finish {
        Some("length") => json!({"reason": "max_output_tokens"}),
        Some("content_filter") => json!({"reason": "content_filter"}),
        _ => Value::Null,
    };
    let status = if status == "completed" && !incomplete.is_null() {
        "incomplete"
    } else {
        status
    };
    let setting = |name: &str, default: Value| request.get(name).cloned().unwrap_or(default);
    json!({"id": id, "object": "response", "created_at": now_secs(), "status": status,
        "error": null, "incomplete_details": incomplete,
        "instructions": setting("instructions", Value::Null),
        "max_output_tokens": setting("max_output_tokens", Value::Null),
        "model": setting("model", Value::Null), "output": output,
        "parallel_tool_calls": setting("parallel_tool_calls", json!(true)),
        "previous_response_id": null, "reasoning": setting("reasoning", json!({"effort": null, "summary": null})),
        "store": false, "temperature": setting("temperature", json!(1.0)),
        "text": setting("text", json!({"format": {"type": "text"}})),
        "tool_choice": setting("tool_choice", json!("auto")), "tools": setting("tools", json!([])),
        "top_p": setting("top_p", json!(1.0)), "truncation": "disabled",
        "metadata": setting("metadata", json!({})), "user": setting("user", Value::Null),
        "usage": usage})
}

fn message_item(id: &str, text: &str, status: &str) -> Value {
    json!({"type": "message", "id": id, "status": status, "role": "assistant",
        "content": [{"type": "output_text", "text": text, "annotations": []}]})
}

fn call_item(id: &str, call_id: &Value, name: &Value, arguments: &str, status: &str) -> Value {
    json!({"type": "function_call", "id": id, "call_id": call_id, "name": name,
        "arguments": arguments, "status": status})
}

/// A chat completion → a response object for the request.
pub(crate) fn from_chat_completion(completion: &Value, request: &Value) -> Value {
    let answer = ChatDelta::of_completion(completion);
    let mut output = Vec::new();
    if !answer.text.is_empty() {
        output.push(message_item(&new_id("msg"), answer.text, "completed"));
    }
    for call in &answer.tool_calls {
        let arguments = if call.arguments.is_empty() {
            "{}"
        } else {
            call.arguments
        };
        let (id, name) = (
            call.id.unwrap_or(&Value::Null),
            call.name.unwrap_or(&Value::Null),
        );
        output.push(call_item(&new_id("fc"), id, name, arguments, "completed"));
    }
    let usage = Some(usage_of(answer.usage));
    response_object(
        &new_id("resp"),
        request,
        "completed",
        output,
        answer.finish_reason,
        usage,
    )
}

/// An output item being streamed.
struct Item {
    id: String,
    /// The call's id and name for a function call; `None` for the message.
    call: Option<(Value, Value)>,
    /// Text or arguments so far.
    text: String,
}

/// Chat completion chunks re-emitted as Responses stream events (fed by `sse::Rechunked`).
pub(crate) struct EventStream {
    request: Value,
    id: String,
    out: VecDeque<Bytes>,
    sequence: u64,
    started: bool,
    items: Vec<Item>,
    /// The message item's output index, once it has one.
    message: Option<usize>,
    /// Chat's tool call index → output index.
    calls: HashMap<u64, usize>,
    finish: Option<String>,
    usage: Option<Value>,
    finished: bool,
}

impl EventStream {
    /// Responses events for the client's `request`.
    pub(crate) fn new(request: &Value) -> Self {
        Self {
            request: request.clone(),
            id: new_id("resp"),
            out: VecDeque::new(),
            sequence: 0,
            started: false,
            items: Vec::new(),
            message: None,
            calls: HashMap::new(),
            finish: None,
            usage: None,
            finished: false,
        }
    }

    fn emit(&mut self, kind: &str, mut event: Value) {
        event["type"] = json!(kind);
        event["sequence_number"] = json!(self.sequence);
        self.sequence += 1;
        self.out
            .push_back(Bytes::from(format!("event: {kind}\ndata: {event}\n\n")));
    }

    fn snapshot(&self, status: &str, usage: Option<Value>) -> Value {
        let output = self
            .items
            .iter()
            .map(|item| self.item(item, status))
            .collect();
        response_object(
            &self.id,
            &self.request,
            status,
            output,
            self.finish.as_deref(),
            usage,
        )
    }

    fn item(&self, item: &Item, status: &str) -> Value {
        match &item.call {
            None => message_item(&item.id, &item.text, status),
            Some((call_id, name)) => call_item(&item.id, call_id, name, &item.text, status),
        }
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.snapshot("in_progress", None);
        self.emit("response.created", json!({"response": response}));
        self.emit("response.in_progress", json!({"response": response}));
    }

    fn open(&mut self, call: Option<(Value, Value)>) -> usize {
        let index = self.items.len();
        let prefix = if call.is_some() { "fc" } else { "msg" };
        self.items.push(Item {
            id: new_id(prefix),
            call,
            text: String::new(),
        });
        let mut item = self.item(&self.items[index], "in_progress");
        if item["type"] == "message" {
            item["content"] = json!([]);
        }
        self.emit(
            "response.output_item.added",
            json!({"output_index": index, "item": item}),
        );
        if self.items[index].call.is_none() {
            let id = self.items[index].id.clone();
            self.emit("response.content_part.added", json!({"item_id": id, "output_index": index,
                "content_index": 0, "part": {"type": "output_text", "text": "", "annotations": []}}));
        }
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
            let index = match self.message {
                Some(index) => index,
                None => {
                    let index = self.open(None);
                    self.message = Some(index);
                    index
                }
            };
            self.items[index].text.push_str(delta.text);
            let id = self.items[index].id.clone();
            self.emit(
                "response.output_text.delta",
                json!({"item_id": id, "output_index": index,
                "content_index": 0, "delta": delta.text, "logprobs": []}),
            );
        }
        for call in &delta.tool_calls {
            let index = match self.calls.get(&call.index) {
                Some(index) => *index,
                None => {
                    let id = call.id.cloned().unwrap_or_else(|| json!(new_id("call")));
                    let name = call.name.cloned().unwrap_or(Value::Null);
                    let index = self.open(Some((id, name)));
                    self.calls.insert(call.index, index);
                    index
                }
            };
            if !call.arguments.is_empty() {
                self.items[index].text.push_str(call.arguments);
                let id = self.items[index].id.clone();
                self.emit(
                    "response.function_call_arguments.delta",
                    json!({"item_id": id,
                    "output_index": index, "delta": call.arguments}),
                );
            }
        }
        if let Some(finish) = delta.finish_reason {
            self.finish = Some(finish.to_string());
        }
    }

    fn fail(&mut self, message: &str) {
        self.start();
        let mut response = self.snapshot("failed", None);
        response["error"] = json!({"code": "server_error", "message": message});
        self.emit("response.failed", json!({"response": response}));
        self.finished = true;
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.start();
        for index in 0..self.items.len() {
            let id = self.items[index].id.clone();
            let text = self.items[index].text.clone();
            if self.items[index].call.is_none() {
                self.emit(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index,
                    "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit("response.content_part.done", json!({"item_id": id, "output_index": index,
                    "content_index": 0, "part": {"type": "output_text", "text": text, "annotations": []}}));
            } else {
                let name = self.items[index].call.as_ref().map(|c| c.1.clone());
                self.emit(
                    "response.function_call_arguments.done",
                    json!({"item_id": id,
                    "output_index": index, "arguments": text, "name": name}),
                );
            }
            let item = self.item(&self.items[index], "completed");
            self.emit(
                "response.output_item.done",
                json!({"output_index": index, "item": item}),
            );
        }
        let usage = usage_of(self.usage.as_ref());
        let response = self.snapshot("completed", Some(usage));
        let kind = if response["status"] == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        self.emit(kind, json!({"response": response}));
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
    fn a_responses_request_becomes_a_chat_request() {
        let request = json!({"model": "m", "instructions": "Be brief.", "max_output_tokens": 50,
            "text": {"format": {"type": "json_schema", "name": "w", "schema": {"type": "object"}, "strict": true}},
            "tools": [{"type": "function", "name": "look", "parameters": {"type": "object"}}],
            "tool_choice": {"type": "function", "name": "look"},
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AAAA"}]},
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "function_call", "call_id": "c1", "name": "look", "arguments": "{}"},
                {"type": "function_call", "call_id": "c2", "name": "look", "arguments": "{\"q\":2}"},
                {"type": "function_call_output", "call_id": "c1", "output": "a cat"},
                {"type": "function_call_output", "call_id": "c2", "output": "a dog"}]});
        let chat = to_chat(&request).unwrap_or_default();
        assert_eq!(
            chat["messages"][0],
            json!({"role": "system", "content": "Be brief."})
        );
        assert_eq!(
            chat["messages"][1]["content"][1]["image_url"]["url"],
            "data:image/png;base64,AAAA"
        );
        assert_eq!(
            chat["messages"][2]["tool_calls"].as_array().map(Vec::len),
            Some(2)
        );
        assert_eq!(
            chat["messages"][3],
            json!({"role": "tool", "tool_call_id": "c1", "content": "a cat"})
        );
        assert_eq!(chat["max_tokens"], 50);
        assert_eq!(chat["response_format"]["json_schema"]["strict"], true);
        assert_eq!(chat["tool_choice"]["function"]["name"], "look");
    }

    #[test]
    fn stored_state_and_built_in_tools_are_refused() {
        for request in [
            json!({"input": "x", "previous_response_id": "resp_1"}),
            json!({"input": "x", "tools": [{"type": "web_search"}]}),
            json!({"input": [{"type": "file_search_call", "id": "x"}]}),
        ] {
            assert!(to_chat(&request).is_err(), "{request}");
        }
    }

    #[test]
    fn a_chat_completion_becomes_a_response() {
        let completion = json!({"choices": [{"finish_reason": "length", "message": {"content": "Hel"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3}});
        let response = from_chat_completion(&completion, &json!({"model": "m"}));
        assert_eq!(response["status"], "incomplete");
        assert_eq!(
            response["incomplete_details"]["reason"],
            "max_output_tokens"
        );
        assert_eq!(response["output"][0]["content"][0]["text"], "Hel");
        assert_eq!(response["usage"]["total_tokens"], 13);
        assert_eq!(response["model"], "m");
    }
}
