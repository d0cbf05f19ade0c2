//! The tenant's prompt APIs as MCP tools: each typed variable a property of the tool's input
//! schema. A call runs the prompt API as `POST /prompts/{slug}` does, and is metered the same
//! way (tokens and cost of the model call).

use std::time::Instant;

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use tollgate_protocol::PromptApiEntry;

use super::Outcome;
use crate::active::{ActiveConfig, CompiledKey};
use crate::ai::{self, prompt, AiCall, Caller, ClientRequest, Inbound};
use crate::error::ProxyError;

/// The prompt APIs the key may call (its own tenant's, then its subscriptions'), as tools named
/// `{prefix}{slug}`, by slug.
pub(crate) fn tools(config: &ActiveConfig, key: &CompiledKey, prefix: &str) -> Vec<Value> {
    let mut apis: Vec<&PromptApiEntry> = Vec::new();
    for reach in key.reaches() {
        for (slug, api) in config.prompt_apis.of(reach.tenant_id) {
            let usable = reach.prompt_apis.allows(slug) && !apis.iter().any(|a| a.slug == slug);
            if usable {
                apis.push(api.as_ref());
            }
        }
    }
    apis.sort_by(|a, b| a.slug.cmp(&b.slug));
    apis.into_iter()
        .map(|api| {
            let mut tool = tool(api);
            tool["name"] = json!(format!("{prefix}{}", api.slug));
            tool
        })
        .collect()
}

/// A prompt API described as an MCP tool.
fn tool(api: &PromptApiEntry) -> Value {
    let description = api.description.clone().unwrap_or_else(|| {
        format!(
            "Runs the prompt API '{}' (version {}) on the model '{}'.",
            api.slug, api.version, api.model
        )
    });
    json!({
        "name": api.slug,
        "description": description,
        "inputSchema": input_schema(api),
    })
}

/// The JSON Schema of a prompt API's variables.
fn input_schema(api: &PromptApiEntry) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for variable in &api.variables {
        let schema = variable.kind.json_schema(
            &variable.values,
            variable.description.as_deref(),
            variable.default.as_ref(),
        );
        if variable.required && variable.default.is_none() {
            required.push(json!(variable.name));
        }
        properties.insert(variable.name.clone(), schema);
    }
    json!({
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

/// Whether the key may call the prompt API `slug` (and it exists).
fn callable(config: &ActiveConfig, key: &CompiledKey, slug: &str) -> bool {
    key.prompt_apis.allows(slug) && config.prompt_apis.contains(key.tenant_id, slug)
}

/// The reach that may call the prompt API `slug`: the key (its own tenant's), or one of its
/// subscriptions (a product holding it).
pub(crate) fn reach<'k>(
    config: &ActiveConfig,
    key: &'k CompiledKey,
    slug: &str,
) -> Option<&'k CompiledKey> {
    key.reaches().find(|reach| callable(config, reach, slug))
}

/// Runs the prompt API `slug` with `arguments` as its variables: the tool's result (a failure
/// is a result with `isError`, so the agent reads why) and how the call ended.
pub(crate) async fn call(
    caller: &Caller<'_>,
    slug: &str,
    arguments: &Value,
    metering: &mut Option<AiCall>,
) -> (Value, Outcome) {
    let started = Instant::now();
    let Some(api) = caller
        .config
        .prompt_apis
        .get(caller.key.tenant_id, slug)
        .cloned()
    else {
        return failure(&ProxyError::PromptApiNotFound(slug.to_string()));
    };
    let variables = match prompt::bind_variables(&api, arguments) {
        Ok(variables) => variables,
        Err(error) => return failure(&error),
    };
    let request = ClientRequest {
        inbound: Inbound::Chat,
        document: ai::Document::from_value(prompt::document(&api, &variables, false)),
        headers: http::HeaderMap::new(),
    };
    let completed = ai::complete_document(caller, request, metering, started).await;
    if let Some(call) = metering.as_mut() {
        call.prompt_api_id = Some(api.id);
    }
    let response = match completed {
        Ok(response) => response,
        Err(error) => return failure(&error),
    };
    let status = response.status();
    if !status.is_success() {
        // An error answer the proxy made or read whole already: small.
        let body = response
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let why = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.pointer("/error/message")?.as_str().map(str::to_string))
            .unwrap_or_else(|| format!("the model answered HTTP {status}"));
        return (
            error_result(&why),
            Outcome::failed(status.as_u16(), "provider_error"),
        );
    }
    match prompt::answer(&api, response, metering.as_ref()).await {
        Ok(answer) => {
            let text = match &answer["output"] {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            let result = json!({
                "content": [{"type": "text", "text": text}],
                "structuredContent": answer,
                "isError": false,
            });
            (result, Outcome::ok())
        }
        Err(error) => failure(&error),
    }
}

fn failure(error: &ProxyError) -> (Value, Outcome) {
    let status = error.status();
    let status = if status == StatusCode::OK {
        StatusCode::BAD_GATEWAY
    } else {
        status
    };
    (
        error_result(&error.message()),
        Outcome::failed(status.as_u16(), error.class()),
    )
}

fn error_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}
