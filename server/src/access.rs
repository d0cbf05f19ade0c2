//! Who a caller is and what they may reach: plain types, free of HTTP and of the database, so
//! every layer can name them without depending on the layers above it.

use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::roles::Role;

/// An authenticated user.
#[derive(Debug, Clone)]
pub(crate) struct Principal {
    pub(crate) user_id: Uuid,
    pub(crate) email: String,
    pub(crate) platform_admin: bool,
}

impl Principal {
    /// Refuses with 403 unless this is a platform admin; `action` completes "only platform
    /// admins may …".
    pub(crate) fn require_platform_admin(&self, action: &str) -> crate::error::ApiResult<()> {
        if self.platform_admin {
            Ok(())
        } else {
            Err(crate::error::ApiError::Forbidden(format!(
                "only platform admins may {action}"
            )))
        }
    }
}

/// A tenant: an organisation or team that owns keys, routes and models.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Tenant {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) slug: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// A tenant the caller may see, and their effective role in it.
#[derive(Debug, Clone)]
pub(crate) struct TenantAccess {
    pub(crate) tenant: Tenant,
    pub(crate) role: Role,
}
