//! Flags and environment variables of `tollgate-proxy`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

/// Tollgate data plane: serves REST routes with API keys, limits and usage metering, configured
/// by tollgate-server. Keeps serving from its cached configuration while the server is down.
#[derive(Debug, Clone, Parser)]
#[command(name = "tollgate-proxy", version, about, long_about)]
pub struct Config {
    /// URL of tollgate-server, where the configuration is pulled from and usage is sent.
    #[arg(
        long,
        env = "TOLLGATE_SERVER_URL",
        default_value = "http://127.0.0.1:8001"
    )]
    pub server_url: String,

    /// Address client traffic arrives on.
    #[arg(long, env = "TOLLGATE_PROXY_LISTEN", default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,

    /// Address of /metrics, /healthz and /readyz.
    #[arg(
        long,
        env = "TOLLGATE_METRICS_LISTEN",
        default_value = "127.0.0.1:9000"
    )]
    pub metrics_listen: SocketAddr,

    /// Directory for the cached configuration and spooled usage.
    #[arg(long, env = "TOLLGATE_PROXY_DATA_DIR", default_value = "./data/proxy")]
    pub data_dir: PathBuf,

    /// Worker threads serving traffic (each with its own event loop); 0 means one per CPU.
    #[arg(long, env = "TOLLGATE_PROXY_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Token shared with the server (its TOLLGATE_PROXY_TOKEN).
    #[arg(long, env = "TOLLGATE_PROXY_TOKEN", hide_env_values = true)]
    pub proxy_token: Option<String>,

    /// Log format.
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Most connections one client address may hold open at once (0: no limit). Behind a load
    /// balancer that does not keep client addresses, raise it or turn it off.
    #[arg(
        long,
        env = "TOLLGATE_PROXY_MAX_CONNECTIONS_PER_CLIENT",
        default_value_t = 1024
    )]
    pub max_connections_per_client: usize,

    /// Time a client has to send a request's headers (and to send its first bytes on a new
    /// connection); also how long an idle keep-alive connection stays open. Like 20s or 500ms.
    #[arg(long, env = "TOLLGATE_PROXY_HEADER_TIMEOUT", default_value = "20s",
          value_parser = humantime::parse_duration)]
    pub header_timeout: Duration,

    /// Redis (or any server speaking its protocol: Valkey, a managed Redis) through which every
    /// proxy counts request and token limits together, like redis://:password@host:6379/0.
    /// Without it, each proxy counts its own: N proxies admit up to N times a key's limit.
    #[arg(long, env = "TOLLGATE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// How shared limits are counted: `sync` takes leases of a key's requests from Redis and
    /// admits from them, asking again when one runs out (the proxies together never pass the
    /// limit; about one Redis call per 100 ms per busy key); `strict` asks Redis on every request
    /// (exact, one round trip each).
    #[arg(long, env = "TOLLGATE_LIMITS_MODE", value_enum, default_value_t = LimitMode::Sync)]
    pub limits_mode: LimitMode,

    /// How often (sync mode) a proxy adds its token counts to Redis, reads the totals, and gives
    /// back a lease it did not touch. Like 100ms.
    #[arg(long, env = "TOLLGATE_REDIS_SYNC_INTERVAL", default_value = "100ms",
          value_parser = humantime::parse_duration)]
    pub redis_sync_interval: Duration,

    /// With a Redis URL, what budgets do while Redis cannot be reached: `fail_open` admits by
    /// this proxy's own view of the spend (the server's reports plus its own calls), as without
    /// Redis; `fail_closed` refuses calls of keys with a budget (503) until Redis answers.
    #[arg(long, env = "TOLLGATE_BUDGET_FAILURE", value_enum, default_value_t = BudgetFailure::FailOpen)]
    pub budget_failure: BudgetFailure,

    /// With a Redis URL, the most output tokens a call that sets no max_tokens
    /// (max_completion_tokens, max_output_tokens) is assumed to produce: its reservation
    /// against the key's budget is its input plus the model's output limit (from the price
    /// catalog), capped by this, at the model's prices; this when the limit is unknown.
    #[arg(
        long,
        env = "TOLLGATE_BUDGET_MAX_OUTPUT_TOKENS",
        default_value_t = 4096
    )]
    pub budget_max_output_tokens: u64,
}

pub use tollgate_protocol::logging::LogFormat;

pub use crate::shared_budgets::BudgetFailure;
pub use crate::shared_limits::LimitMode;
