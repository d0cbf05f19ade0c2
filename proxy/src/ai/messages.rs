//! Anthropic's Messages API as a client dialect (`POST /v1/messages`, what Claude Code speaks).
//! To an Anthropic provider the request goes up as the client sent it (see `anthropic::relay`);
//! to any other provider it is converted here into the canonical chat request, and the answer —
//! a chat completion or its chunks — back into a message or Messages stream events.

use std::collections::{HashMap, VecDeque};

use bytes::Bytes;
use http::StatusCode;
use serde_json::json;

use crate::ai::anthropic::wire::{
    Block, BlockDelta, ErrorDetail, ImageSource, Message as AnthropicMessage, MessageDelta,
    MessagesRequest, Role, StreamEvent, System, ToolChoice as AnthropicToolChoice,
    ToolResultContent, TurnContent, Usage as AnthropicUsage,
};
use crate::ai::chat::{
    ChatCompletion, ChatRequest, Content, FunctionDefinition, ImageUrl, Message, Part, Stop, Tool,
    ToolCall, ToolCallChunk, ToolChoice, ToolMode, Usage,
};
use crate::ai::metering::Tokens;
use crate::ai::sse::ChunkSink;
use crate::error::messages_error_body;

impl TryFrom<&MessagesRequest> for ChatRequest {
    type Error = String;

    /// A Messages request as a chat request, for OpenAI-family and Gemini providers.
    fn try_from(request: &MessagesRequest) -> Result<Self, String> {
        let mut messages = Vec::new();
        let system = match &request.system {
            Some(System::Text(text)) => text.clone(),
            Some(System::Blocks(blocks)) => texts_of(blocks)?,
            None => String::new(),
        };
        if !system.is_empty() {
            messages.push(Message::System {
                content: Content::Text(system),
            });
        }
        for turn in &request.messages {
            match (&turn.role, &turn.content) {
                (Role::User, TurnContent::Text(text)) => messages.push(Message::User {
                    content: Content::Text(text.clone()),
                }),
                (Role::Assistant, TurnContent::Text(text)) => messages.push(Message::Assistant {
                    content: Some(Content::Text(text.clone())),
                    tool_calls: Vec::new(),
                }),
                (Role::Assistant, TurnContent::Blocks(blocks)) => {
                    messages.push(assistant_turn(blocks)?);
                }
                (Role::User, TurnContent::Blocks(blocks)) => user_turn(blocks, &mut messages)?,
            }
        }
        let mut tools = Vec::new();
        for tool in &request.tools {
            if !tool.is_client_tool() {
                return Err(format!(
                    "the server tool '{}' runs only on Anthropic models",
                    tool.name
                ));
            }
            tools.push(Tool {
                kind: "function".into(),
                function: FunctionDefinition {
                    name: tool.name.clone(),
                    description: tool.description.clone(),
                    parameters: Some(
                        tool.input_schema
                            .clone()
                            .unwrap_or_else(|| json!({"type": "object"})),
                    ),
                    strict: None,
                },
            });
        }
        let tool_choice = request.tool_choice.as_ref().map(|choice| match choice {
            AnthropicToolChoice::Any { .. } => ToolChoice::Mode(ToolMode::Required),
            AnthropicToolChoice::None => ToolChoice::Mode(ToolMode::None),
            AnthropicToolChoice::Tool { name, .. } => ToolChoice::function(name.clone()),
            AnthropicToolChoice::Auto { .. } => ToolChoice::Mode(ToolMode::Auto),
        });
        let serial = request.tool_choice.as_ref().is_some_and(|c| c.serial());
        Ok(ChatRequest {
            model: request.model.clone(),
            messages,
            stream: request.stream,
            max_tokens: request.max_tokens,
            temperature: request.temperature,
            top_p: request.top_p,
            stop: (!request.stop_sequences.is_empty())
                .then(|| Stop::Many(request.stop_sequences.clone())),
            tools,
            tool_choice,
            parallel_tool_calls: serial.then_some(false),
            user: request.metadata.as_ref().and_then(|m| m.user_id.clone()),
            ..ChatRequest::default()
        })
    }
}

/// The text of text blocks; any other block here cannot be translated.
fn texts_of(blocks: &[Block]) -> Result<String, String> {
    let mut texts = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text } => texts.push(text.as_str()),
            other => return Err(unsupported_block(other)),
        }
    }
    Ok(texts.join("\n"))
}

