//! Anthropic's Messages API, translated to and from OpenAI's chat completions: system prompts,
//! images, tools and tool results, stop reasons, cache tokens, and streams event by event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};

use serde_json::{json, Value};

use crate::active::CompiledDeployment;
use crate::ai::chat::{
    Answer, ChatCompletion, ChatRequest, Choice, Content, Delta, Message, Part, ToolCall,
    ToolCallChunk, ToolChoice, ToolMode,
};
use crate::ai::json_scan;
use crate::ai::metering::Tokens;
use crate::ai::sse::{
    note_first_byte, ChunkTranslator, ChunkWriter, EventFramer, Lines, StreamFindings,
};
use crate::body::ProxyBody;

pub(crate) mod wire;

use wire::{
    Block, BlockDelta, ImageSource, MessagesRequest, Role, StreamEvent, System, ToolResultContent,
    Turn, TurnContent,
};

/// Anthropic's adapter: chat requests become Messages requests and back.
pub(crate) struct Anthropic;

impl super::Adapter for Anthropic {
    fn request(
        &self,
        deployment: &CompiledDeployment,
        chat: &ChatRequest,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String> {
        let mut body = MessagesRequest::try_from(chat)?;
        body.model.clone_from(&deployment.model);
        body.stream = stream;
        let body = serde_json::to_vec(&body).map_err(|e| e.to_string())?;
        messages_post(deployment, MESSAGES_PATH, Bytes::from(body))
    }

    fn answer(&self, status: http::StatusCode, body: Bytes, _: &str) -> (Bytes, Option<Tokens>) {
        super::translated_answer(status, &body, |message: wire::Message| {
            chat_completion(message)
        })
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
pub(crate) const DEFAULT_MAX_TOKENS: u64 = 4096;

/// Anthropic's Messages API, and its token counter.
pub(crate) const MESSAGES_PATH: &str = "/v1/messages";
pub(crate) const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";

/// A POST of `body` to the provider's Messages API at `path`, with its key and API version.
fn messages_post(
    deployment: &CompiledDeployment,
    path: &str,
    body: Bytes,
) -> Result<Request<ProxyBody>, String> {
    let mut request = super::provider_post_bytes(deployment, &[path], body)?;
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
    document: &crate::ai::Document,
    client_headers: &http::HeaderMap,
) -> Result<Request<ProxyBody>, String> {
    let body = crate::ai::members::relayed(document, &[("model", &deployment.model_json)])?;
    let mut request = messages_post(deployment, path, Bytes::from(body))?;
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
    let usage = json_scan::answer_usage::<wire::Usage>(answer)?;
    let mut tokens = Tokens::default();
    tokens_of(&usage, &mut tokens);
    tokens.reported.then_some(tokens)
}

/// Notes an Anthropic event stream's usage (from `message_start` and `message_delta`), its
/// text, and when data began, passing every byte on unchanged.
pub(crate) struct UsageScan {
    started: Instant,
    lines: Lines,
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
            lines: Lines::default(),
            tokens: Tokens::default(),
            findings,
        },
    )
}

impl crate::body::Inspect for UsageScan {
    fn inspect(&mut self, data: &Bytes) {
        note_first_byte(&self.findings, self.started);
        let mut lines = std::mem::take(&mut self.lines);
        lines.feed(data, |line| self.line_done(line));
        self.lines = lines;
    }
}

/// The type of the stream events that carry answer text.
static TEXT_DELTA: json_scan::Name =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\"text_delta\""));

impl UsageScan {
    fn line_done(&mut self, line: &[u8]) {
        let Some(payload) = line.strip_prefix(b"data:") else {
            return;
        };
        if !json_scan::has_object(payload, &json_scan::USAGE) {
            // A text delta's text, read where it lies: only events with usage are parsed.
            if TEXT_DELTA.find(payload).is_some() {
                if let (Some(text), Ok(mut findings)) = (
                    json_scan::first_string(payload, &json_scan::TEXT),
                    self.findings.lock(),
                ) {
                    findings.add_text(&text);
                }
            }
            return;
        }
        let Ok(event) = serde_json::from_slice::<StreamEvent>(payload.trim_ascii()) else {
            return;
        };
        stream_tokens_of(&event, &mut self.tokens);
        let Ok(mut findings) = self.findings.lock() else {
            return;
        };
        if let StreamEvent::ContentBlockDelta {
            delta: BlockDelta::TextDelta { text },
            ..
        } = &event
        {
            findings.add_text(text);
        }
        if self.tokens.reported {
            findings.tokens = self.tokens;
        }
    }
}

