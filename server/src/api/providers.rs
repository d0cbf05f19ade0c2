//! AI providers of a tenant.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::roles::Require;
use crate::service::providers::{self, CreateProvider, Provider, ProviderTest};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, update_provider, delete_provider))
        .routes(routes!(test_provider))
}

/// The tenant's providers (credentials are never shown; `key_hint` identifies the key).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/providers", tag = "providers",
    params(TenantParam),
    responses((status = 200, body = Vec<Provider>), NotFound))]
async fn list_providers(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Provider>>> {
    Ok(Json(providers::list(&state.db, &access).await?))
}

/// Add a provider (admins and owners). The API key is encrypted at rest and never returned.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/providers", tag = "providers", request_body = CreateProvider,
    params(TenantParam),
    responses(
        (status = 201, body = Provider),
        Forbidden,
        Conflict,
        Invalid,
    ))]
async fn create_provider(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(input): ApiJson<CreateProvider>,
) -> ApiResult<(StatusCode, Json<Provider>)> {
    let provider = providers::create(&state.db, &state.secrets, &principal, &access, input).await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

/// One provider.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/providers/{id}", tag = "providers",
    params(TenantParam, ("id" = Uuid, Path, description = "Provider id")),
    responses((status = 200, body = Provider), NotFound))]
async fn get_provider(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<Provider>> {
    Ok(Json(providers::get(&state.db, &access, id).await?))
}

/// Change a provider: name, base URL, API version, or replace its key or extra headers.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/providers/{id}", tag = "providers",
    request_body(content = CreateProvider, description = "JSON merge patch (RFC 7386) of these fields; the kind cannot change"),
    params(TenantParam, ("id" = Uuid, Path, description = "Provider id")),
    responses(
        (status = 200, body = Provider),
        Forbidden,
        NotFound,
        Invalid,
    ))]
async fn update_provider(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Provider>> {
    Ok(Json(
        providers::update(&state.db, &state.secrets, &principal, &access, id, patch).await?,
    ))
}

/// Delete a provider no model deploys on.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/providers/{id}", tag = "providers",
    params(TenantParam, ("id" = Uuid, Path, description = "Provider id")),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
        (status = 409, description = "Models still use it", body = Problem, content_type = "application/problem+json"),
    ))]
async fn delete_provider(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    providers::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Check the credentials: lists the provider's models (costs no tokens) and reports the outcome.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/providers/{id}/test", tag = "providers",
    params(TenantParam, ("id" = Uuid, Path, description = "Provider id")),
    responses(
        (status = 200, body = ProviderTest),
        Forbidden,
        NotFound,
    ))]
async fn test_provider(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<ProviderTest>> {
    access
        .role
        .require(crate::roles::Role::Admin, "test providers")?;
    Ok(Json(
        providers::test(&state.db, &state.secrets, &access, id).await?,
    ))
}
