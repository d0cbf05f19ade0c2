//! The request log and usage summaries.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiQuery, TenantParam};
use crate::service::usage::{self, SummaryQuery, UsagePage, UsageQuery, UsageSummary};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(usage_log))
        .routes(routes!(usage_summary))
}

/// The tenant's requests, newest first, filtered and paginated.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/usage", tag = "usage",
    params(TenantParam, UsageQuery),
    responses((status = 200, body = UsagePage), NotFound, Invalid))]
async fn usage_log(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> ApiResult<Json<UsagePage>> {
    Ok(Json(usage::list(&state.db, &access, &query).await?))
}

/// Requests, errors and latency over time, per key and per route.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/usage/summary", tag = "usage",
    params(TenantParam, SummaryQuery),
    responses((status = 200, body = UsageSummary), NotFound, Invalid))]
async fn usage_summary(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> ApiResult<Json<UsageSummary>> {
    Ok(Json(usage::summary(&state.db, &access, &query).await?))
}
