//! OpenAI's Responses API as a client dialect (`POST /v1/responses`, what Codex and the newer
//! OpenAI SDK features speak), stateless: every request carries its whole input. It is
//! translated into a chat completion request for any provider, and the answer — a chat
//! completion or its chunks — back into a response object or the typed stream events.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ai::chat::{
    ChatCompletion, ChatRequest, Content, FunctionDefinition, ImageUrl, JsonSchema, Message, Part,
    ResponseFormat, Tool, ToolCall, ToolCallChunk, ToolChoice, ToolMode, Usage,
};
use crate::ai::metering::{now_secs, Tokens};
use crate::ai::sse::ChunkSink;

/// A Responses request, as far as this gateway reads it. Items, parts and tools are read with
/// their `type` as a string so that one this gateway cannot take is refused by name.
#[derive(Debug, Deserialize)]
pub(crate) struct ResponsesRequest {
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    model: String,
    input: Input,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default)]
    temperature: Option<f64>,
    #[serde(default)]
    top_p: Option<f64>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    parallel_tool_calls: Option<bool>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    reasoning: Option<Reasoning>,
    #[serde(default)]
    text: Option<TextSettings>,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    tools: Vec<ResponsesTool>,
    #[serde(default)]
    tool_choice: Option<ResponsesToolChoice>,
    #[serde(default)]
    previous_response_id: Option<String>,
    #[serde(default)]
    background: Option<bool>,
}

/// `input`: a string, or items.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Input {
    Text(String),
    Items(Vec<InputItem>),
}

/// One input item: a message (`type` may be left out), a function call or its output, or
/// reasoning.
#[derive(Debug, Deserialize)]
struct InputItem {
    #[serde(rename = "type", default)]
    kind: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    content: Option<ItemContent>,
    #[serde(default)]
    call_id: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    arguments: Option<String>,
    #[serde(default)]
    output: Option<ItemContent>,
}

