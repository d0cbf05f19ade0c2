//! A client's JSON request. The members every call reads (the model, whether it streams, its
//! stream options) are read at once; the whole document is built only when something needs it
//! (a translation to another dialect, an estimate of its tokens, a budget hold), so a request
//! relayed to a provider of its own dialect is never built as a tree.

use std::sync::OnceLock;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::ai::members::Layout;

pub(crate) struct Document {
    /// The body as the client sent it (`None` for documents made by the proxy).
    raw: Option<Bytes>,
    /// Where `raw`'s members lie, when it is an object read in one pass.
    layout: Option<Layout>,
    head: Head,
    whole: OnceLock<Value>,
}

/// The members every call reads.
#[derive(Default)]
struct Head {
    model: Option<Value>,
    stream: Option<Value>,
    stream_options: Option<Value>,
}

impl Head {
    /// From an object's members where they lie (each already checked as JSON).
    fn in_layout(layout: &Layout, object: &[u8]) -> Self {
        let member = |name| {
            layout
                .value(object, name)
                .and_then(|value| serde_json::from_slice(value).ok())
        };
        Self {
            model: member("model"),
            stream: member("stream"),
            stream_options: member("stream_options"),
        }
    }

    fn of(value: &Value) -> Self {
        Self {
            model: value.get("model").cloned(),
            stream: value.get("stream").cloned(),
            stream_options: value.get("stream_options").cloned(),
        }
    }
}

impl Document {
    /// A body as the client sent it (an empty one reads as `{}`); the error says why it is not
    /// JSON.
    pub(crate) fn read(body: Bytes) -> Result<Self, String> {
        let text = body.trim_ascii_start();
        if text.is_empty() {
            return Ok(Self::from_value(json!({})));
        }
        if text.starts_with(b"{") {
            if let Some(layout) = Layout::of(&body) {
                return Ok(Self {
                    head: Head::in_layout(&layout, &body),
                    raw: Some(body),
                    layout: Some(layout),
                    whole: OnceLock::new(),
                });
            }
        }
        // Not an object, or one with an escape in a member name: read as a whole, or refused
        // as not JSON.
        let value = whole(&body)?;
        Ok(Self {
            raw: Some(body),
            layout: None,
            head: Head::of(&value),
            whole: OnceLock::from(value),
        })
    }

    /// A document the proxy made.
    pub(crate) fn from_value(value: Value) -> Self {
        Self {
            raw: None,
            layout: None,
            head: Head::of(&value),
            whole: OnceLock::from(value),
        }
    }

    /// The model named, if it is a string.
    pub(crate) fn model(&self) -> Option<&str> {
        self.head.model.as_ref()?.as_str()
    }

    /// Whether a stream is asked for (`"stream": true`).
    pub(crate) fn streams(&self) -> bool {
        self.head.stream == Some(Value::Bool(true))
    }

    /// `stream_options`, as given.
    pub(crate) fn stream_options(&self) -> Option<&Value> {
        self.head.stream_options.as_ref()
    }

    /// Whether the client asked for a stream's usage chunk.
    pub(crate) fn wants_stream_usage(&self) -> bool {
        self.stream_options()
            .and_then(|options| options.get("include_usage"))
            == Some(&Value::Bool(true))
    }

    /// The body as the client sent it.
    pub(crate) fn raw(&self) -> Option<&[u8]> {
        self.raw.as_deref()
    }

    pub(crate) fn layout(&self) -> Option<&Layout> {
        self.layout.as_ref()
    }

    /// The whole document, read when first asked for.
    pub(crate) fn value(&self) -> &Value {
        self.whole.get_or_init(|| {
            self.raw
                .as_deref()
                .and_then(|raw| serde_json::from_slice(raw).ok())
                .unwrap_or(Value::Null)
        })
    }
}

/// A JSON request body read as a whole (an empty body reads as `{}`); the error says why it is
/// not JSON.
pub(crate) fn whole(body: &[u8]) -> Result<Value, String> {
    if body.trim_ascii_start().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Document {
        Document::read(Bytes::from(body.to_string())).expect("JSON")
    }

    #[test]
    fn the_head_is_read_as_the_whole_document_would_read_it() {
        let cases = [
            r#"{"model": "m", "stream": true, "stream_options": {"include_usage": true}, "messages": []}"#,
            r#"{"messages": [{"role": "user", "content": "{\"model\": \"x\"}"}], "model": "m"}"#,
            r#"{"model": "a", "stream": true, "model": "b"}"#,
            r#"{"model": null, "stream": "true", "stream_options": null}"#,
            r#"{"model": 5, "stream": false}"#,
            r#"["model", true]"#,
            "  ",
        ];
        for body in cases {
            let document = read(body);
            let whole = if body.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str::<Value>(body).unwrap()
            };
            assert_eq!(document.value(), &whole, "{body}");
            assert_eq!(
                document.model(),
                whole.get("model").and_then(Value::as_str),
                "{body}"
            );
            assert_eq!(
                document.streams(),
                whole.get("stream") == Some(&json!(true)),
                "{body}"
            );
            assert_eq!(
                document.wants_stream_usage(),
                whole.pointer("/stream_options/include_usage") == Some(&json!(true)),
                "{body}"
            );
        }
    }

    #[test]
    fn what_is_not_json_is_refused() {
        for body in ["{", "{\"model\": }", "nope", "{\"a\": 1} x"] {
            let error = Document::read(Bytes::from(body)).err().expect(body);
            assert!(error.starts_with("the body is not valid JSON"), "{error}");
        }
    }
}
