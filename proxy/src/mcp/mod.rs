//! The MCP gateway, over the Streamable HTTP transport (JSON-RPC over POST, answers as JSON or
//! server-sent events, `Mcp-Session-Id`, `DELETE` to end a session):
//!
//! - `/mcp/{server}` serves one of the tenant's remote MCP servers;
//! - `/mcp/prompt-apis` serves the tenant's prompt APIs as tools;
//! - `/mcp/rest-apis` serves the operations of routes' OpenAPI documents as tools;
//! - `/mcp` serves every server the key may use, its tools named `{server}__{tool}`.
//!
//! The gateway answers `initialize`, `ping` and `tools/list` itself (listing only the tools the
//! server's allow-list and the key's scope admit) and forwards each `tools/call` to its server
//! with the server's credentials, never the client's key, within the server's time limit. Every
//! `tools/call` is one usage event.

mod jsonrpc;
mod prompt_tools;
mod relay;
mod rest_tools;
pub(crate) mod server;
pub(crate) mod sessions;
mod upstream;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tollgate_protocol::McpUsage;
use uuid::Uuid;

use crate::active::CompiledKey;
use crate::ai::{json_response, AiCall, Caller};
use crate::body::{Counted, ProxyBody};
use crate::error::ProxyError;
use jsonrpc::Message;
use server::McpServer;
use upstream::{Upstream, UpstreamError, MCP_SESSION_ID};

/// Largest message a client may post.
const REQUEST_MAX: usize = 4 << 20;
/// Time allowed to connect to an MCP server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Pages of a server's tool list read at most.
const TOOL_PAGES_MAX: usize = 20;
/// Joins a server's name and a tool's on `/mcp`.
const SEPARATOR: &str = "__";
/// The name prompt APIs are served under.
const PROMPT_APIS: &str = "prompt-apis";
/// The name REST routes' operations are served under.
const REST_APIS: &str = "rest-apis";
/// Protocol versions the gateway speaks, newest first.
const PROTOCOL_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Where an MCP client connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `/mcp`: every server the key may use.
    All,
    /// `/mcp/prompt-apis`.
    PromptApis,
    /// `/mcp/rest-apis`.
    RestApis,
    /// `/mcp/{server}`.
    Server(String),
}

/// The endpoint a path names, if it is the gateway's (`/mcp`, `/mcp/…`).
pub(crate) fn endpoint(path: &str) -> Option<Endpoint> {
    let rest = path.strip_prefix("/mcp")?;
    let name = match rest {
        "" | "/" => return Some(Endpoint::All),
        _ => rest.strip_prefix('/')?.trim_end_matches('/'),
    };
    Some(match name {
        PROMPT_APIS => Endpoint::PromptApis,
        REST_APIS => Endpoint::RestApis,
        name => Endpoint::Server(name.to_string()),
    })
}

/// How a message ended, for its usage event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub(crate) status: u16,
    pub(crate) error_class: Option<&'static str>,
}

impl Outcome {
    pub(crate) fn ok() -> Self {
        Self {
            status: 200,
            error_class: None,
        }
    }

    pub(crate) fn failed(status: u16, class: &'static str) -> Self {
        Self {
            status,
            error_class: Some(class),
        }
    }

    /// How a server's answer to a `tools/call` ended: a result (the tool may report its own
    /// failure with `isError`), or a JSON-RPC error.
    pub(crate) fn of_answer(answer: &Value) -> Self {
        if let Some(code) = answer.pointer("/error/code").and_then(Value::as_i64) {
            return match code {
                jsonrpc::INVALID_PARAMS | jsonrpc::INVALID_REQUEST | jsonrpc::METHOD_NOT_FOUND => {
                    Self::failed(400, "tool_invalid_call")
                }
                _ => Self::failed(502, "upstream_error"),
            };
        }
        if answer.pointer("/result/isError") == Some(&Value::Bool(true)) {
            return Self::failed(200, "tool_error");
        }
        Self::ok()
    }
}

