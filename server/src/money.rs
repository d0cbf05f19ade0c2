//! Exact money: USD amounts as decimal strings on the wire, integer nano-dollars inside.

use crate::error::{ApiError, ApiResult};

const NANOS_PER_USD: i64 = 1_000_000_000;

/// Parses a non-negative USD amount like `"10"`, `"0.50"` or `"12.345678901"` into nano-dollars.
pub fn parse_usd(text: &str) -> ApiResult<i64> {
    let invalid = || {
        ApiError::Invalid(format!(
            "'{text}' is not a USD amount; write a non-negative decimal like \"25.00\" (at most 9 decimals)"
        ))
    };
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
        || fraction.len() > 9
        || (text.contains('.') && fraction.is_empty())
    {
        return Err(invalid());
    }
    let whole: i64 = whole.parse().map_err(|_| invalid())?;
    let fraction: i64 = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
    whole
        .checked_mul(NANOS_PER_USD)
        .and_then(|n| n.checked_add(fraction))
        .ok_or_else(invalid)
}

/// Formats nano-dollars as a USD decimal string with at least two decimals: `"10.00"`, `"0.125"`.
pub fn format_usd(nanos: i64) -> String {
    let sign = if nanos < 0 { "-" } else { "" };
    let abs = nanos.unsigned_abs();
    let whole = abs / NANOS_PER_USD as u64;
    let fraction = format!("{:09}", abs % NANOS_PER_USD as u64);
    let trimmed = fraction.trim_end_matches('0');
    let fraction = if trimmed.len() < 2 {
        &fraction[..2]
    } else {
        trimmed
    };
    format!("{sign}{whole}.{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usd_amounts_round_trip_exactly() {
        assert_eq!(parse_usd("10").ok(), Some(10_000_000_000));
        assert_eq!(parse_usd("0.5").ok(), Some(500_000_000));
        assert_eq!(parse_usd("0.000000001").ok(), Some(1));
        assert_eq!(format_usd(10_000_000_000), "10.00");
        assert_eq!(format_usd(500_000_000), "0.50");
        assert_eq!(format_usd(125_000_000), "0.125");
        assert_eq!(format_usd(1), "0.000000001");
        for text in ["12.345678901", "0.10", "999999.99"] {
            let nanos = parse_usd(text).unwrap_or(-1);
            assert_eq!(parse_usd(&format_usd(nanos)).ok(), Some(nanos));
        }
    }

    #[test]
    fn malformed_amounts_are_refused() {
        for text in [
            "",
            "-1",
            "1.",
            ".5",
            "1e3",
            "0.0000000001",
            "abc",
            "99999999999999999999",
        ] {
            assert!(parse_usd(text).is_err(), "{text} should be refused");
        }
    }
}
