//! One-time links that set a new password, made by a platform admin (no mail server is
//! assumed: the admin passes the link on) or by `tollgate-server admin reset-password` on the
//! server's machine. A link works once, for a day; a newer link replaces older ones.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use crate::service::{audit, users};
use crate::{password, secrets};

/// How long a link works.
const VALID_FOR: Duration = Duration::days(1);
/// Prefix of reset secrets.
const PREFIX: &str = "tgr_";

/// A link made for a user: shown once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ResetLink {
    pub(crate) email: String,
    /// The console page that sets the new password; works once.
    pub(crate) link: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
}

/// Setting a new password with a link's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UseReset {
    pub(crate) token: String,
    pub(crate) new_password: String,
}

/// Makes a link for user `user_id`; `by` is the platform admin who asked (none on the
/// server's command line). `base` is the console's URL.
async fn make(
    conn: &mut PgConnection,
    by: Option<&Principal>,
    user_id: Uuid,
    base: &str,
) -> ApiResult<ResetLink> {
    let email: Option<String> = sqlx::query_scalar("SELECT email FROM users WHERE id = $1")
        .bind(user_id)
        .fetch_optional(&mut *conn)
        .await?;
    let email = email.ok_or_else(|| ApiError::not_found("user", &user_id.to_string()))?;
    sqlx::query("DELETE FROM password_resets WHERE user_id = $1 AND used_at IS NULL")
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    let secret = secrets::generate(PREFIX);
    let expires_at = OffsetDateTime::now_utc() + VALID_FOR;
    sqlx::query(
        "INSERT INTO password_resets (id, user_id, secret_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(Uuid::now_v7())
    .bind(user_id)
    .bind(&secret.hash)
    .bind(by.map(|p| p.user_id))
    .bind(expires_at)
    .execute(&mut *conn)
    .await?;
    audit::record_as(
        conn,
        by.map(|p| p.user_id),
        by.map(|p| p.email.as_str()),
        audit::Change {
            tenant_id: None,
            action: "user.password_reset_link",
            target_type: "user",
            target_id: user_id.to_string(),
            details: json!({"email": email, "from": if by.is_some() { "api" } else { "server command line" }}),
        },
    )
    .await?;
    Ok(ResetLink {
        link: format!(
            "{}/reset-password?token={}",
            base.trim_end_matches('/'),
            secret.secret
        ),
        email,
        expires_at,
    })
}

/// A link for a user, made by a platform admin.
pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    user_id: Uuid,
    base: &str,
) -> ApiResult<ResetLink> {
    principal.require_platform_admin("make password reset links")?;
    let mut tx = db.begin().await?;
    let link = make(&mut tx, Some(principal), user_id, base).await?;
    tx.commit().await?;
    Ok(link)
}

/// A link for the user of `email`, from the server's command line (for the last platform
/// admin who forgot their password).
pub(crate) async fn create_for_email(db: &PgPool, email: &str, base: &str) -> ApiResult<ResetLink> {
    let mut tx = db.begin().await?;
    let user = users::id_by_email(&mut tx, email)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("there is no user with the email '{email}'")))?;
    let link = make(&mut tx, None, user, base).await?;
    tx.commit().await?;
    Ok(link)
}

/// Sets the new password of the link's user; every session of theirs ends. Returns their email.
pub(crate) async fn reset(db: &PgPool, input: UseReset) -> ApiResult<String> {
    password::validate(&input.new_password)?;
    let hash = password::hash(input.new_password).await?;
    let mut tx = db.begin().await?;
    let found: Option<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT r.id, u.id, u.email FROM password_resets r JOIN users u ON u.id = r.user_id
         WHERE r.secret_hash = $1 AND r.used_at IS NULL AND r.expires_at > now()
         FOR UPDATE OF r",
    )
    .bind(secrets::hash(input.token.trim()))
    .fetch_optional(&mut *tx)
    .await?;
    let (reset_id, user_id, email) = found.ok_or_else(|| {
        ApiError::NotFound(
            "this password reset link is unknown, used or expired; ask a platform admin for a new one"
                .into(),
        )
    })?;
    sqlx::query("UPDATE password_resets SET used_at = now() WHERE id = $1")
        .bind(reset_id)
        .execute(&mut *tx)
        .await?;
    users::set_password(&mut tx, user_id, &hash).await?;
    audit::record_as(
        &mut tx,
        Some(user_id),
        Some(&email),
        audit::Change {
            tenant_id: None,
            action: "user.password_reset",
            target_type: "user",
            target_id: user_id.to_string(),
            details: json!({"email": email}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(email)
}
