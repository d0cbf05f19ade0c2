//! Google's Gemini API (`generateContent`, `streamGenerateContent`), translated to and from
//! the canonical chat model: contents and parts, system instruction, function calls and their
//! responses, JSON schemas, tool choice, finish reasons, blocked prompts, log probabilities,
//! usage metadata.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::Request;
use serde_json::{json, Map, Value};

use crate::active::CompiledDeployment;
use crate::ai::chat::{
    Answer, ChatCompletion, ChatRequest, Choice, Content, Delta, Message, Part, ToolCall,
    ToolCallChunk, ToolChoice, ToolMode,
};
use crate::ai::metering::Tokens;
use crate::ai::sse::{
    event_data, note_first_byte, ChunkTranslator, ChunkWriter, EventFramer, StreamFindings,
};
use crate::body::ProxyBody;

/// Gemini's adapter: chat requests become `generateContent` requests and back.
pub(crate) struct Gemini;

impl super::Adapter for Gemini {
    fn request(
        &self,
        deployment: &CompiledDeployment,
        chat: &ChatRequest,
        stream: bool,
    ) -> Result<Request<ProxyBody>, String> {
        if stream && chat.many_choices() {
            return Err("'n' above 1 is not streamed from Gemini; ask without stream".into());
        }
        let body = wire::GenerateContentRequest::try_from(chat)?;
        let method = if stream {
            "streamGenerateContent?alt=sse"
        } else {
            "generateContent"
        };
        let path = ["/models/", deployment.model.as_str(), ":", method];
        super::provider_post(deployment, &path, &body)
    }

