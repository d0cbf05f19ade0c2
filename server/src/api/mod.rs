//! The admin REST API under `/api/v1`, its OpenAPI document and the offline docs UI.

mod audit;
pub(crate) mod auth;
mod config;
mod dataplanes;
mod health;
mod identity_providers;
mod internal;
mod invitations;
mod jwt_issuers;
mod keys;
mod mcp_servers;
mod members;
mod models;
mod portal;
pub(crate) mod problems;
mod prompt_apis;
mod providers;
mod routes;
mod services;
mod settings;
pub(crate) mod sso;
mod tenants;
mod tokens;
mod usage;
pub(crate) mod users;

use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::state::AppState;

/// Name of the console's and API's session cookie (the console owns it; the API shares it).
pub(crate) use tollgate_console::SESSION_COOKIE;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tollgate admin API",
        description = "Manage tenants, members, API keys and admin tokens of a Tollgate control plane. \
            Authenticate with the session cookie from `POST /api/v1/auth/login`, or with \
            `Authorization: Bearer <admin token>`. Errors are RFC 9457 `application/problem+json`."
    ),
    modifiers(&SecuritySchemes),
    security(("session" = []), ("bearer" = [])),
    tags(
        (name = "auth", description = "Login, logout and the signed-in user"),
        (name = "tokens", description = "Personal admin tokens for scripts"),
        (name = "users", description = "Users of the platform: disable, enable, delete, password reset links (platform admins)"),
        (name = "sso", description = "Single sign-on through OpenID Connect identity providers"),
        (name = "mcp", description = "Remote MCP servers behind tenant keys"),
        (name = "portal", description = "The developer portal: API products and plans, the catalog, applications, their keys and subscriptions with approval"),
        (name = "jwt", description = "JWT callers: identity providers whose tokens callers present to the proxy instead of keys"),
        (name = "tenants", description = "Tenants (organisations or teams)"),
        (name = "members", description = "Tenant members and their roles"),
        (name = "keys", description = "Data-plane API keys"),
        (name = "routes", description = "REST routes the proxies serve"),
        (name = "config", description = "Configuration as code: export a tenant's configuration as YAML, apply a document as a whole"),
        (name = "services", description = "Services (upstreams): named sets of targets, with subsets and active health checks, that routes forward to"),
        (name = "providers", description = "AI providers and their (write-only) credentials"),
        (name = "models", description = "Models, their deployments and prices; the price catalog"),
        (name = "prompt-apis", description = "Prompt templates served as REST endpoints by the proxy"),
        (name = "usage", description = "The request log and usage summaries"),
        (name = "dataplanes", description = "The proxies and their configuration versions"),
        (name = "audit", description = "Who changed what, when"),
        (name = "settings", description = "Platform settings: egress policy and tenant quotas"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
/// The admin API's OpenAPI document: its info, tags and security schemes (`openapi()` adds
/// the paths).
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every API route, registered with its OpenAPI operation so the document cannot drift.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(health::router())
        .merge(auth::router())
        .merge(tokens::router())
        .merge(tenants::router())
        .merge(members::router())
        .merge(keys::router())
        .merge(routes::router())
        .merge(services::router())
        .merge(config::router())
        .merge(providers::router())
        .merge(models::router())
        .merge(prompt_apis::router())
        .merge(usage::router())
        .merge(dataplanes::router())
        .merge(audit::router())
        .merge(settings::router())
        .merge(invitations::router())
        .merge(users::router())
        .merge(identity_providers::router())
        .merge(sso::router())
        .merge(jwt_issuers::router())
        .merge(mcp_servers::router())
        .merge(portal::router())
}

/// The OpenAPI document of the admin API, as `/api/openapi.json` serves it.
pub fn openapi() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}

/// The API router with `/api/openapi.json` and the docs UI at `/api/docs`.
pub(crate) fn router(state: AppState) -> Router {
    let (router, openapi) = routes().split_for_parts();
    router
        .with_state(state.clone())
        .merge(internal::router(state))
        .merge(SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi))
}
