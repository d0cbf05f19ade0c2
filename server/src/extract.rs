//! Request extractors whose rejections are problem documents instead of plain text.

use axum::extract::{FromRequest, FromRequestParts};

use crate::error::ApiError;

/// A JSON body; malformed JSON, wrong types and unknown fields are answered as problems.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// Path parameters; a parameter of the wrong shape is answered as a 400 problem.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// A query string; bad parameters are answered as a 400 problem.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
