//! Reading a member or two of a stream chunk's JSON where it lies in the bytes, without parsing
//! the chunk: its text, and whether it holds the usage. A quote that is not escaped opens a
//! string (inside one, quotes are escaped), so `"name"` followed by `:` outside a string can
//! only be a member name.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

/// A member name with its quotes, its searcher built once.
pub(crate) type Name = LazyLock<Finder<'static>>;

pub(crate) static USAGE: Name = LazyLock::new(|| Finder::new(b"\"usage\""));
pub(crate) static CONTENT: Name = LazyLock::new(|| Finder::new(b"\"content\""));
pub(crate) static CHOICES: Name = LazyLock::new(|| Finder::new(b"\"choices\""));
pub(crate) static TEXT: Name = LazyLock::new(|| Finder::new(b"\"text\""));

/// Whether a member `name` has an object as its value (providers that write `"usage": null`
/// in every chunk send the object once, at the end).
pub(crate) fn has_object(json: &[u8], name: &Name) -> bool {
    member_values(json, name).any(|value| value.first() == Some(&b'{'))
}

/// Whether a member `name` has an empty array as its value.
pub(crate) fn has_empty_array(json: &[u8], name: &Name) -> bool {
    member_values(json, name).any(|value| {
        value
            .strip_prefix(b"[")
            .is_some_and(|rest| rest.trim_ascii_start().first() == Some(&b']'))
    })
}

/// The first string value of a member `name`, unescaped (a member whose value is not a string,
/// such as `"content": null` or the array of `logprobs.content`, is passed over).
pub(crate) fn first_string<'a>(json: &'a [u8], name: &'a Name) -> Option<Cow<'a, str>> {
    member_values(json, name).find_map(|value| {
        let body = value.strip_prefix(b"\"")?;
        let mut at = 0;
        loop {
            at += memchr::memchr2(b'"', b'\\', &body[at..])?;
            if body[at] == b'"' {
                break;
            }
            at += 2; // an escape: the byte after the backslash never closes the string
            if at > body.len() {
                return None;
            }
        }
        if memchr::memchr(b'\\', &body[..at]).is_none() {
            return std::str::from_utf8(&body[..at]).ok().map(Cow::Borrowed);
        }
        serde_json::from_slice::<String>(&value[..at + 2])
            .ok()
            .map(Cow::Owned)
    })
}

/// The value of a member `name` read as `T`, when the document has exactly one such member
/// holding an object (an answer's `usage`): read from where it lies, not by parsing the whole
/// document. None when there is none, or several (the caller then reads the document).
pub(crate) fn sole_object<T: serde::de::DeserializeOwned>(json: &[u8], name: &Name) -> Option<T> {
    let mut objects = member_values(json, name).filter(|value| value.first() == Some(&b'{'));
    let value = objects.next()?;
    if objects.next().is_some() {
        return None;
    }
    // What follows the object is the rest of the document: not read.
    T::deserialize(&mut serde_json::Deserializer::from_slice(value)).ok()
}

/// An answer's `usage` object read as `T`: where it lies when the answer holds one, else (two,
/// or a document [`sole_object`] cannot read) by reading the whole answer.
pub(crate) fn answer_usage<T: serde::de::DeserializeOwned>(answer: &[u8]) -> Option<T> {
    #[derive(serde::Deserialize)]
    struct Answer<T> {
        usage: T,
    }
    sole_object(answer, &USAGE).or_else(|| {
        serde_json::from_slice::<Answer<T>>(answer)
            .ok()
            .map(|answer| answer.usage)
    })
}