/// What an MCP request is, for metering: only tool calls are usage events.
pub(crate) enum Metering {
    /// `initialize`, `tools/list`, notifications, …: counted in metrics only.
    Unmetered,
    Call(ToolCall),
}

/// A `tools/call` being metered.
pub(crate) struct ToolCall {
    server_id: Option<Uuid>,
    /// The route a REST tool was called on.
    route_id: Option<Uuid>,
    tool: String,
    outcome: Arc<Mutex<Outcome>>,
}

impl ToolCall {
    fn new(server_id: Option<Uuid>, tool: &str, outcome: Outcome) -> Self {
        Self {
            server_id,
            route_id: None,
            tool: tool.to_string(),
            outcome: Arc::new(Mutex::new(outcome)),
        }
    }

    /// The route a REST tool was called on (its usage event is the route's too).
    pub(crate) fn route_id(&self) -> Option<Uuid> {
        self.route_id
    }

    fn settle(&self, outcome: Outcome) {
        if let Ok(mut current) = self.outcome.lock() {
            *current = outcome;
        }
    }

    /// The usage event's tool and how the call ended.
    pub(crate) fn usage(&self) -> (McpUsage, Outcome) {
        let outcome = self
            .outcome
            .lock()
            .map(|o| *o)
            .unwrap_or(Outcome::failed(500, "internal"));
        let usage = McpUsage {
            server_id: self.server_id,
            tool: self.tool.clone(),
        };
        (usage, outcome)
    }
}

/// A request to the gateway, read.
pub(crate) enum Exchange {
    /// A POSTed message, and the session it names.
    Message {
        message: Message,
        session: Option<String>,
    },
    /// `DELETE`: the client ends its session.
    End { session: Option<String> },
    /// A POST that is not one JSON-RPC message: the error to answer with.
    Invalid(Bytes),
}

