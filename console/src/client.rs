//! The admin API, called in-process with the user's own session cookie.
//!
//! Every console action goes through here, so a page can never do more than the same user could
//! through the API, and every rule (roles, validation) lives once, in the server.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

/// A refusal or failure from the API, in words for the user.
#[derive(Debug, Clone)]
pub(crate) struct ApiFailure {
    pub status: StatusCode,
    pub message: String,
}

impl ApiFailure {
    fn internal(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }
}

pub(crate) type ApiResult<T> = Result<T, ApiFailure>;

/// The API as one signed-in browser sees it.
#[derive(Clone)]
pub(crate) struct Api {
    router: Router,
    cookie: Option<HeaderValue>,
    client: Option<ConnectInfo<SocketAddr>>,
    /// The browser's `Host`, so links the API makes point where the browser is.
    host: Option<HeaderValue>,
    /// Cookies the API set (login, logout, session refresh), passed on to the browser.
    set_cookies: Arc<Mutex<Vec<HeaderValue>>>,
}

impl Api {
    pub(crate) fn new(
        router: Router,
        cookie: Option<HeaderValue>,
        client: Option<ConnectInfo<SocketAddr>>,
        host: Option<HeaderValue>,
    ) -> Self {
        Self {
            router,
            cookie,
            client,
            host,
            set_cookies: Arc::default(),
        }
    }

    /// The `Set-Cookie` values the API answered with so far.
    pub(crate) fn set_cookies(&self) -> Vec<HeaderValue> {
        self.set_cookies
            .lock()
            .map(|cookies| cookies.clone())
            .unwrap_or_default()
    }

    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> ApiResult<T> {
        self.json(Method::GET, path, None::<&()>).await
    }

    /// A GET whose answer is text (like a YAML export).
    pub(crate) async fn text(&self, path: &str) -> ApiResult<String> {
        let bytes = self.raw(Method::GET, path, None::<&()>).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    pub(crate) async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> ApiResult<T> {
        self.json(Method::POST, path, Some(body)).await
    }

    pub(crate) async fn patch<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> ApiResult<T> {
        self.json(Method::PATCH, path, Some(body)).await
    }

    /// A call whose answer has no body worth reading (204s, deletes).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> ApiResult<()> {
        self.raw(method, path, body).await.map(|_| ())
    }

    /// A POST whose answer may have a JSON body (none for 204).
    pub(crate) async fn post_maybe_json(&self, path: &str) -> ApiResult<Option<serde_json::Value>> {
        let bytes = self.raw(Method::POST, path, None::<&()>).await?;
        Ok(serde_json::from_slice(&bytes).ok())
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> ApiResult<T> {
        let bytes = self.raw(method, path, body).await?;
        serde_json::from_slice(&bytes)
            .map_err(|err| ApiFailure::internal(format!("unexpected answer from {path}: {err}")))
    }

    async fn raw(
        &self,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> ApiResult<bytes::Bytes> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::ACCEPT, "application/json");
        if let Some(cookie) = &self.cookie {
            request = request.header(header::COOKIE, cookie.clone());
        }
        if let Some(host) = &self.host {
            request = request.header(header::HOST, host.clone());
        }
        let body = match body {
            Some(body) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(
                    serde_json::to_vec(body)
                        .map_err(|err| ApiFailure::internal(err.to_string()))?,
                )
            }
            None => Body::empty(),
        };
        let mut request = request
            .body(body)
            .map_err(|err| ApiFailure::internal(err.to_string()))?;
        if let Some(client) = self.client {
            request.extensions_mut().insert(client);
        }
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .map_err(|err| ApiFailure::internal(err.to_string()))?;
        let status = response.status();
        if let Ok(mut cookies) = self.set_cookies.lock() {
            cookies.extend(
                response
                    .headers()
                    .get_all(header::SET_COOKIE)
                    .iter()
                    .cloned(),
            );
        }
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|err| ApiFailure::internal(err.to_string()))?
            .to_bytes();
        if status.is_success() {
            return Ok(bytes);
        }
        Err(ApiFailure {
            status,
            message: problem_message(&bytes).unwrap_or_else(|| {
                status
                    .canonical_reason()
                    .unwrap_or("request failed")
                    .to_string()
            }),
        })
    }
}

/// The `detail` (or `title`) of an RFC 9457 problem document.
fn problem_message(body: &[u8]) -> Option<String> {
    let problem: serde_json::Value = serde_json::from_slice(body).ok()?;
    problem
        .get("detail")
        .or_else(|| problem.get("title"))
        .and_then(|v| v.as_str())
        .map(str::to_string)
}
