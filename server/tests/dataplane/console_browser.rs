//! The console in a real browser (headless Chromium through chromedriver): sign in, create a key
//! and read its secret, add a provider pointing at a mock, a model and a prompt API, run it from
//! the try-it form through a real proxy, and find its cost on the dashboard and in the usage log.
//! A failed step saves a screenshot under target/e2e-failures/. The run also refreshes the README
//! screenshots in docs/screenshots/.

use std::future::Future;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::routing::{get, post};
use axum::Json;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use time::OffsetDateTime;
use tollgate_protocol::{AiUsage, UsageBatch, UsageEvent};
use uuid::Uuid;

use tollgate_testkit::serve;
use tollgate_testkit::{client, start_proxy, synced};
use tollgate_testkit::{TestServer, ADMIN_EMAIL, ADMIN_PASSWORD, PROXY_TOKEN};

const PROVIDER_KEY: &str = "sk-e2e-mock-provider-key";

/// An OpenAI-compatible provider: lists one model; every chat answer reports 1,200 input and
/// 350 output tokens.
async fn start_mock_provider() -> String {
    let app = axum::Router::new()
        .route(
            "/v1/models",
            get(|| async { Json(json!({"object": "list", "data": [{"id": "mock-mini", "object": "model"}]})) }),
        )
        .route(
            "/v1/chat/completions",
            post(|Json(body): Json<Value>| async move {
                Json(json!({
                    "id": "chatcmpl-e2e", "object": "chat.completion", "created": 1, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Tollgate meters every call exactly."}}],
                    "usage": {"prompt_tokens": 1200, "completion_tokens": 350, "total_tokens": 1550}
                }))
            }),
        );
    let url = format!("{}/v1", serve(app).await);
    url
}

/// chromedriver on a free loopback port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium chromium-driver; ./test.sh installs them)");
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A browser session on the console with steps that leave a screenshot when they fail.
struct Browser {
    client: Client,
    base: String,
}

type StepResult<T> = Result<T, String>;

fn ensure(condition: bool, message: impl Into<String>) -> StepResult<()> {
    if condition {
        Ok(())
    } else {
        Err(message.into())
    }
}

fn cmd<T>(result: Result<T, fantoccini::error::CmdError>) -> StepResult<T> {
    result.map_err(|err| err.to_string())
}

impl Browser {
    async fn open(driver: &Driver, base: &str) -> Self {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium_binary(),
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                         "--disable-dev-shm-usage", "--window-size=1366,900", "--hide-scrollbars",
                         // Only loopback: pages that link elsewhere (the provider's fonts) reach nothing.
                         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"]
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .expect("a Chromium session through chromedriver");
        Self {
            client,
            base: base.to_string(),
        }
    }

    /// Runs one step; on failure saves a screenshot and the page, then fails the test.
    async fn step<T>(&self, name: &str, step: impl Future<Output = StepResult<T>>) -> T {
        match step.await {
            Ok(value) => value,
            Err(message) => {
                let dir = workspace_dir().join("target/e2e-failures");
                let _ = std::fs::create_dir_all(&dir);
                let file = dir.join(format!("{}.png", name.replace(' ', "-")));
                if let Ok(png) = self.client.screenshot().await {
                    let _ = std::fs::write(&file, png);
                }
                if let Ok(html) = self.client.source().await {
                    let _ = std::fs::write(file.with_extension("html"), html);
                }
                // Ends the browser too: killing chromedriver alone would leave Chromium running.
                let _ = self.client.clone().close().await;
                panic!(
                    "browser step '{name}' failed: {message} (screenshot: {})",
                    file.display()
                );
            }
        }
    }

    async fn goto(&self, path: &str) -> StepResult<()> {
        cmd(self.client.goto(&format!("{}{path}", self.base)).await)
    }

    async fn fill(&self, css: &str, text: &str) -> StepResult<()> {
        let field = cmd(self.client.find(Locator::Css(css)).await)?;
        cmd(field.clear().await)?;
        cmd(field.send_keys(text).await)
    }