impl TryFrom<&ChatRequest> for MessagesRequest {
    type Error = String;

    /// A chat request as a Messages request (its `model` left to the caller).
    fn try_from(chat: &ChatRequest) -> Result<Self, String> {
        if chat.many_choices() {
            return Err("'n' above 1: Anthropic models answer with one choice".into());
        }
        if chat.logprobs == Some(true) {
            return Err("'logprobs': Anthropic models do not return log probabilities".into());
        }
        let mut system: Vec<String> = Vec::new();
        let mut turns: Vec<Turn> = Vec::new();
        for message in &chat.messages {
            let (role, blocks) = match message {
                Message::System { content } | Message::Developer { content } => {
                    system.push(text_only(content, "system messages")?);
                    continue;
                }
                Message::Tool {
                    content,
                    tool_call_id,
                } => (
                    Role::User,
                    vec![Block::ToolResult {
                        tool_use_id: tool_call_id.clone(),
                        content: Some(match content {
                            Content::Text(text) => ToolResultContent::Text(text.clone()),
                            Content::Parts(parts) => ToolResultContent::Blocks(blocks_of(parts)?),
                        }),
                        is_error: None,
                    }],
                ),
                Message::Assistant {
                    content,
                    tool_calls,
                } => {
                    let mut blocks = match content {
                        Some(content) => blocks_of(&content.parts())?,
                        None => Vec::new(),
                    };
                    blocks.extend(tool_calls.iter().map(|call| Block::ToolUse {
                        id: call.id.clone(),
                        name: call.function.name.clone(),
                        input: call.arguments_json(),
                    }));
                    (Role::Assistant, blocks)
                }
                Message::User { content } => (Role::User, blocks_of(&content.parts())?),
            };
            // Anthropic wants turns to alternate: consecutive messages of one role become one
            // turn.
            match turns.last_mut() {
                Some(Turn {
                    role: last,
                    content: TurnContent::Blocks(existing),
                }) if *last == role => existing.extend(blocks),
                _ => turns.push(Turn {
                    role,
                    content: TurnContent::Blocks(blocks),
                }),
            }
        }
        // Anthropic has no JSON mode: ask for it in the system prompt, as OpenAI's does
        // implicitly.
        if chat.wants_json() {
            let mut instruction =
                "Respond with a single valid JSON object and nothing else.".to_string();
            if let Some(schema) = chat.json_schema() {
                instruction.push_str(&format!(" It must match this JSON schema: {schema}"));
            }
            system.push(instruction);
        }
        let tools = chat
            .tools
            .iter()
            .map(|tool| wire::ToolDefinition {
                name: tool.function.name.clone(),
                kind: None,
                description: tool.function.description.clone(),
                input_schema: Some(
                    tool.function
                        .parameters
                        .clone()
                        .unwrap_or_else(|| json!({"type": "object"})),
                ),
            })
            .collect::<Vec<_>>();
        let serial = chat.parallel_tool_calls == Some(false);
        let disable_parallel_tool_use = serial.then_some(true);
        let tool_choice = match &chat.tool_choice {
            Some(ToolChoice::Mode(ToolMode::None)) => Some(wire::ToolChoice::None),
            Some(ToolChoice::Mode(ToolMode::Required)) => Some(wire::ToolChoice::Any {
                disable_parallel_tool_use,
            }),
            Some(ToolChoice::Function { function, .. }) => Some(wire::ToolChoice::Tool {
                name: function.name.clone(),
                disable_parallel_tool_use,
            }),
            Some(ToolChoice::Mode(ToolMode::Auto)) => Some(wire::ToolChoice::Auto {
                disable_parallel_tool_use,
            }),
            None if serial && !tools.is_empty() => Some(wire::ToolChoice::Auto {
                disable_parallel_tool_use,
            }),
            None => None,
        };
        Ok(Self {
            model: chat.model.clone(),
            messages: turns,
            system: (!system.is_empty()).then(|| System::Text(system.join("\n\n"))),
            max_tokens: Some(chat.max_output().unwrap_or(DEFAULT_MAX_TOKENS)),
            // OpenAI's temperature runs 0–2, Anthropic's 0–1: higher values are capped at 1.
            temperature: chat.temperature.map(|t| t.clamp(0.0, 1.0)),
            top_p: chat.top_p,
            top_k: None,
            stop_sequences: chat.stop_sequences().unwrap_or_default(),
            stream: chat.stream,
            tools,
            tool_choice,
            metadata: chat.user.clone().map(|user| wire::Metadata {
                user_id: Some(user),
            }),
            thinking: None,
        })
    }
}

