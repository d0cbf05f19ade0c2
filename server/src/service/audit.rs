//! The audit log: who changed what, and when. Written in the same transaction as the change.

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};

/// One change.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct AuditEntry {
    pub(crate) id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) time: OffsetDateTime,
    pub(crate) actor_id: Option<Uuid>,
    pub(crate) actor_email: Option<String>,
    /// What was done, like `key.create` or `member.update`.
    pub(crate) action: String,
    pub(crate) target_type: String,
    pub(crate) target_id: String,
    /// What changed (never secrets).
    #[schema(value_type = Object)]
    pub(crate) details: serde_json::Value,
}

/// Paging of the audit log, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Entries per page, 1 to 500 (default 100).
    pub(crate) limit: Option<i64>,
    /// Only entries older than this entry id (the last id of the previous page).
    pub(crate) before: Option<Uuid>,
}

/// What is being recorded.
pub(crate) struct Change<'a> {
    pub(crate) tenant_id: Option<Uuid>,
    pub(crate) action: &'a str,
    pub(crate) target_type: &'a str,
    pub(crate) target_id: String,
    pub(crate) details: serde_json::Value,
}

pub(crate) async fn record(
    conn: &mut PgConnection,
    actor: &Principal,
    change: Change<'_>,
) -> ApiResult<()> {
    record_as(conn, Some(actor.user_id), Some(&actor.email), change).await
}

/// Records a change by someone who may not be signed in (a failed sign-in names the email
/// tried, and the user only when the email is theirs).
pub(crate) async fn record_as(
    conn: &mut PgConnection,
    actor_id: Option<Uuid>,
    actor_email: Option<&str>,
    change: Change<'_>,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO audit_log (id, tenant_id, actor_id, actor_email, action, target_type, target_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(Uuid::now_v7())
    .bind(change.tenant_id)
    .bind(actor_id)
    .bind(actor_email)
    .bind(change.action)
    .bind(change.target_type)
    .bind(change.target_id)
    .bind(change.details)
    .execute(conn)
    .await?;
    Ok(())
}

/// A tenant's audit log, newest first (ids are UUID v7, so they sort by time).
pub(crate) async fn list(
    db: &PgPool,
    access: &TenantAccess,
    query: &AuditQuery,
) -> ApiResult<Vec<AuditEntry>> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::Invalid("limit must be between 1 and 500".into()));
    }
    Ok(sqlx::query_as(
        "SELECT id, created_at AS time, actor_id, actor_email, action, target_type, target_id, details
         FROM audit_log
         WHERE tenant_id = $1 AND ($2::uuid IS NULL OR id < $2)
         ORDER BY id DESC LIMIT $3",
    )
    .bind(access.tenant.id)
    .bind(query.before)
    .bind(limit)
    .fetch_all(db)
    .await?)
}

/// The platform's own audit log (sign-ins, users, settings), newest first: platform admins.
pub(crate) async fn list_platform(
    db: &PgPool,
    principal: &Principal,
    query: &AuditQuery,
) -> ApiResult<Vec<AuditEntry>> {
    principal.require_platform_admin("read the platform's audit log")?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::Invalid("limit must be between 1 and 500".into()));
    }
    Ok(sqlx::query_as(
        "SELECT id, created_at AS time, actor_id, actor_email, action, target_type, target_id, details
         FROM audit_log
         WHERE tenant_id IS NULL AND ($1::uuid IS NULL OR id < $1)
         ORDER BY id DESC LIMIT $2",
    )
    .bind(query.before)
    .bind(limit)
    .fetch_all(db)
    .await?)
}
