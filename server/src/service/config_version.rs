//! The configuration version the proxies follow.

use sqlx::{PgConnection, Postgres, Transaction};

use crate::access::Principal;
use crate::error::ApiResult;
use crate::service::audit;

/// The channel NOTIFY'd with the new version after every change the proxies must see.
pub(crate) const CHANNEL: &str = "tollgate_config";

/// Bumps the version inside the caller's transaction; listeners hear of it on commit.
pub(crate) async fn bump(conn: &mut PgConnection) -> ApiResult<i64> {
    let version: i64 =
        sqlx::query_scalar("UPDATE config_version SET version = version + 1 RETURNING version")
            .fetch_one(&mut *conn)
            .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(CHANNEL)
        .bind(version.to_string())
        .execute(conn)
        .await?;
    Ok(version)
}

/// Ends a change the proxies must see, as one unit: records it in the audit log, bumps the
/// version and commits.
pub(crate) async fn commit(
    mut tx: Transaction<'_, Postgres>,
    actor: &Principal,
    change: audit::Change<'_>,
) -> ApiResult<()> {
    audit::record(&mut tx, actor, change).await?;
    bump(&mut tx).await?;
    tx.commit().await?;
    Ok(())
}