impl Exchange {
    pub(crate) async fn read(
        parts: &http::request::Parts,
        body: Counted<Incoming>,
    ) -> Result<Self, ProxyError> {
        let session = parts
            .headers
            .get(&MCP_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        match parts.method {
            Method::POST => {}
            Method::DELETE => return Ok(Self::End { session }),
            // No stream of server-initiated messages is offered (GET).
            _ => return Err(ProxyError::MethodNotAllowed),
        }
        let body = match Limited::new(body, REQUEST_MAX).collect().await {
            Ok(body) => body.to_bytes(),
            Err(_) => {
                return Ok(Self::Invalid(jsonrpc::error(
                    &Value::Null,
                    jsonrpc::INVALID_REQUEST,
                    &format!(
                        "the message is unreadable or over {} MiB",
                        REQUEST_MAX >> 20
                    ),
                )))
            }
        };
        Ok(match Message::parse(&body) {
            Ok(message) => Self::Message { message, session },
            Err(error) => Self::Invalid(error),
        })
    }

    /// The tool a `tools/call` names.
    fn tool_call(&self) -> Option<(&Value, &str)> {
        match self {
            Self::Message { message, .. } => match message.request() {
                Some((id, "tools/call")) => Some((
                    id,
                    message
                        .params
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default(),
                )),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether it is a `tools/call` (limits apply to those).
    pub(crate) fn is_tool_call(&self) -> bool {
        self.tool_call().is_some()
    }
}

/// A tool a call names, found.
enum Target<'c> {
    /// A server's tool, and the reach (the key, or one of its subscriptions) it is called with.
    Server(&'c McpServer, &'c CompiledKey, String),
    PromptApi(String),
    /// A REST route's operation (by `{route}__{operation}`).
    Rest(String),
}

/// The gateway as one request sees it.
pub(crate) struct Gateway<'a, 'c> {
    pub(crate) caller: &'a Caller<'c>,
    pub(crate) endpoint: &'a Endpoint,
    pub(crate) origin: rest_tools::Origin<'a>,
}

pub(crate) use rest_tools::Origin;

impl Gateway<'_, '_> {
    fn key(&self) -> &CompiledKey {
        self.caller.key
    }

    /// The MCP server `name` and the reach that may use it: the key (a server of its own
    /// tenant, in its scope) or one of its subscriptions (a product holding the server).
    fn server(&self, name: &str) -> Option<(&Arc<McpServer>, &CompiledKey)> {
        let key = self.key();
        let servers = &self.caller.config.mcp_servers;
        key.reaches().find_map(|reach| {
            let server = servers.get(reach.tenant_id, name)?;
            server
                .visible_to(&reach.mcp_servers)
                .then_some((server, reach))
        })
    }

    /// What a tool call is counted against: its reach (the key, or the subscription that
    /// serves the server).
    pub(crate) fn reach_for_call(&self, exchange: &Exchange) -> &CompiledKey {
        match exchange.tool_call().and_then(|(_, name)| self.target(name)) {
            Some(Target::Server(_, reach, _)) => reach,
            Some(Target::PromptApi(slug)) => {
                prompt_tools::reach(self.caller.config, self.key(), &slug).unwrap_or(self.key())
            }
            Some(Target::Rest(tool)) => rest_tools::find(self.caller.config, self.key(), &tool)
                .map_or(self.key(), |(_, _, reach)| reach),
            _ => self.key(),
        }
    }

    /// Whether this call targets a prompt API (the key's budget and token limit then apply).
    pub(crate) fn calls_prompt_api(&self, exchange: &Exchange) -> bool {
        exchange
            .tool_call()
            .is_some_and(|(_, name)| matches!(self.target(name), Some(Target::PromptApi(_))))
    }

    /// Refuses a tool call the key may not make now (its request limit, its budget) with a
    /// JSON-RPC error, metered as a call.
    pub(crate) fn refuse(
        &self,
        exchange: &Exchange,
        error: &ProxyError,
        metering: &mut Option<Metering>,
    ) -> Response<ProxyBody> {
        let (id, name) = exchange.tool_call().unwrap_or((&Value::Null, ""));
        let outcome = Outcome::failed(error.status().as_u16(), error.class());
        *metering = Some(Metering::Call(self.metered(name, outcome)));
        answer(jsonrpc::error(id, jsonrpc::REFUSED, &error.message()))
    }

    /// The usage record of a call of `name`.
    fn metered(&self, name: &str, outcome: Outcome) -> ToolCall {
        match self.target(name) {
            Some(Target::Server(server, _, tool)) => ToolCall::new(Some(server.id), &tool, outcome),
            Some(Target::PromptApi(slug)) => ToolCall::new(None, &slug, outcome),
            Some(Target::Rest(tool)) => {
                let mut call = ToolCall::new(None, &tool, outcome);
                call.route_id = rest_tools::find(self.caller.config, self.key(), &tool)
                    .map(|(route, _, _)| route.id);
                call
            }
            None => ToolCall::new(None, name, outcome),
        }
    }

    /// The tool a name stands for at this endpoint (whether the key may call it aside).
    fn target(&self, name: &str) -> Option<Target<'_>> {
        match self.endpoint {
            Endpoint::Server(server) => {
                let (server, reach) = self.server(server)?;
                Some(Target::Server(server, reach, name.to_string()))
            }
            Endpoint::PromptApis => Some(Target::PromptApi(name.to_string())),
            Endpoint::RestApis => Some(Target::Rest(name.to_string())),
            Endpoint::All => {
                let (server, tool) = name.split_once(SEPARATOR)?;
                match server {
                    PROMPT_APIS => return Some(Target::PromptApi(tool.to_string())),
                    REST_APIS => return Some(Target::Rest(tool.to_string())),
                    _ => {}
                }
                let (server, reach) = self.server(server)?;
                Some(Target::Server(server, reach, tool.to_string()))
            }
        }
    }

    /// Serves one exchange.
    pub(crate) async fn serve(
        &self,
        exchange: Exchange,
        metering: &mut Option<Metering>,
        ai: &mut Option<AiCall>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        if let Some(refusal) = self.check_endpoint() {
            return Ok(refusal);
        }
        let sessions = &self.caller.shared.mcp_sessions;
        let (message, session) = match exchange {
            Exchange::Invalid(error) => return Ok(status_answer(StatusCode::BAD_REQUEST, error)),
            Exchange::End { session: None } => {
                return Err(ProxyError::BadRequest(
                    "DELETE ends a session: send its Mcp-Session-Id".into(),
                ))
            }
            Exchange::End {
                session: Some(session),
            } => {
                if !sessions.is_live(&session, self.key().id) {
                    return Ok(session_not_found(&Value::Null));
                }
                sessions.end(&session);
                return Ok(empty(StatusCode::OK));
            }
            Exchange::Message { message, session } => (message, session),
        };
        let Some((id, method)) = message.request() else {
            // Notifications and answers need no reply.
            return Ok(empty(StatusCode::ACCEPTED));
        };
        if method == "initialize" {
            return Ok(self.initialize(id, &message.params));
        }
        if let Some(session) = &session {
            if !sessions.is_live(session, self.key().id) {
                return Ok(session_not_found(id));
            }
        }
        match method {
            "ping" => Ok(answer(jsonrpc::result(id, json!({})))),
            "tools/list" => Ok(self.list_tools(id).await),
            "tools/call" => Ok(self.call_tool(id, &message.params, metering, ai).await),
            other => Ok(answer(jsonrpc::error(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                &format!("method '{other}' is not served here: this gateway serves tools"),
            ))),
        }
    }

    /// The endpoint exists and the key may use it; else the HTTP refusal.
    fn check_endpoint(&self) -> Option<Response<ProxyBody>> {
        let refuse = |status, message: String| {
            Some(status_answer(
                status,
                jsonrpc::error(&Value::Null, jsonrpc::INVALID_REQUEST, &message),
            ))
        };
        match self.endpoint {
            Endpoint::All => None,
            Endpoint::PromptApis
                if self
                    .key()
                    .reaches()
                    .all(|reach| reach.prompt_apis.is_empty()) =>
            {
                refuse(
                    StatusCode::FORBIDDEN,
                    "this key may not call prompt APIs".into(),
                )
            }
            Endpoint::PromptApis => None,
            Endpoint::RestApis if self.key().reaches().all(|reach| reach.routes.is_empty()) => {
                refuse(
                    StatusCode::FORBIDDEN,
                    "this key may not use REST routes".into(),
                )
            }
            Endpoint::RestApis => None,
            Endpoint::Server(name) => {
                let own = self.key().tenant_id;
                match self.server(name) {
                    Some(_) => None,
                    None if self.caller.config.mcp_servers.contains(own, name) => refuse(
                        StatusCode::FORBIDDEN,
                        format!("this key may not use the MCP server '{name}'"),
                    ),
                    None => refuse(
                        StatusCode::NOT_FOUND,
                        format!("no MCP server is named '{name}'"),
                    ),
                }
            }
        }
    }

    fn initialize(&self, id: &Value, params: &Value) -> Response<ProxyBody> {
        let asked = params.get("protocolVersion").and_then(Value::as_str);
        let version = asked
            .filter(|v| PROTOCOL_VERSIONS.contains(v))
            .unwrap_or(PROTOCOL_VERSIONS[0]);
        let name = match self.endpoint {
            Endpoint::All => "tollgate".to_string(),
            Endpoint::PromptApis => format!("tollgate/{PROMPT_APIS}"),
            Endpoint::RestApis => format!("tollgate/{REST_APIS}"),
            Endpoint::Server(server) => format!("tollgate/{server}"),
        };
        let result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": false}},
            "serverInfo": {"name": name, "version": env!("CARGO_PKG_VERSION")},
        });
        let session = self.caller.shared.mcp_sessions.open(self.key().id);
        let mut response = answer(jsonrpc::result(id, result));
        if let Ok(value) = HeaderValue::from_str(&session) {
            response.headers_mut().insert(MCP_SESSION_ID.clone(), value);
        }
        response
    }

