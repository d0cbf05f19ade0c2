//! The AI provider kinds Tollgate speaks, and what each needs on the wire. One typed list for
//! the server, the proxy and the console: a new kind fails to compile wherever it matters.

use serde::{Deserialize, Serialize};

/// The `anthropic-version` header every Anthropic request carries.
pub const ANTHROPIC_API_VERSION: &str = "2023-06-01";

/// A provider's API family and vendor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "utoipa", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// OpenAI.
    Openai,
    /// OpenAI models on Azure (`api-key` header, `api-version` query).
    AzureOpenai,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini API.
    Gemini,
    /// Mistral (OpenAI-compatible API).
    Mistral,
    /// Any server speaking OpenAI's API: vLLM, Ollama, Groq, DeepSeek, Together, OpenRouter...
    OpenaiCompatible,
}

/// The wire format a provider speaks; the proxy has one translator per dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// OpenAI's Chat Completions API, which most vendors also speak.
    OpenAi,
    /// Anthropic's Messages API.
    Anthropic,
    /// Google's Gemini API.
    Gemini,
}

impl ProviderKind {
    /// Every kind, in the order the console offers them.
    pub const ALL: [Self; 6] = [
        Self::Openai,
        Self::AzureOpenai,
        Self::Anthropic,
        Self::Gemini,
        Self::Mistral,
        Self::OpenaiCompatible,
    ];

    /// The name in the API, the database and the snapshot.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Openai => "openai",
            Self::AzureOpenai => "azure_openai",
            Self::Anthropic => "anthropic",
            Self::Gemini => "gemini",
            Self::Mistral => "mistral",
            Self::OpenaiCompatible => "openai_compatible",
        }
    }

    /// The value of a name `as_str` gives; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The name people know it by.
    pub fn label(self) -> &'static str {
        match self {
            Self::Openai => "OpenAI",
            Self::AzureOpenai => "Azure OpenAI",
            Self::Anthropic => "Anthropic",
            Self::Gemini => "Google Gemini",
            Self::Mistral => "Mistral",
            Self::OpenaiCompatible => "OpenAI-compatible (vLLM, Ollama, …)",
        }
    }

    /// The wire format its API speaks.
    pub fn dialect(self) -> Dialect {
        match self {
            Self::Openai | Self::AzureOpenai | Self::Mistral | Self::OpenaiCompatible => {
                Dialect::OpenAi
            }
            Self::Anthropic => Dialect::Anthropic,
            Self::Gemini => Dialect::Gemini,
        }
    }

    /// Where the vendor's API lives; none for kinds that are always self-hosted or per account.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            Self::Openai => Some("https://api.openai.com/v1"),
            Self::Anthropic => Some("https://api.anthropic.com"),
            Self::Gemini => Some("https://generativelanguage.googleapis.com/v1beta"),
            Self::Mistral => Some("https://api.mistral.ai/v1"),
            Self::AzureOpenai | Self::OpenaiCompatible => None,
        }
    }

    /// The price catalog's name for this family, where it has one.
    pub fn catalog_family(self) -> Option<&'static str> {
        match self {
            Self::Openai | Self::AzureOpenai => Some("openai"),
            Self::Anthropic => Some("anthropic"),
            Self::Gemini => Some("gemini"),
            Self::Mistral => Some("mistral"),
            Self::OpenaiCompatible => None,
        }
    }

    /// The header that carries an API key, and its value.
    pub fn auth_header(self, key: &str) -> (&'static str, String) {
        match self {
            Self::AzureOpenai => ("api-key", key.to_string()),
            Self::Anthropic => ("x-api-key", key.to_string()),
            Self::Gemini => ("x-goog-api-key", key.to_string()),
            Self::Openai | Self::Mistral | Self::OpenaiCompatible => {
                ("authorization", format!("Bearer {key}"))
            }
        }
    }

    /// A version header every request carries.
    pub fn version_header(self) -> Option<(&'static str, &'static str)> {
        (self == Self::Anthropic).then_some(("anthropic-version", ANTHROPIC_API_VERSION))
    }

    /// The provider's `api_version` goes in the `api-version` query parameter.
    pub fn takes_api_version_query(self) -> bool {
        self == Self::AzureOpenai
    }

    /// The path, under the base URL, that lists models (a call that costs no tokens).
    pub fn models_path(self) -> &'static str {
        match self {
            Self::Anthropic => "/v1/models",
            _ => "/models",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_survive_the_wire_and_the_parser() {
        for kind in ProviderKind::ALL {
            let json = serde_json::to_string(&kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(ProviderKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(ProviderKind::parse("openai-compatible"), None);
    }

    #[test]
    fn each_kind_sends_its_key_where_the_vendor_reads_it() {
        assert_eq!(
            ProviderKind::Openai.auth_header("k"),
            ("authorization", "Bearer k".into())
        );
        assert_eq!(ProviderKind::Anthropic.auth_header("k").0, "x-api-key");
        assert_eq!(ProviderKind::Gemini.auth_header("k").0, "x-goog-api-key");
        assert_eq!(ProviderKind::AzureOpenai.auth_header("k").0, "api-key");
    }
}
