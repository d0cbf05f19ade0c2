//! A real server on a fresh database per test, driven over HTTP.
// Shared by several test binaries, each of which uses only part of it.
#![allow(dead_code)]

use std::str::FromStr;

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::oneshot;
use tollgate_server::config::Config;
use tollgate_server::Server;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery";
/// The token shared by the test server and the proxies tests start.
pub const PROXY_TOKEN: &str = "test-proxy-token-0123456789";

/// A running server with its own database, dropped when the test ends.
pub struct TestServer {
    pub base: String,
    pub db: PgPool,
    admin_url: String,
    database: String,
    config: Config,
    running: Option<Running>,
    /// The server's own state (its master key among it).
    _data_dir: tempfile::TempDir,
}

/// The serving task of a started server and the switch that stops it.
struct Running {
    shutdown: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn serve(config: &Config) -> (std::net::SocketAddr, Running) {
    let server = Server::start(config).await.expect("server starts");
    let addr = server.local_addr();
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(async {
        let _ = stopped.await;
    }));
    (addr, Running { shutdown, task })
}

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with_admin(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Starts a server whose bootstrap admin has the given credentials.
    pub async fn start_with_admin(admin_email: &str, admin_password: &str) -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL is not set: run the tests with ./test.sh");
        let database = format!("tollgate_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin_url).await.expect("connect");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let mut url = url::Url::from_str(&admin_url).expect("DATABASE_URL is a URL");
        url.set_path(&format!("/{database}"));

        let data_dir = tempfile::tempdir().expect("data directory");
        let mut config = Config::for_database(url.as_str(), data_dir.path().to_path_buf());
        config.admin_email = admin_email.into();
        config.admin_password = Some(admin_password.into());
        config.proxy_token = Some(PROXY_TOKEN.into());
        // Tests play clients at other addresses with X-Forwarded-For from loopback.
        config.trusted_proxies = vec!["127.0.0.0/8".parse().expect("CIDR")];
        let (addr, running) = serve(&config).await;
        // Restarts come back on the same address, where the proxies look for the server.
        config.listen = addr;
        let db = PgPool::connect(url.as_str()).await.expect("test pool");
        // Test upstreams and providers listen on loopback, which the default egress policy
        // refuses; tests of the policy itself set it back.
        sqlx::query(
            "INSERT INTO platform_settings (name, value)
             VALUES ('egress', '{\"allow\": [\"127.0.0.0/8\"], \"deny\": [], \"allow_private\": true}')",
        )
        .execute(&db)
        .await
        .expect("allow loopback egress");
        sqlx::query("UPDATE config_version SET version = version + 1")
            .execute(&db)
            .await
            .expect("bump the config version");
        Self {
            base: format!("http://{addr}"),
            db,
            admin_url,
            database,
            config,
            running: Some(running),
            _data_dir: data_dir,
        }
    }

    /// The name of this server's database.
    pub fn database_name(&self) -> &str {
        &self.database
    }

    /// A connection with rights over every database (to take this one away and back).
    pub async fn superuser(&self) -> PgConnection {
        PgConnection::connect(&self.admin_url)
            .await
            .expect("connect")
    }

    /// Stops the server gracefully (its database stays).
    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
            let _ = running.task.await;
        }
    }

    /// Points the console's try-it form and snippets at a proxy (restarts the server).
    pub async fn set_proxy_url(&mut self, url: &str) {
        self.config.proxy_url = url.to_string();
        self.restart().await;
    }

    /// Starts the server again on the same address and database.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (_, running) = serve(&self.config).await;
        self.running = Some(running);
    }

    /// A client with no credentials.
    pub fn anonymous(&self) -> Api {
        Api::new(&self.base, None)
    }

    /// A client logged in as the given user.
    pub async fn login(&self, email: &str, password: &str) -> Api {
        let api = self.anonymous();
        let reply = api
            .post(
                "/api/v1/auth/login",
                serde_json::json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login of {email}: {}",
            reply.body
        );
        api
    }

    /// A client logged in as the bootstrap platform admin.
    pub async fn admin(&self) -> Api {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// Moves the whole request space (any host, `/`) from `default` to `tenant`, as a platform
    /// admin would for a tenant that should serve every route.
    pub async fn give_request_space(&self, tenant: &str) {
        let admin = self.admin().await;
        let emptied = admin
            .put(
                "/api/v1/tenants/default/namespace",
                serde_json::json!({"parts": []}),
            )
            .await;
        assert_eq!(emptied.status, StatusCode::OK, "{}", emptied.text);
        let given = admin
            .put(
                &format!("/api/v1/tenants/{tenant}/namespace"),
                serde_json::json!({"parts": [{"path_prefix": "/"}]}),
            )
            .await;
        assert_eq!(given.status, StatusCode::OK, "{}", given.text);
    }

    /// Creates a tenant (as the platform admin) and a user with the given role in it; returns a
    /// client logged in as that user.
    pub async fn user_with_role(&self, tenant: &str, email: &str, role: &str) -> Api {
        let admin = self.admin().await;
        let exists = admin.get(&format!("/api/v1/tenants/{tenant}")).await;
        if exists.status == StatusCode::NOT_FOUND {
            let created = admin
                .post(
                    "/api/v1/tenants",
                    serde_json::json!({"name": tenant, "slug": tenant}),
                )
                .await;
            assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        }
        let added = admin
            .post(
                &format!("/api/v1/tenants/{tenant}/members"),
                serde_json::json!({"email": email, "password": "user-password-1", "role": role}),
            )
            .await;
        assert_eq!(added.status, StatusCode::CREATED, "{}", added.body);
        self.login(email, "user-password-1").await
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.shutdown.send(());
        }
        let admin_url = self.admin_url.clone();
        let database = self.database.clone();
        // Drop runs inside the test's runtime: clean up on a thread with a runtime of its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut conn = PgConnection::connect(&admin_url)
                    .await
                    .map_err(std::io::Error::other)?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .map_err(std::io::Error::other)?;
                Ok::<_, std::io::Error>(())
            })
        })
        .join();
    }
}

