//! Logging set-up.

use crate::config::LogFormat;

/// Installs the global subscriber; `RUST_LOG` overrides the default level (info).
pub fn init(format: LogFormat) {
    tollgate_protocol::logging::init(format, "info,sqlx=warn,tower_sessions=warn");
}
