//! Input checks shared by the services; each failure says which field and what is expected.

use crate::error::{ApiError, ApiResult};

/// Longest display name (tenants, keys, tokens).
pub(crate) const NAME_MAX: usize = 100;
/// Longest email address (RFC 5321).
pub(crate) const EMAIL_MAX: usize = 254;
/// Most entries in one scope list, and the longest entry.
pub(crate) const SCOPE_ENTRIES_MAX: usize = 200;
pub(crate) const SCOPE_ENTRY_MAX: usize = 200;

/// A trimmed, non-empty name of at most [`NAME_MAX`] characters without control characters.
pub(crate) fn name(field: &str, value: &str) -> ApiResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ApiError::Invalid(format!("{field} must not be empty")));
    }
    if value.chars().count() > NAME_MAX {
        return Err(ApiError::Invalid(format!(
            "{field} is too long: at most {NAME_MAX} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::Invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    if value.chars().any(is_invisible) {
        return Err(ApiError::Invalid(format!(
            "{field} must not contain bidirectional overrides or zero-width characters"
        )));
    }
    Ok(value.to_string())
}

/// Characters that make a name read differently from what it is: bidirectional controls and
/// zero-width characters.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{FEFF}' | '\u{180E}')
}

/// Free text (descriptions, prompt messages): anything but NUL and other control characters
/// than tab and line breaks.
pub(crate) fn text(field: &str, value: &str) -> ApiResult<()> {
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        return Err(ApiError::Invalid(format!(
            "{field} must not contain NUL or other control characters"
        )));
    }
    Ok(())
}

/// A plausible email address, trimmed.
pub(crate) fn email(value: &str) -> ApiResult<String> {
    let value = value.trim();
    let well_formed = value.len() <= EMAIL_MAX
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
        && matches!(value.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if well_formed {
        Ok(value.to_string())
    } else {
        Err(ApiError::Invalid(format!(
            "'{}' is not an email address (like bob@example.com, at most {EMAIL_MAX} characters)",
            truncate(value, 60)
        )))
    }
}

/// A URL-safe identifier: lower-case letters, digits and inner hyphens, 1 to 63 characters.
pub(crate) fn slug(value: &str) -> ApiResult<String> {
    let bytes = value.as_bytes();
    let ok = (1..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
        && uuid::Uuid::parse_str(value).is_err();
    if ok {
        Ok(value.to_string())
    } else {
        Err(ApiError::Invalid(format!(
            "slug '{}' must be 1 to 63 lower-case letters, digits and inner hyphens, like 'acme-eu'",
            truncate(value, 70)
        )))
    }
}

/// Derives a slug from a display name: "Acme Corp." → "acme-corp".
pub(crate) fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(63).collect();
    slug.trim_end_matches('-').to_string()
}

/// A list of names (scope entries): bounded in count and length, trimmed, de-duplicated.
pub(crate) fn name_list(field: &str, values: &[String]) -> ApiResult<Vec<String>> {
    if values.len() > SCOPE_ENTRIES_MAX {
        return Err(ApiError::Invalid(format!(
            "{field} has too many entries: at most {SCOPE_ENTRIES_MAX}"
        )));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        let value = value.trim();
        if value.is_empty() || value.chars().count() > SCOPE_ENTRY_MAX {
            return Err(ApiError::Invalid(format!(
                "every entry of {field} must be 1 to {SCOPE_ENTRY_MAX} characters"
            )));
        }
        if value.chars().any(|c| c.is_control() || is_invisible(c)) {
            return Err(ApiError::Invalid(format!(
                "entries of {field} must not contain control, bidirectional or zero-width characters"
            )));
        }
        if !out.iter().any(|v| v == value) {
            out.push(value.to_string());
        }
    }
    Ok(out)
}

fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// A duration in milliseconds as settings show it, like "1m 30s".
pub(crate) fn millis_text(ms: i64) -> String {
    humantime::format_duration(std::time::Duration::from_millis(ms.max(0).unsigned_abs()))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_checked_and_derived_from_names() {
        assert!(slug("acme-eu").is_ok());
        for bad in [
            "",
            "-acme",
            "acme-",
            "Acme",
            "a b",
            "0190f3a2-7c1d-7000-8000-000000000000",
        ] {
            assert!(slug(bad).is_err(), "{bad}");
        }
        assert_eq!(slugify("Acme Corp."), "acme-corp");
        assert_eq!(slugify("  Ünïcode & Co "), "n-code-co");
    }

    #[test]
    fn emails_need_one_at_sign_and_no_spaces() {
        assert!(email("bob@example.com").is_ok());
        for bad in ["bob", "@x", "bob@", "b ob@x", "a@b@c"] {
            assert!(email(bad).is_err(), "{bad}");
        }
    }
}
