//! Invitations to a tenant. A tenant admin invites an email; the person behind it joins by
//! accepting the link (signed in as that email, or by choosing a password when the email has no
//! account yet). Nobody is added without consent, and the answer to an invitation is the same
//! whether the email has an account or not, so invitations reveal nothing about who is
//! registered.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::{audit, users};
use crate::{password, secrets, validate};

/// How long an invitation link works.
const VALID_FOR: Duration = Duration::days(7);
/// Prefix of invitation secrets.
const PREFIX: &str = "tgi_";

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateInvitation {
    pub(crate) email: String,
    pub(crate) role: Role,
}

/// A pending invitation.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Invitation {
    pub(crate) id: Uuid,
    pub(crate) email: String,
    pub(crate) role: Role,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

/// A new invitation with its secret, shown this once: pass the link on to the invited person.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedInvitation {
    #[serde(flatten)]
    pub(crate) invitation: Invitation,
    /// The secret that accepts the invitation (`POST /api/v1/invitations/accept`).
    pub(crate) token: String,
    /// The console page where the invited person accepts it.
    pub(crate) accept_path: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct AcceptInvitation {
    pub(crate) token: String,
    /// For an email without an account: the password of the account to create.
    pub(crate) password: Option<String>,
}

/// What accepting gave.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Accepted {
    pub(crate) tenant: String,
    pub(crate) role: Role,
    /// True when a new account was created for the invited email.
    pub(crate) account_created: bool,
}

/// Invites an email (admins; only owners invite owners). A new invitation for the same email
/// replaces a pending one.
pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    input: CreateInvitation,
) -> ApiResult<CreatedInvitation> {
    access.role.require(Role::Admin, "invite members")?;
    if input.role == Role::Owner {
        access.role.require(Role::Owner, "invite owners")?;
    }
    let email = validate::email(&input.email)?;
    let secret = secrets::generate(PREFIX);
    let mut tx = db.begin().await?;
    sqlx::query(
        "DELETE FROM invitations
         WHERE tenant_id = $1 AND lower(email) = lower($2) AND accepted_at IS NULL",
    )
    .bind(access.tenant.id)
    .bind(&email)
    .execute(&mut *tx)
    .await?;
    let invitation: Invitation = sqlx::query_as(
        "INSERT INTO invitations (id, tenant_id, email, role, secret_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         RETURNING id, email, role, expires_at, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(access.tenant.id)
    .bind(&email)
    .bind(input.role)
    .bind(&secret.hash)
    .bind(principal.user_id)
    .bind(OffsetDateTime::now_utc() + VALID_FOR)
    .fetch_one(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "member.invite",
            target_type: "invitation",
            target_id: invitation.id.to_string(),
            details: json!({ "email": email, "role": input.role }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(CreatedInvitation {
        invitation,
        accept_path: format!("/invitations/{}", secret.secret),
        token: secret.secret,
    })
}

/// Pending invitations (admins).
pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Invitation>> {
    access.role.require(Role::Admin, "see invitations")?;
    Ok(sqlx::query_as(
        "SELECT id, email, role, expires_at, created_at FROM invitations
         WHERE tenant_id = $1 AND accepted_at IS NULL AND expires_at > now()
         ORDER BY created_at DESC",
    )
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?)
}

/// Withdraws a pending invitation (admins).
pub(crate) async fn revoke(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "withdraw invitations")?;
    let mut tx = db.begin().await?;
    let email: Option<String> = sqlx::query_scalar(
        "DELETE FROM invitations WHERE tenant_id = $1 AND id = $2 AND accepted_at IS NULL
         RETURNING email",
    )
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let email = email.ok_or_else(|| ApiError::not_found("invitation", &id.to_string()))?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "member.invitation_withdrawn",
            target_type: "invitation",
            target_id: id.to_string(),
            details: json!({ "email": email }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Pending {
    id: Uuid,
    tenant_id: Uuid,
    slug: String,
    email: String,
    role: Role,
}

/// Accepts an invitation: as the signed-in user the email belongs to, or, for an email without
/// an account, by creating one with `password`.
pub(crate) async fn accept(
    db: &PgPool,
    signed_in: Option<&Principal>,
    input: AcceptInvitation,
) -> ApiResult<Accepted> {
    let unusable = || {
        ApiError::NotFound("this invitation is unknown, used or expired; ask for a new one".into())
    };
    let mut tx = db.begin().await?;
    let pending: Pending = sqlx::query_as(
        "SELECT i.id, i.tenant_id, t.slug, i.email, i.role FROM invitations i
         JOIN tenants t ON t.id = i.tenant_id
         WHERE i.secret_hash = $1 AND i.accepted_at IS NULL AND i.expires_at > now()
         FOR UPDATE OF i",
    )
    .bind(secrets::hash(input.token.trim()))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(unusable)?;
    let existing = users::id_by_email(&mut tx, &pending.email).await?;
    let email = &pending.email;
    // Every refusal reads the same whether the email has an account or not; only accepting
    // (as the account, or by creating it) tells the two apart.
    let (user_id, account_created) = match (existing, signed_in, input.password) {
        (Some(user), Some(me), _) if me.user_id == user => (user, false),
        (_, Some(_), _) => {
            return Err(ApiError::Forbidden(format!(
                "this invitation is for {email}: sign out, then accept it as {email}"
            )))
        }
        (_, None, None) => {
            return Err(ApiError::Invalid(format!(
                "sign in as {email} to accept, or choose a 'password' if {email} has no account yet"
            )))
        }
        (Some(_), None, Some(_)) => {
            return Err(ApiError::Forbidden(format!(
                "sign in as {email} to accept this invitation"
            )))
        }
        (None, None, Some(new_password)) => {
            password::validate(&new_password)?;
            let hash = password::hash(new_password).await?;
            let id = users::insert(&mut tx, email, Some(&hash), false)
                .await
                .map_err(|e| {
                    crate::error::conflict_on_unique(e, || {
                        format!("sign in as {email} to accept this invitation")
                    })
                })?;
            (id, true)
        }
    };
    sqlx::query(
        "INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, $3)
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(pending.tenant_id)
    .bind(user_id)
    .bind(pending.role)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE invitations SET accepted_at = now() WHERE id = $1")
        .bind(pending.id)
        .execute(&mut *tx)
        .await?;
    let actor = Principal {
        user_id,
        email: pending.email.clone(),
        platform_admin: false,
    };
    audit::record(
        &mut tx,
        &actor,
        audit::Change {
            tenant_id: Some(pending.tenant_id),
            action: "member.join",
            target_type: "user",
            target_id: user_id.to_string(),
            details: json!({ "email": pending.email, "role": pending.role,
                             "account_created": account_created }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Accepted {
        tenant: pending.slug,
        role: pending.role,
        account_created,
    })
}