    /// Submits a form and waits for the page it leads to.
    async fn submit(&self, form_css: &str) -> StepResult<()> {
        let button = cmd(self
            .client
            .find(Locator::Css(&format!("{form_css} button[type=submit]")))
            .await)?;
        cmd(self
            .client
            .execute("window.__oldPage = true; return null;", vec![])
            .await)?;
        cmd(button.click().await)?;
        for _ in 0..300 {
            let loaded = self
                .client
                .execute(
                    "return window.__oldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(Value::Bool(true))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("submitting {form_css} did not lead to a new page"))
    }

    async fn text(&self, css: &str) -> StepResult<String> {
        let element = cmd(self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await)?;
        cmd(element.text().await)
    }

    async fn page(&self) -> StepResult<String> {
        cmd(self.client.source().await)
    }

    /// Saves the whole page (up to 2,000 pixels tall) as a README screenshot.
    async fn screenshot(&self, name: &str) -> StepResult<()> {
        let height = cmd(self
            .client
            .execute("return document.documentElement.scrollHeight;", vec![])
            .await)?
        .as_u64()
        .unwrap_or(900)
        .clamp(600, 2000) as u32;
        cmd(self.client.set_window_size(1366, height + 140).await)?;
        let png = self.client.screenshot().await;
        cmd(self.client.set_window_size(1366, 900).await)?;
        let png = cmd(png)?;
        let dir = workspace_dir().join("docs/screenshots");
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        std::fs::write(dir.join(format!("{name}.png")), png).map_err(|e| e.to_string())
    }
}

fn chromium_binary() -> &'static str {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .into_iter()
    .find(|path| std::path::Path::new(path).exists())
    .unwrap_or("/usr/bin/chromium")
}

#[tokio::test]
async fn a_user_runs_the_whole_console_in_a_browser() {
    let mut server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&server, dir.path()).await;
    let proxy_url = format!("http://{}", proxy.traffic_addr());
    server.set_proxy_url(&proxy_url).await;
    let provider_url = start_mock_provider().await;
    let driver = Driver::start();
    let browser = Browser::open(&driver, &server.base).await;

    browser
        .step("sign in", async {
            browser.goto("/").await?;
            browser.fill("#email", ADMIN_EMAIL).await?;
            browser.fill("#password", ADMIN_PASSWORD).await?;
            browser.submit("form[action='/login']").await?;
            let heading = browser.text("main h1").await?;
            ensure(heading == "Dashboard", format!("landed on '{heading}'"))
        })
        .await;

    let secret = browser
        .step("create a key", async {
            browser.goto("/t/default/keys").await?;
            browser.fill("#name", "web-app").await?;
            browser.fill("#requests_per_minute", "600").await?;
            browser.fill("#budget_usd", "5").await?;
            browser.submit("form[action='/t/default/keys']").await?;
            let secret = browser.text("#new-secret").await?;
            ensure(
                secret.starts_with("tg_") && secret.len() == 43,
                format!("secret '{secret}'"),
            )?;
            let page = browser.page().await?;
            ensure(
                page.contains("will not be shown again"),
                "the once-only warning",
            )?;
            Ok(secret)
        })
        .await;

    browser
        .step("add a provider", async {
            browser.goto("/t/default/providers").await?;
            browser.fill("#name", "mock-openai").await?;
            let kind = cmd(browser.client.find(Locator::Css("#kind")).await)?;
            cmd(kind.select_by_value("openai_compatible").await)?;
            browser.fill("#base_url", &provider_url).await?;
            browser.fill("#api_key", PROVIDER_KEY).await?;
            browser
                .submit("form[action='/t/default/providers']")
                .await?;
            let flash = browser.text(".flash").await?;
            ensure(flash.contains("mock-openai"), format!("flash '{flash}'"))?;
            // Test the connection: the mock lists its models.
            browser.submit("form[action$='/test']").await?;
            let flash = browser.text(".flash").await?;
            ensure(
                flash.starts_with("Connection works"),
                format!("flash '{flash}'"),
            )?;
            let page = browser.page().await?;
            ensure(
                !page.contains(PROVIDER_KEY),
                "the provider key is never shown",
            )
        })
        .await;

    browser
        .step("add a model", async {
            browser.goto("/t/default/models").await?;
            browser.fill("#name", "gpt-4o-mini").await?;
            // A typo first: the API's reason comes back, and what was typed is still there.
            browser
                .fill("#deployments", "mock-opnai mock-mini 1 0")
                .await?;
            browser.fill("#input_per_mtok", "0.15").await?;
            browser.fill("#output_per_mtok", "0.60").await?;
            browser.submit("form[action='/t/default/models']").await?;
            let flash = browser.text(".flash.error").await?;
            ensure(flash.contains("mock-opnai"), format!("flash '{flash}'"))?;
            let name = cmd(browser.client.find(Locator::Css("#name")).await)?;
            let kept = cmd(name.prop("value").await)?;
            ensure(
                kept.as_deref() == Some("gpt-4o-mini"),
                format!("name field kept {kept:?}"),
            )?;
            browser
                .fill("#deployments", "mock-openai mock-mini 1 0")
                .await?;
            browser.submit("form[action='/t/default/models']").await?;
            let flash = browser.text(".flash").await?;
            ensure(flash.contains("gpt-4o-mini"), format!("flash '{flash}'"))
        })
        .await;

