//! Login, logout and the signed-in user.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::auth::{ClientAddr, SESSION_USER_KEY};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::login_throttle::{self, Verdict};
use crate::service::users::{self, MeView};
use crate::state::AppState;
use crate::{password, validate};

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(logout))
        .routes(routes!(me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    pub(crate) email: String,
    pub(crate) password: String,
}

/// Log in and receive a session cookie.
///
/// Repeated failures of one email from one client address make that address wait longer and
/// longer before its next try (429 with `Retry-After`); other addresses, and the right password
/// from them, are not affected. Wrong email and wrong password get the same answer.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in; the session cookie is set", body = MeView),
        (status = 401, description = "Wrong email or password", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "Too many failed attempts", body = Problem, content_type = "application/problem+json"),
    ), security(()))]
async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    session: Session,
    ApiJson(input): ApiJson<LoginRequest>,
) -> ApiResult<Json<MeView>> {
    let email = input.email.trim().to_lowercase();
    if email.len() > validate::EMAIL_MAX || input.password.chars().count() > password::MAX_LEN {
        return Err(wrong_credentials());
    }
    if let Verdict::Wait(wait) = login_throttle::check(&state.db, &email, address).await? {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        return Err(ApiError::TooManyRequests {
            detail: format!(
                "too many failed logins for this account from your address; try again in {}",
                if secs >= 60 {
                    format!("{} minutes", secs.div_ceil(60))
                } else {
                    format!("{secs} seconds")
                }
            ),
            retry_after_secs: secs.max(1),
        });
    }
    let record = users::find_for_login(&state.db, &email).await?;
    let stored_hash = record.as_ref().map(|r| r.password_hash.clone());
    if !password::verify(input.password, stored_hash).await? {
        login_throttle::failed(&state.db, &email, address).await?;
        return Err(wrong_credentials());
    }
    let Some(record) = record else {
        return Err(wrong_credentials());
    };
    login_throttle::succeeded(&state.db, &email, address).await?;
    // A fresh session id on login defeats session fixation.
    session.cycle_id().await?;
    session.insert(SESSION_USER_KEY, record.id).await?;
    let principal = users::principal(&state.db, record.id)
        .await?
        .ok_or_else(wrong_credentials)?;
    tracing::info!(user = %record.id, "login");
    Ok(Json(users::me(&state.db, &principal).await?))
}

fn wrong_credentials() -> ApiError {
    ApiError::Unauthenticated("the email or password is wrong".into())
}

/// Log out: the session ends and its cookie is cleared.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out")), security(()))]
async fn logout(session: Session) -> ApiResult<StatusCode> {
    session.flush().await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user and the tenants they belong to.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth",
    responses(
        (status = 200, body = MeView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
    ))]
async fn me(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<MeView>> {
    Ok(Json(users::me(&state.db, &principal).await?))
}
