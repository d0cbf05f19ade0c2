//! The upstream HTTP/1.1 client: connections made through the egress connector (TLS where the
//! URL says https) and kept for reuse, per scheme and authority.
//!
//! A connection stays in the pool while its response is read, and is handed out again once
//! hyper says it is ready for another request. hyper-util's pooled client instead spawns a task
//! per request to wait for that moment and clones its connector per request; doing without both
//! saves about 1.5 µs of CPU per proxied request (`proxy/examples/bare_proxy.rs`, both ways).
//! Each worker thread has its own clients, so the lock is uncontended and a connection is driven
//! by the thread that sends on it.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{header, HeaderValue, Request, Response, Uri};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use rustc_hash::{FxHashMap, FxHasher};
use tower_service::Service;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connection not given a request for this long is closed (when next met, or at a sweep).
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the whole pool is swept (at a request's checkout).
const SWEEP_EVERY: Duration = Duration::from_secs(30);
/// Connections kept per scheme and authority; more are closed when their response ends.
const MAX_PER_HOST: usize = 1024;

/// Why a request got no response.
#[derive(Debug)]
pub enum ClientError {
    /// No connection could be made (refused, timed out, TLS, the egress policy): nothing was
    /// sent.
    Connect(BoxError),
    /// The exchange failed on a connection; the request may have been sent.
    Exchange(hyper::Error),
    /// The URL names no http(s) host.
    BadUrl,
}

impl ClientError {
    /// Whether nothing reached the upstream because no connection was made.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect(_))
    }
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Connect(_) => "connecting to the upstream failed",
            Self::Exchange(_) => "the upstream exchange failed",
            Self::BadUrl => "the upstream URL names no http or https host",
        })
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(error) => Some(error.as_ref()),
            Self::Exchange(error) => Some(error),
            Self::BadUrl => None,
        }
    }
}

/// Where requests go and connections are pooled: an http or https scheme and an authority,
/// hashed once when made (a route's targets keep theirs, so a request hashes nothing).
#[derive(Clone, Debug)]
pub struct Origin {
    scheme: Scheme,
    authority: Authority,
    hash: u64,
}

impl Origin {
    pub fn new(scheme: Scheme, authority: Authority) -> Result<Self, ClientError> {
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(ClientError::BadUrl);
        }
        let mut hasher = FxHasher::default();
        scheme.as_str().hash(&mut hasher);
        authority.as_str().hash(&mut hasher);
        Ok(Self {
            scheme,
            authority,
            hash: hasher.finish(),
        })
    }

    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// `Host` for requests to this origin: the host, and the port unless it is the scheme's.
    pub fn host_header(&self) -> Result<HeaderValue, ClientError> {
        let host = match self.authority.port_u16() {
            Some(port) if port != default_port(&self.scheme) => {
                format!("{}:{port}", self.authority.host())
            }
            _ => self.authority.host().to_owned(),
        };
        HeaderValue::from_str(&host).map_err(|_| ClientError::BadUrl)
    }
}

impl PartialEq for Origin {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash
            && self.scheme == other.scheme
            && self.authority.as_str() == other.authority.as_str()
    }
}

impl Eq for Origin {}

impl Hash for Origin {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

struct Pooled<B> {
    sender: SendRequest<B>,
    last_sent: Instant,
}

impl<B> Pooled<B> {
    /// Closed, or idle (ready, nothing sent) for longer than [`IDLE_TIMEOUT`]: to be dropped.
    fn is_spent(&self, now: Instant) -> bool {
        self.sender.is_closed()
            || (self.sender.is_ready()
                && now.saturating_duration_since(self.last_sent) > IDLE_TIMEOUT)
    }
}

/// Sends requests with bodies `B` upstream over pooled HTTP/1.1 connections made by `C`.
pub struct Client<C, B> {
    connector: C,
    pool: Mutex<Pool<B>>,
}

struct Pool<B> {
    /// Keyed by origin, whose hash was taken when it was made (hashing the authority per request
    /// was measurable; the keys are configured upstreams, not client input).
    lines: FxHashMap<Origin, VecDeque<Pooled<B>>>,
    /// When every line is next cleared of closed and idle connections, so upstreams no longer
    /// asked for do not keep theirs open.
    next_sweep: Instant,
}

impl<B> Pool<B> {
    fn sweep(&mut self, now: Instant) {
        self.lines.retain(|_, line| {
            line.retain(|pooled| !pooled.is_spent(now));
            !line.is_empty()
        });
        self.next_sweep = now + SWEEP_EVERY;
    }
}

impl<C, B> Client<C, B>
where
    C: Service<Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    C::Error: Into<BoxError>,
    C::Future: Send,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    pub fn new(connector: C) -> Self {
        Self {
            connector,
            pool: Mutex::new(Pool {
                lines: FxHashMap::default(),
                next_sweep: Instant::now() + SWEEP_EVERY,
            }),
        }
    }

