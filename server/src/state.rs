//! What every request handler shares.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::secret_box::SecretBox;

/// Shared state of the admin and internal APIs.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) db: PgPool,
    /// Reverse proxies whose `X-Forwarded-For` names the real client.
    pub(crate) trusted_proxies: Arc<Vec<ipnet::IpNet>>,
    /// SHA-256 of the token proxies present; `None` turns the internal API off.
    pub(crate) proxy_token_hash: Option<Arc<Vec<u8>>>,
    /// The newest configuration version.
    pub(crate) config_version: watch::Receiver<i64>,
    /// The last snapshot built, as JSON, with its version: many proxies, one build.
    pub(crate) snapshot_cache: Arc<Mutex<Option<(i64, Bytes)>>>,
    /// Encrypts provider credentials at rest.
    pub(crate) secrets: SecretBox,
    /// Turns true when the server shuts down.
    pub(crate) stopping: watch::Receiver<bool>,
    /// The console's URL as browsers reach it, when configured (links, SSO redirects).
    pub(crate) public_url: Option<Arc<str>>,
    /// Talks to identity providers for single sign-on.
    pub(crate) oidc: Arc<crate::oidc::Oidc>,
    /// When usage ingest last wrote each key's last use.
    pub(crate) key_use: Arc<crate::service::usage::KeyUse>,
}

impl AppState {
    pub(crate) fn new(
        db: PgPool,
        proxy_token_hash: Option<Vec<u8>>,
        config_version: watch::Receiver<i64>,
        stopping: watch::Receiver<bool>,
        secrets: SecretBox,
    ) -> Self {
        Self {
            stopping,
            secrets,
            db,
            trusted_proxies: Arc::default(),
            proxy_token_hash: proxy_token_hash.map(Arc::new),
            config_version,
            snapshot_cache: Arc::default(),
            public_url: None,
            oidc: Arc::new(crate::oidc::Oidc::new()),
            key_use: Arc::default(),
        }
    }
}

impl AppState {
    /// The console's URL as browsers reach it: the configured public URL, else the host this
    /// request came to.
    pub(crate) fn public_base(&self, headers: &axum::http::HeaderMap) -> String {
        if let Some(url) = &self.public_url {
            return url.to_string();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
            })
            .unwrap_or("127.0.0.1:8001");
        format!("http://{host}")
    }
}
