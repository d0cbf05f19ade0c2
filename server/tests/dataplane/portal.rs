//! The developer portal end to end: tenant `default` publishes a product, an application of
//! tenant `bee` subscribes, the owner decides, and the proxy lets the application's key reach
//! exactly what was approved, within the plan's limits, across tenants.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tollgate_testkit::{call, client, create_route, Behaviour, TestProxy, TestServer, Upstream};

use crate::ai::mock_provider;

/// Polls until the key's calls answer `expected` (a decision takes effect within a second).
async fn becomes(request: impl Fn() -> reqwest::RequestBuilder, expected: u16) -> Duration {
    let started = Instant::now();
    loop {
        let (status, _, body) = call(request()).await;
        if status == expected {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "still {status} ({body}), expected {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_subscription_is_the_only_way_across_tenants_and_holds_its_plan() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let upstream = Upstream::start("orders", Behaviour::Echo).await;
    for (name, path) in [("orders", "/orders"), ("internal", "/internal")] {
        create_route(
            &owner,
            json!({"name": name, "path": path, "targets": [{"url": upstream.url}]}),
        )
        .await;
    }
    mock_provider(&owner, "mock", false).await;
    owner
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt", "deployments": [{"provider": "mock", "model": "m"}],
                   "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
        )
        .await;
    owner
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "sentiment", "model": "gpt",
                   "messages": [{"role": "user", "content": "{{text}}"}],
                   "variables": [{"name": "text", "required": true}]}),
        )
        .await;

    // A product every tenant sees, approved by hand; one only tenant `cee` sees.
    let created = owner
        .post(
            "/api/v1/tenants/default/products",
            json!({"name": "orders-api", "title": "Orders API", "tags": ["commerce"],
                   "description": "Orders, and a model to summarise them.",
                   "routes": ["orders"], "models": ["gpt"], "prompt_apis": ["sentiment"],
                   "visibility": "platform", "approval": "manual",
                   "plans": [{"name": "basic", "limits": {"requests_per_minute": 8},
                              "budget": {"amount_usd": "0.00005", "period": "month"}}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let product = created.body["id"].as_str().unwrap().to_string();
    let bee = server
        .user_with_role("bee", "dev@bee.example", "member")
        .await;
    let cee = server
        .user_with_role("cee", "dev@cee.example", "member")
        .await;
    let hidden = owner
        .post(
            "/api/v1/tenants/default/products",
            json!({"name": "secret", "title": "Secret API", "routes": ["internal"],
                   "visibility": "tenants", "visible_to": ["cee"],
                   "plans": [{"name": "free"}]}),
        )
        .await;
    assert_eq!(hidden.status, 201, "{}", hidden.text);
    for bad in [
        json!({"name": "x", "title": "X", "routes": ["nope"], "plans": [{"name": "p"}]}),
        json!({"name": "y", "title": "Y", "routes": ["orders"], "plans": []}),
        json!({"name": "z", "title": "Z", "routes": ["orders"], "visible_to": ["cee"], "plans": [{"name": "p"}]}),
    ] {
        owner
            .post("/api/v1/tenants/default/products", bad)
            .await
            .assert_problem(422);
    }

    // The catalog: bee finds the platform-wide product (by search and tag), not cee's.
    let catalog = bee.get("/api/v1/tenants/bee/catalog").await;
    let titles: Vec<&str> = catalog
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Orders API"], "{}", catalog.text);
    let found = bee
        .get("/api/v1/tenants/bee/catalog?search=summarise&tag=commerce")
        .await;
    assert_eq!(found.body.as_array().unwrap().len(), 1, "{}", found.text);
    let hidden_id = hidden.body["id"].as_str().unwrap();
    bee.get(&format!("/api/v1/tenants/bee/catalog/{hidden_id}"))
        .await
        .assert_problem(404);
    // One API reference: chat completions for its models, its prompt APIs' endpoints.
    let reference = bee
        .get(&format!(
            "/api/v1/tenants/bee/catalog/{product}/openapi.json"
        ))
        .await;
    assert_eq!(reference.status, 200, "{}", reference.text);
    assert_eq!(
        reference.body["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["properties"]["model"]["enum"],
        json!(["gpt"])
    );
    assert!(
        reference.body["paths"]["/prompts/sentiment"]["post"].is_object(),
        "{}",
        reference.text
    );
    let seen = cee.get("/api/v1/tenants/cee/catalog").await;
    assert_eq!(seen.body.as_array().unwrap().len(), 2, "{}", seen.text);
    assert_eq!(
        seen.body[1]["visible_to"],
        json!([]),
        "not whom else it shows to"
    );

    // bee's application, its key, its request.
    let application = bee
        .post(
            "/api/v1/tenants/bee/applications",
            json!({"name": "shop", "description": "The shop front"}),
        )
        .await;
    assert_eq!(application.status, 201, "{}", application.text);
    let app = application.body["id"].as_str().unwrap().to_string();
    let created_key = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/keys"),
            json!({"name": "shop-prod"}),
        )
        .await;
    assert_eq!(created_key.status, 201, "{}", created_key.text);
    let key = created_key.body["secret"].as_str().unwrap().to_string();
    bee.post(
        &format!("/api/v1/tenants/bee/applications/{app}/subscriptions"),
        json!({"product_id": hidden_id, "plan": "free"}),
    )
    .await
    .assert_problem(404);
    bee.post(
        &format!("/api/v1/tenants/bee/applications/{app}/subscriptions"),
        json!({"product_id": product, "plan": "gold"}),
    )
    .await
    .assert_problem(422);
    let requested = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/subscriptions"),
            json!({"product_id": product, "plan": "basic", "note": "for the shop"}),
        )
        .await;
    assert_eq!(requested.status, 201, "{}", requested.text);
    assert_eq!(requested.body["status"], "pending");
    let subscription = requested.body["id"].as_str().unwrap().to_string();

    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let route = |path: &str| {
        let url = format!("{base}{path}");
        let key = key.clone();
        move || client().get(&url).bearer_auth(&key)
    };
    let chat = {
        let key = key.clone();
        let base = base.clone();
        move || {
            client()
                .post(format!("{base}/v1/chat/completions"))
                .bearer_auth(&key)
                .json(&json!({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]}))
        }
    };
    let prompt = {
        let key = key.clone();
        let base = base.clone();
        move || {
            client()
                .post(format!("{base}/prompts/sentiment"))
                .bearer_auth(&key)
                .json(&json!({"text": "great"}))
        }
    };
    // Pending: nothing is reachable.
    for request in [
        Box::new(route("/orders/1")) as Box<dyn Fn() -> reqwest::RequestBuilder>,
        Box::new(chat.clone()),
        Box::new(prompt.clone()),
    ] {
        let (status, _, body) = call(request()).await;
        assert_eq!(status, 403, "{body}");
    }

    // The owner's inbox; a member of bee may not decide; the owner approves.
    let inbox = owner
        .get("/api/v1/tenants/default/subscriptions?status=pending")
        .await;
    assert_eq!(inbox.body.as_array().unwrap().len(), 1, "{}", inbox.text);
    assert_eq!(inbox.body[0]["consumer_tenant"], "bee");
    bee.post(
        &format!("/api/v1/tenants/bee/subscriptions/{subscription}/decision"),
        json!({"decision": "approve"}),
    )
    .await
    .assert_problem(403);
    let approved = owner
        .post(
            &format!("/api/v1/tenants/default/subscriptions/{subscription}/decision"),
            json!({"decision": "approve", "note": "welcome"}),
        )
        .await;
    assert_eq!(approved.body["status"], "approved", "{}", approved.text);
    let took = becomes(route("/orders/1"), 200).await;
    assert!(took < Duration::from_secs(1), "approval took {took:?}");
    let (status, _, body) = call(chat()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(prompt()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["output"], "Hello");
    // Its model list shows what the subscription reaches.
    let (_, _, models) = call(client().get(format!("{base}/v1/models")).bearer_auth(&key)).await;
    assert_eq!(models["data"][0]["id"], "gpt", "{models}");
    // A route of the owner outside the product stays out of reach.
    let (status, _, _) = call(route("/internal/x")()).await;
    assert_eq!(status, 403);

    // The plan's budget: $0.00005 at $1 per million tokens is 50 tokens; a call costs 18, so
    // the third call spends past it and the fourth is refused.
    let (status, _, body) = call(chat()).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = call(chat()).await;
    assert_eq!(status, 429, "{body}");
    assert!(body.to_string().contains("budget"), "{body}");
    // The plan's request limit: 8 a minute, 5 used.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(call(route("/orders/2")()).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 429], "{statuses:?}");

    // Suspended: refused within a second; resumed: through the door again (where the plan's
    // request limit, used up this minute, answers 429).
    let decision = format!("/api/v1/tenants/default/subscriptions/{subscription}/decision");
    let decide = |choice: &str| owner.post(&decision, json!({"decision": choice}));
    assert_eq!(decide("suspend").await.body["status"], "suspended");
    let took = becomes(route("/orders/3"), 403).await;
    assert!(took < Duration::from_secs(1), "suspension took {took:?}");
    assert_eq!(decide("resume").await.body["status"], "approved");
    becomes(route("/orders/3"), 429).await;

    // Revoked: refused within a second.
    let revoked = owner
        .post(
            &format!("/api/v1/tenants/default/subscriptions/{subscription}/decision"),
            json!({"decision": "revoke", "note": "contract ended"}),
        )
        .await;
    assert_eq!(revoked.body["status"], "revoked", "{}", revoked.text);
    let took = becomes(route("/orders/3"), 403).await;
    assert!(took < Duration::from_secs(1), "revocation took {took:?}");
    owner
        .post(
            &format!("/api/v1/tenants/default/subscriptions/{subscription}/decision"),
            json!({"decision": "approve"}),
        )
        .await
        .assert_problem(409);

    // A rejected request never reaches anything; both sides see every step.
    let again = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/subscriptions"),
            json!({"product_id": product, "plan": "basic"}),
        )
        .await;
    assert_eq!(again.status, 201, "{}", again.text);
    let again_id = again.body["id"].as_str().unwrap();
    let rejected = owner
        .post(
            &format!("/api/v1/tenants/default/subscriptions/{again_id}/decision"),
            json!({"decision": "reject", "note": "no"}),
        )
        .await;
    assert_eq!(rejected.body["status"], "rejected");
    let (status, _, _) = call(route("/orders/4")()).await;
    assert_eq!(status, 403);
    let detail = bee
        .get(&format!("/api/v1/tenants/bee/applications/{app}"))
        .await;
    let statuses: Vec<&str> = detail.body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["rejected", "revoked"], "{}", detail.text);
    assert_eq!(detail.body["keys"].as_array().unwrap().len(), 1);
    for (api, tenant) in [(&owner, "default"), (&bee, "bee")] {
        let audit = api.get(&format!("/api/v1/tenants/{tenant}/audit")).await;
        for action in [
            "subscription.request",
            "subscription.approve",
            "subscription.revoke",
            "subscription.reject",
        ] {
            assert!(audit.text.contains(action), "{tenant}: {action}");
        }
    }
    // An application's key cannot be given a reach of its own.
    let key_id = created_key.body["id"].as_str().unwrap();
    bee.patch(
        &format!("/api/v1/tenants/bee/keys/{key_id}"),
        json!({"scopes": {"routes": ["*"]}}),
    )
    .await
    .assert_problem(422);

    // Usage: the owner sees it by product and by application; bee sees its application's.
    let mut summary = Value::Null;
    for _ in 0..100 {
        summary = owner
            .get("/api/v1/tenants/default/usage/summary")
            .await
            .body;
        if summary["by_product"][0]["requests"].as_i64() >= Some(9) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(summary["by_product"][0]["name"], "Orders API", "{summary}");
    assert_eq!(
        summary["by_application"][0]["name"], "shop (bee)",
        "{summary}"
    );
    let usage = bee
        .get(&format!("/api/v1/tenants/bee/applications/{app}/usage"))
        .await;
    assert_eq!(
        usage.body["by_product"][0]["name"], "Orders API",
        "{}",
        usage.text
    );
    assert!(
        usage.body["total"]["cost_usd"].as_str().unwrap() != "0",
        "{}",
        usage.text
    );
    proxy.shutdown().await;
}

/// The same flow through the console's forms: publish, find, subscribe, approve, get a key.
#[tokio::test]
async fn the_console_portal_publishes_finds_subscribes_and_approves() {
    let mut server = TestServer::start().await;
    let proxy = TestProxy::start(&server).await;
    server
        .set_proxy_url(&format!("http://{}", proxy.traffic_addr()))
        .await;
    let owner = server.admin().await;
    let upstream = Upstream::start("orders", Behaviour::Echo).await;
    create_route(
        &owner,
        json!({"name": "orders", "path": "/orders", "targets": [{"url": upstream.url}]}),
    )
    .await;
    let (_, html) = owner
        .submit(
            "/t/default/portal/products",
            &[
                ("name", "orders-api"),
                ("title", "Orders API"),
                ("description", "Every order of the shop"),
                ("tags", "commerce"),
                ("routes", "orders"),
                ("visibility", "platform"),
                ("approval", "manual"),
                ("plan", "standard"),
                ("requests_per_minute", "100"),
                ("budget_usd", "5"),
            ],
        )
        .await;
    assert!(html.contains("Product “Orders API” published."), "{html}");
    assert!(html.contains("100 requests/min, $5.00 per month"), "{html}");

    let bee = server
        .user_with_role("bee", "dev@bee.example", "member")
        .await;
    let (_, html) = bee.page("/t/bee/portal?search=shop").await;
    assert!(
        html.contains("Orders API") && html.contains("routes: orders"),
        "{html}"
    );
    let (_, html) = bee
        .submit(
            "/t/bee/portal/applications",
            &[("name", "storefront"), ("description", "The web shop")],
        )
        .await;
    assert!(html.contains("Application “storefront”"), "{html}");
    let products = bee.get("/api/v1/tenants/bee/catalog").await;
    let product = products.body[0]["id"].as_str().unwrap().to_string();
    let (_, html) = bee.page(&format!("/t/bee/portal/products/{product}")).await;
    assert!(
        html.contains("Subscribe") && html.contains("standard"),
        "{html}"
    );
    let app = bee.get("/api/v1/tenants/bee/applications").await.body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, html) = bee
        .submit(
            &format!("/t/bee/portal/products/{product}/subscribe"),
            &[
                ("application", &app),
                ("plan", "standard"),
                ("note", "for the shop"),
            ],
        )
        .await;
    assert!(
        html.contains("Requested") && html.contains("pending"),
        "{html}"
    );

    let (_, html) = owner.page("/t/default/portal").await;
    assert!(
        html.contains("storefront (bee)") && html.contains("for the shop"),
        "{html}"
    );
    let subscription = owner
        .get("/api/v1/tenants/default/subscriptions?status=pending")
        .await
        .body[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, html) = owner
        .submit(
            &format!("/t/default/portal/subscriptions/{subscription}/decision"),
            &[("decision", "approve"), ("note", "enjoy")],
        )
        .await;
    assert!(
        html.contains("Orders API for storefront: approved."),
        "{html}"
    );
    // Approved subscriptions are listed for the owner to suspend, resume or revoke.
    assert!(
        html.contains("id=\"subscribers\"") && html.contains("Suspend"),
        "{html}"
    );
    let (_, html) = owner
        .submit(
            &format!("/t/default/portal/subscriptions/{subscription}/decision"),
            &[("decision", "suspend")],
        )
        .await;
    assert!(
        html.contains("Orders API for storefront: suspended."),
        "{html}"
    );
    let (_, html) = owner
        .submit(
            &format!("/t/default/portal/subscriptions/{subscription}/decision"),
            &[("decision", "resume"), ("note", "enjoy")],
        )
        .await;
    assert!(
        html.contains("Orders API for storefront: approved."),
        "{html}"
    );

    let (_, html) = bee
        .submit(
            &format!("/t/bee/portal/applications/{app}/keys"),
            &[("name", "production")],
        )
        .await;
    assert!(html.contains("New key") && html.contains("tg_"), "{html}");
    assert!(
        html.contains("approved") && html.contains("enjoy"),
        "{html}"
    );
    let secret = html
        .split("class=\"secret-value\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap()
        .to_string();
    tollgate_testkit::synced(&server, &proxy).await;
    // The product page's try-it calls the proxy with the reader's key.
    let (_, html) = bee
        .submit(
            &format!("/t/bee/portal/products/{product}/try"),
            &[
                ("key", &secret),
                ("method", "GET"),
                ("path", "/orders/7"),
                ("body", ""),
            ],
        )
        .await;
    assert!(html.contains("HTTP 200 in"), "{html}");
    assert!(
        html.contains("/orders/7") && !html.contains(&secret),
        "{html}"
    );
    // Its API reference is Swagger UI, served offline by the server.
    let (status, html) = bee
        .page(&format!("/t/bee/portal/products/{product}/docs"))
        .await;
    assert_eq!(status, 200);
    assert!(html.contains("/api/docs/swagger-ui-bundle.js"), "{html}");
    let (status, _) = bee.page("/api/docs/swagger-ui-bundle.js").await;
    assert_eq!(status, 200);
    let (status, _, body) = call(
        client()
            .get(format!("http://{}/orders/1", proxy.traffic_addr()))
            .bearer_auth(&secret),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    proxy.shutdown().await;
}

/// An MCP server and a prompt API of one tenant, reached as MCP tools by another tenant's
/// application through a product.
#[tokio::test]
async fn mcp_servers_of_a_product_are_reached_through_the_subscription() {
    let server = TestServer::start().await;
    let owner = server.admin().await;
    let weather = tollgate_testkit::McpUpstream::start(crate::mcp::WEATHER).await;
    let created = owner
        .post(
            "/api/v1/tenants/default/mcp-servers",
            json!({"name": "weather", "url": weather.url, "bearer_token": "upstream-secret-a"}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    mock_provider(&owner, "mock", false).await;
    owner
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt", "deployments": [{"provider": "mock", "model": "m"}],
                   "prices": {"input_per_mtok": "1", "output_per_mtok": "1"}}),
        )
        .await;
    owner
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "sentiment", "model": "gpt",
                   "messages": [{"role": "user", "content": "{{text}}"}],
                   "variables": [{"name": "text", "required": true}]}),
        )
        .await;
    let product = owner
        .post(
            "/api/v1/tenants/default/products",
            json!({"name": "weather-tools", "title": "Weather tools", "mcp_servers": ["weather"],
                   "prompt_apis": ["sentiment"], "visibility": "platform", "approval": "automatic",
                   "plans": [{"name": "free", "limits": {"requests_per_minute": 3}}]}),
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
    let key = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/keys"),
            json!({"name": "k"}),
        )
        .await
        .body["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let proxy = TestProxy::start(&server).await;
    let base = format!("http://{}", proxy.traffic_addr());
    let rpc_at = |path: &str, method: &str, params: Value| {
        client()
            .post(format!("{base}{path}"))
            .bearer_auth(&key)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}))
    };
    let rpc = |method: &str, params: Value| rpc_at("/mcp/weather", method, params);
    let (status, _, _) = call(rpc("tools/list", json!({}))).await;
    assert_eq!(status, 404, "no subscription: no such server for this key");

    let subscribed = bee
        .post(
            &format!("/api/v1/tenants/bee/applications/{app}/subscriptions"),
            json!({"product_id": product.body["id"], "plan": "free"}),
        )
        .await;
    assert_eq!(subscribed.body["status"], "approved", "{}", subscribed.text);
    becomes(|| rpc("tools/list", json!({})), 200).await;
    let (_, _, listed) = call(rpc("tools/list", json!({}))).await;
    assert!(listed.to_string().contains("forecast"), "{listed}");
    // The product's prompt API, as a tool, billed through the subscription.
    let (_, _, prompts) = call(rpc_at("/mcp/prompt-apis", "tools/list", json!({}))).await;
    assert_eq!(
        prompts["result"]["tools"][0]["name"], "sentiment",
        "{prompts}"
    );
    let (_, _, ran) = call(rpc_at(
        "/mcp/prompt-apis",
        "tools/call",
        json!({"name": "sentiment", "arguments": {"text": "great"}}),
    ))
    .await;
    assert_eq!(ran["result"]["content"][0]["text"], "Hello", "{ran}");
    let forecast = json!({"name": "forecast", "arguments": {"city": "Rome"}});
    let (_, _, answer) = call(rpc("tools/call", forecast.clone())).await;
    assert_eq!(
        answer["result"]["content"][0]["text"], "Sunny in Rome",
        "{answer}"
    );
    // The plan's three calls a minute: the prompt API's and two forecasts.
    let (_, _, third) = call(rpc("tools/call", forecast.clone())).await;
    assert!(third["result"].is_object(), "{third}");
    let (_, _, refused) = call(rpc("tools/call", forecast)).await;
    assert_eq!(refused["error"]["code"], -32002, "{refused}");
    // Each call is metered against the subscription.
    let subscription = subscribed.body["id"].as_str().unwrap().to_string();
    let mut counted = 0;
    for _ in 0..100 {
        counted = sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM usage_events WHERE subscription_id = $1::uuid
               AND (mcp_tool = 'forecast' OR (mcp_tool = 'sentiment' AND cost_nanousd > 0))",
        )
        .bind(&subscription)
        .fetch_one(&server.db)
        .await
        .unwrap();
        if counted >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counted, 4);
    proxy.shutdown().await;
}
