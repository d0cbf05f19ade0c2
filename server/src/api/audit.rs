//! The audit log.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::NotFound;
use crate::auth::TenantScope;
use crate::error::ApiResult;
use crate::extract::{ApiQuery, TenantParam};
use crate::service::audit::{self, AuditEntry, AuditQuery};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tenant_audit))
}

/// Who changed what in the tenant, newest first.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/audit", tag = "audit",
    params(TenantParam, AuditQuery),
    responses(
        (status = 200, body = Vec<AuditEntry>),
        NotFound,
    ))]
async fn tenant_audit(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Json<Vec<AuditEntry>>> {
    Ok(Json(audit::list(&state.db, &access, &query).await?))
}
