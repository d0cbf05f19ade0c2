//! Secrets handed to users once (API keys, admin tokens) and the hashes we keep instead.

use rand::distributions::{Alphanumeric, DistString};
use sha2::{Digest, Sha256};

/// Prefix of data-plane API keys.
pub(crate) const API_KEY_PREFIX: &str = "tg_";
/// Prefix of personal admin tokens.
pub(crate) const ADMIN_TOKEN_PREFIX: &str = "tga_";
/// Random base62 characters after the prefix (about 238 bits).
const RANDOM_LEN: usize = 40;
/// Characters of the secret shown in lists so users can tell keys apart.
const DISPLAY_LEN: usize = 8;

/// A freshly made secret: the full text for the user, and what the database keeps.
pub(crate) struct NewSecret {
    pub(crate) secret: String,
    pub(crate) hash: Vec<u8>,
    pub(crate) display_prefix: String,
}

/// Makes a secret `<prefix><40 random base62 characters>` from the OS-seeded CSPRNG.
pub(crate) fn generate(prefix: &str) -> NewSecret {
    let random = Alphanumeric.sample_string(&mut rand::thread_rng(), RANDOM_LEN);
    let secret = format!("{prefix}{random}");
    NewSecret {
        hash: hash(&secret),
        display_prefix: format!("{prefix}{}", &random[..DISPLAY_LEN]),
        secret,
    }
}

/// Enough of a credential to recognise it, like "sk-…f3a9" ("…" for short ones, "none" for
/// none): shown instead of write-only credentials.
pub(crate) fn hint(secret: Option<&str>) -> String {
    match secret {
        None => "none".into(),
        Some(secret) if secret.chars().count() < 12 => "…".into(),
        Some(secret) => {
            let head: String = secret.chars().take(3).collect();
            let tail: String = secret
                .chars()
                .rev()
                .take(4)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            format!("{head}…{tail}")
        }
    }
}

/// SHA-256 of a secret: enough for high-entropy random secrets, and fast to look up.
pub(crate) fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hints_reveal_too_little_to_use() {
        assert_eq!(hint(Some("sk-proj-abcdefghijklmnop1234")), "sk-…1234");
        assert_eq!(hint(Some("short")), "…");
        assert_eq!(hint(None), "none");
    }

    #[test]
    fn api_keys_are_prefixed_base62_and_hash_to_what_is_stored() {
        let key = generate(API_KEY_PREFIX);
        let random = key.secret.strip_prefix("tg_").unwrap_or_default();
        assert_eq!(random.len(), 40);
        assert!(random.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_eq!(key.hash, hash(&key.secret));
        assert!(key.secret.starts_with(&key.display_prefix));
        assert_ne!(generate(API_KEY_PREFIX).secret, key.secret);
    }
}