    browser
        .step("create a prompt API", async {
            browser.goto("/t/default/prompt-apis").await?;
            browser.fill("#slug", "summarize").await?;
            browser
                .fill("#description", "Summarizes a text in a few sentences")
                .await?;
            browser.fill("#model", "gpt-4o-mini").await?;
            browser
                .fill("#system", "You are a concise assistant.")
                .await?;
            browser
                .fill("#user", "Summarize in {{sentences}} sentences: {{text}}")
                .await?;
            browser
                .fill(
                    "#variables",
                    "text string required\nsentences number default=2",
                )
                .await?;
            browser
                .submit("form[action='/t/default/prompt-apis']")
                .await?;
            let flash = browser.text(".flash").await?;
            ensure(flash.contains("summarize"), format!("flash '{flash}'"))?;
            let curl = browser.text("#curl-snippet").await?;
            ensure(
                curl.contains(&format!("{proxy_url}/prompts/summarize")),
                format!("curl '{curl}'"),
            )
        })
        .await;
    synced(&server, &proxy).await;

    browser
        .step("run it from the try-it form", async {
            browser.fill("#try_key", &secret).await?;
            browser
                .fill(
                    "#try_input",
                    r#"{"text": "Tollgate is an API gateway written in Rust.", "sentences": 1}"#,
                )
                .await?;
            browser.submit("form[action$='/try']").await?;
            let output = browser.text("#try-output").await?;
            ensure(
                output.contains("Tollgate meters every call exactly."),
                format!("output '{output}'"),
            )?;
            let tokens = browser.text("#try-tokens").await?;
            ensure(tokens == "1,200 in, 350 out", format!("tokens '{tokens}'"))?;
            // 1,200 × $0.15 + 350 × $0.60 per million tokens = $0.00039.
            let cost = browser.text("#try-cost").await?;
            ensure(cost == "$0.00039", format!("cost '{cost}'"))?;
            browser.screenshot("prompt-api").await
        })
        .await;

