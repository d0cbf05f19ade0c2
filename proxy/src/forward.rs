//! Sends a request upstream: weighted target choice, timeouts, retries on the route's chosen
//! failures, passive health.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use tollgate_protocol::RetryOn;

use crate::attempts::Attempts;
use crate::body::{Counted, ProxyBody};
use crate::client::Client;
use crate::egress::{EgressConnector, EgressRefused, PolicySource};
use crate::error::{cause, ProxyError};
use crate::metrics::Metrics;
use crate::route::{CompiledRoute, CompiledTarget};

/// Bodies up to this size are kept in memory so a retry can send them again; larger ones stream
/// through once, without retries.
const REPLAYABLE_BODY_MAX: u64 = 64 * 1024;

/// The upstream HTTP client: pooled connections, http and https, under the egress policy.
pub(crate) type UpstreamClient = Client<HttpsConnector<EgressConnector>, ProxyBody>;

/// One pooled client per connect timeout in use (routes differ only in that; a handful of
/// values, so a list).
pub(crate) struct Clients {
    by_connect_timeout: std::sync::Mutex<Vec<(Duration, Arc<UpstreamClient>)>>,
    policy: PolicySource,
}

impl Clients {
    pub(crate) fn new(policy: PolicySource) -> Self {
        Self {
            by_connect_timeout: std::sync::Mutex::default(),
            policy,
        }
    }

    /// The client for this connect timeout: a shared handle to it and its pool.
    pub(crate) fn get(&self, connect_timeout: Duration) -> Arc<UpstreamClient> {
        let mut clients = self
            .by_connect_timeout
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((_, client)) = clients.iter().find(|(t, _)| *t == connect_timeout) {
            return client.clone();
        }
        let client = Arc::new(build_client(connect_timeout, self.policy.clone()));
        clients.push((connect_timeout, client.clone()));
        client
    }
}

fn build_client(connect_timeout: Duration, policy: PolicySource) -> UpstreamClient {
    let http = EgressConnector::new(policy, |http| {
        http.set_connect_timeout(Some(connect_timeout));
        http.set_nodelay(true);
        http.enforce_http(false);
    });
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Client::new(https)
}

/// A request body that may be sent more than once.
pub(crate) enum RequestBody {
    Empty,
    Buffered(Bytes),
    /// Streams through once.
    Stream(Option<Counted<Incoming>>),
}

impl RequestBody {
    /// Buffers small bodies when the route may retry; streams everything else.
    pub(crate) async fn prepare(
        body: Counted<Incoming>,
        headers: &http::HeaderMap,
        may_retry: bool,
    ) -> Result<Self, ProxyError> {
        use http_body::Body;
        if body.is_end_stream() {
            return Ok(Self::Empty);
        }
        let length = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        match length {
            Some(0) => Ok(Self::Empty),
            Some(n) if may_retry && n <= REPLAYABLE_BODY_MAX => {
                let bytes = body
                    .collect()
                    .await
                    .map_err(|e| {
                        ProxyError::BadRequest(format!("reading the request body failed: {e}"))
                    })?
                    .to_bytes();
                Ok(Self::Buffered(bytes))
            }
            _ => Ok(Self::Stream(Some(body))),
        }
    }

    fn replayable(&self) -> bool {
        !matches!(self, Self::Stream(_))
    }

    fn take(&mut self) -> ProxyBody {
        match self {
            Self::Empty => Empty::new().map_err(|never| match never {}).boxed_unsync(),
            Self::Buffered(bytes) => Full::new(bytes.clone())
                .map_err(|never| match never {})
                .boxed_unsync(),
            Self::Stream(stream) => match stream.take() {
                Some(stream) => stream
                    .map_err(|e| Box::new(ClientBodyError(e.to_string())) as crate::body::BoxError)
                    .boxed_unsync(),
                None => Empty::new().map_err(|never| match never {}).boxed_unsync(),
            },
        }
    }
}

/// An upstream's answer.
pub(crate) struct Forwarded {
    pub(crate) response: Response<Incoming>,
    /// From sending the last attempt to its response headers.
    pub(crate) upstream_latency: Duration,
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
    )
}

/// Whether the route allows retrying this method at all.
pub(crate) fn may_retry(route: &CompiledRoute, method: &Method) -> bool {
    route.retries > 0 && (route.retry_non_idempotent || is_idempotent(method))
}

/// The path the upstream sees, in origin form: the target's base path, then the request path
/// (its matched prefix removed when the route strips it), then the query.
fn upstream_path(
    route: &CompiledRoute,
    target: &CompiledTarget,
    uri: &Uri,
) -> Result<Uri, ProxyError> {
    let path = uri.path();
    // What follows the matched prefix: empty or starting with '/'.
    let rest = if route.strip_prefix && route.path != "/" {
        path.strip_prefix(route.path.as_str()).unwrap_or(path)
    } else {
        path
    };
    if target.base_path.is_empty() && rest.len() == path.len() && !path.is_empty() {
        // The path goes through as it came: share the request's bytes.
        if let Some(path_and_query) = uri.path_and_query() {
            return Ok(Uri::from(path_and_query.clone()));
        }
    }
    let mut path_and_query = String::with_capacity(target.base_path.len() + rest.len() + 32);
    path_and_query.push_str(&target.base_path);
    path_and_query.push_str(rest);
    if path_and_query.is_empty() {
        path_and_query.push('/');
    }
    if let Some(query) = uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(query);
    }
    Uri::try_from(path_and_query)
        .map_err(|e| ProxyError::BadRequest(format!("cannot build the upstream URL: {e}")))
}

