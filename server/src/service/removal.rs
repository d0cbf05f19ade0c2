//! Deleting a tenant's configuration object by id: one statement, audited, a new version.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::service::{audit, config_version};

/// The objects deleted this plain way (others check what depends on them first).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Removable {
    Model,
    PromptApi,
    Route,
}

impl Removable {
    fn kind(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::PromptApi => "prompt_api",
            Self::Route => "route",
        }
    }

    fn statement(self) -> &'static str {
        match self {
            Self::Model => "DELETE FROM models WHERE tenant_id = $1 AND id = $2 RETURNING name",
            Self::PromptApi => {
                "DELETE FROM prompt_apis WHERE tenant_id = $1 AND id = $2 RETURNING slug"
            }
            Self::Route => "DELETE FROM routes WHERE tenant_id = $1 AND id = $2 RETURNING name",
        }
    }
}

/// Deletes the object inside the caller's transaction (no audit entry, no version); returns its
/// name, or 404 when the tenant has none by that id.
pub(crate) async fn remove_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    what: Removable,
    id: Uuid,
) -> ApiResult<String> {
    let name: Option<String> = sqlx::query_scalar(what.statement())
        .bind(access.tenant.id)
        .bind(id)
        .fetch_optional(conn)
        .await?;
    name.ok_or_else(|| ApiError::not_found(what.kind(), &id.to_string()))
}

/// Deletes the object (404 when the tenant has none by that id) and records who did it.
pub(crate) async fn remove(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    what: Removable,
    id: Uuid,
) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    let name = remove_in(&mut tx, access, what, id).await?;
    let action = format!("{}.delete", what.kind());
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: &action,
            target_type: what.kind(),
            target_id: id.to_string(),
            details: json!({ "name": name }),
        },
    )
    .await
}
