//! The proxies that report in, and which configuration version each has loaded.

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use tollgate_protocol::Heartbeat;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::{ApiError, ApiResult};

/// A proxy as its last heartbeat described it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Dataplane {
    pub(crate) id: Uuid,
    pub(crate) hostname: String,
    pub(crate) address: String,
    /// The configuration version it has loaded.
    pub(crate) version: i64,
    pub(crate) uptime_secs: i64,
    pub(crate) proxy_version: String,
    /// How it counts limits: `local`, `shared` (through Redis) or `local_fallback` (Redis
    /// configured but unreachable); null for proxies that do not say.
    pub(crate) limits: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) first_seen: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) last_seen: OffsetDateTime,
}

/// The proxies and the version they should have.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Dataplanes {
    /// The newest configuration version.
    pub(crate) config_version: i64,
    pub(crate) dataplanes: Vec<Dataplane>,
}

pub(crate) async fn record(db: &PgPool, heartbeat: &Heartbeat) -> ApiResult<()> {
    let text = |value: &str| value.chars().take(255).collect::<String>();
    sqlx::query(
        "INSERT INTO dataplanes (id, hostname, address, version, uptime_secs, proxy_version, limits)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET hostname = excluded.hostname, address = excluded.address,
             version = excluded.version, uptime_secs = excluded.uptime_secs,
             proxy_version = excluded.proxy_version, limits = excluded.limits, last_seen = now()",
    )
    .bind(heartbeat.id)
    .bind(text(&heartbeat.hostname))
    .bind(text(&heartbeat.address))
    .bind(heartbeat.version)
    .bind(i64::try_from(heartbeat.uptime_secs).unwrap_or(i64::MAX))
    .bind(text(&heartbeat.proxy_version))
    .bind(heartbeat.limits.as_deref().map(text))
    .execute(db)
    .await?;
    Ok(())
}

/// Proxies seen in the last day (platform admins: the data plane serves every tenant).
pub(crate) async fn list(db: &PgPool, principal: &Principal) -> ApiResult<Dataplanes> {
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only platform admins may list the data planes".into(),
        ));
    }
    let config_version = sqlx::query_scalar("SELECT version FROM config_version")
        .fetch_one(db)
        .await?;
    let dataplanes = sqlx::query_as(
        "SELECT id, hostname, address, version, uptime_secs, proxy_version, limits, first_seen,
                last_seen
         FROM dataplanes WHERE last_seen > now() - interval '1 day' ORDER BY hostname, id",
    )
    .fetch_all(db)
    .await?;
    Ok(Dataplanes {
        config_version,
        dataplanes,
    })
}
