//! Cross-site request forgery protection for every console form.
//!
//! Two independent checks: the browser's own word on where a POST comes from (`Origin`,
//! `Sec-Fetch-Site`, else `Referer`) must be this host, and the form must carry its token. A
//! token is a hash of the session cookie and of the form's own action: a page of another site
//! can neither read the cookie (HttpOnly) nor the token, nothing needs storing, and a token is
//! good for one action only, so markup that sneaks a `formaction` into a form cannot reuse it.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

/// The form field that carries the token.
pub(crate) const FIELD: &str = "csrf";

/// Forms larger than this are refused (prompt templates are the largest).
const MAX_FORM_BYTES: usize = 1024 * 1024;

/// What pages put in their forms' token fields; [`bind_forms`] replaces it by each form's own
/// token before the page leaves. It is never accepted itself.
pub(crate) fn placeholder(session: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(b"tollgate-console-csrf-page\0");
    hash.update(session.unwrap_or("").as_bytes());
    hex::encode(&hash.finalize()[..20])
}

/// The token for posting to `action` (a path) in the session whose cookie value this is.
pub fn token(session: Option<&str>, action: &str) -> String {
    let path = action.split(['?', '#']).next().unwrap_or("");
    let mut hash = Sha256::new();
    hash.update(b"tollgate-console-csrf\0");
    hash.update(session.unwrap_or("").as_bytes());
    hash.update(b"\0");
    hash.update(path.as_bytes());
    hex::encode(&hash.finalize()[..20])
}

/// Gives every `<form>` of a rendered page the token of its own `action`.
pub(crate) fn bind_forms(html: &str, session: Option<&str>) -> String {
    let placeholder = format!("value=\"{}\"", placeholder(session));
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find("<form") {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let end = rest
            .find("</form>")
            .map_or(rest.len(), |i| i + "</form>".len());
        let form = &rest[..end];
        let tag = &form[..form.find('>').unwrap_or(form.len())];
        let action = attribute(tag, "action").unwrap_or_default();
        let bound = format!("value=\"{}\"", token(session, &action));
        out.push_str(&form.replace(&placeholder, &bound));
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// An attribute's value in a start tag, with the entities the renderer writes decoded.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let needle = format!(" {name}=\"");
    let start = tag.find(&needle)? + needle.len();
    let value = &tag[start..start + tag[start..].find('"')?];
    Some(
        value
            .replace("&quot;", "\"")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&#x27;", "'")
            .replace("&#39;", "'")
            .replace("&amp;", "&"),
    )
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
pub(crate) async fn protect(
    session_cookie: &'static str,
    request: Request,
    next: Next,
) -> Response {
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
    let expected = token(
        cookie_value(&parts.headers, session_cookie),
        parts.uri.path(),
    );
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

/// Whether the browser says the request comes from this site (this scheme, host and port: a
/// page on another port of the same host is another origin). Requests without any of the
/// headers (scripts, old clients) pass here and still need their token or credentials.
pub fn same_origin(headers: &HeaderMap) -> bool {
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
    fn token_depends_on_the_session_and_the_action() {
        assert_ne!(token(Some("one"), "/a"), token(Some("two"), "/a"));
        assert_ne!(token(Some("one"), "/a"), token(Some("one"), "/b"));
        assert_eq!(token(Some("one"), "/a"), token(Some("one"), "/a?x=1"));
        assert_ne!(placeholder(Some("one")), token(Some("one"), ""));
    }

    #[test]
    fn each_form_gets_the_token_of_its_own_action() {
        let p = placeholder(Some("s"));
        let html = format!(
            "<p>x</p><form method=\"post\" action=\"/t/a/keys\"><input name=\"csrf\" value=\"{p}\"></form>\
             <form action=\"/logout\" class=\"inline\"><input name=\"csrf\" value=\"{p}\"></form>"
        );
        let bound = bind_forms(&html, Some("s"));
        assert!(bound.contains(&token(Some("s"), "/t/a/keys")), "{bound}");
        assert!(bound.contains(&token(Some("s"), "/logout")), "{bound}");
        assert!(!bound.contains(&p), "{bound}");
    }

    #[test]
    fn finds_the_cookie() {
        let map = headers(&[("cookie", "a=1; tollgate_session=abc; b=2")]);
        assert_eq!(cookie_value(&map, "tollgate_session"), Some("abc"));
        assert_eq!(cookie_value(&map, "missing"), None);
    }
}