    browser
        .step("see the cost in the usage log", async {
            for _ in 0..50 {
                browser.goto("/t/default/usage").await?;
                let page = browser.page().await?;
                if page.contains("id=\"usage-log\"") {
                    let row = browser.text("#usage-log tbody tr").await?;
                    ensure(row.contains("gpt-4o-mini"), format!("row '{row}'"))?;
                    ensure(row.contains("web-app"), format!("row '{row}'"))?;
                    ensure(row.contains("1,200 / 350"), format!("row '{row}'"))?;
                    return ensure(row.contains("$0.00039"), format!("row '{row}'"));
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err("the call never showed up in the usage log".into())
        })
        .await;

    browser
        .step("see the cost on the dashboard", async {
            browser.goto("/t/default").await?;
            let models = browser.text(".chart-row table").await?;
            ensure(
                models.contains("gpt-4o-mini"),
                format!("top models '{models}'"),
            )?;
            ensure(
                models.contains("$0.00039"),
                format!("top models '{models}'"),
            )?;
            let page = browser.page().await?;
            ensure(
                page.contains("$0.00039 of $5.00") || page.contains("$0.00039"),
                "budget use shown",
            )
        })
        .await;

    // A day of earlier traffic, replayed through the usage endpoint the proxies use, so the
    // README screenshots show charts with some history.
    replay_history(&server).await;
    browser
        .step("screenshots", async {
            browser.goto("/t/default").await?;
            browser.screenshot("dashboard").await?;
            browser.goto("/t/default/keys").await?;
            browser.screenshot("keys").await
        })
        .await;

    browser.client.close().await.unwrap();
    proxy.shutdown().await;
}

/// Posts a day of usage (two models, one key) as a proxy would after an outage.
async fn replay_history(server: &TestServer) {
    let ids: (Uuid, Uuid) = sqlx::query_as("SELECT t.id, k.id FROM tenants t JOIN api_keys k ON k.tenant_id = t.id WHERE t.slug = 'default'")
        .fetch_one(&server.db)
        .await
        .unwrap();
    let (tenant, key) = ids;
    let admin = server.admin().await;
    let second = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "claude-3-5-haiku", "deployments": [{"provider": "mock-openai", "model": "mock-mini"}],
                   "prices": {"input_per_mtok": "0.80", "output_per_mtok": "4.00"}}),
        )
        .await;
    assert_eq!(second.status, 201, "{}", second.text);
    let models: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT m.id, (m.deployments -> 0 ->> 'provider_id')::uuid, m.name FROM models m ORDER BY m.name",
    )
    .fetch_all(&server.db)
    .await
    .unwrap();
    let now = OffsetDateTime::now_utc();
    let mut events = Vec::new();
    for hour in 1..24i64 {
        let calls = 3 + (hour * 7 % 11);
        for n in 0..calls {
            let input = 400 + ((hour * 131 + n * 17) % 900) as u64;
            let output = 120 + ((hour * 53 + n * 29) % 400) as u64;
            let failed = (hour + n) % 17 == 0;
            let (model_id, provider_id, name) = &models[(n % 3).min(1) as usize];
            let (input_price, output_price) = if name == "gpt-4o-mini" {
                (150, 600)
            } else {
                (800, 4000)
            };
            events.push(UsageEvent {
                id: Uuid::now_v7(),
                time: now - time::Duration::hours(hour) + time::Duration::seconds(n * 37),
                tenant_id: Some(tenant),
                key_id: Some(key),
                route_id: None,
                method: "POST".into(),
                status: if failed { 502 } else { 200 },
                latency_us: 180_000 + ((hour * 9_973 + n * 7_919) % 600_000) as u64,
                upstream_latency_us: None,
                bytes_in: 900,
                bytes_out: 1400,
                consumer: None,
                mcp: None,
                subscription: None,
                error_class: failed.then(|| "upstream_error".to_string()),
                ai: (!failed).then(|| AiUsage {
                    model_id: *model_id,
                    provider_id: Some(*provider_id),
                    upstream_model: Some("mock-mini".into()),
                    input_tokens: input,
                    cached_input_tokens: 0,
                    cache_write_tokens: 0,
                    output_tokens: output,
                    estimated: false,
                    cost_nanousd: (input * input_price + output * output_price) as i64,
                    ttft_us: None,
                    fallbacks: 0,
                    prompt_api_id: None,
                    streamed: false,
                }),
            });
        }
    }
    let batch = UsageBatch {
        dataplane_id: Uuid::new_v4(),
        events,
    };
    let response = client()
        .post(format!("{}/internal/v1/usage", server.base))
        .bearer_auth(PROXY_TOKEN)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap_or_default()
    );
}

