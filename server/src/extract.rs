//! Request extractors whose rejections are problem documents instead of plain text.

use axum::extract::{FromRequest, FromRequestParts};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use crate::error::ApiError;

/// A JSON body; malformed JSON, wrong types and unknown fields are answered as problems.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub(crate) struct ApiJson<T>(pub T);

/// Path parameters; a parameter of the wrong shape is answered as a 400 problem.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub(crate) struct ApiPath<T>(pub T);

/// A query string; bad parameters are answered as a 400 problem.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub(crate) struct ApiQuery<T>(pub T);

/// The `{tenant}` path parameter, for the OpenAPI document (`TenantScope` reads it).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct TenantParam {
    /// Tenant id or slug.
    #[expect(
        dead_code,
        reason = "declares the parameter for OpenAPI; TenantScope reads it"
    )]
    pub(crate) tenant: String,
}

/// The `{id}` of an object under a tenant (`/tenants/{tenant}/keys/{id}` and the like).
#[derive(Debug, Deserialize)]
pub(crate) struct ObjectId {
    pub(crate) id: Uuid,
}
