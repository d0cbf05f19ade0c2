//! Subscriptions of applications to products. A request is pending until an admin of the
//! product's tenant approves or rejects it (or approved at once, for a product that approves
//! automatically); an approved one may be suspended, resumed and revoked, and its application's
//! tenant may cancel it. Every step is audited in both tenants and reaches the proxies with the
//! next configuration version.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tollgate_protocol::{GrantEntry, KeyBudget};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::catalog::VISIBLE;
use super::products::{self, Approval, Plan};
use crate::access::{Principal, TenantAccess};
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::{audit, config_version};
use crate::validate;

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pending,
    Approved,
    Rejected,
    Suspended,
    Revoked,
}

/// A subscription as both sides see it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct Subscription {
    pub(crate) id: Uuid,
    pub(crate) status: Status,
    pub(crate) plan: String,
    pub(crate) application_id: Uuid,
    pub(crate) application_name: String,
    /// The subscribing application's tenant (slug).
    pub(crate) consumer_tenant: String,
    pub(crate) product_id: Uuid,
    pub(crate) product_name: String,
    pub(crate) product_title: String,
    /// The product's tenant (slug).
    pub(crate) provider_tenant: String,
    pub(crate) request_note: String,
    pub(crate) decision_note: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

const COLUMNS: &str = "s.id, s.status, s.plan, s.application_id, a.name AS application_name,
    ct.slug AS consumer_tenant, s.product_id, p.name AS product_name, p.title AS product_title,
    pt.slug AS provider_tenant, s.request_note, s.decision_note, s.created_at, s.updated_at";
const FROM: &str = "subscriptions s
    JOIN applications a ON a.id = s.application_id JOIN tenants ct ON ct.id = a.tenant_id
    JOIN api_products p ON p.id = s.product_id JOIN tenants pt ON pt.id = p.tenant_id";

/// A request to subscribe.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeRequest {
    pub(crate) product_id: Uuid,
    /// One of the product's plans.
    pub(crate) plan: String,
    /// Why, for the product's admins.
    #[serde(default)]
    pub(crate) note: String,
}

/// A decision's note, shown to the subscriber.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DecisionNote {
    #[serde(default)]
    pub(crate) note: String,
}

/// What the product's admins may do with a subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Decision {
    Approve,
    Reject,
    Suspend,
    Resume,
    Revoke,
}

impl Decision {
    /// The status it leads to from `from`, if it may be taken there.
    fn from(self, from: Status) -> Option<Status> {
        match (self, from) {
            (Self::Approve, Status::Pending) => Some(Status::Approved),
            (Self::Reject, Status::Pending) => Some(Status::Rejected),
            (Self::Suspend, Status::Approved) => Some(Status::Suspended),
            (Self::Resume, Status::Suspended) => Some(Status::Approved),
            (Self::Revoke, Status::Approved | Status::Suspended | Status::Pending) => {
                Some(Status::Revoked)
            }
            _ => None,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Self::Approve => "subscription.approve",
            Self::Reject => "subscription.reject",
            Self::Suspend => "subscription.suspend",
            Self::Resume => "subscription.resume",
            Self::Revoke => "subscription.revoke",
        }
    }
}

/// Filters of a product owner's subscriptions.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct InboxQuery {
    /// Only subscriptions in this status (`pending` for the requests to decide).
    pub(crate) status: Option<Status>,
}

async fn one(conn: &mut PgConnection, id: Uuid) -> ApiResult<Option<(Subscription, Uuid, Uuid)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        subscription: Subscription,
        consumer_tenant_id: Uuid,
        provider_tenant_id: Uuid,
    }
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS}, ct.id AS consumer_tenant_id, pt.id AS provider_tenant_id
         FROM {FROM} WHERE s.id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.subscription, r.consumer_tenant_id, r.provider_tenant_id)))
}

/// Records a step in the audit logs of both tenants.
async fn record_both(
    conn: &mut PgConnection,
    principal: &Principal,
    action: &str,
    subscription: &Subscription,
    tenants: (Uuid, Uuid),
) -> ApiResult<()> {
    let (consumer, provider) = tenants;
    let mut logs = vec![consumer];
    if provider != consumer {
        logs.push(provider);
    }
    for tenant in logs {
        audit::record(
            conn,
            principal,
            audit::Change {
                tenant_id: Some(tenant),
                action,
                target_type: "subscription",
                target_id: subscription.id.to_string(),
                details: json!({"status": subscription.status, "plan": subscription.plan,
                    "application": subscription.application_name,
                    "consumer_tenant": subscription.consumer_tenant,
                    "product": subscription.product_name,
                    "provider_tenant": subscription.provider_tenant,
                    "note": if subscription.decision_note.is_empty() { &subscription.request_note } else { &subscription.decision_note }}),
            },
        )
        .await?;
    }
    Ok(())
}

