//! Prompt APIs: `POST /prompts/{slug}` with a JSON object of variables. The template is
//! rendered, the model called like any chat completion, and the answer returned as
//! `{"output", "model", "usage", "cost_usd"}` (or streamed as chunks with `?stream=true`).

use std::time::Instant;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Map, Value};
use tollgate_protocol::template::render;
use tollgate_protocol::{NanoUsd, PromptApiEntry};

use crate::ai::{
    complete_document, json_response, metering, read_json, AiCall, Caller, ClientRequest, Document,
    Inbound,
};
use crate::body::ProxyBody;
use crate::error::ProxyError;

/// Checks the caller's variables against the declaration and fills in defaults.
pub(crate) fn bind_variables(
    api: &PromptApiEntry,
    given: &Value,
) -> Result<Map<String, Value>, ProxyError> {
    let Some(given) = given.as_object() else {
        return Err(ProxyError::BadRequest(
            "send the variables as a JSON object".into(),
        ));
    };
    let unknown: Vec<&str> = given
        .keys()
        .filter(|name| !api.variables.iter().any(|v| &v.name == *name))
        .map(String::as_str)
        .collect();
    if !unknown.is_empty() {
        return Err(ProxyError::BadRequest(format!(
            "unknown variables: {}",
            unknown.join(", ")
        )));
    }
    let mut bound = Map::new();
    let mut missing = Vec::new();
    let mut mistyped = Vec::new();
    for variable in &api.variables {
        let value = match given
            .get(&variable.name)
            .filter(|v| !v.is_null())
            .or(variable.default.as_ref())
        {
            Some(value) => value,
            None if variable.required => {
                missing.push(variable.name.as_str());
                continue;
            }
            None => {
                bound.insert(variable.name.clone(), json!(""));
                continue;
            }
        };
        if variable.kind.fits(&variable.values, value) {
            bound.insert(variable.name.clone(), value.clone());
        } else {
            let expected = variable.kind.expected(&variable.values);
            mistyped.push(format!("{} (expected {expected})", variable.name));
        }
    }
    let mut problems = Vec::new();
    if !missing.is_empty() {
        problems.push(format!(
            "missing required variables: {}",
            missing.join(", ")
        ));
    }
    if !mistyped.is_empty() {
        problems.push(format!("mistyped variables: {}", mistyped.join(", ")));
    }
    if problems.is_empty() {
        Ok(bound)
    } else {
        Err(ProxyError::BadRequest(problems.join("; ")))
    }
}

pub(crate) async fn run(
    caller: &Caller<'_>,
    slug: &str,
    request: Request<super::AiBody>,
    call: &mut Option<AiCall>,
) -> Result<Response<ProxyBody>, ProxyError> {
    let started = Instant::now();
    let api = caller
        .config
        .prompt_apis
        .get(caller.key.tenant_id, slug)
        .cloned()
        .ok_or_else(|| ProxyError::PromptApiNotFound(slug.to_string()))?;
    if !caller.key.prompt_apis.allows(slug) {
        return Err(ProxyError::KeyNotAllowed);
    }
    let stream = request.uri().query().is_some_and(|q| {
        q.split('&')
            .any(|pair| pair == "stream=true" || pair == "stream=1")
    });
    let given = read_json(request.into_body()).await?;
    let variables = bind_variables(&api, &given)?;
    let request = ClientRequest {
        inbound: Inbound::Chat,
        document: Document::from_value(document(&api, &variables, stream)),
        headers: http::HeaderMap::new(),
    };
    let outcome = complete_document(caller, request, call, started).await;
    if let Some(call) = call.as_mut() {
        call.prompt_api_id = Some(api.id);
    }
    let response = outcome?;
    if stream || !response.status().is_success() {
        return Ok(response);
    }
    let answer = answer(&api, response, call.as_ref()).await?;
    Ok(json_response(
        StatusCode::OK,
        Bytes::from(answer.to_string()),
    ))
}

