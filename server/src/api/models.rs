//! Models and the price catalog.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery, ObjectId, TenantParam};
use crate::service::models::{self, Model, ModelSpec};
use crate::service::price_catalog::{self, CatalogPrice, CatalogQuery, CatalogUpdate};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_models, create_model))
        .routes(routes!(get_model, update_model, delete_model))
        .routes(routes!(list_catalog))
        .routes(routes!(update_catalog))
}

/// The tenant's models.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/models", tag = "models",
    params(TenantParam),
    responses((status = 200, body = Vec<Model>), NotFound))]
async fn list_models(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Model>>> {
    Ok(Json(models::list(&state.db, &access).await?))
}

/// Create a model (admins and owners). Without `prices`, list prices come from the catalog.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/models", tag = "models", request_body = ModelSpec,
    params(TenantParam),
    responses(
        (status = 201, body = Model),
        Forbidden,
        Conflict,
        Invalid,
    ))]
async fn create_model(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<ModelSpec>,
) -> ApiResult<(StatusCode, Json<Model>)> {
    let model = models::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(model)))
}

/// One model.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/models/{id}", tag = "models",
    params(TenantParam, ("id" = Uuid, Path, description = "Model id")),
    responses((status = 200, body = Model), NotFound))]
async fn get_model(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<Model>> {
    Ok(Json(models::get(&state.db, &access, id).await?))
}

/// Change a model: any subset of its fields (JSON merge patch; `"prices": null` returns to the
/// catalog's list prices).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/models/{id}", tag = "models",
    request_body(content = ModelSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "Model id")),
    responses(
        (status = 200, body = Model),
        Forbidden,
        NotFound,
        Invalid,
    ))]
async fn update_model(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Model>> {
    Ok(Json(
        models::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Delete a model.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/models/{id}", tag = "models",
    params(TenantParam, ("id" = Uuid, Path, description = "Model id")),
    responses(
        (status = 204, description = "Deleted"),
        Forbidden,
        NotFound,
    ))]
async fn delete_model(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    models::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The built-in list prices (dated; editable by platform admins).
#[utoipa::path(get, path = "/api/v1/price-catalog", tag = "models", params(CatalogQuery),
    responses((status = 200, body = Vec<CatalogPrice>)))]
async fn list_catalog(
    State(state): State<AppState>,
    _: Principal,
    ApiQuery(query): ApiQuery<CatalogQuery>,
) -> ApiResult<Json<Vec<CatalogPrice>>> {
    Ok(Json(price_catalog::list(&state.db, &query).await?))
}

/// Set a catalog entry's list prices (platform admins). Models created afterwards use them.
#[utoipa::path(put, path = "/api/v1/price-catalog/{provider}/{model}", tag = "models", request_body = CatalogUpdate,
    params(("provider" = String, Path, description = "Provider family, like openai"), ("model" = String, Path, description = "Model name")),
    responses(
        (status = 200, body = CatalogPrice),
        Forbidden,
        Invalid,
    ))]
async fn update_catalog(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((provider, model)): ApiPath<(String, String)>,
    ApiJson(input): ApiJson<CatalogUpdate>,
) -> ApiResult<Json<CatalogPrice>> {
    Ok(Json(
        price_catalog::update(&state.db, &principal, &provider, &model, input).await?,
    ))
}