/// The text of a content that may hold text only here.
fn text_only(content: &Content, what: &str) -> Result<String, String> {
    match content {
        Content::Parts(parts) => {
            if let Some(other) = parts.iter().find(|p| !matches!(p, Part::Text { .. })) {
                return Err(format!(
                    "{what} take text only; a '{}' part cannot be sent to Anthropic",
                    other.kind()
                ));
            }
            Ok(content.text())
        }
        Content::Text(text) => Ok(text.clone()),
    }
}

/// The Messages content blocks of chat content parts. Empty text makes no block: Anthropic
/// refuses empty text blocks (OpenAI clients send `""` next to tool calls). A part Anthropic
/// cannot take refuses the request: nothing the client sent may vanish.
fn blocks_of(parts: &[Part]) -> Result<Vec<Block>, String> {
    let mut blocks = Vec::new();
    for part in parts {
        match part {
            Part::Text { text } | Part::Refusal { refusal: text } => {
                if !text.is_empty() {
                    blocks.push(Block::text(text.as_str()));
                }
            }
            Part::ImageUrl { image_url } => {
                let source = match image_url.inline_data() {
                    Some((media_type, data)) => ImageSource::Base64 {
                        media_type: media_type.to_string(),
                        data: data.to_string(),
                    },
                    None => ImageSource::Url {
                        url: image_url.url.clone(),
                    },
                };
                blocks.push(Block::Image { source });
            }
            Part::InputAudio { .. } | Part::File { .. } => {
                return Err(format!(
                    "content parts of type '{}' cannot be sent to Anthropic",
                    part.kind()
                ))
            }
        }
    }
    Ok(blocks)
}

fn finish_reason(stop_reason: Option<&str>) -> Option<String> {
    let reason = match stop_reason? {
        "max_tokens" | "model_context_window_exceeded" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    };
    Some(reason.to_string())
}

fn tokens_of(usage: &wire::Usage, tokens: &mut Tokens) {
    if let Some(input) = usage.input_tokens {
        let cache_read = usage.cache_read_input_tokens.unwrap_or(0);
        let cache_write = usage.cache_creation_input_tokens.unwrap_or(0);
        tokens.input = input + cache_read + cache_write;
        tokens.cached_input = cache_read;
        tokens.cache_write = cache_write;
        tokens.reported = true;
    }
    if let Some(output) = usage.output_tokens {
        tokens.output = output;
        tokens.output_reported = true;
    }
}

/// Reads a stream event's usage: `message_start` reports the input (its output count is a
/// placeholder), `message_delta` the final output.
fn stream_tokens_of(event: &StreamEvent, tokens: &mut Tokens) {
    match event {
        StreamEvent::MessageStart { message } => {
            let output_reported = tokens.output_reported;
            tokens_of(&message.usage, tokens);
            tokens.output_reported = output_reported;
        }
        StreamEvent::MessageDelta { usage, .. } => tokens_of(usage, tokens),
        _ => {}
    }
}

/// An Anthropic message as a chat completion, with the usage it reported.
pub(crate) fn chat_completion(message: wire::Message) -> (ChatCompletion, Tokens) {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in message.content {
        match block {
            Block::Text { text: piece } => text.push_str(&piece),
            Block::ToolUse { id, name, input } => {
                tool_calls.push(ToolCall::new(id, name, input.to_string()));
            }
            _ => {}
        }
    }
    let mut tokens = Tokens::default();
    tokens_of(&message.usage, &mut tokens);
    let choice = Choice {
        message: Answer::new(text, tool_calls),
        finish_reason: finish_reason(message.stop_reason.as_deref()),
        ..Choice::default()
    };
    let completion = ChatCompletion::new(message.id, message.model, vec![choice], &tokens);
    (completion, tokens)
}

