//! tollgate-server: Tollgate's control plane. The admin API, the console, and (later) the
//! configuration the proxies pull, on PostgreSQL.

mod access;
pub mod api;
mod app;
mod auth;
mod bootstrap;
pub mod config;
mod config_watch;
pub mod db;
mod embedded_pg;
mod error;
mod extract;
mod login_throttle;
mod mcp_client;
mod merge_patch;
mod money;
mod oidc;
mod password;
mod roles;
mod secret_box;
mod secrets;
mod serve;
mod service;
mod state;
pub mod telemetry;
mod validate;

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tower_sessions_sqlx_store::PostgresStore;

pub use crate::bootstrap::CreatedAdmin;
use crate::config::Config;
use crate::embedded_pg::EmbeddedPostgres;
/// Configuration documents checked without a database, for `tollgate validate`.
pub use crate::service::config_doc::{check_document, Checked as CheckedDocument};
use crate::service::usage;
use crate::state::AppState;

/// `tollgate-server admin reset-password EMAIL`: a one-time password reset link for the
/// account, made directly in the database (the server's, or its private cluster) — for the
/// last platform admin who forgot their password.
pub async fn reset_password_link(config: &Config, email: &str) -> anyhow::Result<String> {
    let (url, embedded) = match &config.database_url {
        Some(url) => (url.clone(), None),
        None => {
            let pg = EmbeddedPostgres::start(&config.data_dir).await?;
            (pg.url(), Some(pg))
        }
    };
    let made = async {
        let db = db::connect(&url).await?;
        db::prepare_schema(&db).await?;
        let base = match &config.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => {
                let mut listen = config.listen;
                if listen.ip().is_unspecified() {
                    listen.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                format!("http://{listen}")
            }
        };
        let link = service::password_resets::create_for_email(&db, email.trim(), &base)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        db.close().await;
        anyhow::Ok(link)
    }
    .await;
    if let Some(pg) = embedded.filter(|pg| !pg.adopted()) {
        pg.stop().await?;
    }
    let link = made?;
    Ok(format!(
        "{} (for {}, works once until {})",
        link.link, link.email, link.expires_at
    ))
}

/// A started server: database ready, migrations applied, socket bound.
pub struct Server {
    listener: TcpListener,
    router: Router,
    db: PgPool,
    embedded: Option<EmbeddedPostgres>,
    created_admin: Option<CreatedAdmin>,
    /// Raised at shutdown, so long-polling proxies are answered at once instead of holding
    /// the graceful shutdown up.
    stopping: tokio::sync::watch::Sender<bool>,
    header_timeout: std::time::Duration,
    /// Follows the configuration version; stopped before the pool closes.
    config_watch: tokio::task::JoinHandle<()>,
}

/// What `prepare` readies for serving.
struct Prepared {
    listener: TcpListener,
    router: Router,
    db: PgPool,
    created_admin: Option<CreatedAdmin>,
    config_watch: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Prepares everything up to accepting connections: the database (the private cluster when
    /// no URL is configured), migrations, the first admin, and the listening socket.
    pub async fn start(config: &Config) -> anyhow::Result<Self> {
        let (url, embedded) = match &config.database_url {
            Some(url) => (url.clone(), None),
            None => {
                let pg = EmbeddedPostgres::start(&config.data_dir).await?;
                (pg.url(), Some(pg))
            }
        };
        let (stopping, stop_signal) = tokio::sync::watch::channel(false);
        match Self::prepare(config, &url, stop_signal).await {
            Ok(prepared) => Ok(Self {
                listener: prepared.listener,
                router: prepared.router,
                db: prepared.db,
                embedded,
                created_admin: prepared.created_admin,
                stopping,
                header_timeout: config.header_timeout,
                config_watch: prepared.config_watch,
            }),
            Err(err) => {
                if let Some(pg) = embedded {
                    let _ = pg.stop().await;
                }
                Err(err)
            }
        }
    }

    async fn prepare(
        config: &Config,
        url: &str,
        stopping: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Prepared> {
        let db = db::connect(url).await?;
        db::prepare_schema(&db).await?;
        let session_store = PostgresStore::new(db.clone());
        let created_admin =
            bootstrap::ensure_admin(&db, &config.admin_email, config.admin_password.as_deref())
                .await?;
        usage::maintain_partitions(&db, config.usage_retention_days).await?;
        app::spawn_maintenance(
            db.clone(),
            session_store.clone(),
            config.usage_retention_days,
        );
        let (versions, config_watch) = config_watch::spawn(db.clone(), stopping.clone()).await?;
        let proxy_token_hash = config
            .proxy_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .map(secrets::hash);
        if proxy_token_hash.is_none() {
            tracing::warn!("TOLLGATE_PROXY_TOKEN is not set: proxies cannot connect");
        }
        let secrets = secret_box::SecretBox::load(config.master_key.as_deref(), &config.data_dir)
            .context("loading the master key")?;
        let mut state = AppState::new(db.clone(), proxy_token_hash, versions, stopping, secrets);
        state.trusted_proxies = std::sync::Arc::new(config.trusted_proxies.clone());
        state.public_url = config
            .public_url
            .as_deref()
            .map(|url| std::sync::Arc::from(url.trim_end_matches('/')));
        let router = app::router(state, session_store, config)?;
        let listener = TcpListener::bind(config.listen)
            .await
            .with_context(|| format!("listening on {}", config.listen))?;
        Ok(Prepared {
            listener,
            router,
            db,
            created_admin,
            config_watch,
        })
    }

    /// The address the server listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// The admin created on this start, if the database was empty.
    pub fn created_admin(&self) -> Option<&CreatedAdmin> {
        self.created_admin.as_ref()
    }

    /// Serves until `shutdown` completes, lets in-flight requests finish, then closes the pool
    /// and stops the private cluster.
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stopping = self.stopping;
        serve::serve(
            self.listener,
            self.router,
            self.header_timeout,
            async move {
                shutdown.await;
                let _ = stopping.send(true);
            },
        )
        .await;
        let _ = self.config_watch.await;
        self.db.close().await;
        if let Some(pg) = self.embedded {
            pg.stop().await?;
        }
        Ok(())
    }
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
