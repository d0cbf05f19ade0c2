//! Anthropic's Messages API on the wire, typed: what the provider takes and answers, and what a
//! Messages client sends and reads (the same API, both ways). Block and event types this
//! gateway does not know read as `Other` rather than failing the whole message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A Messages request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MessagesRequest {
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    pub(crate) model: String,
    pub(crate) messages: Vec<Turn>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) system: Option<System>,
    /// Required by Anthropic; a client that leaves it out gets the gateway's default.
    #[serde(default)]
    pub(crate) max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_k: Option<u64>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::ai::chat::null_as_default"
    )]
    pub(crate) stop_sequences: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "crate::ai::chat::null_as_default"
    )]
    pub(crate) stream: bool,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "crate::ai::chat::null_as_default"
    )]
    pub(crate) tools: Vec<ToolDefinition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metadata: Option<Metadata>,
    /// Extended thinking settings, meaningful to Anthropic models only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) thinking: Option<Value>,
}

/// The system prompt: a string, or text blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum System {
    Text(String),
    Blocks(Vec<Block>),
}

/// One turn of the conversation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Turn {
    pub(crate) role: Role,
    pub(crate) content: TurnContent,
}

/// Who speaks a turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Role {
    User,
    Assistant,
}

/// A turn's content: a string, or blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum TurnContent {
    Text(String),
    Blocks(Vec<Block>),
}

/// A content block, in a request or an answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Block {
    Text {
        text: String,
    },
    Image {
        source: ImageSource,
    },
    ToolUse {
        id: String,
        name: String,
        #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        content: Option<ToolResultContent>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        is_error: Option<bool>,
    },
    Thinking {
        thinking: String,
        #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
        signature: String,
    },
    RedactedThinking {
        data: String,
    },
    /// A block of a type this gateway does not translate (documents, server tool results…).
    #[serde(other, skip_serializing)]
    Other,
}

impl Block {
    /// A text block.
    pub(crate) fn text(text: impl Into<String>) -> Self {
        Self::Text { text: text.into() }
    }
}

/// Where an image comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ImageSource {
    Base64 {
        media_type: String,
        data: String,
    },
    Url {
        url: String,
    },
    #[serde(other, skip_serializing)]
    Other,
}

/// A tool result: a string, or blocks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum ToolResultContent {
    Text(String),
    Blocks(Vec<Block>),
}

/// A tool the model may use: a client tool with its input schema, or one of Anthropic's server
/// tools (which has a versioned `type` and no schema).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToolDefinition {
    pub(crate) name: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input_schema: Option<Value>,
}

impl ToolDefinition {
    /// Whether this is a client tool (no type, or `custom`), not a server tool.
    pub(crate) fn is_client_tool(&self) -> bool {
        self.kind.as_deref().is_none_or(|kind| kind == "custom")
    }
}

/// `tool_choice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum ToolChoice {
    Auto {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Any {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    Tool {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        disable_parallel_tool_use: Option<bool>,
    },
    None,
}

impl ToolChoice {
    /// Whether the model is told to call at most one tool.
    pub(crate) fn serial(&self) -> bool {
        match self {
            Self::Auto {
                disable_parallel_tool_use,
            }
            | Self::Any {
                disable_parallel_tool_use,
            }
            | Self::Tool {
                disable_parallel_tool_use,
                ..
            } => *disable_parallel_tool_use == Some(true),
            Self::None => false,
        }
    }
}

/// Request metadata.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user_id: Option<String>,
}

/// A message: the answer to a request not streamed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Message {
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    pub(crate) id: String,
    #[serde(rename = "type", default = "message_type")]
    pub(crate) kind: String,
    #[serde(default = "assistant")]
    pub(crate) role: String,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    pub(crate) model: String,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    pub(crate) content: Vec<Block>,
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    #[serde(default)]
    pub(crate) stop_sequence: Option<String>,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    pub(crate) usage: Usage,
}

fn message_type() -> String {
    "message".into()
}

fn assistant() -> String {
    "assistant".into()
}

impl Message {
    /// A message of `content` from `model`.
    pub(crate) fn new(id: String, model: String, content: Vec<Block>, usage: Usage) -> Self {
        Self {
            id,
            kind: message_type(),
            role: assistant(),
            model,
            content,
            stop_reason: None,
            stop_sequence: None,
            usage,
        }
    }
}

/// Token usage. Anthropic counts cache reads and writes apart from `input_tokens`; in a stream,
/// `message_start` carries the input and `message_delta` the final output.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Usage {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) output_tokens: Option<u64>,
}

/// One event of a Messages stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StreamEvent {
    MessageStart {
        message: Message,
    },
    ContentBlockStart {
        index: u64,
        content_block: Block,
    },
    ContentBlockDelta {
        index: u64,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: u64,
    },
    MessageDelta {
        delta: MessageDelta,
        #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
        usage: Usage,
    },
    MessageStop,
    Ping,
    Error {
        error: ErrorDetail,
    },
    #[serde(other, skip_serializing)]
    Other,
}

impl StreamEvent {
    /// The event's name, for its `event:` line.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::MessageStart { .. } => "message_start",
            Self::ContentBlockStart { .. } => "content_block_start",
            Self::ContentBlockDelta { .. } => "content_block_delta",
            Self::ContentBlockStop { .. } => "content_block_stop",
            Self::MessageDelta { .. } => "message_delta",
            Self::MessageStop => "message_stop",
            Self::Ping => "ping",
            Self::Error { .. } => "error",
            Self::Other => "other",
        }
    }

    /// The event as a server-sent event with its name.
    pub(crate) fn frame(&self) -> bytes::Bytes {
        let mut frame = format!("event: {}\ndata: ", self.name()).into_bytes();
        // Serialising these types cannot fail: their maps have string keys.
        let _ = serde_json::to_writer(&mut frame, self);
        frame.extend_from_slice(b"\n\n");
        bytes::Bytes::from(frame)
    }
}

/// What a `content_block_delta` adds.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockDelta {
    TextDelta {
        text: String,
    },
    InputJsonDelta {
        partial_json: String,
    },
    ThinkingDelta {
        thinking: String,
    },
    SignatureDelta {
        signature: String,
    },
    #[serde(other, skip_serializing)]
    Other,
}

/// The stop reason a `message_delta` carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct MessageDelta {
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    #[serde(default)]
    pub(crate) stop_sequence: Option<String>,
}

/// An error: `{"type": "error", "error": {"type", "message"}}` as a body or a stream event.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(rename = "type", default)]
    pub(crate) kind: String,
    #[serde(default, deserialize_with = "crate::ai::chat::null_as_default")]
    pub(crate) message: String,
}

/// `POST /v1/messages/count_tokens`'s answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TokenCount {
    pub(crate) input_tokens: u64,
}
