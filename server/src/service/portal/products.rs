//! API products: what a tenant publishes (routes, models, prompt APIs, MCP servers of its own),
//! to whom (this tenant, every tenant, or named tenants), how subscriptions are approved, and
//! the plans a subscription may take (limits and budget).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TenantRef;
use crate::access::{Principal, TenantAccess};
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::api_keys::{self, Budget, Limits};
use crate::service::{audit, config_version};
use crate::{merge_patch, validate};

/// Who may find and subscribe to a product.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Visibility {
    /// Only its own tenant.
    #[default]
    Tenant,
    /// Every tenant of the platform.
    Platform,
    /// Its own tenant and the tenants named in `visible_to`.
    Tenants,
}

impl Visibility {
    fn as_str(self) -> &'static str {
        match self {
            Self::Tenant => "tenant",
            Self::Platform => "platform",
            Self::Tenants => "tenants",
        }
    }
}

/// How a subscription request is decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Approval {
    /// An admin of the product's tenant approves or rejects each request.
    #[default]
    Manual,
    /// Requests are approved at once.
    Automatic,
}

/// A plan a subscription grants: limits and budget counted per subscription.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Plan {
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) limits: Limits,
    pub(crate) budget: Option<Budget>,
}

/// A product as created and changed (JSON merge patch).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ProductSpec {
    /// A slug, unique in the tenant.
    pub(crate) name: String,
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) tags: Vec<String>,
    /// Route names of this tenant.
    #[serde(default)]
    pub(crate) routes: Vec<String>,
    /// Model names of this tenant.
    #[serde(default)]
    pub(crate) models: Vec<String>,
    /// Prompt API slugs of this tenant.
    #[serde(default)]
    pub(crate) prompt_apis: Vec<String>,
    /// MCP server names of this tenant.
    #[serde(default)]
    pub(crate) mcp_servers: Vec<String>,
    #[serde(default)]
    pub(crate) visibility: Visibility,
    /// Tenant slugs that see it, with `visibility: tenants`.
    #[serde(default)]
    pub(crate) visible_to: Vec<String>,
    #[serde(default)]
    pub(crate) approval: Approval,
    /// At least one.
    pub(crate) plans: Vec<Plan>,
    /// An OpenAPI 3 document of its REST part, for the portal's docs.
    #[schema(value_type = Option<Object>)]
    pub(crate) openapi: Option<Value>,
}

/// A product as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Product {
    pub(crate) id: Uuid,
    /// The tenant that publishes it.
    pub(crate) tenant: TenantRef,
    #[serde(flatten)]
    pub(crate) spec: ProductSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

