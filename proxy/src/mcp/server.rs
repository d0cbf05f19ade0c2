//! A remote MCP server as the proxy holds it: where it is, what it is sent, what it offers.

use std::collections::HashSet;
use std::time::Duration;

use http::header::{self, HeaderName, HeaderValue};
use tollgate_protocol::McpServerEntry;
use uuid::Uuid;

use crate::scope::Scope;

/// A remote MCP server ready to call.
#[derive(Debug)]
pub(crate) struct McpServer {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) uri: http::Uri,
    /// Its credentials and extra headers, ready to send.
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) timeout: Duration,
    /// Its allow-list; empty: every tool it offers.
    pub(crate) tools: HashSet<String>,
}

impl McpServer {
    pub(crate) fn compile(entry: &McpServerEntry) -> Result<Self, String> {
        let uri: http::Uri = entry.url.parse().map_err(|_| "unusable URL".to_string())?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
            return Err("the URL must be http(s)".into());
        }
        let mut headers = Vec::with_capacity(entry.headers.len());
        for (name, value) in &entry.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("unusable header name '{name}'"))?;
            let managed = [
                header::HOST,
                header::CONTENT_TYPE,
                header::CONTENT_LENGTH,
                header::ACCEPT,
            ];
            let protocol_managed =
                matches!(name.as_str(), "mcp-session-id" | "mcp-protocol-version");
            if managed.contains(&name) || protocol_managed {
                continue;
            }
            let mut value =
                HeaderValue::from_str(value).map_err(|_| format!("unusable value of {name}"))?;
            value.set_sensitive(true);
            headers.push((name, value));
        }
        Ok(Self {
            id: entry.id,
            name: entry.name.clone(),
            uri,
            headers,
            timeout: Duration::from_millis(entry.timeout_ms.max(1)),
            tools: entry.tools.iter().cloned().collect(),
        })
    }

    /// Whether the server offers `tool` to a key of this MCP scope: its allow-list and the
    /// scope (`*`, the server's name, or `server/tool`) admit it.
    pub(crate) fn offers(&self, scope: &Scope, tool: &str) -> bool {
        (self.tools.is_empty() || self.tools.contains(tool))
            && (scope.allows(&self.name) || scope.allows(&format!("{}/{tool}", self.name)))
    }

    /// Whether a key of this MCP scope may use the server at all (some or all of its tools).
    pub(crate) fn visible_to(&self, scope: &Scope) -> bool {
        scope.allows_all()
            || scope.names().any(|name| {
                name == self.name
                    || name
                        .strip_prefix(self.name.as_str())
                        .is_some_and(|tool| tool.starts_with('/'))
            })
    }
}
