//! Exact money: integer nano-dollars inside, decimal USD strings on the wire and on screen.
//! One parser and one rendering for every process, so an amount reads the same everywhere.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

const NANOS_PER_USD: i64 = 1_000_000_000;

/// An amount of US dollars in integer nano-dollars (10⁻⁹ USD): exact to sum, never rounded.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct NanoUsd(pub i64);

/// A text that is not a USD amount this parser accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseUsdError(String);

impl fmt::Display for ParseUsdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "'{}' is not a USD amount; write a non-negative decimal like \"25.00\" (at most 9 decimals)",
            self.0
        )
    }
}

impl std::error::Error for ParseUsdError {}

impl NanoUsd {
    /// No money.
    pub const ZERO: Self = Self(0);

    /// Parses a non-negative amount like `"10"`, `"0.50"` or `"12.345678901"`.
    pub fn parse(text: &str) -> Result<Self, ParseUsdError> {
        let invalid = || ParseUsdError(text.to_string());
        let trimmed = text.trim();
        let (whole, fraction) = trimmed.split_once('.').unwrap_or((trimmed, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 9
            || (trimmed.contains('.') && fraction.is_empty())
        {
            return Err(invalid());
        }
        let whole: i64 = whole.parse().map_err(|_| invalid())?;
        let fraction: i64 = format!("{fraction:0<9}").parse().map_err(|_| invalid())?;
        whole
            .checked_mul(NANOS_PER_USD)
            .and_then(|n| n.checked_add(fraction))
            .map(Self)
            .ok_or_else(invalid)
    }

    /// The amount in nano-dollars.
    pub fn nanos(self) -> i64 {
        self.0
    }
}

impl FromStr for NanoUsd {
    type Err = ParseUsdError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// A decimal with at least two places and no trailing zeros past them: `10.00`, `0.125`,
/// `0.000005625`.
impl fmt::Display for NanoUsd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS_PER_USD.unsigned_abs();
        let fraction = format!("{:09}", abs % NANOS_PER_USD.unsigned_abs());
        let trimmed = fraction.trim_end_matches('0');
        let fraction = if trimmed.len() < 2 {
            &fraction[..2]
        } else {
            trimmed
        };
        write!(f, "{sign}{whole}.{fraction}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(text: &str) -> Option<i64> {
        NanoUsd::parse(text).ok().map(NanoUsd::nanos)
    }

    #[test]
    fn usd_amounts_round_trip_exactly() {
        assert_eq!(usd("10"), Some(10_000_000_000));
        assert_eq!(usd("0.5"), Some(500_000_000));
        assert_eq!(usd("0.000000001"), Some(1));
        assert_eq!(NanoUsd(10_000_000_000).to_string(), "10.00");
        assert_eq!(NanoUsd(500_000_000).to_string(), "0.50");
        assert_eq!(NanoUsd(125_000_000).to_string(), "0.125");
        assert_eq!(NanoUsd(1).to_string(), "0.000000001");
        assert_eq!(NanoUsd(-1_500_000_000).to_string(), "-1.50");
        for text in ["12.345678901", "0.10", "999999.99"] {
            let amount = NanoUsd::parse(text).unwrap_or(NanoUsd(-1));
            assert_eq!(NanoUsd::parse(&amount.to_string()), Ok(amount));
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
            assert!(NanoUsd::parse(text).is_err(), "{text} should be refused");
        }
    }
}
