//! The MCP gateway end to end: the official MCP Python SDK as the client, MCP servers written
//! with the same SDK as upstreams, a real proxy between them.

use std::time::Duration;

use serde_json::{json, Value};
use tollgate_testkit::{client, create_key, McpUpstream, TestProxy, TestServer};

use crate::ai::mock_provider;
use crate::sdk::run_sdk_script;

/// Answers JSON; shows what credentials it got; keeps one tool out by the tenant's allow-list.
pub(crate) const WEATHER: &str = r#"
import sys
from mcp.server.fastmcp import FastMCP, Context
server = FastMCP("weather", host="127.0.0.1", port=int(sys.argv[1]), json_response=True)

@server.tool()
def forecast(city: str) -> str:
    """Tomorrow's weather in a city."""
    return f"Sunny in {city}"

@server.tool()
def whoami(ctx: Context) -> str:
    """The credentials this server got."""
    headers = ctx.request_context.request.headers
    return f"{headers.get('authorization')} | {headers.get('x-api-key')}"

@server.tool()
def broken() -> str:
    """Always fails."""
    raise ValueError("the database is on fire")

@server.tool()
def wipe_everything() -> str:
    """A tool the tenant keeps out."""
    return "wiped"

server.run(transport="streamable-http")
"#;

/// Answers with server-sent events: progress and log notifications before the result.
const DOCS: &str = r#"
import sys, asyncio
from mcp.server.fastmcp import FastMCP, Context
server = FastMCP("docs", host="127.0.0.1", port=int(sys.argv[1]))

@server.tool()
def search(query: str) -> str:
    """Searches the docs."""
    return f"3 pages about {query}"

@server.tool()
async def count(n: int, ctx: Context) -> str:
    """Counts to n, reporting progress."""
    for i in range(1, n + 1):
        await ctx.report_progress(i, n)
        await ctx.info(f"at {i}")
    return f"counted to {n}"

@server.tool()
async def hang() -> str:
    """Never answers in time."""
    await asyncio.sleep(60)
    return "late"

server.run(transport="streamable-http")
"#;

/// The client side: one session per endpoint, each step's result in the printed JSON.
const CLIENT: &str = r#"
import asyncio, json, os
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

BASE, KEY = os.environ["BASE_URL"], os.environ["API_KEY"]
out = {}

def text(result):
    return [result.isError, result.content[0].text if result.content else None]

async def call(session, name, args):
    try:
        return text(await session.call_tool(name, args))
    except McpError as e:
        return ["error", e.error.code, e.error.message]

async def session(path, steps):
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {KEY}"})
    async with http:
        async with streamable_http_client(f"{BASE}{path}", http_client=http) as (r, w, session_id):
            async with ClientSession(r, w) as s:
                init = await s.initialize()
                out[path + " server"] = init.serverInfo.name
                listed = await s.list_tools()
                out[path + " tools"] = sorted(t.name for t in listed.tools)
                out[path + " schemas"] = {t.name: t.inputSchema for t in listed.tools}
                await steps(s)
                out[path + " session"] = session_id()

async def weather(s):
    out["forecast"] = await call(s, "forecast", {"city": "Paris"})
    out["whoami"] = await call(s, "whoami", {})
    out["broken"] = await call(s, "broken", {})
    out["wipe"] = await call(s, "wipe_everything", {})
    await s.send_ping()

async def docs(s):
    progress = []
    async def on_progress(done, total, message):
        progress.append(done)
    result = await s.call_tool("count", {"n": 3}, progress_callback=on_progress)
    out["count"] = text(result)
    out["progress"] = progress
    # A hanging tool answers with a time-out while other calls go through.
    hang, search = await asyncio.gather(call(s, "hang", {}), call(s, "search", {"query": "keys"}))
    out["hang"], out["search"] = hang, search

