//! JWT issuers: identity providers whose tokens callers present to the proxy instead of keys,
//! and the consumers seen with them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::jwt_issuers::{self, JwtIssuer, JwtIssuerSpec};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_issuers, create_issuer))
        .routes(routes!(get_issuer, update_issuer, delete_issuer))
        .routes(routes!(list_consumers))
}

/// The tenant's JWT issuers.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/jwt-issuers", tag = "jwt",
    params(TenantParam), responses((status = 200, body = Vec<JwtIssuer>), NotFound))]
async fn list_issuers(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<JwtIssuer>>> {
    Ok(Json(jwt_issuers::list(&state.db, &access).await?))
}

/// Accept JWTs of an identity provider instead of keys (admins and owners). Each caller, named
/// by `consumer_claim`, gets the issuer's scopes, limits and budget, counted on its own.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/jwt-issuers", tag = "jwt",
    request_body = JwtIssuerSpec, params(TenantParam),
    responses((status = 201, body = JwtIssuer), Forbidden, Conflict, Invalid))]
async fn create_issuer(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(spec): ApiJson<JwtIssuerSpec>,
) -> ApiResult<(StatusCode, Json<JwtIssuer>)> {
    let issuer = jwt_issuers::create(&state.db, &principal, &access, spec).await?;
    Ok((StatusCode::CREATED, Json(issuer)))
}

#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/jwt-issuers/{id}", tag = "jwt",
    params(TenantParam, ("id" = Uuid, Path, description = "JWT issuer id")),
    responses((status = 200, body = JwtIssuer), NotFound))]
async fn get_issuer(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<Json<JwtIssuer>> {
    Ok(Json(jwt_issuers::get(&state.db, &access, id).await?))
}

/// Change a JWT issuer (JSON merge patch of its settings).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/jwt-issuers/{id}", tag = "jwt",
    request_body(content = JwtIssuerSpec, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam, ("id" = Uuid, Path, description = "JWT issuer id")),
    responses((status = 200, body = JwtIssuer), Forbidden, NotFound, Conflict, Invalid))]
async fn update_issuer(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<JwtIssuer>> {
    Ok(Json(
        jwt_issuers::update(&state.db, &principal, &access, id, patch).await?,
    ))
}

/// Stop accepting an issuer's tokens (admins and owners).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/jwt-issuers/{id}", tag = "jwt",
    params(TenantParam, ("id" = Uuid, Path, description = "JWT issuer id")),
    responses((status = 204, description = "Deleted"), Forbidden, NotFound))]
async fn delete_issuer(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    jwt_issuers::delete(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A caller seen with a JWT; its id is the `key_id` of its usage.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Consumer {
    id: Uuid,
    issuer_id: Option<Uuid>,
    /// The value of the issuer's consumer claim.
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    first_seen_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    last_seen_at: OffsetDateTime,
}

/// The callers seen with a JWT, most recent first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/consumers", tag = "jwt",
    params(TenantParam), responses((status = 200, body = Vec<Consumer>), NotFound))]
async fn list_consumers(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Consumer>>> {
    Ok(Json(
        sqlx::query_as(
            "SELECT id, issuer_id, name, first_seen_at, last_seen_at FROM consumers
             WHERE tenant_id = $1 ORDER BY last_seen_at DESC LIMIT 1000",
        )
        .bind(access.tenant.id)
        .fetch_all(&state.db)
        .await?,
    ))
}
