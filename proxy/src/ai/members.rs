//! A client's JSON request relayed with a few top-level members replaced: the other members go
//! on as the client wrote them (the same bytes: key order, number formats and fields this
//! proxy does not know), with no tree built or serialised again.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::ai::Document;

/// `object` (a JSON object's text) with each member named in `replace` given that member's
/// new value (JSON text), in the first place the name appears (later duplicates are dropped),
/// or at the end when it did not appear. `None` when `object` is not a JSON object.
pub(crate) fn replace_members(object: &[u8], replace: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let Members(members) = serde_json::from_slice::<Members>(object).ok()?;
    let extra: usize = replace.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(object.len() + extra);
    let mut written = vec![false; replace.len()];
    out.push(b'{');
    let member = |out: &mut Vec<u8>, key: &str, value: &[u8]| {
        if out.len() > 1 {
            out.push(b',');
        }
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, key);
        out.push(b':');
        out.extend_from_slice(value);
    };
    for (key, value) in &members {
        match replace.iter().position(|(name, _)| *name == key.as_ref()) {
            Some(i) if written[i] => {}
            Some(i) => {
                written[i] = true;
                member(&mut out, key, replace[i].1);
            }
            None => member(&mut out, key, value.get().as_bytes()),
        }
    }
    for ((key, value), written) in replace.iter().zip(written) {
        if !written {
            member(&mut out, key, value);
        }
    }
    out.push(b'}');
    Some(out)
}

/// The body relayed for a client's request: its own bytes when it came as bytes, else its
/// document written, with the members in `replace` replaced as [`replace_members`] does.
pub(crate) fn relayed(document: &Document, replace: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    let written;
    let object = match document.raw() {
        Some(raw) => raw,
        None => {
            written = serde_json::to_vec(document.value()).map_err(|e| e.to_string())?;
            &written
        }
    };
    replace_members(object, replace).ok_or_else(|| "the request is not a JSON object".to_string())
}

/// A JSON object's members in order, their values as the text they were.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

/// A member name, borrowed unless it holds escapes.
struct Name<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((Name(name), value)) = map.next_entry::<Name, &RawValue>()? {
                    members.push((name, value));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(Object)
    }
}

impl<'de> Deserialize<'de> for Name<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Name<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
                Ok(Name(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn text(bytes: Option<Vec<u8>>) -> String {
        String::from_utf8(bytes.expect("an object")).unwrap()
    }

    #[test]
    fn named_members_are_replaced_and_the_rest_pass_as_written() {
        let body = br#"{"model":"gpt","temperature":1.0,"seed":12345678901234567890, "x":{"a" : [1, 2]},"messages":[{"role":"user","content":"hi \"you\""}]}"#;
        let out = text(replace_members(body, &[("model", br#""m-2""#)]));
        assert_eq!(
            out,
            r#"{"model":"m-2","temperature":1.0,"seed":12345678901234567890,"x":{"a" : [1, 2]},"messages":[{"role":"user","content":"hi \"you\""}]}"#
        );
    }

    #[test]
    fn missing_members_are_added_and_duplicates_dropped() {
        let body = br#"{"model":"a","stream":true,"model":"b"}"#;
        let out = text(replace_members(
            body,
            &[
                ("model", br#""m""#),
                ("stream_options", br#"{"include_usage":true}"#),
            ],
        ));
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            value,
            json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}})
        );
        assert_eq!(out.matches("\"model\"").count(), 1);
        assert_eq!(
            text(replace_members(b" { } ", &[("model", b"\"m\"")])),
            r#"{"model":"m"}"#
        );
    }

    #[test]
    fn escaped_names_are_compared_unescaped_and_written_escaped() {
        let body = br#"{"mo\u0064el":"a","we\"ird":1}"#;
        let out = text(replace_members(body, &[("model", br#""m""#)]));
        let value: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value, json!({"model": "m", "we\"ird": 1}));
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        for body in [&b"[1]"[..], b"\"x\"", b"{\"a\":}", b"{\"a\":1} x", b""] {
            assert!(replace_members(body, &[("model", b"\"m\"")]).is_none());
        }
    }
}
