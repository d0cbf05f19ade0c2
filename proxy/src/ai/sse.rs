//! Watches an OpenAI-style server-sent-event stream as it passes, for its usage and its first byte.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Body, Frame};

use crate::ai::chat::{sse_frame, ChatChunk, Delta, ErrorBody, ToolCallChunk, Usage};
use crate::ai::json_scan;
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

/// Notes when the stream's first byte arrived (once), `started` being the request's arrival.
pub(crate) fn note_first_byte(findings: &Mutex<StreamFindings>, started: Instant) {
    if let Ok(mut findings) = findings.lock() {
        findings.first_byte.get_or_insert_with(|| started.elapsed());
    }
}

impl StreamFindings {
    /// Adds answer text (up to [`OUTPUT_TEXT_MAX`]).
    pub(crate) fn add_text(&mut self, text: &str) {
        if self.output_text.len() + text.len() <= OUTPUT_TEXT_MAX {
            self.output_text.push_str(text);
        }
    }
}

/// Splits a stream into lines as it passes without copying them: only a line cut across frames
/// is held, up to [`LINE_MAX`]; a longer one is skipped.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    partial: Vec<u8>,
    overlong: bool,
}

impl Lines {
    /// Calls `line` with each line `data` completes (without its `\n`).
    pub(crate) fn feed(&mut self, data: &[u8], mut line: impl FnMut(&[u8])) {
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', data) {
            if self.partial.is_empty() && !self.overlong {
                line(&data[start..end]);
            } else {
                if !self.overlong && self.partial.len() + (end - start) <= LINE_MAX {
                    self.partial.extend_from_slice(&data[start..end]);
                    line(&self.partial);
                }
                self.partial.clear();
                self.overlong = false;
            }
            start = end + 1;
        }
        let rest = &data[start..];
        if self.overlong || self.partial.len() + rest.len() > LINE_MAX {
            self.partial.clear();
            self.overlong = true;
        } else {
            self.partial.extend_from_slice(rest);
        }
    }
}

/// Notes an OpenAI-style stream's usage chunk, its text, and when data began.
pub(crate) struct UsageScan {
    started: Instant,
    first_byte_noted: bool,
    lines: Lines,
    findings: Arc<Mutex<StreamFindings>>,
}

/// Passes the stream through unchanged, noting the usage chunk and when data began.
pub(crate) type UsageScanner<B> = Inspected<B, UsageScan>;

impl<B> UsageScanner<B> {
    /// Scans `inner` into `findings`; `started` is when the request arrived.
    pub(crate) fn new(inner: B, started: Instant, findings: Arc<Mutex<StreamFindings>>) -> Self {
        Self::with(inner, UsageScan::new(started, findings))
    }
}

impl UsageScan {
    fn new(started: Instant, findings: Arc<Mutex<StreamFindings>>) -> Self {
        Self {
            started,
            first_byte_noted: false,
            lines: Lines::default(),
            findings,
        }
    }
}

impl Inspect for UsageScan {
    fn inspect(&mut self, data: &Bytes) {
        self.scan(data);
    }
}

impl UsageScan {
    fn scan(&mut self, data: &[u8]) {
        if !self.first_byte_noted {
            note_first_byte(&self.findings, self.started);
            self.first_byte_noted = true;
        }
        let findings = &self.findings;
        self.lines.feed(data, |line| line_done(findings, line));
    }
}

/// Reads one line of an OpenAI-style stream for its text and usage, where they lie in the
/// bytes: a chunk's content as a string, and the usage object (parsed alone) of the chunk that
/// has one.
fn line_done(findings: &Mutex<StreamFindings>, line: &[u8]) {
    let Some(payload) = line.strip_prefix(b"data:") else {
        return;
    };
    let usage = json_scan::has_object(payload, &json_scan::USAGE)
        .then(|| json_scan::answer_usage::<Usage>(payload.trim_ascii()))
        .flatten();
    let text = json_scan::first_string(payload, &json_scan::CONTENT);
    if usage.is_none() && text.is_none() {
        return;
    }
    let Ok(mut findings) = findings.lock() else {
        return;
    };
    if let Some(text) = text {
        findings.add_text(&text);
    }
    if let Some(usage) = &usage {
        findings.tokens = Tokens::from(usage);
    }
}

