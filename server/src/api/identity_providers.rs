//! Identity providers (OpenID Connect) for single sign-on: platform admins manage them; the
//! sign-in page lists the enabled ones.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::Principal;
use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::service::identity_providers::{
    self, IdentityProvider, IdentityProviderSpec, SignInOption,
};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers, create_provider))
        .routes(routes!(get_provider, update_provider, delete_provider))
        .routes(routes!(sign_in_options))
}

/// Every identity provider (platform admins); client secrets are never shown.
#[utoipa::path(get, path = "/api/v1/identity-providers", tag = "sso",
    responses((status = 200, body = Vec<IdentityProvider>), Forbidden))]
async fn list_providers(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<IdentityProvider>>> {
    Ok(Json(identity_providers::list(&state.db, &principal).await?))
}

/// Add an identity provider (platform admins). Register `redirect_path` under the console's
/// URL as the redirect URI at the provider.
#[utoipa::path(post, path = "/api/v1/identity-providers", tag = "sso",
    request_body = IdentityProviderSpec,
    responses((status = 201, body = IdentityProvider), Forbidden, Conflict, Invalid))]
async fn create_provider(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(spec): ApiJson<IdentityProviderSpec>,
) -> ApiResult<(StatusCode, Json<IdentityProvider>)> {
    let provider = identity_providers::create(&state.db, &state.secrets, &principal, spec).await?;
    Ok((StatusCode::CREATED, Json(provider)))
}

#[utoipa::path(get, path = "/api/v1/identity-providers/{id}", tag = "sso",
    params(("id" = Uuid, Path, description = "Identity provider id")),
    responses((status = 200, body = IdentityProvider), Forbidden, NotFound))]
async fn get_provider(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<IdentityProvider>> {
    Ok(Json(
        identity_providers::get(&state.db, &principal, id).await?,
    ))
}

/// Change an identity provider by a JSON merge patch (platform admins); `"client_secret":
/// null` removes the secret.
#[utoipa::path(patch, path = "/api/v1/identity-providers/{id}", tag = "sso",
    params(("id" = Uuid, Path, description = "Identity provider id")),
    request_body(content = Object, content_type = "application/merge-patch+json"),
    responses((status = 200, body = IdentityProvider), Forbidden, NotFound, Conflict, Invalid))]
async fn update_provider(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(patch): ApiJson<Value>,
) -> ApiResult<Json<IdentityProvider>> {
    Ok(Json(
        identity_providers::update(&state.db, &state.secrets, &principal, id, patch).await?,
    ))
}

/// Delete an identity provider (platform admins); its users keep their accounts.
#[utoipa::path(delete, path = "/api/v1/identity-providers/{id}", tag = "sso",
    params(("id" = Uuid, Path, description = "Identity provider id")),
    responses((status = 204, description = "Deleted"), Forbidden, NotFound))]
async fn delete_provider(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    identity_providers::delete(&state.db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The enabled identity providers, for a sign-in page's buttons (no sign-in needed).
#[utoipa::path(get, path = "/api/v1/auth/sso", tag = "sso",
    responses((status = 200, body = Vec<SignInOption>)), security(()))]
async fn sign_in_options(State(state): State<AppState>) -> ApiResult<Json<Vec<SignInOption>>> {
    Ok(Json(identity_providers::sign_in_options(&state.db).await?))
}
