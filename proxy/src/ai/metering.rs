//! Token counts and what they cost, in integer nano-dollars.

use std::sync::OnceLock;

use serde_json::Value;
use tollgate_protocol::ModelPrices;

use crate::ai::tokenizer::Tokenizer;

/// Tokens of one call, as the provider reported them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tokens {
    pub(crate) input: u64,
    /// Of the input, how many were read from the provider's prompt cache.
    pub(crate) cached_input: u64,
    /// Of the input, how many were written to the provider's prompt cache (Anthropic).
    pub(crate) cache_write: u64,
    pub(crate) output: u64,
    /// Of the output, how many were reasoning (thinking) tokens.
    pub(crate) reasoning: u64,
    /// Whether the provider reported its count of the input.
    pub(crate) reported: bool,
    /// Whether the output count is the provider's final one (a stream cut short may have
    /// reported its input only).
    pub(crate) output_reported: bool,
}

/// Counts tokens with OpenAI's o200k tokenizer, for providers that report no usage (and streams
/// cut before their usage arrived). Other providers' tokenizers differ a little: these counts
/// are marked estimated.
pub(crate) fn estimate_tokens(text: &str) -> u64 {
    static TOKENIZER: OnceLock<Option<Tokenizer>> = OnceLock::new();
    let tokenizer = TOKENIZER.get_or_init(|| {
        Tokenizer::o200k()
            .inspect_err(|err| tracing::error!(error = %err, "the token counter did not load"))
            .ok()
    });
    match tokenizer {
        Some(tokenizer) => tokenizer.count(text),
        // Without the tokenizer, the usual rule of thumb: four characters a token.
        None => text.chars().count().div_ceil(4) as u64,
    }
}

/// The text of a chat request's messages (or an embeddings request's input), for estimates.
pub(crate) fn prompt_text(document: &Value) -> String {
    let mut text = String::new();
    let mut push = |value: &Value| match value {
        Value::String(s) => {
            text.push_str(s);
            text.push('\n');
        }
        Value::Array(parts) => {
            for part in parts {
                if let Some(s) = part.get("text").and_then(Value::as_str).or(part.as_str()) {
                    text.push_str(s);
                    text.push('\n');
                }
            }
        }
        _ => {}
    };
    for message in document
        .get("messages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(content) = message.get("content") {
            push(content);
        }
    }
    if let Some(input) = document.get("input") {
        push(input);
    }
    text
}

/// Seconds since the Unix epoch, for OpenAI's `created` fields.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The cost of a call: plain input, cached input, cache writes and output at their prices per
/// million tokens, plus the per-request price; rounded half up to the nano-dollar.
pub(crate) fn cost_nanousd(prices: &ModelPrices, tokens: &Tokens) -> i64 {
    let plain = tokens
        .input
        .saturating_sub(tokens.cached_input)
        .saturating_sub(tokens.cache_write);
    let per_mtok = i128::from(plain) * i128::from(prices.input_per_mtok)
        + i128::from(tokens.cached_input) * i128::from(prices.cached_input_per_mtok)
        + i128::from(tokens.cache_write) * i128::from(prices.cache_write_per_mtok)
        + i128::from(tokens.output) * i128::from(prices.output_per_mtok);
    let tokens_cost = (per_mtok + 500_000) / 1_000_000;
    i64::try_from(tokens_cost + i128::from(prices.per_request)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_is_exact_in_nano_dollars() {
        // gpt-4o-mini list prices: $0.15 in, $0.075 cached, $0.60 out per million tokens.
        let prices = ModelPrices {
            input_per_mtok: 150_000_000,
            cached_input_per_mtok: 75_000_000,
            output_per_mtok: 600_000_000,
            cache_write_per_mtok: 187_500_000,
            per_request: 0,
        };
        let tokens = Tokens {
            input: 1_000,
            cached_input: 200,
            output: 500,
            cache_write: 0,
            reasoning: 0,
            reported: true,
            output_reported: true,
        };
        // 800 × 150 + 200 × 75 + 500 × 600 = 120,000 + 15,000 + 300,000 nano-dollars.
        assert_eq!(cost_nanousd(&prices, &tokens), 435_000);
        assert_eq!(
            cost_nanousd(
                &prices,
                &Tokens {
                    input: 1,
                    ..Tokens::default()
                }
            ),
            150
        );
    }

    #[test]
    fn tokens_are_estimated_with_a_real_tokenizer() {
        assert_eq!(estimate_tokens(""), 0);
        let hello = estimate_tokens("Hello, world!");
        assert!((3..=5).contains(&hello), "{hello}");
        let document = serde_json::json!({"messages": [{"role": "user", "content": "Hi"},
            {"role": "user", "content": [{"type": "text", "text": "there"}]}]});
        assert_eq!(prompt_text(&document), "Hi\nthere\n");
    }
}