    /// Sends `request` (its URI absolute) on a pooled connection or a new one.
    pub async fn request(
        &self,
        mut request: Request<B>,
    ) -> Result<Response<Incoming>, ClientError> {
        let origin = to_origin_form(&mut request)?;
        self.send(&origin, request).await
    }

    /// Sends `request` (its URI in origin form, `/path?query`, and `Host` set) to `origin` on a
    /// pooled connection or a new one. A request that a pooled connection closed before taking
    /// is sent on another.
    pub async fn send(
        &self,
        origin: &Origin,
        mut request: Request<B>,
    ) -> Result<Response<Incoming>, ClientError> {
        let now = Instant::now();
        loop {
            let (mut sender, reused) = match self.checkout(origin, now) {
                Some(sender) => (sender, true),
                // Boxed: connecting (TLS state, the handshake) would make every request's
                // future several times larger, and futures are moved as they are wrapped.
                None => (Box::pin(self.connect(origin)).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    self.put_back(origin, sender, now);
                    return Ok(response);
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(ClientError::Exchange(failed.into_error())),
                },
            }
        }
    }

    /// A pooled connection ready for a request. Those still reading a response go to the back
    /// of the line; closed and long-idle ones are dropped.
    fn checkout(&self, origin: &Origin, now: Instant) -> Option<SendRequest<B>> {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if now >= pool.next_sweep {
            pool.sweep(now);
        }
        let line = pool.lines.get_mut(origin)?;
        for _ in 0..line.len() {
            let pooled = line.pop_front()?;
            if pooled.is_spent(now) {
                continue;
            }
            if pooled.sender.is_ready() {
                return Some(pooled.sender);
            }
            line.push_back(pooled);
        }
        None
    }

    fn put_back(&self, origin: &Origin, sender: SendRequest<B>, now: Instant) {
        let pooled = Pooled {
            sender,
            last_sent: now,
        };
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        match pool.lines.get_mut(origin) {
            Some(line) if line.len() < MAX_PER_HOST => line.push_back(pooled),
            Some(_) => {}
            None => {
                pool.lines.insert(origin.clone(), VecDeque::from([pooled]));
            }
        }
    }

    async fn connect(&self, origin: &Origin) -> Result<SendRequest<B>, ClientError> {
        let uri = Uri::builder()
            .scheme(origin.scheme.clone())
            .authority(origin.authority.clone())
            .path_and_query("/")
            .build()
            .map_err(|_| ClientError::BadUrl)?;
        let mut connector = self.connector.clone();
        poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| ClientError::Connect(e.into()))?;
        let stream = connector
            .call(uri)
            .await
            .map_err(|e| ClientError::Connect(e.into()))?;
        let (sender, connection) = http1::handshake(stream)
            .await
            .map_err(|e| ClientError::Connect(e.into()))?;
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "upstream connection ended with an error");
            }
        });
        Ok(sender)
    }
}

/// Rewrites an absolute URI to the origin form HTTP/1.1 sends (`/path?query`), sets `Host`
/// when missing, and returns where to connect.
fn to_origin_form<B>(request: &mut Request<B>) -> Result<Origin, ClientError> {
    let uri = request.uri();
    let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
        return Err(ClientError::BadUrl);
    };
    let origin = Origin::new(scheme.clone(), authority.clone())?;
    if !request.headers().contains_key(header::HOST) {
        let host = origin.host_header()?;
        request.headers_mut().insert(header::HOST, host);
    }
    let path = request
        .uri()
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    *request.uri_mut() = Uri::from(path);
    Ok(origin)
}