fn check_note(note: &str) -> ApiResult<()> {
    validate::text("note", note)?;
    if note.chars().count() > 2000 {
        return Err(ApiError::Invalid("note: at most 2,000 characters".into()));
    }
    Ok(())
}

/// An application of the caller's tenant asks for a product it may see.
pub(crate) async fn subscribe(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    application_id: Uuid,
    request: SubscribeRequest,
) -> ApiResult<Subscription> {
    access
        .role
        .require(Role::Member, "subscribe applications")?;
    check_note(&request.note)?;
    let mut tx = db.begin().await?;
    let application: Option<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM applications WHERE tenant_id = $1 AND id = $2")
            .bind(access.tenant.id)
            .bind(application_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (application_id, application_name) = application
        .ok_or_else(|| ApiError::not_found("application", &application_id.to_string()))?;
    let visible: Option<Uuid> = sqlx::query_scalar(&format!(
        "SELECT p.id FROM api_products p WHERE {VISIBLE} AND p.id = $2"
    ))
    .bind(access.tenant.id)
    .bind(request.product_id)
    .fetch_optional(&mut *tx)
    .await?;
    let product = match visible {
        Some(id) => products::any(&mut tx, id).await?,
        None => None,
    }
    .ok_or_else(|| ApiError::not_found("product", &request.product_id.to_string()))?;
    if product.plan(&request.plan).is_none() {
        let plans: Vec<&str> = product.spec.plans.iter().map(|p| p.name.as_str()).collect();
        return Err(ApiError::Invalid(format!(
            "plan: '{}' is not a plan of this product (it has: {})",
            request.plan.chars().take(60).collect::<String>(),
            plans.join(", ")
        )));
    }
    let status = match product.spec.approval {
        Approval::Automatic => Status::Approved,
        Approval::Manual => Status::Pending,
    };
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO subscriptions (id, application_id, product_id, plan, status, request_note,
             requested_by, decided_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $5 = 'approved' THEN $7 END)",
    )
    .bind(id)
    .bind(application_id)
    .bind(product.id)
    .bind(&request.plan)
    .bind(status)
    .bind(&request.note)
    .bind(principal.user_id)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        crate::error::conflict_on_unique(e, || {
            format!(
                "application '{}' already has a subscription to '{}' (pending, approved or suspended)",
                application_name, product.spec.name
            )
        })
    })?;
    let (subscription, consumer, provider) = one(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription", &id.to_string()))?;
    record_both(
        &mut tx,
        principal,
        "subscription.request",
        &subscription,
        (consumer, provider),
    )
    .await?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(subscription)
}

/// The subscriptions of one of the tenant's applications.
pub(crate) async fn of_application(
    db: &PgPool,
    access: &TenantAccess,
    application_id: Uuid,
) -> ApiResult<Vec<Subscription>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE a.tenant_id = $1 AND s.application_id = $2
         ORDER BY s.created_at DESC"
    ))
    .bind(access.tenant.id)
    .bind(application_id)
    .fetch_all(db)
    .await?)
}

/// The subscriptions to the tenant's products (the inbox, with `status: pending`).
pub(crate) async fn to_products(
    db: &PgPool,
    access: &TenantAccess,
    query: &InboxQuery,
) -> ApiResult<Vec<Subscription>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM {FROM} WHERE p.tenant_id = $1 AND ($2::text IS NULL OR s.status = $2)
         ORDER BY s.created_at DESC"
    ))
    .bind(access.tenant.id)
    .bind(query.status)
    .fetch_all(db)
    .await?)
}

/// An admin of the product's tenant decides on a subscription.
pub(crate) async fn decide(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    decision: Decision,
    note: DecisionNote,
) -> ApiResult<Subscription> {
    access
        .role
        .require(Role::Admin, "decide on subscriptions")?;
    check_note(&note.note)?;
    let mut tx = db.begin().await?;
    let (current, consumer, provider) = one(&mut tx, id)
        .await?
        .filter(|(_, _, provider)| *provider == access.tenant.id)
        .ok_or_else(|| ApiError::not_found("subscription", &id.to_string()))?;
    let Some(to) = decision.from(current.status) else {
        return Err(ApiError::Conflict(format!(
            "a subscription that is {} cannot take '{}'",
            status_name(current.status),
            decision.action().trim_start_matches("subscription.")
        )));
    };
    let changed = transition(&mut tx, id, to, principal, &note.note).await?;
    record_both(
        &mut tx,
        principal,
        decision.action(),
        &changed,
        (consumer, provider),
    )
    .await?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(changed)
}