/// Anthropic's event stream, re-emitted as OpenAI chat completion chunks.
pub(crate) struct ChunkStream {
    started: Instant,
    findings: Arc<Mutex<StreamFindings>>,
    framer: EventFramer,
    /// The chunks' id and model are the message's, once `message_start` names them.
    writer: ChunkWriter,
    tokens: Tokens,
    /// Content block index → tool call index.
    tools: HashMap<u64, u64>,
    finished: bool,
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
            writer: ChunkWriter::new(String::new(), String::new(), include_usage),
            tokens: Tokens::default(),
            tools: HashMap::new(),
            finished: false,
        }
    }

    fn consume(&mut self, data: &[u8]) {
        if self.finished {
            return;
        }
        note_first_byte(&self.findings, self.started);
        self.framer.push(data);
        while let Some(event) = self.framer.next_json::<StreamEvent>() {
            match event {
                Ok(event) => self.translate(event),
                Err(too_large) => self.translate(StreamEvent::Error {
                    error: wire::ErrorDetail {
                        kind: "api_error".into(),
                        message: too_large.message(),
                    },
                }),
            }
        }
    }

    fn translate(&mut self, event: StreamEvent) {
        stream_tokens_of(&event, &mut self.tokens);
        match event {
            StreamEvent::MessageStart { message } => {
                self.writer.id = message.id;
                self.writer.model = message.model;
                self.publish_tokens();
                let delta = Delta {
                    role: Some("assistant".into()),
                    content: Some(String::new()),
                    ..Delta::default()
                };
                self.writer.delta(delta, None);
            }
            StreamEvent::ContentBlockStart {
                index,
                content_block: Block::ToolUse { id, name, .. },
            } => {
                let call = self.tools.len() as u64;
                self.tools.insert(index, call);
                let delta = Delta {
                    tool_calls: vec![ToolCallChunk::start(call, id, name)],
                    ..Delta::default()
                };
                self.writer.delta(delta, None);
            }
            StreamEvent::ContentBlockDelta { index, delta } => match delta {
                BlockDelta::TextDelta { text } => {
                    if let Ok(mut findings) = self.findings.lock() {
                        findings.add_text(&text);
                    }
                    let delta = Delta {
                        content: Some(text),
                        ..Delta::default()
                    };
                    self.writer.delta(delta, None);
                }
                BlockDelta::InputJsonDelta { partial_json } => {
                    let call = self.tools.get(&index).copied().unwrap_or(0);
                    let delta = Delta {
                        tool_calls: vec![ToolCallChunk::arguments(call, partial_json)],
                        ..Delta::default()
                    };
                    self.writer.delta(delta, None);
                }
                _ => {}
            },
            StreamEvent::MessageDelta { delta, .. } => {
                self.publish_tokens();
                self.writer.delta(
                    Delta::default(),
                    finish_reason(delta.stop_reason.as_deref()),
                );
            }
            StreamEvent::MessageStop => self.finish(),
            StreamEvent::Error { error } => {
                self.writer.fail(error.message, Value::String(error.kind));
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
        self.publish_tokens();
        self.writer.done(&self.tokens);
    }
}

impl ChunkTranslator for ChunkStream {
    fn feed(&mut self, data: &[u8]) {
        self.consume(data);
    }

    fn end(&mut self) {
        // A stream cut before message_stop still reports what it counted.
        self.publish_tokens();
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.writer.next_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    /// The Messages request a chat request becomes, as JSON.
    fn to_messages(chat: &Value, model: &str, stream: bool) -> Result<Value, String> {
        let mut body = MessagesRequest::try_from(&ChatRequest::from_document(chat)?)?;
        body.model = model.to_string();
        body.stream = stream;
        serde_json::to_value(body).map_err(|e| e.to_string())
    }

    /// The chat completion an Anthropic message becomes, as JSON.
    fn to_chat_completion(answer: &Value) -> (Value, Tokens) {
        let message = wire::Message::deserialize(answer).expect("a message");
        let (completion, tokens) = chat_completion(message);
        (serde_json::to_value(completion).unwrap_or_default(), tokens)
    }

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
