//! Invitations to tenants, and accepting them.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::api::problems::{Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, ApiPath, ObjectId, TenantParam};
use crate::service::invitations::{
    self, AcceptInvitation, Accepted, CreateInvitation, CreatedInvitation, Invitation,
};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_invitations, create_invitation))
        .routes(routes!(revoke_invitation))
        .routes(routes!(accept_invitation))
}

/// Pending invitations (admins and owners).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/invitations", tag = "members",
    params(TenantParam),
    responses(
        (status = 200, body = Vec<Invitation>),
        Forbidden,
    ))]
async fn list_invitations(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Vec<Invitation>>> {
    Ok(Json(invitations::list(&state.db, &access).await?))
}

/// Invite an email to the tenant (admins; only owners invite owners). The answer is the same
/// whether the email has an account or not; pass the `accept_path` link on to the person.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/invitations", tag = "members",
    request_body = CreateInvitation,
    params(TenantParam),
    responses(
        (status = 201, body = CreatedInvitation),
        Forbidden,
        Invalid,
    ))]
async fn create_invitation(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(input): ApiJson<CreateInvitation>,
) -> ApiResult<(StatusCode, Json<CreatedInvitation>)> {
    let created = invitations::create(&state.db, &principal, &access, input).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// Withdraw a pending invitation.
#[utoipa::path(delete, path = "/api/v1/tenants/{tenant}/invitations/{id}", tag = "members",
    params(TenantParam, ("id" = Uuid, Path, description = "Invitation id")),
    responses(
        (status = 204, description = "Withdrawn"),
        NotFound,
    ))]
async fn revoke_invitation(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiPath(ObjectId { id }): ApiPath<ObjectId>,
) -> ApiResult<StatusCode> {
    invitations::revoke(&state.db, &principal, &access, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Accept an invitation: signed in as the invited email, or, for an email without an account,
/// with the `password` of the account to create.
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "members",
    request_body = AcceptInvitation,
    responses(
        (status = 200, body = Accepted),
        (status = 403, description = "Sign in as the invited email first", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown, used or expired", body = Problem, content_type = "application/problem+json"),
        Invalid,
    ), security((), ("session" = []), ("bearer" = [])))]
async fn accept_invitation(
    State(state): State<AppState>,
    mut parts: Parts,
    ApiJson(input): ApiJson<AcceptInvitation>,
) -> ApiResult<Json<Accepted>> {
    let signed_in = Principal::from_request_parts(&mut parts, &state).await.ok();
    Ok(Json(
        invitations::accept(&state.db, signed_in.as_ref(), input).await?,
    ))
}
