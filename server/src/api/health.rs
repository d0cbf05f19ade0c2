//! Liveness and readiness probes.

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, Problem};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
}

#[derive(Debug, Serialize, ToSchema)]
pub(super) struct Health {
    pub(crate) status: &'static str,
}

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Health)), security(()))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The process is up and its database answers.
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, body = Health),
        (status = 503, body = Problem, content_type = "application/problem+json"),
    ), security(()))]
async fn readyz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    // Answers within a probe's usual one-second budget, even while the database is away.
    let probe = tokio::time::timeout(
        std::time::Duration::from_millis(800),
        sqlx::query("SELECT 1").execute(&state.db),
    )
    .await;
    if let Err(err) = probe
        .map_err(|e| e.to_string())
        .and_then(|r| r.map_err(|e| e.to_string()))
    {
        tracing::warn!(error = %err, "readiness check: database unreachable");
        return Err(ApiError::Status {
            status: axum::http::StatusCode::SERVICE_UNAVAILABLE,
            detail: "the database is unreachable".into(),
        });
    }
    Ok(Json(Health { status: "ready" }))
}
