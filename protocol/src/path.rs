//! Request path normalisation, the one definition both sides use: the proxy normalises every
//! request path before matching, and the server accepts only route paths already in this form.
//! Before any matching: RFC 3986 dot-segment removal, percent-encoded
//! unreserved characters decoded, duplicate slashes merged. What could mean a different path to
//! the upstream than to the proxy (encoded slashes or backslashes, control characters, `..;`) is
//! refused, so the route that matched is the route the upstream serves.

use std::borrow::Cow;

/// Why a path was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadPath(pub &'static str);

/// The normalised form of `path` (the URI's path, still percent-encoded); borrowed when
/// nothing changed.
pub fn normalise(path: &str) -> Result<Cow<'_, str>, BadPath> {
    if is_normal(path) {
        return Ok(Cow::Borrowed(path));
    }
    if !path.starts_with('/') {
        return Err(BadPath("the path must start with '/'"));
    }
    let decoded = decode_unreserved(path)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for segment in decoded.split('/').skip(1) {
        trailing_slash = false;
        match segment {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s if s.starts_with(".;") || s.starts_with("..;") => {
                return Err(BadPath("path segments like '..;' are refused"))
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() || trailing_slash {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// The fast path: no `%`, no `\`, no empty, `.` or `..` segment.
fn is_normal(path: &str) -> bool {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') || bytes.iter().any(|b| matches!(b, b'%' | b'\\')) {
        return false;
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(segment) = segments.next() {
        let last = segments.peek().is_none();
        if matches!(segment, "." | "..")
            || (segment.is_empty() && !last)
            || segment.starts_with(".;")
            || segment.starts_with("..;")
        {
            return false;
        }
    }
    true
}

/// Decodes `%XX` of unreserved characters (RFC 3986 §2.3) and upper-cases the others; refuses
/// encoded `/`, `\`, control characters and malformed escapes.
fn decode_unreserved(path: &str) -> Result<String, BadPath> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'\\' => return Err(BadPath("backslashes are refused in paths")),
            b'%' => {
                let hex = |b: u8| (b as char).to_digit(16);
                let (Some(hi), Some(lo)) = (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) else {
                    return Err(BadPath(
                        "a '%' in the path is not followed by two hex digits",
                    ));
                };
                let byte = u8::try_from(hi * 16 + lo).unwrap_or(0);
                match byte {
                    b'/' | b'\\' => return Err(BadPath("encoded slashes are refused in paths")),
                    0..=0x1f | 0x7f => {
                        return Err(BadPath("encoded control characters are refused in paths"))
                    }
                    b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') => {
                        out.push(b as char)
                    }
                    b => out.push_str(&format!("%{b:02X}")),
                }
                i += 3;
            }
            _ => {
                // The URI parser only lets ASCII through; keep it as it is.
                out.push(b as char);
                i += 1;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(path: &str) -> Result<String, BadPath> {
        normalise(path).map(|p| p.into_owned())
    }

    #[test]
    fn dot_segments_and_duplicate_slashes_are_removed() {
        for (given, expected) in [
            ("/static/../admin/secret.txt", "/admin/secret.txt"),
            ("/static/%2e%2e/admin/secret.txt", "/admin/secret.txt"),
            ("/static/%2E%2e/admin", "/admin"),
            ("/static//../admin", "/admin"),
            ("//admin", "/admin"),
            ("/a/./b/", "/a/b/"),
            ("/a/b/..", "/a/"),
            ("/../../etc/passwd", "/etc/passwd"),
            ("/%7Euser/%41", "/~user/A"),
            ("/a%20b", "/a%20b"),
            ("/", "/"),
            ("/orders/42", "/orders/42"),
            ("/orders/", "/orders/"),
        ] {
            assert_eq!(norm(given).as_deref(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn ambiguous_paths_are_refused() {
        for bad in [
            "/static%2f..%2fadmin",
            "/static/..%5cadmin",
            "/static\\..\\admin",
            "/a%00b",
            "/a%zz",
            "/a%2",
            "/static/..;/admin",
        ] {
            assert!(norm(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn normal_paths_are_borrowed() {
        assert!(matches!(normalise("/orders/42"), Ok(Cow::Borrowed(_))));
        assert!(matches!(normalise("/orders/"), Ok(Cow::Borrowed(_))));
    }
}