    async fn list_tools(&self, id: &Value) -> Response<ProxyBody> {
        let key = self.key();
        let config = self.caller.config;
        let tools = match self.endpoint {
            Endpoint::PromptApis => prompt_tools::tools(config, key, ""),
            Endpoint::RestApis => rest_tools::tools(config, key, ""),
            Endpoint::Server(name) => {
                let Some((server, reach)) = self.server(name) else {
                    return answer(jsonrpc::error(
                        id,
                        jsonrpc::INVALID_PARAMS,
                        "no such server",
                    ));
                };
                match self.server_tools(server, reach, "").await {
                    Ok(tools) => tools,
                    Err(error) => {
                        return answer(jsonrpc::error(id, error.code(), &error.message(name)))
                    }
                }
            }
            Endpoint::All => {
                // The key's own servers first, then its subscriptions'; a name once.
                let mut servers: Vec<(&Arc<McpServer>, &CompiledKey)> = Vec::new();
                for reach in key.reaches() {
                    for (_, server) in config.mcp_servers.of(reach.tenant_id) {
                        let usable = server.visible_to(&reach.mcp_servers)
                            && !servers.iter().any(|(s, _)| s.name == server.name);
                        if usable {
                            servers.push((server, reach));
                        }
                    }
                }
                servers.sort_by(|a, b| a.0.name.cmp(&b.0.name));
                let mut tools = Vec::new();
                for (server, reach) in servers {
                    let prefix = format!("{}{SEPARATOR}", server.name);
                    match self.server_tools(server, reach, &prefix).await {
                        Ok(found) => tools.extend(found),
                        // One server down does not hide the others' tools.
                        Err(error) => {
                            tracing::warn!(server = %server.name, error = %error.message(&server.name), "listing an MCP server's tools failed")
                        }
                    }
                }
                tools.extend(prompt_tools::tools(
                    config,
                    key,
                    &format!("{PROMPT_APIS}{SEPARATOR}"),
                ));
                tools.extend(rest_tools::tools(
                    config,
                    key,
                    &format!("{REST_APIS}{SEPARATOR}"),
                ));
                tools
            }
        };
        answer(jsonrpc::result(id, json!({"tools": tools})))
    }

