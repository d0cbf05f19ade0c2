//! Turns the token counter's vocabulary (`assets/o200k_base.tiktoken`: base64 tokens, one a
//! line, in rank order) into the bytes the proxy embeds: every token's bytes back to back
//! (`o200k.tokens`) and where each ends (`o200k.ends`, little-endian u32 per rank). Decoded
//! here, not at run time: the proxy then holds 2 MiB of vocabulary rather than 3.6 MiB of
//! text plus its decoded copy.

#![allow(clippy::expect_used, reason = "a build script fails by panicking")]

use std::path::PathBuf;

use base64::Engine as _;

const VOCABULARY: &str = "assets/o200k_base.tiktoken";

fn main() {
    println!("cargo::rerun-if-changed={VOCABULARY}");
    let text = std::fs::read_to_string(VOCABULARY).expect("the vocabulary is readable");
    let mut tokens = Vec::new();
    let mut ends = Vec::new();
    for (expected_rank, line) in text.lines().enumerate() {
        let (token, rank) = line
            .split_once(' ')
            .expect("each line is `<base64> <rank>`");
        // The proxy finds a token by its rank's position: ranks must count up from 0.
        assert_eq!(rank.parse::<usize>().ok(), Some(expected_rank), "{line:?}");
        base64::engine::general_purpose::STANDARD
            .decode_vec(token, &mut tokens)
            .expect("each token is base64");
        let end = u32::try_from(tokens.len()).expect("the vocabulary fits u32 offsets");
        ends.extend_from_slice(&end.to_le_bytes());
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("o200k.tokens"), tokens).expect("OUT_DIR is writable");
    std::fs::write(out.join("o200k.ends"), ends).expect("OUT_DIR is writable");
}
