//! How numbers, money and times read on pages.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// "2026-11-29 14:03 UTC" from an RFC 3339 time; the input as is when it does not parse.
pub(crate) fn time(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02} UTC",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute()
            )
        }
        Err(_) => text.to_string(),
    }
}

/// "2026-11-29 14:03:07" with seconds, for request logs.
pub(crate) fn time_seconds(text: &str) -> String {
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => {
            let t = t.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
                t.year(),
                t.month() as u8,
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        }
        Err(_) => text.to_string(),
    }
}

pub(crate) fn optional_time(text: Option<&str>) -> String {
    text.map(time).unwrap_or_else(|| "never".to_string())
}

/// "$1.234567" with every significant decimal (nano-dollars), at least two.
pub(crate) fn usd(text: &str) -> String {
    match tollgate_protocol::NanoUsd::parse(text) {
        Ok(amount) => format!("${amount}"),
        Err(_) => format!("${}", text.trim()),
    }
}

/// The dollars of a decimal USD string as a float, for chart geometry only (never for sums shown).
pub(crate) fn usd_value(text: &str) -> f64 {
    text.trim().parse().unwrap_or(0.0)
}

/// 1234567 → "1,234,567".
pub(crate) fn count(value: i64) -> String {
    let digits = value.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if value < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// Milliseconds with sensible precision.
pub(crate) fn ms(value: f64) -> String {
    if value >= 100.0 {
        format!("{value:.0} ms")
    } else if value >= 10.0 {
        format!("{value:.1} ms")
    } else {
        format!("{value:.2} ms")
    }
}

/// A percentage of `part` in `whole`.
pub(crate) fn percent(part: i64, whole: i64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    let p = part as f64 * 100.0 / whole as f64;
    if p > 0.0 && p < 0.1 {
        "<0.1%".into()
    } else {
        format!("{p:.1}%")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_counts_read_well() {
        assert_eq!(usd("0.000150000"), "$0.00015");
        assert_eq!(usd("12"), "$12.00");
        assert_eq!(usd("3.500000000"), "$3.50");
        assert_eq!(count(1234567), "1,234,567");
        assert_eq!(count(12), "12");
        assert_eq!(time("2026-11-29T14:03:07.5Z"), "2026-11-29 14:03 UTC");
        assert_eq!(percent(1, 3), "33.3%");
    }
}
