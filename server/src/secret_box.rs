//! Encryption at rest for provider credentials: AES-256-GCM under the master key.
//!
//! The master key comes from `TOLLGATE_MASTER_KEY` (32 bytes, base64 or hex) or, when unset, from
//! `<data dir>/master.key`, generated (mode 0600) on first start. Losing it makes stored
//! credentials unreadable; keep a copy of it with the database backups.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::{bail, Context};
use base64::Engine;
use rand::RngCore;

const NONCE_LEN: usize = 12;

/// Seals and opens secrets; cheap to clone.
#[derive(Clone)]
pub(crate) struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// The master key from the environment value when given, else from the key file in the
    /// data directory (created on first use).
    pub(crate) fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(text) = configured.filter(|t| !t.trim().is_empty()) {
            return Ok(Self::new(&parse_key(text.trim())?));
        }
        let path = data_dir.join("master.key");
        if let Ok(text) = std::fs::read_to_string(&path) {
            return Ok(Self::new(
                &parse_key(text.trim()).with_context(|| format!("reading {}", path.display()))?,
            ));
        }
        std::fs::create_dir_all(data_dir)?;
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        std::fs::write(&path, base64::engine::general_purpose::STANDARD.encode(key))
            .with_context(|| format!("writing {}", path.display()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        tracing::info!(file = %path.display(), "generated the master key for credentials at rest; back it up");
        Ok(Self::new(&key))
    }

    /// Encrypts `plain`, bound to `context` (a row id), as `nonce || ciphertext`.
    pub(crate) fn seal(&self, plain: &[u8], context: &[u8]) -> anyhow::Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Seals a value as JSON, bound to the row `id`.
    pub(crate) fn seal_json(
        &self,
        value: &impl serde::Serialize,
        id: uuid::Uuid,
    ) -> crate::error::ApiResult<Vec<u8>> {
        use crate::error::ApiError;
        let plain = serde_json::to_vec(value).map_err(ApiError::internal)?;
        self.seal(&plain, id.as_bytes()).map_err(ApiError::internal)
    }

    /// Opens what [`SecretBox::seal_json`] sealed for the row `id`.
    pub(crate) fn open_json<T: serde::de::DeserializeOwned>(
        &self,
        sealed: &[u8],
        id: uuid::Uuid,
    ) -> crate::error::ApiResult<T> {
        use crate::error::ApiError;
        let plain = self
            .open(sealed, id.as_bytes())
            .map_err(ApiError::internal)?;
        serde_json::from_slice(&plain).map_err(ApiError::internal)
    }

    /// Decrypts what [`SecretBox::seal`] made for the same `context`.
    pub(crate) fn open(&self, sealed: &[u8], context: &[u8]) -> anyhow::Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("sealed value too short");
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("cannot decrypt: wrong master key, or the data was altered")
            })
    }
}

fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        hex::decode(text)?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .context("the master key is neither 64 hex digits nor base64")?
    };
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the master key must be 32 bytes (256 bits)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_the_same_key_and_context() {
        let sealing = SecretBox::new(&[7; 32]);
        let sealed = sealing
            .seal(b"sk-secret", b"provider-1")
            .unwrap_or_default();
        assert!(!sealed.windows(9).any(|w| w == b"sk-secret"));
        assert_eq!(
            sealing.open(&sealed, b"provider-1").unwrap_or_default(),
            b"sk-secret"
        );
        assert!(sealing.open(&sealed, b"provider-2").is_err());
        assert!(SecretBox::new(&[8; 32])
            .open(&sealed, b"provider-1")
            .is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let first = SecretBox::load(None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let sealed = first.seal(b"x", b"c").unwrap_or_default();
        let second = SecretBox::load(None, dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(second.open(&sealed, b"c").unwrap_or_default(), b"x");
        let mode = std::fs::metadata(dir.path().join("master.key"))
            .map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        assert!(SecretBox::load(Some("tooshort"), dir.path()).is_err());
        assert!(SecretBox::load(Some(&"ab".repeat(32)), dir.path()).is_ok());
    }
}
