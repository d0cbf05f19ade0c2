//! Reading HTML form fields into API requests. Only shape is handled here (splitting lists,
//! empty means absent); whether a value is allowed is for the API to say.

use std::str::FromStr;

/// Trimmed text, or None when empty.
pub(crate) fn opt(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// A comma- or newline-separated list.
pub(crate) fn list(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// An optional number; the error names the field.
pub(crate) fn number<T: FromStr>(label: &str, text: &str) -> Result<Option<T>, String> {
    match opt(text) {
        None => Ok(None),
        Some(text) => text
            .parse()
            .map(Some)
            .map_err(|_| format!("{label}: '{text}' is not a number")),
    }
}

/// Lines of whitespace-separated words, skipping blank lines and `#` comments.
pub(crate) fn rows(text: &str) -> impl Iterator<Item = (usize, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, line)| {
        let line = line.trim();
        (!line.is_empty() && !line.starts_with('#'))
            .then(|| (i + 1, line.split_whitespace().collect()))
    })
}

/// A checkbox is sent only when ticked.
pub(crate) fn ticked(value: &Option<String>) -> bool {
    value.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_numbers() {
        assert_eq!(list(" a, b\nc ,, "), ["a", "b", "c"]);
        assert_eq!(number::<u32>("limit", " 12 "), Ok(Some(12)));
        assert_eq!(number::<u32>("limit", ""), Ok(None));
        assert!(number::<u32>("limit", "x").unwrap_err().contains("limit"));
        let parsed: Vec<_> = rows("# c\nhttp://a 2\n\nhttp://b").collect();
        assert_eq!(
            parsed,
            vec![(2, vec!["http://a", "2"]), (4, vec!["http://b"])]
        );
    }
}