fn default_port(scheme: &Scheme) -> u16 {
    if *scheme == Scheme::HTTPS {
        443
    } else {
        80
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty, Full};
    use hyper_util::client::legacy::connect::HttpConnector;
    use hyper_util::rt::TokioIo;

    use super::*;
    use crate::body::ProxyBody;

    fn request(uri: &str) -> Request<ProxyBody> {
        let mut request = Request::new(Empty::new().map_err(|never| match never {}).boxed_unsync());
        *request.uri_mut() = uri.parse().unwrap_or_default();
        request
    }

    #[test]
    fn a_host_header_names_the_host_and_a_port_not_the_scheme_s_and_never_user_info() {
        let host = |url: &str| {
            let uri: Uri = url.parse().unwrap_or_default();
            let origin = Origin::new(uri.scheme().cloned()?, uri.authority().cloned()?).ok()?;
            origin.host_header().ok()
        };
        assert_eq!(
            host("http://api.example:8080/x").unwrap(),
            "api.example:8080"
        );
        assert_eq!(host("http://api.example:80/x").unwrap(), "api.example");
        assert_eq!(host("https://api.example:443").unwrap(), "api.example");
        assert_eq!(host("https://api.example:80").unwrap(), "api.example:80");
        assert_eq!(
            host("http://user:secret@api.example:81/").unwrap(),
            "api.example:81"
        );
    }

    #[test]
    fn an_absolute_uri_becomes_origin_form_with_its_host() {
        let mut plain = request("http://api.example:8080/v1/items?page=2");
        let key = to_origin_form(&mut plain).ok();
        assert_eq!(plain.uri().to_string(), "/v1/items?page=2");
        assert_eq!(plain.headers()[header::HOST], "api.example:8080");
        assert_eq!(
            key.map(|k| k.authority.to_string()).as_deref(),
            Some("api.example:8080")
        );

        let mut default_port = request("https://api.example:443");
        assert!(to_origin_form(&mut default_port).is_ok());
        assert_eq!(default_port.uri().to_string(), "/");
        assert_eq!(default_port.headers()[header::HOST], "api.example");
    }

    #[test]
    fn a_host_already_set_is_kept() {
        let mut with_host = request("http://10.0.0.1:9000/");
        with_host
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("shop.example"));
        assert!(to_origin_form(&mut with_host).is_ok());
        assert_eq!(with_host.headers()[header::HOST], "shop.example");
    }

    #[test]
    fn a_url_without_an_http_host_is_refused() {
        assert!(matches!(
            to_origin_form(&mut request("/relative")),
            Err(ClientError::BadUrl)
        ));
        assert!(matches!(
            to_origin_form(&mut request("ftp://files.example/a")),
            Err(ClientError::BadUrl)
        ));
    }

    /// An upstream answering `ok` on every connection, counting the connections it accepted.
    async fn counting_upstream(
        hold: Option<Arc<tokio::sync::Barrier>>,
    ) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let hold = hold.clone();
                let service = hyper::service::service_fn(move |_request| {
                    let hold = hold.clone();
                    async move {
                        if let Some(barrier) = hold {
                            barrier.wait().await;
                        }
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            "ok",
                        ))))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        (addr, accepted)
    }

    fn client() -> Arc<Client<HttpConnector, ProxyBody>> {
        Arc::new(Client::new(HttpConnector::new()))
    }

    async fn get(
        client: &Client<HttpConnector, ProxyBody>,
        url: &str,
    ) -> Result<String, ClientError> {
        let response = client.request(request(url)).await?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(ClientError::Exchange)?;
        Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
    }

    /// Asks `times` in turn, each answer read to the end.
    async fn answered_ok(client: &Client<HttpConnector, ProxyBody>, url: &str, times: usize) {
        for _ in 0..times {
            assert_eq!(get(client, url).await.ok().as_deref(), Some("ok"));
        }
    }

    #[tokio::test]
    async fn requests_in_turn_share_one_connection() {
        let (addr, accepted) = counting_upstream(None).await;
        let client = client();
        answered_ok(&client, &format!("http://{addr}/"), 5).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn requests_at_once_get_a_connection_each_and_keep_them() {
        let barrier = Arc::new(tokio::sync::Barrier::new(3));
        let (addr, accepted) = counting_upstream(Some(barrier)).await;
        let client = client();
        let url = format!("http://{addr}/");
        let (a, b, c) = tokio::join!(get(&client, &url), get(&client, &url), get(&client, &url));
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
        // Answered together, then three at once again: the same three connections.
        let (a, b, c) = tokio::join!(get(&client, &url), get(&client, &url), get(&client, &url));
        assert!(a.is_ok() && b.is_ok() && c.is_ok());
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_sweep_closes_connections_idle_too_long() {
        let (addr, accepted) = counting_upstream(None).await;
        let client = client();
        let url = format!("http://{addr}/");
        assert!(get(&client, &url).await.is_ok());
        let now = Instant::now();
        {
            let mut pool = client.pool.lock().unwrap();
            pool.sweep(now);
            assert_eq!(pool.lines.len(), 1, "a fresh connection is kept");
            let long_ago = now.checked_sub(IDLE_TIMEOUT + Duration::from_secs(1));
            for line in pool.lines.values_mut() {
                for pooled in line.iter_mut() {
                    pooled.last_sent = long_ago.unwrap_or(pooled.last_sent);
                }
            }
            pool.sweep(now);
            assert!(pool.lines.is_empty(), "an idle one is dropped");
        }
        assert!(get(&client, &url).await.is_ok());
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_not_used_again() {
        // Answers one request per connection, keep-alive promised, then hangs up: each next
        // request finds its pooled connection closed (or closing) and takes a new one.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = vec![0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
                drop(stream);
            }
        });
        let client = client();
        answered_ok(&client, &format!("http://{addr}/"), 200).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 200);
    }

    #[tokio::test]
    async fn an_upstream_not_listening_is_a_connect_error() {
        let port = {
            let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            probe.local_addr().unwrap().port()
        };
        let error = get(&client(), &format!("http://127.0.0.1:{port}/"))
            .await
            .err();
        assert!(error.is_some_and(|e| e.is_connect()));
    }
}