/// An HTTP client for the admin API, with a cookie jar and an optional bearer token.
pub struct Api {
    client: Client,
    jar: std::sync::Arc<reqwest::cookie::Jar>,
    base: String,
    bearer: Option<String>,
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Reply {
    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts this is an RFC 9457 problem with the given status and a useful detail.
    pub fn assert_problem(&self, status: u16) {
        assert_eq!(self.status.as_u16(), status, "{}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status, "{}", self.text);
        let detail = self.body["detail"].as_str().unwrap_or("");
        assert!(
            detail.len() > 10,
            "problem without a useful detail: {}",
            self.text
        );
    }
}

impl Api {
    pub fn new(base: &str, bearer: Option<String>) -> Self {
        let jar = std::sync::Arc::new(reqwest::cookie::Jar::default());
        Self {
            client: Client::builder()
                .cookie_provider(jar.clone())
                .build()
                .expect("client"),
            jar,
            base: base.to_string(),
            bearer,
        }
    }

    pub fn with_bearer(base: &str, token: &str) -> Self {
        Self::new(base, Some(token.to_string()))
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(request).await
    }

    /// A console page, after redirects: its status and HTML.
    pub async fn page(&self, path: &str) -> (StatusCode, String) {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("page fetched");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// Posts a console form the way a browser on the console's own page does: with the
    /// session's CSRF token (read from a page) and the console's origin.
    pub async fn submit(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let token = self.form_token(path).await;
        self.post_form_with_token(path, &token, fields).await
    }

    /// Creates provider `p` (an OpenAI-compatible server that is never called) and model `chat`
    /// on it in `tenant`; returns the model as the API shows it.
    pub async fn chat_model(&self, tenant: &str) -> Value {
        let provider = self
            .post(
                &format!("/api/v1/tenants/{tenant}/providers"),
                serde_json::json!({"name": "p", "kind": "openai_compatible",
                                   "base_url": "http://127.0.0.1:9/v1"}),
            )
            .await;
        assert_eq!(provider.status, StatusCode::CREATED, "{}", provider.text);
        let model = self
            .post(
                &format!("/api/v1/tenants/{tenant}/models"),
                serde_json::json!({"name": "chat", "deployments": [{"provider": "p", "model": "m"}],
                                   "prices": {"input_per_mtok": "1", "output_per_mtok": "2"}}),
            )
            .await;
        assert_eq!(model.status, StatusCode::CREATED, "{}", model.text);
        model.body
    }

    /// Posts an empty form as a browser page of `origin` would (for tests of refusals).
    pub async fn post_form_with_origin(
        &self,
        path: &str,
        origin: &str,
        fetch_site: &str,
    ) -> (StatusCode, String) {
        let headers = [("origin", origin), ("sec-fetch-site", fetch_site)];
        self.post_form(path, &[("x", "1")], &headers).await
    }

    /// Posts a console form with the given token from the console's own origin.
    pub async fn post_form_with_token(
        &self,
        path: &str,
        token: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut form: Vec<(&str, &str)> = vec![("csrf", token)];
        form.extend_from_slice(fields);
        self.post_form(path, &form, &[("origin", self.base.as_str())])
            .await
    }

    /// Posts a form with extra headers; returns the status and the body.
    async fn post_form(
        &self,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (StatusCode, String) {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("form posted");
        let status = response.status();
        (status, response.text().await.unwrap_or_default())
    }

    /// The token a console page gives the form that posts to `action` in this client's session.
    pub async fn form_token(&self, action: &str) -> String {
        use reqwest::cookie::CookieStore;
        let url = reqwest::Url::parse(&self.base).expect("base URL");
        let cookies = self.jar.cookies(&url);
        let session = cookies
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .into_iter()
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(name, _)| *name == "tollgate_session")
            .map(|(_, value)| value.to_string());
        tollgate_console::form_token(session.as_deref(), action)
    }

    /// Sends a body as-is, with the given content type (for malformed input).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        self.finish(request).await
    }

    async fn finish(&self, mut request: reqwest::RequestBuilder) -> Reply {
        if let Some(token) = &self.bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }
}

/// The CSRF token of the page's form that posts to `action`.
pub fn csrf_token_for(html: &str, action: &str) -> Option<String> {
    let needle = format!("action=\"{action}\"");
    let form = &html[html.find(&needle)?..];
    let form = &form[..form.find("</form>")?];
    csrf_token(form)
}

/// The first CSRF token in a console page's forms.
pub fn csrf_token(html: &str) -> Option<String> {
    let start = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    let end = html[start..].find('"')?;
    Some(html[start..start + end].to_string())
}
