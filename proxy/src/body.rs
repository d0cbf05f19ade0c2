//! Bodies that stream through the proxy, and the one that meters a response as it is sent.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::combinators::UnsyncBoxBody;

/// Errors a streamed body can end with.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Any body the proxy sends: an upstream's stream, or a small JSON error.
pub(crate) type ProxyBody = UnsyncBoxBody<Bytes, BoxError>;

/// Something that looks at each piece of a body as it passes (and changes nothing).
pub(crate) trait Inspect {
    /// Called with each data frame, in order.
    fn inspect(&mut self, data: &Bytes);
}

/// A body passed through unchanged, each data frame shown to an `Inspect`.
pub(crate) struct Inspected<B, I> {
    inner: B,
    inspector: I,
}

impl<B, I> Inspected<B, I> {
    /// Passes `inner` through, showing its data to `inspector`.
    pub(crate) fn with(inner: B, inspector: I) -> Self {
        Self { inner, inspector }
    }
}

impl<B, I> Body for Inspected<B, I>
where
    B: Body<Data = Bytes> + Unpin,
    I: Inspect + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.inspector.inspect(data);
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

/// Adds the bytes that pass to a shared counter.
pub(crate) struct ByteCount(Arc<AtomicU64>);

impl Inspect for ByteCount {
    fn inspect(&mut self, data: &Bytes) {
        self.0.fetch_add(data.len() as u64, Ordering::Relaxed);
    }
}

/// Counts the bytes of a body as they pass, into a shared counter.
pub(crate) type Counted<B> = Inspected<B, ByteCount>;

impl<B> Counted<B> {
    /// Counts `inner`'s bytes into `bytes`.
    pub(crate) fn new(inner: B, bytes: Arc<AtomicU64>) -> Self {
        Self::with(inner, ByteCount(bytes))
    }
}

/// A response body that runs `on_done` once, when the body ends or is dropped (a client that
/// hangs up still gets its request recorded).
pub(crate) struct Finished<B, F: FnOnce(u64)> {
    inner: B,
    sent: u64,
    on_done: Option<F>,
}

impl<B, F: FnOnce(u64)> Finished<B, F> {
    pub(crate) fn new(inner: B, on_done: F) -> Self {
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

/// An upstream's response body that fails when no frame arrives for `idle`: an upstream that
/// stalls mid-body does not hold the client's connection and its own forever. The timer is only
/// armed when the body has to wait, so a body that is already there costs nothing.
pub(crate) struct IdleTimeout<B> {
    inner: B,
    idle: std::time::Duration,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// A frame came since the timer was last armed: re-arm it from now when next waiting.
    progressed: bool,
}

impl<B> IdleTimeout<B> {
    pub(crate) fn new(inner: B, idle: std::time::Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: None,
            progressed: false,
        }
    }
}

/// The upstream sent nothing for longer than the route allows.
#[derive(Debug)]
pub(crate) struct BodyIdle;

impl std::fmt::Display for BodyIdle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the upstream stopped sending its response body")
    }
}

impl std::error::Error for BodyIdle {}

impl<B> Body for IdleTimeout<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(polled) => {
                self.progressed = true;
                Poll::Ready(polled.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let next = tokio::time::Instant::now() + self.idle;
                let progressed = std::mem::take(&mut self.progressed);
                let deadline = match &mut self.deadline {
                    Some(deadline) => {
                        if progressed {
                            deadline.as_mut().reset(next);
                        }
                        deadline
                    }
                    none => none.insert(Box::pin(tokio::time::sleep_until(next))),
                };
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyIdle)))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt;
    use tokio::sync::mpsc;

    use super::*;

    /// A body that yields whatever is sent to it, and waits in between.
    struct Trickle(mpsc::Receiver<Bytes>);

    impl Body for Trickle {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            self.0
                .poll_recv(cx)
                .map(|piece| piece.map(|bytes| Ok(Frame::data(bytes))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_is_cut_after_an_idle_gap_not_after_a_long_slow_stream() {
        let (pieces, received) = mpsc::channel(4);
        tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_secs(59)).await;
                let _ = pieces.send(Bytes::from_static(b"x")).await;
            }
            // Then stall, holding the body open.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            drop(pieces);
        });
        let started = tokio::time::Instant::now();
        let mut body = IdleTimeout::new(Trickle(received), Duration::from_secs(60));
        for _ in 0..3 {
            let frame = body.frame().await;
            assert!(
                matches!(frame, Some(Ok(_))),
                "pieces 59 s apart keep it open"
            );
        }
        let cut = body.frame().await;
        let error = match cut {
            Some(Err(error)) => error,
            other => panic!("expected the idle deadline, got {other:?}"),
        };
        assert!(error.is::<BodyIdle>(), "{error}");
        // The last piece came at 177 s; the deadline is 60 s later.
        assert_eq!(started.elapsed(), Duration::from_secs(237));
    }
}
