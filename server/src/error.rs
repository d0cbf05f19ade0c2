//! One error type for the admin API, answered as RFC 9457 `application/problem+json`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// An RFC 9457 problem document, the body of every admin API error.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub(crate) struct Problem {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub(crate) kind: String,
    /// A short summary of the kind of problem.
    pub(crate) title: String,
    /// The HTTP status code.
    pub(crate) status: u16,
    /// What was wrong and what to do about it.
    pub(crate) detail: String,
}

/// Every way an admin API call can fail.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{detail}")]
    TooManyRequests {
        detail: String,
        retry_after_secs: u64,
    },
    /// Any status with its own detail, for request rejections from the framework.
    #[error("{detail}")]
    Status { status: StatusCode, detail: String },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The result type of services and handlers.
pub(crate) type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Status { status, .. } => *status,
            Self::Database(err) => database_status(err),
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad-request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not-found",
            Self::Conflict(_) => "conflict",
            Self::Invalid(_) => "invalid",
            Self::TooManyRequests { .. } => "too-many-requests",
            Self::Status { status, .. } => match status.as_u16() {
                405 => "method-not-allowed",
                412 => "precondition-failed",
                413 => "too-large",
                415 => "unsupported-media-type",
                422 => "invalid",
                503 => "unavailable",
                _ => "bad-request",
            },
            Self::Database(err) => match database_status(err).as_u16() {
                503 => "unavailable",
                422 => "invalid",
                _ => "internal",
            },
            Self::Internal(_) => "internal",
        }
    }

    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }

    pub(crate) fn not_found(what: &str, id: &str) -> Self {
        Self::NotFound(format!("no {what} '{id}' here, or you may not see it"))
    }

    /// The problem document this error is shown as; internal causes are never revealed.
    pub(crate) fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            Self::Database(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                "the database is unreachable right now; retry in a few seconds".to_string()
            }
            Self::Database(_) if status == StatusCode::UNPROCESSABLE_ENTITY => {
                "the input holds a value the database cannot store (for example a NUL character \
                 or an out-of-range number); remove it and send again"
                    .to_string()
            }
            Self::Database(_) | Self::Internal(_) => {
                "the server failed to handle this request; the error is logged".to_string()
            }
            other => other.to_string(),
        };
        Problem {
            kind: format!("https://tollgate.dev/problems/{}", self.kind()),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status().is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let retry_after = match &self {
            Self::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            _ => None,
        };
        let mut response = problem_response(&self.problem());
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// What a database failure means for the caller: the database being away is a 503 (retry), a
/// value PostgreSQL cannot store (NUL in text, a violated check) is the client's 422, anything
/// else is our 500.
fn database_status(err: &sqlx::Error) -> StatusCode {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            StatusCode::SERVICE_UNAVAILABLE
        }
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // character_not_in_repertoire, untranslatable_character, check_violation,
            // numeric_value_out_of_range, invalid_text_representation, string_data_right_truncation
            Some("22021" | "22P05" | "23514" | "22003" | "22P02" | "22001") => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            // admin_shutdown, crash_shutdown, cannot_connect_now
            Some("57P01" | "57P02" | "57P03") => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Renders a problem document with its status and content type.
pub(crate) fn problem_response(problem: &Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(problem).unwrap_or_default();
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )],
        body,
    )
        .into_response()
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let detail = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body as JSON with 'Content-Type: application/json'".to_string()
            }
            JsonRejection::JsonSyntaxError(_) => {
                format!("the body is not valid JSON: {}", rejection.body_text())
            }
            _ => format!("the JSON body does not fit: {}", rejection.body_text()),
        };
        Self::Status {
            status: rejection.status(),
            detail,
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::BadRequest(format!("bad path parameter: {}", rejection.body_text()))
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(format!("bad query string: {}", rejection.body_text()))
    }
}

impl From<tower_sessions::session::Error> for ApiError {
    /// The session store is PostgreSQL: when it fails, the database is away.
    fn from(err: tower_sessions::session::Error) -> Self {
        tracing::warn!(error = %err, "session store failed");
        Self::Status {
            status: StatusCode::SERVICE_UNAVAILABLE,
            detail: "the database is unreachable right now; retry in a few seconds".into(),
        }
    }
}

/// Turns a unique-constraint violation into a 409 that says what clashed.
pub(crate) fn conflict_on_unique(err: sqlx::Error, detail: impl FnOnce() -> String) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::Conflict(detail()),
        _ => ApiError::Database(err),
    }
}