#[derive(sqlx::FromRow)]
pub(super) struct Row {
    id: Uuid,
    tenant_id: Uuid,
    tenant_slug: String,
    tenant_name: String,
    name: String,
    title: String,
    description: String,
    tags: Vec<String>,
    routes: Vec<String>,
    models: Vec<String>,
    prompt_apis: Vec<String>,
    mcp_servers: Vec<String>,
    visibility: String,
    visible_to_slugs: Vec<String>,
    approval: String,
    plans: sqlx::types::Json<Vec<Plan>>,
    openapi: Option<Value>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

/// Columns of `Row`, from `api_products p JOIN tenants t`.
pub(super) const COLUMNS: &str = "p.id, p.tenant_id, t.slug AS tenant_slug, t.name AS tenant_name,
    p.name, p.title, p.description, p.tags, p.routes, p.models, p.prompt_apis, p.mcp_servers,
    p.visibility,
    ARRAY(SELECT v.slug FROM tenants v WHERE v.id = ANY(p.visible_to) ORDER BY v.slug) AS visible_to_slugs,
    p.approval, p.plans, p.openapi, p.created_at, p.updated_at";

impl From<Row> for Product {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            tenant: TenantRef {
                id: row.tenant_id,
                slug: row.tenant_slug,
                name: row.tenant_name,
            },
            spec: ProductSpec {
                name: row.name,
                title: row.title,
                description: row.description,
                tags: row.tags,
                routes: row.routes,
                models: row.models,
                prompt_apis: row.prompt_apis,
                mcp_servers: row.mcp_servers,
                visibility: match row.visibility.as_str() {
                    "platform" => Visibility::Platform,
                    "tenants" => Visibility::Tenants,
                    _ => Visibility::Tenant,
                },
                visible_to: row.visible_to_slugs,
                approval: if row.approval == "automatic" {
                    Approval::Automatic
                } else {
                    Approval::Manual
                },
                plans: row.plans.0,
                openapi: row.openapi,
            },
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl Product {
    /// The plan of this name.
    pub(crate) fn plan(&self, name: &str) -> Option<&Plan> {
        self.spec.plans.iter().find(|p| p.name == name)
    }
}

/// Checked settings and the ids of the tenants it is visible to.
async fn check(
    conn: &mut PgConnection,
    access: &TenantAccess,
    spec: ProductSpec,
) -> ApiResult<(ProductSpec, Vec<Uuid>)> {
    let name = validate::slug(&spec.name)?;
    let title = validate::name("title", &spec.title)?;
    validate::text("description", &spec.description)?;
    if spec.description.chars().count() > 10_000 {
        return Err(ApiError::Invalid(
            "description: at most 10,000 characters".into(),
        ));
    }
    let tags = validate::name_list("tags", &spec.tags)?;
    let routes = validate::name_list("routes", &spec.routes)?;
    let models = validate::name_list("models", &spec.models)?;
    let prompt_apis = validate::name_list("prompt_apis", &spec.prompt_apis)?;
    let mcp_servers = validate::name_list("mcp_servers", &spec.mcp_servers)?;
    if routes.is_empty() && models.is_empty() && prompt_apis.is_empty() && mcp_servers.is_empty() {
        return Err(ApiError::Invalid(
            "a product holds at least one route, model, prompt API or MCP server".into(),
        ));
    }
    for (kind, table, column, names) in [
        ("routes", "routes", "name", &routes),
        ("models", "models", "name", &models),
        ("prompt_apis", "prompt_apis", "slug", &prompt_apis),
        ("mcp_servers", "mcp_servers", "name", &mcp_servers),
    ] {
        let found: Vec<String> = sqlx::query_scalar(&format!(
            "SELECT {column} FROM {table} WHERE tenant_id = $1 AND {column} = ANY($2)"
        ))
        .bind(access.tenant.id)
        .bind(names)
        .fetch_all(&mut *conn)
        .await?;
        if let Some(missing) = names.iter().find(|n| !found.contains(n)) {
            return Err(ApiError::Invalid(format!(
                "{kind}: this tenant has no '{missing}'"
            )));
        }
    }
    let visible_to = validate::name_list("visible_to", &spec.visible_to)?;
    let visible_ids: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, slug FROM tenants WHERE slug = ANY($1)")
            .bind(&visible_to)
            .fetch_all(&mut *conn)
            .await?;
    if let Some(missing) = visible_to
        .iter()
        .find(|s| !visible_ids.iter().any(|(_, slug)| slug == *s))
    {
        return Err(ApiError::Invalid(format!(
            "visible_to: no tenant is named '{missing}'"
        )));
    }
    if spec.visibility != Visibility::Tenants && !visible_to.is_empty() {
        return Err(ApiError::Invalid(
            "visible_to names tenants only with visibility 'tenants'".into(),
        ));
    }
    if spec.plans.is_empty() {
        return Err(ApiError::Invalid(
            "plans: give at least one (a name, and optional limits and budget)".into(),
        ));
    }
    let mut plans: Vec<Plan> = Vec::with_capacity(spec.plans.len());
    for plan in spec.plans {
        let name = validate::name("plans.name", &plan.name)?;
        if plans.iter().any(|p| p.name == name) {
            return Err(ApiError::Invalid(format!("plans: '{name}' twice")));
        }
        validate::text("plans.description", &plan.description)?;
        let policy = api_keys::normalised_policy(&api_keys::KeyPolicy {
            scopes: None,
            limits: plan.limits,
            budget: plan.budget,
        })?;
        plans.push(Plan {
            name,
            description: plan.description,
            limits: policy.limits,
            budget: policy.budget,
        });
    }
    let openapi = spec
        .openapi
        .map(crate::service::openapi_docs::document_of)
        .transpose()?;
    let checked = ProductSpec {
        name,
        title,
        description: spec.description,
        tags,
        routes,
        models,
        prompt_apis,
        mcp_servers,
        visibility: spec.visibility,
        visible_to,
        approval: spec.approval,
        plans,
        openapi,
    };
    Ok((checked, visible_ids.into_iter().map(|(id, _)| id).collect()))
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Product>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_products p JOIN tenants t ON t.id = p.tenant_id
         WHERE p.tenant_id = $1 ORDER BY p.name"
    ))
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(Product::from).collect())
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Product> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_products p JOIN tenants t ON t.id = p.tenant_id
         WHERE p.tenant_id = $1 AND p.id = $2"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(Product::from)
        .ok_or_else(|| ApiError::not_found("product", &id.to_string()))
}

