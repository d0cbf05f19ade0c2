//! The one-time message a page shows after a form was posted, carried in a cookie.

/// A one-time message shown on the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flash {
    Success(String),
    Error(String),
}

impl Flash {
    pub(crate) fn encode(&self) -> String {
        let (kind, text) = match self {
            Self::Success(text) => ("s", text),
            Self::Error(text) => ("e", text),
        };
        url::form_urlencoded::byte_serialize(format!("{kind}{text}").as_bytes()).collect()
    }

    pub(crate) fn decode(value: &str) -> Option<Self> {
        let text: String = url::form_urlencoded::parse(format!("f={value}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?;
        let mut chars = text.chars();
        match chars.next()? {
            's' => Some(Self::Success(chars.collect())),
            'e' => Some(Self::Error(chars.collect())),
            _ => None,
        }
    }
}