async def everything(s):
    out["agg forecast"] = await call(s, "weather__forecast", {"city": "Oslo"})
    out["agg search"] = await call(s, "docs__search", {"query": "limits"})
    out["agg prompt"] = await call(s, "prompt-apis__sentiment", {"text": "great"})
    out["agg unknown"] = await call(s, "nowhere__tool", {})

async def prompts(s):
    result = await s.call_tool("sentiment", {"text": "I love it"})
    out["sentiment"] = text(result)
    out["sentiment cost"] = (result.structuredContent or {}).get("cost_usd")
    out["sentiment bad"] = await call(s, "sentiment", {"mood": 1})

async def narrow(s):
    out["narrow whoami"] = await call(s, "whoami", {})
    out["narrow calls"] = [await call(s, "forecast", {"city": str(i)}) for i in range(4)]

async def main():
    if MODE == "full":
        await session("/mcp/weather", weather)
        await session("/mcp/docs", docs)
        await session("/mcp", everything)
        await session("/mcp/prompt-apis", prompts)
    else:
        await session("/mcp/weather", narrow)
    print(json.dumps(out))

asyncio.run(main())
"#;

async fn run_client(base: &str, key: &str, mode: &str) -> Value {
    run_sdk_script(&format!("MODE = {mode:?}\n{CLIENT}"), base, key).await
}