/// Any tenant's product, for the catalog and subscriptions (visibility checked by the caller).
pub(super) async fn any(conn: &mut PgConnection, id: Uuid) -> ApiResult<Option<Product>> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM api_products p JOIN tenants t ON t.id = p.tenant_id WHERE p.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(Product::from))
}

fn change<'a>(access: &TenantAccess, action: &'a str, product: &Product) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "product",
        target_id: product.id.to_string(),
        details: json!({"name": product.spec.name, "routes": product.spec.routes,
            "models": product.spec.models, "prompt_apis": product.spec.prompt_apis,
            "mcp_servers": product.spec.mcp_servers, "visibility": product.spec.visibility,
            "visible_to": product.spec.visible_to, "approval": product.spec.approval,
            "plans": product.spec.plans.iter().map(|p| &p.name).collect::<Vec<_>>()}),
    }
}

async fn save(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Option<Uuid>,
    spec: ProductSpec,
) -> ApiResult<Product> {
    access.role.require(Role::Admin, "publish API products")?;
    let mut tx = db.begin().await?;
    let (spec, visible_ids) = check(&mut tx, access, spec).await?;
    let product_id = id.unwrap_or_else(Uuid::now_v7);
    let statement = match id {
        None => {
            "INSERT INTO api_products (id, tenant_id, name, title, description, tags, routes, models,
                 prompt_apis, mcp_servers, visibility, visible_to, approval, plans, openapi)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        }
        Some(_) => {
            "UPDATE api_products SET name = $3, title = $4, description = $5, tags = $6,
                 routes = $7, models = $8, prompt_apis = $9, mcp_servers = $10, visibility = $11,
                 visible_to = $12, approval = $13, plans = $14, openapi = $15
             WHERE id = $1 AND tenant_id = $2"
        }
    };
    sqlx::query(statement)
        .bind(product_id)
        .bind(access.tenant.id)
        .bind(&spec.name)
        .bind(&spec.title)
        .bind(&spec.description)
        .bind(&spec.tags)
        .bind(&spec.routes)
        .bind(&spec.models)
        .bind(&spec.prompt_apis)
        .bind(&spec.mcp_servers)
        .bind(spec.visibility.as_str())
        .bind(&visible_ids)
        .bind(if spec.approval == Approval::Automatic {
            "automatic"
        } else {
            "manual"
        })
        .bind(sqlx::types::Json(&spec.plans))
        .bind(&spec.openapi)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("a product named '{}' exists in this tenant", spec.name)
            })
        })?;
    let product = any(&mut tx, product_id)
        .await?
        .filter(|p| p.tenant.id == access.tenant.id)
        .ok_or_else(|| ApiError::not_found("product", &product_id.to_string()))?;
    let action = if id.is_none() {
        "product.create"
    } else {
        "product.update"
    };
    config_version::commit(tx, principal, change(access, action, &product)).await?;
    Ok(product)
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: ProductSpec,
) -> ApiResult<Product> {
    save(db, principal, access, None, spec).await
}

pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: Value,
) -> ApiResult<Product> {
    let current = get(db, access, id).await?;
    let spec = merge_patch::patched(&current.spec, &patch, "product")?;
    save(db, principal, access, Some(id), spec).await
}

/// Deletes a product; its subscriptions end with it.
pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "publish API products")?;
    let product = get(db, access, id).await?;
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM api_products WHERE tenant_id = $1 AND id = $2")
        .bind(access.tenant.id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    config_version::commit(tx, principal, change(access, "product.delete", &product)).await
}