/// The chat completion a prompt API sends, its template rendered with `variables`.
pub(crate) fn document(
    api: &PromptApiEntry,
    variables: &Map<String, Value>,
    stream: bool,
) -> Value {
    let messages: Vec<Value> = api
        .messages
        .iter()
        .map(|m| json!({"role": m.role, "content": render(&m.content, variables)}))
        .collect();
    let mut document = json!({"model": api.model, "messages": messages, "stream": stream});
    if let Some(temperature) = api.temperature {
        document["temperature"] = json!(temperature);
    }
    if let Some(max_tokens) = api.max_tokens {
        document["max_tokens"] = json!(max_tokens);
    }
    if api.json_output {
        document["response_format"] = json!({"type": "json_object"});
    }
    document
}

/// A prompt API's answer (`{"output", "model", "usage", "cost_usd", "prompt_api"}`) from the
/// model's successful, non-streamed completion.
pub(crate) async fn answer(
    api: &PromptApiEntry,
    response: Response<ProxyBody>,
    call: Option<&AiCall>,
) -> Result<Value, ProxyError> {
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| ProxyError::UpstreamUnreachable(e.to_string()))?
        .to_bytes();
    let completion: Value = serde_json::from_slice(&body).unwrap_or_default();
    let content = completion
        .pointer("/choices/0/message/content")
        .cloned()
        .unwrap_or(Value::Null);
    let output = match (&content, api.json_output) {
        (Value::String(text), true) => serde_json::from_str(text).unwrap_or(content.clone()),
        _ => content,
    };
    let (tokens, prices) = match call {
        Some(call) => (
            call.findings.lock().map(|f| f.tokens).unwrap_or_default(),
            call.model.prices,
        ),
        None => return Err(ProxyError::NoRoute),
    };
    Ok(json!({
        "output": output,
        "model": completion.get("model").cloned().unwrap_or_else(|| json!(api.model)),
        "usage": completion.get("usage").cloned().unwrap_or(Value::Null),
        "cost_usd": NanoUsd(metering::cost_nanousd(&prices, &tokens)).to_string(),
        "prompt_api": {"slug": api.slug, "version": api.version},
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tollgate_protocol::{PromptMessage, PromptVariable, VariableType};

    fn api() -> PromptApiEntry {
        let variable = |name: &str,
                        kind: VariableType,
                        required: bool,
                        default: Option<Value>,
                        values: &[&str]| {
            PromptVariable {
                name: name.into(),
                kind,
                required,
                default,
                values: values.iter().map(|v| v.to_string()).collect(),
                description: None,
            }
        };
        PromptApiEntry {
            id: uuid::Uuid::nil(),
            tenant_id: uuid::Uuid::nil(),
            slug: "s".into(),
            description: None,
            version: 1,
            model: "m".into(),
            messages: vec![PromptMessage {
                role: "user".into(),
                content: "{{text}} in {{lang}} x{{n}}".into(),
            }],
            variables: vec![
                variable("text", VariableType::String, true, None, &[]),
                variable(
                    "lang",
                    VariableType::Enum,
                    false,
                    Some(json!("en")),
                    &["en", "fr"],
                ),
                variable("n", VariableType::Number, false, None, &[]),
            ],
            temperature: None,
            max_tokens: None,
            json_output: false,
        }
    }

    #[test]
    fn variables_are_checked_defaulted_and_rendered() {
        let bound = bind_variables(&api(), &json!({"text": "Hi", "n": 2})).unwrap_or_default();
        assert_eq!(render("{{text}} in {{lang}} x{{n}}", &bound), "Hi in en x2");
    }

    #[test]
    fn bad_variables_are_named() {
        let error = |given: Value| match bind_variables(&api(), &given) {
            Err(ProxyError::BadRequest(why)) => why,
            other => panic!("{other:?}"),
        };
        assert!(error(json!({})).contains("missing required variables: text"));
        assert!(error(json!({"text": "a", "colour": 1})).contains("unknown variables: colour"));
        assert!(error(json!({"text": 5})).contains("text (expected a string)"));
        assert!(error(json!({"text": "a", "lang": "de"})).contains("lang (expected one of en, fr)"));
    }
}
