//! Talking to a remote MCP server over Streamable HTTP: opening a session, posting one message,
//! and reading its answer (JSON, or server-sent events up to the answer), all before the
//! server's deadline. The server's own credentials go with every message; the client's never do.

use bytes::Bytes;
use http::header::{ACCEPT, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::server::McpServer;
use super::sessions::UpstreamSession;
use crate::ai::sse::{event_data, EventFramer};
use crate::error::cause;
use crate::forward::UpstreamClient;

/// The protocol version the gateway asks servers for.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";
/// Largest answer read back whole (a JSON answer, or all the events before an SSE answer).
pub(crate) const ANSWER_MAX: usize = 16 << 20;

pub(crate) static MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
static MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// Why a server gave no usable answer.
#[derive(Debug)]
pub(crate) enum UpstreamError {
    Timeout,
    Unreachable(String),
    Status(StatusCode),
    /// It forgot the session (404 to a message that carried one).
    SessionGone,
    Protocol(String),
}

impl UpstreamError {
    /// What the client is told.
    pub(crate) fn message(&self, server: &str) -> String {
        match self {
            Self::Timeout => format!("the MCP server '{server}' did not answer in time"),
            Self::Unreachable(why) => {
                format!("the MCP server '{server}' could not be reached: {why}")
            }
            Self::Status(status) => format!("the MCP server '{server}' answered HTTP {status}"),
            Self::SessionGone => format!("the MCP server '{server}' lost its session"),
            Self::Protocol(why) => format!("the MCP server '{server}' answered badly: {why}"),
        }
    }

    /// The JSON-RPC error code the client gets.
    pub(crate) fn code(&self) -> i64 {
        match self {
            Self::Timeout => super::jsonrpc::UPSTREAM_TIMEOUT,
            _ => super::jsonrpc::UPSTREAM_ERROR,
        }
    }

    /// The status and error class of the usage event.
    pub(crate) fn outcome(&self) -> (u16, &'static str) {
        match self {
            Self::Timeout => (504, "upstream_timeout"),
            Self::Unreachable(_) => (502, "upstream_unreachable"),
            _ => (502, "upstream_error"),
        }
    }
}

/// One server, reached with one client, before one deadline.
pub(crate) struct Upstream<'a> {
    pub(crate) server: &'a McpServer,
    pub(crate) client: &'a UpstreamClient,
    pub(crate) deadline: Instant,
}

impl Upstream<'_> {
    /// Posts one message; a failed status is an error (its body is not read).
    pub(crate) async fn post(
        &self,
        session: Option<&UpstreamSession>,
        message: &Value,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let body = Bytes::from(message.to_string());
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(self.server.uri.clone())
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header(
                ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            )
            .body(
                Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            )
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let headers = request.headers_mut();
        for (name, value) in &self.server.headers {
            headers.insert(name.clone(), value.clone());
        }
        if let Some(session) = session {
            if let Some(id) = &session.id {
                headers.insert(MCP_SESSION_ID.clone(), id.clone());
            }
            headers.insert(MCP_PROTOCOL_VERSION.clone(), session.protocol.clone());
        }
        let response = tokio::time::timeout_at(self.deadline, self.client.request(request))
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(|e| UpstreamError::Unreachable(describe(&e)))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND && session.is_some_and(|s| s.id.is_some()) {
            return Err(UpstreamError::SessionGone);
        }
        if !status.is_success() {
            return Err(UpstreamError::Status(status));
        }
        Ok(response)
    }

    /// Opens a session: `initialize`, then `notifications/initialized`.
    pub(crate) async fn open(&self) -> Result<UpstreamSession, UpstreamError> {
        let id = json!(format!("tg-init-{}", uuid::Uuid::new_v4().simple()));
        let initialize = json!({
            "jsonrpc": "2.0", "id": id, "method": "initialize",
            "params": {
                "protocolVersion": PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "tollgate", "version": env!("CARGO_PKG_VERSION")},
            },
        });
        let response = self.post(None, &initialize).await?;
        let session_id = response.headers().get(&MCP_SESSION_ID).cloned();
        let answer = self.answer(response, &id).await?;
        let protocol = answer
            .pointer("/result/protocolVersion")
            .and_then(Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok())
            .ok_or_else(
                || match answer.pointer("/error/message").and_then(Value::as_str) {
                    Some(why) => UpstreamError::Protocol(format!("initialize failed: {why}")),
                    None => UpstreamError::Protocol("initialize gave no protocol version".into()),
                },
            )?;
        let session = UpstreamSession::new(session_id, protocol);
        let initialized = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let response = self.post(Some(&session), &initialized).await?;
        drop(response);
        Ok(session)
    }

    /// Reads the answer to the request `id`: a JSON body, or the event stream up to the
    /// message that answers it.
    pub(crate) async fn answer(
        &self,
        response: Response<Incoming>,
        id: &Value,
    ) -> Result<Value, UpstreamError> {
        let streamed = is_event_stream(&response);
        let mut body = Limited::new(response.into_body(), ANSWER_MAX);
        if !streamed {
            let bytes = tokio::time::timeout_at(self.deadline, body.collect())
                .await
                .map_err(|_| UpstreamError::Timeout)?
                .map_err(|e| UpstreamError::Protocol(format!("reading the answer failed: {e}")))?
                .to_bytes();
            let answer: Value = serde_json::from_slice(&bytes)
                .map_err(|_| UpstreamError::Protocol("the answer is not JSON".into()))?;
            return Ok(answer);
        }
        let mut framer = EventFramer::default();
        loop {
            let frame = tokio::time::timeout_at(self.deadline, body.frame())
                .await
                .map_err(|_| UpstreamError::Timeout)?;
            let Some(frame) = frame else {
                return Err(UpstreamError::Protocol(
                    "the event stream ended before the answer".into(),
                ));
            };
            let frame = frame
                .map_err(|e| UpstreamError::Protocol(format!("reading the answer failed: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            framer.push(&data);
            while let Some(event) = framer.next_event() {
                let event = event.map_err(|e| UpstreamError::Protocol(e.message()))?;
                if let Some(answer) = answer_in(&event, id) {
                    return Ok(answer);
                }
            }
        }
    }
}

/// The message of an event, if it answers the request `id`.
pub(crate) fn answer_in(event: &[u8], id: &Value) -> Option<Value> {
    let message: Value = serde_json::from_slice(&event_data(event)).ok()?;
    let answers = message.get("id") == Some(id)
        && (message.get("result").is_some() || message.get("error").is_some());
    answers.then_some(message)
}

/// Whether a response is a stream of server-sent events.
pub(crate) fn is_event_stream<B>(response: &Response<B>) -> bool {
    response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("text/event-stream"))
}

fn describe(error: &crate::client::ClientError) -> String {
    if let Some(refused) = cause::<crate::egress::EgressRefused>(error) {
        return refused.to_string();
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(inner) = source {
        text = format!("{text}: {inner}");
        source = inner.source();
    }
    text
}
