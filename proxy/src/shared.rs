//! What every request and background task shares.

use std::sync::Arc;

use arc_swap::ArcSwap;
use uuid::Uuid;

use crate::active::ActiveConfig;
use crate::budget;
use crate::clock::Clock;
use crate::health::HealthRegistry;
use crate::metrics::Metrics;
use crate::rate_limit::{self, RateLimiter};
use crate::usage::UsageRecorder;

/// What every request and background task shares.
pub(crate) struct Shared {
    /// The configuration in force; swapped whole, read without locks.
    pub(crate) config: ArcSwap<ActiveConfig>,
    pub(crate) health: HealthRegistry,
    /// Active health checks of services' targets.
    pub(crate) prober: crate::probes::Prober,
    pub(crate) limiter: RateLimiter,
    /// Tokens-per-minute limits of keys.
    pub(crate) token_limiter: rate_limit::TokenLimiter,
    /// Limits counted across proxies (with a Redis URL); while it is away, the local ones.
    pub(crate) shared_limits: Option<Arc<crate::shared_limits::SharedLimits>>,
    /// Budgets reserved and settled in Redis (with a Redis URL).
    pub(crate) shared_budgets: Option<Arc<crate::shared_budgets::SharedBudgets>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) usage: UsageRecorder,
    /// Spend of keys with budgets.
    pub(crate) budgets: Arc<budget::Budgets>,
    /// The JWT issuers' keys, for callers with a JWT instead of a key.
    pub(crate) jwt_callers: crate::jwt_callers::JwtCallers,
    /// MCP client sessions and the sessions opened with MCP servers.
    pub(crate) mcp_sessions: crate::mcp::sessions::Sessions,
    /// This process's identity in heartbeats and usage batches.
    pub(crate) dataplane_id: Uuid,
    /// Time for key expiry, limits and budget periods.
    pub(crate) clock: Arc<dyn Clock>,
}
