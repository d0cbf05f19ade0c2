//! Data-plane API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::api_keys::{self, ApiKey, CreateApiKey, CreatedApiKey};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, update_key, revoke_key))
}

/// The tenant's API keys, revoked ones included (never secrets or hashes).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/keys", tag = "keys",
    params(TenantParam),
    responses(
        (status = 200, body = Vec<ApiKey>),
        NotFound,
    ))]
async fn list_keys(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<ApiKey>>> {
    Ok(Json(api_keys::list(&state.db, &access).await?))
}

/// Create an API key (members and above). Its `secret` is returned this once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/keys", tag = "keys", request_body = CreateApiKey,
    params(TenantParam),
    responses(
        (status = 201, body = CreatedApiKey),
        Forbidden,
        NotFound,
        Invalid,
    ))]
async fn create_key(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(input): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let created = api_keys::create(&state.db, &principal, &access, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One API key.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/keys/{id}", tag = "keys",
    params(TenantParam, ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, body = ApiKey),
        NotFound,
    ))]
async fn get_key(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(api_keys::get(&state.db, &access, id).await?))
}

/// Change a key's name, expiry, scopes, limits or budget (members and above).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/keys/{id}", tag = "keys",
    request_body(content = CreateApiKey, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, body = ApiKey),
        Forbidden,
        NotFound,
        (status = 409, description = "The key is revoked", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_key(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<ApiKey>> {
    Ok(Json(
        api_keys::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Revoke a key for good (members and above). It stays listed, marked revoked.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/keys/{id}", tag = "keys",
    params(TenantParam, ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        Forbidden,
        NotFound,
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    api_keys::revoke(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
