//! Users: lookup for sign-in and authentication, creation, and what platform admins and users
//! themselves change: disabling, deleting, passwords.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use crate::roles::Role;
use crate::service::audit;
use crate::{password, secrets};

/// What sign-in needs to know about an account.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LoginRecord {
    pub(crate) id: Uuid,
    pub(crate) password_hash: Option<String>,
    pub(crate) disabled: bool,
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
    Ok(sqlx::query_as(
        "SELECT id, password_hash, disabled_at IS NOT NULL AS disabled
         FROM users WHERE lower(email) = lower($1)",
    )
    .bind(email)
    .fetch_optional(db)
    .await?)
}

pub(crate) async fn principal(db: &PgPool, id: Uuid) -> ApiResult<Option<Principal>> {
    let row: Option<PrincipalRow> =
        sqlx::query_as("SELECT id, email, platform_admin FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(row.map(Principal::from))
}

/// Whether a session signed in at `generation` still stands for its user.
pub(crate) enum SessionUser {
    Valid(Principal),
    /// The account is disabled.
    Disabled,
    /// The password changed (or the account was disabled) since the session began.
    Ended,
    /// The account is gone.
    Gone,
}

pub(crate) async fn session_user(db: &PgPool, id: Uuid, generation: i32) -> ApiResult<SessionUser> {
    let row: Option<(Uuid, String, bool, bool, i32)> = sqlx::query_as(
        "SELECT id, email, platform_admin, disabled_at IS NOT NULL, session_generation
         FROM users WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => SessionUser::Gone,
        Some((_, _, _, true, _)) => SessionUser::Disabled,
        Some((_, _, _, _, current)) if current != generation => SessionUser::Ended,
        Some((user_id, email, platform_admin, _, _)) => SessionUser::Valid(Principal {
            user_id,
            email,
            platform_admin,
        }),
    })
}

