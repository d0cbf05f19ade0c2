//! Services in PostgreSQL: rows, queries, conflicts, quotas, references and audit entries.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use tollgate_protocol::HealthCheck;
use uuid::Uuid;

use super::spec::{check, health_spec, Checked};
use super::{Service, ServiceSpec, ServiceTarget};
use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::scoped;
use crate::service::{audit, config_version};

/// A service as stored (the snapshot reads the same rows).
#[derive(sqlx::FromRow)]
pub(crate) struct ServiceRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) targets: sqlx::types::Json<Vec<ServiceTarget>>,
    pub(crate) connect_timeout_ms: i64,
    pub(crate) health_check: Option<sqlx::types::Json<HealthCheck>>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, targets, connect_timeout_ms, health_check, created_at, updated_at";

impl From<ServiceRow> for Service {
    fn from(row: ServiceRow) -> Self {
        Self {
            id: row.id,
            spec: ServiceSpec {
                name: row.name,
                targets: row.targets.0,
                connect_timeout: Some(
                    humantime::format_duration(Duration::from_millis(
                        row.connect_timeout_ms.max(0).unsigned_abs(),
                    ))
                    .to_string(),
                ),
                health_check: row.health_check.map(|c| health_spec(&c.0)),
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn conflict(err: sqlx::Error, name: &str) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => ApiError::Conflict(format!(
            "a service named '{name}' exists in this tenant; choose another name"
        )),
        _ => ApiError::Database(err),
    }
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Service>> {
    let sql = format!("SELECT {COLUMNS} FROM services WHERE tenant_id = $1 ORDER BY name");
    scoped::all::<ServiceRow, _>(db, access, &sql).await
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Service> {
    let sql = format!("SELECT {COLUMNS} FROM services WHERE tenant_id = $1 AND id = $2");
    scoped::one::<ServiceRow, _>(db, access, &sql, id, "service").await
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: ServiceSpec,
) -> ApiResult<Service> {
    access.role.require(Role::Admin, "manage services")?;
    let mut tx = db.begin().await?;
    let service = insert(&mut tx, access, spec).await?;
    config_version::commit(tx, principal, change(access, "service.create", &service)?).await?;
    Ok(service)
}

/// Stores a new service inside the caller's transaction (no audit entry, no new version).
pub(crate) async fn insert(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    spec: ServiceSpec,
) -> ApiResult<Service> {
    let checked = check(spec)?;
    admit(&mut *conn, access, &checked, true).await?;
    let row: ServiceRow = sqlx::query_as(&format!(
        "INSERT INTO services (tenant_id, id, name, targets, connect_timeout_ms, health_check)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(access.tenant.id)
    .bind(Uuid::now_v7())
    .bind(&checked.spec.name)
    .bind(sqlx::types::Json(&checked.spec.targets))
    .bind(millis(checked.connect_timeout))
    .bind(checked.health_check.as_ref().map(sqlx::types::Json))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, &checked.spec.name))?;
    Ok(Service::from(row))
}

/// Applies a JSON merge patch to the service's settings. Subsets that routes send traffic to
/// must keep a target.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: serde_json::Value,
) -> ApiResult<Service> {
    access.role.require(Role::Admin, "manage services")?;
    let current = get(db, access, id).await?;
    let spec = crate::merge_patch::patched(&current.spec, &patch, "service")?;
    let mut tx = db.begin().await?;
    let service = replace(&mut tx, access, id, spec).await?;
    config_version::commit(tx, principal, change(access, "service.update", &service)?).await?;
    Ok(service)
}

/// Replaces a service's settings inside the caller's transaction (no audit entry, no version).
pub(crate) async fn replace(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
    spec: ServiceSpec,
) -> ApiResult<Service> {
    let service = replace_unchecked(&mut *conn, access, id, spec).await?;
    still_served(conn, access, &service).await?;
    Ok(service)
}

/// Whether every route that forwards to the service still finds a target in it; an apply
/// checks this once its routes have moved too.
pub(crate) async fn still_served(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    service: &Service,
) -> ApiResult<()> {
    for (route, subset) in subsets_in_use(conn, access.tenant.id, service.id).await? {
        if !serves(&service.spec.targets, subset.as_deref()) {
            return Err(ApiError::Conflict(format!(
                "route '{route}' sends traffic to {} of service '{}'; keep a target there, or change the route first",
                subset.map_or("all".to_string(), |s| format!("subset '{s}'")),
                service.spec.name
            )));
        }
    }
    Ok(())
}

/// Replaces a service's settings without checking the routes that use it (the caller does).
pub(crate) async fn replace_unchecked(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
    spec: ServiceSpec,
) -> ApiResult<Service> {
    let checked = check(spec)?;
    admit(&mut *conn, access, &checked, false).await?;
    let row: Option<ServiceRow> = sqlx::query_as(&format!(
        "UPDATE services SET name = $3, targets = $4, connect_timeout_ms = $5, health_check = $6
         WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .bind(&checked.spec.name)
    .bind(sqlx::types::Json(&checked.spec.targets))
    .bind(millis(checked.connect_timeout))
    .bind(checked.health_check.as_ref().map(sqlx::types::Json))
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| conflict(e, &checked.spec.name))?;
    Ok(Service::from(row.ok_or_else(|| {
        ApiError::not_found("service", &id.to_string())
    })?))
}

/// Deletes a service no route forwards to.
pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage services")?;
    let mut tx = db.begin().await?;
    let name = remove(&mut tx, access, id).await?;
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "service.delete",
            target_type: "service",
            target_id: id.to_string(),
            details: serde_json::json!({ "name": name }),
        },
    )
    .await
}

/// Deletes a service no route forwards to, inside the caller's transaction; returns its name.
pub(crate) async fn remove(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<String> {
    if let Some((route, _)) = subsets_in_use(&mut *conn, access.tenant.id, id)
        .await?
        .into_iter()
        .next()
    {
        return Err(ApiError::Conflict(format!(
            "route '{route}' forwards to this service; point it elsewhere or delete it first"
        )));
    }
    let name: Option<String> =
        sqlx::query_scalar("DELETE FROM services WHERE tenant_id = $1 AND id = $2 RETURNING name")
            .bind(access.tenant.id)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    name.ok_or_else(|| ApiError::not_found("service", &id.to_string()))
}

/// The routes that forward to the service, with the subset each sends to (`None`: all of it).
async fn subsets_in_use(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    service: Uuid,
) -> ApiResult<Vec<(String, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT r.name, d->>'subset' FROM routes r, jsonb_array_elements(r.destinations) d
         WHERE r.tenant_id = $1 AND (d->>'service_id')::uuid = $2 ORDER BY r.name",
    )
    .bind(tenant_id)
    .bind(service)
    .fetch_all(conn)
    .await?)
}

