//! The console's pages, rendered by the real server for users of each role: what they show,
//! what they hide, and that forms are guarded against cross-site requests.

use reqwest::StatusCode;
use serde_json::json;

use tollgate_testkit::RoleUsers;
use tollgate_testkit::{csrf_token_for, TestServer, ADMIN_EMAIL, ADMIN_PASSWORD};

/// Every page of a tenant, by path suffix.
const PAGES: [&str; 10] = [
    "",
    "/keys",
    "/providers",
    "/models",
    "/prompt-apis",
    "/routes",
    "/usage",
    "/members",
    "/audit",
    "/tokens",
];

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let server = TestServer::start().await;
    let browser = server.anonymous();
    let (status, html) = browser.page("/t/default/keys").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("Sign in to Tollgate"), "{html}");
    assert!(
        html.contains("value=\"/t/default/keys\""),
        "comes back after sign-in: {html}"
    );
    // A form posted after the session ended goes to sign-in, then back to the page it was on.
    // (The browser has no session cookie: the form's token is the one of no session.)
    let no_session_token = tollgate_console::form_token(None, "/t/default/keys");
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/t/default/keys", server.base))
        .header("referer", format!("{}/t/default/keys?x=1", server.base))
        .form(&[("csrf", no_session_token.as_str()), ("name", "late")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        response.headers()["location"],
        "/login?next=%2Ft%2Fdefault%2Fkeys%3Fx%3D1"
    );
    // The stylesheet is our own and served by the console.
    let page = reqwest::get(format!("{}/login", server.base))
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let (status, css) = browser.page("/assets/console.css").await;
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains(":focus-visible"));
}

