//! Watches an OpenAI-style server-sent-event stream as it passes, for its usage and its first byte.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use crate::ai::metering::Tokens;

/// Longest SSE line kept while looking for usage; longer lines are passed on unread.
const LINE_MAX: usize = 1 << 20;

/// What a stream revealed.
#[derive(Debug, Default)]
pub struct StreamFindings {
    pub tokens: Tokens,
    pub first_byte: Option<Duration>,
}

/// Passes the stream through unchanged, noting the usage chunk and when data began.
pub struct UsageScanner<B> {
    inner: B,
    started: Instant,
    line: Vec<u8>,
    findings: Arc<Mutex<StreamFindings>>,
}

impl<B> UsageScanner<B> {
    pub fn new(inner: B, started: Instant, findings: Arc<Mutex<StreamFindings>>) -> Self {
        Self {
            inner,
            started,
            line: Vec::new(),
            findings,
        }
    }

    fn scan(&mut self, data: &[u8]) {
        if let Ok(mut findings) = self.findings.lock() {
            findings
                .first_byte
                .get_or_insert_with(|| self.started.elapsed());
        }
        for &byte in data {
            if byte == b'\n' {
                self.line_done();
            } else if self.line.len() < LINE_MAX {
                self.line.push(byte);
            }
        }
    }

    fn line_done(&mut self) {
        let line = std::mem::take(&mut self.line);
        let Some(payload) = line.strip_prefix(b"data:") else {
            return;
        };
        if !payload.windows(7).any(|w| w == b"\"usage\"") {
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<serde_json::Value>(payload.trim_ascii()) else {
            return;
        };
        if let Some(tokens) = chunk.get("usage").and_then(Tokens::from_openai_usage) {
            if let Ok(mut findings) = self.findings.lock() {
                findings.tokens = tokens;
            }
        }
    }
}

impl<B> Body for UsageScanner<B>
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
                let data = data.clone();
                self.scan(&data);
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
