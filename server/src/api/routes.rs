//! REST routes the proxies serve.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::service::routes::{self, Route, RouteSpec};
use crate::service::tenants;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, update_route, delete_route))
}

/// The tenant's routes.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/routes", tag = "routes",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, body = Vec<Route>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_routes(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<Json<Vec<Route>>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(routes::list(&state.db, &access).await?))
}

/// Create a route (admins and owners). Proxies pick it up within about a second.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/routes", tag = "routes", request_body = RouteSpec,
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 201, body = Route),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Name taken, or another route matches the same requests", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_route(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(spec): ApiJson<RouteSpec>,
) -> ApiResult<(StatusCode, Json<Route>)> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    let route = routes::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(route)))
}

/// One route.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/routes/{id}", tag = "routes",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = Uuid, Path, description = "Route id")),
    responses(
        (status = 200, body = Route),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_route(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
) -> ApiResult<Json<Route>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(routes::get(&state.db, &access, id).await?))
}

/// Change a route: send any subset of its fields (JSON merge patch; `null` restores a default).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/routes/{id}", tag = "routes",
    request_body(content = Object, description = "Any subset of the route's fields"),
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = Uuid, Path, description = "Route id")),
    responses(
        (status = 200, body = Route),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_route(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Route>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(
        routes::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Delete a route (admins and owners).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/routes/{id}", tag = "routes",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = Uuid, Path, description = "Route id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_route(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
) -> ApiResult<StatusCode> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    routes::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
