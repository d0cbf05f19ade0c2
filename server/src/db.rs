//! The connection pool and migrations.

use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

/// The SQL migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: Migrator = sqlx::migrate!("../migrations");

/// How long start-up waits for the database to accept connections.
const CONNECT_PATIENCE: Duration = Duration::from_secs(30);

/// Connects, retrying for a while so a database that starts alongside us has time to come up.
pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    let started = std::time::Instant::now();
    loop {
        let attempt = PgPoolOptions::new()
            .max_connections(20)
            // Short: while PostgreSQL is away, callers get a quick 503 rather than a long wait.
            .acquire_timeout(Duration::from_millis(1500))
            .connect(url)
            .await;
        match attempt {
            Ok(pool) => return Ok(pool),
            Err(err) if started.elapsed() < CONNECT_PATIENCE && is_transient(&err) => {
                tracing::warn!(error = %err, "database not reachable yet; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Err(err) => return Err(err).context("connecting to PostgreSQL (check DATABASE_URL)"),
        }
    }
}

fn is_transient(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut)
        || matches!(err, sqlx::Error::Database(db) if db.code().as_deref() == Some("57P03"))
}

/// Applies pending migrations.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying database migrations")
}

/// Brings a database to the schema this build expects: migrations, the session table and the
/// price catalog. Idempotent; tests run it once into a template database and clone that.
///
/// Replicas starting together take turns: PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe
/// against itself in two sessions at once, so the whole preparation holds an advisory lock.
pub async fn prepare_schema(pool: &PgPool) -> anyhow::Result<()> {
    // A connection of its own, closed at the end: the lock is the session's.
    let mut lock = pool
        .acquire()
        .await
        .context("connecting to the database")?
        .detach();
    sqlx::query("SELECT pg_advisory_lock(hashtext('tollgate.schema'))")
        .execute(&mut lock)
        .await
        .context("waiting for another server preparing the database")?;
    let prepared = prepare_schema_locked(pool).await;
    // Closing the session releases its lock.
    let closed = sqlx::Connection::close(lock).await;
    prepared?;
    closed.context("releasing the schema lock")?;
    Ok(())
}

async fn prepare_schema_locked(pool: &PgPool) -> anyhow::Result<()> {
    migrate(pool).await?;
    tower_sessions_sqlx_store::PostgresStore::new(pool.clone())
        .migrate()
        .await
        .context("creating the session table")?;
    let seeded = crate::service::price_catalog::seed(pool).await?;
    tracing::debug!(prices = seeded, "price catalog loaded");
    Ok(())
}