/// Waits until the usage log holds `n` tool-call events.
async fn tool_events(
    server: &TestServer,
    n: i64,
) -> Vec<(String, i16, Option<String>, Option<i64>)> {
    for _ in 0..100 {
        let rows: Vec<(String, i16, Option<String>, Option<i64>)> = sqlx::query_as(
            "SELECT mcp_tool, status, error_class, cost_nanousd FROM usage_events
             WHERE mcp_tool IS NOT NULL ORDER BY time, id",
        )
        .fetch_all(&server.db)
        .await
        .unwrap();
        if rows.len() as i64 >= n {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the usage log never got {n} tool calls");
}

#[tokio::test]
async fn the_gateway_serves_scopes_meters_and_aggregates_mcp_servers() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let weather = McpUpstream::start(WEATHER).await;
    let docs = McpUpstream::start(DOCS).await;
    for (spec, why) in [
        (
            json!({"name": "weather", "url": weather.url, "bearer_token": "upstream-secret-a",
                   "tools": ["forecast", "whoami", "broken"]}),
            "weather",
        ),
        (
            json!({"name": "docs", "url": docs.url, "timeout": "2s",
                   "headers": {"x-docs-token": "docs-secret"}}),
            "docs",
        ),
    ] {
        let created = admin
            .post("/api/v1/tenants/default/mcp-servers", spec)
            .await;
        assert_eq!(created.status, 201, "{why}: {}", created.text);
    }
    for reserved in ["prompt-apis", "rest-apis"] {
        admin
            .post(
                "/api/v1/tenants/default/mcp-servers",
                json!({"name": reserved, "url": weather.url}),
            )
            .await
            .assert_problem(422);
    }
    let gone = tollgate_testkit::dead_url().await;
    let created = admin
        .post(
            "/api/v1/tenants/default/mcp-servers",
            json!({"name": "gone", "url": format!("{gone}/mcp")}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    mock_provider(&admin, "mock", false).await;
    admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt-4o-mini",
        "deployments": [{"provider": "mock", "model": "m"}],
        "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}),
        )
        .await;
    let created = admin
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "sentiment",
        "model": "gpt-4o-mini", "description": "Classifies the sentiment of a text.",
        "messages": [{"role": "user", "content": "Text: {{text}}"}],
        "variables": [{"name": "text", "required": true, "description": "The text to classify"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let (_, full) = create_key(&admin, json!({"name": "agent"})).await;
    let (_, narrow) = create_key(
        &admin,
        json!({"name": "narrow", "scopes": {"mcp_servers": ["weather/forecast"]},
               "limits": {"requests_per_minute": 3}}),
    )
    .await;
    let (_, no_mcp) = create_key(
        &admin,
        json!({"name": "rest-only", "scopes": {"routes": ["*"]}}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());

    let out = run_client(&base, &full, "full").await;
    // One server: its tools filtered by the allow-list, calls answered as JSON.
    assert_eq!(out["/mcp/weather server"], "tollgate/weather");
    assert_eq!(
        out["/mcp/weather tools"],
        json!(["broken", "forecast", "whoami"])
    );
    assert_eq!(out["forecast"], json!([false, "Sunny in Paris"]));
    // The upstream got the server's credential, never the client's key.
    assert_eq!(
        out["whoami"],
        json!([false, "Bearer upstream-secret-a | None"])
    );
    let broken = &out["broken"];
    assert_eq!(broken[0], true, "{out}");
    assert!(broken[1].as_str().unwrap().contains("on fire"), "{out}");
    assert_eq!(out["wipe"][0], "error", "{out}");
    assert_eq!(out["wipe"][2], "Unknown tool: wipe_everything");
    // Streamed answers are relayed with their progress; a hanging tool times out alone.
    assert_eq!(out["count"], json!([false, "counted to 3"]));
    assert_eq!(out["progress"], json!([1.0, 2.0, 3.0]));
    assert_eq!(out["search"], json!([false, "3 pages about keys"]));
    assert_eq!(out["hang"][0], "error", "{out}");
    assert_eq!(out["hang"][1], -32001, "{out}");
    assert!(out["hang"][2]
        .as_str()
        .unwrap()
        .contains("did not answer in time"));
    // `/mcp` aggregates: every server's tools, namespaced, and the prompt APIs.
    assert_eq!(
        out["/mcp tools"],
        json!([
            "docs__count",
            "docs__hang",
            "docs__search",
            "prompt-apis__sentiment",
            "weather__broken",
            "weather__forecast",
            "weather__whoami"
        ])
    );
    assert_eq!(out["agg forecast"], json!([false, "Sunny in Oslo"]));
    assert_eq!(out["agg search"], json!([false, "3 pages about limits"]));
    assert_eq!(out["agg prompt"], json!([false, "Hello"]));
    assert_eq!(out["agg unknown"][2], "Unknown tool: nowhere__tool");
    // Prompt APIs as tools: typed variables as the input schema, answers billed.
    let schema = &out["/mcp/prompt-apis schemas"]["sentiment"];
    assert_eq!(schema["required"], json!(["text"]), "{schema}");
    assert_eq!(schema["properties"]["text"]["type"], "string");
    assert_eq!(out["sentiment"], json!([false, "Hello"]));
    assert_ne!(out["sentiment cost"], "0", "{out}");
    assert_eq!(out["sentiment bad"][0], true, "{out}");

    // The session the SDK ended with DELETE is gone.
    let ended = out["/mcp/weather session"].as_str().unwrap();
    let reply = client()
        .post(format!("{base}/mcp/weather"))
        .bearer_auth(&full)
        .header("mcp-session-id", ended)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 404);

    // A narrow key sees and calls one tool, within its request limit.
    let out = run_client(&base, &narrow, "narrow").await;
    assert_eq!(out["/mcp/weather tools"], json!(["forecast"]));
    let calls = out["narrow calls"].as_array().unwrap();
    // The refused call counted too: 3 a minute leaves two forecasts.
    assert_eq!(calls[1], json!([false, "Sunny in 1"]));
    assert_eq!(calls[2][0], "error", "{out}");
    assert!(
        calls[2][2].as_str().unwrap().contains("rate limit"),
        "{out}"
    );
    assert_eq!(out["narrow whoami"][2], "Unknown tool: whoami");

    // An unreachable server, a message over the size limit, a GET stream: clear refusals.
    let rpc = |path: &str, body: Value| {
        client()
            .post(format!("{base}{path}"))
            .bearer_auth(&full)
            .json(&body)
    };
    let reply: Value = rpc(
        "/mcp/gone",
        json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
               "params": {"name": "anything", "arguments": {}}}),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(reply["id"], 9, "{reply}");
    assert_eq!(reply["error"]["code"], -32000, "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("'gone' could not be reached"),
        "{reply}"
    );
    let huge = "x".repeat(5 << 20);
    let reply = rpc(
        "/mcp/weather",
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
               "params": {"name": "forecast", "arguments": {"city": huge}}}),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(reply.status(), 400);
    let reply: Value = reply.json().await.unwrap();
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over 4 MiB"),
        "{reply}"
    );
    let stream = client()
        .get(format!("{base}/mcp/weather"))
        .bearer_auth(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 405);

    // Keys without MCP scope, or without a key at all, are refused at the door.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}}});
    for (key, path, expected) in [
        (Some(&no_mcp), "/mcp/weather", 403),
        (Some(&full), "/mcp/nowhere", 404),
        (None, "/mcp", 401),
    ] {
        let mut request = client().post(format!("{base}{path}")).json(&initialize);
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let reply = request.send().await.unwrap();
        assert_eq!(reply.status(), expected, "{path}");
    }

    // Exactly one usage event per tool call, with how it ended; prompt APIs with their cost.
    let events = tool_events(&server, 19).await;
    let of = |tool: &str| events.iter().filter(|e| e.0 == tool).collect::<Vec<_>>();
    assert_eq!(of("forecast").len(), 6, "{events:?}");
    assert_eq!(of("forecast").iter().filter(|e| e.1 == 429).count(), 2);
    assert_eq!(of("broken")[0].2.as_deref(), Some("tool_error"));
    assert_eq!(of("hang")[0].1, 504);
    assert_eq!(of("wipe_everything")[0].1, 404);
    assert_eq!(of("sentiment").len(), 3, "{events:?}");
    assert!(
        of("sentiment")[0].3.is_some_and(|cost| cost > 0),
        "{events:?}"
    );
    assert_eq!(of("anything")[0].1, 502);
    assert_eq!(events.len(), 19, "{events:?}");
    let summary = admin.get("/api/v1/tenants/default/usage/summary").await;
    let by_tool = summary.body["by_tool"].as_array().unwrap();
    let forecast = by_tool
        .iter()
        .find(|t| t["tool"] == "forecast")
        .unwrap_or_else(|| panic!("{}", summary.text));
    assert_eq!(forecast["server"], "weather");
    assert_eq!(forecast["requests"], 6);
    assert_eq!(forecast["client_errors"], 2);
    let log = admin.get("/api/v1/tenants/default/usage?tool=hang").await;
    assert_eq!(log.body["events"][0]["status"], 504, "{}", log.text);

    // The console: calls per tool on the dashboard, tool calls in the log and its CSV, the
    // endpoints to give agents, and keys scoped to MCP servers.
    let (_, html) = admin.page("/t/default").await;
    assert!(
        html.contains("MCP tool calls") && html.contains("forecast"),
        "{html}"
    );
    let (_, html) = admin.page("/t/default/usage").await;
    assert!(html.contains("tool weather/forecast"), "{html}");
    let (_, csv) = admin.page("/t/default/usage.csv").await;
    assert!(csv.lines().next().unwrap().ends_with(",mcp_tool"), "{csv}");
    assert!(csv.contains(",docs/hang"), "{csv}");
    let (_, html) = admin.page("/t/default/mcp").await;
    assert!(
        html.contains("/mcp/docs") && html.contains("mcpServers"),
        "{html}"
    );
    let (_, html) = admin
        .submit(
            "/t/default/keys",
            &[
                ("name", "tool-user"),
                ("scope_mcp_servers", "docs/search, weather"),
            ],
        )
        .await;
    assert!(html.contains("MCP servers: docs/search, weather"), "{html}");
    proxy.shutdown().await;
}

const ORDERS_OPENAPI: &str = r##"
openapi: 3.0.3
info: {title: Orders, version: "1"}
paths:
  /orders/{id}:
    get:
      operationId: getOrder
      summary: One order
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: expand, in: query, schema: {type: boolean}}
        - {name: x-trace, in: header, schema: {type: string}}
  /orders:
    post:
      operationId: createOrder
      requestBody:
        required: true
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Order"}
components:
  schemas:
    Order:
      type: object
      properties: {item: {type: string}, quantity: {type: integer}}
