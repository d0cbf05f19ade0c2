//! Follows the server's configuration: long-polls for snapshots, swaps each in atomically,
//! keeps the last good one on disk, and reports the loaded version in heartbeats.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};
use tollgate_protocol::internal::{self, SnapshotQuery};
use tollgate_protocol::{Heartbeat, Snapshot};

use crate::active::ActiveConfig;
use crate::shared::Shared;

/// How long the server may hold a snapshot request open.
const LONG_POLL_SECS: u64 = 25;
const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
const SPEND_EVERY: Duration = Duration::from_secs(2);
const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(10);

/// Puts a snapshot in force: compiled, swapped in (readers never wait), old limiter state pruned.
pub(crate) fn apply(shared: &Shared, snapshot: &Snapshot) {
    let active = ActiveConfig::compile(snapshot, &shared.health, &shared.metrics);
    let keys = limited_ids(&active);
    tracing::info!(
        version = active.version,
        routes = active.routes.len(),
        keys = active.keys.len(),
        "configuration loaded"
    );
    shared.metrics.snapshot_version.set(active.version);
    let previous = shared.config.swap(Arc::new(active));
    shared.prober.apply(&snapshot.services, &shared.health);
    // Only the buckets of keys (and subscriptions) that are gone are let go: JWT callers,
    // whose ids no snapshot lists, keep their minute across configuration changes.
    let gone: std::collections::HashSet<uuid::Uuid> =
        limited_ids(&previous).difference(&keys).copied().collect();
    if !gone.is_empty() {
        shared.limiter.retain(|key| !gone.contains(key));
    }
}

/// The ids request limits are counted under: keys and their subscriptions.
fn limited_ids(config: &ActiveConfig) -> std::collections::HashSet<uuid::Uuid> {
    config
        .keys
        .values()
        .flat_map(|k| k.reaches().map(|reach| reach.id))
        .collect()
}

/// The snapshot holds provider credentials, so its copy on disk is encrypted (AES-256-GCM) with a
/// key derived from the proxy token: useless to whoever reads the file without the token.
fn cache_cipher(token: &str) -> Aes256Gcm {
    let key: [u8; 32] = Sha256::digest(format!("tollgate proxy snapshot cache v1:{token}")).into();
    Aes256Gcm::new(&key.into())
}

const NONCE_LEN: usize = 12;

/// The cached snapshot, if a readable one is on disk.
pub(crate) fn load_cache(path: &Path, token: Option<&str>) -> Option<Snapshot> {
    let sealed = std::fs::read(path).ok()?;
    let opened = token
        .filter(|_| sealed.len() > NONCE_LEN)
        .and_then(|token| {
            let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
            cache_cipher(token)
                .decrypt(Nonce::from_slice(nonce), ciphertext)
                .ok()
        });
    let Some(bytes) = opened else {
        tracing::warn!(file = %path.display(), "ignoring a cached snapshot this token cannot open");
        return None;
    };
    match serde_json::from_slice(&bytes) {
        Ok(snapshot) => Some(snapshot),
        Err(err) => {
            tracing::warn!(file = %path.display(), error = %err, "ignoring an unreadable cached snapshot");
            None
        }
    }
}

/// Writes the snapshot encrypted and atomically, readable by this user only.
fn store_cache(path: &Path, token: Option<&str>, body: &[u8]) -> std::io::Result<()> {
    let Some(token) = token else { return Ok(()) };
    let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let sealed = cache_cipher(token)
        .encrypt(&nonce, body)
        .map_err(|_| std::io::Error::other("encrypting the snapshot failed"))?;
    let temporary = path.with_extension("tmp");
    std::fs::write(&temporary, [nonce.as_slice(), &sealed].concat())?;
    std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))?;
    std::fs::rename(&temporary, path)
}

/// An HTTP client for calls to the server, each bounded by `timeout`.
pub(crate) fn server_client(timeout: Duration) -> anyhow::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|err| anyhow::anyhow!("building the HTTP client for the server: {err}"))
}

/// Time allowed for one snapshot long-poll: the server's wait plus room to answer.
pub(crate) const LONG_POLL_TIMEOUT: Duration = Duration::from_secs(LONG_POLL_SECS + 15);
/// Time allowed for other calls to the server.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(5);

/// Talks to the server for the proxy.
pub(crate) struct Syncer {
    /// For snapshot long-polls (`LONG_POLL_TIMEOUT`).
    pub(crate) long_poll: reqwest::Client,
    /// For heartbeats and spend reports (`CALL_TIMEOUT`).
    pub(crate) client: reqwest::Client,
    pub(crate) shared: Arc<Shared>,
    pub(crate) server_url: String,
    pub(crate) token: Option<String>,
    pub(crate) cache_path: PathBuf,
    pub(crate) listen_address: String,
    pub(crate) started: Instant,
    pub(crate) loaded: Arc<Notify>,
}

