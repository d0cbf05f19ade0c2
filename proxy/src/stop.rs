//! The stop signal background tasks and workers watch.

use tokio::sync::watch;

/// Completes once the stop signal is raised (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