/// Whether the targets give traffic to `subset` (`None`: to any target).
pub(crate) fn serves(targets: &[ServiceTarget], subset: Option<&str>) -> bool {
    targets
        .iter()
        .any(|t| t.weight > 0 && subset.is_none_or(|s| t.subset.as_deref() == Some(s)))
}

/// Looks up the services `names` refers to in the tenant, inside the caller's transaction: by
/// name, their ids and targets.
pub(crate) async fn resolve(
    conn: &mut sqlx::PgConnection,
    tenant_id: Uuid,
    names: &[String],
) -> ApiResult<std::collections::HashMap<String, (Uuid, Vec<ServiceTarget>)>> {
    let rows: Vec<(Uuid, String, sqlx::types::Json<Vec<ServiceTarget>>)> = sqlx::query_as(
        "SELECT id, name, targets FROM services WHERE tenant_id = $1 AND name = ANY($2)",
    )
    .bind(tenant_id)
    .bind(names)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, targets)| (name, (id, targets.0)))
        .collect())
}

/// Checks what depends on the platform's settings, inside the storing transaction: quotas and
/// the egress policy.
async fn admit(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    checked: &Checked,
    adding: bool,
) -> ApiResult<()> {
    crate::service::settings::check_quota(
        &mut *conn,
        access.tenant.id,
        crate::service::settings::Kind::Services,
        adding,
        &checked.spec,
    )
    .await?;
    let egress = crate::service::settings::egress(&mut *conn).await?;
    for target in &checked.spec.targets {
        crate::service::settings::check_url_egress(&egress, "target url", &target.url)?;
    }
    Ok(())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

fn change<'a>(
    access: &TenantAccess,
    action: &'a str,
    service: &Service,
) -> ApiResult<audit::Change<'a>> {
    Ok(audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "service",
        target_id: service.id.to_string(),
        details: serde_json::to_value(&service.spec).map_err(ApiError::internal)?,
    })
}
