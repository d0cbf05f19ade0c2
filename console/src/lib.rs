//! Tollgate's web console, rendered on the server with Leptos (no WASM; forms work without
//! JavaScript). The server mounts [`router`] at `/` and hands it its admin API router: every page
//! reads and changes things by calling that API in-process with the user's own session, so roles,
//! validation and tenant isolation are the API's, never repeated here.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

mod charts;
mod client;
mod csrf;
mod ctx;
mod flash;
mod format;
mod forms;
mod layout;
mod pages;
mod types;

pub use csrf::{cookie_value, same_origin, token as form_token};

use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

/// What the server gives the console.
pub struct Settings {
    /// The admin API (with its session layer); called in-process.
    pub api: Router,
    /// The proxy's base URL as clients reach it, for snippets (no trailing slash).
    pub proxy_url: String,
    /// The proxy's base URL as the server reaches it, for try-it calls.
    pub proxy_internal_url: String,
}

/// Shared by every console request.
#[derive(Clone)]
pub struct ConsoleState {
    api: Router,
    proxy_url: String,
    proxy_internal_url: String,
    http: reqwest::Client,
    session_cookie: &'static str,
}

/// Name of the session cookie (the admin API's).
pub const SESSION_COOKIE: &str = "tollgate_session";

const STYLESHEET: &str = include_str!("../assets/console.css");
const SCRIPT: &str = include_str!("../assets/console.js");
const PORTAL_DOCS_SCRIPT: &str = include_str!("../assets/portal-docs.js");

