//! Counts tokens as OpenAI's o200k tokenizer splits text (the counts `tiktoken` gives), for
//! estimates. It keeps only what counting needs: each token's bytes in one buffer and a map
//! from bytes to merge rank: loading it adds about 17 MiB to the process (4 of them the
//! vocabulary's text). `tiktoken-rs` also keeps a decoder and a sorted copy of the vocabulary,
//! each token in its own allocation: about 47 MiB, loaded the first time a proxy estimates (a
//! client hanging up mid-stream is enough), more than its traffic needs.

use std::collections::HashMap;

use base64::Engine as _;
use fancy_regex::Regex;

/// OpenAI's o200k_base vocabulary as `tiktoken` publishes it: each token's bytes in base64 and
/// its rank, one a line (sha256 446a9538…b1a2d, as `tiktoken` checks it).
const O200K_BASE: &str = include_str!("../../assets/o200k_base.tiktoken");

/// o200k's pre-tokenizer: text is split by this pattern, and each piece merged into tokens.
const O200K_PATTERN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}",
    r"| ?[^\s\p{L}\p{N}]+[\r\n/]*",
    r"|\s*[\r\n]+",
    r"|\s+(?!\S)",
    r"|\s+",
);

type Rank = u32;

/// Tokens in o200k's vocabulary (special tokens aside).
const O200K_TOKENS: usize = 199_998;

/// A byte-pair-encoding token counter.
pub(crate) struct Tokenizer {
    /// Each token's bytes to its rank (lower merges first).
    ranks: HashMap<&'static [u8], Rank>,
    pieces: Regex,
}

impl Tokenizer {
    /// o200k, loaded once for the process's life (the caller keeps it in a static).
    pub(crate) fn o200k() -> Result<Self, String> {
        let engine = base64::engine::general_purpose::STANDARD;
        let mut bytes = Vec::with_capacity(O200K_BASE.len() / 2);
        // Sized for o200k up front: a growing map or list leaves its outgrown copies behind.
        let mut spans: Vec<(u32, u32, Rank)> = Vec::with_capacity(O200K_TOKENS);
        for line in O200K_BASE.lines() {
            let (token, rank) = line
                .split_once(' ')
                .ok_or_else(|| format!("bad vocabulary line {line:?}"))?;
            let rank: Rank = rank
                .parse()
                .map_err(|e| format!("bad rank {rank:?}: {e}"))?;
            let start = bytes.len();
            engine
                .decode_vec(token, &mut bytes)
                .map_err(|e| format!("bad token {token:?}: {e}"))?;
            let span = (u32::try_from(start), u32::try_from(bytes.len()));
            let (Ok(start), Ok(end)) = span else {
                return Err("the vocabulary is too large".into());
            };
            spans.push((start, end, rank));
        }
        // Lives as long as the process, like the tokenizer that points into it.
        let bytes: &'static [u8] = bytes.leak();
        let mut ranks = HashMap::with_capacity(spans.len());
        for (start, end, rank) in spans {
            ranks.insert(&bytes[start as usize..end as usize], rank);
        }
        let pieces = Regex::new(O200K_PATTERN).map_err(|e| e.to_string())?;
        Ok(Self { ranks, pieces })
    }

    /// How many tokens `text` is (special tokens are not recognised: text is text).
    pub(crate) fn count(&self, text: &str) -> u64 {
        let mut tokens = 0;
        let mut counted = 0;
        for piece in self.pieces.find_iter(text) {
            let Ok(piece) = piece else {
                // The pattern gave up (its backtracking limit): the rest by the rule of thumb.
                return tokens + text[counted..].chars().count().div_ceil(4) as u64;
            };
            counted = piece.end();
            let piece = piece.as_str().as_bytes();
            tokens += if self.ranks.contains_key(piece) {
                1
            } else {
                self.merged(piece)
            };
        }
        tokens
    }

    /// Tokens of a piece not in the vocabulary as a whole: its bytes merged pairwise, the
    /// lowest-ranked pair first, as `tiktoken` does (`_byte_pair_merge`).
    fn merged(&self, piece: &[u8]) -> u64 {
        if piece.len() < 2 {
            return piece.len() as u64;
        }
        let rank_of = |bytes: &[u8]| self.ranks.get(bytes).copied().unwrap_or(Rank::MAX);
        // (start, rank of the pair that starts here)
        let mut parts: Vec<(usize, Rank)> = Vec::with_capacity(piece.len() + 1);
        for i in 0..piece.len() - 1 {
            parts.push((i, rank_of(&piece[i..i + 2])));
        }
        parts.push((piece.len() - 1, Rank::MAX));
        parts.push((piece.len(), Rank::MAX));
        let pair_rank = |parts: &[(usize, Rank)], i: usize| {
            if i + 3 < parts.len() {
                rank_of(&piece[parts[i].0..parts[i + 3].0])
            } else {
                Rank::MAX
            }
        };
        // The lowest-ranked pair left (the first of equals), until no pair is a token.
        while let Some((i, _)) = parts[..parts.len() - 1]
            .iter()
            .enumerate()
            .filter(|(_, (_, rank))| *rank != Rank::MAX)
            .min_by_key(|(i, (_, rank))| (*rank, *i))
        {
            if i > 0 {
                parts[i - 1].1 = pair_rank(&parts, i - 1);
            }
            parts[i].1 = pair_rank(&parts, i);
            parts.remove(i + 1);
        }
        (parts.len() - 1) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_what_tiktoken_counts() {
        let ours = Tokenizer::o200k().unwrap_or_else(|e| panic!("{e}"));
        let theirs = tiktoken_rs::o200k_base().unwrap_or_else(|e| panic!("{e}"));
        let texts = [
            "",
            "Hello, world!",
            "Say hello",
            "  leading and trailing spaces   ",
            "tabs\tand\nnew\r\nlines\n\n\n",
            "Numbers 1234567890 and 3.14159, 1,000,000.",
            "fn main() { println!(\"{}\", x.iter().map(|v| v * 2).sum::<u64>()); }",
            "I'm sure they'll say it's what we've DONE'S and YOU'RE",
            "Ünïcödé: naïve café, 日本語のテキスト, 한국어, العربية, עברית, Ελληνικά",
            "Emoji 🚀🔥👍🏽 and ZWJ 👨‍👩‍👧‍👦 sequences",
            "<|endoftext|> is only text here",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "xqzjv kwpfz bbbbzzzzqqqq hjkl;;;;''''\"\"\"\"",
            "https://example.com/path?query=1&other=%20#frag",
            "{\"model\": \"gpt-4o\", \"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}",
        ];
        for text in texts {
            assert_eq!(
                ours.count(text),
                theirs.encode_ordinary(text).len() as u64,
                "{text:?}"
            );
        }
        // Longer, varied text: every printable ASCII character and some beyond, in runs.
        let mut long = String::new();
        let mut seed = 7u32;
        for _ in 0..5_000 {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let c = match (seed >> 16) % 10 {
                0 => ' ',
                1 => '\n',
                2 => char::from_u32(0x4e00 + (seed >> 8) % 500).unwrap_or('x'),
                3 => char::from_u32(0xe0 + (seed >> 8) % 30).unwrap_or('x'),
                _ => char::from(32 + ((seed >> 8) % 95) as u8),
            };
            long.push(c);
        }
        assert_eq!(
            ours.count(&long),
            theirs.encode_ordinary(&long).len() as u64
        );
    }
}
