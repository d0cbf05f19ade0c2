//! Cross-site request forgery protection for every console form.
//!
//! Two independent checks: the browser's own word on where a POST comes from (`Origin`,
//! `Sec-Fetch-Site`, else `Referer`) must be this host, and the form must carry the session's
//! token. The token is a hash of the session cookie: a page of another site can neither read the
//! cookie (HttpOnly) nor the token, and nothing needs storing.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// Forms larger than this are refused (prompt templates are the largest).
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// The token for the session whose cookie value this is.
pub fn token(session: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"tollgate-console-csrf\0");
    hash.update(session.unwrap_or("").as_bytes());
    hex::encode(&hash.finalize()[..20])
}

/// The value of the session cookie in a request's `Cookie` headers.
pub fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// Middleware: lets safe methods through; checks origin and token on everything else.
pub async fn protect(session_cookie: &'static str, request: Request, next: Next) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    if !same_origin(request.headers()) {
        return refused("This form was sent from another site, so it was refused.");
    }
    let (parts, body) = request.into_parts();
    let Ok(collected) = http_body_util::Limited::new(body, MAX_FORM_BYTES)
        .collect()
        .await
    else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "The form is too large.").into_response();
    };
    let bytes = collected.to_bytes();
    let expected = token(cookie_value(&parts.headers, session_cookie));
    let sent = url::form_urlencoded::parse(&bytes)
        .find(|(key, _)| key == FIELD)
        .map(|(_, value)| value.into_owned());
    if sent.as_deref() != Some(expected.as_str()) {
        return refused(
            "This form's security token is missing or out of date (for example after signing \
             in again). Go back, reload the page and try again.",
        );
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Whether the browser says the request comes from this site. Requests without any of the
/// headers (scripts, old clients) pass here and still need the token.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-site").is_some_and(|site| site == "cross-site" || site == "same-site") {
        return false;
    }
    let Some(host) = header("host") else {
        return true;
    };
    let source = header("origin").or_else(|| header("referer"));
    match source {
        None => true,
        Some(source) => url::Url::parse(source)
            .ok()
            .map(|url| {
                let authority = match url.port() {
                    Some(port) => format!("{}:{port}", url.host_str().unwrap_or("")),
                    None => url.host_str().unwrap_or("").to_string(),
                };
                authority.eq_ignore_ascii_case(host)
            })
            .unwrap_or(false),
    }
}

fn refused(message: &str) -> Response {
    (
        StatusCode::FORBIDDEN,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        format!("403 Forbidden: {message}\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn origin_must_match_host() {
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8001"),
            ("origin", "http://127.0.0.1:8001")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8001"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8001"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "a"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[
            ("host", "a"),
            ("referer", "http://a/keys")
        ])));
    }

    #[test]
    fn token_depends_on_the_session() {
        assert_ne!(token(Some("one")), token(Some("two")));
        assert_eq!(token(Some("one")), token(Some("one")));
    }

    #[test]
    fn finds_the_cookie() {
        let map = headers(&[("cookie", "a=1; tollgate_session=abc; b=2")]);
        assert_eq!(cookie_value(&map, "tollgate_session"), Some("abc"));
        assert_eq!(cookie_value(&map, "missing"), None);
    }
}
