//! Bodies that stream through the proxy, and the one that meters a response as it is sent.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

/// Errors a streamed body can end with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Any body the proxy sends: an upstream's stream, or a small JSON error.
pub type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Counts the bytes of a body as they pass, into a shared counter.
pub struct Counted<B> {
    inner: B,
    bytes: Arc<AtomicU64>,
}

impl<B> Counted<B> {
    pub fn new(inner: B, bytes: Arc<AtomicU64>) -> Self {
        Self { inner, bytes }
    }
}

impl<B> Body for Counted<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                self.bytes.fetch_add(data.len() as u64, Ordering::Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A response body that runs `on_done` once, when the body ends or is dropped (a client that
/// hangs up still gets its request recorded).
pub struct Finished<B, F: FnOnce(u64)> {
    inner: B,
    sent: u64,
    on_done: Option<F>,
}

impl<B, F: FnOnce(u64)> Finished<B, F> {
    pub fn new(inner: B, on_done: F) -> Self {
        Self {
            inner,
            sent: 0,
            on_done: Some(on_done),
        }
    }

    fn finish(&mut self) {
        if let Some(on_done) = self.on_done.take() {
            on_done(self.sent);
        }
    }
}

impl<B, F> Body for Finished<B, F>
where
    B: Body<Data = Bytes> + Unpin,
    F: FnOnce(u64) + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.sent += data.len() as u64;
                }
                if self.inner.is_end_stream() {
                    self.finish();
                }
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => self.finish(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B, F: FnOnce(u64)> Drop for Finished<B, F> {
    fn drop(&mut self) {
        self.finish();
    }
}
