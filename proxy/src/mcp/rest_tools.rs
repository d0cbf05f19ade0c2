//! REST routes as MCP tools: the operations of the OpenAPI document of a route's service, named
//! `{route}__{operation}`. A call becomes a request on the route (its parameters in the path,
//! query and headers; `body` as JSON), forwarded like any request on it: the route's targets,
//! retries, timeouts and header rules.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use http::{Method, Request};
use http_body_util::{BodyExt, Limited};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use tollgate_protocol::RestTool;

use super::{Outcome, SEPARATOR};
use crate::active::{ActiveConfig, CompiledKey};
use crate::error::ProxyError;
use crate::forward::{self, RequestBody};
use crate::headers::{self, ClientFacts, Peer};
use crate::route::CompiledRoute;
use crate::shared::Shared;

/// Largest answer read back for the agent.
const ANSWER_MAX: usize = 1 << 20;
/// What stays as it is in a path segment or query value.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The route's part of a tool name: its name with what tool names may not hold made `_`.
fn route_part(route: &CompiledRoute) -> String {
    let mut part = String::with_capacity(route.name.len());
    for c in route.name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        };
        if !(c == '_' && part.ends_with('_')) {
            part.push(c);
        }
    }
    part.trim_matches('_').to_string()
}

/// The routes that publish tools the key may use, each with its reach: the key (its own
/// tenant's routes in its scope) or one of its subscriptions (a product holding the route).
fn routes<'c>(
    config: &'c ActiveConfig,
    key: &'c CompiledKey,
) -> impl Iterator<Item = (&'c Arc<CompiledRoute>, &'c CompiledKey)> {
    key.reaches().flat_map(move |reach| {
        config
            .tool_routes
            .iter()
            .filter(move |r| r.tenant_id == reach.tenant_id && reach.routes.allows(&r.name))
            .map(move |route| (route, reach))
    })
}

/// The tools the key may call, named `{prefix}{route}__{operation}` (a name once).
pub(crate) fn tools(config: &ActiveConfig, key: &CompiledKey, prefix: &str) -> Vec<Value> {
    let mut tools: Vec<Value> = routes(config, key)
        .flat_map(|(route, _)| {
            let part = route_part(route);
            route.tools.iter().map(move |tool| {
                json!({
                    "name": format!("{prefix}{part}{SEPARATOR}{}", tool.name),
                    "description": tool.description,
                    "inputSchema": tool.input_schema,
                })
            })
        })
        .collect();
    tools.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    tools.dedup_by(|a, b| a["name"] == b["name"]);
    tools
}

/// The route and operation a tool name (without prefix) stands for, and the reach that may
/// call it, if the key may.
pub(crate) fn find<'c>(
    config: &'c ActiveConfig,
    key: &'c CompiledKey,
    name: &str,
) -> Option<(&'c Arc<CompiledRoute>, &'c RestTool, &'c CompiledKey)> {
    let (route, operation) = name.split_once(SEPARATOR)?;
    routes(config, key)
        .find(|(r, _)| route_part(r) == route)
        .and_then(|(r, reach)| Some((r, r.tools.iter().find(|t| t.name == operation)?, reach)))
}

/// What a call needs of the request it came in.
pub(crate) struct Origin<'a> {
    pub(crate) peer: &'a Peer,
    pub(crate) request_id: &'a HeaderValue,
}

