//! REST routes the proxies serve.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::routes::{self, Route, RouteSpec};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_routes, create_route))
        .routes(routes!(get_route, update_route, delete_route))
}

/// The tenant's routes.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/routes", tag = "routes",
    params(TenantParam),
    responses(
        (status = 200, body = Vec<Route>),
        NotFound,
    ))]
async fn list_routes(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Route>>> {
    Ok(Json(routes::list(&state.db, &access).await?))
}

/// Create a route (admins and owners). Proxies pick it up within about a second.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/routes", tag = "routes", request_body = RouteSpec,
    params(TenantParam),
    responses(
        (status = 201, body = Route),
        Forbidden,
        (status = 409, description = "Name taken, or another route matches the same requests", body = Problem, content_type = "application/problem+json"),
        Invalid,
    ))]
async fn create_route(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<RouteSpec>,
) -> ApiResult<(StatusCode, Json<Route>)> {
    let route = routes::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(route)))
}

/// One route.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/routes/{id}", tag = "routes",
    params(TenantParam, ("id" = Uuid, Path, description = "Route id")),
    responses(
        (status = 200, body = Route),
        NotFound,
    ))]
async fn get_route(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<Route>> {
    Ok(Json(routes::get(&state.db, &access, id).await?))
}

/// Change a route: send any subset of its fields (JSON merge patch; `null` restores a default).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/routes/{id}", tag = "routes",
    request_body(content = RouteSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "Route id")),
    responses(
        (status = 200, body = Route),
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ))]
async fn update_route(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Route>> {
    Ok(Json(
        routes::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Delete a route (admins and owners).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/routes/{id}", tag = "routes",
    params(TenantParam, ("id" = Uuid, Path, description = "Route id")),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
    ))]
async fn delete_route(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    routes::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