fn unsupported_block(block: &Block) -> String {
    let kind = match block {
        Block::Text { .. } => "text",
        Block::Image { .. } => "image",
        Block::ToolUse { .. } => "tool_use",
        Block::ToolResult { .. } => "tool_result",
        Block::Thinking { .. } => "thinking",
        Block::RedactedThinking { .. } => "redacted_thinking",
        Block::Other => "document, search result or server tool",
    };
    format!("content blocks of type {kind} here can be sent to Anthropic models only")
}

/// An assistant turn: its text, and its tool uses as tool calls. Thinking blocks are the
/// model's own notes, meaningful to Anthropic only, and are left out.
fn assistant_turn(blocks: &[Block]) -> Result<Message, String> {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in blocks {
        match block {
            Block::Text { text: piece } => text.push_str(piece),
            Block::ToolUse { id, name, input } => {
                tool_calls.push(ToolCall::new(id.clone(), name.clone(), input.to_string()));
            }
            Block::Thinking { .. } | Block::RedactedThinking { .. } => {}
            other => return Err(unsupported_block(other)),
        }
    }
    let content = (!text.is_empty() || tool_calls.is_empty()).then_some(Content::Text(text));
    Ok(Message::Assistant {
        content,
        tool_calls,
    })
}

/// A user turn: tool results become `tool` messages (first, as chat requires them right after
/// the calls), the rest one user message of parts.
fn user_turn(blocks: &[Block], messages: &mut Vec<Message>) -> Result<(), String> {
    let mut parts = Vec::new();
    for block in blocks {
        match block {
            Block::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let text = match content {
                    Some(ToolResultContent::Text(text)) => text.clone(),
                    Some(ToolResultContent::Blocks(inner)) => texts_of(inner)?,
                    None => String::new(),
                };
                let text = if *is_error == Some(true) {
                    format!("Error: {text}")
                } else {
                    text
                };
                messages.push(Message::Tool {
                    content: Content::Text(text),
                    tool_call_id: tool_use_id.clone(),
                });
            }
            Block::Text { text } => parts.push(Part::Text { text: text.clone() }),
            Block::Image { source } => {
                let url = match source {
                    ImageSource::Base64 { media_type, data } => {
                        format!("data:{media_type};base64,{data}")
                    }
                    ImageSource::Url { url } => url.clone(),
                    ImageSource::Other => {
                        return Err("an image's source must be base64 or url here".into())
                    }
                };
                parts.push(Part::ImageUrl {
                    image_url: ImageUrl { url, detail: None },
                });
            }
            other => return Err(unsupported_block(other)),
        }
    }
    if !parts.is_empty() {
        messages.push(Message::User {
            content: Content::Parts(parts),
        });
    }
    Ok(())
}

/// Chat's finish reason → Messages' stop reason.
fn stop_reason(finish: &str) -> String {
    let reason = match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    };
    reason.to_string()
}

/// Chat's usage → Messages' usage (Anthropic counts cached input apart from `input_tokens`).
fn usage_of(usage: Option<&Usage>) -> AnthropicUsage {
    let tokens = usage.map(Tokens::from).unwrap_or_default();
    AnthropicUsage {
        input_tokens: Some(
            tokens
                .input
                .saturating_sub(tokens.cached_input)
                .saturating_sub(tokens.cache_write),
        ),
        cache_creation_input_tokens: Some(tokens.cache_write),
        cache_read_input_tokens: Some(tokens.cached_input),
        output_tokens: Some(tokens.output),
    }
}

fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

/// A chat completion → a Messages answer, named by the client's `model`.
pub(crate) fn from_chat_completion(completion: &ChatCompletion, model: &str) -> AnthropicMessage {
    let mut content = Vec::new();
    let choice = completion.choices.first();
    let answer = choice.map(|c| &c.message);
    if let Some(text) = answer.and_then(|a| a.content.as_deref().or(a.refusal.as_deref())) {
        if !text.is_empty() {
            content.push(Block::text(text));
        }
    }
    for call in answer.map(|a| a.tool_calls.as_slice()).unwrap_or_default() {
        content.push(Block::ToolUse {
            id: call.id.clone(),
            name: call.function.name.clone(),
            input: call.arguments_json(),
        });
    }
    let mut message = AnthropicMessage::new(
        message_id(),
        model.to_string(),
        content,
        usage_of(completion.usage.as_ref()),
    );
    message.stop_reason = choice
        .and_then(|c| c.finish_reason.as_deref())
        .map(stop_reason);
    message
}

