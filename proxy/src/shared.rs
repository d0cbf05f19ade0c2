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
pub struct Shared {
    /// The configuration in force; swapped whole, read without locks.
    pub config: ArcSwap<ActiveConfig>,
    pub health: HealthRegistry,
    pub limiter: RateLimiter,
    /// Tokens-per-minute limits of keys.
    pub token_limiter: rate_limit::TokenLimiter,
    pub metrics: Arc<Metrics>,
    pub usage: UsageRecorder,
    /// Spend of keys with budgets.
    pub budgets: Arc<budget::Budgets>,
    /// This process's identity in heartbeats and usage batches.
    pub dataplane_id: Uuid,
    /// Time for key expiry, limits and budget periods.
    pub clock: Arc<dyn Clock>,
}
