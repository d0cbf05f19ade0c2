//! Personal admin tokens.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::Principal;
use crate::api::problems::{Invalid, NotFound};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath};
use crate::service::admin_tokens::{self, AdminToken, CreateAdminToken, CreatedAdminToken};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
}

/// Your admin tokens (never their secrets).
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = Vec<AdminToken>)))]
async fn list_tokens(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<AdminToken>>> {
    Ok(Json(admin_tokens::list(&state.db, &principal).await?))
}

/// Create an admin token for scripts; its `secret` is returned this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateAdminToken,
    responses(
        (status = 201, body = CreatedAdminToken),
        Invalid,
    ))]
async fn create_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<CreateAdminToken>,
) -> ApiResult<(StatusCode, Json<CreatedAdminToken>)> {
    let created = admin_tokens::create(&state.db, &principal, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Delete one of your admin tokens; it stops working at once.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = Uuid, Path, description = "Token id")),
    responses(
        (status = 204, description = "Deleted"),
        NotFound,
    ))]
async fn delete_token(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    admin_tokens::delete(&state.db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