    fn answer(
        &self,
        status: http::StatusCode,
        body: Bytes,
        model: &str,
    ) -> (Bytes, Option<Tokens>) {
        super::translated_answer(status, &body, |answer: wire::GenerateContentResponse| {
            chat_completion(&answer, model)
        })
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

/// Gemini's API on the wire, typed. A `Part` holds one of its fields, as Gemini's own
/// clients model its `oneof`.
mod wire {
    use serde::{Deserialize, Serialize};
    use serde_json::Value;

    #[derive(Debug, Default, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct GenerateContentRequest {
        pub(super) contents: Vec<Content>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) system_instruction: Option<Content>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) generation_config: Option<GenerationConfig>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        pub(super) tools: Vec<Tool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) tool_config: Option<ToolConfig>,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    pub(super) struct Content {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) role: Option<String>,
        #[serde(default)]
        pub(super) parts: Vec<Part>,
    }

    #[derive(Debug, Default, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Part {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) text: Option<String>,
        /// Set on the model's thought summaries, which are not the answer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) thought: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) inline_data: Option<Blob>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) function_call: Option<FunctionCall>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub(super) function_response: Option<FunctionResponse>,
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Blob {
        pub(super) mime_type: String,
        pub(super) data: String,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub(super) struct FunctionCall {
        pub(super) name: String,
        #[serde(default)]
        pub(super) args: Value,
    }

    #[derive(Debug, Serialize, Deserialize)]
    pub(super) struct FunctionResponse {
        pub(super) name: String,
        pub(super) response: Value,
    }

    #[derive(Debug, Default, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct GenerationConfig {
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) temperature: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) top_p: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) candidate_count: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) max_output_tokens: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) stop_sequences: Option<Vec<String>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) response_mime_type: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) response_schema: Option<Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) response_logprobs: Option<bool>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) logprobs: Option<u64>,
    }

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Tool {
        pub(super) function_declarations: Vec<FunctionDeclaration>,
    }

    #[derive(Debug, Serialize)]
    pub(super) struct FunctionDeclaration {
        pub(super) name: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) description: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) parameters: Option<Value>,
    }

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct ToolConfig {
        pub(super) function_calling_config: FunctionCallingConfig,
    }

    #[derive(Debug, Serialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct FunctionCallingConfig {
        pub(super) mode: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub(super) allowed_function_names: Option<Vec<String>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct GenerateContentResponse {
        #[serde(default)]
        pub(super) candidates: Vec<Candidate>,
        #[serde(default)]
        pub(super) prompt_feedback: Option<PromptFeedback>,
        #[serde(default)]
        pub(super) usage_metadata: Option<UsageMetadata>,
        #[serde(default)]
        pub(super) model_version: Option<String>,
        #[serde(default)]
        pub(super) response_id: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Candidate {
        #[serde(default)]
        pub(super) content: Option<Content>,
        #[serde(default)]
        pub(super) finish_reason: Option<String>,
        #[serde(default)]
        pub(super) logprobs_result: Option<LogprobsResult>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct PromptFeedback {
        #[serde(default)]
        pub(super) block_reason: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct UsageMetadata {
        pub(super) prompt_token_count: Option<u64>,
        #[serde(default)]
        pub(super) candidates_token_count: Option<u64>,
        #[serde(default)]
        pub(super) cached_content_token_count: Option<u64>,
        #[serde(default)]
        pub(super) thoughts_token_count: Option<u64>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct LogprobsResult {
        #[serde(default)]
        pub(super) chosen_candidates: Vec<TokenLogprob>,
        #[serde(default)]
        pub(super) top_candidates: Vec<TopCandidates>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(super) struct TopCandidates {
        #[serde(default)]
        pub(super) candidates: Vec<TokenLogprob>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct TokenLogprob {
        #[serde(default)]
        pub(super) token: String,
        #[serde(default)]
        pub(super) log_probability: f64,
    }
}

/// The Gemini parts of chat content. Empty text makes no part: Gemini refuses empty text
/// parts (OpenAI clients send `""` next to tool calls). Nothing the client sent may vanish: a
/// part Gemini cannot take refuses the request.
fn parts_of(content: &Content) -> Result<Vec<wire::Part>, String> {
    let mut out = Vec::new();
    for part in content.parts() {
        match part {
            Part::Text { text } | Part::Refusal { refusal: text } => {
                if !text.is_empty() {
                    out.push(wire::Part {
                        text: Some(text),
                        ..wire::Part::default()
                    });
                }
            }
            Part::ImageUrl { image_url } => {
                let (mime, data) = image_url
                    .inline_data()
                    .ok_or("Gemini takes images as base64 data: URLs only, not links")?;
                out.push(wire::Part {
                    inline_data: Some(wire::Blob {
                        mime_type: mime.to_string(),
                        data: data.to_string(),
                    }),
                    ..wire::Part::default()
                });
            }
            other @ (Part::InputAudio { .. } | Part::File { .. }) => {
                return Err(format!(
                    "content parts of type '{}' cannot be sent to Gemini",
                    other.kind()
                ))
            }
        }
    }
    Ok(out)
}

fn content(role: &str, parts: Vec<wire::Part>) -> wire::Content {
    wire::Content {
        role: Some(role.to_string()),
        parts,
    }
}

impl TryFrom<&ChatRequest> for wire::GenerateContentRequest {
    type Error = String;

    fn try_from(chat: &ChatRequest) -> Result<Self, String> {
        let mut system = Vec::new();
        let mut contents = Vec::new();
        // Gemini names a function's response by the function, chat by the call's id.
        let mut tool_names: HashMap<&str, &str> = HashMap::new();
        for message in &chat.messages {
            match message {
                Message::System { content: text } | Message::Developer { content: text } => {
                    system.extend(parts_of(text)?);
                }
                Message::User { content: text } => contents.push(content("user", parts_of(text)?)),
                Message::Assistant {
                    content: text,
                    tool_calls,
                } => {
                    let mut parts = match text {
                        Some(text) => parts_of(text)?,
                        None => Vec::new(),
                    };
                    for call in tool_calls {
                        tool_names.insert(&call.id, &call.function.name);
                        parts.push(wire::Part {
                            function_call: Some(wire::FunctionCall {
                                name: call.function.name.clone(),
                                args: call.arguments_json(),
                            }),
                            ..wire::Part::default()
                        });
                    }
                    contents.push(content("model", parts));
                }
                Message::Tool {
                    content: result,
                    tool_call_id,
                } => {
                    if let Content::Parts(parts) = result {
                        if let Some(other) = parts.iter().find(|p| !matches!(p, Part::Text { .. }))
                        {
                            return Err(format!(
                                "tool results of '{}' parts cannot be sent to Gemini",
                                other.kind()
                            ));
                        }
                    }
                    let name = tool_names
                        .get(tool_call_id.as_str())
                        .copied()
                        .unwrap_or(tool_call_id);
                    let text = result.text();
                    let response = serde_json::from_str::<Value>(&text)
                        .ok()
                        .filter(Value::is_object)
                        .unwrap_or_else(|| json!({"content": text}));
                    let part = wire::Part {
                        function_response: Some(wire::FunctionResponse {
                            name: name.to_string(),
                            response,
                        }),
                        ..wire::Part::default()
                    };
                    contents.push(content("user", vec![part]));
                }
            }
        }
        let mut config = wire::GenerationConfig {
            temperature: chat.temperature,
            top_p: chat.top_p,
            candidate_count: chat.n,
            max_output_tokens: chat.max_output(),
            stop_sequences: chat.stop_sequences(),
            ..wire::GenerationConfig::default()
        };
        if chat.wants_json() {
            config.response_mime_type = Some("application/json".into());
        }
        if let Some(schema) = chat.json_schema() {
            config.response_schema = Some(gemini_schema(schema)?);
        }
        if chat.logprobs == Some(true) {
            config.response_logprobs = Some(true);
            config.logprobs = chat.top_logprobs;
        }
        let declarations = chat
            .tools
            .iter()
            .map(|tool| {
                Ok(wire::FunctionDeclaration {
                    name: tool.function.name.clone(),
                    description: tool.function.description.clone(),
                    parameters: tool
                        .function
                        .parameters
                        .as_ref()
                        .map(gemini_schema)
                        .transpose()?,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        let tool_config = chat.tool_choice.as_ref().map(|choice| {
            let (mode, allowed) = match choice {
                ToolChoice::Mode(ToolMode::None) => ("NONE", None),
                ToolChoice::Mode(ToolMode::Required) => ("ANY", None),
                ToolChoice::Mode(ToolMode::Auto) => ("AUTO", None),
                ToolChoice::Function { function, .. } => ("ANY", Some(vec![function.name.clone()])),
            };
            wire::ToolConfig {
                function_calling_config: wire::FunctionCallingConfig {
                    mode,
                    allowed_function_names: allowed,
                },
            }
        });
        let has_config = serde_json::to_value(&config).is_ok_and(|c| c != json!({}));
        Ok(Self {
            contents,
            system_instruction: (!system.is_empty()).then_some(wire::Content {
                role: None,
                parts: system,
            }),
            generation_config: has_config.then_some(config),
            tools: if declarations.is_empty() {
                Vec::new()
            } else {
                vec![wire::Tool {
                    function_declarations: declarations,
                }]
            },
            tool_config,
        })
    }
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
fn logprobs_of(candidate: &wire::Candidate) -> Option<Value> {
    let result = candidate.logprobs_result.as_ref()?;
    let content: Vec<Value> = result
        .chosen_candidates
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let alternatives: Vec<Value> = result
                .top_candidates
                .get(i)
                .map(|top| top.candidates.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|c| json!({"token": c.token, "logprob": c.log_probability, "bytes": null}))
                .collect();
            json!({"token": token.token, "logprob": token.log_probability,
                   "bytes": null, "top_logprobs": alternatives})
        })
        .collect();
    Some(json!({"content": content}))
}

/// What stands for a blocked prompt, which Gemini answers with no candidates.
fn block_refusal(answer: &wire::GenerateContentResponse) -> Option<String> {
    let reason = answer.prompt_feedback.as_ref()?.block_reason.as_ref()?;
    Some(format!("the provider blocked the prompt ({reason})"))
}

/// An OpenAI-style id for an answer Gemini gave none.
fn completion_id() -> String {
    format!("chatcmpl-{}", uuid::Uuid::new_v4().simple())
}

fn finish_reason(reason: Option<&str>, has_calls: bool) -> Option<String> {
    let reason = match reason? {
        _ if has_calls => "tool_calls",
        "MAX_TOKENS" => "length",
        "SAFETY" | "RECITATION" | "BLOCKLIST" | "PROHIBITED_CONTENT" | "SPII" | "IMAGE_SAFETY" => {
            "content_filter"
        }
        _ => "stop",
    };
    Some(reason.to_string())
}

fn tokens_of(usage: &wire::UsageMetadata) -> Option<Tokens> {
    let input = usage.prompt_token_count?;
    let thoughts = usage.thoughts_token_count.unwrap_or(0);
    Some(Tokens {
        input,
        cached_input: usage.cached_content_token_count.unwrap_or(0).min(input),
        output: usage.candidates_token_count.unwrap_or(0) + thoughts,
        reasoning: thoughts,
        cache_write: 0,
        reported: true,
        output_reported: usage.candidates_token_count.is_some(),
    })
}

/// The answer text and function calls of one candidate (thought summaries are not answer).
/// Calls are numbered from `first_call`; Gemini gives them no ids, so they are made up.
fn message_of(candidate: &wire::Candidate, first_call: u64) -> (String, Vec<ToolCall>) {
    let mut text = String::new();
    let mut calls = Vec::new();
    let parts = candidate.content.as_ref().map(|c| c.parts.as_slice());
    for part in parts.unwrap_or_default() {
        if let (Some(piece), None | Some(false)) = (&part.text, part.thought) {
            text.push_str(piece);
        }
        if let Some(call) = &part.function_call {
            let index = first_call + calls.len() as u64;
            calls.push(ToolCall::new(
                format!("call_{index}"),
                call.name.clone(),
                call.args.to_string(),
            ));
        }
    }
    (text, calls)
}

/// A Gemini response as a chat completion, with the usage it reported.
fn chat_completion(
    answer: &wire::GenerateContentResponse,
    model: &str,
) -> (ChatCompletion, Tokens) {
    let mut choices: Vec<Choice> = answer
        .candidates
        .iter()
        .enumerate()
        .map(|(index, candidate)| {
            let (text, calls) = message_of(candidate, 0);
            let has_calls = !calls.is_empty();
            Choice {
                index: index as u64,
                message: Answer::new(text, calls),
                finish_reason: finish_reason(candidate.finish_reason.as_deref(), has_calls),
                logprobs: logprobs_of(candidate),
            }
        })
        .collect();
    if choices.is_empty() {
        if let Some(refusal) = block_refusal(answer) {
            choices.push(Choice {
                message: Answer {
                    refusal: Some(refusal),
                    ..Answer::default()
                },
                finish_reason: Some("content_filter".into()),
                ..Choice::default()
            });
        }
    }
    let tokens = answer
        .usage_metadata
        .as_ref()
        .and_then(tokens_of)
        .unwrap_or_default();
    let completion = ChatCompletion::new(
        answer.response_id.clone().unwrap_or_else(completion_id),
        answer
            .model_version
            .clone()
            .unwrap_or_else(|| model.to_string()),
        choices,
        &tokens,
    );
    (completion, tokens)
}

/// Gemini's SSE stream of partial responses, re-emitted as OpenAI chunks.
pub(crate) struct ChunkStream {
    started: Instant,
    findings: Arc<Mutex<StreamFindings>>,
    framer: EventFramer,
    /// The chunks' id is Gemini's `responseId` once seen, their model its `modelVersion`.
    writer: ChunkWriter,
    /// Set once the provider's stream broke the framing; nothing more is read from it.
    failed: bool,
    tokens: Tokens,
    calls: u64,
    role_sent: bool,
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
            writer: ChunkWriter::new(completion_id(), model.to_string(), include_usage),
            failed: false,
            tokens: Tokens::default(),
            calls: 0,
            role_sent: false,
        }
    }

    fn consume(&mut self, data: &[u8]) {
        if self.failed {
            return;
        }
        note_first_byte(&self.findings, self.started);
        self.framer.push(data);
        while let Some(event) = self.framer.next_json::<wire::GenerateContentResponse>() {
            match event {
                Ok(partial) => self.translate(&partial),
                Err(too_large) => {
                    self.writer
                        .fail(too_large.message(), Value::String("upstream_error".into()));
                    self.failed = true;
                }
            }
        }
    }

    fn translate(&mut self, partial: &wire::GenerateContentResponse) {
        if let Some(tokens) = partial.usage_metadata.as_ref().and_then(tokens_of) {
            self.tokens = tokens;
            // Published at once: a client may abandon the stream before it ends.
            if let Ok(mut findings) = self.findings.lock() {
                findings.tokens = tokens;
            }
        }
        if let Some(model) = &partial.model_version {
            self.writer.model.clone_from(model);
        }
        if let Some(id) = &partial.response_id {
            self.writer.id.clone_from(id);
        }
        let Some(candidate) = partial.candidates.first() else {
            if let Some(refusal) = block_refusal(partial) {
                let delta = Delta {
                    role: Some("assistant".into()),
                    refusal: Some(refusal),
                    ..Delta::default()
                };
                self.writer.delta(delta, Some("content_filter".into()));
            }
            return;
        };
        let (text, calls) = message_of(candidate, self.calls);
        let first_call = self.calls;
        self.calls += calls.len() as u64;
        if let Ok(mut findings) = self.findings.lock() {
            findings.add_text(&text);
        }
        let mut delta = Delta::default();
        if !self.role_sent {
            delta.role = Some("assistant".into());
            self.role_sent = true;
        }
        if !text.is_empty() {
            delta.content = Some(text);
        }
        // Gemini sends each call whole: its first piece carries the arguments too.
        delta.tool_calls = calls
            .into_iter()
            .zip(first_call..)
            .map(|(call, index)| {
                let mut piece = ToolCallChunk::start(index, call.id, call.function.name);
                piece.function.arguments = Some(call.function.arguments);
                piece
            })
            .collect();
        let reason = finish_reason(candidate.finish_reason.as_deref(), self.calls > 0);
        let mut chunk = self.writer.chunk(delta, reason);
        chunk.choices[0].logprobs = logprobs_of(candidate);
        self.writer.send(&chunk);
    }

    fn finish(&mut self) {
        if let Ok(mut findings) = self.findings.lock() {
            findings.tokens = self.tokens;
        }
        self.writer.done(&self.tokens);
    }
}

impl ChunkTranslator for ChunkStream {
    fn feed(&mut self, data: &[u8]) {
        self.consume(data);
    }

    fn end(&mut self) {
        if let Some(rest) = self.framer.rest().filter(|_| !self.failed) {
            if let Ok(partial) = serde_json::from_slice(&event_data(&rest)) {
                self.translate(&partial);
            }
        }
        self.finish();
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.writer.next_frame()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Gemini request a chat request becomes, as JSON.
    fn to_generate_content(chat: &Value) -> Result<Value, String> {
        let body = wire::GenerateContentRequest::try_from(&ChatRequest::from_document(chat)?)?;
        serde_json::to_value(body).map_err(|e| e.to_string())
    }

    /// The chat completion a Gemini response becomes, as JSON.
    fn to_chat_completion(answer: &Value, model: &str) -> (Value, Tokens) {
        let answer: wire::GenerateContentResponse =
            serde_json::from_value(answer.clone()).expect("a response");
        let (completion, tokens) = chat_completion(&answer, model);
        (serde_json::to_value(completion).unwrap_or_default(), tokens)
    }

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
