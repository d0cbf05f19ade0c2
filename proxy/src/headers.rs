//! Header work around forwarding: hop-by-hop removal, X-Forwarded-*, the request id, route rules.

use std::net::IpAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::route::CompiledRoute;

/// Headers that belong to one connection and are never forwarded (RFC 9110 §7.6.1);
/// `Connection` first (`strip_hop_by_hop` reads it).
static HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::UPGRADE,
];

pub(crate) static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Whether the proxy sets this header itself (framing, routing, connection management), so no
/// configured header rule may set it.
pub(crate) fn is_managed(name: &HeaderName) -> bool {
    HOP_BY_HOP.contains(name)
        || [
            header::HOST,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ]
        .contains(name)
}

/// Where `name` is in HOP_BY_HOP: by its text, which the compiler matches by length first
/// (most names are rejected there), rather than comparing it with each of the list.
fn hop_by_hop_index(name: &HeaderName) -> Option<usize> {
    let index = match name.as_str() {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "upgrade" => 7,
        _ => return None,
    };
    debug_assert_eq!(HOP_BY_HOP[index], name);
    Some(index)
}

/// Removes hop-by-hop headers, including those the `Connection` header names.
pub(crate) fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names notes which are present: most messages carry none, or only
    // `Connection: keep-alive`, and removing (or looking up) each absent one costs a hash.
    let mut present = [false; HOP_BY_HOP.len()];
    let mut transfer_encoding = false;
    for name in headers.keys() {
        match hop_by_hop_index(name) {
            Some(i) => present[i] = true,
            None => transfer_encoding |= name == header::TRANSFER_ENCODING,
        }
    }
    // `Connection` (first in the list): the names it lists go too. Most say only `keep-alive`,
    // itself a hop-by-hop name: no list to read.
    let lists_names = present[0]
        && headers
            .get_all(header::CONNECTION)
            .iter()
            .any(|v| !v.as_bytes().eq_ignore_ascii_case(b"keep-alive"));
    if lists_names {
        let named: Vec<HeaderName> = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|token| {
                !HOP_BY_HOP
                    .iter()
                    .any(|hop| hop.as_str().eq_ignore_ascii_case(token))
            })
            .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
            .collect();
        for name in &named {
            headers.remove(name);
        }
    }
    for (hop, _) in HOP_BY_HOP.iter().zip(present).filter(|(_, here)| *here) {
        headers.remove(hop);
    }
    if transfer_encoding {
        headers.remove(header::TRANSFER_ENCODING);
    }
}

/// The client's address, and as an `X-Forwarded-For` value: formatted once per connection.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) ip: IpAddr,
    forwarded_for: HeaderValue,
}

impl Peer {
    pub(crate) fn new(ip: IpAddr) -> Self {
        let forwarded_for = HeaderValue::from_str(&ip.to_string())
            .unwrap_or_else(|_| HeaderValue::from_static("unknown"));
        Self { ip, forwarded_for }
    }
}

/// What the proxy knows about the client's request that the upstream should learn.
pub(crate) struct ClientFacts<'a> {
    pub(crate) peer: &'a Peer,
    pub(crate) host: Option<&'a HeaderValue>,
    pub(crate) request_id: &'a HeaderValue,
}

static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

pub(crate) use tollgate_protocol::bearer_token;

/// Removes every Tollgate key the request carries (`Authorization: Bearer tg_…`,
/// `x-api-key: tg_…`), whether or not the route checked it: upstreams never see Tollgate
/// credentials unless the route opts in.
fn remove_tollgate_keys(headers: &mut HeaderMap) {
    let is_tollgate_key = |token: &str| token.starts_with("tg_");
    let authorization_is_key = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| bearer_token(v).is_some_and(is_tollgate_key));
    if authorization_is_key {
        headers.remove(header::AUTHORIZATION);
    }
    let api_key_is_key = headers
        .get_all(&X_API_KEY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| is_tollgate_key(v.trim()));
    if api_key_is_key {
        headers.remove(&X_API_KEY);
    }
}

/// Rewrites the client's headers into the upstream request's.
pub(crate) fn prepare_upstream(
    headers: &mut HeaderMap,
    route: &CompiledRoute,
    facts: &ClientFacts<'_>,
) {
    strip_hop_by_hop(headers);
    if !route.forward_key {
        remove_tollgate_keys(headers);
    }
    let forwarded_for = match headers.get(&X_FORWARDED_FOR).and_then(|v| v.to_str().ok()) {
        Some(previous) => HeaderValue::from_str(&format!("{previous}, {}", facts.peer.ip)).ok(),
        None => Some(facts.peer.forwarded_for.clone()),
    };
    if let Some(value) = forwarded_for {
        headers.insert(X_FORWARDED_FOR.clone(), value);
    }
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static("http"));
    if let Some(host) = facts.host {
        headers.insert(X_FORWARDED_HOST.clone(), host.clone());
    }
    headers.insert(X_REQUEST_ID.clone(), facts.request_id.clone());
    // The upstream gets its own host name (set per attempt).
    headers.remove(header::HOST);
    for name in &route.remove_headers {
        headers.remove(name);
    }
    for (name, value) in &route.set_headers {
        headers.insert(name.clone(), value.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_hop_by_hop_name_and_no_other_is_found_by_its_text() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name), Some(i));
        }
        for name in [
            header::HOST,
            header::TRANSFER_ENCODING,
            X_REQUEST_ID.clone(),
        ] {
            assert_eq!(hop_by_hop_index(&name), None);
        }
    }

    #[test]
    fn hop_by_hop_headers_and_those_connection_names_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        headers.insert("x-secret-hop", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));

        // Names listed in any case and spacing, over several `Connection` headers.
        let mut headers = HeaderMap::new();
        headers.append(header::CONNECTION, HeaderValue::from_static("Keep-Alive"));
        headers.append(
            header::CONNECTION,
            HeaderValue::from_static(" X-Other ,close"),
        );
        headers.insert("x-other", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1, "{headers:?}");
        assert!(headers.contains_key(header::CONTENT_TYPE));

        // Nothing hop-by-hop: nothing changes.
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 2);
    }

    #[test]
    fn framing_and_routing_headers_are_managed_by_the_proxy() {
        for name in [
            "content-length",
            "host",
            "transfer-encoding",
            "connection",
            "upgrade",
        ] {
            assert!(is_managed(&HeaderName::from_static(name)), "{name}");
        }
        assert!(!is_managed(&HeaderName::from_static("x-org")));
    }

    #[test]
    fn tollgate_keys_are_removed_in_any_case_and_other_credentials_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bEaReR tg_secret"),
        );
        headers.insert("x-api-key", HeaderValue::from_static("tg_other"));
        remove_tollgate_keys(&mut headers);
        assert!(headers.is_empty(), "{headers:?}");
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer upstream-token"),
        );
        headers.insert("x-api-key", HeaderValue::from_static("upstream-key"));
        remove_tollgate_keys(&mut headers);
        assert_eq!(headers.len(), 2);
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
    }
}
