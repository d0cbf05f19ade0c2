//! Prompt APIs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::prompt_apis::{self, PromptApi, PromptApiSpec};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_prompt_apis, create_prompt_api))
        .routes(routes!(
            get_prompt_api,
            update_prompt_api,
            delete_prompt_api
        ))
        .routes(routes!(activate_version))
        .routes(routes!(prompt_api_openapi))
}

/// The tenant's prompt APIs.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/prompt-apis", tag = "prompt-apis",
    params(TenantParam),
    responses((status = 200, body = Vec<PromptApi>), NotFound))]
async fn list_prompt_apis(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<PromptApi>>> {
    Ok(Json(prompt_apis::list(&state.db, &access).await?))
}

/// Create a prompt API (members and above); it is served at `POST /prompts/{slug}` on the proxy.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/prompt-apis", tag = "prompt-apis", request_body = PromptApiSpec,
    params(TenantParam),
    responses(
        (status = 201, body = PromptApi),
        Forbidden,
        Conflict,
        Invalid,
    ))]
async fn create_prompt_api(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<PromptApiSpec>,
) -> ApiResult<(StatusCode, Json<PromptApi>)> {
    Ok((
        StatusCode::CREATED,
        Json(prompt_apis::create(&state.db, &principal, &access, spec).await?),
    ))
}

/// One prompt API with its versions.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/prompt-apis/{id}", tag = "prompt-apis",
    params(TenantParam, ("id" = Uuid, Path, description = "Prompt API id")),
    responses((status = 200, body = PromptApi), NotFound))]
async fn get_prompt_api(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<PromptApi>> {
    Ok(Json(prompt_apis::get(&state.db, &access, id).await?))
}

/// Edit a prompt API: any subset of its fields (JSON merge patch). The result is a new version,
/// made active; earlier versions stay listed.
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/prompt-apis/{id}", tag = "prompt-apis",
    request_body(content = PromptApiSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "Prompt API id")),
    responses(
        (status = 200, body = PromptApi),
        Forbidden,
        NotFound,
        Invalid,
    ))]
async fn update_prompt_api(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<PromptApi>> {
    Ok(Json(
        prompt_apis::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Delete a prompt API and all its versions.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/prompt-apis/{id}", tag = "prompt-apis",
    params(TenantParam, ("id" = Uuid, Path, description = "Prompt API id")),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
    ))]
async fn delete_prompt_api(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    prompt_apis::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Make a version the active one again.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/prompt-apis/{id}/versions/{version}/activate", tag = "prompt-apis",
    params(TenantParam, ("id" = Uuid, Path, description = "Prompt API id"),
           ("version" = i32, Path, description = "Version number")),
    responses(
        (status = 200, body = PromptApi),
        Forbidden,
        NotFound,
    ))]
async fn activate_version(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath((_, id, version)): ApiPath<(String, Uuid, i32)>,
) -> ApiResult<Json<PromptApi>> {
    Ok(Json(
        prompt_apis::activate(&state.db, &principal, &access, id, version).await?,
    ))
}

/// The OpenAPI document of this prompt API's endpoint on the proxy (its variables as the schema).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/prompt-apis/{id}/openapi.json", tag = "prompt-apis",
    params(TenantParam, ("id" = Uuid, Path, description = "Prompt API id")),
    responses((status = 200, body = Object), NotFound))]
async fn prompt_api_openapi(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(prompt_apis::openapi(&state.db, &access, id).await?))
}