/// Calls the operation on its route: the tool's result (HTTP errors are results with
/// `isError`, so the agent reads them) and how the call ended.
pub(crate) async fn call(
    shared: &Shared,
    clients: &crate::forward::Clients,
    origin: &Origin<'_>,
    route: &Arc<CompiledRoute>,
    tool: &RestTool,
    arguments: &Value,
) -> (Value, Outcome) {
    let request = match request(route, tool, arguments) {
        Ok(request) => request,
        Err(why) => return (error_result(&why), Outcome::failed(400, "bad_request")),
    };
    let (mut parts, body) = request.into_parts();
    headers::prepare_upstream(
        &mut parts.headers,
        route,
        &ClientFacts {
            peer: origin.peer,
            host: None,
            request_id: origin.request_id,
        },
    );
    let client = clients.get(route.connect_timeout);
    let forwarded = match forward::forward(route, parts, body, &client, &shared.metrics).await {
        Ok(forwarded) => forwarded,
        Err(error) => return failure(&error),
    };
    let status = forwarded.response.status();
    let read = Limited::new(forwarded.response.into_body(), ANSWER_MAX).collect();
    let body = match tokio::time::timeout(route.body_idle_timeout, read).await {
        Ok(Ok(body)) => body.to_bytes(),
        Ok(Err(_)) => {
            let why = format!("the answer is unreadable or over {} MiB", ANSWER_MAX >> 20);
            return (error_result(&why), Outcome::failed(502, "upstream_error"));
        }
        Err(_) => return failure(&ProxyError::UpstreamTimeout),
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    let parsed = serde_json::from_slice::<Value>(&body).unwrap_or_else(|_| json!(text));
    let result = json!({
        "content": [{"type": "text", "text": text}],
        "structuredContent": {"status": status.as_u16(), "body": parsed},
        "isError": !status.is_success(),
    });
    let outcome = if status.is_success() {
        Outcome::ok()
    } else {
        Outcome::failed(status.as_u16(), "tool_error")
    };
    (result, outcome)
}

/// The request the route gets: the client-side path (the route's prefix first when it strips
/// it), parameters in place, the body as JSON.
fn request(
    route: &CompiledRoute,
    tool: &RestTool,
    arguments: &Value,
) -> Result<Request<RequestBody>, String> {
    let empty = serde_json::Map::new();
    let arguments = match arguments {
        Value::Object(arguments) => arguments,
        Value::Null => &empty,
        _ => return Err("arguments must be an object".into()),
    };
    let mut path = String::new();
    let mut rest = tool.path.as_str();
    while let Some(start) = rest.find('{') {
        let Some(length) = rest[start..].find('}') else {
            break;
        };
        let name = &rest[start + 1..start + length];
        let value = arguments
            .get(name)
            .ok_or_else(|| format!("missing path parameter '{name}'"))?;
        path.push_str(&rest[..start]);
        path.push_str(&utf8_percent_encode(&scalar(value), UNRESERVED).to_string());
        rest = &rest[start + length + 1..];
    }
    path.push_str(rest);
    let mut query = Vec::new();
    let mut headers = Vec::new();
    for parameter in &tool.parameters {
        let Some(value) = arguments.get(&parameter.name).filter(|v| !v.is_null()) else {
            continue;
        };
        match parameter.location.as_str() {
            "query" => {
                let values = match value {
                    Value::Array(items) => items.iter().map(scalar).collect(),
                    other => vec![scalar(other)],
                };
                for value in values {
                    query.push(format!(
                        "{}={}",
                        utf8_percent_encode(&parameter.name, UNRESERVED),
                        utf8_percent_encode(&value, UNRESERVED)
                    ));
                }
            }
            "header" => {
                let name = HeaderName::from_bytes(parameter.name.as_bytes())
                    .map_err(|_| format!("'{}' is not a header name", parameter.name))?;
                let value = HeaderValue::from_str(&scalar(value))
                    .map_err(|_| format!("'{}' is not a header value", parameter.name))?;
                headers.push((name, value));
            }
            _ => {}
        }
    }
    let client_path = if route.strip_prefix && route.path != "/" {
        format!("{}{path}", route.path.trim_end_matches('/'))
    } else {
        path
    };
    let path_and_query = if query.is_empty() {
        client_path
    } else {
        format!("{client_path}?{}", query.join("&"))
    };
    let method = Method::from_bytes(tool.method.as_bytes()).map_err(|e| e.to_string())?;
    let body = match arguments.get("body").filter(|_| tool.body) {
        Some(body) => RequestBody::Buffered(Bytes::from(body.to_string())),
        None => RequestBody::Empty,
    };
    let mut request = Request::builder()
        .method(method)
        .uri(path_and_query)
        .body(body)
        .map_err(|e| format!("cannot make the request: {e}"))?;
    for (name, value) in headers {
        request.headers_mut().insert(name, value);
    }
    if tool.body && arguments.contains_key("body") {
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    }
    Ok(request)
}

/// A parameter's value as text: strings as they are, anything else as JSON.
fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn failure(error: &ProxyError) -> (Value, Outcome) {
    (
        error_result(&error.message()),
        Outcome::failed(error.status().as_u16(), error.class()),
    )
}

fn error_result(text: &str) -> Value {
    json!({"content": [{"type": "text", "text": text}], "isError": true})
}
