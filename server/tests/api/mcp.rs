//! Remote MCP servers as tenant objects: credentials write-only, the "test" action connects as
//! an MCP client (to a server written with the official MCP Python SDK) and lists its tools.

use serde_json::json;
use tollgate_testkit::{McpUpstream as Upstream, TestServer};

const UPSTREAM: &str = r#"
import sys
from mcp.server.fastmcp import FastMCP
server = FastMCP("weather", host="127.0.0.1", port=int(sys.argv[1]))

@server.tool()
def forecast(city: str) -> str:
    """Tomorrow's weather in a city."""
    return f"Sunny in {city}"

@server.tool()
def wipe_everything() -> str:
    """A tool the tenant keeps out."""
    return "wiped"

server.run(transport="streamable-http")
"#;

#[tokio::test]
async fn an_mcp_server_is_added_with_write_only_credentials_and_tested() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let upstream = Upstream::start(UPSTREAM).await;
    for bad in [
        json!({"name": "local", "url": "file:///usr/bin/tool"}),
        json!({"name": "has spaces", "url": upstream.url}),
        json!({"name": "w", "url": upstream.url, "headers": {"mcp-session-id": "x"}}),
    ] {
        admin
            .post("/api/v1/tenants/default/mcp-servers", bad)
            .await
            .assert_problem(422);
    }
    let created = admin
        .post(
            "/api/v1/tenants/default/mcp-servers",
            json!({"name": "weather", "url": upstream.url, "bearer_token": "upstream-secret-123456",
                   "timeout": "10s", "tools": ["forecast"]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert!(
        !created.text.contains("upstream-secret"),
        "{}",
        created.text
    );
    assert_eq!(created.body["token_hint"], "ups…3456");
    let id = created.body["id"].as_str().unwrap();

    let tested = admin
        .post(
            &format!("/api/v1/tenants/default/mcp-servers/{id}/test"),
            json!({}),
        )
        .await;
    assert_eq!(tested.status, 200, "{}", tested.text);
    assert_eq!(tested.body["ok"], true, "{}", tested.text);
    assert_eq!(
        tested.body["tools"],
        json!([{"name": "forecast", "description": "Tomorrow's weather in a city."}])
    );

    let member = server
        .user_with_role("default", "mo@example.com", "member")
        .await;
    member
        .post(
            "/api/v1/tenants/default/mcp-servers",
            json!({"name": "mine", "url": upstream.url}),
        )
        .await
        .assert_problem(403);
    let audit = admin.get("/api/v1/tenants/default/audit").await;
    assert!(audit.text.contains("mcp_server.create"), "{}", audit.text);
    assert!(!audit.text.contains("upstream-secret"), "{}", audit.text);

    // The console page lists it and its test shows the tools.
    let (status, html) = admin.page("/t/default/mcp").await;
    assert_eq!(status, 200);
    assert!(
        html.contains("weather") && html.contains("ups…3456"),
        "{html}"
    );
    let (_, html) = admin
        .submit(&format!("/t/default/mcp/{id}/test"), &[])
        .await;
    assert!(html.contains("Connection works"), "{html}");
    assert!(
        html.contains("forecast") && !html.contains("wipe_everything"),
        "{html}"
    );
}