/// Largest server-sent event taken from a provider; a longer one ends the stream with an error.
pub(crate) const EVENT_MAX: usize = 4 << 20;

/// The provider sent an event over [`EVENT_MAX`] bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct EventTooLarge;

impl EventTooLarge {
    /// What the client is told.
    pub(crate) fn message(&self) -> String {
        format!(
            "the provider sent a stream event over {} MiB; the stream was stopped",
            EVENT_MAX >> 20
        )
    }
}

/// The one framer of every provider stream: splits bytes into server-sent events (each ending
/// at a blank line, `\n\n` or `\r\n\r\n`), bounded by [`EVENT_MAX`].
#[derive(Debug, Default)]
pub(crate) struct EventFramer {
    pending: Vec<u8>,
    /// How far `pending` has been searched for an event's end.
    searched: usize,
}

impl EventFramer {
    /// Takes the next bytes of the stream.
    pub(crate) fn push(&mut self, data: &[u8]) {
        self.pending.extend_from_slice(data);
    }

    /// The next complete event, or [`EventTooLarge`] (once) when one grows past the limit.
    pub(crate) fn next_event(&mut self) -> Option<Result<Vec<u8>, EventTooLarge>> {
        // A blank line may straddle the last search's end: look again from a little before.
        let from = self.searched.saturating_sub(3);
        match event_end(&self.pending[from..]).map(|end| from + end) {
            Some(end) if end > EVENT_MAX => Some(Err(self.overflow())),
            Some(end) => {
                self.searched = 0;
                Some(Ok(self.pending.drain(..end).collect()))
            }
            None if self.pending.len() > EVENT_MAX => Some(Err(self.overflow())),
            None => {
                self.searched = self.pending.len();
                None
            }
        }
    }

    fn overflow(&mut self) -> EventTooLarge {
        self.pending = Vec::new();
        self.searched = 0;
        EventTooLarge
    }

    /// The next complete event's data read as `T`; events whose data is not such JSON
    /// (`[DONE]`, comments) are skipped.
    pub(crate) fn next_json<T: serde::de::DeserializeOwned>(
        &mut self,
    ) -> Option<Result<T, EventTooLarge>> {
        loop {
            match self.next_event()? {
                Err(too_large) => return Some(Err(too_large)),
                Ok(event) => {
                    if let Ok(value) = serde_json::from_slice(&event_data(&event)) {
                        return Some(Ok(value));
                    }
                }
            }
        }
    }

