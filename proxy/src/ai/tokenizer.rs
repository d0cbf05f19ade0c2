//! Counts tokens as OpenAI's o200k tokenizer splits text (the counts `tiktoken` gives), for
//! estimates. It keeps only what counting needs: the vocabulary, decoded at build time
//! (`build.rs`) and embedded, and a table of ranks found by their token's bytes. Loading it
//! adds about 5 MiB to the process (the vocabulary's 2 MiB, the table's 1.3, the pattern's 1.5).
//! `tiktoken-rs` also keeps a decoder and a sorted copy of the vocabulary, each token in its own
//! allocation: about 47 MiB, loaded the first time a proxy estimates (a client hanging up
//! mid-stream is enough), more than its traffic needs.

use std::hash::BuildHasher as _;

use fancy_regex::Regex;
use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

/// o200k_base's tokens (special tokens aside), each one's bytes back to back in rank order.
static TOKENS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k.tokens"));
/// Where each rank's token ends in `TOKENS`: a little-endian u32 per rank.
static ENDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/o200k.ends"));

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

/// The bytes of the token of `rank` (a rank in the vocabulary).
fn token(rank: Rank) -> &'static [u8] {
    let end = |rank: usize| {
        let at = rank * 4;
        ENDS.get(at..at + 4).map_or(0, |end| {
            u32::from_le_bytes([end[0], end[1], end[2], end[3]]) as usize
        })
    };
    let rank = rank as usize;
    let start = rank.checked_sub(1).map_or(0, end);
    TOKENS.get(start..end(rank)).unwrap_or_default()
}

/// A byte-pair-encoding token counter.
pub(crate) struct Tokenizer {
    /// Every rank, found by its token's bytes (hashed with `FxBuildHasher`).
    ranks: HashTable<Rank>,
    pieces: Regex,
}

impl Tokenizer {
    /// o200k, loaded once for the process's life (the caller keeps it in a static).
    pub(crate) fn o200k() -> Result<Self, String> {
        let count = Rank::try_from(ENDS.len() / 4).map_err(|_| "the vocabulary is too large")?;
        let mut ranks = HashTable::with_capacity(count as usize);
        for rank in 0..count {
            let hash = FxBuildHasher.hash_one(token(rank));
            ranks.insert_unique(hash, rank, |&rank| FxBuildHasher.hash_one(token(rank)));
        }
        let pieces = Regex::new(O200K_PATTERN).map_err(|e| e.to_string())?;
        Ok(Self { ranks, pieces })
    }

    /// The rank of the token made of `bytes`, if the vocabulary has one.
    fn rank(&self, bytes: &[u8]) -> Option<Rank> {
        let hash = FxBuildHasher.hash_one(bytes);
        self.ranks.find(hash, |&rank| token(rank) == bytes).copied()
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
            tokens += if self.rank(piece).is_some() {
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
        let rank_of = |bytes: &[u8]| self.rank(bytes).unwrap_or(Rank::MAX);
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