    /// The tools a server offers the key (every page of its list), named `{prefix}{tool}`.
    async fn server_tools(
        &self,
        server: &McpServer,
        reach: &CompiledKey,
        prefix: &str,
    ) -> Result<Vec<Value>, UpstreamError> {
        let client = self.caller.clients.get(CONNECT_TIMEOUT);
        let upstream = Upstream {
            server,
            client: &client,
            deadline: tokio::time::Instant::now() + server.timeout,
        };
        let mut tools = Vec::new();
        let mut cursor: Option<Value> = None;
        for _ in 0..TOOL_PAGES_MAX {
            let id = json!(format!("tg-{}", Uuid::new_v4().simple()));
            let mut params = json!({});
            if let Some(cursor) = cursor.take() {
                params["cursor"] = cursor;
            }
            let message =
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
            let response = self.send(&upstream, &message).await?;
            let answer = upstream.answer(response, &id).await?;
            if let Some(error) = answer.pointer("/error/message").and_then(Value::as_str) {
                return Err(UpstreamError::Protocol(format!(
                    "tools/list failed: {error}"
                )));
            }
            let listed = answer
                .pointer("/result/tools")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for mut tool in listed {
                let Some(name) = tool.get("name").and_then(Value::as_str) else {
                    continue;
                };
                if server.offers(&reach.mcp_servers, name) {
                    tool["name"] = json!(format!("{prefix}{name}"));
                    tools.push(tool);
                }
            }
            cursor = answer
                .pointer("/result/nextCursor")
                .filter(|c| c.is_string())
                .cloned();
            if cursor.is_none() {
                break;
            }
        }
        Ok(tools)
    }

    /// Posts a message in the key's session with the server, opening one if needed (and again
    /// once, if the server forgot it).
    async fn send(
        &self,
        upstream: &Upstream<'_>,
        message: &Value,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let sessions = &self.caller.shared.mcp_sessions;
        let (key, server) = (self.key().id, upstream.server.id);
        for _ in 0..2 {
            let session = match sessions.upstream(key, server) {
                Some(session) => session,
                None => {
                    let session = upstream.open().await?;
                    sessions.keep(key, server, session.clone());
                    session
                }
            };
            match upstream.post(Some(&session), message).await {
                Err(UpstreamError::SessionGone) => sessions.forget(key, server),
                other => return other,
            }
        }
        Err(UpstreamError::SessionGone)
    }

