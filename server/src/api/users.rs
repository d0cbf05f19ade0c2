//! Users: platform admins list, disable, enable and delete them and make password reset links;
//! every user changes their own password; a reset link sets a new one. The platform's own
//! audit log (sign-ins, users) is here too.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use tower_sessions::Session;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::access::Principal;
use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::{ClientAddr, SESSION_GENERATION_KEY};
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::service::audit::{self, AuditEntry, AuditQuery};
use crate::service::password_resets::{self, ResetLink, UseReset};
use crate::service::users::{self, ChangePassword, User};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_users))
        .routes(routes!(delete_user))
        .routes(routes!(disable_user))
        .routes(routes!(enable_user))
        .routes(routes!(make_reset_link))
        .routes(routes!(change_password))
        .routes(routes!(reset_password))
        .routes(routes!(platform_audit))
}

/// Every user of the platform (platform admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "users",
    responses((status = 200, body = Vec<User>), Forbidden))]
async fn list_users(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Vec<User>>> {
    Ok(Json(users::list(&state.db, &principal).await?))
}

/// Delete a user (platform admins): memberships, sessions and admin tokens go; keys and other
/// objects they made stay. Not yourself, not the last active platform admin, not a tenant's
/// only owner.
#[utoipa::path(delete, path = "/api/v1/users/{id}", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 204, description = "Deleted"), Forbidden, NotFound, Conflict))]
async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    users::delete(&state.db, &principal, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Disable a user (platform admins): their sessions and admin tokens end at once and they
/// cannot sign in; API keys they created keep working unless revoked.
#[utoipa::path(post, path = "/api/v1/users/{id}/disable", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = User), Forbidden, NotFound, Conflict))]
async fn disable_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        users::set_disabled(&state.db, &principal, id, true).await?,
    ))
}

/// Enable a disabled user again (platform admins).
#[utoipa::path(post, path = "/api/v1/users/{id}/enable", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 200, body = User), Forbidden, NotFound))]
async fn enable_user(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<User>> {
    Ok(Json(
        users::set_disabled(&state.db, &principal, id, false).await?,
    ))
}

/// Make a one-time password reset link for a user (platform admins; pass it on yourself). It
/// works once, for a day, and replaces older links.
#[utoipa::path(post, path = "/api/v1/users/{id}/password-reset", tag = "users",
    params(("id" = Uuid, Path, description = "User id")),
    responses((status = 201, body = ResetLink), Forbidden, NotFound))]
async fn make_reset_link(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<(StatusCode, Json<ResetLink>)> {
    let base = state.public_base(&headers);
    let link = password_resets::create(&state.db, &principal, id, &base).await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// Change your own password (the current one required). Every other session of yours ends;
/// with `end_admin_tokens`, every admin token of yours too.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "auth", request_body = ChangePassword,
    responses((status = 204, description = "Changed"), Invalid))]
async fn change_password(
    State(state): State<AppState>,
    principal: Principal,
    ClientAddr(address): ClientAddr,
    session: Session,
    ApiJson(input): ApiJson<ChangePassword>,
) -> ApiResult<StatusCode> {
    let generation = users::change_password(&state.db, &principal, address, input).await?;
    // This session goes on (under a new id); the others carry the old generation.
    if session.get::<Uuid>(crate::auth::SESSION_USER_KEY).await? == Some(principal.user_id) {
        session.cycle_id().await?;
        session.insert(SESSION_GENERATION_KEY, generation).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Set a new password with a reset link's token (no sign-in needed); every session of the
/// account ends.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = UseReset,
    responses((status = 204, description = "The password is set; sign in with it"), NotFound, Invalid),
    security(()))]
async fn reset_password(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<UseReset>,
) -> ApiResult<StatusCode> {
    password_resets::reset(&state.db, input).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The platform's own audit log, newest first (platform admins): sign-ins and failed
/// sign-ins, users disabled, enabled and deleted, password changes, identity providers.
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), Forbidden))]
async fn platform_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(
        audit::list_platform(&state.db, &principal, &query).await?,
    ))
}
