//! A small MCP client over the Streamable HTTP transport, for checking a remote server: it
//! initializes a session, lists the tools and ends the session. Answers may come as JSON or as
//! server-sent events.

use serde_json::{json, Value};

/// A tool a server offers.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) description: Option<String>,
}

const PROTOCOL_VERSION: &str = "2025-06-18";

/// The JSON-RPC answer with `id` in a response body (JSON, or SSE `data:` lines).
fn answer(content_type: &str, body: &str, id: i64) -> Option<Value> {
    let matches = |v: &Value| v.get("id").and_then(Value::as_i64) == Some(id);
    if content_type.starts_with("text/event-stream") {
        body.lines()
            .filter_map(|line| line.strip_prefix("data:"))
            .filter_map(|data| serde_json::from_str::<Value>(data.trim()).ok())
            .find(matches)
    } else {
        serde_json::from_str::<Value>(body).ok().filter(matches)
    }
}

/// Lists a server's tools with `headers` (its credentials) on every request.
pub(crate) async fn list_tools(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
) -> Result<Vec<Tool>, String> {
    let post = |body: Value, session: Option<&str>| {
        let mut request = client
            .post(url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION)
            .json(&body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request
    };
    let call = |body: Value, session: Option<String>, id: i64| {
        let request = post(body, session.as_deref());
        async move {
            let response = request
                .send()
                .await
                .map_err(|e| e.without_url().to_string())?;
            let status = response.status();
            let session = response
                .headers()
                .get("mcp-session-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let content_type = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let body = response
                .text()
                .await
                .map_err(|e| e.without_url().to_string())?;
            if !status.is_success() {
                return Err(format!("the server answered {status}"));
            }
            let answer = answer(&content_type, &body, id)
                .ok_or_else(|| "the server's answer is not JSON-RPC".to_string())?;
            if let Some(error) = answer.get("error") {
                return Err(format!(
                    "the server refused: {}",
                    error["message"].as_str().unwrap_or("no message")
                ));
            }
            Ok((answer["result"].clone(), session))
        }
    };
    let (_, session) = call(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
            "clientInfo": {"name": "tollgate", "version": env!("CARGO_PKG_VERSION")}}}),
        None,
        1,
    )
    .await?;
    let _ = post(
        json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
        session.as_deref(),
    )
    .send()
    .await;
    let (result, _) = call(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}),
        session.clone(),
        2,
    )
    .await?;
    if let Some(session) = &session {
        let mut end = client.delete(url).header("mcp-session-id", session);
        for (name, value) in headers {
            end = end.header(name, value);
        }
        let _ = end.send().await;
    }
    Ok(result["tools"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|tool| {
            Some(Tool {
                name: tool["name"].as_str()?.to_string(),
                description: tool["description"].as_str().map(str::to_string),
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_come_as_json_or_events() {
        let sse =
            "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"tools\":[]}}\n\n";
        assert_eq!(
            answer("text/event-stream", sse, 2).unwrap()["result"],
            json!({"tools": []})
        );
        assert!(answer("text/event-stream", sse, 3).is_none());
        let plain = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}";
        assert!(answer("application/json", plain, 1).is_some());
    }
}
