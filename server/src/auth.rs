//! Who is calling: the console's session cookie, or a personal admin token as a bearer token.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use tower_sessions::Session;
use uuid::Uuid;

use crate::access::{Principal, TenantAccess};
use crate::error::ApiError;
use crate::service::{tenants, users};
use crate::state::AppState;

/// Session key holding the logged-in user's id.
pub(crate) const SESSION_USER_KEY: &str = "user_id";
/// Session key holding the user's session generation at sign-in: a password change bumps the
/// user's, which ends every session signed in before.
pub(crate) const SESSION_GENERATION_KEY: &str = "generation";

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if let Some(value) = parts.headers.get(AUTHORIZATION) {
            let token = value.to_str().ok().and_then(bearer_token).ok_or_else(|| {
                ApiError::Unauthenticated(
                    "send the admin token as 'Authorization: Bearer <token>'".into(),
                )
            })?;
            return users::principal_by_admin_token(&state.db, token)
                .await?
                .ok_or_else(|| {
                    ApiError::Unauthenticated(
                        "the admin token is unknown, expired or deleted; create a new one".into(),
                    )
                });
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| ApiError::internal(msg))?;
        let Some(user_id) = session.get::<Uuid>(SESSION_USER_KEY).await? else {
            return Err(ApiError::Unauthenticated(
                "log in with POST /api/v1/auth/login, or send 'Authorization: Bearer <admin token>'"
                    .into(),
            ));
        };
        let generation = session
            .get::<i32>(SESSION_GENERATION_KEY)
            .await?
            .unwrap_or(0);
        let ended = match users::session_user(&state.db, user_id, generation).await? {
            users::SessionUser::Valid(principal) => return Ok(principal),
            users::SessionUser::Disabled => "your account is disabled; ask a platform admin",
            users::SessionUser::Ended => {
                "your session ended (your password was changed); sign in again"
            }
            users::SessionUser::Gone => "your account no longer exists",
        };
        session.flush().await?;
        Err(ApiError::Unauthenticated(ended.into()))
    }
}

/// Starts a fresh session for the user (a new id on sign-in defeats session fixation).
pub(crate) async fn start_session(
    state: &AppState,
    session: &Session,
    user_id: Uuid,
) -> Result<Option<Principal>, ApiError> {
    session.cycle_id().await?;
    let generation = users::signed_in(&state.db, user_id).await?;
    session.insert(SESSION_USER_KEY, user_id).await?;
    session.insert(SESSION_GENERATION_KEY, generation).await?;
    let principal = users::principal(&state.db, user_id).await?;
    tracing::info!(user = %user_id, "sign-in");
    Ok(principal)
}

/// Session key of the identity provider a session signed in through (for signing out there
/// too).
pub(crate) const SIGNED_IN_KEY: &str = "sso";

/// How a session signed in through an identity provider, kept for RP-initiated logout.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct SignedInThrough {
    pub(crate) provider: Uuid,
    pub(crate) id_token: String,
}

/// The client's IP address, when the server was started with connection info.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(Self(peer.map(|peer| {
            client_address(peer, &parts.headers, &state.trusted_proxies)
        })))
    }
}

/// The client's address: the peer, unless the peer is a trusted reverse proxy; then the last
/// address in `X-Forwarded-For` that is not itself a trusted proxy (entries further left are
/// the client's own word and could be forged).
pub(crate) fn client_address(
    peer: IpAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let forwarded: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|entry| entry.trim().parse().ok())
        .collect();
    forwarded
        .iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .copied()
        .unwrap_or(peer)
}

pub(crate) use tollgate_protocol::bearer_token;

/// The caller and their access to the `{tenant}` of the request's path (id or slug), resolved
/// once for every tenant route. A tenant the caller may not see is a 404, like one that does
/// not exist.
#[derive(Debug, Clone)]
pub(crate) struct TenantScope {
    pub(crate) principal: Principal,
    pub(crate) access: TenantAccess,
}

impl FromRequestParts<AppState> for TenantScope {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = Principal::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|err| ApiError::internal(err.body_text()))?;
        let Some((_, tenant)) = params.iter().find(|(name, _)| *name == "tenant") else {
            return Err(ApiError::internal("a tenant route without {tenant}"));
        };
        let access = tenants::access(&state.db, &principal, tenant).await?;
        Ok(Self { principal, access })
    }
}