    async fn call_tool(
        &self,
        id: &Value,
        params: &Value,
        metering: &mut Option<Metering>,
        ai: &mut Option<AiCall>,
    ) -> Response<ProxyBody> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return answer(jsonrpc::error(
                id,
                jsonrpc::INVALID_PARAMS,
                "tools/call needs params.name, the tool to call",
            ));
        };
        let call = self.metered(name, Outcome::failed(502, "no_answer"));
        let target = self.target(name).filter(|target| match target {
            Target::Server(server, reach, tool) => server.offers(&reach.mcp_servers, tool),
            Target::PromptApi(slug) => {
                prompt_tools::reach(self.caller.config, self.key(), slug).is_some()
            }
            Target::Rest(tool) => rest_tools::find(self.caller.config, self.key(), tool).is_some(),
        });
        let response = match target {
            // One answer for a tool that does not exist and one the key may not call: a key
            // learns nothing about tools outside its scope.
            None => {
                call.settle(Outcome::failed(404, "unknown_tool"));
                answer(jsonrpc::error(
                    id,
                    jsonrpc::INVALID_PARAMS,
                    &format!("Unknown tool: {name}"),
                ))
            }
            Some(Target::PromptApi(slug)) => {
                let arguments = params
                    .get("arguments")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                // Called with its reach: the key, or the subscription serving it.
                let reach = prompt_tools::reach(self.caller.config, self.key(), &slug)
                    .unwrap_or(self.key());
                let caller = Caller {
                    key: reach,
                    config: self.caller.config,
                    clients: self.caller.clients,
                    shared: self.caller.shared,
                    time: self.caller.time,
                };
                let (result, outcome) = prompt_tools::call(&caller, &slug, &arguments, ai).await;
                call.settle(outcome);
                answer(jsonrpc::result(id, result))
            }
            Some(Target::Server(server, _, tool)) => {
                self.forward_call(server, &tool, id, params, &call).await
            }
            Some(Target::Rest(tool)) => {
                let arguments = params
                    .get("arguments")
                    .cloned()
                    .unwrap_or_else(|| json!({}));
                let (result, outcome) =
                    match rest_tools::find(self.caller.config, self.key(), &tool) {
                        Some((route, operation, _)) => {
                            rest_tools::call(
                                self.caller.shared,
                                self.caller.clients,
                                &self.origin,
                                route,
                                operation,
                                &arguments,
                            )
                            .await
                        }
                        None => (json!({}), Outcome::failed(404, "unknown_tool")),
                    };
                call.settle(outcome);
                answer(jsonrpc::result(id, result))
            }
        };
        *metering = Some(Metering::Call(call));
        response
    }

    /// Forwards a `tools/call` under an id of the gateway's own; the answer goes back with the
    /// client's id, relayed event by event when the server streams it.
    async fn forward_call(
        &self,
        server: &McpServer,
        tool: &str,
        id: &Value,
        params: &Value,
        call: &ToolCall,
    ) -> Response<ProxyBody> {
        let client = self.caller.clients.get(CONNECT_TIMEOUT);
        let upstream = Upstream {
            server,
            client: &client,
            deadline: tokio::time::Instant::now() + server.timeout,
        };
        let upstream_id = json!(format!("tg-{}", Uuid::new_v4().simple()));
        let mut params = params.clone();
        params["name"] = json!(tool);
        let message =
            json!({"jsonrpc": "2.0", "id": upstream_id, "method": "tools/call", "params": params});
        let failed = |error: UpstreamError| {
            let (status, class) = error.outcome();
            call.settle(Outcome::failed(status, class));
            answer(jsonrpc::error(
                id,
                error.code(),
                &error.message(&server.name),
            ))
        };
        let response = match self.send(&upstream, &message).await {
            Ok(response) => response,
            Err(error) => return failed(error),
        };
        if upstream::is_event_stream(&response) {
            let relay = relay::Relay::new(
                response.into_body(),
                upstream.deadline,
                (upstream_id, id.clone()),
                server.name.clone(),
                call.outcome.clone(),
            );
            let mut response = Response::new(relay.boxed_unsync());
            let headers = response.headers_mut();
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/event-stream"),
            );
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            return response;
        }
        match upstream.answer(response, &upstream_id).await {
            Ok(mut reply) => {
                call.settle(Outcome::of_answer(&reply));
                reply["id"] = id.clone();
                answer(Bytes::from(reply.to_string()))
            }
            Err(error) => failed(error),
        }
    }
}

