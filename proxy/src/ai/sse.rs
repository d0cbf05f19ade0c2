//! Watches an OpenAI-style server-sent-event stream as it passes, for its usage and its first byte.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};

use crate::ai::metering::Tokens;
use crate::body::{Inspect, Inspected};

/// Longest SSE line kept while looking for usage; longer lines are passed on unread.
const LINE_MAX: usize = 1 << 20;

/// What a stream revealed.
#[derive(Debug, Default)]
pub(crate) struct StreamFindings {
    pub(crate) tokens: Tokens,
    pub(crate) first_byte: Option<Duration>,
    /// The answer's text so far, to estimate its tokens if the provider never reports usage.
    pub(crate) output_text: String,
}

/// Most answer text kept for estimates.
pub(crate) const OUTPUT_TEXT_MAX: usize = 4 << 20;

impl StreamFindings {
    /// Adds answer text (up to [`OUTPUT_TEXT_MAX`]).
    pub(crate) fn add_text(&mut self, text: &str) {
        if self.output_text.len() + text.len() <= OUTPUT_TEXT_MAX {
            self.output_text.push_str(text);
        }
    }
}

/// Notes an OpenAI-style stream's usage chunk, its text, and when data began.
pub(crate) struct UsageScan {
    started: Instant,
    line: Vec<u8>,
    findings: Arc<Mutex<StreamFindings>>,
}

/// Passes the stream through unchanged, noting the usage chunk and when data began.
pub(crate) type UsageScanner<B> = Inspected<B, UsageScan>;

impl<B> UsageScanner<B> {
    /// Scans `inner` into `findings`; `started` is when the request arrived.
    pub(crate) fn new(inner: B, started: Instant, findings: Arc<Mutex<StreamFindings>>) -> Self {
        Self::with(
            inner,
            UsageScan {
                started,
                line: Vec::new(),
                findings,
            },
        )
    }
}

impl Inspect for UsageScan {
    fn inspect(&mut self, data: &Bytes) {
        self.scan(data);
    }
}

impl UsageScan {
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
        let has = |needle: &[u8]| payload.windows(needle.len()).any(|w| w == needle);
        if !has(b"\"usage\"") && !has(b"\"content\"") {
            return;
        }
        let Ok(chunk) = serde_json::from_slice::<serde_json::Value>(payload.trim_ascii()) else {
            return;
        };
        let Ok(mut findings) = self.findings.lock() else {
            return;
        };
        if let Some(text) = chunk
            .pointer("/choices/0/delta/content")
            .and_then(|c| c.as_str())
        {
            findings.add_text(text);
        }
        if let Some(tokens) = chunk.get("usage").and_then(Tokens::from_openai_usage) {
            findings.tokens = tokens;
        }
    }
}

/// Turns a provider's event stream into OpenAI chat completion chunks, piece by piece.
pub(crate) trait ChunkTranslator {
    /// Takes the next bytes of the provider's stream.
    fn feed(&mut self, data: &[u8]);
    /// The provider's stream ended, completely or not.
    fn end(&mut self);
    /// The next OpenAI SSE frame ready to send.
    fn next_frame(&mut self) -> Option<Bytes>;
}

/// A provider's stream re-emitted through a [`ChunkTranslator`].
pub(crate) struct Translated<B, T> {
    inner: B,
    translator: T,
    ended: bool,
}

impl<B, T> Translated<B, T> {
    pub(crate) fn new(inner: B, translator: T) -> Self {
        Self {
            inner,
            translator,
            ended: false,
        }
    }
}

impl<B, T> Body for Translated<B, T>
where
    B: Body<Data = Bytes> + Unpin,
    T: ChunkTranslator + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        loop {
            if let Some(bytes) = self.translator.next_frame() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let data = data.clone();
                        self.translator.feed(&data);
                    }
                }
                Poll::Ready(Some(Err(err))) => {
                    self.translator.end();
                    return Poll::Ready(Some(Err(err)));
                }
                Poll::Ready(None) => {
                    self.translator.end();
                    self.ended = true;
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