/// The bytes where each value of a member `name` begins. A match whose opening quote follows
/// an odd run of backslashes is an escaped quote inside a string: text, not a member name.
fn member_values<'a>(json: &'a [u8], name: &'a Name) -> impl Iterator<Item = &'a [u8]> + 'a {
    let length = name.needle().len();
    name.find_iter(json).filter_map(move |at| {
        let backslashes = json[..at].iter().rev().take_while(|&&b| b == b'\\').count();
        if backslashes % 2 == 1 {
            return None;
        }
        let rest = json[at + length..].trim_ascii_start();
        Some(rest.strip_prefix(b":")?.trim_ascii_start())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunks_text_is_read_from_its_bytes_as_json_would_read_it() {
        let cases: [(&[u8], Option<&str>); 9] = [
            (br#"{"choices":[{"index":0,"delta":{"content":"Hello"}}]}"#, Some("Hello")),
            (
                br#"{"choices":[{"delta":{"content" : "a \"quoted\" \\ \u00e9\n"}}]}"#,
                Some("a \"quoted\" \\ é\n"),
            ),
            (br#"{"choices":[{"delta":{"role":"assistant","content":null}}]}"#, None),
            (br#"{"choices":[{"delta":{"content":""}}]}"#, Some("")),
            // The member name inside a string is text, not a member.
            (
                br#"{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\"content\":\"x\"}"}}]}}]}"#,
                None,
            ),
            (br#"{"choices":[{"delta":{"refusal":"no \\\"content\":\"x"}}]}"#, None),
            // logprobs' content is an array: passed over for the delta's string.
            (
                br#"{"choices":[{"logprobs":{"content":[{"token":"a"}]},"delta":{"content":"b"}}]}"#,
                Some("b"),
            ),
            (br#"{"choices":[{"delta":{"content":"unterminated \"}}]}"#, None),
            (br#"{"choices":[{"delta":{"content":"ends in an escape\"#, None),
        ];
        for (json, text) in cases {
            let read = first_string(json, &CONTENT);
            assert_eq!(read.as_deref(), text, "{}", String::from_utf8_lossy(json));
            if let (Some(read), Ok(value)) =
                (&read, serde_json::from_slice::<serde_json::Value>(json))
            {
                let parsed = value
                    .pointer("/choices/0/delta/content")
                    .and_then(|v| v.as_str());
                assert_eq!(parsed, Some(read.as_ref()), "as serde_json reads it");
            }
        }
    }

    #[test]
    fn a_sole_object_member_is_read_where_it_lies() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Usage {
            prompt_tokens: u64,
        }
        let read = |json: &[u8]| sole_object::<Usage>(json, &USAGE).map(|u| u.prompt_tokens);
        let answer = br#"{"choices":[{"message":{"content":"say \"usage\": {}"}}],
            "usage": {"prompt_tokens": 11, "details": {"x": [1, {"y": 2}]}}, "model": "m"}"#;
        assert_eq!(read(answer), Some(11));
        assert_eq!(read(br#"{"usage":{"prompt_tokens":3}}"#), Some(3));
        assert_eq!(read(br#"{"usage": null}"#), None);
        assert_eq!(read(br#"{"choices": []}"#), None);
        // Two: which is the answer's own is not known without reading the whole document.
        let nested = br#"{"x": {"usage": {"prompt_tokens": 1}}, "usage": {"prompt_tokens": 2}}"#;
        assert_eq!(read(nested), None);
        // The answer's own, then, is found by reading it whole.
        let usage = answer_usage::<Usage>(nested).map(|u| u.prompt_tokens);
        assert_eq!(usage, Some(2));
        assert_eq!(
            answer_usage::<Usage>(answer).map(|u| u.prompt_tokens),
            Some(11)
        );
        assert_eq!(read(br#"{"usage": {"prompt_tokens": "many"}}"#), None);
    }

    #[test]
    fn only_a_usage_object_and_empty_choices_count() {
        assert!(has_object(
            br#"{"choices":[],"usage":{"prompt_tokens":1}}"#,
            &USAGE
        ));
        assert!(has_object(
            br#"{"choices":[], "usage" : {"prompt_tokens":1}}"#,
            &USAGE
        ));
        assert!(!has_object(
            br#"{"choices":[{"delta":{"content":"x"}}],"usage":null}"#,
            &USAGE
        ));
        assert!(!has_object(
            br#"{"choices":[{"delta":{"content":"\"usage\":{"}}]}"#,
            &USAGE
        ));
        assert!(has_empty_array(br#"{"choices":[],"usage":{}}"#, &CHOICES));
        assert!(has_empty_array(
            br#"{"choices" : [ ] ,"usage":{}}"#,
            &CHOICES
        ));
        assert!(!has_empty_array(br#"{"choices":[{"index":0}]}"#, &CHOICES));
        assert!(!has_empty_array(br#"{"x":"\"choices\":[]"}"#, &CHOICES));
    }
}
