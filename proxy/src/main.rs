//! The `tollgate-proxy` binary: parses the command line and runs the proxy until a signal.

use clap::Parser;
use tollgate_proxy::config::Config;
use tollgate_proxy::Proxy;

// The hot path allocates small, short-lived buffers per request; mimalloc is faster at that
// than the system allocator (its 2.x line: see the workspace's Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

// The traffic runs on the proxy's own worker threads; this runtime only carries background work.
#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    tollgate_protocol::logging::init(config.log_format, "info");
    let proxy = Proxy::start(&config).await?;
    shutdown_signal().await;
    tracing::info!("shutting down: finishing in-flight requests, flushing usage");
    proxy.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = terminate => {},
    }
}
