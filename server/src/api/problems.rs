//! The problem responses many operations share, declared once for the OpenAPI document.
//! Operation-specific refusals (a 409 that says which conflict) stay with their operation.

use utoipa::IntoResponses;

use crate::error::Problem;

/// Declares a shared problem response: its type, status and description.
macro_rules! problem_response {
    ($(#[$doc:meta])* $name:ident, $status:literal, $description:literal) => {
        $(#[$doc])*
        #[derive(IntoResponses)]
        #[response(status = $status, description = $description,
                   content_type = "application/problem+json")]
        pub(crate) struct $name(
            #[expect(dead_code, reason = "only its type is read, by the OpenAPI derive")] Problem,
        );
    };
}

problem_response!(
    /// 403: the caller's role does not allow the operation.
    Forbidden,
    403,
    "Your role does not allow this; the detail says which role it needs"
);
problem_response!(
    /// 404: no such tenant or object, or the caller may not see it.
    NotFound,
    404,
    "No such tenant or object, or you may not see it"
);
problem_response!(
    /// 409: the change conflicts with what exists.
    Conflict,
    409,
    "The change conflicts with what exists; the detail says how"
);
problem_response!(
    /// 422: the input is well-formed but not valid.
    Invalid,
    422,
    "Invalid input; the detail names the field and what it accepts"
);