"##;

/// The client side for REST tools: lists `/mcp/rest-apis`, calls both operations.
const REST_CLIENT: &str = r#"
import asyncio, json, os
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

async def main():
    out = {}
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {os.environ['API_KEY']}"})
    async with http, streamable_http_client(os.environ["BASE_URL"] + "/mcp/rest-apis", http_client=http) as (r, w, _):
        async with ClientSession(r, w) as s:
            await s.initialize()
            listed = await s.list_tools()
            out["tools"] = sorted(t.name for t in listed.tools)
            out["schema"] = {t.name: t.inputSchema for t in listed.tools}
            got = await s.call_tool("shop__getOrder", {"id": "a/b 7", "expand": True, "x-trace": "t1"})
            out["get"] = [got.isError, got.structuredContent]
            made = await s.call_tool("shop__createOrder", {"body": {"item": "tea", "quantity": 2}})
            out["create"] = [made.isError, made.structuredContent]
            missing = await s.call_tool("shop__getOrder", {})
            out["missing"] = [missing.isError, missing.content[0].text]
    print(json.dumps(out))

asyncio.run(main())
"#;

#[tokio::test]
async fn routes_publish_their_openapi_operations_as_tools() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let orders =
        tollgate_testkit::Upstream::start("orders", tollgate_testkit::Behaviour::Echo).await;
    let service = admin
        .post(
            "/api/v1/tenants/default/services",
            json!({"name": "orders", "targets": [{"url": orders.url}]}),
        )
        .await;
    assert_eq!(service.status, 201, "{}", service.text);
    let service_id = service.body["id"].as_str().unwrap().to_string();
    let route = admin
        .post(
            "/api/v1/tenants/default/routes",
            json!({"name": "shop", "path": "/shop", "strip_prefix": true,
                   "destinations": [{"service": "orders"}],
                   "request_headers": {"set": {"x-shop-token": "from-the-route"}}}),
        )
        .await;
    assert_eq!(route.status, 201, "{}", route.text);
    let openapi = format!("/api/v1/tenants/default/services/{service_id}/openapi");
    admin
        .put(
            &openapi,
            json!({"document": {"swagger": "2.0", "paths": {}}}),
        )
        .await
        .assert_problem(422);
    let stored = admin
        .put(
            &openapi,
            json!({"document": ORDERS_OPENAPI, "publish_as_tools": true}),
        )
        .await;
    assert_eq!(stored.status, 200, "{}", stored.text);
    assert_eq!(stored.body["tools"].as_array().unwrap().len(), 2);
    assert_eq!(admin.get(&openapi).await.body["publish_as_tools"], true);
    let (_, key) = create_key(
        &admin,
        json!({"name": "shopper", "scopes": {"routes": ["shop"]}}),
    )
    .await;
    let (_, other) = create_key(
        &admin,
        json!({"name": "elsewhere", "scopes": {"routes": ["billing"]}}),
    )
    .await;
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());

    let out = run_sdk_script(REST_CLIENT, &base, &key).await;
    assert_eq!(out["tools"], json!(["shop__createOrder", "shop__getOrder"]));
    let schema = &out["schema"]["shop__getOrder"];
    assert_eq!(schema["required"], json!(["id"]), "{schema}");
    assert_eq!(
        out["schema"]["shop__createOrder"]["properties"]["body"]["properties"]["quantity"]["type"],
        "integer"
    );
    // The call is a request on the route: the path parameter escaped in place, the query and
    // header parameters, the route's own headers; never the client's key.
    let (failed, got) = (&out["get"][0], &out["get"][1]);
    assert_eq!(failed, false, "{out}");
    assert_eq!(got["status"], 200);
    assert_eq!(got["body"]["path"], "/orders/a%2Fb%207", "{got}");
    assert_eq!(got["body"]["query"], "expand=true");
    assert_eq!(got["body"]["headers"]["x-trace"], "t1");
    assert_eq!(got["body"]["headers"]["x-shop-token"], "from-the-route");
    assert!(
        got["body"]["headers"].get("authorization").is_none(),
        "{got}"
    );
    let created = &out["create"][1];
    assert_eq!(created["body"]["method"], "POST", "{out}");
    assert_eq!(created["body"]["path"], "/orders");
    assert_eq!(
        created["body"]["body_len"],
        json!({"item": "tea", "quantity": 2}).to_string().len()
    );
    assert_eq!(out["missing"][0], true);
    assert!(
        out["missing"][1].as_str().unwrap().contains("'id'"),
        "{out}"
    );

    // A key that may not use the route sees no tools of it.
    let listed = client()
        .post(format!("{base}/mcp/rest-apis"))
        .bearer_auth(&other)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["result"]["tools"], json!([]), "{listed}");

    // Each call is a usage event of the tool and of the route.
    let events = tool_events(&server, 3).await;
    assert_eq!(events.len(), 3, "{events:?}");
    let summary = admin.get("/api/v1/tenants/default/usage/summary").await;
    let tool = summary.body["by_tool"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tool"] == "shop__getOrder")
        .cloned()
        .unwrap_or_default();
    assert_eq!(tool["server"], "rest-apis", "{}", summary.text);
    assert_eq!(tool["requests"], 2);
    let by_route = summary.body["by_route"].as_array().unwrap();
    assert!(
        by_route
            .iter()
            .any(|r| r["name"] == "shop" && r["requests"] == 3),
        "{}",
        summary.text
    );

    // Another tenant's application reaches the route's tools through a subscription.
    let product = admin
        .post(
            "/api/v1/tenants/default/products",
            json!({"name": "shop", "title": "Shop", "routes": ["shop"], "visibility": "platform",
                   "approval": "automatic", "plans": [{"name": "free"}]}),
        )
        .await;
    assert_eq!(product.status, 201, "{}", product.text);
    let bee = server
        .user_with_role("bee", "dev@bee.example", "member")
        .await;
    let app = bee
        .post("/api/v1/tenants/bee/applications", json!({"name": "agent"}))
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_string();
    let app_key = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/keys"),
            json!({"name": "k"}),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let subscribed = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/subscriptions"),
            json!({"product_id": product.body["id"], "plan": "free"}),
        )
        .await;
    assert_eq!(subscribed.body["status"], "approved", "{}", subscribed.text);
    tollgate_testkit::synced(&server, &proxy).await;
    let called = client()
        .post(format!("{base}/mcp/rest-apis"))
        .bearer_auth(&app_key)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                      "params": {"name": "shop__getOrder", "arguments": {"id": "9"}}}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        called["result"]["structuredContent"]["body"]["path"], "/orders/9",
        "{called}"
    );

    // The service's page shows the document's tools and saves a new document.
    let (_, html) = admin
        .page(&format!("/t/default/services/{service_id}"))
        .await;
    assert!(
        html.contains("shop__getOrder") || html.contains("getOrder"),
        "{html}"
    );
    assert!(html.contains("GET /orders/{id}"), "{html}");
    // Publishing off: the tools are gone.
    admin
        .put(&openapi, json!({"document": ORDERS_OPENAPI}))
        .await;
    tollgate_testkit::synced(&server, &proxy).await;
    let listed = client()
        .post(format!("{base}/mcp/rest-apis"))
        .bearer_auth(&key)
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(listed["result"]["tools"], json!([]), "{listed}");
    proxy.shutdown().await;
}