/// The review's console payloads, in a real browser: stored text that tries to close its
/// `<textarea>` stays text (no redirect, no hidden button), and a form's token cannot be reused
/// by another action.
#[tokio::test]
async fn stored_markup_stays_inert_in_the_browser() {
    let server = TestServer::start().await;
    let admin = server.admin().await;
    let member = server
        .user_with_role("default", "member@example.com", "member")
        .await;
    drop(member);
    let members = admin.get("/api/v1/tenants/default/members").await.body;
    let member_id = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "member@example.com")
        .and_then(|m| m["user_id"].as_str())
        .unwrap()
        .to_string();
    admin.chat_model("default").await;
    let payload = format!(
        "</textarea><meta http-equiv=\"refresh\" content=\"0;url=/hijacked\">\
         <button formaction=\"/t/default/members/{member_id}\" \
         style=\"position:fixed;inset:0;width:100%;height:100%;opacity:0;z-index:99\">x</button>\
         <input type=\"hidden\" name=\"role\" value=\"owner\"><textarea>"
    );
    let prompt = admin
        .post(
            "/api/v1/tenants/default/prompt-apis",
            json!({"slug": "p", "model": "chat", "messages": [{"role": "user", "content": payload}]}),
        )
        .await;
    assert_eq!(prompt.status, 201, "{}", prompt.text);
    let edit = format!(
        "/t/default/prompt-apis/{}",
        prompt.body["id"].as_str().unwrap()
    );

    let driver = Driver::start();
    let browser = Browser::open(&driver, &server.base).await;
    browser
        .step("sign in", async {
            browser.goto("/login").await?;
            browser.fill("#email", ADMIN_EMAIL).await?;
            browser.fill("#password", ADMIN_PASSWORD).await?;
            browser.submit("form[action='/login']").await
        })
        .await;
    browser
        .step("open the prompt API with the payload", async {
            browser.goto(&edit).await?;
            tokio::time::sleep(Duration::from_millis(200)).await;
            let url = cmd(browser.client.current_url().await)?;
            ensure(url.path() == edit, format!("the page moved to {url}"))?;
            let buttons = cmd(browser
                .client
                .find_all(Locator::Css("button[formaction]"))
                .await)?;
            ensure(buttons.is_empty(), "an injected button is live")?;
            let field = cmd(browser
                .client
                .find(Locator::Css(
                    "textarea[name='user'], textarea[name='messages_json']",
                ))
                .await)?;
            let value = cmd(field.prop("value").await)?.unwrap_or_default();
            ensure(
                value.contains("</textarea><meta"),
                format!("the text is shown as it is: {value:?}"),
            )
        })
        .await;
    browser
        .step("click around and save", async {
            let main = cmd(browser.client.find(Locator::Css("main h1")).await)?;
            cmd(main.click().await)?;
            browser.submit(&format!("form[action='{edit}']")).await?;
            let flash = browser.text(".flash").await?;
            ensure(!flash.contains("Forbidden"), format!("flash '{flash}'"))
        })
        .await;
    let members = admin.get("/api/v1/tenants/default/members").await.body;
    let role = members
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "member@example.com")
        .map(|m| m["role"].clone());
    assert_eq!(role, Some(json!("member")), "{members}");
    let _ = browser.client.clone().close().await;
}

impl Browser {
    /// The current URL's path.
    async fn path(&self) -> StepResult<String> {
        Ok(cmd(self.client.current_url().await)?.path().to_string())
    }

