//! Credentials in a document are references, never values: `${ENV_VAR}` or `${file:PATH}`.
//! `tollgate apply` resolves them where it runs (the environment of the CI job, mounted secret
//! files) and sends the values beside the document; the server never reads its own
//! environment or files for them.

use std::collections::BTreeMap;

use crate::error::{ApiError, ApiResult};

/// What a reference names: the text between `${` and `}` (`OPENAI_API_KEY`, `file:/run/key`).
/// The values an apply carries are keyed by it.
pub(crate) fn name(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("${")?.strip_suffix('}')?;
    let valid = match inner.strip_prefix("file:") {
        Some(path) => !path.trim().is_empty() && !path.contains(['{', '}']),
        None => {
            let mut chars = inner.chars();
            matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
    };
    valid.then_some(inner)
}

/// Checks that a credential field holds a reference, not a value.
pub(crate) fn check(field: &str, text: &str) -> ApiResult<String> {
    name(text).map(str::to_string).ok_or_else(|| {
        ApiError::Invalid(format!(
            "`{field}` must be a reference like ${{OPENAI_API_KEY}} or ${{file:/run/secrets/key}}: credentials are never written in a document"
        ))
    })
}

/// The value of a reference from those the apply carries.
pub(crate) fn resolve(
    field: &str,
    reference: &str,
    values: &BTreeMap<String, String>,
) -> ApiResult<String> {
    let name = check(field, reference)?;
    values.get(&name).cloned().ok_or_else(|| {
        ApiError::Invalid(format!(
            "`{field}` refers to ${{{name}}}, whose value this apply did not carry; apply with `tollgate apply`, which reads it from the environment or the file"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_environment_variables_or_files() {
        assert_eq!(name("${OPENAI_API_KEY}"), Some("OPENAI_API_KEY"));
        assert_eq!(name(" ${_x1} "), Some("_x1"));
        assert_eq!(
            name("${file:/run/secrets/key}"),
            Some("file:/run/secrets/key")
        );
        for value in [
            "sk-live-123",
            "${1X}",
            "${A-B}",
            "${}",
            "${file:}",
            "$OPENAI",
            "${A}b",
        ] {
            assert_eq!(name(value), None, "{value}");
        }
        let err = check("api_key", "sk-live-123").unwrap_err().to_string();
        assert!(err.contains("never written"), "{err}");
        assert!(!err.contains("sk-live"), "{err}");
    }

    #[test]
    fn a_reference_without_its_value_is_refused() {
        let values = BTreeMap::from([("KEY".to_string(), "secret".to_string())]);
        assert_eq!(resolve("api_key", "${KEY}", &values).unwrap(), "secret");
        let err = resolve("api_key", "${OTHER}", &values)
            .unwrap_err()
            .to_string();
        assert!(err.contains("${OTHER}"), "{err}");
    }
}
