//! Routes in PostgreSQL: rows, queries, conflicts, quotas and audit entries.

use std::collections::BTreeMap;
use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::spec::{check, Checked};
use super::{Destination, HeaderRules, PathMatch, Route, RouteSpec, StoredDestination, Target};
use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::removal::{self, Removable};
use crate::service::scoped;
use crate::service::upstreams;
use crate::service::{audit, config_version};

/// A route as stored (the snapshot reads the same rows).
#[derive(sqlx::FromRow)]
pub(crate) struct RouteRow {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) hosts: Vec<String>,
    pub(crate) path: String,
    pub(crate) path_match: PathMatch,
    pub(crate) methods: Vec<String>,
    pub(crate) strip_prefix: bool,
    pub(crate) targets: sqlx::types::Json<Vec<Target>>,
    pub(crate) connect_timeout_ms: i64,
    pub(crate) timeout_ms: i64,
    pub(crate) retries: i32,
    pub(crate) retry_on: Vec<String>,
    pub(crate) retry_non_idempotent: bool,
    pub(crate) require_key: bool,
    pub(crate) set_headers: sqlx::types::Json<BTreeMap<String, String>>,
    pub(crate) remove_headers: Vec<String>,
    pub(crate) forward_key: bool,
    pub(crate) body_idle_timeout_ms: i64,
    pub(crate) destinations: sqlx::types::Json<Vec<StoredDestination>>,
    pub(crate) single_service: bool,
    /// `destinations` with the services' names.
    pub(crate) named_destinations: sqlx::types::Json<Vec<Destination>>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

const ROUTE_COLUMNS: &str = "id, name, hosts, path, path_match, methods, strip_prefix, targets,
     connect_timeout_ms, timeout_ms, retries, retry_on, retry_non_idempotent, require_key,
     set_headers, remove_headers, forward_key, body_idle_timeout_ms, destinations, single_service,
     (SELECT COALESCE(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('service', s.name,
                 'subset', d.value->'subset', 'weight', d.value->'weight')) ORDER BY d.ordinality),
             '[]'::jsonb)
      FROM jsonb_array_elements(routes.destinations) WITH ORDINALITY AS d
      JOIN services s ON s.id = (d.value->>'service_id')::uuid) AS named_destinations,
     created_at, updated_at";

impl From<RouteRow> for Route {
    fn from(row: RouteRow) -> Self {
        let mut destinations = row.named_destinations.0;
        let service = if row.single_service {
            destinations.pop().map(|d| d.service)
        } else {
            None
        };
        Self {
            id: row.id,
            spec: RouteSpec {
                name: row.name,
                hosts: row.hosts,
                path: row.path,
                path_match: row.path_match,
                methods: row.methods,
                strip_prefix: row.strip_prefix,
                targets: row.targets.0,
                service,
                destinations,
                timeout: Some(crate::validate::millis_text(row.timeout_ms)),
                connect_timeout: Some(crate::validate::millis_text(row.connect_timeout_ms)),
                retries: row.retries.max(0).unsigned_abs(),
                retry_on: Some(row.retry_on),
                retry_non_idempotent: row.retry_non_idempotent,
                require_key: row.require_key,
                request_headers: HeaderRules {
                    set: row.set_headers.0,
                    remove: row.remove_headers,
                },
                forward_key: row.forward_key,
                body_idle_timeout: Some(crate::validate::millis_text(row.body_idle_timeout_ms)),
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

fn conflict(err: sqlx::Error, name: &str) -> ApiError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            if db.constraint() == Some("routes_match_signature_key") {
                ApiError::Conflict(
                    "another route of this tenant already matches exactly these hosts, path, \
                     match and methods; change one of them"
                        .into(),
                )
            } else {
                ApiError::Conflict(format!(
                    "a route named '{name}' exists in this tenant; choose another name"
                ))
            }
        }
        _ => ApiError::Database(err),
    }
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Route>> {
    let sql = format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant_id = $1 ORDER BY name");
    scoped::all::<RouteRow, _>(db, access, &sql).await
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Route> {
    let sql = format!("SELECT {ROUTE_COLUMNS} FROM routes WHERE tenant_id = $1 AND id = $2");
    scoped::one::<RouteRow, _>(db, access, &sql, id, "route").await
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: RouteSpec,
) -> ApiResult<Route> {
    access.role.require(Role::Admin, "manage routes")?;
    let mut tx = db.begin().await?;
    let route = insert(&mut tx, access, spec).await?;
    config_version::commit(tx, principal, change(access, "route.create", &route)?).await?;
    Ok(route)
}

/// Stores a new route inside the caller's transaction (no audit entry, no new version).
pub(crate) async fn insert(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    spec: RouteSpec,
) -> ApiResult<Route> {
    let checked = check(spec)?;
    let destinations = admit(&mut *conn, access, &checked, true).await?;
    let row: RouteRow = bind_spec(
        sqlx::query_as(&format!(
            "INSERT INTO routes (tenant_id, id, name, hosts, path, path_match, methods, strip_prefix,
                 targets, connect_timeout_ms, timeout_ms, retries, retry_on, retry_non_idempotent,
                 require_key, set_headers, remove_headers, match_signature, forward_key,
                 body_idle_timeout_ms, destinations, single_service)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
                 $19, $20, $21, $22)
             RETURNING {ROUTE_COLUMNS}"
        )),
        access.tenant.id,
        Uuid::now_v7(),
        &checked,
        destinations,
    )
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| conflict(e, &checked.spec.name))?;
    Ok(Route::from(row))
}

