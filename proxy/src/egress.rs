//! Enforces the egress policy where it cannot be dodged: on the address actually connected to.
//! Host names are resolved here and every address the policy refuses is dropped (so DNS
//! rebinding gains nothing); IP literals are checked before connecting.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tower_service::Service;

pub(crate) use tollgate_protocol::egress::{Egress, Refusal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the policy in force is read from (it changes with each snapshot).
pub(crate) type PolicySource = Arc<dyn Fn() -> Arc<Egress> + Send + Sync>;

/// A connection refused by the egress policy; never the target's fault.
#[derive(Debug)]
pub(crate) struct EgressRefused {
    pub(crate) host: String,
    pub(crate) why: Refusal,
}

impl std::fmt::Display for EgressRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "connecting to {} is refused: {}", self.host, self.why)
    }
}

impl std::error::Error for EgressRefused {}

/// Resolves host names and keeps only the addresses the policy allows.
#[derive(Clone)]
pub(crate) struct PolicyResolver {
    policy: PolicySource,
}

impl Service<Name> for PolicyResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let policy = (self.policy)();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let mut refusal = None;
            let allowed: Vec<SocketAddr> = resolved
                .into_iter()
                .filter(|addr| match policy.check(addr.ip()) {
                    Ok(()) => true,
                    Err(why) => {
                        refusal = Some(why);
                        false
                    }
                })
                .collect();
            match (allowed.is_empty(), refusal) {
                (true, Some(why)) => Err(Box::new(EgressRefused { host, why }) as BoxError),
                _ => Ok(allowed.into_iter()),
            }
        })
    }
}

/// An HTTP connector that refuses what the egress policy refuses.
#[derive(Clone)]
pub(crate) struct EgressConnector {
    inner: HttpConnector<PolicyResolver>,
    policy: PolicySource,
}

impl EgressConnector {
    /// `configure` sets the inner connector's timeouts and socket options.
    pub(crate) fn new(
        policy: PolicySource,
        configure: impl FnOnce(&mut HttpConnector<PolicyResolver>),
    ) -> Self {
        let mut inner = HttpConnector::new_with_resolver(PolicyResolver {
            policy: policy.clone(),
        });
        configure(&mut inner);
        Self { inner, policy }
    }
}

impl Service<Uri> for EgressConnector {
    type Response = UpstreamStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let literal = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
            .and_then(|h| h.parse::<IpAddr>().ok());
        if let Some(ip) = literal {
            if let Err(why) = (self.policy)().check(ip) {
                let host = ip.to_string();
                return Box::pin(
                    async move { Err(Box::new(EgressRefused { host, why }) as BoxError) },
                );
            }
        }
        let connecting = self.inner.call(uri);
        Box::pin(async move { Ok(UpstreamStream(connecting.await?)) })
    }
}

/// A connection to an upstream (hyper-rustls's connector asks what it was connected to: nothing
/// worth telling).
pub(crate) struct UpstreamStream(TokioIo<TcpStream>);

impl Connection for UpstreamStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for UpstreamStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for UpstreamStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
