//! The catalog: the products a tenant may find and subscribe to — its own, every platform-wide
//! one, and those that name it.

use serde::Deserialize;
use sqlx::PgPool;
use utoipa::IntoParams;
use uuid::Uuid;

use super::products::{Product, Row, COLUMNS};
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};

/// The condition on `api_products p` that the tenant `$1` may see it.
pub(super) const VISIBLE: &str = "(p.tenant_id = $1 OR p.visibility = 'platform'
    OR (p.visibility = 'tenants' AND $1 = ANY(p.visible_to)))";

/// Filters of the catalog.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogQuery {
    /// Words in the name, title or description.
    pub(crate) search: Option<String>,
    /// Only products with this tag.
    pub(crate) tag: Option<String>,
}

/// What another tenant sees of a product: not whom else it is shown to.
fn as_seen_by(access: &TenantAccess, mut product: Product) -> Product {
    if product.tenant.id != access.tenant.id {
        product.spec.visible_to.clear();
    }
    product
}

pub(crate) async fn list(
    db: &PgPool,
    access: &TenantAccess,
    query: &CatalogQuery,
) -> ApiResult<Vec<Product>> {
    let search = query
        .search
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            let escaped = s
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_products p JOIN tenants t ON t.id = p.tenant_id
         WHERE {VISIBLE}
           AND ($2::text IS NULL OR p.name ILIKE $2 OR p.title ILIKE $2 OR p.description ILIKE $2)
           AND ($3::text IS NULL OR $3 = ANY(p.tags))
         ORDER BY p.title, p.id"
    ))
    .bind(access.tenant.id)
    .bind(search)
    .bind(query.tag.as_deref().map(str::trim))
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let mut product = as_seen_by(access, Product::from(row));
            // The list stays small: a product's page has its document.
            product.spec.openapi = None;
            product
        })
        .collect())
}

/// A product the tenant may see; one it may not see does not exist for it.
pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Product> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_products p JOIN tenants t ON t.id = p.tenant_id
         WHERE {VISIBLE} AND p.id = $2"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(|row| as_seen_by(access, Product::from(row)))
        .ok_or_else(|| ApiError::not_found("product", &id.to_string()))
}
