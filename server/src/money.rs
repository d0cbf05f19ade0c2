//! USD amounts at the API's edge: the contract's `NanoUsd`, with parse errors as 422 problems.

use tollgate_protocol::NanoUsd;

use crate::error::{ApiError, ApiResult};

/// Parses a non-negative USD amount like `"10"` or `"0.50"` into nano-dollars.
pub(crate) fn parse_usd(text: &str) -> ApiResult<i64> {
    NanoUsd::parse(text)
        .map(NanoUsd::nanos)
        .map_err(|err| ApiError::Invalid(err.to_string()))
}

/// Nano-dollars as the API writes them: `"10.00"`, `"0.125"`.
pub(crate) fn format_usd(nanos: i64) -> String {
    NanoUsd(nanos).to_string()
}