    /// Whether no bytes are waiting for the rest of their event.
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// What is left when the stream ends: an event without its blank line, if any.
    pub(crate) fn rest(&mut self) -> Option<Vec<u8>> {
        self.searched = 0;
        let rest = std::mem::take(&mut self.pending);
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

/// An event's data: its `data:` lines, trimmed and joined.
pub(crate) fn event_data(event: &[u8]) -> Vec<u8> {
    event
        .split(|b| *b == b'\n')
        .filter_map(|line| line.strip_prefix(b"data:"))
        .flat_map(|data| data.trim_ascii().iter().copied())
        .collect()
}

/// A chat chunk that tells the client the stream failed, in OpenAI's error shape.
fn error_frame(message: &str) -> Bytes {
    sse_frame(&ErrorBody::provider(
        message.to_string(),
        serde_json::Value::String("upstream_error".into()),
    ))
}

/// An OpenAI-family stream passed on event by event, its usage noted. With `keep_usage` off it
/// drops the usage-only chunk (`choices: []`) the proxy asked the provider for so it can meter
/// the call: a client that did not ask for usage never sees it (`chunk.choices[0]` would fail
/// on it).
pub(crate) struct OpenAiEvents {
    scan: UsageScan,
    framer: EventFramer,
    out: VecDeque<Bytes>,
    keep_usage: bool,
    failed: bool,
}

impl OpenAiEvents {
    pub(crate) fn new(
        started: Instant,
        findings: Arc<Mutex<StreamFindings>>,
        keep_usage: bool,
    ) -> Self {
        Self {
            scan: UsageScan::new(started, findings),
            framer: EventFramer::default(),
            out: VecDeque::new(),
            keep_usage,
            failed: false,
        }
    }
}

impl ChunkTranslator for OpenAiEvents {
    fn feed(&mut self, data: &[u8]) {
        if self.failed {
            return;
        }
        self.scan.scan(data);
        self.framer.push(data);
        while let Some(event) = self.framer.next_event() {
            match event {
                Ok(event) if self.keep_usage || !is_usage_only(&event) => {
                    self.out.push_back(Bytes::from(event));
                }
                Ok(_) => {}
                Err(too_large) => {
                    self.out.push_back(error_frame(&too_large.message()));
                    self.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
                    self.failed = true;
                    return;
                }
            }
        }
    }

    fn feed_bytes(&mut self, data: &Bytes) {
        if !self.framer.is_empty() || self.failed {
            return self.feed(data);
        }
        // The common frame starts at an event: its events are passed on as slices of it, no
        // copies, all at once when none is the usage chunk; only a partial tail is held back.
        self.scan.scan(data);
        if self.keep_usage || !may_hold_usage_only(data) {
            let whole = data.ends_with(b"\n\n") || data.ends_with(b"\r\n\r\n");
            if whole {
                self.out.push_back(data.clone());
                return;
            }
        }
        // The kept events go out as one frame (one write to the client): a slice when they are
        // contiguous, else copied together.
        let mut kept: Vec<std::ops::Range<usize>> = Vec::new();
        let mut start = 0;
        while let Some(end) = event_end(&data[start..]).map(|end| start + end) {
            if self.keep_usage || !is_usage_only(&data[start..end]) {
                match kept.last_mut() {
                    Some(last) if last.end == start => last.end = end,
                    _ => kept.push(start..end),
                }
            }
            start = end;
        }
        match kept.as_slice() {
            [] => {}
            [only] => self.out.push_back(data.slice(only.clone())),
            ranges => {
                let mut joined = Vec::with_capacity(data.len());
                for range in ranges {
                    joined.extend_from_slice(&data[range.clone()]);
                }
                self.out.push_back(Bytes::from(joined));
            }
        }
        self.framer.push(&data[start..]);
    }

    fn end(&mut self) {
        if let Some(rest) = self.framer.rest().filter(|_| !self.failed) {
            self.out.push_back(Bytes::from(rest));
        }
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }
}

/// Where the first complete event in `buffer` ends (after its blank line, `\n\n` or
/// `\r\n\r\n`).
pub(crate) fn event_end(buffer: &[u8]) -> Option<usize> {
    memchr::memchr_iter(b'\n', buffer).find_map(|at| match &buffer[at + 1..] {
        [b'\n', ..] => Some(at + 2),
        [b'\r', b'\n', ..] => Some(at + 3),
        _ => None,
    })
}

/// Whether bytes may hold a chunk without choices (cheap: nearly every chunk has some).
fn may_hold_usage_only(data: &[u8]) -> bool {
    json_scan::has_empty_array(data, &json_scan::CHOICES)
}

/// Whether an SSE event is a chat chunk with usage and no choices.
fn is_usage_only(event: &[u8]) -> bool {
    may_hold_usage_only(event) && json_scan::has_object(event, &json_scan::USAGE)
}

/// The chat chunks a translated stream sends: one id, model and creation time for them all, the
/// usage-only chunk at the end only when the client asked for it, then `[DONE]`.
pub(crate) struct ChunkWriter {
    pub(crate) id: String,
    pub(crate) model: String,
    created: u64,
    include_usage: bool,
    out: VecDeque<Bytes>,
}

impl ChunkWriter {
    pub(crate) fn new(id: String, model: String, include_usage: bool) -> Self {
        Self {
            id,
            model,
            created: crate::ai::metering::now_secs(),
            include_usage,
            out: VecDeque::new(),
        }
    }

    /// A chunk of `delta` (not yet sent: a caller may add to it).
    pub(crate) fn chunk(&self, delta: Delta, finish_reason: Option<String>) -> ChatChunk {
        ChatChunk::new(&self.id, self.created, &self.model, delta, finish_reason)
    }

    /// Sends a chunk.
    pub(crate) fn send(&mut self, chunk: &ChatChunk) {
        self.out.push_back(chunk.frame());
    }

    /// Sends a chunk of `delta`.
    pub(crate) fn delta(&mut self, delta: Delta, finish_reason: Option<String>) {
        let chunk = self.chunk(delta, finish_reason);
        self.send(&chunk);
    }

    /// Tells the client the stream failed.
    pub(crate) fn fail(&mut self, message: String, kind: serde_json::Value) {
        self.out
            .push_back(sse_frame(&ErrorBody::provider(message, kind)));
    }

    /// Ends the stream: the usage chunk if the client asked for it, then `[DONE]`.
    pub(crate) fn done(&mut self, tokens: &Tokens) {
        if self.include_usage {
            let usage = ChatChunk::usage(&self.id, self.created, &self.model, tokens);
            self.send(&usage);
        }
        self.out.push_back(Bytes::from_static(b"data: [DONE]\n\n"));
    }

    /// The next frame ready to send.
    pub(crate) fn next_frame(&mut self) -> Option<Bytes> {
        self.out.pop_front()
    }
}

/// Turns a provider's event stream into OpenAI chat completion chunks, piece by piece.
pub(crate) trait ChunkTranslator {
    /// Takes the next bytes of the provider's stream.
    fn feed(&mut self, data: &[u8]);
    /// Takes the next frame of the provider's stream; a translator that passes bytes on may
    /// keep the frame itself instead of copying it.
    fn feed_bytes(&mut self, data: &Bytes) {
        self.feed(data);
    }
    /// The provider's stream ended, completely or not.
    fn end(&mut self);
    /// The next OpenAI SSE frame ready to send.
    fn next_frame(&mut self) -> Option<Bytes>;
}

impl<T: ChunkTranslator + ?Sized> ChunkTranslator for Box<T> {
    fn feed(&mut self, data: &[u8]) {
        (**self).feed(data);
    }

    fn feed_bytes(&mut self, data: &Bytes) {
        (**self).feed_bytes(data);
    }

    fn end(&mut self) {
        (**self).end();
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        (**self).next_frame()
    }
}

/// Turns chat completion chunks into another dialect's stream events (Messages, Responses).
pub(crate) trait ChunkSink {
    /// A chunk arrived (the first one opens the answer).
    fn begin(&mut self);
    /// The answer goes on with this text (never empty).
    fn text(&mut self, text: &str);
    /// A piece of one tool call.
    fn tool_call(&mut self, call: &ToolCallChunk);
    /// The answer ended for this reason (chat's finish reason).
    fn finish_reason(&mut self, reason: &str);
    /// The provider reported the usage.
    fn usage(&mut self, usage: &Usage);
    /// The stream failed with this message; nothing follows.
    fn fail(&mut self, message: &str);
    /// The stream ended: close what is open.
    fn finish(&mut self);
    /// Whether the sink has ended (failed or finished).
    fn finished(&self) -> bool;
    /// The next frame ready to send.
    fn next_frame(&mut self) -> Option<Bytes>;
}

/// The chat chunks a provider translator (`inner`) produces, fed to a [`ChunkSink`].
pub(crate) struct Rechunked<T, S> {
    inner: T,
    sink: S,
    framer: EventFramer,
}

impl<T: ChunkTranslator, S: ChunkSink> Rechunked<T, S> {
    pub(crate) fn new(inner: T, sink: S) -> Self {
        Self {
            inner,
            sink,
            framer: EventFramer::default(),
        }
    }

    fn drain_inner(&mut self) {
        while let Some(frame) = self.inner.next_frame() {
            self.framer.push(&frame);
        }
        // The inner translator bounds the provider's events already.
        while let Some(event) = self.framer.next_event() {
            if let Ok(event) = event {
                self.event(&event);
            }
        }
    }

    fn event(&mut self, event: &[u8]) {
        let payload = event_data(event);
        if self.sink.finished() || payload.is_empty() || payload == b"[DONE]" {
            return;
        }
        match serde_json::from_slice::<ChatStreamItem>(&payload) {
            Ok(ChatStreamItem::Error(error)) => self.sink.fail(&error.error.message),
            Ok(ChatStreamItem::Chunk(chunk)) => feed(&mut self.sink, &chunk),
            Err(_) => {}
        }
    }
}

/// What one chunk says, told to a sink piece by piece: read here once for every dialect.
fn feed(sink: &mut impl ChunkSink, chunk: &ChatChunk) {
    sink.begin();
    if let Some(usage) = &chunk.usage {
        sink.usage(usage);
    }
    let Some(choice) = chunk.first() else {
        return;
    };
    let delta = &choice.delta;
    for text in [&delta.content, &delta.refusal].into_iter().flatten() {
        if !text.is_empty() {
            sink.text(text);
        }
    }
    for call in &delta.tool_calls {
        sink.tool_call(call);
    }
    if let Some(reason) = &choice.finish_reason {
        sink.finish_reason(reason);
    }
}

/// What a chat stream's event holds: a chunk, or an error.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum ChatStreamItem {
    Error(ErrorBody),
    Chunk(ChatChunk),
}

impl<T: ChunkTranslator, S: ChunkSink> ChunkTranslator for Rechunked<T, S> {
    fn feed(&mut self, data: &[u8]) {
        self.inner.feed(data);
        self.drain_inner();
    }

