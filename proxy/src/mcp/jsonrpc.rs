//! JSON-RPC 2.0 as MCP's Streamable HTTP transport carries it: one message per POST, and the
//! answers and errors the gateway writes itself.

use bytes::Bytes;
use serde_json::{json, Value};

/// The body is not JSON.
pub(crate) const PARSE_ERROR: i64 = -32700;
/// The body is JSON but not a JSON-RPC message.
pub(crate) const INVALID_REQUEST: i64 = -32600;
/// A method the gateway does not serve.
pub(crate) const METHOD_NOT_FOUND: i64 = -32601;
/// Bad parameters, an unknown tool, or one the key may not call.
pub(crate) const INVALID_PARAMS: i64 = -32602;
/// The tool's server failed or could not be reached.
pub(crate) const UPSTREAM_ERROR: i64 = -32000;
/// The tool's server did not answer in time.
pub(crate) const UPSTREAM_TIMEOUT: i64 = -32001;
/// The key may not make this call now (rate limit, budget).
pub(crate) const REFUSED: i64 = -32002;
/// The session is unknown or has ended.
pub(crate) const SESSION_NOT_FOUND: i64 = -32003;

/// One message from a client: a request (`id` and `method`), a notification (`method` only),
/// or an answer to something the server asked (`id` only).
#[derive(Debug)]
pub(crate) struct Message {
    pub(crate) id: Option<Value>,
    pub(crate) method: Option<String>,
    pub(crate) params: Value,
}

impl Message {
    /// Reads a POST body; what is not one JSON-RPC message is the error to send back.
    pub(crate) fn parse(body: &[u8]) -> Result<Self, Bytes> {
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            error(
                &Value::Null,
                PARSE_ERROR,
                &format!("the body is not JSON: {e}"),
            )
        })?;
        if value.is_array() {
            return Err(error(
                &Value::Null,
                INVALID_REQUEST,
                "send one JSON-RPC message per request (batches are not supported)",
            ));
        }
        let invalid = |why: &str| error(&Value::Null, INVALID_REQUEST, why);
        let Value::Object(mut object) = value else {
            return Err(invalid("a JSON-RPC message is a JSON object"));
        };
        if object.get("jsonrpc") != Some(&json!("2.0")) {
            return Err(invalid("\"jsonrpc\" must be \"2.0\""));
        }
        let id = object.remove("id");
        if id
            .as_ref()
            .is_some_and(|id| !(id.is_string() || id.is_number()))
        {
            return Err(invalid("\"id\" must be a string or a number"));
        }
        let method = match object.remove("method") {
            None => None,
            Some(Value::String(method)) => Some(method),
            Some(_) => return Err(invalid("\"method\" must be a string")),
        };
        if id.is_none() && method.is_none() {
            return Err(invalid("a message needs a \"method\" or an \"id\""));
        }
        let params = object.remove("params").unwrap_or_else(|| json!({}));
        Ok(Self { id, method, params })
    }

    /// A request: it expects an answer.
    pub(crate) fn request(&self) -> Option<(&Value, &str)> {
        Some((self.id.as_ref()?, self.method.as_deref()?))
    }
}

/// A successful answer.
pub(crate) fn result(id: &Value, result: Value) -> Bytes {
    Bytes::from(json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string())
}

/// An error answer.
pub(crate) fn error(id: &Value, code: i64, message: &str) -> Bytes {
    Bytes::from(
        json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(body: &str) -> Value {
        match Message::parse(body.as_bytes()) {
            Err(bytes) => serde_json::from_slice(&bytes).unwrap_or_default(),
            Ok(message) => panic!("accepted {message:?}"),
        }
    }

    #[test]
    fn requests_notifications_and_answers_are_told_apart() {
        let request = Message::parse(br#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#);
        assert!(request.is_ok_and(|m| m.request() == Some((&json!(7), "tools/list"))));
        let notification =
            Message::parse(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        assert!(notification.is_ok_and(|m| m.request().is_none() && m.method.is_some()));
        let answer = Message::parse(br#"{"jsonrpc":"2.0","id":"s1","result":{}}"#);
        assert!(answer.is_ok_and(|m| m.request().is_none() && m.id.is_some()));
    }

    #[test]
    fn what_is_not_a_message_gets_the_right_error_code() {
        assert_eq!(refusal("{nope")["error"]["code"], PARSE_ERROR);
        assert_eq!(refusal("[]")["error"]["code"], INVALID_REQUEST);
        assert_eq!(
            refusal(r#"{"id":1,"method":"x"}"#)["error"]["code"],
            INVALID_REQUEST
        );
        assert_eq!(
            refusal(r#"{"jsonrpc":"2.0","id":null,"method":"x"}"#)["error"]["code"],
            INVALID_REQUEST
        );
        assert_eq!(refusal(r#"{"jsonrpc":"2.0"}"#)["id"], Value::Null);
    }
}
