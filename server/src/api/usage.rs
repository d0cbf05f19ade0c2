//! The request log and usage summaries.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::service::tenants;
use crate::service::usage::{self, SummaryQuery, UsagePage, UsageQuery, UsageSummary};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage_log))
        .routes(routes!(usage_summary))
}

/// The tenant's requests, newest first, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/usage", tag = "usage",
    params(("tenant" = String, Path, description = "Tenant id or slug"), UsageQuery),
    responses(
        (status = 200, body = UsagePage),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn usage_log(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsagePage>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(usage::list(&state.db, &access, &query).await?))
}

/// Requests, errors and latency over time, per key and per route.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/usage/summary", tag = "usage",
    params(("tenant" = String, Path, description = "Tenant id or slug"), SummaryQuery),
    responses(
        (status = 200, body = UsageSummary),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn usage_summary(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<UsageSummary>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(usage::summary(&state.db, &access, &query).await?))
}
