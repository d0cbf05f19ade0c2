//! The canonical model of an AI call, typed: OpenAI's Chat Completions request, answer and
//! stream chunk. Every provider adapter converts from the request and to the answer and
//! chunks; every client dialect (Messages, Responses) converts to the request and from the
//! answer and chunks. Fields this model does not know are kept in `extra` on the request only,
//! for OpenAI-family providers, which take them as they are.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ai::metering::Tokens;

/// Reads `null` as the field's default, as a missing field is: clients and OpenAI-compatible
/// servers write `"tools": null`, `"tool_calls": null` and the like.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Option::unwrap_or_default)
}

/// A chat completion request.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ChatRequest {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) model: String,
    pub(crate) messages: Vec<Message>,
    #[serde(
        default,
        skip_serializing_if = "std::ops::Not::not",
        deserialize_with = "null_as_default"
    )]
    pub(crate) stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stream_options: Option<StreamOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_completion_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) n: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) stop: Option<Stop>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub(crate) tools: Vec<Tool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tool_choice: Option<ToolChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parallel_tool_calls: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) response_format: Option<ResponseFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) top_logprobs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reasoning_effort: Option<String>,
    /// Fields this model does not know, passed to OpenAI-family providers as they came.
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

impl ChatRequest {
    /// Reads a client's chat completion request; the error says what does not fit.
    pub(crate) fn from_document(document: &Value) -> Result<Self, String> {
        Self::deserialize(document)
            .map_err(|e| format!("the request is not a valid chat completion request: {e}"))
    }

    /// The most output tokens asked for (`max_completion_tokens` or the older `max_tokens`).
    pub(crate) fn max_output(&self) -> Option<u64> {
        self.max_completion_tokens.or(self.max_tokens)
    }

    /// Whether more than one choice is asked for.
    pub(crate) fn many_choices(&self) -> bool {
        self.n.is_some_and(|n| n > 1)
    }

    /// The stop sequences, as a list.
    pub(crate) fn stop_sequences(&self) -> Option<Vec<String>> {
        match self.stop.clone()? {
            Stop::One(stop) => Some(vec![stop]),
            Stop::Many(stops) => Some(stops),
        }
    }

    /// The JSON schema the answer must match, when one is asked for.
    pub(crate) fn json_schema(&self) -> Option<&Value> {
        match &self.response_format {
            Some(ResponseFormat::JsonSchema { json_schema }) => json_schema.schema.as_ref(),
            _ => None,
        }
    }

    /// Whether the answer must be JSON.
    pub(crate) fn wants_json(&self) -> bool {
        matches!(
            self.response_format,
            Some(ResponseFormat::JsonObject | ResponseFormat::JsonSchema { .. })
        )
    }
}

/// `stream_options`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct StreamOptions {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) include_usage: bool,
    #[serde(flatten)]
    pub(crate) extra: Map<String, Value>,
}

/// `stop`: one sequence or several.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Stop {
    One(String),
    Many(Vec<String>),
}

/// One message of the conversation, by role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "lowercase")]
pub(crate) enum Message {
    System {
        content: Content,
    },
    /// The newer name of `system` for reasoning models.
    Developer {
        content: Content,
    },
    User {
        content: Content,
    },
    Assistant {
        #[serde(default)]
        content: Option<Content>,
        #[serde(
            default,
            skip_serializing_if = "Vec::is_empty",
            deserialize_with = "null_as_default"
        )]
        tool_calls: Vec<ToolCall>,
    },
    Tool {
        content: Content,
        tool_call_id: String,
    },
}

/// A message's content: a string, or parts.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum Content {
    Text(String),
    Parts(Vec<Part>),
}

