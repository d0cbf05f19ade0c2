//! Users: lookup for login and authentication, creation.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::ApiResult;
use crate::roles::Role;
use crate::secrets;

/// What login needs to know about an account.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LoginRecord {
    pub(crate) id: Uuid,
    pub(crate) password_hash: String,
}

#[derive(sqlx::FromRow)]
struct PrincipalRow {
    id: Uuid,
    email: String,
    platform_admin: bool,
}

impl From<PrincipalRow> for Principal {
    fn from(row: PrincipalRow) -> Self {
        Self {
            user_id: row.id,
            email: row.email,
            platform_admin: row.platform_admin,
        }
    }
}

/// The signed-in user and the tenants they belong to.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct MeView {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) platform_admin: bool,
    pub(crate) tenants: Vec<MyTenant>,
}

/// A tenant the user belongs to, with their role in it.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct MyTenant {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) slug: String,
    pub(crate) role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) joined_at: OffsetDateTime,
}

pub(crate) async fn find_for_login(db: &PgPool, email: &str) -> ApiResult<Option<LoginRecord>> {
    Ok(
        sqlx::query_as("SELECT id, password_hash FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(db)
            .await?,
    )
}

pub(crate) async fn principal(db: &PgPool, id: Uuid) -> ApiResult<Option<Principal>> {
    let row: Option<PrincipalRow> =
        sqlx::query_as("SELECT id, email, platform_admin FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(Principal::from))
}

/// The owner of a live admin token; records that the token was used.
pub(crate) async fn principal_by_admin_token(
    db: &PgPool,
    token: &str,
) -> ApiResult<Option<Principal>> {
    let row: Option<PrincipalRow> = sqlx::query_as(
        "WITH used AS (
             UPDATE admin_tokens SET last_used_at = now()
             WHERE secret_hash = $1 AND (expires_at IS NULL OR expires_at > now())
             RETURNING user_id
         )
         SELECT u.id, u.email, u.platform_admin FROM users u JOIN used ON used.user_id = u.id",
    )
    .bind(secrets::hash(token))
    .fetch_optional(db)
    .await?;
    Ok(row.map(Principal::from))
}

pub(crate) async fn me(db: &PgPool, principal: &Principal) -> ApiResult<MeView> {
    let tenants = sqlx::query_as(
        "SELECT t.id, t.name, t.slug, m.role, m.created_at AS joined_at
         FROM memberships m JOIN tenants t ON t.id = m.tenant_id
         WHERE m.user_id = $1 ORDER BY t.name",
    )
    .bind(principal.user_id)
    .fetch_all(db)
    .await?;
    Ok(MeView {
        id: principal.user_id,
        email: principal.email.clone(),
        platform_admin: principal.platform_admin,
        tenants,
    })
}

/// Inserts a user whose password is already hashed; the caller handles the unique email.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    email: &str,
    password_hash: &str,
    platform_admin: bool,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, platform_admin) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(email)
    .bind(password_hash)
    .bind(platform_admin)
    .execute(conn)
    .await?;
    Ok(id)
}

/// A user's id by email, inside a transaction.
pub(crate) async fn id_by_email(conn: &mut PgConnection, email: &str) -> ApiResult<Option<Uuid>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = lower($1)")
            .bind(email)
            .fetch_optional(conn)
            .await?,
    )
}
