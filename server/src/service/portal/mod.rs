//! The developer portal: API products a tenant publishes (`products`), the catalog other
//! tenants find them in (`catalog`), applications with their own keys (`applications`), and
//! subscriptions of applications to products, approved or refused by the product's tenant
//! (`subscriptions`). A subscription is the only way a key reaches another tenant's APIs.

pub(crate) mod applications;
pub(crate) mod catalog;
pub(crate) mod products;
pub(crate) mod subscriptions;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A tenant as the other side of a subscription sees it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct TenantRef {
    pub(crate) id: Uuid,
    pub(crate) slug: String,
    pub(crate) name: String,
}
