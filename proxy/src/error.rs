//! Every way the proxy refuses or fails a request, answered in one JSON shape
//! (`{"error": {"message", "type", "code"}}`, as OpenAI-compatible clients expect).

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use crate::body::ProxyBody;

/// The first error of type `T` in `error`'s chain of causes.
pub(crate) fn cause<'e, T: std::error::Error + 'static>(
    error: &'e (dyn std::error::Error + 'static),
) -> Option<&'e T> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// Why a request did not reach, or did not come back from, an upstream.
#[derive(Debug)]
pub(crate) enum ProxyError {
    NoRoute,
    MethodNotAllowed,
    MissingKey,
    InvalidKey,
    /// A JWT that did not check out (why).
    InvalidJwt(String),
    ExpiredKey,
    KeyNotAllowed,
    RateLimited {
        limit: u32,
        retry_after: Duration,
    },
    TokenRateLimited {
        limit: u32,
        retry_after: Duration,
    },
    NotReady,
    UpstreamUnreachable(String),
    UpstreamTimeout,
    /// The egress policy refuses the target's address.
    EgressRefused(String),
    BadRequest(String),
    ModelNotFound(String),
    ModelNotAllowed(String),
    /// No prompt API of the key's tenant has this slug.
    PromptApiNotFound(String),
    /// The key spent its budget for the period.
    BudgetExceeded(tollgate_protocol::KeyBudget),
    /// The call's worst-case cost does not fit in what is left of the key's budget.
    BudgetWouldExceed {
        budget: tollgate_protocol::KeyBudget,
        worst_case: i64,
        left: i64,
    },
    /// Budgets are held in Redis, which cannot be reached, and the policy is to refuse.
    BudgetUnavailable,
    /// Every deployment of a model failed; `message` names each failure.
    Provider {
        status: StatusCode,
        message: String,
    },
}