/// A provider's refusal in chat's error shape → Messages' shape.
pub(crate) fn from_chat_error(status: StatusCode, body: &[u8]) -> Bytes {
    let message = serde_json::from_slice::<crate::ai::chat::ErrorBody>(body)
        .map(|e| e.error.message)
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| "the provider refused the request".into());
    messages_error_body(status, &message)
}

/// Chat completion chunks re-emitted as Messages stream events (fed by `sse::Rechunked`).
pub(crate) struct EventStream {
    out: VecDeque<Bytes>,
    model: String,
    started: bool,
    /// The open content block: its index and whether it is text (else a tool use).
    open: Option<(u64, bool)>,
    blocks: u64,
    /// Chat's tool call index → content block index.
    tools: HashMap<u64, u64>,
    stop_reason: Option<String>,
    usage: Option<Usage>,
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
            stop_reason: None,
            usage: None,
            finished: false,
        }
    }

    fn emit(&mut self, event: StreamEvent) {
        self.out.push_back(event.frame());
    }

    fn start(&mut self) {
        if self.started {
            return;
        }
        self.started = true;
        let usage = AnthropicUsage {
            input_tokens: Some(0),
            output_tokens: Some(0),
            ..AnthropicUsage::default()
        };
        let message = AnthropicMessage::new(message_id(), self.model.clone(), Vec::new(), usage);
        self.emit(StreamEvent::MessageStart { message });
        self.emit(StreamEvent::Ping);
    }

    fn close_block(&mut self) {
        if let Some((index, _)) = self.open.take() {
            self.emit(StreamEvent::ContentBlockStop { index });
        }
    }

    fn open_block(&mut self, content_block: Block, text: bool) -> u64 {
        self.close_block();
        let index = self.blocks;
        self.blocks += 1;
        self.open = Some((index, text));
        self.emit(StreamEvent::ContentBlockStart {
            index,
            content_block,
        });
        index
    }
}

impl ChunkSink for EventStream {
    fn begin(&mut self) {
        self.start();
    }

    fn text(&mut self, text: &str) {
        let index = match self.open {
            Some((index, true)) => index,
            _ => self.open_block(Block::text(""), true),
        };
        self.emit(StreamEvent::ContentBlockDelta {
            index,
            delta: BlockDelta::TextDelta {
                text: text.to_string(),
            },
        });
    }

    fn tool_call(&mut self, call: &ToolCallChunk) {
        let index = match self.tools.get(&call.index) {
            Some(index) => *index,
            None => {
                let block = Block::ToolUse {
                    id: call.id.clone().unwrap_or_default(),
                    name: call.function.name.clone().unwrap_or_default(),
                    input: json!({}),
                };
                let index = self.open_block(block, false);
                self.tools.insert(call.index, index);
                index
            }
        };
        if let Some(arguments) = call.function.arguments.as_ref().filter(|a| !a.is_empty()) {
            self.emit(StreamEvent::ContentBlockDelta {
                index,
                delta: BlockDelta::InputJsonDelta {
                    partial_json: arguments.clone(),
                },
            });
        }
    }

    fn finish_reason(&mut self, reason: &str) {
        self.stop_reason = Some(stop_reason(reason));
    }

    fn usage(&mut self, usage: &Usage) {
        self.usage = Some(usage.clone());
    }

    fn fail(&mut self, message: &str) {
        self.emit(StreamEvent::Error {
            error: ErrorDetail {
                kind: "api_error".into(),
                message: message.to_string(),
            },
        });
        self.finished = true;
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.start();
        self.close_block();
        let stop_reason = self.stop_reason.take().unwrap_or_else(|| "end_turn".into());
        self.emit(StreamEvent::MessageDelta {
            delta: MessageDelta {
                stop_reason: Some(stop_reason),
                stop_sequence: None,
            },
            usage: usage_of(self.usage.as_ref()),
        });
        self.emit(StreamEvent::MessageStop);
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
    use serde::Deserialize;
    use serde_json::Value;

    /// The chat request a Messages request becomes, as JSON.
    fn to_chat(request: &Value) -> Result<Value, String> {
        let request = MessagesRequest::deserialize(request).map_err(|e| e.to_string())?;
        let chat = ChatRequest::try_from(&request)?;
        serde_json::to_value(chat).map_err(|e| e.to_string())
    }

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
        let completion = serde_json::from_value(completion).expect("a completion");
        let message = from_chat_completion(&completion, "claude-like");
        let message = serde_json::to_value(message).unwrap_or_default();
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
