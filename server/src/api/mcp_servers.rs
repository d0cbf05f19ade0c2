//! Remote MCP servers of a tenant.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::mcp_servers::{self, McpServer, McpServerSpec, McpServerTest};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_servers, create_server))
        .routes(routes!(get_server, update_server, delete_server))
        .routes(routes!(test_server))
}

/// The tenant's MCP servers (never their credentials).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/mcp-servers", tag = "mcp",
    params(TenantParam), responses((status = 200, body = Vec<McpServer>), NotFound))]
async fn list_servers(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<McpServer>>> {
    Ok(Json(mcp_servers::list(&state.db, &access).await?))
}

/// Add a remote MCP server (admins and owners); credentials are write-only.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/mcp-servers", tag = "mcp",
    request_body = McpServerSpec, params(TenantParam),
    responses((status = 201, body = McpServer), Forbidden, Conflict, Invalid))]
async fn create_server(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<McpServerSpec>,
) -> ApiResult<(StatusCode, Json<McpServer>)> {
    let server = mcp_servers::create(&state.db, &state.secrets, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(server)))
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/mcp-servers/{id}", tag = "mcp",
    params(TenantParam, ("id" = Uuid, Path, description = "MCP server id")),
    responses((status = 200, body = McpServer), NotFound))]
async fn get_server(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<McpServer>> {
    Ok(Json(mcp_servers::get(&state.db, &access, id).await?))
}

/// Change an MCP server (JSON merge patch; `"bearer_token": null` removes the token).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/mcp-servers/{id}", tag = "mcp",
    request_body(content = McpServerSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "MCP server id")),
    responses((status = 200, body = McpServer), Forbidden, NotFound, Conflict, Invalid))]
async fn update_server(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<McpServer>> {
    Ok(Json(
        mcp_servers::update(&state.db, &state.secrets, &principal, &access, id, patch).await?,
    ))
}

#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/mcp-servers/{id}", tag = "mcp",
    params(TenantParam, ("id" = Uuid, Path, description = "MCP server id")),
    responses((status = 204, description = "Deleted"), Forbidden, NotFound))]
async fn delete_server(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    mcp_servers::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Connect to the server as an MCP client with its credentials and list its tools.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/mcp-servers/{id}/test", tag = "mcp",
    params(TenantParam, ("id" = Uuid, Path, description = "MCP server id")),
    responses((status = 200, body = McpServerTest), NotFound))]
async fn test_server(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<McpServerTest>> {
    Ok(Json(
        mcp_servers::test(&state.db, &state.secrets, &access, id).await?,
    ))
}