/// Applies a JSON merge patch to the route's settings.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: serde_json::Value,
) -> ApiResult<Route> {
    access.role.require(Role::Admin, "manage routes")?;
    let current = get(db, access, id).await?;
    let spec = crate::merge_patch::patched(&current.spec, &patch, "route")?;
    let mut tx = db.begin().await?;
    let route = replace(&mut tx, access, id, spec).await?;
    config_version::commit(tx, principal, change(access, "route.update", &route)?).await?;
    Ok(route)
}

/// Replaces a route's settings inside the caller's transaction (no audit entry, no version).
pub(crate) async fn replace(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
    spec: RouteSpec,
) -> ApiResult<Route> {
    let checked = check(spec)?;
    let destinations = admit(&mut *conn, access, &checked, false).await?;
    let row: Option<RouteRow> = bind_spec(
        sqlx::query_as(&format!(
            "UPDATE routes SET name = $3, hosts = $4, path = $5, path_match = $6, methods = $7,
                 strip_prefix = $8, targets = $9, connect_timeout_ms = $10, timeout_ms = $11,
                 retries = $12, retry_on = $13, retry_non_idempotent = $14, require_key = $15,
                 set_headers = $16, remove_headers = $17, match_signature = $18, forward_key = $19,
                 body_idle_timeout_ms = $20, destinations = $21, single_service = $22
             WHERE tenant_id = $1 AND id = $2
             RETURNING {ROUTE_COLUMNS}"
        )),
        access.tenant.id,
        id,
        &checked,
        destinations,
    )
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| conflict(e, &checked.spec.name))?;
    Ok(Route::from(row.ok_or_else(|| {
        ApiError::not_found("route", &id.to_string())
    })?))
}

pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage routes")?;
    removal::remove(db, principal, access, Removable::Route, id).await
}

type RouteQuery<'q> =
    sqlx::query::QueryAs<'q, sqlx::Postgres, RouteRow, sqlx::postgres::PgArguments>;

fn bind_spec<'q>(
    query: RouteQuery<'q>,
    tenant_id: Uuid,
    id: Uuid,
    checked: &'q Checked,
    destinations: Vec<StoredDestination>,
) -> RouteQuery<'q> {
    let spec = &checked.spec;
    query
        .bind(tenant_id)
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.hosts)
        .bind(&spec.path)
        .bind(spec.path_match)
        .bind(&spec.methods)
        .bind(spec.strip_prefix)
        .bind(sqlx::types::Json(&spec.targets))
        .bind(duration_ms(checked.connect_timeout))
        .bind(duration_ms(checked.timeout))
        .bind(i32::try_from(spec.retries).unwrap_or(0))
        .bind(&checked.retry_on)
        .bind(spec.retry_non_idempotent)
        .bind(spec.require_key)
        .bind(sqlx::types::Json(&spec.request_headers.set))
        .bind(&spec.request_headers.remove)
        .bind(&checked.signature)
        .bind(spec.forward_key)
        .bind(duration_ms(checked.body_idle_timeout))
        .bind(sqlx::types::Json(destinations))
        .bind(spec.service.is_some())
}

/// Checks what depends on the platform's settings and the tenant's other objects, inside the
/// storing transaction: the route stays in its tenant's namespace, targets obey the egress
/// policy, the tenant's quotas hold, the services it names exist (with the subsets it names).
/// Returns its destinations by service id.
async fn admit(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    checked: &Checked,
    adding: bool,
) -> ApiResult<Vec<StoredDestination>> {
    crate::service::settings::check_quota(
        &mut *conn,
        access.tenant.id,
        crate::service::settings::Kind::Routes,
        adding,
        &checked.spec,
    )
    .await?;
    crate::service::namespaces::check_route(conn, access, &checked.spec.hosts, &checked.spec.path)
        .await?;
    let egress = crate::service::settings::egress(&mut *conn).await?;
    for target in &checked.spec.targets {
        crate::service::settings::check_url_egress(&egress, "target url", &target.url)?;
    }
    resolve_destinations(conn, access, &checked.spec).await
}

async fn resolve_destinations(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    spec: &RouteSpec,
) -> ApiResult<Vec<StoredDestination>> {
    let wanted: Vec<Destination> = match &spec.service {
        Some(service) => vec![Destination {
            service: service.clone(),
            subset: None,
            weight: 100,
        }],
        None => spec.destinations.clone(),
    };
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<String> = wanted.iter().map(|d| d.service.clone()).collect();
    let services = upstreams::resolve(conn, access.tenant.id, &names).await?;
    wanted
        .into_iter()
        .map(|d| {
            let (id, targets) = services.get(&d.service).ok_or_else(|| {
                ApiError::Invalid(format!(
                    "the route forwards to service '{}', which this tenant does not have; create it first",
                    d.service
                ))
            })?;
            if !upstreams::serves(targets, d.subset.as_deref()) {
                return Err(ApiError::Invalid(format!(
                    "service '{}' has no target with weight in subset '{}'",
                    d.service,
                    d.subset.as_deref().unwrap_or_default()
                )));
            }
            Ok(StoredDestination {
                service_id: *id,
                subset: d.subset,
                weight: d.weight,
            })
        })
        .collect()
}

pub(super) fn duration_ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The audit entry of a change to this item.
fn change<'a>(
    access: &TenantAccess,
    action: &'a str,
    route: &Route,
) -> ApiResult<audit::Change<'a>> {
    Ok(audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "route",
        target_id: route.id.to_string(),
        details: serde_json::to_value(&route.spec).map_err(ApiError::internal)?,
    })
}