    /// Goes through the identity provider's own pages (its login form, consent, sign-out
    /// confirmation) as a person would, until the browser is back on the console.
    async fn through_provider(&self, login: &str) -> StepResult<()> {
        for _ in 0..8 {
            let path = self.path().await?;
            let base_path = url::Url::parse(&self.base).map_err(|e| e.to_string())?;
            let current = cmd(self.client.current_url().await)?;
            if current.port() == base_path.port() {
                return Ok(());
            }
            if path.starts_with("/interaction/") {
                if self
                    .client
                    .find(Locator::Css("input[name=login]"))
                    .await
                    .is_ok()
                {
                    self.fill("input[name=login]", login).await?;
                    self.fill("input[name=password]", "whatever").await?;
                }
                self.submit("form").await?;
            } else if path.starts_with("/session/end") {
                self.click_and_wait("button[name=logout]").await?;
            } else {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        Err("the provider's pages did not lead back to the console".into())
    }

    /// Clicks an element and waits for the page it leads to.
    async fn click_and_wait(&self, css: &str) -> StepResult<()> {
        let element = cmd(self.client.find(Locator::Css(css)).await)?;
        cmd(self
            .client
            .execute("window.__oldPage = true; return null;", vec![])
            .await)?;
        cmd(element.click().await)?;
        for _ in 0..300 {
            let loaded = self
                .client
                .execute(
                    "return window.__oldPage === undefined && document.readyState === 'complete';",
                    vec![],
                )
                .await;
            if matches!(loaded, Ok(Value::Bool(true))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("clicking {css} did not lead to a new page"))
    }

    /// Clicks a link and waits for the page it leads to.
    async fn follow(&self, text: &str) -> StepResult<()> {
        let link = cmd(self.client.find(Locator::LinkText(text)).await)?;
        let before = cmd(self.client.current_url().await)?;
        cmd(link.click().await)?;
        for _ in 0..200 {
            let now = cmd(self.client.current_url().await)?;
            let ready = self
                .client
                .execute("return document.readyState === 'complete';", vec![])
                .await;
            if now != before && matches!(ready, Ok(Value::Bool(true))) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(format!("the link '{text}' led nowhere"))
    }
}

#[tokio::test]
async fn single_sign_on_through_the_providers_own_pages_lands_with_the_mapped_role() {
    use tollgate_testkit::oidc::{CLIENT_ID, CLIENT_SECRET};
    use tollgate_testkit::OidcProvider;

    let server = TestServer::start().await;
    let admin = server.admin().await;
    let (port, issuer) = OidcProvider::reserve();
    let created = admin
        .post(
            "/api/v1/identity-providers",
            json!({"name": "Corp ID", "issuer": issuer, "client_id": CLIENT_ID,
                   "client_secret": CLIENT_SECRET, "scopes": ["openid", "email", "groups"],
                   "group_rules": [{"group": "devs", "tenant": "default", "role": "member"},
                                   {"group": "leads", "tenant": "default", "role": "admin"}]}),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.text);
    let id = created.body["id"].as_str().unwrap();
    let base = &server.base;
    let account = |groups: Value| json!({"alice": {"email": "alice@corp.example", "email_verified": true, "groups": groups}});
    let provider = OidcProvider::start(
        port,
        &[format!("{base}/api/v1/auth/sso/{id}/callback")],
        &[format!("{base}/login")],
        account(json!(["devs"])),
        3600,
    )
    .await;
    let driver = Driver::start();
    let browser = Browser::open(&driver, base).await;

    browser
        .step("sign in through the provider", async {
            browser.goto("/login").await?;
            browser.follow("Sign in with Corp ID").await?;
            browser.through_provider("alice").await?;
            let role = browser.text(".who .role").await?;
            ensure(role == "member", format!("role '{role}'"))?;
            let who = browser.text(".who a").await?;
            ensure(who == "alice@corp.example", format!("signed in as '{who}'"))
        })
        .await;

    browser
        .step("sign out here and at the provider", async {
            browser.submit("form[action='/logout']").await?;
            browser.through_provider("alice").await?;
            let path = browser.path().await?;
            ensure(path == "/login", format!("after signing out: {path}"))
        })
        .await;

    provider.set_accounts(&account(json!(["devs", "leads"])));
    browser
        .step("the next sign-in brings the new role", async {
            browser.follow("Sign in with Corp ID").await?;
            browser.through_provider("alice").await?;
            let role = browser.text(".who .role").await?;
            ensure(role == "admin", format!("role '{role}'"))
        })
        .await;
    let _ = browser.client.clone().close().await;
}

impl Browser {
    async fn sign_in(&self, email: &str, password: &str) -> StepResult<()> {
        self.goto("/login").await?;
        self.fill("#email", email).await?;
        self.fill("#password", password).await?;
        self.submit("form[action='/login']").await
    }

    async fn sign_out(&self) -> StepResult<()> {
        self.submit("form[action='/logout']").await
    }

    /// Signs out from a console page (pages without the console's header have no sign-out).
    async fn sign_out_from(&self, page: &str) -> StepResult<()> {
        self.goto(page).await?;
        self.sign_out().await
    }
}

/// The developer portal in a browser: the owner publishes a product, a developer of another
/// tenant finds it and subscribes an application, the owner approves, the developer takes a
/// key, calls the API through the proxy and sees the cost. Refreshes the portal screenshots.
#[tokio::test]
async fn the_developer_portal_works_in_a_browser() {
    let mut server = TestServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&server, dir.path()).await;
    let proxy_url = format!("http://{}", proxy.traffic_addr());
    server.set_proxy_url(&proxy_url).await;
    let provider_url = start_mock_provider().await;
    let admin = server.admin().await;
    let provider = admin
        .post(
            "/api/v1/tenants/default/providers",
            json!({"name": "mock", "kind": "openai_compatible", "base_url": provider_url,
                   "api_key": PROVIDER_KEY}),
        )
        .await;
    assert_eq!(provider.status, 201, "{}", provider.text);
    let model = admin
        .post(
            "/api/v1/tenants/default/models",
            json!({"name": "gpt-4o-mini", "deployments": [{"provider": "mock", "model": "gpt-4o-mini"}],
                   "prices": {"input_per_mtok": "0.15", "output_per_mtok": "0.60"}}),
        )
        .await;
    assert_eq!(model.status, 201, "{}", model.text);
    server
        .user_with_role("bee", "dev@bee.example", "member")
        .await;
    let driver = Driver::start();
    let browser = Browser::open(&driver, &server.base).await;

    browser
        .step("publish a product", async {
            browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            browser.goto("/t/default/portal").await?;
            browser.fill("#p_name", "assistant-api").await?;
            browser.fill("#p_title", "Assistant API").await?;
            browser
                .fill(
                    "#p_description",
                    "A chat model for every team, billed per token.",
                )
                .await?;
            browser.fill("#p_tags", "ai, chat").await?;
            browser.fill("#p_models", "gpt-4o-mini").await?;
            cmd(browser
                .client
                .execute(
                    "document.querySelector('#p_visibility').value = 'platform'; return null;",
                    vec![],
                )
                .await)?;
            browser.fill("#p_plan", "team").await?;
            browser.fill("#p_rpm", "600").await?;
            browser.fill("#p_budget", "25").await?;
            browser
                .submit("form[action='/t/default/portal/products']")
                .await?;
            let page = browser.page().await?;
            ensure(page.contains("Assistant API"), "the product is listed")?;
            browser.sign_out().await
        })
        .await;

    browser
        .step("find it and subscribe an application", async {
            browser
                .sign_in("dev@bee.example", "user-password-1")
                .await?;
            browser.goto("/t/bee/portal?tag=ai").await?;
            let catalog = browser.text("#catalog").await?;
            ensure(
                catalog.contains("Assistant API"),
                format!("catalog '{catalog}'"),
            )?;
            browser.fill("#app_name", "support-bot").await?;
            browser
                .fill("#app_description", "Answers customers")
                .await?;
            browser
                .submit("form[action='/t/bee/portal/applications']")
                .await?;
            browser.goto("/t/bee/portal?tag=ai").await?;
            browser.screenshot("portal-catalog").await?;
            let link = cmd(browser
                .client
                .find(Locator::LinkText("Assistant API"))
                .await)?;
            cmd(link.click().await)?;
            browser.text("main h1").await?;
            browser.fill("#s_note", "For the support bot").await?;
            browser.screenshot("portal-product").await?;
            browser.submit("main form[action$='/subscribe']").await?;
            let status = browser.text("#subscriptions").await?;
            ensure(
                status.contains("pending"),
                format!("subscriptions '{status}'"),
            )?;
            // The API reference: Swagger UI, served offline, on the product's document.
            browser.goto("/t/bee/portal?tag=ai").await?;
            let link = cmd(browser
                .client
                .find(Locator::LinkText("Assistant API"))
                .await)?;
            cmd(link.click().await)?;
            let reference = cmd(browser
                .client
                .find(Locator::LinkText("API reference"))
                .await)?;
            cmd(reference.click().await)?;
            let path = browser.text(".opblock-summary-path").await?;
            ensure(
                path.contains("/v1/chat/completions"),
                format!("operation '{path}'"),
            )?;
            browser.screenshot("portal-docs").await?;
            browser.sign_out_from("/t/bee/portal").await
        })
        .await;

    browser
        .step("approve it", async {
            browser.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
            browser.goto("/t/default/portal").await?;
            let inbox = browser.text("#inbox").await?;
            ensure(
                inbox.contains("support-bot (bee)") && inbox.contains("For the support bot"),
                format!("inbox '{inbox}'"),
            )?;
            browser.screenshot("portal-inbox").await?;
            browser.submit("#inbox form").await?;
            let page = browser.page().await?;
            ensure(page.contains("approved"), "approved")?;
            browser.sign_out().await
        })
        .await;

    let secret = browser
        .step("take a key", async {
            browser
                .sign_in("dev@bee.example", "user-password-1")
                .await?;
            browser.goto("/t/bee/portal").await?;
            let link = cmd(browser.client.find(Locator::LinkText("support-bot")).await)?;
            cmd(link.click().await)?;
            browser.fill("#k_name", "production").await?;
            browser.submit("main form[action$='/keys']").await?;
            browser.text(".secret-value").await
        })
        .await;
    synced(&server, &proxy).await;
    let answer = client()
        .post(format!("{proxy_url}/v1/chat/completions"))
        .bearer_auth(&secret)
        .json(&json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Where is my order?"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 200);

    browser
        .step("see the cost", async {
            // The page the key was shown on, without the form's `/keys`.
            let here = cmd(browser.client.current_url().await)?.path().to_string();
            let here = here.trim_end_matches("/keys").to_string();
            for _ in 0..50 {
                browser.goto(&here).await?;
                if browser.page().await?.contains("id=\"app-usage\"") {
                    let usage = browser.text("#app-usage").await?;
                    ensure(usage.contains("Assistant API"), format!("usage '{usage}'"))?;
                    ensure(usage.contains("$0.00039"), format!("usage '{usage}'"))?;
                    return browser.screenshot("portal-application").await;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err("the call never showed up on the application's page".into())
        })
        .await;

    browser.client.close().await.unwrap();
    proxy.shutdown().await;
}
