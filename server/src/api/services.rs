//! Services (upstreams): named sets of targets that routes forward to.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::openapi_docs::{self, OpenApiUpload, ServiceOpenApi};
use crate::service::upstreams::{self, Service, ServiceSpec};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_services, create_service))
        .routes(routes!(get_service, update_service, delete_service))
        .routes(routes!(get_openapi, put_openapi, delete_openapi))
}

/// The tenant's services.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/services", tag = "services",
    params(TenantParam),
    responses(
        (status = 200, body = Vec<Service>),
        NotFound,
    ))]
async fn list_services(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Service>>> {
    Ok(Json(upstreams::list(&state.db, &access).await?))
}

/// Create a service (admins and owners). Routes then forward to it by name.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/services", tag = "services", request_body = ServiceSpec,
    params(TenantParam),
    responses(
        (status = 201, body = Service),
        Forbidden,
        (status = 409, description = "Name taken", body = Problem, content_type = "application/problem+json"),
        Invalid,
    ))]
async fn create_service(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<ServiceSpec>,
) -> ApiResult<(StatusCode, Json<Service>)> {
    let service = upstreams::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(service)))
}

/// One service.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/services/{id}", tag = "services",
    params(TenantParam, ("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 200, body = Service),
        NotFound,
    ))]
async fn get_service(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<Service>> {
    Ok(Json(upstreams::get(&state.db, &access, id).await?))
}

/// Change a service: send any subset of its fields (JSON merge patch; `null` restores a
/// default). Subsets that routes send traffic to must keep a target.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/services/{id}", tag = "services",
    request_body(content = ServiceSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 200, body = Service),
        Forbidden,
        NotFound,
        Conflict,
        Invalid,
    ))]
async fn update_service(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Service>> {
    Ok(Json(
        upstreams::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Delete a service no route forwards to (admins and owners).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/services/{id}", tag = "services",
    params(TenantParam, ("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
        Conflict,
    ))]
async fn delete_service(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    upstreams::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The service's OpenAPI document, and the MCP tools its operations make.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/services/{id}/openapi", tag = "services",
    params(TenantParam, ("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 200, body = ServiceOpenApi),
        NotFound,
    ))]
async fn get_openapi(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<ServiceOpenApi>> {
    Ok(Json(openapi_docs::get(&state.db, &access, id).await?))
}

/// Store the service's OpenAPI 3 document (admins and owners); with `publish_as_tools`, the
/// routes that forward to the service publish each operation as an MCP tool
/// (`/mcp/rest-apis` on the proxy) to keys that may use the route.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/services/{id}/openapi", tag = "services",
    request_body = OpenApiUpload,
    params(TenantParam, ("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 200, body = ServiceOpenApi),
        Forbidden,
        NotFound,
        Invalid,
    ))]
async fn put_openapi(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(upload): ApiJson<OpenApiUpload>,
) -> ApiResult<Json<ServiceOpenApi>> {
    Ok(Json(
        openapi_docs::put(&state.db, &principal, &access, id, upload).await?,
    ))
}

/// Remove the service's OpenAPI document (and the tools it made).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/services/{id}/openapi", tag = "services",
    params(TenantParam, ("id" = Uuid, Path, description = "Service id")),
    responses(
        (status = 204, description = "Removed"),
        Forbidden,
        NotFound,
    ))]
async fn delete_openapi(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    openapi_docs::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
