//! Tenant namespaces: the part of the request space (hosts, path prefixes) whose traffic a
//! tenant's routes may serve. Platform admins assign them; a route can only be created inside
//! its tenant's namespace, and the proxy consults the same namespaces before matching, so no
//! tenant can capture another's traffic (as Kong's workspaces refuse colliding routes).
//!
//! A fresh installation works without set-up: the first tenant receives the whole request space
//! (any host, `/`). A tenant created later has none until a platform admin assigns it some; a
//! more specific part (a host, a longer prefix) carves itself out of a broader one.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tollgate_protocol::{NamespaceEntry, Namespaces};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::service::routes::{check_host, check_prefix};
use crate::service::{audit, config_version};

/// Most parts one tenant's namespace may have.
const MAX_PARTS: usize = 200;

/// One part of a tenant's namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamespacePart {
    /// An exact host or a wildcard like `*.acme.example`; absent or empty for any host.
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// The path prefix, like `/acme` (default `/`: every path of the host).
    #[serde(default = "root")]
    pub(crate) path_prefix: String,
}

fn root() -> String {
    "/".into()
}

/// A tenant's namespace.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Namespace {
    pub(crate) parts: Vec<NamespacePart>,
}

/// Every tenant's parts, in one consistent read.
pub(crate) async fn all(conn: &mut PgConnection) -> ApiResult<Vec<NamespaceEntry>> {
    let rows: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT tenant_id, host, path_prefix FROM tenant_namespaces ORDER BY host, path_prefix",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(tenant_id, host, path_prefix)| NamespaceEntry {
            tenant_id,
            host,
            path_prefix,
        })
        .collect())
}

/// The tenant's namespace (anyone who may see the tenant).
pub(crate) async fn get(db: &PgPool, access: &TenantAccess) -> ApiResult<Namespace> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT host, path_prefix FROM tenant_namespaces WHERE tenant_id = $1
         ORDER BY host, path_prefix",
    )
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    Ok(Namespace {
        parts: rows
            .into_iter()
            .map(|(host, path_prefix)| NamespacePart {
                host: (!host.is_empty()).then_some(host),
                path_prefix,
            })
            .collect(),
    })
}