impl Syncer {
    /// Long-polls for newer snapshots until `stop`.
    pub(crate) async fn follow(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let client = &self.long_poll;
        let mut backoff = BACKOFF_MIN;
        loop {
            let after = self.shared.config.load().version;
            let query = SnapshotQuery {
                after: Some(after),
                wait: Some(LONG_POLL_SECS),
            };
            let url = format!("{}{}", self.server_url, internal::SNAPSHOT_PATH);
            let mut request = client.get(url).query(&query);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let outcome = tokio::select! {
                outcome = request.send() => outcome,
                _ = crate::stop::stopped(&mut stop) => return,
            };
            match self.take(outcome).await {
                Ok(()) => backoff = BACKOFF_MIN,
                Err(why) => {
                    tracing::warn!(%why, retry_in = ?backoff, "cannot pull configuration");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = crate::stop::stopped(&mut stop) => return,
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
            }
        }
    }

    async fn take(&self, outcome: reqwest::Result<reqwest::Response>) -> Result<(), String> {
        let response = outcome.map_err(|e| e.to_string())?;
        match response.status().as_u16() {
            304 => Ok(()),
            200 => {
                let body = response.bytes().await.map_err(|e| e.to_string())?;
                let snapshot: Snapshot = serde_json::from_slice(&body)
                    .map_err(|e| format!("unreadable snapshot: {e}"))?;
                if snapshot.version <= self.shared.config.load().version {
                    return Ok(());
                }
                apply(&self.shared, &snapshot);
                if let Err(err) = store_cache(&self.cache_path, self.token.as_deref(), &body) {
                    tracing::warn!(error = %err, "cannot cache the snapshot on disk");
                }
                self.loaded.notify_one();
                Ok(())
            }
            status => {
                let detail = response.text().await.unwrap_or_default();
                Err(format!("server answered {status}: {detail}"))
            }
        }
    }

    /// Fetches every budgeted key's spend from the server every couple of seconds.
    pub(crate) async fn spend(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let client = &self.client;
        let url = format!("{}{}", self.server_url, internal::SPEND_PATH);
        loop {
            let (asked, asked_at) = (Instant::now(), self.shared.clock.now_utc());
            let mut request = client.get(&url);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            let report = async {
                request
                    .send()
                    .await?
                    .error_for_status()?
                    .json::<tollgate_protocol::SpendReport>()
                    .await
            };
            match report.await {
                Ok(report) => {
                    self.shared.budgets.report(&report, asked, asked_at);
                    if let Some(shared_budgets) = &self.shared.shared_budgets {
                        let budgets = self.shared.config.load().key_budgets();
                        shared_budgets
                            .raise_to_stored(&report, &budgets, asked_at)
                            .await;
                    }
                }
                Err(err) => tracing::debug!(error = %err, "spend report failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(SPEND_EVERY) => {}
                _ = crate::stop::stopped(&mut stop) => return,
            }
        }
    }

    /// Reports the loaded version every few seconds, and at once after each new snapshot.
    pub(crate) async fn heartbeats(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let client = &self.client;
        let hostname = nix::unistd::gethostname()
            .ok()
            .and_then(|h| h.into_string().ok())
            .unwrap_or_else(|| "unknown".into());
        let url = format!("{}{}", self.server_url, internal::HEARTBEAT_PATH);
        loop {
            let heartbeat = Heartbeat {
                id: self.shared.dataplane_id,
                hostname: hostname.clone(),
                address: self.listen_address.clone(),
                version: self.shared.config.load().version,
                uptime_secs: self.started.elapsed().as_secs(),
                proxy_version: env!("CARGO_PKG_VERSION").into(),
                limits: Some(
                    match &self.shared.shared_limits {
                        None => "local",
                        Some(limits) if limits.is_up() => "shared",
                        Some(_) => "local_fallback",
                    }
                    .into(),
                ),
            };
            let mut request = client.post(&url).json(&heartbeat);
            if let Some(token) = &self.token {
                request = request.bearer_auth(token);
            }
            if let Err(err) = request.send().await.and_then(|r| r.error_for_status()) {
                tracing::debug!(error = %err, "heartbeat failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(HEARTBEAT_EVERY) => {}
                _ = self.loaded.notified() => {}
                _ = limits_changed(&self.shared) => {}
                _ = crate::stop::stopped(&mut stop) => return,
            }
        }
    }
}

/// Resolves when shared limits stop or resume (never without a Redis URL).
async fn limits_changed(shared: &Shared) {
    match &shared.shared_limits {
        Some(limits) => limits.changed.notified().await,
        None => std::future::pending().await,
    }
}