impl ProxyError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::MissingKey | Self::InvalidKey | Self::InvalidJwt(_) | Self::ExpiredKey => {
                StatusCode::UNAUTHORIZED
            }
            Self::KeyNotAllowed => StatusCode::FORBIDDEN,
            Self::RateLimited { .. } | Self::TokenRateLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::NotReady | Self::BudgetUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::UpstreamUnreachable(_) | Self::EgressRefused(_) => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::ModelNotFound(_) | Self::PromptApiNotFound(_) => StatusCode::NOT_FOUND,
            Self::BudgetExceeded(_) | Self::BudgetWouldExceed { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::ModelNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::Provider { status, .. } => *status,
        }
    }

    /// A short stable name: the error `code`, the usage event's error class, a metric label.
    pub(crate) fn class(&self) -> &'static str {
        match self {
            Self::NoRoute => "no_route",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::MissingKey => "missing_api_key",
            Self::InvalidKey => "invalid_api_key",
            Self::InvalidJwt(_) => "invalid_token",
            Self::ExpiredKey => "expired_api_key",
            Self::KeyNotAllowed => "key_not_allowed",
            Self::RateLimited { .. } => "rate_limited",
            Self::TokenRateLimited { .. } => "token_rate_limited",
            Self::NotReady => "not_ready",
            Self::UpstreamUnreachable(_) => "upstream_unreachable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::EgressRefused(_) => "egress_refused",
            Self::BadRequest(_) => "bad_request",
            Self::ModelNotFound(_) => "model_not_found",
            Self::PromptApiNotFound(_) => "prompt_api_not_found",
            Self::BudgetExceeded(_) | Self::BudgetWouldExceed { .. } => "budget_exceeded",
            Self::BudgetUnavailable => "budget_unavailable",
            Self::ModelNotAllowed(_) => "model_not_allowed",
            Self::Provider { .. } => "provider_error",
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Self::MissingKey | Self::InvalidKey | Self::InvalidJwt(_) | Self::ExpiredKey => {
                "authentication_error"
            }
            Self::KeyNotAllowed | Self::ModelNotAllowed(_) => "permission_error",
            Self::RateLimited { .. } | Self::TokenRateLimited { .. } => "rate_limit_error",
            Self::BudgetExceeded(_) | Self::BudgetWouldExceed { .. } => "insufficient_quota",
            Self::BudgetUnavailable => "service_unavailable",
            Self::NoRoute
            | Self::MethodNotAllowed
            | Self::BadRequest(_)
            | Self::ModelNotFound(_)
            | Self::PromptApiNotFound(_) => "invalid_request_error",
            Self::NotReady
            | Self::UpstreamUnreachable(_)
            | Self::UpstreamTimeout
            | Self::EgressRefused(_)
            | Self::Provider { .. } => "upstream_error",
        }
    }

    /// What went wrong, in a sentence for the client.
    pub(crate) fn message(&self) -> String {
        match self {
            Self::NoRoute => "no route matches this host and path".into(),
            Self::MethodNotAllowed => "the route for this path does not take this method".into(),
            Self::MissingKey => {
                "this route needs an API key: send 'Authorization: Bearer tg_…' or 'x-api-key: tg_…'".into()
            }
            Self::InvalidKey => "the API key is unknown or revoked".into(),
            Self::InvalidJwt(why) => format!("the token was refused: {why}"),
            Self::ExpiredKey => "the API key has expired; ask for a new one".into(),
            Self::KeyNotAllowed => "this API key may not use this route".into(),
            Self::RateLimited { limit, retry_after } => format!(
                "rate limit of {limit} requests per minute reached; retry in {} s",
                retry_after.as_secs().max(1)
            ),
            Self::TokenRateLimited { limit, retry_after } => format!(
                "token limit of {limit} tokens per minute reached; retry in {} s",
                retry_after.as_secs().max(1)
            ),
            Self::NotReady => {
                "the proxy has no configuration yet: it cannot reach tollgate-server and has no cached copy".into()
            }
            Self::UpstreamUnreachable(why) => format!("the upstream could not be reached: {why}"),
            Self::UpstreamTimeout => "the upstream did not answer in time".into(),
            Self::EgressRefused(why) => format!("the upstream may not be reached: {why}"),
            Self::BadRequest(why) => why.clone(),
            Self::ModelNotFound(model) => format!(
                "the model '{model}' does not exist or you do not have access to it"
            ),
            Self::ModelNotAllowed(model) => format!("this API key may not call the model '{model}'"),
            Self::PromptApiNotFound(slug) => format!(
                "no prompt API '{slug}' here; its slug is the last part of POST /prompts/{{slug}}"
            ),
            Self::BudgetExceeded(budget) => format!(
                "this key (its plan, for a subscription; its issuer's, for a JWT caller) has spent its budget of ${} {}; ask for a larger budget",
                tollgate_protocol::NanoUsd(budget.nanousd),
                period_words(budget.period)
            ),
            Self::BudgetWouldExceed {
                budget,
                worst_case,
                left,
            } => format!(
                "this call may cost up to ${} (its input and its max_tokens at the model's prices), \
                 and this key has ${} of its ${} budget left {}; lower max_tokens or ask for a larger budget",
                tollgate_protocol::NanoUsd(*worst_case),
                tollgate_protocol::NanoUsd((*left).max(0)),
                tollgate_protocol::NanoUsd(budget.nanousd),
                period_words(budget.period)
            ),
            Self::BudgetUnavailable => "this API key's budget cannot be checked right now (the shared budget store is unreachable); retry shortly".into(),
            Self::Provider { message, .. } => message.clone(),
        }
    }

    /// The error as the client sees it: OpenAI's error body, with `Retry-After` on limits.
    pub(crate) fn to_response(&self) -> Response<ProxyBody> {
        let body = serde_json::json!({"error": {
            "message": self.message(), "type": self.kind(), "code": self.class()}});
        self.respond(Bytes::from(body.to_string()))
    }

    /// The error as an Anthropic Messages client expects it.
    pub(crate) fn to_messages_response(&self) -> Response<ProxyBody> {
        self.respond(messages_error_body(self.status(), &self.message()))
    }

    fn respond(&self, body: Bytes) -> Response<ProxyBody> {
        let mut response = Response::new(
            Full::new(body)
                .map_err(|never| match never {})
                .boxed_unsync(),
        );
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Self::RateLimited { retry_after, .. } | Self::TokenRateLimited { retry_after, .. } =
            self
        {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(retry_after.as_secs().max(1)),
            );
        }
        response
    }
}

fn period_words(period: tollgate_protocol::BudgetPeriod) -> &'static str {
    match period {
        tollgate_protocol::BudgetPeriod::Day => "today (resets at 00:00 UTC)",
        tollgate_protocol::BudgetPeriod::Month => "this month (resets on the 1st, 00:00 UTC)",
        tollgate_protocol::BudgetPeriod::Total => "in total",
    }
}

/// An error in Anthropic Messages' shape: `{"type": "error", "error": {"type", "message"}}`,
/// its type named after the HTTP status as Anthropic names them.
pub(crate) fn messages_error_body(status: StatusCode, message: &str) -> Bytes {
    let kind = match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        400..=499 => "invalid_request_error",
        _ => "api_error",
    };
    Bytes::from(
        serde_json::json!({"type": "error", "error": {"type": kind, "message": message}})
            .to_string(),
    )
}
