//! Tenants and the caller's access to them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Principal, Tenant, TenantAccess};
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::{audit, config_version};
use crate::{merge_patch, validate};

/// A tenant as the caller sees it, with the caller's role in it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TenantView {
    #[serde(flatten)]
    pub(crate) tenant: Tenant,
    /// The caller's effective role (platform admins act as owners everywhere).
    pub(crate) role: Role,
}

impl From<TenantAccess> for TenantView {
    fn from(access: TenantAccess) -> Self {
        TenantView {
            tenant: access.tenant,
            role: access.role,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateTenant {
    /// Display name, 1 to 100 characters.
    pub(crate) name: String,
    /// URL-safe identifier; derived from the name when left out.
    pub(crate) slug: Option<String>,
}

#[derive(sqlx::FromRow)]
struct AccessRow {
    #[sqlx(flatten)]
    tenant: Tenant,
    role: Option<Role>,
}

const TENANT_COLUMNS: &str = "t.id, t.name, t.slug, t.created_at, t.updated_at";

/// Resolves `{tenant}` (id or slug) to a tenant the caller may see; anything else is a 404, so
/// callers cannot probe which tenants exist.
pub(crate) async fn access(
    db: &PgPool,
    principal: &Principal,
    tenant_ref: &str,
) -> ApiResult<TenantAccess> {
    let by_id = Uuid::parse_str(tenant_ref).ok();
    let row: Option<AccessRow> = sqlx::query_as(&format!(
        "SELECT {TENANT_COLUMNS}, m.role
         FROM tenants t LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = $3
         WHERE ($1::uuid IS NOT NULL AND t.id = $1) OR ($1::uuid IS NULL AND t.slug = $2)"
    ))
    .bind(by_id)
    .bind(tenant_ref)
    .bind(principal.user_id)
    .fetch_optional(db)
    .await?;
    let not_found = || ApiError::not_found("tenant", tenant_ref);
    let row = row.ok_or_else(not_found)?;
    let role = match row.role {
        _ if principal.platform_admin => Role::Owner,
        Some(role) => role,
        None => return Err(not_found()),
    };
    Ok(TenantAccess {
        tenant: row.tenant,
        role,
    })
}

/// Platform admins see every tenant; other users the tenants they belong to.
pub(crate) async fn list(db: &PgPool, principal: &Principal) -> ApiResult<Vec<TenantView>> {
    let rows: Vec<AccessRow> = sqlx::query_as(&format!(
        "SELECT {TENANT_COLUMNS}, m.role
         FROM tenants t LEFT JOIN memberships m ON m.tenant_id = t.id AND m.user_id = $1
         WHERE $2 OR m.user_id IS NOT NULL
         ORDER BY t.name, t.slug"
    ))
    .bind(principal.user_id)
    .bind(principal.platform_admin)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| TenantView {
            role: if principal.platform_admin {
                Role::Owner
            } else {
                row.role.unwrap_or(Role::Viewer)
            },
            tenant: row.tenant,
        })
        .collect())
}

pub(crate) async fn get(
    db: &PgPool,
    principal: &Principal,
    tenant_ref: &str,
) -> ApiResult<TenantView> {
    Ok(access(db, principal, tenant_ref).await?.into())
}

/// Creates a tenant (platform admins only); the creator becomes its owner.
pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    input: CreateTenant,
) -> ApiResult<TenantView> {
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only platform admins may create tenants".into(),
        ));
    }
    let (name, slug) = check(&input)?;
    let mut tx = db.begin().await?;
    let tenant = insert(&mut tx, &name, &slug).await?;
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(tenant.id)
        .bind(principal.user_id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: Some(tenant.id),
            action: "tenant.create",
            target_type: "tenant",
            target_id: tenant.id.to_string(),
            details: json!({ "name": tenant.name, "slug": tenant.slug }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(TenantView {
        tenant,
        role: Role::Owner,
    })
}

/// Inserts a tenant row; a taken slug is a 409. The first tenant of an installation receives
/// the whole request space; later ones get theirs from a platform admin.
pub(crate) async fn insert(
    conn: &mut sqlx::PgConnection,
    name: &str,
    slug: &str,
) -> ApiResult<Tenant> {
    let tenant: Tenant = sqlx::query_as(
        "INSERT INTO tenants (id, name, slug) VALUES ($1, $2, $3)
         RETURNING id, name, slug, created_at, updated_at",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(slug)
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("the slug '{slug}' is taken; choose another")))?;
    crate::service::namespaces::grant_all_if_unclaimed(conn, tenant.id).await?;
    Ok(tenant)
}

/// Renames a tenant or changes its slug (admins and owners).
/// The checked name and slug (derived from the name when left out).
fn check(input: &CreateTenant) -> ApiResult<(String, String)> {
    let name = validate::name("name", &input.name)?;
    let slug = match &input.slug {
        Some(slug) => validate::slug(slug)?,
        None => validate::slug(&validate::slugify(&name)).map_err(|_| {
            ApiError::Invalid(format!(
                "no slug can be derived from the name '{name}'; give one, like \"acme\""
            ))
        })?,
    };
    Ok((name, slug))
}

/// A JSON merge patch of the tenant's name and slug; a `null` slug is derived from the name.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    tenant_ref: &str,
    patch: Value,
) -> ApiResult<TenantView> {
    let access = access(db, principal, tenant_ref).await?;
    access.role.require(Role::Admin, "change the tenant")?;
    let current = CreateTenant {
        name: access.tenant.name.clone(),
        slug: Some(access.tenant.slug.clone()),
    };
    let (name, slug) = check(&merge_patch::patched(&current, &patch, "tenant")?)?;
    let mut tx = db.begin().await?;
    let tenant: Tenant = sqlx::query_as(
        "UPDATE tenants SET name = $2, slug = $3 WHERE id = $1
         RETURNING id, name, slug, created_at, updated_at",
    )
    .bind(access.tenant.id)
    .bind(&name)
    .bind(&slug)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("the slug '{slug}' is taken; choose another")))?;
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(tenant.id),
            action: "tenant.update",
            target_type: "tenant",
            target_id: tenant.id.to_string(),
            details: json!({ "name": name, "slug": slug }),
        },
    )
    .await?;
    Ok(TenantView {
        tenant,
        role: access.role,
    })
}

/// Deletes a tenant with everything in it (platform admins only). Its keys stop working.
pub(crate) async fn delete(db: &PgPool, principal: &Principal, tenant_ref: &str) -> ApiResult<()> {
    let access = access(db, principal, tenant_ref).await?;
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only platform admins may delete tenants".into(),
        ));
    }
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM tenants WHERE id = $1")
        .bind(access.tenant.id)
        .execute(&mut *tx)
        .await?;
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "tenant.delete",
            target_type: "tenant",
            target_id: access.tenant.id.to_string(),
            details: json!({ "name": access.tenant.name, "slug": access.tenant.slug }),
        },
    )
    .await?;
    Ok(())
}
