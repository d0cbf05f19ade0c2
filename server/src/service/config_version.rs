//! The configuration version the proxies follow.

use sqlx::PgConnection;

use crate::error::ApiResult;

/// The channel NOTIFY'd with the new version after every change the proxies must see.
pub const CHANNEL: &str = "tollgate_config";

/// Bumps the version inside the caller's transaction; listeners hear of it on commit.
pub async fn bump(conn: &mut PgConnection) -> ApiResult<i64> {
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
