//! The problem responses many operations share, declared once for the OpenAPI document.
//! Operation-specific refusals (a 409 that says which conflict) stay with their operation.

use utoipa::IntoResponses;

use crate::error::Problem;

/// 403: the caller's role does not allow the operation.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Your role does not allow this; the detail says which role it needs",
    content_type = "application/problem+json"
)]
pub struct Forbidden(pub Problem);

/// 404: no such tenant or object, or the caller may not see it.
#[derive(IntoResponses)]
#[response(
    status = 404,
    description = "No such tenant or object, or you may not see it",
    content_type = "application/problem+json"
)]
pub struct NotFound(pub Problem);

/// 409: the change conflicts with what exists.
#[derive(IntoResponses)]
#[response(
    status = 409,
    description = "The change conflicts with what exists; the detail says how",
    content_type = "application/problem+json"
)]
pub struct Conflict(pub Problem);

/// 422: the input is well-formed but not valid.
#[derive(IntoResponses)]
#[response(
    status = 422,
    description = "Invalid input; the detail names the field and what it accepts",
    content_type = "application/problem+json"
)]
pub struct Invalid(pub Problem);