/// A message's content or a call's output: a string, or parts.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ItemContent {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// A content part (`input_text`, `output_text`, `input_image`, …).
#[derive(Debug, Deserialize)]
struct ContentPart {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    image_url: Option<String>,
    #[serde(default)]
    detail: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Reasoning {
    #[serde(default)]
    effort: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TextSettings {
    #[serde(default)]
    format: Option<TextFormat>,
}

/// `text.format`: `text`, `json_object`, or `json_schema` with its name and schema.
#[derive(Debug, Deserialize)]
struct TextFormat {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    schema: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

/// A tool: a function (flat, unlike chat's), or a built-in tool.
#[derive(Debug, Deserialize)]
struct ResponsesTool {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    parameters: Option<Value>,
    #[serde(default)]
    strict: Option<bool>,
}

/// `tool_choice`: a mode, or `{type: "function", name}`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum ResponsesToolChoice {
    Mode(ToolMode),
    Named {
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        name: Option<String>,
    },
}

impl TryFrom<&ResponsesRequest> for ChatRequest {
    type Error = String;

    /// A Responses request as a chat request.
    fn try_from(request: &ResponsesRequest) -> Result<Self, String> {
        if request.previous_response_id.is_some() {
            return Err("'previous_response_id': this gateway keeps no responses; send the whole conversation in 'input'".into());
        }
        if request.background == Some(true) {
            return Err("'background': responses are answered in the request here".into());
        }
        let mut messages = Vec::new();
        if let Some(instructions) = &request.instructions {
            messages.push(Message::System {
                content: Content::Text(instructions.clone()),
            });
        }
        match &request.input {
            Input::Text(text) => messages.push(Message::User {
                content: Content::Text(text.clone()),
            }),
            Input::Items(items) => {
                for item in items {
                    input_item(item, &mut messages)?;
                }
            }
        }
        let response_format = match request.text.as_ref().and_then(|t| t.format.as_ref()) {
            Some(format) if format.kind == "json_schema" => Some(ResponseFormat::JsonSchema {
                json_schema: JsonSchema {
                    name: format.name.clone().unwrap_or_else(|| "response".into()),
                    description: format.description.clone(),
                    schema: Some(format.schema.clone().unwrap_or_else(|| json!({}))),
                    strict: format.strict,
                },
            }),
            Some(format) if format.kind == "json_object" => Some(ResponseFormat::JsonObject),
            _ => None,
        };
        let mut tools = Vec::new();
        for tool in &request.tools {
            let Some(name) = tool.name.clone().filter(|_| tool.kind == "function") else {
                return Err(format!(
                    "the built-in tool '{}' is not available through this gateway; declare a function tool",
                    tool.kind
                ));
            };
            tools.push(Tool {
                kind: "function".into(),
                function: FunctionDefinition {
                    name,
                    description: tool.description.clone(),
                    parameters: Some(
                        tool.parameters
                            .clone()
                            .unwrap_or_else(|| json!({"type": "object"})),
                    ),
                    strict: tool.strict,
                },
            });
        }
        let tool_choice = match &request.tool_choice {
            None => None,
            Some(ResponsesToolChoice::Mode(mode)) => Some(ToolChoice::Mode(*mode)),
            Some(ResponsesToolChoice::Named {
                kind,
                name: Some(name),
            }) if kind == "function" => Some(ToolChoice::function(name.clone())),
            Some(_) => {
                return Err("'tool_choice' must be auto, none, required or a function".into())
            }
        };
        Ok(ChatRequest {
            model: request.model.clone(),
            messages,
            stream: request.stream == Some(true),
            max_tokens: request.max_output_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            tools,
            tool_choice,
            parallel_tool_calls: request.parallel_tool_calls,
            response_format,
            user: request.user.clone(),
            reasoning_effort: request.reasoning.as_ref().and_then(|r| r.effort.clone()),
            ..ChatRequest::default()
        })
    }
}

/// One input item → chat messages (consecutive function calls share one assistant message).
fn input_item(item: &InputItem, messages: &mut Vec<Message>) -> Result<(), String> {
    match item.kind.as_deref().unwrap_or("message") {
        "message" => {
            let content = match &item.content {
                Some(ItemContent::Text(text)) => Content::Text(text.clone()),
                Some(ItemContent::Parts(parts)) => message_parts(parts)?,
                None => return Err("every message item needs 'content'".into()),
            };
            messages.push(match item.role.as_deref().unwrap_or("user") {
                "assistant" => Message::Assistant {
                    content: Some(content),
                    tool_calls: Vec::new(),
                },
                "system" => Message::System { content },
                "developer" => Message::Developer { content },
                "user" => Message::User { content },
                other => return Err(format!("message items of role '{other}' are not known")),
            });
        }
        "function_call" => {
            let call = ToolCall::new(
                item.call_id.clone().unwrap_or_default(),
                item.name.clone().unwrap_or_default(),
                item.arguments.clone().unwrap_or_else(|| "{}".into()),
            );
            match messages.last_mut() {
                Some(Message::Assistant { tool_calls, .. }) if !tool_calls.is_empty() => {
                    tool_calls.push(call);
                }
                _ => messages.push(Message::Assistant {
                    content: None,
                    tool_calls: vec![call],
                }),
            }
        }
        "function_call_output" => {
            let output = match &item.output {
                Some(ItemContent::Text(text)) => text.clone(),
                Some(ItemContent::Parts(parts)) => parts
                    .iter()
                    .filter_map(|p| p.text.as_deref())
                    .collect::<Vec<_>>()
                    .join("\n"),
                None => String::new(),
            };
            messages.push(Message::Tool {
                content: Content::Text(output),
                tool_call_id: item.call_id.clone().unwrap_or_default(),
            });
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

/// Responses content parts → chat content (a plain string when it is all text).
fn message_parts(parts: &[ContentPart]) -> Result<Content, String> {
    let mut out = Vec::new();
    for part in parts {
        match part.kind.as_str() {
            "input_text" | "output_text" | "text" => out.push(Part::Text {
                text: part.text.clone().unwrap_or_default(),
            }),
            "input_image" => {
                let url = part
                    .image_url
                    .clone()
                    .ok_or("input_image needs an image_url (file ids are not available here)")?;
                out.push(Part::ImageUrl {
                    image_url: ImageUrl {
                        url,
                        detail: part.detail.clone(),
                    },
                });
            }
            other => {
                return Err(format!(
                    "content parts of type '{other}' are not available through this gateway"
                ))
            }
        }
    }
    if out.iter().all(|p| matches!(p, Part::Text { .. })) {
        return Ok(Content::Text(Content::Parts(out).text()));
    }
    Ok(Content::Parts(out))
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

/// The request's settings a response object repeats, with the API's defaults.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Echo {
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default)]
    max_output_tokens: Option<u64>,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    model: String,
    #[serde(default = "yes")]
    parallel_tool_calls: bool,
    #[serde(default = "no_reasoning")]
    reasoning: Value,
    #[serde(default = "one")]
    temperature: f64,
    #[serde(default = "plain_text")]
    text: Value,
    #[serde(default = "auto")]
    tool_choice: Value,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    tools: Vec<Value>,
    #[serde(default = "one")]
    top_p: f64,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    metadata: Map<String, Value>,
    #[serde(default)]
    user: Option<String>,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

fn no_reasoning() -> Value {
    json!({"effort": null, "summary": null})
}

fn plain_text() -> Value {
    json!({"format": {"type": "text"}})
}

fn auto() -> Value {
    json!("auto")
}

impl Echo {
    /// The settings of a client's request (a request that does not parse repeats defaults).
    pub(crate) fn of(request: &Value) -> Self {
        Self::deserialize(request).unwrap_or_else(|_| {
            Self::deserialize(&json!({})).unwrap_or_else(|_| unreachable!("defaults parse"))
        })
    }
}

/// A response object.
#[derive(Debug, Clone, Serialize)]
struct ResponseObject {
    id: String,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    error: Option<ResponseError>,
    incomplete_details: Option<Incomplete>,
    output: Vec<OutputItem>,
    previous_response_id: Option<String>,
    store: bool,
    truncation: &'static str,
    usage: Option<ResponseUsage>,
    #[serde(flatten)]
    echo: Echo,
}

#[derive(Debug, Clone, Serialize)]
struct ResponseError {
    code: &'static str,
    message: String,
}

#[derive(Debug, Clone, Serialize)]
struct Incomplete {
    reason: &'static str,
}

/// Responses' usage.
#[derive(Debug, Clone, Serialize)]
struct ResponseUsage {
    input_tokens: u64,
    input_tokens_details: InputDetails,
    output_tokens: u64,
    output_tokens_details: OutputDetails,
    total_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
struct InputDetails {
    cached_tokens: u64,
}

#[derive(Debug, Clone, Serialize)]
struct OutputDetails {
    reasoning_tokens: u64,
}

/// Chat's usage → Responses' usage.
fn usage_of(usage: Option<&Usage>) -> ResponseUsage {
    let tokens = usage.map(Tokens::from).unwrap_or_default();
    ResponseUsage {
        input_tokens: tokens.input,
        input_tokens_details: InputDetails {
            cached_tokens: tokens.cached_input,
        },
        output_tokens: tokens.output,
        output_tokens_details: OutputDetails {
            reasoning_tokens: tokens.reasoning,
        },
        total_tokens: tokens.input + tokens.output,
    }
}

/// One item of a response's output.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum OutputItem {
    Message {
        id: String,
        status: &'static str,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: &'static str,
    },
}

/// A message's text.
#[derive(Debug, Clone, Serialize)]
struct OutputText {
    #[serde(rename = "type")]
    kind: &'static str,
    text: String,
    annotations: [(); 0],
}

impl OutputText {
    fn new(text: &str) -> Self {
        Self {
            kind: "output_text",
            text: text.to_string(),
            annotations: [],
        }
    }
}

fn message_item(id: &str, text: &str, status: &'static str) -> OutputItem {
    OutputItem::Message {
        id: id.to_string(),
        status,
        role: "assistant",
        content: vec![OutputText::new(text)],
    }
}

/// How an answer that ended for `finish` (chat's reason) is incomplete, if it is.
fn incomplete(finish: Option<&str>) -> Option<Incomplete> {
    let reason = match finish? {
        "length" => "max_output_tokens",
        "content_filter" => "content_filter",
        _ => return None,
    };
    Some(Incomplete { reason })
}

/// The response object around `output`, repeating the request's settings.
fn response_object(
    id: &str,
    echo: &Echo,
    status: &'static str,
    output: Vec<OutputItem>,
    finish: Option<&str>,
    usage: Option<ResponseUsage>,
) -> ResponseObject {
    let incomplete_details = incomplete(finish);
    let status = if status == "completed" && incomplete_details.is_some() {
        "incomplete"
    } else {
        status
    };
    ResponseObject {
        id: id.to_string(),
        object: "response",
        created_at: now_secs(),
        status,
        error: None,
        incomplete_details,
        output,
        previous_response_id: None,
        store: false,
        truncation: "disabled",
        usage,
        echo: echo.clone(),
    }
}

/// A chat completion → a response object for the request.
pub(crate) fn from_chat_completion(completion: &ChatCompletion, request: &Value) -> Bytes {
    let choice = completion.choices.first();
    let answer = choice.map(|c| &c.message);
    let mut output = Vec::new();
    if let Some(text) = answer.and_then(|a| a.content.as_deref().or(a.refusal.as_deref())) {
        if !text.is_empty() {
            output.push(message_item(&new_id("msg"), text, "completed"));
        }
    }
    for call in answer.map(|a| a.tool_calls.as_slice()).unwrap_or_default() {
        let arguments = match call.function.arguments.as_str() {
            "" => "{}",
            arguments => arguments,
        };
        output.push(OutputItem::FunctionCall {
            id: new_id("fc"),
            call_id: call.id.clone(),
            name: call.function.name.clone(),
            arguments: arguments.to_string(),
            status: "completed",
        });
    }
    let response = response_object(
        &new_id("resp"),
        &Echo::of(request),
        "completed",
        output,
        choice.and_then(|c| c.finish_reason.as_deref()),
        Some(usage_of(completion.usage.as_ref())),
    );
    Bytes::from(serde_json::to_vec(&response).unwrap_or_default())
}

/// One event of a Responses stream, by its type.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
enum Event {
    #[serde(rename = "response.created")]
    Created { response: ResponseObject },
    #[serde(rename = "response.in_progress")]
    InProgress { response: ResponseObject },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    PartAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: OutputText,
    },
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.output_text.done")]
    TextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: [(); 0],
    },
    #[serde(rename = "response.content_part.done")]
    PartDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: OutputText,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: String,
        output_index: usize,
        arguments: String,
        name: String,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.completed")]
    Completed { response: ResponseObject },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: ResponseObject },
    #[serde(rename = "response.failed")]
    Failed { response: ResponseObject },
}

impl Event {
    /// The event's type, for its `event:` line.
    fn name(&self) -> &'static str {
        match self {
            Event::Created { .. } => "response.created",
            Event::InProgress { .. } => "response.in_progress",
            Event::ItemAdded { .. } => "response.output_item.added",
            Event::PartAdded { .. } => "response.content_part.added",
            Event::TextDelta { .. } => "response.output_text.delta",
            Event::ArgumentsDelta { .. } => "response.function_call_arguments.delta",
            Event::TextDone { .. } => "response.output_text.done",
            Event::PartDone { .. } => "response.content_part.done",
            Event::ArgumentsDone { .. } => "response.function_call_arguments.done",
            Event::ItemDone { .. } => "response.output_item.done",
            Event::Completed { .. } => "response.completed",
            Event::Incomplete { .. } => "response.incomplete",
            Event::Failed { .. } => "response.failed",
        }
    }
}

