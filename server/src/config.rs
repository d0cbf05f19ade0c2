//! Command-line flags and environment variables of `tollgate-server`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;

/// Tollgate control plane: the admin API, the web console and the configuration the proxies pull.
///
/// With no DATABASE_URL, the server runs its own private PostgreSQL cluster from the installed
/// PostgreSQL binaries, kept in <data dir>/postgres.
#[derive(Debug, Clone, Parser)]
#[command(name = "tollgate-server", version, about, long_about)]
pub struct Config {
    /// What to do instead of serving (nothing: serve).
    #[command(subcommand)]
    pub command: Option<Command>,

    /// The console's URL as browsers reach it, like https://tollgate.example.com (for password
    /// reset links and single sign-on redirects); default: the address each request came to.
    #[arg(long, env = "TOLLGATE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Address the admin API and console listen on.
    #[arg(long, env = "TOLLGATE_LISTEN", default_value = "127.0.0.1:8001")]
    pub listen: SocketAddr,

    /// PostgreSQL connection URL. When unset, a private cluster is started in the data directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Directory for the server's state (the embedded PostgreSQL cluster among it).
    #[arg(long, env = "TOLLGATE_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "TOLLGATE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Email of the platform admin created on first start.
    #[arg(long, env = "TOLLGATE_ADMIN_EMAIL", default_value = "admin@localhost")]
    pub admin_email: String,

    /// Password of the platform admin created on first start. When unset, a random one is
    /// generated and printed once.
    #[arg(long, env = "TOLLGATE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Token the proxies present to pull configuration and post usage (the same value is given
    /// to every tollgate-proxy). Unset: the proxy API is off.
    #[arg(long, env = "TOLLGATE_PROXY_TOKEN", hide_env_values = true)]
    pub proxy_token: Option<String>,

    /// Key that encrypts provider credentials at rest: 32 bytes as base64 or 64 hex digits.
    /// Unset: kept in <data dir>/master.key, generated on first start.
    #[arg(long, env = "TOLLGATE_MASTER_KEY", hide_env_values = true)]
    pub master_key: Option<String>,

    /// Days of usage events and rollups kept.
    #[arg(long, env = "TOLLGATE_USAGE_RETENTION_DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub usage_retention_days: u32,

    /// Mark session cookies `Secure` (send them over HTTPS only). Turn on behind TLS.
    #[arg(long, env = "TOLLGATE_SECURE_COOKIES", default_value_t = false)]
    pub secure_cookies: bool,

    /// The proxy's address as clients reach it. The console's try-it form calls prompt APIs
    /// there, and its curl snippets show it.
    #[arg(
        long,
        env = "TOLLGATE_PROXY_URL",
        default_value = "http://127.0.0.1:8000"
    )]
    pub proxy_url: String,

    /// Where the server itself reaches the proxy for try-it calls, when that differs from
    /// `--proxy-url` (containers, private networks). Default: `--proxy-url`.
    #[arg(long, env = "TOLLGATE_PROXY_INTERNAL_URL")]
    pub proxy_internal_url: Option<String>,

    /// Reverse proxies in front of the server (CIDRs, comma-separated, like 10.0.0.0/8). For
    /// requests from them, the client address (sign-in throttling, audit) is taken from
    /// `X-Forwarded-For`; from anyone else that header is ignored.
    #[arg(long, env = "TOLLGATE_TRUSTED_PROXIES", value_delimiter = ',',
          value_parser = parse_cidr)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Time a client has to send a request's headers (and its first bytes on a new
    /// connection); also how long an idle keep-alive connection stays open. Like 20s or 500ms.
    #[arg(long, env = "TOLLGATE_HEADER_TIMEOUT", default_value = "20s",
          value_parser = humantime::parse_duration)]
    pub header_timeout: std::time::Duration,
}

fn parse_cidr(text: &str) -> Result<ipnet::IpNet, String> {
    tollgate_protocol::egress::parse_cidr(text)
        .ok_or_else(|| format!("'{text}' is not an address or CIDR like 10.0.0.0/8"))
}

pub use tollgate_protocol::logging::LogFormat;

/// What to do instead of serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Administration on the server's own machine.
    #[command(subcommand)]
    Admin(AdminCommand),
}

/// The commands under `admin`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AdminCommand {
    /// Print a one-time link that sets a new password for EMAIL (for the last platform admin
    /// who forgot theirs). Uses the same database settings as the server.
    ResetPassword {
        /// The account's email.
        email: String,
    },
}

impl Config {
    /// A configuration for tests and embedding: the given database, an ephemeral loopback port.
    pub fn for_database(database_url: &str, data_dir: PathBuf) -> Self {
        Self {
            command: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            database_url: Some(database_url.to_string()),
            data_dir,
            log_format: LogFormat::Text,
            admin_email: "admin@localhost".to_string(),
            admin_password: None,
            secure_cookies: false,
            proxy_token: None,
            master_key: None,
            usage_retention_days: 90,
            proxy_url: "http://127.0.0.1:8000".to_string(),
            proxy_internal_url: None,
            trusted_proxies: Vec::new(),
            header_timeout: std::time::Duration::from_secs(20),
            public_url: None,
        }
    }
}
