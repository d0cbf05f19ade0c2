//! Data-plane API keys.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::Principal;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath};
use crate::service::api_keys::{self, ApiKey, CreateApiKey, CreatedApiKey, UpdateApiKey};
use crate::service::tenants;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(get_key, update_key, revoke_key))
}

/// The tenant's API keys, revoked ones included (never secrets or hashes).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/keys", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 200, body = Vec<ApiKey>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_keys(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
) -> ApiResult<Json<Vec<ApiKey>>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(api_keys::list(&state.db, &access).await?))
}

/// Create an API key (members and above). Its `secret` is returned this once.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/keys", tag = "keys", request_body = CreateApiKey,
    params(("tenant" = String, Path, description = "Tenant id or slug")),
    responses(
        (status = 201, body = CreatedApiKey),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiJson(input): ApiJson<CreateApiKey>,
) -> ApiResult<(StatusCode, Json<CreatedApiKey>)> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    let created = api_keys::create(&state.db, &principal, &access, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// One API key.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/keys/{id}", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, body = ApiKey),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
) -> ApiResult<Json<ApiKey>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(api_keys::get(&state.db, &access, id).await?))
}

/// Change a key's name, expiry, scopes, limits or budget (members and above).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/keys/{id}", tag = "keys", request_body = UpdateApiKey,
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 200, body = ApiKey),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The key is revoked", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
    ApiJson(input): ApiJson<UpdateApiKey>,
) -> ApiResult<Json<ApiKey>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(
        api_keys::update(&state.db, &principal, &access, id, input).await?,
    ))
}

/// Revoke a key for good (members and above). It stays listed, marked revoked.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/keys/{id}", tag = "keys",
    params(("tenant" = String, Path, description = "Tenant id or slug"), ("id" = Uuid, Path, description = "Key id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((tenant, id)): ApiPath<(String, Uuid)>,
) -> ApiResult<StatusCode> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    api_keys::revoke(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