    fn end(&mut self) {
        self.inner.end();
        self.drain_inner();
        if let Some(rest) = self.framer.rest() {
            self.event(&rest);
        }
        self.sink.finish();
    }

    fn next_frame(&mut self) -> Option<Bytes> {
        self.sink.next_frame()
    }
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
            if let Some(first) = self.translator.next_frame() {
                // What one provider frame produced goes out as one frame: one write.
                let Some(second) = self.translator.next_frame() else {
                    return Poll::Ready(Some(Ok(Frame::data(first))));
                };
                let mut joined = Vec::with_capacity(first.len() + second.len() * 4);
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&second);
                while let Some(more) = self.translator.next_frame() {
                    joined.extend_from_slice(&more);
                }
                return Poll::Ready(Some(Ok(Frame::data(Bytes::from(joined)))));
            }
            if self.ended {
                return Poll::Ready(None);
            }
            match Pin::new(&mut self.inner).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        let data = data.clone();
                        self.translator.feed_bytes(&data);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(translator: &mut impl ChunkTranslator) -> String {
        let mut out = String::new();
        while let Some(frame) = translator.next_frame() {
            out.push_str(&String::from_utf8_lossy(&frame));
        }
        out
    }

    #[test]
    fn the_usage_chunk_the_client_did_not_ask_for_is_dropped_but_metered() {
        let stream = concat!(
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\r\n\r\n",
            "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n"
        );
        let findings = Arc::new(Mutex::new(StreamFindings::default()));
        let mut translator = OpenAiEvents::new(Instant::now(), findings.clone(), false);
        let mut out = String::new();
        // Fed in awkward pieces, as the network delivers them.
        for piece in stream.as_bytes().chunks(7) {
            translator.feed(piece);
            out.push_str(&drain(&mut translator));
        }
        // Whole events in one frame take the pass-through path: the same result.
        let whole = Arc::new(Mutex::new(StreamFindings::default()));
        let mut fast = OpenAiEvents::new(Instant::now(), whole.clone(), false);
        fast.feed_bytes(&Bytes::from_static(stream.as_bytes()));
        fast.end();
        assert_eq!(drain(&mut fast), out);
        // A frame of whole events without the usage chunk passes as it came.
        let plain = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\ndata: [DONE]\n\n";
        let mut fast = OpenAiEvents::new(Instant::now(), whole, false);
        fast.feed_bytes(&Bytes::from_static(plain.as_bytes()));
        fast.end();
        assert_eq!(drain(&mut fast), plain);
        translator.end();
        out.push_str(&drain(&mut translator));
        assert_eq!(
            out,
            "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}],\"usage\":null}\r\n\r\ndata: [DONE]\n\n"
        );
        let findings = findings.lock().map(|f| (f.tokens.input, f.tokens.output));
        assert_eq!(findings.ok(), Some((4, 2)));
    }

