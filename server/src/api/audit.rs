//! The audit log.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Principal;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiPath, ApiQuery};
use crate::service::audit::{self, AuditEntry, AuditQuery};
use crate::service::tenants;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tenant_audit))
}

/// Who changed what in the tenant, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit", tag = "audit",
    params(("tenant" = String, Path, description = "Tenant id or slug"), AuditQuery),
    responses(
        (status = 200, body = Vec<AuditEntry>),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn tenant_audit(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(tenant): ApiPath<String>,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    let access = tenants::access(&state.db, &principal, &tenant).await?;
    Ok(Json(audit::list(&state.db, &access, &query).await?))
}
