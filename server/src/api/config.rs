//! Configuration as code: a tenant's configuration exported as YAML, and a YAML document
//! applied as a whole.

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use std::collections::BTreeMap;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::api::problems::{Conflict, Forbidden, Invalid, NotFound};
use crate::auth::TenantScope;
use crate::error::{ApiError, ApiResult, Problem};
use crate::extract::{ApiQuery, TenantParam};
use crate::service::config_doc::{self, Applied, ApplyOptions};
use crate::state::AppState;

/// Largest document taken.
const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_config))
        .routes(routes!(apply_config))
        .routes(routes!(config_schema))
}

/// The JSON Schema (2020-12) of a configuration document, for editors (YAML language servers
/// take `# yaml-language-server: $schema=<this URL>`).
#[utoipa::path(get, path = "/api/v1/config/schema.json", tag = "config",
    responses((status = 200, description = "The schema", content_type = "application/schema+json", body = Object)))]
async fn config_schema() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/schema+json")],
        config_doc::json_schema().to_string(),
    )
}

/// The tenant's configuration as a YAML document (`apiVersion: tollgate.dev/v1`), ready to keep
/// in Git and apply again (provider credentials are never exported). The `ETag` is the
/// configuration version: send it back as `If-Match` when applying.
#[utoipa::path(get, path = "/api/v1/tenants/{tenant}/config:export", tag = "config",
    params(TenantParam),
    responses(
        (status = 200, description = "The document", content_type = "application/yaml", body = String),
        NotFound,
    ))]
async fn export_config(
    State(state): State<AppState>,
    TenantScope { access, .. }: TenantScope,
) -> ApiResult<impl IntoResponse> {
    let version: i64 = sqlx::query_scalar("SELECT version FROM config_version")
        .fetch_one(&state.db)
        .await?;
    let document = config_doc::export(&state.db, &access).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/yaml".to_string()),
            (header::ETAG, format!("\"{version}\"")),
        ],
        document,
    ))
}

/// A document with the values of the credential references it makes (`${OPENAI_API_KEY}`,
/// `${file:/run/secrets/key}`), as `tollgate apply` sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplyRequest {
    /// The YAML (or JSON) text of the documents.
    document: String,
    /// Values by reference name (`OPENAI_API_KEY`, `file:/run/secrets/key`); never stored
    /// except as the credentials they are, encrypted.
    #[serde(default)]
    values: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ApplyQuery {
    /// Check everything and return the plan; store nothing.
    #[serde(default)]
    dry_run: bool,
    /// Delete the tenant's providers, models, services, routes, prompt APIs and JWT issuers
    /// the document does not name (keys are never deleted by an apply).
    #[serde(default)]
    prune: bool,
}

/// Apply a YAML document of providers, models, services, routes, prompt APIs and key policies
/// in one transaction (admins and owners): all or nothing, one new configuration version, one
/// audit entry with the changes. Send the YAML as is, or as JSON `{"document", "values"}` with
/// the values of the credential references it makes.
/// With `If-Match: "<version>"` (the export's `ETag`) it is refused with 412 if the
/// configuration changed since.
#[utoipa::path(post, path = "/api/v1/tenants/{tenant}/config:apply", tag = "config",
    params(TenantParam, ApplyQuery,
        ("If-Match" = Option<String>, Header, description = "The configuration version the document is based on")),
    request_body(content(
        (String = "application/yaml"),
        (ApplyRequest = "application/json"),
    )),
    responses(
        (status = 200, body = Applied),
        Forbidden,
        NotFound,
        Conflict,
        (status = 412, description = "The configuration changed since the version in If-Match", body = Problem, content_type = "application/problem+json"),
        Invalid,
    ))]
async fn apply_config(
    State(state): State<AppState>,
    TenantScope { principal, access }: TenantScope,
    ApiQuery(query): ApiQuery<ApplyQuery>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<Applied>)> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(ApiError::Status {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            detail: format!("the document is larger than {MAX_DOCUMENT_BYTES} bytes"),
        });
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::BadRequest("the document is not UTF-8 text".into()))?;
    // `{"document": "...", "values": {...}}` carries the credentials the document refers to.
    let wrapped = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
        .then(|| serde_json::from_str::<ApplyRequest>(text).ok())
        .flatten();
    let (text, values) = match &wrapped {
        Some(request) => (request.document.as_str(), request.values.clone()),
        None => (text, BTreeMap::new()),
    };
    let expected_version = match headers.get(header::IF_MATCH) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .map(|v| v.trim().trim_start_matches("W/").trim_matches('"'))
                .and_then(|v| v.parse::<i64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "If-Match must be a configuration version like \"42\" (the export's ETag)"
                            .into(),
                    )
                })?,
        ),
    };
    let applied = config_doc::apply(
        &state.db,
        &state.secrets,
        &principal,
        &access,
        text,
        &values,
        ApplyOptions {
            dry_run: query.dry_run,
            prune: query.prune,
            expected_version,
        },
    )
    .await?;
    Ok((StatusCode::OK, Json(applied)))
}
