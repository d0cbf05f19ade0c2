//! The internal API between proxies and the server: where each call goes, its parameters and
//! limits, and what it answers. Both sides use these names, so the contract cannot drift.

use serde::{Deserialize, Serialize};

/// `GET`: the configuration snapshot (`SnapshotQuery`), or 304 when nothing newer came in time.
pub const SNAPSHOT_PATH: &str = "/internal/v1/snapshot";
/// `POST`: a `UsageBatch`; answers `Ingested`. Replaying a batch is harmless.
pub const USAGE_PATH: &str = "/internal/v1/usage";
/// `POST`: a `Heartbeat`.
pub const HEARTBEAT_PATH: &str = "/internal/v1/heartbeat";
/// `GET`: a `SpendReport`.
pub const SPEND_PATH: &str = "/internal/v1/spend";

/// The response header that carries a snapshot's version.
pub const CONFIG_VERSION_HEADER: &str = "x-tollgate-config-version";

/// Most events the server accepts in one usage batch.
pub const MAX_USAGE_BATCH: usize = 10_000;
/// Largest usage batch body the server reads, in bytes.
pub const MAX_USAGE_BODY: usize = 32 * 1024 * 1024;
/// Longest a snapshot request may wait for a change, in seconds.
pub const MAX_SNAPSHOT_WAIT_SECS: u64 = 60;

/// The query of a snapshot request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotQuery {
    /// The version the proxy holds; a newer one is answered at once.
    pub after: Option<i64>,
    /// Seconds to wait for a newer version (at most `MAX_SNAPSHOT_WAIT_SECS`).
    pub wait: Option<u64>,
}

/// What storing a usage batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ingested {
    /// Events stored now.
    pub stored: usize,
    /// Events already stored by an earlier delivery of the same batch.
    pub duplicates: usize,
}
