//! A tool call's answer streamed as server-sent events, relayed to the client event by event
//! as the server sends them (progress and log notifications included). The answer itself gets
//! the client's request id back; the stream ends with it, or with a JSON-RPC error event when
//! the server's deadline passes, the stream breaks or grows too large.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use hyper::body::Incoming;
use serde_json::Value;

use super::jsonrpc;
use super::upstream::UpstreamError;
use super::Outcome;
use crate::ai::sse::{event_data, EventFramer};
use crate::body::BoxError;

/// Most bytes relayed for one call.
const RELAY_MAX: usize = 64 << 20;

/// The relaying body.
pub(crate) struct Relay {
    inner: Incoming,
    framer: EventFramer,
    deadline: Pin<Box<tokio::time::Sleep>>,
    upstream_id: Value,
    client_id: Value,
    server: String,
    outcome: Arc<Mutex<Outcome>>,
    out: VecDeque<Bytes>,
    received: usize,
    done: bool,
}

impl Relay {
    pub(crate) fn new(
        inner: Incoming,
        deadline: tokio::time::Instant,
        ids: (Value, Value),
        server: String,
        outcome: Arc<Mutex<Outcome>>,
    ) -> Self {
        let (upstream_id, client_id) = ids;
        Self {
            inner,
            framer: EventFramer::default(),
            deadline: Box::pin(tokio::time::sleep_until(deadline)),
            upstream_id,
            client_id,
            server,
            outcome,
            out: VecDeque::new(),
            received: 0,
            done: false,
        }
    }

    /// Ends the stream with an error the client can read, noted in the usage event.
    fn fail(&mut self, error: &UpstreamError) {
        let message = error.message(&self.server);
        let event = jsonrpc::error(&self.client_id, error.code(), &message);
        self.out.push_back(as_event(&event));
        let (status, class) = error.outcome();
        if let Ok(mut outcome) = self.outcome.lock() {
            *outcome = Outcome::failed(status, class);
        }
        self.done = true;
    }

    /// Passes an event on; the answer gets the client's id and ends the stream.
    fn relay(&mut self, event: Vec<u8>) {
        let message: Option<Value> = serde_json::from_slice(&event_data(&event)).ok();
        let answer = message.filter(|m| {
            m.get("id") == Some(&self.upstream_id)
                && (m.get("result").is_some() || m.get("error").is_some())
        });
        match answer {
            Some(mut answer) => {
                if let Ok(mut outcome) = self.outcome.lock() {
                    *outcome = Outcome::of_answer(&answer);
                }
                answer["id"] = self.client_id.clone();
                self.out
                    .push_back(as_event(&Bytes::from(answer.to_string())));
                self.done = true;
            }
            None => self.out.push_back(Bytes::from(event)),
        }
    }
}

/// A JSON-RPC message as one server-sent event.
pub(crate) fn as_event(message: &Bytes) -> Bytes {
    let mut event = Vec::with_capacity(message.len() + 22);
    event.extend_from_slice(b"event: message\ndata: ");
    event.extend_from_slice(message);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

impl Body for Relay {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if let Some(bytes) = this.out.pop_front() {
                return Poll::Ready(Some(Ok(Frame::data(bytes))));
            }
            if this.done {
                return Poll::Ready(None);
            }
            if this.deadline.as_mut().poll(cx).is_ready() {
                this.fail(&UpstreamError::Timeout);
                continue;
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => this.fail(&UpstreamError::Protocol(
                    "the event stream ended before the answer".into(),
                )),
                Poll::Ready(Some(Err(e))) => {
                    this.fail(&UpstreamError::Protocol(format!("the stream broke: {e}")))
                }
                Poll::Ready(Some(Ok(frame))) => {
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.received += data.len();
                    if this.received > RELAY_MAX {
                        this.fail(&UpstreamError::Protocol(format!(
                            "the answer grew over {} MiB",
                            RELAY_MAX >> 20
                        )));
                        continue;
                    }
                    this.framer.push(&data);
                    while !this.done {
                        match this.framer.next_event() {
                            None => break,
                            Some(Ok(event)) => this.relay(event),
                            Some(Err(too_large)) => {
                                this.fail(&UpstreamError::Protocol(too_large.message()))
                            }
                        }
                    }
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done && self.out.is_empty()
    }
}
