//! Platform settings (egress policy, tenant quotas) and tenant namespaces.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::api::problems::{Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiResult, Problem};
use crate::extract::{ApiJson, TenantParam};
use crate::service::namespaces::{self, Namespace};
use crate::service::settings::{self, EgressSettings, Quotas};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_egress, put_egress))
        .routes(routes!(get_quotas, put_quotas))
        .routes(routes!(get_namespace, put_namespace))
        .routes(routes!(get_tenant_quotas, put_tenant_quotas))
}

/// The egress policy: where tenants' route targets and providers may connect.
#[utoipa::path(get, path = "/api/v1/settings/egress", tag = "settings",
    responses((status = 200, body = EgressSettings)))]
async fn get_egress(
    State(state): State<AppState>,
    _principal: Principal,
) -> ApiResult<Json<EgressSettings>> {
    Ok(Json(settings::get_egress(&state.db).await?))
}

/// Replace the egress policy (platform admins). Proxies apply it within about a second.
#[utoipa::path(put, path = "/api/v1/settings/egress", tag = "settings", request_body = EgressSettings,
    responses(
        (status = 200, body = EgressSettings),
        Forbidden,
        Invalid,
    ))]
async fn put_egress(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<EgressSettings>,
) -> ApiResult<Json<EgressSettings>> {
    Ok(Json(
        settings::put_egress(&state.db, &principal, input).await?,
    ))
}

/// The quotas every tenant is held to.
#[utoipa::path(get, path = "/api/v1/settings/quotas", tag = "settings",
    responses((status = 200, body = Quotas)))]
async fn get_quotas(
    State(state): State<AppState>,
    _principal: Principal,
) -> ApiResult<Json<Quotas>> {
    Ok(Json(settings::get_quotas(&state.db).await?))
}

/// Replace the tenant quotas (platform admins). Fields left out take their defaults.
#[utoipa::path(put, path = "/api/v1/settings/quotas", tag = "settings", request_body = Quotas,
    responses(
        (status = 200, body = Quotas),
        Forbidden,
        Invalid,
    ))]
async fn put_quotas(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<Quotas>,
) -> ApiResult<Json<Quotas>> {
    Ok(Json(
        settings::put_quotas(&state.db, &principal, input).await?,
    ))
}

/// The tenant's namespace: the hosts and path prefixes its routes may serve.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/namespace", tag = "tenants",
    params(TenantParam),
    responses(
        (status = 200, body = Namespace),
        NotFound,
    ))]
async fn get_namespace(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(namespaces::get(&state.db, &access).await?))
}

/// Assign the tenant's namespace (platform admins), replacing the parts it had.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/namespace", tag = "tenants", request_body = Namespace,
    params(TenantParam),
    responses(
        (status = 200, body = Namespace),
        Forbidden,
        (status = 409, description = "A part is another tenant's, or existing routes would fall outside their namespace", body = Problem, content_type = "application/problem+json"),
        Invalid,
    ))]
async fn put_namespace(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(input): ApiJson<Namespace>,
) -> ApiResult<Json<Namespace>> {
    Ok(Json(
        namespaces::replace(&state.db, &principal, &access, input).await?,
    ))
}

/// The quotas this tenant is held to (its own, or the platform's defaults).
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/quotas", tag = "tenants",
    params(TenantParam),
    responses(
        (status = 200, body = Quotas),
        NotFound,
    ))]
async fn get_tenant_quotas(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<Json<Quotas>> {
    Ok(Json(
        settings::get_tenant_quotas(&state.db, access.tenant.id).await?,
    ))
}

/// Give the tenant its own quotas (platform admins); `null` returns it to the defaults.
#[utoipa::path(put, path = "/api/v1/tenants/{tenant}/quotas", tag = "tenants",
    request_body(content = Option<Quotas>, description = "The tenant's quotas, or null for the defaults"),
    params(TenantParam),
    responses(
        (status = 200, body = Quotas),
        Forbidden,
        Invalid,
    ))]
async fn put_tenant_quotas(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiJson(input): ApiJson<Option<Quotas>>,
) -> ApiResult<Json<Quotas>> {
    Ok(Json(
        settings::put_tenant_quotas(&state.db, &principal, access.tenant.id, input).await?,
    ))
}
