//! The whole HTTP application: API, docs, console, and the layers every request passes.

use std::any::Any;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderName, Request, StatusCode};
use axum::response::Response;
use axum::Router;
use sqlx::PgPool;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

use crate::api;
use crate::config::Config;
use crate::error::{problem_response, ApiError};
use crate::service::{jobs, usage};
use crate::state::AppState;

/// Idle time after which a console session ends.
const SESSION_IDLE: time::Duration = time::Duration::hours(12);

/// Builds the application router on a migrated database.
pub(crate) fn router(
    state: AppState,
    session_store: PostgresStore,
    config: &Config,
) -> anyhow::Result<Router> {
    let sessions = SessionManagerLayer::new(session_store)
        .with_name(api::SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(config.secure_cookies)
        .with_expiry(Expiry::OnInactivity(SESSION_IDLE));
    let request_id = HeaderName::from_static("x-request-id");

    // The console calls this same API in-process, so it sees exactly what the user's session may.
    let api = api::router(state)
        .layer(sessions)
        .layer(axum::middleware::from_fn(cookie_posts_from_this_origin));
    let console = tollgate_console::router(tollgate_console::Settings {
        api: api.clone(),
        proxy_url: config.proxy_url.trim_end_matches('/').to_string(),
        proxy_internal_url: config
            .proxy_internal_url
            .as_deref()
            .unwrap_or(&config.proxy_url)
            .trim_end_matches('/')
            .to_string(),
    })
    .map_err(|err| anyhow::anyhow!("building the console's HTTP client: {err}"))?;
    Ok(api
        .merge(console)
        .fallback(|| async {
            ApiError::NotFound("no such endpoint; see /api/docs for the API".into())
        })
        .method_not_allowed_fallback(|| async {
            ApiError::Status {
                status: StatusCode::METHOD_NOT_ALLOWED,
                detail: "this endpoint does not take that method; see /api/docs".into(),
            }
        })
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
                .layer(
                    TraceLayer::new_for_http().make_span_with(|request: &Request<Body>| {
                        let id = request
                            .headers()
                            .get("x-request-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", request_id = %id,
                            method = %request.method(), path = %request.uri().path())
                    }),
                )
                .layer(PropagateRequestIdLayer::new(request_id))
                .layer(CatchPanicLayer::custom(panic_response)),
        ))
}

/// A state-changing API call authenticated by the session cookie must come from this origin (a
/// page on another port of the same host is another origin): body-less POSTs such as logout or
/// a provider test cannot be triggered by another site's form. Bearer-token calls carry no
/// ambient credential and pass.
async fn cookie_posts_from_this_origin(
    request: Request<Body>,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{header, Method};
    use axum::response::IntoResponse;
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let headers = request.headers();
    let by_cookie = !headers.contains_key(header::AUTHORIZATION)
        && tollgate_console::cookie_value(headers, api::SESSION_COOKIE).is_some();
    if !safe && by_cookie && !tollgate_console::same_origin(headers) {
        return ApiError::Forbidden(
            "this request comes from another site or origin; the API takes state-changing calls \
             with the session cookie only from the console's own pages (scripts: use an admin \
             token)"
                .into(),
        )
        .into_response();
    }
    next.run(request).await
}

fn panic_response(_: Box<dyn Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    problem_response(&ApiError::Internal("panic".into()).problem())
}

/// Hourly upkeep for as long as the server runs: expired sessions deleted, usage partitions made
/// ahead and old ones dropped. Every replica checks each minute; one of them claims each hour's
/// run.
pub(crate) fn spawn_maintenance(db: PgPool, sessions: PostgresStore, retention_days: u32) {
    use tower_sessions::ExpiredDeletion;
    const UPKEEP: &str = "hourly_upkeep";
    let replica = uuid::Uuid::now_v7().to_string();
    tokio::spawn(async move {
        let mut every_minute = tokio::time::interval(Duration::from_secs(60));
        loop {
            every_minute.tick().await;
            match jobs::claim(&db, UPKEEP, Duration::from_secs(3600), &replica).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(err) => {
                    tracing::warn!(error = %err, "claiming the hourly upkeep failed");
                    continue;
                }
            }
            if let Err(err) = sessions.delete_expired().await {
                tracing::warn!(error = %err, "deleting expired sessions failed");
            }
            if let Err(err) = usage::maintain_partitions(&db, retention_days).await {
                tracing::warn!(error = %err, "usage partition upkeep failed");
            }
        }
    });
}