/// The subscriber's tenant ends its own subscription.
pub(crate) async fn cancel(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    application_id: Uuid,
    id: Uuid,
) -> ApiResult<Subscription> {
    access.role.require(Role::Member, "cancel subscriptions")?;
    let mut tx = db.begin().await?;
    let (current, consumer, provider) = one(&mut tx, id)
        .await?
        .filter(|(s, consumer, _)| {
            *consumer == access.tenant.id && s.application_id == application_id
        })
        .ok_or_else(|| ApiError::not_found("subscription", &id.to_string()))?;
    if !matches!(
        current.status,
        Status::Pending | Status::Approved | Status::Suspended
    ) {
        return Err(ApiError::Conflict(format!(
            "the subscription is {} already",
            status_name(current.status)
        )));
    }
    let changed = transition(
        &mut tx,
        id,
        Status::Revoked,
        principal,
        "cancelled by the subscriber",
    )
    .await?;
    record_both(
        &mut tx,
        principal,
        "subscription.cancel",
        &changed,
        (consumer, provider),
    )
    .await?;
    config_version::bump(&mut tx).await?;
    tx.commit().await?;
    Ok(changed)
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Suspended => "suspended",
        Status::Revoked => "revoked",
    }
}

async fn transition(
    conn: &mut PgConnection,
    id: Uuid,
    to: Status,
    principal: &Principal,
    note: &str,
) -> ApiResult<Subscription> {
    sqlx::query(
        "UPDATE subscriptions SET status = $2, decision_note = $3, decided_by = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(to)
    .bind(note)
    .bind(principal.user_id)
    .execute(&mut *conn)
    .await?;
    one(conn, id)
        .await?
        .map(|(subscription, _, _)| subscription)
        .ok_or_else(|| ApiError::not_found("subscription", &id.to_string()))
}

/// What every application's approved subscriptions grant, by application, for the snapshot.
pub(crate) async fn grants(conn: &mut PgConnection) -> ApiResult<HashMap<Uuid, Vec<GrantEntry>>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: Uuid,
        application_id: Uuid,
        product_id: Uuid,
        tenant_id: Uuid,
        plan: String,
        routes: Vec<String>,
        models: Vec<String>,
        prompt_apis: Vec<String>,
        mcp_servers: Vec<String>,
        plans: sqlx::types::Json<Vec<Plan>>,
    }
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT s.id, s.application_id, s.product_id, p.tenant_id, s.plan, p.routes, p.models,
                p.prompt_apis, p.mcp_servers, p.plans
         FROM subscriptions s JOIN api_products p ON p.id = s.product_id
         WHERE s.status = 'approved' ORDER BY s.id",
    )
    .fetch_all(conn)
    .await?;
    let mut grants: HashMap<Uuid, Vec<GrantEntry>> = HashMap::new();
    for row in rows {
        // A plan removed from the product since leaves the subscription without limits only
        // if none is left; its first plan stands in.
        let plan = row
            .plans
            .0
            .iter()
            .find(|p| p.name == row.plan)
            .or_else(|| row.plans.0.first())
            .cloned();
        let positive = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
        grants
            .entry(row.application_id)
            .or_default()
            .push(GrantEntry {
                subscription_id: row.id,
                product_id: row.product_id,
                application_id: row.application_id,
                tenant_id: row.tenant_id,
                routes: row.routes,
                models: row.models,
                prompt_apis: row.prompt_apis,
                mcp_servers: row.mcp_servers,
                requests_per_minute: plan
                    .as_ref()
                    .and_then(|p| positive(p.limits.requests_per_minute)),
                tokens_per_minute: plan
                    .as_ref()
                    .and_then(|p| positive(p.limits.tokens_per_minute)),
                budget: plan.as_ref().and_then(|p| p.budget.as_ref()).and_then(|b| {
                    Some(KeyBudget {
                        nanousd: crate::money::parse_usd(&b.amount_usd).ok()?,
                        period: b.period,
                    })
                }),
            });
    }
    Ok(grants)
}
