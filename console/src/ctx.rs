//! What every console request starts from: the user's API client, CSRF token and flash message,
//! and for pages inside a tenant, who the user is and their role there.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Path};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::RequestPartsExt;
use serde::Deserialize;

use crate::client::{Api, ApiFailure};
use crate::csrf;
pub(crate) use crate::flash::Flash;
use crate::layout::{self, Nav};
use crate::types::{Me, TenantView};
use crate::ConsoleState;

const FLASH_COOKIE: &str = "tollgate_flash";

/// Pages load only our own script and stylesheet, post only to us, and cannot be framed.
/// (Inline `style` attributes size the chart bars and swatches.)
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// A console request: the API as this browser's session sees it.
pub(crate) struct Ctx {
    pub api: Api,
    /// The placeholder token forms carry until the page is bound (see `csrf::bind_forms`).
    pub csrf: String,
    /// The session cookie's value, which form tokens are derived from.
    session: Option<String>,
    pub flash: Option<Flash>,
    /// The path and query of this request (where to come back to after signing in).
    pub here: String,
    pub proxy_url: String,
    /// Where this server reaches the proxy (try-it calls).
    pub proxy_internal_url: String,
    pub http: reqwest::Client,
    /// `http://` and the host the browser asked for.
    origin: String,
}

impl FromRequestParts<ConsoleState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let session = csrf::cookie_value(&parts.headers, state.session_cookie);
        let cookie = parts.headers.get(header::COOKIE).cloned();
        let client = parts.extensions.get::<ConnectInfo<SocketAddr>>().copied();
        let host = parts.headers.get(header::HOST).cloned();
        Ok(Self {
            origin: host
                .as_ref()
                .and_then(|h| h.to_str().ok())
                .map_or_else(|| "http://127.0.0.1:8001".into(), |h| format!("http://{h}")),
            api: Api::new(state.api.clone(), cookie, client, host),
            csrf: csrf::placeholder(session),
            session: session.map(str::to_string),
            flash: csrf::cookie_value(&parts.headers, FLASH_COOKIE).and_then(Flash::decode),
            here: here(parts),
            proxy_url: state.proxy_url.clone(),
            proxy_internal_url: state.proxy_internal_url.clone(),
            http: state.http.clone(),
        })
    }
}

/// Where to come back to after signing in: this page, or for a form post the page it was on.
fn here(parts: &Parts) -> String {
    if parts.method == axum::http::Method::GET {
        return parts
            .uri
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string());
    }
    parts
        .headers
        .get(header::REFERER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| url::Url::parse(v).ok())
        .map(|url| match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_string(),
        })
        .unwrap_or_else(|| "/".to_string())
}

impl Ctx {
    /// The console's origin as the browser reached it.
    pub(crate) fn origin(&self) -> String {
        self.origin.clone()
    }