impl Content {
    /// The text parts joined by newlines (images and other parts are not text).
    pub(crate) fn text(&self) -> String {
        match self {
            Content::Text(text) => text.clone(),
            Content::Parts(parts) => parts
                .iter()
                .filter_map(|part| match part {
                    Part::Text { text } => Some(text.as_str()),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// The content as parts (a string is one text part).
    pub(crate) fn parts(&self) -> Vec<Part> {
        match self {
            Content::Text(text) => vec![Part::Text { text: text.clone() }],
            Content::Parts(parts) => parts.clone(),
        }
    }
}

/// One part of a message's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Part {
    Text { text: String },
    ImageUrl { image_url: ImageUrl },
    InputAudio { input_audio: Value },
    File { file: Value },
    Refusal { refusal: String },
}

impl Part {
    /// The part's `type`, to name it when a provider cannot take it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Part::Text { .. } => "text",
            Part::ImageUrl { .. } => "image_url",
            Part::InputAudio { .. } => "input_audio",
            Part::File { .. } => "file",
            Part::Refusal { .. } => "refusal",
        }
    }
}

/// An image by URL: a link, or the image itself as a `data:` URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ImageUrl {
    pub(crate) url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) detail: Option<String>,
}

impl ImageUrl {
    /// The media type and base64 data of a `data:` URL.
    pub(crate) fn inline_data(&self) -> Option<(&str, &str)> {
        self.url
            .strip_prefix("data:")
            .and_then(|rest| rest.split_once(";base64,"))
    }
}

/// A function the model called.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ToolCall {
    pub(crate) id: String,
    #[serde(rename = "type", default = "function_kind")]
    pub(crate) kind: String,
    pub(crate) function: FunctionCall,
}

fn function_kind() -> String {
    "function".into()
}

impl ToolCall {
    /// A call of `name` with JSON `arguments`.
    pub(crate) fn new(id: String, name: String, arguments: String) -> Self {
        Self {
            id,
            kind: function_kind(),
            function: FunctionCall { name, arguments },
        }
    }

    /// The arguments as JSON (an object when they do not parse, as providers require one).
    pub(crate) fn arguments_json(&self) -> Value {
        serde_json::from_str(&self.function.arguments).unwrap_or_else(|_| Value::Object(Map::new()))
    }
}

/// The function and JSON arguments of a call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionCall {
    pub(crate) name: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) arguments: String,
}

/// A tool the model may call.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Tool {
    #[serde(rename = "type", default = "function_kind")]
    pub(crate) kind: String,
    pub(crate) function: FunctionDefinition,
}

/// A function's name, description and JSON schema of its parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FunctionDefinition {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
}

/// `tool_choice`: a mode, or one named function.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub(crate) enum ToolChoice {
    Mode(ToolMode),
    Function {
        #[serde(rename = "type", default = "function_kind")]
        kind: String,
        function: NamedFunction,
    },
}

impl ToolChoice {
    /// A choice of the function `name`.
    pub(crate) fn function(name: String) -> Self {
        Self::Function {
            kind: function_kind(),
            function: NamedFunction { name },
        }
    }
}

/// Whether the model may, must or must not call tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ToolMode {
    None,
    Auto,
    Required,
}

/// A function named in `tool_choice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NamedFunction {
    pub(crate) name: String,
}

/// `response_format`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchema },
}

/// A named JSON schema the answer must match.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct JsonSchema {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) strict: Option<bool>,
}

/// A chat completion: the answer to a request not streamed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChatCompletion {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) id: String,
    #[serde(default = "completion_object")]
    pub(crate) object: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) created: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) model: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) choices: Vec<Choice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<Usage>,
}

fn completion_object() -> String {
    "chat.completion".into()
}

impl ChatCompletion {
    /// A completion of `choices` by `model`, created now, with the usage of `tokens`.
    pub(crate) fn new(id: String, model: String, choices: Vec<Choice>, tokens: &Tokens) -> Self {
        Self {
            id,
            created: crate::ai::metering::now_secs(),
            model,
            choices,
            usage: Some(Usage::from(tokens)),
            ..Self::default()
        }
    }
}

impl Default for ChatCompletion {
    fn default() -> Self {
        Self {
            id: String::new(),
            object: completion_object(),
            created: 0,
            model: String::new(),
            choices: Vec::new(),
            usage: None,
        }
    }
}

/// One choice of a completion.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Choice {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) index: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) message: Answer,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs: Option<Value>,
}

