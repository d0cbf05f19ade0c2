//! An HTTP client for the admin API and the console's forms.

use reqwest::{Client, Method, StatusCode};
use serde_json::Value;

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
    /// The response status.
    pub status: StatusCode,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body parsed as JSON, `Value::Null` when it is not JSON.
    pub body: Value,
    /// The body as text, for assertion messages.
    pub text: String,
}

impl Reply {
    /// The `content-type` header, empty when there is none.
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
    /// A client of the server at `base` with its own cookie jar, sending `bearer` when given.
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

    /// A client that authenticates with an admin token.
    pub fn with_bearer(base: &str, token: &str) -> Self {
        Self::new(base, Some(token.to_string()))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PUT, path, Some(body)).await
    }

    /// `PATCH path` with a JSON (merge patch) body.
    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// The id of the object named `name` in the list at `path`.
    pub async fn id_of(&self, path: &str, name: &str) -> String {
        let list = self.get(path).await;
        list.body
            .as_array()
            .and_then(|items| items.iter().find(|item| item["name"] == name))
            .and_then(|item| item["id"].as_str())
            .unwrap_or_else(|| panic!("no '{name}' in {path}: {}", list.text))
            .to_string()
    }

    /// The id of the platform's user with this email (platform admins).
    pub async fn id_of_user(&self, email: &str) -> String {
        let list = self.get("/api/v1/users").await;
        list.body
            .as_array()
            .and_then(|users| users.iter().find(|user| user["email"] == email))
            .and_then(|user| user["id"].as_str())
            .unwrap_or_else(|| panic!("no user {email}: {}", list.text))
            .to_string()
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None).await
    }

    /// Any method, with an optional JSON body.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.finish(request).await
    }

    /// Any method, with a body of another type than JSON (like YAML) and extra headers.
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body.to_string());
        for (name, value) in headers {
            request = request.header(*name, *value);
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
            .find(|(name, _)| *name == tollgate_console::SESSION_COOKIE)
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