    /// A full page: the API's cookies passed on, the shown flash message cleared.
    /// A whole HTML document of its own (no console layout), with the console's headers.
    pub(crate) fn standalone(&self, html: String) -> Response {
        let response = (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response();
        self.finish(response)
    }

    pub(crate) fn page(&self, nav: Option<&Nav>, title: &str, body: String) -> Response {
        let html = layout::document(title, nav, self.flash.as_ref(), &self.csrf, body);
        let html = csrf::bind_forms(&html, self.session.as_deref());
        let mut response = (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CONTENT_SECURITY_POLICY, CSP),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
                (header::REFERRER_POLICY, "same-origin"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response();
        if self.flash.is_some() {
            append_cookie(
                &mut response,
                &format!("{FLASH_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"),
            );
        }
        self.finish(response)
    }

    /// A 303 to `to`, with a message for the next page.
    pub(crate) fn redirect(&self, to: &str, flash: Option<Flash>) -> Response {
        let mut response = Redirect::to(to).into_response();
        if let Some(flash) = flash {
            append_cookie(
                &mut response,
                &format!(
                    "{FLASH_COOKIE}={}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax",
                    flash.encode()
                ),
            );
        }
        self.finish(response)
    }

    /// Back to `to` with the outcome of an API call as the flash message.
    pub(crate) fn after<T>(
        &self,
        to: &str,
        result: Result<T, ApiFailure>,
        success: impl FnOnce(T) -> String,
    ) -> Response {
        match result {
            Ok(value) => self.redirect(to, Some(Flash::Success(success(value)))),
            Err(failure) if failure.status == StatusCode::UNAUTHORIZED => self.to_login(),
            Err(failure) => self.redirect(to, Some(Flash::Error(failure.message))),
        }
    }

    pub(crate) fn to_login(&self) -> Response {
        let next: String = url::form_urlencoded::byte_serialize(self.here.as_bytes()).collect();
        self.redirect(&format!("/login?next={next}"), None)
    }

    /// A page for an API failure while reading what a page shows.
    pub(crate) fn failure(&self, nav: Option<&Nav>, failure: ApiFailure) -> Response {
        if failure.status == StatusCode::UNAUTHORIZED {
            return self.to_login();
        }
        let title = if failure.status == StatusCode::NOT_FOUND {
            "Not found"
        } else {
            "Something went wrong"
        };
        let mut response = self.page(nav, title, layout::problem(title, &failure.message));
        *response.status_mut() = if failure.status.is_client_error() {
            failure.status
        } else {
            StatusCode::BAD_GATEWAY
        };
        response
    }

    fn finish(&self, mut response: Response) -> Response {
        for cookie in self.api.set_cookies() {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        response
    }
}

fn append_cookie(response: &mut Response, cookie: &str) {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

/// A request for a page inside a tenant (`/t/{tenant}/…`): the signed-in user and their role.
pub(crate) struct TenantCtx {
    pub ctx: Ctx,
    pub me: Me,
    pub nav: Nav,
}

#[derive(Deserialize)]
struct TenantParam {
    tenant: String,
}

impl FromRequestParts<ConsoleState> for TenantCtx {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let Ok(ctx) = Ctx::from_request_parts(parts, state).await;
        let slug = parts
            .extract::<Path<TenantParam>>()
            .await
            .map(|Path(param)| param.tenant)
            .unwrap_or_default();
        let me: Me = match ctx.api.get("/api/v1/me").await {
            Ok(me) => me,
            Err(failure) => return Err(ctx.failure(None, failure)),
        };
        let tenants: Vec<TenantView> = match ctx.api.get("/api/v1/tenants").await {
            Ok(tenants) => tenants,
            Err(failure) => return Err(ctx.failure(None, failure)),
        };
        let Some(current) = tenants.iter().find(|t| t.tenant.slug == slug).cloned() else {
            let nav = Nav::without_tenant(&me, tenants);
            let failure = ApiFailure {
                status: StatusCode::NOT_FOUND,
                message: format!("There is no tenant '{slug}' that you can see."),
            };
            return Err(ctx.failure(Some(&nav), failure));
        };
        let section = parts.uri.path().split('/').nth(3).unwrap_or("").to_string();
        let nav = Nav {
            email: me.email.clone(),
            platform_admin: me.platform_admin,
            tenants,
            current: Some(current),
            section,
        };
        Ok(Self { ctx, me, nav })
    }
}

impl TenantCtx {
    /// The current tenant's slug, for building paths.
    pub(crate) fn slug(&self) -> &str {
        self.nav
            .current
            .as_ref()
            .map_or("", |t| t.tenant.slug.as_str())
    }

    /// `/t/{slug}{rest}`
    pub(crate) fn path(&self, rest: &str) -> String {
        format!("/t/{}{rest}", self.slug())
    }

    /// The API path of this tenant: `/api/v1/tenants/{slug}{rest}`.
    pub(crate) fn api_path(&self, rest: &str) -> String {
        format!("/api/v1/tenants/{}{rest}", self.slug())
    }

    /// The user's role here.
    pub(crate) fn role(&self) -> crate::types::Role {
        self.nav
            .current
            .as_ref()
            .map_or(crate::types::Role::Viewer, |t| t.role)
    }

    pub(crate) fn page(&self, title: &str, body: String) -> Response {
        self.ctx.page(Some(&self.nav), title, body)
    }

    pub(crate) fn failure(&self, failure: ApiFailure) -> Response {
        self.ctx.failure(Some(&self.nav), failure)
    }

    pub(crate) fn after<T>(
        &self,
        to: &str,
        result: Result<T, ApiFailure>,
        success: impl FnOnce(T) -> String,
    ) -> Response {
        self.ctx.after(to, result, success)
    }

    /// Back to `to` with the API's reason for refusing.
    pub(crate) fn refused(&self, to: &str, failure: ApiFailure) -> Response {
        self.ctx.after(to, Err::<(), _>(failure), |_| String::new())
    }
}

#[cfg(test)]
mod tests {
    use super::Flash;

    #[test]
    fn flash_survives_the_cookie() {
        for flash in [
            Flash::Success("Key \"ci\" created; 100% done".into()),
            Flash::Error("name: must not be empty; é".into()),
        ] {
            assert_eq!(Flash::decode(&flash.encode()), Some(flash));
        }
    }
}