/// A JSON-RPC message as a 200 JSON answer.
fn answer(body: Bytes) -> Response<ProxyBody> {
    json_response(StatusCode::OK, body)
}

fn status_answer(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    json_response(status, body)
}

/// 404, which tells a client to start a new session.
fn session_not_found(id: &Value) -> Response<ProxyBody> {
    status_answer(
        StatusCode::NOT_FOUND,
        jsonrpc::error(
            id,
            jsonrpc::SESSION_NOT_FOUND,
            "the session is unknown or has ended: initialize a new one",
        ),
    )
}

fn empty(status: StatusCode) -> Response<ProxyBody> {
    let mut response = Response::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_endpoints() {
        assert_eq!(endpoint("/mcp"), Some(Endpoint::All));
        assert_eq!(endpoint("/mcp/"), Some(Endpoint::All));
        assert_eq!(endpoint("/mcp/prompt-apis"), Some(Endpoint::PromptApis));
        assert_eq!(endpoint("/mcp/rest-apis"), Some(Endpoint::RestApis));
        assert_eq!(
            endpoint("/mcp/docs/"),
            Some(Endpoint::Server("docs".into()))
        );
        assert_eq!(endpoint("/mcpx"), None);
        assert_eq!(endpoint("/v1/mcp"), None);
    }

    fn key(scopes: &[&str]) -> crate::scope::Scope {
        scopes.iter().map(|s| s.to_string()).collect()
    }

    fn server(tools: &[&str]) -> McpServer {
        McpServer {
            id: Uuid::nil(),
            name: "docs".into(),
            uri: http::Uri::from_static("http://127.0.0.1:1/mcp"),
            headers: Vec::new(),
            timeout: Duration::from_secs(1),
            tools: tools.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn scopes_and_allow_lists_decide_which_tools_a_key_sees() {
        let all = server(&[]);
        assert!(all.offers(&key(&["*"]), "search"));
        assert!(all.offers(&key(&["docs"]), "search"));
        assert!(all.offers(&key(&["docs/search"]), "search"));
        assert!(!all.offers(&key(&["docs/search"]), "delete"));
        assert!(!all.offers(&key(&["other"]), "search"));
        assert!(!all.offers(&key(&[]), "search"));
        let listed = server(&["search"]);
        assert!(!listed.offers(&key(&["*"]), "delete"));
        assert!(listed.visible_to(&key(&["docs/search"])));
        assert!(!listed.visible_to(&key(&["docsx"])));
        assert!(!listed.visible_to(&key(&["docsx/search"])));
    }

    #[test]
    fn answers_tell_how_a_call_ended() {
        let ok = json!({"jsonrpc": "2.0", "id": 1, "result": {"content": []}});
        assert_eq!(Outcome::of_answer(&ok), Outcome::ok());
        let tool_error = json!({"id": 1, "result": {"content": [], "isError": true}});
        assert_eq!(
            Outcome::of_answer(&tool_error).error_class,
            Some("tool_error")
        );
        let invalid = json!({"id": 1, "error": {"code": -32602, "message": "x"}});
        assert_eq!(Outcome::of_answer(&invalid).status, 400);
        let failed = json!({"id": 1, "error": {"code": -32000, "message": "x"}});
        assert_eq!(Outcome::of_answer(&failed).status, 502);
    }
}