#[tokio::test]
async fn signing_in_through_the_form_lands_on_the_dashboard() {
    let server = TestServer::start().await;
    let browser = server.anonymous();
    let (status, html) = browser
        .submit(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", "wrong password!"),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(html.contains("flash error"), "{html}");
    let (status, html) = browser
        .submit(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("next", "/"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<h1>Dashboard</h1>"), "{html}");
    assert!(html.contains("Spend by model"));
    assert!(html.contains("<svg"));
    // Only paths on this site are followed after signing in.
    let (_, html) = browser
        .submit(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert!(html.contains("<h1>Dashboard</h1>"));
    // Signing out ends the session for the API too.
    let (_, html) = browser.submit("/logout", &[]).await;
    assert!(html.contains("You are signed out."), "{html}");
    assert_eq!(
        browser.get("/api/v1/me").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn the_console_shows_the_api_lock_out() {
    let server = TestServer::start().await;
    let browser = server.anonymous();
    let mut last = (StatusCode::OK, String::new());
    for _ in 0..4 {
        last = browser
            .submit(
                "/login",
                &[("email", ADMIN_EMAIL), ("password", "guess-guess")],
            )
            .await;
    }
    assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS, "{}", last.1);
    assert!(last.1.contains("flash error"));
}

#[tokio::test]
async fn each_role_sees_what_it_may_do_and_no_more() {
    let server = TestServer::start().await;
    let RoleUsers {
        viewer,
        member,
        admin,
        owner,
    } = server.users_of_every_role("acme").await;

    for (who, browser) in [
        ("viewer", &viewer),
        ("member", &member),
        ("admin", &admin),
        ("owner", &owner),
    ] {
        for page in PAGES {
            let (status, html) = browser.page(&format!("/t/acme{page}")).await;
            assert_eq!(status, StatusCode::OK, "{who} on {page}: {html}");
            assert!(
                html.contains("<nav aria-label=\"Sections\""),
                "{who} on {page}"
            );
            assert!(
                html.contains(&format!("<span class=\"role\">{who}</span>")),
                "{who} on {page}"
            );
        }
    }
    let shows = |html: &str, text: &str| html.contains(text);

    let (_, keys) = viewer.page("/t/acme/keys").await;
    assert!(!shows(&keys, "Create a key"), "viewers do not create keys");
    let (_, keys) = member.page("/t/acme/keys").await;
    assert!(shows(&keys, "Create a key"));

    let (_, prompts) = viewer.page("/t/acme/prompt-apis").await;
    assert!(!shows(&prompts, "Create a prompt API"));
    let (_, prompts) = member.page("/t/acme/prompt-apis").await;
    assert!(shows(&prompts, "Create a prompt API"));

    for section in ["providers", "models", "routes"] {
        let (_, html) = member.page(&format!("/t/acme/{section}")).await;
        assert!(
            !shows(&html, "<h2>Add a"),
            "members do not manage {section}"
        );
        let (_, html) = admin.page(&format!("/t/acme/{section}")).await;
        assert!(shows(&html, "<h2>Add a"), "admins manage {section}");
    }

    let (_, members) = member.page("/t/acme/members").await;
    assert!(!shows(&members, "Invite a member"));
    assert!(!shows(&members, "Create a tenant"));
    let (_, members) = admin.page("/t/acme/members").await;
    assert!(shows(&members, "Invite a member"));
    assert!(
        !shows(&members, "<option value=\"owner\""),
        "only owners grant owner"
    );
    let (_, members) = owner.page("/t/acme/members").await;
    assert!(shows(&members, "<option value=\"owner\""));
    assert!(
        !shows(&members, "Create a tenant"),
        "only platform admins create tenants"
    );
    let platform = server.admin().await;
    let (_, members) = platform.page("/t/acme/members").await;
    assert!(shows(&members, "Create a tenant"));

    // A user sees only their tenants: the switcher lists acme alone, and default is not found.
    let (_, dashboard) = viewer.page("/t/acme").await;
    assert!(
        !dashboard.contains("<option value=\"default\""),
        "{dashboard}"
    );
    let (status, _) = viewer.page("/t/default/keys").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn forms_change_things_through_the_api() {
    let server = TestServer::start().await;
    let member = server
        .user_with_role("acme", "member@acme.example", "member")
        .await;

    let (status, html) = member
        .submit(
            "/t/acme/keys",
            &[
                ("name", "billing"),
                ("requests_per_minute", "120"),
                ("budget_usd", "25"),
                ("budget_period", "month"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("It will not be shown again"), "{html}");
    let secret_start = html.find("tg_").expect("the secret is shown");
    let secret = &html[secret_start..secret_start + 43];
    let keys = member.get("/api/v1/tenants/acme/keys").await;
    let key = &keys.body[0];
    assert_eq!(key["name"], "billing");
    assert_eq!(key["limits"]["requests_per_minute"], 120);
    assert_eq!(key["budget_spent_usd"], "0.00");
    assert!(secret.starts_with(key["prefix"].as_str().unwrap()));

    // Shown once: the list never shows it again.
    let (_, list) = member.page("/t/acme/keys").await;
    assert!(!list.contains(secret));
    assert!(list.contains("$0.00 of $25.00 / month"), "{list}");

    // A mistake comes back as a flash message from the API, nothing is created.
    let (_, html) = member.submit("/t/acme/keys", &[("name", "")]).await;
    assert!(html.contains("flash error"), "{html}");
    assert_eq!(
        member
            .get("/api/v1/tenants/acme/keys")
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Editing and revoking.
    let id = key["id"].as_str().unwrap();
    let (_, html) = member
        .submit(
            &format!("/t/acme/keys/{id}"),
            &[("name", "billing-v2"), ("tokens_per_minute", "5000")],
        )
        .await;
    assert!(html.contains("saved"), "{html}");
    let key = member
        .get(&format!("/api/v1/tenants/acme/keys/{id}"))
        .await
        .body;
    assert_eq!(key["name"], "billing-v2");
    assert_eq!(key["limits"]["tokens_per_minute"], 5000);
    assert_eq!(
        key["budget"],
        serde_json::Value::Null,
        "an emptied budget is removed"
    );
    let (_, html) = member
        .submit(&format!("/t/acme/keys/{id}/revoke"), &[])
        .await;
    assert!(html.contains("Key revoked."), "{html}");
    let key = member
        .get(&format!("/api/v1/tenants/acme/keys/{id}"))
        .await
        .body;
    assert_eq!(key["status"], "revoked");

    // The audit log page shows what happened.
    let (_, audit) = member.page("/t/acme/audit").await;
    assert!(audit.contains("api_key"), "{audit}");

    // A member may not add a provider: the API refuses, and the page says why.
    let (_, html) = member
        .submit(
            "/t/acme/providers",
            &[("name", "p"), ("kind", "openai"), ("api_key", "sk-x")],
        )
        .await;
    assert!(html.contains("may not manage providers"), "{html}");
}

#[tokio::test]
async fn admins_manage_routes_models_and_members_from_forms() {
    let server = TestServer::start().await;
    let admin = server
        .user_with_role("acme", "admin@acme.example", "admin")
        .await;
    server.give_request_space("acme").await;
    let (_, html) = admin
        .submit(
            "/t/acme/routes",
            &[
                ("name", "orders"),
                ("hosts", "api.example.com"),
                ("path", "/orders"),
                ("match", "prefix"),
                ("methods", "GET"),
                ("methods", "POST"),
                ("targets", "http://127.0.0.1:9 3\nhttp://127.0.0.1:10"),
                ("timeout", "5s"),
                ("retries", "2"),
                ("require_key", "on"),
            ],
        )
        .await;
    assert!(html.contains("Route “orders” added"), "{html}");
    let route = &admin.get("/api/v1/tenants/acme/routes").await.body[0];
    assert_eq!(route["methods"], json!(["GET", "POST"]));
    assert_eq!(route["targets"][0]["weight"], 3);
    assert_eq!(route["targets"][1]["weight"], 1);
    assert_eq!(route["retries"], 2);

    let (_, html) = admin
        .submit(
            "/t/acme/providers",
            &[
                ("name", "local"),
                ("kind", "openai_compatible"),
                ("base_url", "http://127.0.0.1:9/v1"),
                ("api_key", "sk-secret-value-123"),
            ],
        )
        .await;
    assert!(html.contains("Provider “local” added"), "{html}");
    assert!(
        !html.contains("sk-secret-value-123"),
        "credentials are write-only"
    );
    let (_, html) = admin
        .submit(
            "/t/acme/models",
            &[
                ("name", "chat"),
                ("deployments", "local llama-3 2 0"),
                ("input_per_mtok", "0.50"),
                ("output_per_mtok", "1.50"),
            ],
        )
        .await;
    assert!(html.contains("Model “chat” added"), "{html}");
    let model = &admin.get("/api/v1/tenants/acme/models").await.body[0];
    assert_eq!(model["deployments"][0]["weight"], 2);
    assert_eq!(model["prices"]["output_per_mtok"], "1.50");

    let (_, html) = admin
        .submit(
            "/t/acme/members",
            &[("email", "new@acme.example"), ("role", "viewer")],
        )
        .await;
    assert!(html.contains("Invitation for new@acme.example"), "{html}");
    let link_start = html.find("/invitations/tgi_").expect("the invitation link");
    let link: String = html[link_start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '_'))
        .collect();
    // The invited person opens the link and picks a password.
    let invited = server.anonymous();
    let (status, page) = invited.page(&link).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Accept the invitation"), "{page}");
    let (_, html) = invited
        .submit(&link, &[("password", "a-long-password-1")])
        .await;
    assert!(html.contains("Your account is ready"), "{html}");
    // Admins cannot grant owner, whatever the form says: the API decides.
    let members = admin.get("/api/v1/tenants/acme/members").await.body;
    let new_id = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "new@acme.example")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, html) = admin
        .submit(&format!("/t/acme/members/{new_id}"), &[("role", "owner")])
        .await;
    assert!(html.contains("flash error"), "{html}");
}

#[tokio::test]
async fn cross_site_form_posts_are_refused() {
    let server = TestServer::start().await;
    let member = server
        .user_with_role("acme", "member@acme.example", "member")
        .await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let cookie = member_cookie(&server, "member@acme.example").await;
    let page = client
        .get(format!("{}/t/acme/keys", server.base))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let token = csrf_token_for(&page, "/t/acme/keys").unwrap();

    // Another site's page posting a form: the browser says where it comes from.
    for (origin, fetch_site) in [
        ("http://evil.example", "cross-site"),
        ("null", "cross-site"),
    ] {
        let response = client
            .post(format!("{}/t/acme/keys", server.base))
            .header("cookie", &cookie)
            .header("origin", origin)
            .header("sec-fetch-site", fetch_site)
            .form(&[("csrf", token.as_str()), ("name", "stolen")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    // Without the session's token (a forged form), even from no stated origin.
    for token in ["", "0000000000000000000000000000000000000000"] {
        let response = client
            .post(format!("{}/t/acme/keys", server.base))
            .header("cookie", &cookie)
            .form(&[("csrf", token), ("name", "stolen")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
    }
    // A token belongs to its session: another user's token does not work with this cookie.
    let other = server
        .user_with_role("acme", "other@example.com", "member")
        .await;
    let (_, other_page) = other.page("/t/acme/keys").await;
    let other_token = csrf_token_for(&other_page, "/t/acme/keys").unwrap();
    assert_ne!(other_token, token);
    let response = client
        .post(format!("{}/t/acme/keys", server.base))
        .header("cookie", &cookie)
        .form(&[("csrf", other_token.as_str()), ("name", "stolen")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    let keys = member.get("/api/v1/tenants/acme/keys").await.body;
    assert_eq!(keys, json!([]), "nothing was created");

    // The same form from the console itself, with its token, goes through.
    let response = client
        .post(format!("{}/t/acme/keys", server.base))
        .header("cookie", &cookie)
        .header("origin", &server.base)
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", token.as_str()), ("name", "legit")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let keys = member.get("/api/v1/tenants/acme/keys").await.body;
    assert_eq!(keys[0]["name"], "legit");
}

/// A fresh session cookie for a user, as a raw `Cookie` header.
async fn member_cookie(server: &TestServer, email: &str) -> String {
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/auth/login", server.base))
        .json(&json!({"email": email, "password": "user-password-1"}))
        .send()
        .await
        .unwrap();
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    set_cookie.split(';').next().unwrap().to_string()
}

/// Stores `count` AI calls of a model by a key, one per minute back from now, every fifth a 502,
/// through the proxies' usage endpoint.
async fn ingest_calls(server: &TestServer, key_id: &str, model_id: &str, count: usize) {
    let tenant: uuid::Uuid = sqlx::query_scalar("SELECT id FROM tenants WHERE slug = 'acme'")
        .fetch_one(&server.db)
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    // Oldest first, so ids (UUID v7) grow with time as a proxy's do.
    let events: Vec<serde_json::Value> = (0..count)
        .rev()
        .map(|i| {
            let failed = i % 5 == 4;
            let time = now - time::Duration::minutes(i as i64 + 1);
            json!({"id": uuid::Uuid::now_v7(), "time": time.format(&time::format_description::well_known::Rfc3339).unwrap(),
                "tenant_id": tenant, "key_id": key_id, "route_id": null, "method": "POST",
                "status": if failed { 502 } else { 200 }, "latency_us": 250_000, "upstream_latency_us": null,
                "bytes_in": 100, "bytes_out": 200, "error_class": if failed { json!("upstream_error") } else { json!(null) },
                "ai": if failed { json!(null) } else { json!({"model_id": model_id, "provider_id": null,
                    "upstream_model": "mock-mini", "input_tokens": 1000, "cached_input_tokens": 0,
                    "output_tokens": 500, "estimated": false, "cost_nanousd": 450_000, "ttft_us": null,
                    "fallbacks": 0, "streamed": false}) }})
        })
        .collect();
    let proxy = tollgate_testkit::Api::with_bearer(&server.base, tollgate_testkit::PROXY_TOKEN);
    let stored = proxy
        .post(
            "/internal/v1/usage",
            json!({"dataplane_id": uuid::Uuid::now_v7(), "events": events}),
        )
        .await;
    assert_eq!(stored.body["stored"], count, "{}", stored.text);
}

#[tokio::test]
async fn usage_log_filters_pages_and_exports_csv_and_the_dashboard_adds_it_up() {
    let server = TestServer::start().await;
    let admin = server
        .user_with_role("acme", "admin@acme.example", "admin")
        .await;
    let provider = admin
        .post(
            "/api/v1/tenants/acme/providers",
            json!({"name": "p", "kind": "openai_compatible", "base_url": "http://127.0.0.1:9/v1"}),
        )
        .await;
    assert_eq!(provider.status, 201, "{}", provider.text);
    let model = admin
        .post(
            "/api/v1/tenants/acme/models",
            json!({"name": "chat", "deployments": [{"provider": "p", "model": "mock-mini"}],
                   "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}),
        )
        .await;
    let key = admin
        .post(
            "/api/v1/tenants/acme/keys",
            json!({"name": "=cmd|calc", "budget": {"amount_usd": "1", "period": "month"}}),
        )
        .await;
    let (model_id, key_id) = (
        model.body["id"].as_str().unwrap(),
        key.body["id"].as_str().unwrap(),
    );
    ingest_calls(&server, key_id, model_id, 60).await;

    // 60 calls: the first page holds 50, newest first, with cost and tokens per call.
    let (status, html) = admin.page("/t/acme/usage").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(html.matches("<tr>").count(), 51, "header + 50 rows");
    assert!(html.contains("chat → mock-mini"), "{html}");
    assert!(html.contains("$0.00045"), "{html}");
    assert!(html.contains("1,000 / 500"));
    let older = html.find("before=").expect("a link to older requests");
    let href_start = html[..older].rfind("href=\"").unwrap() + 6;
    let href_end = href_start + html[href_start..].find('"').unwrap();
    let (_, older_page) = admin
        .page(&html[href_start..href_end].replace("&amp;", "&"))
        .await;
    assert_eq!(older_page.matches("<tr>").count(), 11, "the other 10");

    // Filters: only the failures.
    let (_, failures) = admin.page("/t/acme/usage?status=5xx").await;
    assert_eq!(failures.matches("<tr>").count(), 13, "header + 12 failures");
    assert!(failures.contains("upstream_error"));
    // A bad filter is explained, not a dead end.
    let (status, bad) = admin.page("/t/acme/usage?status=9xx").await;
    assert_eq!(status, StatusCode::OK);
    assert!(bad.contains("is not a code like 429"), "{bad}");

    // CSV: every matching call, with exact cost; spreadsheet formulas defused.
    let (status, text) = admin.page("/t/acme/usage.csv").await;
    assert_eq!(status, StatusCode::OK);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 61, "header + 60 calls");
    assert!(lines[0].starts_with("id,time,key,route,model,"));
    assert!(lines[1].contains(",'=cmd|calc,"), "{}", lines[1]);
    assert!(
        lines[1].ends_with(",1000,0,0,500,false,0.00045,,"),
        "{}",
        lines[1]
    );
    let (_, failures_csv) = admin.page("/t/acme/usage.csv?status=502").await;
    assert_eq!(failures_csv.lines().count(), 13);

    // The dashboard adds it up: 48 calls at $0.00045 = $0.0216, 20% errors, the key's budget.
    let (_, dashboard) = admin.page("/t/acme").await;
    assert!(
        dashboard.contains("<span class=\"value\">$0.0216</span>"),
        "{dashboard}"
    );
    assert!(dashboard.contains("<span class=\"value\">20.0%</span>"));
    assert!(dashboard.contains("<span class=\"value\">48,000 / 24,000</span>"));
    assert!(
        dashboard.contains("$0.0216</td><td class=\"num\">$1.00</td>"),
        "budget row"
    );
    assert!(dashboard.contains("<title>"), "chart values on hover");
    let (_, week) = admin.page("/t/acme?range=7d").await;
    assert!(week.contains("The last 7 days"));
    assert!(week.contains("$0.0216"));
}

#[tokio::test]
async fn detail_pages_offer_edits_only_to_those_allowed_and_lose_nothing() {
    let server = TestServer::start().await;
    let viewer = server
        .user_with_role("acme", "viewer@acme.example", "viewer")
        .await;
    let admin = server
        .user_with_role("acme", "admin@acme.example", "admin")
        .await;
    let model = admin.chat_model("acme").await;
    let few_shot = json!([
        {"role": "system", "content": "Classify sentiment."},
        {"role": "user", "content": "I love it"},
        {"role": "assistant", "content": "positive"},
        {"role": "user", "content": "{{text}}"}
    ]);
    let prompt = admin
        .post(
            "/api/v1/tenants/acme/prompt-apis",
            json!({"slug": "sentiment", "model": "chat", "messages": few_shot,
                   "variables": [{"name": "text", "type": "string", "required": true}]}),
        )
        .await;
    assert_eq!(prompt.status, 201, "{}", prompt.text);
    let key = admin
        .post("/api/v1/tenants/acme/keys", json!({"name": "k"}))
        .await;
    let pages = [
        format!("/t/acme/keys/{}", key.body["id"].as_str().unwrap()),
        format!("/t/acme/models/{}", model["id"].as_str().unwrap()),
        format!(
            "/t/acme/prompt-apis/{}",
            prompt.body["id"].as_str().unwrap()
        ),
    ];
    for page in &pages {
        let (status, html) = viewer.page(page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(!html.contains("class=\"card danger\""), "viewer on {page}");
        assert!(!html.contains(">Save"), "viewer on {page}");
        let (_, html) = admin.page(page).await;
        assert!(html.contains("class=\"card danger\""), "admin on {page}");
        assert!(html.contains(">Save"), "admin on {page}");
    }

    // A few-shot template is edited whole, so saving from the console keeps every turn.
    let (_, html) = admin.page(&pages[2]).await;
    assert!(html.contains("Messages (JSON)"), "{html}");
    let (_, html) = admin
        .submit(
            &pages[2].clone(),
            &[
                ("slug", "sentiment"),
                ("description", "now described"),
                ("model", "chat"),
                ("messages_json", &few_shot.to_string()),
                ("variables", "text string required"),
            ],
        )
        .await;
    assert!(html.contains("Saved as version 2"), "{html}");
    let saved = admin
        .get(&format!(
            "/api/v1/tenants/acme/prompt-apis/{}",
            prompt.body["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(saved.body["messages"], few_shot);
    assert_eq!(saved.body["description"], "now described");
}

/// Stored text is shown as text everywhere, textareas included, and a form's token works only
/// for its own action: markup that smuggles a `formaction` into a form gains nothing.
#[tokio::test]
async fn stored_markup_stays_text_and_tokens_are_bound_to_their_form() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server
        .user_with_role("default", "member@acme.example", "member")
        .await;
    let members = admin.get("/api/v1/tenants/default/members").await.body;
    let member_id = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "member@acme.example")
        .and_then(|m| m["user_id"].as_str())
        .unwrap()
        .to_string();
    admin.chat_model("default").await;
    let payload = format!(
        "</textarea><meta http-equiv=\"refresh\" content=\"0;url=//evil.example\">\
         <button formaction=\"/t/default/members/{member_id}\" style=\"position:fixed;inset:0;opacity:0\">\
         <input type=\"hidden\" name=\"role\" value=\"owner\"></button><textarea>"
    );
    let prompt = admin
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "p", "model": "chat",
                   "messages": [{"role": "user", "content": payload}]}),
        )
        .await;
    assert_eq!(prompt.status, 201, "{}", prompt.text);
    let id = prompt.body["id"].as_str().unwrap();
    let edit = format!("/t/default/prompt-apis/{id}");
    let (status, html) = admin.page(&edit).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!html.contains("<meta http-equiv"), "{html}");
    assert!(!html.contains("<button formaction"), "{html}");
    assert!(html.contains("&lt;/textarea&gt;"), "{html}");

    // The edit form's token, sent to another action (what an injected formaction would do).
    let token = csrf_token_for(&html, &edit).expect("the edit form has a token");
    let (status, _) = admin
        .post_form_with_token(
            &format!("/t/default/members/{member_id}"),
            &token,
            &[("role", "owner")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let members = admin.get("/api/v1/tenants/default/members").await.body;
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["role"] != "owner" || m["email"] != "member@acme.example"),
        "{members}"
    );
    drop(member);
}

#[tokio::test]
async fn the_routes_page_says_where_the_tenants_routes_may_live() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (_, html) = admin.page("/t/default/routes").await;
    assert!(
        html.contains("Routes of this tenant may serve: any host /."),
        "{html}"
    );
    let acme = server
        .user_with_role("acme", "admin@acme.example", "admin")
        .await;
    let (_, html) = acme.page("/t/acme/routes").await;
    assert!(html.contains("no part of the request space yet"), "{html}");
}

#[tokio::test]
async fn platform_admins_set_egress_quotas_and_namespaces_from_the_console() {
    let server = TestServer::start().await;
    let owner = server
        .user_with_role("acme", "owner@acme.example", "owner")
        .await;
    let (status, html) = owner.page("/t/acme/platform").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{html}");
    let (_, html) = owner.page("/t/acme/routes").await;
    assert!(!html.contains("/t/acme/platform"), "{html}");

    let admin = server.admin().await;
    let (status, html) = admin.page("/t/default/platform").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("Egress policy") && html.contains("acme"),
        "{html}"
    );
    let (_, html) = admin
        .submit(
            "/t/default/platform/egress",
            &[("allow", "127.0.0.1/32\n10.1.0.0/16"), ("deny", "")],
        )
        .await;
    assert!(html.contains("Egress policy saved."), "{html}");
    let egress = admin.get("/api/v1/settings/egress").await.body;
    assert_eq!(
        egress,
        json!({"allow": ["127.0.0.1/32", "10.1.0.0/16"], "deny": [], "allow_private": false})
    );
    let (_, html) = admin
        .submit(
            "/t/default/platform/quotas",
            &[("max_routes", "12"), ("max_keys", "")],
        )
        .await;
    assert!(html.contains("Quotas saved."), "{html}");
    let quotas = admin.get("/api/v1/settings/quotas").await.body;
    assert_eq!(quotas["max_routes"], 12);
    assert_eq!(quotas["max_keys"], 10_000);
    let (_, html) = admin
        .submit(
            "/t/default/platform/namespaces/acme",
            &[("parts", "acme.example /\n/acme")],
        )
        .await;
    assert!(html.contains("Namespace of acme saved."), "{html}");
    let namespace = admin.get("/api/v1/tenants/acme/namespace").await.body;
    assert_eq!(
        namespace,
        json!({"parts": [{"host": null, "path_prefix": "/acme"},
                         {"host": "acme.example", "path_prefix": "/"}]})
    );
    // A part another tenant holds is refused, with the reason on the page.
    let (_, html) = admin
        .submit("/t/default/platform/namespaces/acme", &[("parts", "* /")])
        .await;
    assert!(
        html.contains("flash error") && html.contains("default"),
        "{html}"
    );
}

#[tokio::test]
async fn admins_manage_services_and_point_routes_at_them_from_forms() {
    let server = TestServer::start().await;
    let admin = server
        .user_with_role("acme", "admin@acme.example", "admin")
        .await;
    server.give_request_space("acme").await;
    let (_, html) = admin
        .submit(
            "/t/acme/services",
            &[
                ("name", "orders"),
                (
                    "targets",
                    "http://127.0.0.1:9 3 v1\nhttp://127.0.0.1:10 1 v2",
                ),
                ("connect_timeout", "2s"),
                ("check_path", "/healthz"),
                ("check_interval", "5s"),
            ],
        )
        .await;
    assert!(html.contains("Service “orders” added"), "{html}");
    let service = &admin.get("/api/v1/tenants/acme/services").await.body[0];
    assert_eq!(service["targets"][0]["subset"], "v1");
    assert_eq!(service["targets"][0]["weight"], 3);
    assert_eq!(service["health_check"]["path"], "/healthz");
    assert_eq!(service["health_check"]["unhealthy_threshold"], 3);

    let (_, html) = admin
        .submit(
            "/t/acme/routes",
            &[
                ("name", "canary"),
                ("path", "/orders"),
                ("match", "prefix"),
                ("destinations", "orders v1 90\norders v2 10"),
                ("require_key", "on"),
            ],
        )
        .await;
    assert!(html.contains("Route “canary” added"), "{html}");
    assert!(html.contains("orders v1 ×90"), "{html}");
    let route = &admin.get("/api/v1/tenants/acme/routes").await.body[0];
    assert_eq!(route["destinations"][1]["weight"], 10);

    // A mistake comes back as the API's message, and nothing is stored.
    let (_, html) = admin
        .submit(
            "/t/acme/routes",
            &[("name", "bad"), ("path", "/bad"), ("service", "missing")],
        )
        .await;
    assert!(html.contains("does not have"), "{html}");
    let (_, html) = admin.page("/t/acme/services").await;
    assert!(html.contains("GET /healthz every 5s"), "{html}");
}

#[tokio::test]
async fn the_configuration_page_shows_the_document_and_the_recent_applies() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (_, html) = admin.page("/t/default/config").await;
    assert!(html.contains("No document has been applied"), "{html}");
    let applied = admin
        .send_with_headers(
            reqwest::Method::POST,
            "/api/v1/tenants/default/config:apply",
            "application/yaml",
            "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: orders}\nspec:\n  targets: [{url: 'http://10.0.0.5:8080', subset: v1}]\n",
            &[],
        )
        .await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    let (status, html) = admin.page("/t/default/config").await;
    assert_eq!(status, 200);
    assert!(html.contains("kind: Service"), "{html}");
    assert!(html.contains("create Service orders"), "{html}");
    let changed = admin
        .send_with_headers(
            reqwest::Method::POST,
            "/api/v1/tenants/default/config:apply",
            "application/yaml",
            "apiVersion: tollgate.dev/v1\nkind: Service\nmetadata: {name: orders}\nspec:\n  targets: [{url: 'http://10.0.0.5:8080', subset: v1}]\n  connect_timeout: 2s\n",
            &[],
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.text);
    let (_, html) = admin.page("/t/default/config").await;
    assert!(
        html.contains("update Service orders (connect_timeout)"),
        "{html}"
    );
    let (status, yaml) = admin.page("/t/default/config/tenant.yaml").await;
    assert_eq!(status, 200);
    assert!(yaml.starts_with("apiVersion: tollgate.dev/v1"), "{yaml}");
    assert!(yaml.contains("subset: v1"), "{yaml}");
}

#[tokio::test]
async fn platform_admins_manage_users_and_sign_in_from_the_console() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let dana = server
        .user_with_role("default", "dana@example.com", "member")
        .await;
    let (status, html) = dana.page("/t/default/users").await;
    assert_eq!(status, 403, "{html}");
    assert!(!html.contains("Users</a>"), "{html}");

    let (status, html) = admin.page("/t/default/users").await;
    assert_eq!(status, 200);
    assert!(html.contains("dana@example.com"), "{html}");
    let id = admin.id_of_user("dana@example.com").await;
    let (_, html) = admin
        .submit(&format!("/t/default/users/{id}/disable"), &[])
        .await;
    assert!(html.contains("User disabled"), "{html}");
    assert_eq!(dana.get("/api/v1/me").await.status, 401);
    admin
        .submit(&format!("/t/default/users/{id}/enable"), &[])
        .await;

    // A reset link, shown once, sets a new password from its own page.
    let (_, html) = admin
        .submit(&format!("/t/default/users/{id}/reset"), &[])
        .await;
    let link = html
        .split("/reset-password?token=")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .unwrap_or_else(|| panic!("no link in {html}"));
    let visitor = server.anonymous();
    let path = format!("/reset-password?token={link}");
    let (status, page) = visitor.page(&path).await;
    assert_eq!(status, 200, "{page}");
    let token = visitor.form_token("/reset-password").await;
    let (_, after) = visitor
        .post_form_with_token(
            "/reset-password",
            &token,
            &[
                ("token", link),
                ("new_password", "dana-new-password-1"),
                ("confirm_password", "dana-new-password-1"),
            ],
        )
        .await;
    assert!(after.contains("Your password is set"), "{after}");
    let dana = server
        .login("dana@example.com", "dana-new-password-1")
        .await;

    // Her own account page changes her password.
    let (status, html) = dana.page("/t/default/account").await;
    assert_eq!(status, 200);
    assert!(html.contains("Change your password"), "{html}");
    let (_, html) = dana
        .submit(
            "/t/default/account/password",
            &[
                ("current_password", "dana-new-password-1"),
                ("new_password", "dana-third-password-1"),
                ("confirm_password", "dana-third-password-1"),
            ],
        )
        .await;
    assert!(html.contains("Password changed"), "{html}");
    server
        .login("dana@example.com", "dana-third-password-1")
        .await;

    // An identity provider added on the Single sign-on page gets a button on the sign-in page.
    let (_, html) = admin
        .submit(
            "/t/default/sso",
            &[
                ("name", "Corp ID"),
                ("issuer", "https://id.corp.example"),
                ("client_id", "tollgate"),
                ("client_secret", "s3cret-value"),
                ("scopes", "openid, email, groups"),
                ("groups_claim", "groups"),
                ("group_rules", "platform default admin\nbad line"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert!(html.contains("group rules, line 2"), "{html}");
    let (_, html) = admin
        .submit(
            "/t/default/sso",
            &[
                ("name", "Corp ID"),
                ("issuer", "https://id.corp.example"),
                ("client_id", "tollgate"),
                ("client_secret", "s3cret-value"),
                ("scopes", "openid, email, groups"),
                ("groups_claim", "groups"),
                ("group_rules", "platform default admin"),
                ("enabled", "on"),
            ],
        )
        .await;
    assert!(html.contains("Corp ID"), "{html}");
    assert!(!html.contains("s3cret-value"), "{html}");
    let (_, login) = server.anonymous().page("/login").await;
    assert!(login.contains("Sign in with Corp ID"), "{login}");
    let (_, failed) = server.anonymous().page("/login?sso_error=token").await;
    assert!(failed.contains("could not be verified"), "{failed}");
    let (_, injected) = server.anonymous().page("/login?sso_error=Call%20555").await;
    assert!(!injected.contains("Call 555"), "{injected}");
}

#[tokio::test]
async fn the_jwt_callers_page_adds_an_issuer_and_lists_it() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (status, html) = admin.page("/t/default/jwt").await;
    assert_eq!(status, 200);
    assert!(html.contains("No JWT issuer yet"), "{html}");
    let (_, html) = admin
        .submit(
            "/t/default/jwt",
            &[
                ("name", "corp"),
                ("issuer", "https://id.example.com"),
                ("audiences", "https://api.example.com"),
                ("jwks_url", "https://id.example.com/jwks"),
                ("consumer_claim", "client_id"),
                ("routes", "*"),
                ("models", ""),
                ("requests_per_minute", "120"),
                ("budget_usd", "5"),
            ],
        )
        .await;
    assert!(html.contains("are accepted now"), "{html}");
    assert!(
        html.contains("120 req/min, budget $5.00 per month"),
        "{html}"
    );
    let viewer = server
        .user_with_role("default", "vera@example.com", "viewer")
        .await;
    let (_, html) = viewer.page("/t/default/jwt").await;
    assert!(html.contains("https://id.example.com"), "{html}");
    assert!(!html.contains("Add issuer"), "{html}");
}