/// The assistant's answer in a choice.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Answer {
    #[serde(default = "assistant")]
    pub(crate) role: String,
    /// `null` when the answer is only tool calls, as OpenAI answers.
    #[serde(default)]
    pub(crate) content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refusal: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub(crate) tool_calls: Vec<ToolCall>,
}

impl Default for Answer {
    fn default() -> Self {
        Self {
            role: assistant(),
            content: None,
            refusal: None,
            tool_calls: Vec::new(),
        }
    }
}

fn assistant() -> String {
    "assistant".into()
}

impl Answer {
    /// An answer of `text` and `tool_calls`: no text is `null` content next to calls.
    pub(crate) fn new(text: String, tool_calls: Vec<ToolCall>) -> Self {
        Self {
            content: (!text.is_empty() || tool_calls.is_empty()).then_some(text),
            tool_calls,
            ..Self::default()
        }
    }
}

/// One streamed chunk of a completion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChatChunk {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) id: String,
    #[serde(default = "chunk_object")]
    pub(crate) object: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) created: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) model: String,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) choices: Vec<ChunkChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) usage: Option<Usage>,
}

fn chunk_object() -> String {
    "chat.completion.chunk".into()
}

impl ChatChunk {
    /// A chunk of one choice (index 0) with `delta` and, at the end, its finish reason.
    pub(crate) fn new(
        id: &str,
        created: u64,
        model: &str,
        delta: Delta,
        finish_reason: Option<String>,
    ) -> Self {
        Self {
            id: id.to_string(),
            object: chunk_object(),
            created,
            model: model.to_string(),
            choices: vec![ChunkChoice {
                index: 0,
                delta,
                finish_reason,
                logprobs: None,
            }],
            usage: None,
        }
    }

    /// The usage-only chunk that ends a stream (`choices: []`).
    pub(crate) fn usage(id: &str, created: u64, model: &str, tokens: &Tokens) -> Self {
        Self {
            id: id.to_string(),
            object: chunk_object(),
            created,
            model: model.to_string(),
            choices: Vec::new(),
            usage: Some(Usage::from(tokens)),
        }
    }

    /// The chunk as one server-sent event.
    pub(crate) fn frame(&self) -> bytes::Bytes {
        sse_frame(self)
    }

    /// The first choice, which every dialect made from chat reads.
    pub(crate) fn first(&self) -> Option<&ChunkChoice> {
        self.choices.first()
    }
}

/// `data: {json}` and a blank line.
pub(crate) fn sse_frame(value: &impl Serialize) -> bytes::Bytes {
    let mut frame = b"data: ".to_vec();
    // Serialising these types cannot fail: their maps have string keys.
    let _ = serde_json::to_writer(&mut frame, value);
    frame.extend_from_slice(b"\n\n");
    bytes::Bytes::from(frame)
}

/// One choice of a chunk.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ChunkChoice {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) index: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) delta: Delta,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) logprobs: Option<Value>,
}

/// What a chunk adds to the answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Delta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refusal: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub(crate) tool_calls: Vec<ToolCallChunk>,
}

/// A piece of one tool call: its index among the answer's calls, the id, type and name on
/// its first piece, and a piece of its JSON arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct ToolCallChunk {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) index: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub(crate) kind: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) function: FunctionChunk,
}

impl ToolCallChunk {
    /// The first piece of call `index`: its id and name, and no arguments yet.
    pub(crate) fn start(index: u64, id: String, name: String) -> Self {
        Self {
            index,
            id: Some(id),
            kind: Some(function_kind()),
            function: FunctionChunk {
                name: Some(name),
                arguments: Some(String::new()),
            },
        }
    }

    /// A further piece of call `index`'s arguments.
    pub(crate) fn arguments(index: u64, arguments: String) -> Self {
        Self {
            index,
            function: FunctionChunk {
                name: None,
                arguments: Some(arguments),
            },
            ..Self::default()
        }
    }
}

/// A piece of a call's function: its name (first piece) and arguments.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct FunctionChunk {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) arguments: Option<String>,
}

/// Token usage in OpenAI's shape.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) completion_tokens: u64,
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) total_tokens: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) prompt_tokens_details: Option<PromptDetails>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) completion_tokens_details: Option<CompletionDetails>,
    /// Anthropic's cache writes, priced apart (named as LiteLLM reports them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cache_creation_input_tokens: Option<u64>,
}