/// Records a sign-in; returns the generation the new session carries.
pub(crate) async fn signed_in(db: &PgPool, id: Uuid) -> ApiResult<i32> {
    Ok(sqlx::query_scalar(
        "UPDATE users SET last_sign_in_at = now() WHERE id = $1 RETURNING session_generation",
    )
    .bind(id)
    .fetch_one(db)
    .await?)
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
         SELECT u.id, u.email, u.platform_admin FROM users u JOIN used ON used.user_id = u.id
         WHERE u.disabled_at IS NULL",
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

/// Inserts a user whose password is already hashed (none for users who sign in through SSO
/// only); the caller handles the unique email.
pub(crate) async fn insert(
    conn: &mut PgConnection,
    email: &str,
    password_hash: Option<&str>,
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

/// A user as platform admins see them.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct User {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) platform_admin: bool,
    /// Disabled users cannot sign in; their sessions and admin tokens ended when they were
    /// disabled. API keys they created keep working unless revoked.
    pub(crate) disabled: bool,
    /// Whether they can sign in with a password (SSO-only users cannot).
    pub(crate) has_password: bool,
    /// The identity providers they have signed in through.
    pub(crate) sso_providers: Vec<String>,
    /// How many tenants they belong to.
    pub(crate) tenants: i64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_sign_in_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

const USER_SELECT: &str =
    "SELECT u.id, u.email, u.platform_admin, u.disabled_at IS NOT NULL AS disabled,
        u.password_hash IS NOT NULL AS has_password,
        ARRAY(SELECT p.name FROM user_identities i JOIN identity_providers p ON p.id = i.provider_id
              WHERE i.user_id = u.id ORDER BY p.name) AS sso_providers,
        (SELECT count(*) FROM memberships m WHERE m.user_id = u.id) AS tenants,
        u.last_sign_in_at, u.created_at
     FROM users u";

/// Every user of the platform (platform admins).
pub(crate) async fn list(db: &PgPool, principal: &Principal) -> ApiResult<Vec<User>> {
    principal.require_platform_admin("list users")?;
    Ok(
        sqlx::query_as(&format!("{USER_SELECT} ORDER BY lower(u.email)"))
            .fetch_all(db)
            .await?,
    )
}

async fn fetch(conn: &mut PgConnection, id: Uuid) -> ApiResult<User> {
    let user: Option<User> = sqlx::query_as(&format!("{USER_SELECT} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?;
    user.ok_or_else(|| ApiError::not_found("user", &id.to_string()))
}

/// Refuses what would leave the platform without an active platform admin, or act on oneself.
async fn check_not_last_admin(
    conn: &mut PgConnection,
    principal: &Principal,
    user: &User,
    what: &str,
) -> ApiResult<()> {
    if user.id == principal.user_id {
        return Err(ApiError::Conflict(format!(
            "you cannot {what} yourself; ask another platform admin"
        )));
    }
    if user.platform_admin && !user.disabled {
        let others: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM users WHERE platform_admin AND disabled_at IS NULL AND id <> $1",
        )
        .bind(user.id)
        .fetch_one(conn)
        .await?;
        if others == 0 {
            return Err(ApiError::Conflict(format!(
                "{} is the last active platform admin; make another platform admin first",
                user.email
            )));
        }
    }
    Ok(())
}

/// Disables a user (their sessions and admin tokens end at once; API keys they created keep
/// working unless revoked) or enables them again.
pub(crate) async fn set_disabled(
    db: &PgPool,
    principal: &Principal,
    id: Uuid,
    disabled: bool,
) -> ApiResult<User> {
    principal.require_platform_admin("disable or enable users")?;
    let mut tx = db.begin().await?;
    let user = fetch(&mut tx, id).await?;
    if disabled == user.disabled {
        return Ok(user);
    }
    if disabled {
        check_not_last_admin(&mut tx, principal, &user, "disable").await?;
        sqlx::query(
            "UPDATE users SET disabled_at = now(), session_generation = session_generation + 1
             WHERE id = $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM admin_tokens WHERE user_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    } else {
        sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: None,
            action: if disabled {
                "user.disable"
            } else {
                "user.enable"
            },
            target_type: "user",
            target_id: id.to_string(),
            details: json!({ "email": user.email }),
        },
    )
    .await?;
    let user = fetch(&mut tx, id).await?;
    tx.commit().await?;
    Ok(user)
}

/// Deletes a user: their memberships, sessions and admin tokens go with them; what they made
/// (keys, routes, audit entries) stays.
pub(crate) async fn delete(db: &PgPool, principal: &Principal, id: Uuid) -> ApiResult<()> {
    principal.require_platform_admin("delete users")?;
    let mut tx = db.begin().await?;
    let user = fetch(&mut tx, id).await?;
    check_not_last_admin(&mut tx, principal, &user, "delete").await?;
    let owned: Vec<String> = sqlx::query_scalar(
        "SELECT t.slug FROM memberships m JOIN tenants t ON t.id = m.tenant_id
         WHERE m.user_id = $1 AND m.role = 'owner'
           AND NOT EXISTS (SELECT 1 FROM memberships o WHERE o.tenant_id = m.tenant_id
                           AND o.role = 'owner' AND o.user_id <> $1)
         ORDER BY t.slug",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    if !owned.is_empty() {
        return Err(ApiError::Conflict(format!(
            "{} is the only owner of {}; make someone else owner first",
            user.email,
            owned.join(", ")
        )));
    }
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: None,
            action: "user.delete",
            target_type: "user",
            target_id: id.to_string(),
            details: json!({ "email": user.email }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A user's request to change their own password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChangePassword {
    pub(crate) current_password: String,
    pub(crate) new_password: String,
    /// Also delete every admin token of yours (default false).
    #[serde(default)]
    pub(crate) end_admin_tokens: bool,
}

/// Sets a new password (the current one checked first) and ends every other session of the
/// user, and on request their admin tokens. Returns the generation the caller's own session
/// now carries.
pub(crate) async fn change_password(
    db: &PgPool,
    principal: &Principal,
    address: Option<std::net::IpAddr>,
    input: ChangePassword,
) -> ApiResult<i32> {
    // Guessing the current password is slowed down like guessing it at sign-in.
    if let crate::login_throttle::Verdict::Wait(wait) =
        crate::login_throttle::check(db, &principal.email, address).await?
    {
        let secs = wait.as_secs().max(1);
        return Err(ApiError::TooManyRequests {
            detail: format!("too many wrong passwords; try again in {secs} seconds"),
            retry_after_secs: secs,
        });
    }
    let stored: Option<String> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(principal.user_id)
            .fetch_one(db)
            .await?;
    if stored.is_none() {
        return Err(ApiError::Invalid(
            "your account signs in through single sign-on and has no password here".into(),
        ));
    }
    if input.current_password.chars().count() > password::MAX_LEN
        || !password::verify(input.current_password, stored).await?
    {
        crate::login_throttle::failed(db, &principal.email, address).await?;
        return Err(ApiError::Invalid(
            "current_password: that is not your current password".into(),
        ));
    }
    password::validate(&input.new_password)?;
    let hash = password::hash(input.new_password).await?;
    let mut tx = db.begin().await?;
    let generation = set_password(&mut tx, principal.user_id, &hash).await?;
    let mut ended_tokens = 0;
    if input.end_admin_tokens {
        ended_tokens = sqlx::query("DELETE FROM admin_tokens WHERE user_id = $1")
            .bind(principal.user_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
    }
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: None,
            action: "user.password_change",
            target_type: "user",
            target_id: principal.user_id.to_string(),
            details: json!({ "admin_tokens_ended": ended_tokens }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(generation)
}

/// Stores a new password hash and ends every session; returns the new session generation.
pub(crate) async fn set_password(conn: &mut PgConnection, id: Uuid, hash: &str) -> ApiResult<i32> {
    Ok(sqlx::query_scalar(
        "UPDATE users SET password_hash = $2, session_generation = session_generation + 1
         WHERE id = $1 RETURNING session_generation",
    )
    .bind(id)
    .bind(hash)
    .fetch_one(conn)
    .await?)
}
