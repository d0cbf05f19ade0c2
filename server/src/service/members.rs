//! Tenant members and their roles.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::password;
use crate::roles::{Require, Role};
use crate::service::{audit, users};
use crate::{merge_patch, validate};

/// A user's membership in a tenant.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Member {
    pub(crate) user_id: Uuid,
    pub(crate) email: String,
    pub(crate) role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) joined_at: OffsetDateTime,
}

/// Adds a user to the tenant directly (platform admins, who see every user anyway). With
/// `password`, a new user is created with it; without, the user must already exist. Tenant
/// admins invite instead (`POST …/invitations`): nobody joins a tenant without accepting.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AddMember {
    pub(crate) email: String,
    /// Initial password for a new user (8 to 256 characters).
    pub(crate) password: Option<String>,
    pub(crate) role: Role,
}

/// What a member's PATCH may change.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MemberSettings {
    pub(crate) role: Role,
}

const MEMBER_SELECT: &str = "SELECT u.id AS user_id, u.email, m.role, m.created_at AS joined_at
     FROM memberships m JOIN users u ON u.id = m.user_id";

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Member>> {
    Ok(sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.tenant_id = $1 ORDER BY u.email"
    ))
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?)
}

pub(crate) async fn add(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    input: AddMember,
) -> ApiResult<Member> {
    access.role.require(Role::Admin, "add members")?;
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "invite them instead (POST /api/v1/tenants/{tenant}/invitations): they join when \
             they accept the link"
                .into(),
        ));
    }
    require_owner_for(access, input.role, "grant the owner role")?;
    let email = validate::email(&input.email)?;
    let new_password_hash = match input.password {
        Some(pw) => {
            password::validate(&pw)?;
            Some(password::hash(pw).await?)
        }
        None => None,
    };

    let mut tx = db.begin().await?;
    let existing = users::id_by_email(&mut tx, &email).await?;
    let (user_id, created) = match (existing, new_password_hash) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Conflict(format!(
                "a user with the email '{email}' already exists; leave out 'password' to add them"
            )))
        }
        (Some(user), None) => (user, false),
        (None, Some(hash)) => {
            let id = users::insert(&mut tx, &email, Some(&hash), false)
                .await
                .map_err(|e| conflict_on_unique(e, || format!("the email '{email}' is taken")))?;
            (id, true)
        }
        (None, None) => {
            return Err(ApiError::Invalid(format!(
            "there is no user with the email '{email}'; give an initial 'password' to create one"
        )))
        }
    };
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)")
        .bind(access.tenant.id)
        .bind(user_id)
        .bind(input.role)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("'{email}' is already a member; change their role with PATCH")
            })
        })?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "member.add",
            target_type: "user",
            target_id: user_id.to_string(),
            details: json!({ "email": email, "role": input.role, "user_created": created }),
        },
    )
    .await?;
    let member = fetch(&mut tx, access.tenant.id, user_id).await?;
    tx.commit().await?;
    Ok(member)
}

pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    user_ref: &str,
    patch: Value,
) -> ApiResult<Member> {
    access.role.require(Role::Admin, "change members' roles")?;
    let mut tx = db.begin().await?;
    lock_tenant(&mut tx, access.tenant.id).await?;
    let current = find(&mut tx, access, user_ref).await?;
    let settings = MemberSettings { role: current.role };
    let input = merge_patch::patched(&settings, &patch, "membership")?;
    if current.role == Role::Owner || input.role == Role::Owner {
        require_owner_for(access, Role::Owner, "grant or take the owner role")?;
    }
    sqlx::query("UPDATE memberships SET role = $3 WHERE tenant_id = $1 AND user_id = $2")
        .bind(access.tenant.id)
        .bind(current.user_id)
        .bind(input.role)
        .execute(&mut *tx)
        .await?;
    ensure_an_owner_remains(&mut tx, access.tenant.id).await?;
    let details = json!({ "email": current.email, "from": current.role, "to": input.role });
    let change = member_change(access, "member.update", &current, details);
    audit::record(&mut tx, principal, change).await?;
    let member = fetch(&mut tx, access.tenant.id, current.user_id).await?;
    tx.commit().await?;
    Ok(member)
}

pub(crate) async fn remove(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    user_ref: &str,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "remove members")?;
    let mut tx = db.begin().await?;
    lock_tenant(&mut tx, access.tenant.id).await?;
    let current = find(&mut tx, access, user_ref).await?;
    if current.role == Role::Owner {
        require_owner_for(access, Role::Owner, "remove an owner")?;
    }
    sqlx::query("DELETE FROM memberships WHERE tenant_id = $1 AND user_id = $2")
        .bind(access.tenant.id)
        .bind(current.user_id)
        .execute(&mut *tx)
        .await?;
    ensure_an_owner_remains(&mut tx, access.tenant.id).await?;
    let details = json!({ "email": current.email, "role": current.role });
    let change = member_change(access, "member.remove", &current, details);
    audit::record(&mut tx, principal, change).await?;
    tx.commit().await?;
    Ok(())
}

fn require_owner_for(access: &TenantAccess, role: Role, action: &str) -> ApiResult<()> {
    if role == Role::Owner {
        access.role.require(Role::Owner, action)?;
    }
    Ok(())
}

/// Serialises membership changes of one tenant, so two concurrent demotions cannot both pass
/// the last-owner check.
async fn lock_tenant(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<()> {
    sqlx::query("SELECT id FROM tenants WHERE id = $1 FOR UPDATE")
        .bind(tenant_id)
        .execute(conn)
        .await?;
    Ok(())
}

async fn ensure_an_owner_remains(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<()> {
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM memberships WHERE tenant_id = $1 AND role = 'owner'",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await?;
    if owners == 0 {
        return Err(ApiError::Conflict(
            "a tenant must keep at least one owner; make someone else owner first".into(),
        ));
    }
    Ok(())
}

/// A member by user id or email, within the tenant.
async fn find(conn: &mut PgConnection, access: &TenantAccess, user_ref: &str) -> ApiResult<Member> {
    let by_id = Uuid::parse_str(user_ref).ok();
    let member: Option<Member> = sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.tenant_id = $1
         AND (($2::uuid IS NOT NULL AND u.id = $2) OR ($2::uuid IS NULL AND lower(u.email) = lower($3)))"
    ))
    .bind(access.tenant.id)
    .bind(by_id)
    .bind(user_ref)
    .fetch_optional(conn)
    .await?;
    member.ok_or_else(|| ApiError::not_found("member", user_ref))
}

async fn fetch(conn: &mut PgConnection, tenant_id: Uuid, user_id: Uuid) -> ApiResult<Member> {
    Ok(sqlx::query_as(&format!(
        "{MEMBER_SELECT} WHERE m.tenant_id = $1 AND m.user_id = $2"
    ))
    .bind(tenant_id)
    .bind(user_id)
    .fetch_one(conn)
    .await?)
}

/// The audit entry of a change to a member.
fn member_change<'a>(
    access: &TenantAccess,
    action: &'a str,
    member: &Member,
    details: serde_json::Value,
) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "user",
        target_id: member.user_id.to_string(),
        details,
    }
}