/// Gives the whole request space to `tenant_id` if no tenant owns any of it yet (the first
/// tenant of an installation).
pub(crate) async fn grant_all_if_unclaimed(
    conn: &mut PgConnection,
    tenant_id: Uuid,
) -> ApiResult<()> {
    sqlx::query("LOCK TABLE tenant_namespaces IN EXCLUSIVE MODE")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "INSERT INTO tenant_namespaces (tenant_id, host, path_prefix)
         SELECT $1, '', '/' WHERE NOT EXISTS (SELECT 1 FROM tenant_namespaces)",
    )
    .bind(tenant_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// Refuses a route (its host patterns, empty for any host, and path) that would match requests
/// outside its tenant's namespace. Runs inside the transaction that stores the route, which it
/// holds a share lock for, so the namespaces cannot change underneath.
pub(crate) async fn check_route(
    conn: &mut PgConnection,
    access: &TenantAccess,
    hosts: &[String],
    path: &str,
) -> ApiResult<()> {
    sqlx::query("LOCK TABLE tenant_namespaces IN SHARE MODE")
        .execute(&mut *conn)
        .await?;
    let entries = all(conn).await?;
    let own: Vec<&NamespaceEntry> = entries
        .iter()
        .filter(|e| e.tenant_id == access.tenant.id)
        .collect();
    let slug = &access.tenant.slug;
    if own.is_empty() {
        return Err(ApiError::Invalid(format!(
            "tenant '{slug}' has no part of the request space yet, so its routes could not \
             receive traffic: ask a platform admin to assign it hosts or path prefixes \
             (PUT /api/v1/tenants/{slug}/namespace)"
        )));
    }
    let namespaces = Namespaces::new(&entries);
    if let Some(pattern) = namespaces.outside(access.tenant.id, hosts, path) {
        let what = if pattern.is_empty() {
            format!("path '{path}' on any host")
        } else {
            format!("path '{path}' on host '{pattern}'")
        };
        return Err(ApiError::Invalid(format!(
            "the route's {what} is outside tenant '{slug}''s namespace ({}); use a host and \
             path inside it, or ask a platform admin to assign more",
            describe(&own)
        )));
    }
    Ok(())
}

fn describe(parts: &[&NamespaceEntry]) -> String {
    parts
        .iter()
        .map(|e| {
            let host = if e.host.is_empty() {
                "any host"
            } else {
                &e.host
            };
            format!("{host} {}", e.path_prefix)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Replaces the tenant's namespace (platform admins only). Refused when a part is another
/// tenant's, or when any tenant's existing route would end up outside its own namespace.
pub(crate) async fn replace(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    input: Namespace,
) -> ApiResult<Namespace> {
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only platform admins assign the request space to tenants".into(),
        ));
    }
    if input.parts.len() > MAX_PARTS {
        return Err(ApiError::Invalid(format!("parts: at most {MAX_PARTS}")));
    }
    let mut parts: Vec<(String, String)> = Vec::with_capacity(input.parts.len());
    for part in &input.parts {
        let host = match part.host.as_deref().map(str::trim) {
            None | Some("") => String::new(),
            Some(host) => check_host(host)?,
        };
        let prefix = check_prefix(&part.path_prefix)?;
        if !parts.contains(&(host.clone(), prefix.clone())) {
            parts.push((host, prefix));
        }
    }

    let mut tx = db.begin().await?;
    sqlx::query("LOCK TABLE tenant_namespaces IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    let current = all(&mut tx).await?;
    for (host, prefix) in &parts {
        let taken = current.iter().find(|e| {
            &e.host == host && &e.path_prefix == prefix && e.tenant_id != access.tenant.id
        });
        if let Some(taken) = taken {
            let owner: String = sqlx::query_scalar("SELECT slug FROM tenants WHERE id = $1")
                .bind(taken.tenant_id)
                .fetch_one(&mut *tx)
                .await?;
            return Err(ApiError::Conflict(format!(
                "{} {prefix} is assigned to tenant '{owner}'; take it from that tenant first",
                if host.is_empty() { "any host" } else { host }
            )));
        }
    }
    let mut next: Vec<NamespaceEntry> = current
        .into_iter()
        .filter(|e| e.tenant_id != access.tenant.id)
        .collect();
    next.extend(parts.iter().map(|(host, prefix)| NamespaceEntry {
        tenant_id: access.tenant.id,
        host: host.clone(),
        path_prefix: prefix.clone(),
    }));
    let stranded = stranded_routes(&mut tx, &Namespaces::new(&next)).await?;
    if !stranded.is_empty() {
        return Err(ApiError::Conflict(format!(
            "these routes would fall outside their tenant's namespace: {}; change or delete them \
             first, or assign the namespace so that they stay inside",
            stranded.join(", ")
        )));
    }
    sqlx::query("DELETE FROM tenant_namespaces WHERE tenant_id = $1")
        .bind(access.tenant.id)
        .execute(&mut *tx)
        .await?;
    for (host, prefix) in &parts {
        sqlx::query(
            "INSERT INTO tenant_namespaces (tenant_id, host, path_prefix) VALUES ($1, $2, $3)",
        )
        .bind(access.tenant.id)
        .bind(host)
        .bind(prefix)
        .execute(&mut *tx)
        .await?;
    }
    let namespace = Namespace {
        parts: parts
            .into_iter()
            .map(|(host, path_prefix)| NamespacePart {
                host: (!host.is_empty()).then_some(host),
                path_prefix,
            })
            .collect(),
    };
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "tenant.namespace",
            target_type: "tenant",
            target_id: access.tenant.id.to_string(),
            details: json!({ "parts": namespace.parts }),
        },
    )
    .await?;
    Ok(namespace)
}

/// Routes (as `tenant/route`) that the namespaces would no longer give to their own tenant.
async fn stranded_routes(
    conn: &mut PgConnection,
    namespaces: &Namespaces,
) -> ApiResult<Vec<String>> {
    let routes: Vec<(Uuid, String, String, Vec<String>, String)> = sqlx::query_as(
        "SELECT r.tenant_id, t.slug, r.name, r.hosts, r.path
         FROM routes r JOIN tenants t ON t.id = r.tenant_id ORDER BY t.slug, r.name",
    )
    .fetch_all(conn)
    .await?;
    let mut stranded = Vec::new();
    for (tenant_id, slug, name, hosts, path) in routes {
        if namespaces.outside(tenant_id, &hosts, &path).is_some() {
            stranded.push(format!("{slug}/{name}"));
        }
        if stranded.len() >= 10 {
            break;
        }
    }
    Ok(stranded)
}
