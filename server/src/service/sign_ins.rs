//! Sign-ins in the platform's audit log: each success and each failure, with the method and
//! the client's address (never the password tried).

use std::net::IpAddr;

use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::ApiResult;
use crate::service::audit;

pub(crate) async fn succeeded(
    db: &PgPool,
    principal: &Principal,
    address: Option<IpAddr>,
    mut details: Value,
) -> ApiResult<()> {
    details["address"] = json!(address.map(|a| a.to_string()));
    let mut conn = db.acquire().await?;
    audit::record(
        &mut conn,
        principal,
        audit::Change {
            tenant_id: None,
            action: "user.sign_in",
            target_type: "user",
            target_id: principal.user_id.to_string(),
            details,
        },
    )
    .await
}

/// A refused sign-in: the email tried, and the user when the email is theirs.
pub(crate) async fn failed(
    db: &PgPool,
    user_id: Option<Uuid>,
    email: &str,
    address: Option<IpAddr>,
    reason: &str,
) -> ApiResult<()> {
    let mut conn = db.acquire().await?;
    audit::record_as(
        &mut conn,
        user_id,
        Some(email),
        audit::Change {
            tenant_id: None,
            action: "user.sign_in_failed",
            target_type: "user",
            target_id: user_id.map(|id| id.to_string()).unwrap_or_default(),
            details: json!({"reason": reason, "address": address.map(|a| a.to_string())}),
        },
    )
    .await
}