/// Forwards the request, retrying on the route's failures while targets and attempts remain.
pub(crate) async fn forward(
    route: &Arc<CompiledRoute>,
    mut parts: http::request::Parts,
    mut body: RequestBody,
    client: &UpstreamClient,
    metrics: &Metrics,
) -> Result<Forwarded, ProxyError> {
    // Connection failures are retried for every method (nothing was sent); other failures
    // only where the route allows retrying this method.
    let attempts = if body.replayable() {
        1 + route.retries
    } else {
        1
    };
    let method_may_retry = may_retry(route, &parts.method);
    let mut candidates = Attempts::new(std::slice::from_ref(&route.targets), attempts);
    let mut last_error = ProxyError::UpstreamUnreachable("no target has weight".into());
    while let Some(target) = candidates.next_candidate() {
        let attempt = candidates.made() - 1;
        if attempt > 0 {
            metrics.retries.with_label_values(&[&route.label]).inc();
            tokio::time::sleep(Duration::from_millis(5 << attempt.min(5))).await;
        }
        let last_attempt = attempt + 1 == attempts;
        let mut request = Request::new(body.take());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = upstream_path(route, target, &parts.uri)?;
        *request.version_mut() = Version::HTTP_11;
        *request.headers_mut() = if last_attempt {
            std::mem::take(&mut parts.headers)
        } else {
            parts.headers.clone()
        };
        request
            .headers_mut()
            .insert(header::HOST, target.host.clone());

        let sent = Instant::now();
        let outcome =
            tokio::time::timeout(route.timeout, client.send(&target.origin, request)).await;
        let upstream_latency = sent.elapsed();
        let retry_on = |failure: RetryOn| {
            !last_attempt
                && route.retry_on.contains(&failure)
                && (method_may_retry || failure == RetryOn::ConnectError)
        };
        match outcome {
            Err(_elapsed) => {
                note_failure(target, route, metrics, "timeout");
                last_error = ProxyError::UpstreamTimeout;
                if !retry_on(RetryOn::GatewayTimeout) {
                    break;
                }
            }
            Ok(Err(err)) if cause::<EgressRefused>(&err).is_some() => {
                let why = cause::<EgressRefused>(&err).map(ToString::to_string);
                return Err(ProxyError::EgressRefused(why.unwrap_or_default()));
            }
            Ok(Err(err)) if cause::<ClientBodyError>(&err).is_some() => {
                // The client's body broke off or was malformed: the client's fault, not the
                // target's.
                return Err(ProxyError::BadRequest(
                    "the request body could not be read (malformed or cut short)".into(),
                ));
            }
            Ok(Err(err)) if err.is_connect() => {
                note_failure(target, route, metrics, "connect");
                last_error = ProxyError::UpstreamUnreachable(format!(
                    "connecting to {} failed",
                    target.origin.authority()
                ));
                if !retry_on(RetryOn::ConnectError) {
                    break;
                }
            }
            Ok(Err(err)) => {
                // The request may have reached the upstream: never retried.
                note_failure(target, route, metrics, "protocol");
                tracing::debug!(route = %route.label, error = %err, "upstream request failed");
                return Err(ProxyError::UpstreamUnreachable(format!(
                    "the upstream at {} broke off the exchange",
                    target.origin.authority()
                )));
            }
            Ok(Ok(response)) => {
                let failure = match response.status() {
                    StatusCode::BAD_GATEWAY => Some(RetryOn::BadGateway),
                    StatusCode::SERVICE_UNAVAILABLE => Some(RetryOn::ServiceUnavailable),
                    StatusCode::GATEWAY_TIMEOUT => Some(RetryOn::GatewayTimeout),
                    _ => None,
                };
                match failure {
                    Some(failure) => {
                        note_failure(target, route, metrics, "status");
                        if retry_on(failure) {
                            continue;
                        }
                    }
                    None => target.health.succeeded(),
                }
                return Ok(Forwarded {
                    response,
                    upstream_latency,
                });
            }
        }
    }
    Err(last_error)
}

/// The client's request body ended with an error (malformed chunking, cut short).
#[derive(Debug)]
pub(crate) struct ClientBodyError(String);

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the client's request body failed: {}", self.0)
    }
}

impl std::error::Error for ClientBodyError {}

fn note_failure(target: &CompiledTarget, route: &CompiledRoute, metrics: &Metrics, kind: &str) {
    metrics
        .upstream_errors
        .with_label_values(&[&route.label, kind])
        .inc();
    if target.health.failed() {
        tracing::warn!(route = %route.label, target = %target.url, "target ejected after repeated failures");
    }
}
