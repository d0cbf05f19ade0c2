//! Follows the configuration version: Postgres NOTIFY for speed, a periodic read to catch
//! anything a dropped connection missed.

use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::service::config_version::CHANNEL;

/// How often the version is read even without a notification.
const POLL_EVERY: Duration = Duration::from_secs(5);

/// Starts following the version until `stopping` turns true; the receiver always holds the
/// newest version seen. Await the handle before closing the pool, so the watcher never sees it
/// closed under it.
pub(crate) async fn spawn(
    db: PgPool,
    mut stopping: watch::Receiver<bool>,
) -> anyhow::Result<(watch::Receiver<i64>, tokio::task::JoinHandle<()>)> {
    let initial = current(&db).await?;
    let (sender, receiver) = watch::channel(initial);
    let task = tokio::spawn(async move {
        tokio::select! {
            () = follow(db, sender) => {}
            _ = stopping.wait_for(|stop| *stop) => {}
        }
    });
    Ok((receiver, task))
}

async fn current(db: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT version FROM config_version")
        .fetch_one(db)
        .await
}

async fn follow(db: PgPool, sender: watch::Sender<i64>) {
    let publish = |version: i64| {
        sender.send_if_modified(|seen| {
            let newer = version > *seen;
            if newer {
                *seen = version;
            }
            newer
        });
    };
    loop {
        let mut listener = match PgListener::connect_with(&db).await {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "config watch: cannot listen; retrying");
                tokio::time::sleep(POLL_EVERY).await;
                continue;
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "config watch: LISTEN failed; retrying");
            tokio::time::sleep(POLL_EVERY).await;
            continue;
        }
        loop {
            if sender.is_closed() {
                return;
            }
            match tokio::time::timeout(POLL_EVERY, listener.try_recv()).await {
                Ok(Ok(Some(notification))) => {
                    if let Ok(version) = notification.payload().parse() {
                        publish(version);
                    }
                }
                // A quiet interval, or a dropped connection that may have lost notifications.
                Ok(Ok(None)) | Err(_) => {
                    if let Ok(version) = current(&db).await {
                        publish(version);
                    }
                }
                Ok(Err(err)) => {
                    tracing::warn!(error = %err, "config watch: listener failed; reconnecting");
                    break;
                }
            }
            if db.is_closed() {
                return;
            }
        }
    }
}
