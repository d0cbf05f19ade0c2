//! A client's JSON request relayed with a few top-level members replaced: the other members go
//! on as the client wrote them (the same bytes: key order, number formats and fields this
//! proxy does not know), with no tree built or serialised again.

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::ai::Document;

/// `object` (a JSON object's text) with each member named in `replace` given that member's
/// new value (JSON text), in the first place the name appears (later duplicates are dropped),
/// or at the end when it did not appear. `None` when `object` is not a JSON object.
pub(crate) fn replace_members(object: &[u8], replace: &[(&str, &[u8])]) -> Option<Vec<u8>> {
    let Members(members) = serde_json::from_slice::<Members>(object).ok()?;
    let members = members
        .iter()
        .map(|(name, value)| (name.as_ref(), value.get().as_bytes()));
    Some(write_replaced(members, object.len(), replace))
}

/// An object's members written with those in `replace` replaced, as [`replace_members`] says.
fn write_replaced<'a>(
    members: impl Iterator<Item = (&'a str, &'a [u8])>,
    length: usize,
    replace: &[(&str, &[u8])],
) -> Vec<u8> {
    let extra: usize = replace.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
    let mut out = Vec::with_capacity(length + extra);
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
    for (key, value) in members {
        match replace.iter().position(|(name, _)| *name == key) {
            Some(i) if written[i] => {}
            Some(i) => {
                written[i] = true;
                member(&mut out, key, replace[i].1);
            }
            None => member(&mut out, key, value),
        }
    }
    for ((key, value), written) in replace.iter().zip(written) {
        if !written {
            member(&mut out, key, value);
        }
    }
    out.push(b'}');
    out
}

/// Where each member of a JSON object lies in its text (its name without the quotes, and its
/// value), found in the one pass that reads the request, so relaying it reads it no more.
#[derive(Debug)]
pub(crate) struct Layout(Vec<(Range<usize>, Range<usize>)>);

impl Layout {
    /// `None` when `object` is not a JSON object, or when a member name holds an escape (rare:
    /// such a document is read as a whole instead).
    pub(crate) fn of(object: &[u8]) -> Option<Self> {
        let Members(members) = serde_json::from_slice::<Members>(object).ok()?;
        // Names and values borrow from `object`: their places are their offsets in it.
        let start = object.as_ptr() as usize;
        let place = |text: &[u8]| {
            let at = text.as_ptr() as usize - start;
            at..at + text.len()
        };
        members
            .iter()
            .map(|(name, value)| match name {
                Cow::Borrowed(name) => {
                    Some((place(name.as_bytes()), place(value.get().as_bytes())))
                }
                Cow::Owned(_) => None,
            })
            .collect::<Option<Vec<_>>>()
            .map(Self)
    }

    /// The value of the member `name` in `object` (the text this layout was made from); of the
    /// last one when it is repeated, as JSON readers take it.
    pub(crate) fn value<'a>(&self, object: &'a [u8], name: &str) -> Option<&'a [u8]> {
        self.0
            .iter()
            .rev()
            .find(|(member, _)| object.get(member.clone()) == Some(name.as_bytes()))
            .and_then(|(_, value)| object.get(value.clone()))
    }

    fn members<'a>(&'a self, object: &'a [u8]) -> impl Iterator<Item = (&'a str, &'a [u8])> {
        self.0.iter().filter_map(|(name, value)| {
            let name = std::str::from_utf8(object.get(name.clone())?).ok()?;
            Some((name, object.get(value.clone())?))
        })
    }
}

/// The body relayed for a client's request: its own bytes when it came as bytes, else its
/// document written, with the members in `replace` replaced as [`replace_members`] does.
pub(crate) fn relayed(document: &Document, replace: &[(&str, &[u8])]) -> Result<Vec<u8>, String> {
    if let (Some(raw), Some(layout)) = (document.raw(), document.layout()) {
        return Ok(write_replaced(layout.members(raw), raw.len(), replace));
    }
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
    fn a_read_request_is_relayed_as_its_members_would_be_replaced() {
        let bodies = [
            &br#"{"model":"gpt","temperature":1.0,"messages":[{"role":"user","content":"hi \"you\""}]}"#[..],
            br#"{"model":"a","stream":true,"model":"b"}"#,
            br#"{"mo\u0064el":"a","we\"ird":1}"#,
            br#" { "stream" : true , "x" : { "model" : 1 } } "#,
            b"{}",
        ];
        let replace: [(&str, &[u8]); 2] = [
            ("model", br#""m""#),
            ("stream_options", br#"{"include_usage":true}"#),
        ];
        for body in bodies {
            let document = Document::read(bytes::Bytes::from(body.to_vec())).unwrap();
            let relayed = relayed(&document, &replace).unwrap();
            assert_eq!(
                Some(relayed),
                replace_members(body, &replace),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        for body in [&b"[1]"[..], b"\"x\"", b"{\"a\":}", b"{\"a\":1} x", b""] {
            assert!(replace_members(body, &[("model", b"\"m\"")]).is_none());
        }
    }
}
