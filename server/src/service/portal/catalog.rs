//! The catalog: the products a tenant may find and subscribe to — its own, every platform-wide
//! one, and those that name it.

use serde::Deserialize;
use serde_json::{json, Value};
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

/// A product's API reference as one OpenAPI document: its uploaded document for the REST
/// part, OpenAI's chat completions for its models, and each prompt API's endpoint.
pub(crate) async fn openapi(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Value> {
    let product = get(db, access, id).await?;
    let spec = &product.spec;
    let mut document = spec
        .openapi
        .clone()
        .unwrap_or_else(|| json!({"openapi": "3.1.0", "paths": {}}));
    document["info"] = json!({"title": spec.title, "version": product.updated_at.date().to_string(),
                              "description": spec.description});
    document["components"]["securitySchemes"]["bearer"] =
        json!({"type": "http", "scheme": "bearer", "description": "An application's key"});
    document["security"] = json!([{"bearer": []}]);
    if !spec.models.is_empty() {
        document["paths"]["/v1/chat/completions"] = json!({"post": {
            "summary": "Chat completions (OpenAI's API; Anthropic's /v1/messages and /v1/responses work too)",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "required": ["model", "messages"],
                "properties": {
                    "model": {"type": "string", "enum": spec.models},
                    "messages": {"type": "array", "items": {"type": "object",
                        "required": ["role", "content"],
                        "properties": {"role": {"type": "string", "enum": ["system", "user", "assistant"]},
                                       "content": {"type": "string"}}}},
                    "stream": {"type": "boolean"},
                    "max_tokens": {"type": "integer", "minimum": 1}
                }}}}},
            "responses": {"200": {"description": "The completion (or a stream of chunks)"},
                          "429": {"description": "The plan's request, token or budget limit"}}
        }});
    }
    let prompts =
        crate::service::prompt_apis::documents(db, product.tenant.id, &spec.prompt_apis).await?;
    for prompt in prompts {
        if let Some(paths) = prompt["paths"].as_object() {
            for (path, item) in paths {
                document["paths"][path] = item.clone();
            }
        }
    }
    Ok(document)
}