/// The console's routes; fails only when its HTTP client (for try-it calls) cannot be built.
pub fn router(settings: Settings) -> Result<Router, reqwest::Error> {
    let state = ConsoleState {
        api: settings.api,
        proxy_url: settings.proxy_url,
        proxy_internal_url: settings.proxy_internal_url,
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?,
        session_cookie: SESSION_COOKIE,
    };
    use pages::*;
    Ok(Router::new()
        .route("/", get(home))
        .route("/login", get(login::form).post(login::submit))
        .route(
            "/invitations/{token}",
            get(invitation::page).post(invitation::accept),
        )
        .route("/logout", post(login::logout))
        .route("/reset-password", get(reset::form).post(reset::submit))
        .route("/t/{tenant}/account", get(account::page))
        .route(
            "/t/{tenant}/account/password",
            post(account::change_password),
        )
        .route("/t/{tenant}/users", get(users::list))
        .route("/t/{tenant}/users/{id}/disable", post(users::disable))
        .route("/t/{tenant}/users/{id}/enable", post(users::enable))
        .route("/t/{tenant}/users/{id}/reset", post(users::reset))
        .route("/t/{tenant}/users/{id}/delete", post(users::delete))
        .route("/t/{tenant}/mcp", get(mcp::list).post(mcp::create))
        .route("/t/{tenant}/mcp/{id}/test", post(mcp::test))
        .route("/t/{tenant}/mcp/{id}/delete", post(mcp::delete))
        .route("/t/{tenant}/portal", get(portal::home))
        .route("/t/{tenant}/portal/products", post(portal::create_product))
        .route("/t/{tenant}/portal/products/{id}", get(portal::product))
        .route("/t/{tenant}/portal/products/{id}/docs", get(portal::docs))
        .route("/t/{tenant}/portal/products/{id}/try", post(portal::try_it))
        .route(
            "/t/{tenant}/portal/products/{id}/subscribe",
            post(portal::subscribe),
        )
        .route(
            "/t/{tenant}/portal/applications",
            post(portal::create_application),
        )
        .route(
            "/t/{tenant}/portal/applications/{id}",
            get(portal::application),
        )
        .route(
            "/t/{tenant}/portal/applications/{id}/keys",
            post(portal::create_key),
        )
        .route(
            "/t/{tenant}/portal/applications/{id}/subscriptions/{subscription}/cancel",
            post(portal::cancel),
        )
        .route(
            "/t/{tenant}/portal/subscriptions/{id}/decision",
            post(portal::decide),
        )
        .route("/t/{tenant}/jwt", get(jwt::list).post(jwt::create))
        .route("/t/{tenant}/jwt/{id}/delete", post(jwt::delete))
        .route("/t/{tenant}/sso", get(sso::list).post(sso::create))
        .route("/t/{tenant}/sso/{id}", get(sso::edit).post(sso::update))
        .route("/t/{tenant}/sso/{id}/delete", post(sso::delete))
        .route("/switch", get(switch))
        .route("/t/{tenant}", get(dashboard::page))
        .route("/t/{tenant}/", get(dashboard::page))
        .route("/t/{tenant}/keys", get(keys::list).post(keys::create))
        .route("/t/{tenant}/keys/{id}", get(keys::edit).post(keys::update))
        .route("/t/{tenant}/keys/{id}/revoke", post(keys::revoke))
        .route(
            "/t/{tenant}/providers",
            get(providers::list).post(providers::create),
        )
        .route(
            "/t/{tenant}/providers/{id}",
            get(providers::edit).post(providers::update),
        )
        .route("/t/{tenant}/providers/{id}/test", post(providers::test))
        .route("/t/{tenant}/providers/{id}/delete", post(providers::delete))
        .route("/t/{tenant}/models", get(models::list).post(models::create))
        .route(
            "/t/{tenant}/models/{id}",
            get(models::edit).post(models::update),
        )
        .route("/t/{tenant}/models/{id}/delete", post(models::delete))
        .route(
            "/t/{tenant}/prompt-apis",
            get(prompt_apis::list).post(prompt_apis::create),
        )
        .route(
            "/t/{tenant}/prompt-apis/{id}",
            get(prompt_apis::edit).post(prompt_apis::update),
        )
        .route(
            "/t/{tenant}/prompt-apis/{id}/activate",
            post(prompt_apis::activate),
        )
        .route(
            "/t/{tenant}/prompt-apis/{id}/try",
            post(prompt_apis::try_it),
        )
        .route(
            "/t/{tenant}/prompt-apis/{id}/delete",
            post(prompt_apis::delete),
        )
        .route("/t/{tenant}/routes", get(routes::list).post(routes::create))
        .route(
            "/t/{tenant}/routes/{id}",
            get(routes::edit).post(routes::update),
        )
        .route("/t/{tenant}/routes/{id}/delete", post(routes::delete))
        .route(
            "/t/{tenant}/services",
            get(services::list).post(services::create),
        )
        .route(
            "/t/{tenant}/services/{id}",
            get(services::edit).post(services::update),
        )
        .route("/t/{tenant}/services/{id}/delete", post(services::delete))
        .route(
            "/t/{tenant}/services/{id}/openapi",
            post(services::save_openapi),
        )
        .route("/t/{tenant}/config", get(config::page))
        .route("/t/{tenant}/config/tenant.yaml", get(config::download))
        .route("/t/{tenant}/usage", get(usage::log))
        .route("/t/{tenant}/usage.csv", get(usage::csv))
        .route(
            "/t/{tenant}/members",
            get(members::list).post(members::invite),
        )
        .route("/t/{tenant}/members/{user}", post(members::change_role))
        .route("/t/{tenant}/members/{user}/remove", post(members::remove))
        .route("/t/{tenant}/tenants", post(members::create_tenant))
        .route("/t/{tenant}/audit", get(audit::page))
        .route("/t/{tenant}/platform", get(platform::page))
        .route("/t/{tenant}/proxies", get(proxies::page))
        .route("/t/{tenant}/platform/egress", post(platform::save_egress))
        .route("/t/{tenant}/platform/quotas", post(platform::save_quotas))
        .route(
            "/t/{tenant}/platform/namespaces/{slug}",
            post(platform::save_namespace),
        )
        .route("/t/{tenant}/tokens", get(tokens::list).post(tokens::create))
        .route("/t/{tenant}/tokens/{id}/delete", post(tokens::delete))
        .route_layer(axum::middleware::from_fn(|request, next| {
            csrf::protect(SESSION_COOKIE, request, next)
        }))
        .route("/assets/console.css", get(stylesheet))
        .route("/assets/console.js", get(script))
        .route("/assets/portal-docs.js", get(portal_docs_script))
        .with_state(state))
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        STYLESHEET,
    )
}

async fn portal_docs_script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        PORTAL_DOCS_SCRIPT,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        SCRIPT,
    )
}
