//! Applications: what a tenant's developers subscribe with. An application holds its own keys;
//! they reach what its approved subscriptions grant, and nothing of their tenant's own.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::subscriptions::{self, Subscription};
use crate::access::{Principal, TenantAccess};
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::api_keys::{self, ApiKey, CreatedApiKey, Scopes};
use crate::service::{audit, config_version};
use crate::validate;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ApplicationSpec {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
}

#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Application {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

/// An application with its keys and subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApplicationDetail {
    #[serde(flatten)]
    pub(crate) application: Application,
    pub(crate) keys: Vec<ApiKey>,
    pub(crate) subscriptions: Vec<Subscription>,
}

/// A key for an application.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApplicationKey {
    pub(crate) name: String,
    /// RFC 3339 time after which the key stops working.
    pub(crate) expires_at: Option<String>,
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Application>> {
    Ok(sqlx::query_as(
        "SELECT id, name, description, created_by, created_at FROM applications
         WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?)
}

/// The tenant's application `id`.
pub(crate) async fn find(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Application> {
    let found: Option<Application> = sqlx::query_as(
        "SELECT id, name, description, created_by, created_at FROM applications
         WHERE tenant_id = $1 AND id = $2",
    )
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    found.ok_or_else(|| ApiError::not_found("application", &id.to_string()))
}

pub(crate) async fn get(
    db: &PgPool,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<ApplicationDetail> {
    let application = find(db, access, id).await?;
    let keys = api_keys::list(db, access)
        .await?
        .into_iter()
        .filter(|k| k.application_id == Some(id))
        .collect();
    let subscriptions = subscriptions::of_application(db, access, id).await?;
    Ok(ApplicationDetail {
        application,
        keys,
        subscriptions,
    })
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: ApplicationSpec,
) -> ApiResult<Application> {
    access.role.require(Role::Member, "create applications")?;
    let name = validate::name("name", &spec.name)?;
    validate::text("description", &spec.description)?;
    let mut tx = db.begin().await?;
    let application: Application = sqlx::query_as(
        "INSERT INTO applications (id, tenant_id, name, description, created_by)
         VALUES ($1, $2, $3, $4, $5)
         RETURNING id, name, description, created_by, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(access.tenant.id)
    .bind(&name)
    .bind(&spec.description)
    .bind(principal.user_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("an application named '{name}' exists in this tenant")
        })
    })?;
    audit::record(
        &mut tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "application.create",
            target_type: "application",
            target_id: application.id.to_string(),
            details: json!({"name": application.name}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(application)
}

/// Deletes an application: its keys and subscriptions end with it.
pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "delete applications")?;
    let application = find(db, access, id).await?;
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM applications WHERE tenant_id = $1 AND id = $2")
        .bind(access.tenant.id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let change = audit::Change {
        tenant_id: Some(access.tenant.id),
        action: "application.delete",
        target_type: "application",
        target_id: id.to_string(),
        details: json!({"name": application.name}),
    };
    config_version::commit(tx, principal, change).await
}

/// A new key of the application (its secret shown once).
pub(crate) async fn create_key(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    input: CreateApplicationKey,
) -> ApiResult<CreatedApiKey> {
    let application = find(db, access, id).await?;
    api_keys::create(
        db,
        principal,
        access,
        api_keys::CreateApiKey {
            name: input.name,
            expires_at: input.expires_at,
            // Nothing of its own tenant: its subscriptions are its reach.
            scopes: Some(Scopes::default()),
            limits: Default::default(),
            budget: None,
            application_id: Some(application.id),
        },
    )
    .await
}
