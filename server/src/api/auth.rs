//! Login, logout and the signed-in user.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::auth::{start_session, ClientAddr, SignedInThrough, SIGNED_IN_KEY};
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::ApiJson;
use crate::login_throttle::{self, Verdict};
use crate::oidc::Oidc;
use crate::service::users::{self, MeView};
use crate::service::{identity_providers, sign_ins};
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
    let stored_hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let user_id = record.as_ref().map(|r| r.id);
    if !password::verify(input.password, stored_hash).await? {
        login_throttle::failed(&state.db, &email, address).await?;
        sign_ins::failed(
            &state.db,
            user_id,
            &email,
            address,
            "wrong email or password",
        )
        .await?;
        return Err(wrong_credentials());
    }
    let Some(record) = record else {
        return Err(wrong_credentials());
    };
    if record.disabled {
        sign_ins::failed(&state.db, user_id, &email, address, "account disabled").await?;
        return Err(ApiError::Unauthenticated(
            "this account is disabled; ask a platform admin".into(),
        ));
    }
    if let Some(provider) = identity_providers::sso_only_for(&state.db, &email).await? {
        sign_ins::failed(&state.db, user_id, &email, address, "SSO only").await?;
        return Err(ApiError::Unauthenticated(format!(
            "accounts of this email domain sign in with {provider} (single sign-on)"
        )));
    }
    login_throttle::succeeded(&state.db, &email, address).await?;
    let principal = start_session(&state, &session, record.id)
        .await?
        .ok_or_else(wrong_credentials)?;
    sign_ins::succeeded(
        &state.db,
        &principal,
        address,
        json!({"method": "password"}),
    )
    .await?;
    Ok(Json(users::me(&state.db, &principal).await?))
}

fn wrong_credentials() -> ApiError {
    ApiError::Unauthenticated("the email or password is wrong".into())
}

/// Where to sign out at the identity provider too.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SignedOut {
    /// Send the browser here to end the session at the identity provider (RP-initiated
    /// logout); it comes back to the sign-in page.
    pub(crate) end_session_url: String,
}

/// Log out: the session ends and its cookie is cleared. A session that signed in through an
/// identity provider supporting RP-initiated logout gets 200 with `end_session_url`.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth",
    responses(
        (status = 204, description = "Logged out"),
        (status = 200, description = "Logged out here; sign out at the identity provider too", body = SignedOut),
    ), security(()))]
async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let through: Option<SignedInThrough> = session.get(SIGNED_IN_KEY).await?;
    session.flush().await?;
    if let Some(through) = through {
        if let Ok(client) =
            identity_providers::client(&state.db, &state.secrets, through.provider).await
        {
            if let Ok(discovery) = state.oidc.discover(&client.provider.issuer).await {
                let after = format!("{}/login", state.public_base(&headers));
                if let Some(url) = Oidc::end_session_url(
                    &discovery,
                    &client.provider.client_id,
                    &through.id_token,
                    &after,
                ) {
                    return Ok(Json(SignedOut {
                        end_session_url: url,
                    })
                    .into_response());
                }
            }
        }
    }
    Ok(StatusCode::NO_CONTENT.into_response())
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
