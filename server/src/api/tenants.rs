//! Tenants.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::api::problems::{Forbidden, NotFound};
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, TenantParam};
use crate::service::tenants::{self, CreateTenant, TenantView};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tenants, create_tenant))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
}

/// Tenants you can see: all of them for platform admins, else those you belong to.
#[utoipa::path(get, path = "/api/v1/tenants", tag = "tenants",
    responses((status = 200, body = Vec<TenantView>)))]
async fn list_tenants(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<TenantView>>> {
    Ok(Json(tenants::list(&state.db, &principal).await?))
}

/// Create a tenant (platform admins). You become its owner.
#[utoipa::path(post, path = "/api/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses(
        (status = 201, body = TenantView),
        Forbidden,
        (status = 409, description = "Slug taken", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CreateTenant>,
) -> ApiResult<(StatusCode, Json<TenantView>)> {
    let tenant = tenants::create(&state.db, &principal, input).await?;
    Ok((StatusCode::CREATED, Json(tenant)))
}

/// One tenant, by id or slug.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}", tag = "tenants",
    params(TenantParam),
    responses(
        (status = 200, body = TenantView),
        NotFound,
    ))]
async fn get_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(tenants::get(&state.db, &principal, &tenant).await?))
}

/// Rename a tenant or change its slug (admins and owners); a `null` slug is derived from the name.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}", tag = "tenants",
    request_body(content = CreateTenant, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam),
    responses(
        (status = 200, body = TenantView),
        Forbidden,
        NotFound,
    ))]
async fn update_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<TenantView>> {
    Ok(Json(
        tenants::update(&state.db, &principal, &tenant, patch).await?,
    ))
}

/// Delete a tenant and everything in it (platform admins).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}", tag = "tenants",
    params(TenantParam),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
    ))]
async fn delete_tenant(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<StatusCode> {
    tenants::delete(&state.db, &principal, &tenant).await?;
    Ok(StatusCode::NO_CONTENT)
}