/// An event with its place in the stream.
#[derive(Serialize)]
struct Numbered<'a> {
    #[serde(flatten)]
    event: &'a Event,
    sequence_number: u64,
}

/// An output item being streamed.
struct Item {
    id: String,
    /// The call's id and name for a function call; `None` for the message.
    call: Option<(String, String)>,
    /// Text or arguments so far.
    text: String,
}

impl Item {
    fn output(&self, status: &'static str) -> OutputItem {
        match &self.call {
            None => message_item(&self.id, &self.text, status),
            Some((call_id, name)) => OutputItem::FunctionCall {
                id: self.id.clone(),
                call_id: call_id.clone(),
                name: name.clone(),
                arguments: self.text.clone(),
                status,
            },
        }
    }
}

/// Chat completion chunks re-emitted as Responses stream events (fed by `sse::Rechunked`).
pub(crate) struct EventStream {
    echo: Echo,
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
    usage: Option<Usage>,
    finished: bool,
}

impl EventStream {
    /// Responses events for the client's `request`.
    pub(crate) fn new(request: &Value) -> Self {
        Self {
            echo: Echo::of(request),
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

    fn emit(&mut self, event: Event) {
        let numbered = Numbered {
            event: &event,
            sequence_number: self.sequence,
        };
        self.sequence += 1;
        let mut frame = format!("event: {}\ndata: ", event.name()).into_bytes();
        // Serialising these types cannot fail: their maps have string keys.
        let _ = serde_json::to_writer(&mut frame, &numbered);
        frame.extend_from_slice(b"\n\n");
        self.out.push_back(Bytes::from(frame));
    }

    fn snapshot(&self, status: &'static str, usage: Option<ResponseUsage>) -> ResponseObject {
        let output = self.items.iter().map(|item| item.output(status)).collect();
        response_object(
            &self.id,
            &self.echo,
            status,
            output,
            self.finish.as_deref(),
            usage,
        )
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let response = self.snapshot("in_progress", None);
        self.emit(Event::Created {
            response: response.clone(),
        });
        self.emit(Event::InProgress { response });
    }

    fn open(&mut self, call: Option<(String, String)>) -> usize {
        let index = self.items.len();
        let prefix = if call.is_some() { "fc" } else { "msg" };
        let item = Item {
            id: new_id(prefix),
            call,
            text: String::new(),
        };
        let mut added = item.output("in_progress");
        if let OutputItem::Message { content, .. } = &mut added {
            content.clear();
        }
        let (id, is_message) = (item.id.clone(), item.call.is_none());
        self.items.push(item);
        self.emit(Event::ItemAdded {
            output_index: index,
            item: added,
        });
        if is_message {
            self.emit(Event::PartAdded {
                item_id: id,
                output_index: index,
                content_index: 0,
                part: OutputText::new(""),
            });
        }
        index
    }
}

impl ChunkSink for EventStream {
    fn begin(&mut self) {
        self.start();
    }

    fn text(&mut self, text: &str) {
        let index = match self.message {
            Some(index) => index,
            None => {
                let index = self.open(None);
                self.message = Some(index);
                index
            }
        };
        self.items[index].text.push_str(text);
        let item_id = self.items[index].id.clone();
        self.emit(Event::TextDelta {
            item_id,
            output_index: index,
            content_index: 0,
            delta: text.to_string(),
            logprobs: [],
        });
    }

    fn tool_call(&mut self, call: &ToolCallChunk) {
        let index = match self.calls.get(&call.index) {
            Some(index) => *index,
            None => {
                let id = call.id.clone().unwrap_or_else(|| new_id("call"));
                let name = call.function.name.clone().unwrap_or_default();
                let index = self.open(Some((id, name)));
                self.calls.insert(call.index, index);
                index
            }
        };
        if let Some(arguments) = call.function.arguments.as_deref().filter(|a| !a.is_empty()) {
            self.items[index].text.push_str(arguments);
            let item_id = self.items[index].id.clone();
            self.emit(Event::ArgumentsDelta {
                item_id,
                output_index: index,
                delta: arguments.to_string(),
            });
        }
    }

    fn finish_reason(&mut self, reason: &str) {
        self.finish = Some(reason.to_string());
    }

    fn usage(&mut self, usage: &Usage) {
        self.usage = Some(usage.clone());
    }

    fn fail(&mut self, message: &str) {
        self.start();
        let mut response = self.snapshot("failed", None);
        response.error = Some(ResponseError {
            code: "server_error",
            message: message.to_string(),
        });
        self.emit(Event::Failed { response });
        self.finished = true;
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.start();
        for index in 0..self.items.len() {
            let item_id = self.items[index].id.clone();
            let text = self.items[index].text.clone();
            match self.items[index].call.clone() {
                None => {
                    self.emit(Event::TextDone {
                        item_id: item_id.clone(),
                        output_index: index,
                        content_index: 0,
                        text: text.clone(),
                        logprobs: [],
                    });
                    self.emit(Event::PartDone {
                        item_id,
                        output_index: index,
                        content_index: 0,
                        part: OutputText::new(&text),
                    });
                }
                Some((_, name)) => self.emit(Event::ArgumentsDone {
                    item_id,
                    output_index: index,
                    arguments: text,
                    name,
                }),
            }
            let item = self.items[index].output("completed");
            self.emit(Event::ItemDone {
                output_index: index,
                item,
            });
        }
        let usage = usage_of(self.usage.as_ref());
        let response = self.snapshot("completed", Some(usage));
        self.emit(if response.status == "incomplete" {
            Event::Incomplete { response }
        } else {
            Event::Completed { response }
        });
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

    /// The chat request a Responses request becomes, as JSON.
    fn to_chat(request: &Value) -> Result<Value, String> {
        let request = ResponsesRequest::deserialize(request).map_err(|e| e.to_string())?;
        let chat = ChatRequest::try_from(&request)?;
        serde_json::to_value(chat).map_err(|e| e.to_string())
    }

    fn completion(value: Value) -> ChatCompletion {
        serde_json::from_value(value).expect("a completion")
    }

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
        let completion_json = json!({"choices": [{"finish_reason": "length", "message": {"content": "Hel"}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3}});
        let response = from_chat_completion(&completion(completion_json), &json!({"model": "m"}));
        let response: Value = serde_json::from_slice(&response).unwrap_or_default();
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