    #[test]
    fn a_lines_text_and_usage_are_read_where_they_lie() {
        let findings = Mutex::new(StreamFindings::default());
        for line in [
            // "usage" inside the text is text, not the chunk's usage.
            &br#"data: {"choices":[{"delta":{"content":"the \"usage\":{} of it"}}]}"#[..],
            // A last chunk carrying text and the usage, with its details.
            br#"data: {"choices":[{"delta":{"content":"!"}}],"usage":{"prompt_tokens":9,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":4}}}"#,
            br#"data: [DONE]"#,
        ] {
            line_done(&findings, line);
        }
        let findings = findings.lock().expect("not poisoned");
        assert_eq!(findings.output_text, "the \"usage\":{} of it!");
        let tokens = &findings.tokens;
        assert_eq!(
            (tokens.input, tokens.cached_input, tokens.output),
            (9, 4, 3)
        );
    }

    #[test]
    fn the_framer_splits_events_across_pieces_and_bounds_them() {
        let mut framer = EventFramer::default();
        for piece in [&b"data: a\r"[..], b"\n\r", b"\ndata: b\n", b"\n"] {
            framer.push(piece);
        }
        assert_eq!(framer.next_event(), Some(Ok(b"data: a\r\n\r\n".to_vec())));
        assert_eq!(framer.next_event(), Some(Ok(b"data: b\n\n".to_vec())));
        assert_eq!(framer.next_event(), None);
        framer.push(&vec![b'x'; EVENT_MAX + 1]);
        assert_eq!(framer.next_event(), Some(Err(EventTooLarge)));
        assert_eq!(framer.next_event(), None, "reported once, then empty");
        framer.push(b"data: tail");
        assert_eq!(framer.rest(), Some(b"data: tail".to_vec()));
    }

    #[test]
    fn lines_are_found_across_frames_and_overlong_ones_skipped() {
        let mut lines = Lines::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        for piece in [&b"data: a\nda"[..], b"ta: b", b"\n\ndata: c\r\n"] {
            lines.feed(piece, |line| seen.push(line.to_vec()));
        }
        let expected: [&[u8]; 4] = [b"data: a", b"data: b", b"", b"data: c\r"];
        assert_eq!(seen, expected);
        seen.clear();
        lines.feed(&vec![b'x'; LINE_MAX + 1], |line| seen.push(line.to_vec()));
        lines.feed(b"x\nnext\n", |line| seen.push(line.to_vec()));
        assert_eq!(
            seen,
            [b"next".to_vec()],
            "the overlong line is skipped whole"
        );
    }

    #[test]
    fn events_end_at_a_blank_line_of_either_kind() {
        assert_eq!(event_end(b"data: x\n\nrest"), Some(9));
        assert_eq!(event_end(b"data: x\r\n\r\nrest"), Some(11));
        assert_eq!(event_end(b"data: x\n"), None);
        assert_eq!(event_end(b"a\r\n\r\nb\n\n"), Some(5));
        assert_eq!(event_end(b"a\n\nb\r\n\r\n"), Some(3));
    }
}
