//! Signing in through an identity provider (OpenID Connect authorization code flow with PKCE,
//! `state` and `nonce`): `start` sends the browser to the provider, `callback` takes it back,
//! checks everything, and starts a session. Failures land on the sign-in page with a short
//! reason code; the details go to the server's log.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tower_sessions::Session;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::auth::{start_session, ClientAddr, SignedInThrough, SIGNED_IN_KEY};
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::oidc::{ClientSettings, Pending};
use crate::service::identity_providers::{self, redirect_path};
use crate::service::sign_ins;
use crate::service::sso::{self, Identity, Refused};
use crate::state::AppState;

/// Session key of a sign-in under way.
const PENDING_KEY: &str = "sso_pending";
pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start))
        .routes(routes!(callback))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StartQuery {
    /// A console path to land on afterwards.
    next: Option<String>,
}

/// Only a path of this site.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

/// Back to the sign-in page with a reason code it explains.
fn to_login(reason: &str) -> Response {
    Redirect::to(&format!("/login?sso_error={reason}")).into_response()
}

/// Sign in through an identity provider: redirects the browser to it.
#[utoipa::path(get, path = "/api/v1/auth/sso/{id}/start", tag = "sso",
    params(("id" = Uuid, Path, description = "Identity provider id"), StartQuery),
    responses((status = 303, description = "To the identity provider (or back to the sign-in page)")),
    security(()))]
async fn start(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    Query(query): Query<StartQuery>,
) -> ApiResult<Response> {
    let Ok(client) = identity_providers::client(&state.db, &state.secrets, id).await else {
        return Ok(to_login("unknown"));
    };
    let provider = &client.provider;
    let discovery = match state.oidc.discover(&provider.issuer).await {
        Ok(discovery) => discovery,
        Err(err) => {
            tracing::warn!(provider = %provider.name, %err, "single sign-on unavailable");
            return Ok(to_login("unavailable"));
        }
    };
    let redirect_uri = format!("{}{}", state.public_base(&headers), redirect_path(id));
    let pending = Pending::new(id, local_path(query.next.as_deref()));
    let settings = ClientSettings {
        client_id: &provider.client_id,
        client_secret: client.client_secret.as_deref(),
        scopes: &provider.scopes,
        redirect_uri: &redirect_uri,
    };
    let url = match state
        .oidc
        .authorization_url(&discovery, &settings, &pending)
    {
        Ok(url) => url,
        Err(err) => {
            tracing::warn!(provider = %provider.name, %err, "single sign-on unavailable");
            return Ok(to_login("unavailable"));
        }
    };
    session.insert(PENDING_KEY, &pending).await?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    /// The provider's error, when it refused.
    error: Option<String>,
}

/// Where the identity provider sends the browser back: the code is exchanged, the ID token
/// checked (signature, issuer, audience, expiry, nonce), the user found or made, the group
/// rules applied, and a session started.
#[utoipa::path(get, path = "/api/v1/auth/sso/{id}/callback", tag = "sso",
    params(("id" = Uuid, Path, description = "Identity provider id"), CallbackQuery),
    responses((status = 303, description = "Into the console, or back to the sign-in page")),
    security(()))]
async fn callback(
    State(state): State<AppState>,
    session: Session,
    ClientAddr(address): ClientAddr,
    headers: HeaderMap,
    ApiPath(id): ApiPath<Uuid>,
    Query(query): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let pending: Option<Pending> = session.remove(PENDING_KEY).await?;
    let Some(pending) =
        pending.filter(|p| p.provider == id && query.state.as_deref() == Some(p.state.as_str()))
    else {
        return Ok(to_login("state"));
    };
    if query.error.is_some() {
        return Ok(to_login("denied"));
    }
    let Some(code) = query.code.as_deref() else {
        return Ok(to_login("denied"));
    };
    let Ok(client) = identity_providers::client(&state.db, &state.secrets, id).await else {
        return Ok(to_login("unavailable"));
    };
    let provider = &client.provider;
    let Ok(discovery) = state.oidc.discover(&provider.issuer).await else {
        return Ok(to_login("unavailable"));
    };
    let redirect_uri = format!("{}{}", state.public_base(&headers), redirect_path(id));
    let settings = ClientSettings {
        client_id: &provider.client_id,
        client_secret: client.client_secret.as_deref(),
        scopes: &provider.scopes,
        redirect_uri: &redirect_uri,
    };
    let (claims, id_token) = match state
        .oidc
        .finish(&discovery, &settings, &pending, code)
        .await
    {
        Ok(done) => done,
        Err(err) => {
            tracing::warn!(provider = %provider.name, %err, "single sign-on refused");
            let reason = format!("SSO {}: {err}", provider.name);
            sign_ins::failed(&state.db, None, "", address, &reason).await?;
            return Ok(to_login("token"));
        }
    };
    let Some(identity) = Identity::from_claims(&claims, &provider.groups_claim) else {
        return Ok(to_login("email"));
    };
    let user = match sso::sign_in(&state.db, provider, &identity).await? {
        Ok(user) => user,
        Err(refused) => {
            let (code, reason) = match refused {
                Refused::Disabled => ("disabled", "account disabled"),
                Refused::UnverifiedEmail => ("unverified", "email not verified by the provider"),
            };
            sign_ins::failed(&state.db, None, &identity.email, address, reason).await?;
            return Ok(to_login(code));
        }
    };
    let Some(principal) = start_session(&state, &session, user).await? else {
        return Ok(to_login("unknown"));
    };
    session
        .insert(
            SIGNED_IN_KEY,
            SignedInThrough {
                provider: id,
                id_token,
            },
        )
        .await?;
    sign_ins::succeeded(
        &state.db,
        &principal,
        address,
        json!({"method": "sso", "provider": provider.name, "groups": identity.groups}),
    )
    .await?;
    Ok(Redirect::to(&pending.next).into_response())
}
