//! Tenant members and roles.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, TenantParam};
use crate::service::members::{self, AddMember, Member, MemberSettings};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_members, add_member))
        .routes(routes!(update_member, remove_member))
}

/// Members of a tenant with their roles.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/members", tag = "members",
    params(TenantParam),
    responses(
        (status = 200, body = Vec<Member>),
        NotFound,
    ))]
async fn list_members(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Member>>> {
    Ok(Json(members::list(&state.db, &access).await?))
}

/// Add a member (admins and owners); with `password`, a new user is created.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/members", tag = "members", request_body = AddMember,
    params(TenantParam),
    responses(
        (status = 201, body = Member),
        Forbidden,
        (status = 409, description = "Already a member, or the user exists and a password was given", body = Problem, content_type = "application/problem+json"),
        Invalid,
    ))]
async fn add_member(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(input): ApiJson<AddMember>,
) -> ApiResult<(StatusCode, Json<Member>)> {
    let member = members::add(&state.db, &principal, &access, input).await?;
    Ok((StatusCode::CREATED, Json(member)))
}

/// Change a member's role (admins and owners; only owners grant or take the owner role).
#[utoipa::path(patch, path = "/api/v1/tenants/{tenant}/members/{user}", tag = "members",
    request_body(content = MemberSettings, description = "JSON merge patch (RFC 7386) of these fields"),
    params(TenantParam,
           ("user" = String, Path, description = "User id or email")),
    responses(
        (status = 200, body = Member),
        Forbidden,
        NotFound,
        (status = 409, description = "The last owner cannot be demoted", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_member(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath((_, user)): ApiPath<(String, String)>,
    ApiJson(patch): ApiJson<serde_json::Value>,
) -> ApiResult<Json<Member>> {
    Ok(Json(
        members::update(&state.db, &principal, &access, &user, patch).await?,
    ))
}

/// Remove a member from the tenant (the user account stays).
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/members/{user}", tag = "members",
    params(TenantParam,
           ("user" = String, Path, description = "User id or email")),
    responses(
        (status = 204, description = "Removed"),
        Forbidden,
        NotFound,
        (status = 409, description = "The last owner cannot be removed", body = Problem, content_type = "application/problem+json"),
    ))]
async fn remove_member(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath((_, user)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    members::remove(&state.db, &principal, &access, &user).await?;
    Ok(StatusCode::NO_CONTENT)
}
