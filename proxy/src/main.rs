//! tollgate-proxy: Tollgate's data plane. In this first version it answers health checks and
//! refuses traffic with a clear error; routing, keys and limits arrive with the proxy issue.

use std::net::SocketAddr;

use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use clap::Parser;
use serde_json::json;

/// Tollgate data plane: enforces keys, routes and limits pulled from tollgate-server.
#[derive(Debug, Parser)]
#[command(name = "tollgate-proxy", version, about)]
struct Config {
    /// URL of tollgate-server, where the configuration is pulled from.
    #[arg(
        long,
        env = "TOLLGATE_SERVER_URL",
        default_value = "http://127.0.0.1:8001"
    )]
    server_url: String,
    /// Address that client traffic arrives on.
    #[arg(long, env = "TOLLGATE_PROXY_LISTEN", default_value = "0.0.0.0:8000")]
    listen: SocketAddr,
    /// Address of the health endpoint (/healthz; /metrics and /readyz arrive with the data plane).
    #[arg(
        long,
        env = "TOLLGATE_METRICS_LISTEN",
        default_value = "127.0.0.1:9000"
    )]
    metrics_listen: SocketAddr,
    /// Directory for the cached snapshot and spooled usage.
    #[arg(long, env = "TOLLGATE_PROXY_DATA_DIR", default_value = "./data/proxy")]
    data_dir: std::path::PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().init();
    let config = Config::parse();

    let traffic = Router::new().fallback(|| async {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"error": {
                "message": "this proxy has no routes yet: the data plane is not built yet",
                "type": "unavailable", "code": "no_configuration"}})),
        )
    });
    let health = Router::new().route("/healthz", get(|| async { Json(json!({"status": "ok"})) }));

    let traffic_listener = tokio::net::TcpListener::bind(config.listen).await?;
    let health_listener = tokio::net::TcpListener::bind(config.metrics_listen).await?;
    tracing::info!(listen = %config.listen, metrics = %config.metrics_listen,
        server = %config.server_url, data_dir = %config.data_dir.display(), "tollgate-proxy started");
    tokio::try_join!(
        async { axum::serve(traffic_listener, traffic).await },
        async { axum::serve(health_listener, health).await },
    )?;
    Ok(())
}
