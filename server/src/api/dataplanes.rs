//! The proxies and their configuration versions.

use axum::extract::State;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::access::Principal;
use crate::api::problems::Forbidden;
use crate::error::ApiResult;
use crate::service::dataplanes::{self, Dataplanes};
use crate::state::AppState;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_dataplanes))
}

/// Proxies seen in the last day, with the configuration version each has loaded (platform admins).
#[utoipa::path(get, path = "/api/v1/dataplanes", tag = "dataplanes",
    responses(
        (status = 200, body = Dataplanes),
        Forbidden,
    ))]
async fn list_dataplanes(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Dataplanes>> {
    Ok(Json(dataplanes::list(&state.db, &principal).await?))
}
