//! Personal admin tokens for scripts: `Authorization: Bearer tga_…`. Only the hash is stored.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use crate::secrets;
use crate::service::audit;
use crate::validate;

/// Most tokens one user may hold.
const TOKENS_PER_USER_MAX: i64 = 100;

/// A token as lists show it: never its secret or hash.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct AdminToken {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) prefix: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

/// A new token with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedAdminToken {
    #[serde(flatten)]
    pub(crate) token: AdminToken,
    /// The full token (`tga_…`). Store it now: it cannot be shown again.
    pub(crate) secret: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateAdminToken {
    pub(crate) name: String,
    /// Days until the token stops working (1 to 3650); never, when left out.
    #[schema(minimum = 1, maximum = 3650)]
    pub(crate) expires_in_days: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, name, prefix, expires_at, last_used_at, created_at";

pub(crate) async fn list(db: &PgPool, principal: &Principal) -> ApiResult<Vec<AdminToken>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM admin_tokens WHERE user_id = $1 ORDER BY created_at DESC"
    ))
    .bind(principal.user_id)
    .fetch_all(db)
    .await?)
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    input: CreateAdminToken,
) -> ApiResult<CreatedAdminToken> {
    let name = validate::name("name", &input.name)?;
    let expires_at = match input.expires_in_days {
        Some(days) if (1..=3650).contains(&days) => {
            Some(OffsetDateTime::now_utc() + Duration::days(days))
        }
        Some(_) => {
            return Err(ApiError::Invalid(
                "expires_in_days must be between 1 and 3650".into(),
            ))
        }
        None => None,
    };
    let mut tx = db.begin().await?;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM admin_tokens WHERE user_id = $1")
        .bind(principal.user_id)
        .fetch_one(&mut *tx)
        .await?;
    if held >= TOKENS_PER_USER_MAX {
        return Err(ApiError::Conflict(format!(
            "you hold {held} tokens, the most allowed; delete unused ones first"
        )));
    }
    let secret = secrets::generate(secrets::ADMIN_TOKEN_PREFIX);
    let token: AdminToken = sqlx::query_as(&format!(
        "INSERT INTO admin_tokens (id, user_id, name, prefix, secret_hash, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(principal.user_id)
    .bind(&name)
    .bind(&secret.display_prefix)
    .bind(&secret.hash)
    .bind(expires_at)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: None,
            action: "admin_token.create",
            target_type: "admin_token",
            target_id: token.id.to_string(),
            details: json!({ "name": token.name, "prefix": token.prefix }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedAdminToken {
        token,
        secret: secret.secret,
    })
}

/// Deletes one of the caller's own tokens; it stops working at once.
pub(crate) async fn delete(db: &PgPool, principal: &Principal, id: Uuid) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let name: Option<String> = sqlx::query_scalar(
        "DELETE FROM admin_tokens WHERE id = $1 AND user_id = $2 RETURNING name",
    )
    .bind(id)
    .bind(principal.user_id)
    .fetch_optional(&mut *tx)
    .await?;
    let name = name.ok_or_else(|| ApiError::not_found("token", &id.to_string()))?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: None,
            action: "admin_token.delete",
            target_type: "admin_token",
            target_id: id.to_string(),
            details: json!({ "name": name }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