/// Of the prompt, how much came from the provider's cache.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PromptDetails {
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
}

/// Of the completion, how much was reasoning.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CompletionDetails {
    #[serde(default)]
    pub(crate) reasoning_tokens: Option<u64>,
}

impl From<&Tokens> for Usage {
    fn from(tokens: &Tokens) -> Self {
        Self {
            prompt_tokens: tokens.input,
            completion_tokens: tokens.output,
            total_tokens: tokens.input + tokens.output,
            prompt_tokens_details: Some(PromptDetails {
                cached_tokens: Some(tokens.cached_input),
            }),
            completion_tokens_details: Some(CompletionDetails {
                reasoning_tokens: Some(tokens.reasoning),
            }),
            cache_creation_input_tokens: (tokens.cache_write > 0).then_some(tokens.cache_write),
        }
    }
}

impl From<&Usage> for Tokens {
    fn from(usage: &Usage) -> Self {
        let input = usage.prompt_tokens;
        let cached = usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens)
            .unwrap_or(0);
        Self {
            input,
            cached_input: cached.min(input),
            cache_write: usage.cache_creation_input_tokens.unwrap_or(0).min(input),
            output: usage.completion_tokens,
            reasoning: usage
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens)
                .unwrap_or(0),
            reported: true,
            output_reported: true,
        }
    }
}

/// A provider's error in OpenAI's shape (`{"error": {"message", "type", "code"}}`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ErrorDetail {
    #[serde(default, deserialize_with = "null_as_default")]
    pub(crate) message: String,
    #[serde(rename = "type", default)]
    pub(crate) kind: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) code: Option<Value>,
}

impl ErrorBody {
    /// A stream error from the provider, told to the client in chat's shape.
    pub(crate) fn provider(message: String, kind: Value) -> Self {
        Self {
            error: ErrorDetail {
                message,
                kind,
                code: Some(Value::String("provider_error".into())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_request_keeps_what_the_model_does_not_know() {
        let document = json!({"model": "m", "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": [{"type": "text", "text": "Hi"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}},
            "stop": "END", "seed": 7});
        let request = ChatRequest::from_document(&document).unwrap_or_default();
        assert_eq!(request.messages.len(), 4);
        assert_eq!(request.stop_sequences(), Some(vec!["END".to_string()]));
        assert_eq!(request.json_schema(), Some(&json!({"type": "object"})));
        assert_eq!(request.extra.get("seed"), Some(&json!(7)));
        let again = serde_json::to_value(&request).unwrap_or_default();
        assert_eq!(again, document, "nothing is lost or added on the way back");
    }

    #[test]
    fn nulls_read_as_missing_fields() {
        // What SDK loops send back and OpenAI-compatible servers stream.
        let document = json!({"model": "m", "stream": null, "tools": null, "messages": [
            {"role": "user", "content": "x"},
            {"role": "assistant", "content": "y", "tool_calls": null, "refusal": null}]});
        assert!(ChatRequest::from_document(&document).is_ok());
        let chunk: ChatChunk = serde_json::from_value(json!({"id": null, "choices": [{"index": 0,
            "delta": {"content": "a", "tool_calls": null}, "finish_reason": null}], "usage": null}))
        .expect("a chunk");
        assert_eq!(
            chunk.first().and_then(|c| c.delta.content.as_deref()),
            Some("a")
        );
    }

    #[test]
    fn a_request_that_does_not_fit_says_why() {
        let error =
            ChatRequest::from_document(&json!({"messages": [{"role": "wizard", "content": "x"}]}));
        assert!(error.is_err_and(|e| e.contains("wizard")));
    }

    #[test]
    fn usage_and_tokens_convert_both_ways() {
        let tokens = Tokens {
            input: 100,
            cached_input: 40,
            cache_write: 10,
            output: 7,
            reasoning: 3,
            reported: true,
            output_reported: true,
        };
        assert_eq!(Tokens::from(&Usage::from(&tokens)), tokens);
    }
}
