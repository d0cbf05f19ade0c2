//! Data-plane API keys. The secret is returned once at creation; only its SHA-256 is stored.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::money;
use crate::roles::{Require, Role};
use crate::secrets;
use crate::service::scoped;
use crate::service::{audit, config_version};
use crate::{merge_patch, validate};

/// What a key may reach: names of the tenant's routes, models, prompt APIs and MCP servers
/// (`server/tool` for one tool of a server), or `["*"]` for all of a kind. A kind left out or empty reaches nothing of that kind. A key created without
/// any `scopes` reaches everything (`"*"` for every kind).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scopes {
    #[serde(default)]
    pub(crate) routes: Vec<String>,
    #[serde(default)]
    pub(crate) models: Vec<String>,
    #[serde(default)]
    pub(crate) prompt_apis: Vec<String>,
    #[serde(default)]
    pub(crate) mcp_servers: Vec<String>,
}

/// Rate limits of a key; absent means unlimited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Limits {
    #[schema(minimum = 1)]
    pub(crate) requests_per_minute: Option<i32>,
    #[schema(minimum = 1)]
    pub(crate) tokens_per_minute: Option<i32>,
}

pub(crate) use tollgate_protocol::BudgetPeriod;

/// A spending limit in USD per period.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Budget {
    /// USD as a decimal string, like "25.00" (exact; never a float).
    #[schema(example = "25.00")]
    pub(crate) amount_usd: String,
    pub(crate) period: BudgetPeriod,
}

/// Whether a key works.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum KeyStatus {
    Active,
    Expired,
    Revoked,
}

/// A key as lists and reads show it: never its secret or hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ApiKey {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    /// The first characters of the secret, to tell keys apart.
    pub(crate) prefix: String,
    pub(crate) status: KeyStatus,
    pub(crate) scopes: Scopes,
    pub(crate) limits: Limits,
    pub(crate) budget: Option<Budget>,
    /// What the key has spent in its budget's current period (UTC), in USD; absent without a budget.
    pub(crate) budget_spent_usd: Option<String>,
    /// The portal application the key belongs to (it then reaches its approved subscriptions).
    pub(crate) application_id: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) revoked_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) last_used_at: Option<OffsetDateTime>,
    pub(crate) created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// A new key with its secret, shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct CreatedApiKey {
    #[serde(flatten)]
    pub(crate) key: ApiKey,
    /// The full key (`tg_…`). Store it now: it cannot be shown again.
    pub(crate) secret: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateApiKey {
    pub(crate) name: String,
    /// RFC 3339 time after which the key stops working.
    #[schema(format = DateTime)]
    pub(crate) expires_at: Option<String>,
    /// Left out: the key reaches everything of its tenant.
    pub(crate) scopes: Option<Scopes>,
    #[serde(default)]
    pub(crate) limits: Limits,
    pub(crate) budget: Option<Budget>,
    /// Set for an application's key (made through the portal, never by this body).
    #[serde(skip)]
    pub(crate) application_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct KeyRow {
    id: Uuid,
    name: String,
    prefix: String,
    scope_routes: Vec<String>,
    scope_models: Vec<String>,
    scope_prompt_apis: Vec<String>,
    scope_mcp_servers: Vec<String>,
    application_id: Option<Uuid>,
    requests_per_minute: Option<i32>,
    tokens_per_minute: Option<i32>,
    budget_nanousd: Option<i64>,
    budget_period: Option<BudgetPeriod>,
    expires_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
    last_used_at: Option<OffsetDateTime>,
    created_by: Option<Uuid>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    budget_spent_nanousd: Option<i64>,
}

const KEY_COLUMNS: &str = "id, name, prefix, scope_routes, scope_models, scope_prompt_apis,
     scope_mcp_servers, application_id,
     requests_per_minute, tokens_per_minute, budget_nanousd, budget_period,
     expires_at, revoked_at, last_used_at, created_by, created_at, updated_at,
     CASE WHEN budget_nanousd IS NULL THEN NULL ELSE (
         SELECT coalesce(sum(h.cost_nanousd), 0)::bigint FROM usage_hourly h
         WHERE h.key_id = api_keys.id AND h.hour >= CASE budget_period
             WHEN 'day' THEN date_trunc('day', now(), 'UTC')
             WHEN 'month' THEN date_trunc('month', now(), 'UTC')
             ELSE '-infinity'::timestamptz END) END AS budget_spent_nanousd";

impl From<KeyRow> for ApiKey {
    fn from(row: KeyRow) -> Self {
        let status = if row.revoked_at.is_some() {
            KeyStatus::Revoked
        } else if row
            .expires_at
            .is_some_and(|t| t <= OffsetDateTime::now_utc())
        {
            KeyStatus::Expired
        } else {
            KeyStatus::Active
        };
        let budget = match (row.budget_nanousd, row.budget_period) {
            (Some(nanos), Some(period)) => Some(Budget {
                amount_usd: money::format_usd(nanos),
                period,
            }),
            _ => None,
        };
        Self {
            id: row.id,
            name: row.name,
            prefix: row.prefix,
            status,
            scopes: Scopes {
                routes: row.scope_routes,
                models: row.scope_models,
                prompt_apis: row.scope_prompt_apis,
                mcp_servers: row.scope_mcp_servers,
            },
            limits: Limits {
                requests_per_minute: row.requests_per_minute,
                tokens_per_minute: row.tokens_per_minute,
            },
            budget,
            budget_spent_usd: row.budget_spent_nanousd.map(money::format_usd),
            application_id: row.application_id,
            expires_at: row.expires_at,
            revoked_at: row.revoked_at,
            last_used_at: row.last_used_at,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Checked settings of a key, ready to store.
struct KeySettings {
    scopes: Scopes,
    limits: Limits,
    budget: Option<(i64, BudgetPeriod)>,
}

pub(crate) fn check_scopes(scopes: &Scopes) -> ApiResult<Scopes> {
    // "*" stands alone: it already means every name.
    let all_or = |list: Vec<String>| {
        if list.iter().any(|n| n == "*") {
            vec!["*".to_string()]
        } else {
            list
        }
    };
    Ok(Scopes {
        routes: all_or(validate::name_list("scopes.routes", &scopes.routes)?),
        models: all_or(validate::name_list("scopes.models", &scopes.models)?),
        prompt_apis: all_or(validate::name_list(
            "scopes.prompt_apis",
            &scopes.prompt_apis,
        )?),
        mcp_servers: all_or(validate::name_list(
            "scopes.mcp_servers",
            &scopes.mcp_servers,
        )?),
    })
}

/// The scopes of a key created without any: everything of its tenant.
fn everything() -> Scopes {
    let all = || vec!["*".to_string()];
    Scopes {
        routes: all(),
        models: all(),
        prompt_apis: all(),
        mcp_servers: all(),
    }
}

pub(crate) fn check_limits(limits: &Limits) -> ApiResult<Limits> {
    for (field, value) in [
        ("limits.requests_per_minute", limits.requests_per_minute),
        ("limits.tokens_per_minute", limits.tokens_per_minute),
    ] {
        if value.is_some_and(|v| v < 1) {
            return Err(ApiError::Invalid(format!(
                "{field} must be at least 1; leave it out for no limit"
            )));
        }
    }
    Ok(limits.clone())
}

pub(crate) fn check_budget(budget: Option<&Budget>) -> ApiResult<Option<(i64, BudgetPeriod)>> {
    budget
        .map(|b| Ok((money::parse_usd(&b.amount_usd)?, b.period)))
        .transpose()
}

fn check_expiry(text: Option<&str>) -> ApiResult<Option<OffsetDateTime>> {
    let Some(text) = text else { return Ok(None) };
    let time = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
        ApiError::Invalid(format!(
            "expires_at '{}' is not an RFC 3339 time like \"2027-01-31T00:00:00Z\"",
            text.chars().take(40).collect::<String>()
        ))
    })?;
    if time <= OffsetDateTime::now_utc() {
        return Err(ApiError::Invalid("expires_at must be in the future".into()));
    }
    Ok(Some(time))
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<ApiKey>> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC"
    );
    scoped::all::<KeyRow, _>(db, access, &sql).await
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<ApiKey> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 AND id = $2");
    scoped::one::<KeyRow, _>(db, access, &sql, id, "key").await
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    input: CreateApiKey,
) -> ApiResult<CreatedApiKey> {
    access.role.require(Role::Member, "create API keys")?;
    let name = validate::name("name", &input.name)?;
    let expires_at = check_expiry(input.expires_at.as_deref())?;
    let settings = KeySettings {
        scopes: check_scopes(input.scopes.as_ref().unwrap_or(&everything()))?,
        limits: check_limits(&input.limits)?,
        budget: check_budget(input.budget.as_ref())?,
    };
    let secret = secrets::generate(secrets::API_KEY_PREFIX);
    let mut tx = db.begin().await?;
    crate::service::settings::check_quota(
        &mut tx,
        access.tenant.id,
        crate::service::settings::Kind::Keys,
        true,
        &settings.scopes,
    )
    .await?;
    let row: KeyRow = sqlx::query_as(&format!(
        "INSERT INTO api_keys (id, tenant_id, name, prefix, secret_hash, scope_routes, scope_models,
             scope_prompt_apis, requests_per_minute, tokens_per_minute, budget_nanousd, budget_period,
             expires_at, created_by, scope_mcp_servers, application_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)
         RETURNING {KEY_COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(access.tenant.id)
    .bind(&name)
    .bind(&secret.display_prefix)
    .bind(&secret.hash)
    .bind(&settings.scopes.routes)
    .bind(&settings.scopes.models)
    .bind(&settings.scopes.prompt_apis)
    .bind(settings.limits.requests_per_minute)
    .bind(settings.limits.tokens_per_minute)
    .bind(settings.budget.map(|b| b.0))
    .bind(settings.budget.map(|b| b.1))
    .bind(expires_at)
    .bind(principal.user_id)
    .bind(&settings.scopes.mcp_servers)
    .bind(input.application_id)
    .fetch_one(&mut *tx)
    .await?;
    let key = ApiKey::from(row);
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "key.create",
            target_type: "api_key",
            target_id: key.id.to_string(),
            details: json!({ "name": key.name, "prefix": key.prefix, "scopes": key.scopes,
                             "limits": key.limits, "budget": key.budget, "expires_at": input.expires_at }),
        },
    )
    .await?;
    Ok(CreatedApiKey {
        key,
        secret: secret.secret,
    })
}

/// A JSON merge patch of the key's settings (`null` clears expiry or budget, or scopes the key
/// to everything); the secret never changes.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: Value,
) -> ApiResult<ApiKey> {
    access.role.require(Role::Member, "change API keys")?;
    let current = get(db, access, id).await?;
    if current.status == KeyStatus::Revoked {
        return Err(ApiError::Conflict(
            "this key is revoked and cannot be changed; create a new key".into(),
        ));
    }
    let current_expiry = current
        .expires_at
        .map(|t| t.format(&Rfc3339))
        .transpose()
        .map_err(ApiError::internal)?;
    let settings = CreateApiKey {
        name: current.name,
        expires_at: current_expiry.clone(),
        scopes: Some(current.scopes),
        limits: current.limits,
        budget: current.budget,
        application_id: None,
    };
    let input = merge_patch::patched(&settings, &patch, "key")?;
    let reaches_own = input.scopes.as_ref().is_none_or(|s| {
        [&s.routes, &s.models, &s.prompt_apis, &s.mcp_servers]
            .iter()
            .any(|kind| !kind.is_empty())
    });
    if current.application_id.is_some() && reaches_own {
        return Err(ApiError::Invalid(
            "an application's key reaches what its subscriptions grant, nothing else: leave its scopes empty".into(),
        ));
    }
    let name = validate::name("name", &input.name)?;
    // An expiry left as it was is not checked again: the key may have expired meanwhile.
    let expires_at = if input.expires_at == current_expiry {
        current.expires_at
    } else {
        check_expiry(input.expires_at.as_deref())?
    };
    let settings = KeySettings {
        scopes: check_scopes(input.scopes.as_ref().unwrap_or(&everything()))?,
        limits: check_limits(&input.limits)?,
        budget: check_budget(input.budget.as_ref())?,
    };
    let mut tx = db.begin().await?;
    let row: Option<KeyRow> = sqlx::query_as(&format!(
        "UPDATE api_keys SET name = $3, scope_routes = $4, scope_models = $5,
             scope_prompt_apis = $6, requests_per_minute = $7, tokens_per_minute = $8,
             budget_nanousd = $9, budget_period = $10, expires_at = $11, scope_mcp_servers = $12
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL
         RETURNING {KEY_COLUMNS}"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .bind(&name)
    .bind(&settings.scopes.routes)
    .bind(&settings.scopes.models)
    .bind(&settings.scopes.prompt_apis)
    .bind(settings.limits.requests_per_minute)
    .bind(settings.limits.tokens_per_minute)
    .bind(settings.budget.map(|b| b.0))
    .bind(settings.budget.map(|b| b.1))
    .bind(expires_at)
    .bind(&settings.scopes.mcp_servers)
    .fetch_optional(&mut *tx)
    .await?;
    let key = ApiKey::from(row.ok_or_else(|| {
        ApiError::Conflict("this key was revoked meanwhile and cannot be changed".into())
    })?);
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "key.update",
            target_type: "api_key",
            target_id: key.id.to_string(),
            details: json!({ "name": name, "scopes": input.scopes, "limits": input.limits,
                             "budget": input.budget, "expires_at": input.expires_at }),
        },
    )
    .await?;
    Ok(key)
}

/// Revokes a key for good; it stays listed for the audit trail. Revoking twice is harmless.
pub(crate) async fn revoke(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Member, "revoke API keys")?;
    let mut tx = db.begin().await?;
    let revoked: Option<String> = sqlx::query_scalar(
        "UPDATE api_keys SET revoked_at = now()
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL RETURNING name",
    )
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(name) = revoked else {
        // Already revoked (fine) or not this tenant's key (404).
        get(db, access, id).await?;
        return Ok(());
    };
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: "key.revoke",
            target_type: "api_key",
            target_id: id.to_string(),
            details: json!({ "name": name }),
        },
    )
    .await?;
    Ok(())
}

/// What configuration as code may say about a key created elsewhere: its reach, limits and
/// budget (never its secret).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyPolicy {
    /// Left out: everything of the tenant (`"*"` for every kind).
    pub(crate) scopes: Option<Scopes>,
    #[serde(default)]
    pub(crate) limits: Limits,
    pub(crate) budget: Option<Budget>,
}

/// The tenant's active keys by name, with their policies; a name several keys share is
/// listed once per key.
pub(crate) async fn policies(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
) -> ApiResult<Vec<(Uuid, String, KeyPolicy)>> {
    let rows: Vec<KeyRow> = sqlx::query_as(&format!(
        "SELECT {KEY_COLUMNS} FROM api_keys
         WHERE tenant_id = $1 AND revoked_at IS NULL ORDER BY name, id"
    ))
    .bind(access.tenant.id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(ApiKey::from)
        .map(|key| {
            let policy = KeyPolicy {
                scopes: Some(key.scopes),
                limits: key.limits,
                budget: key.budget,
            };
            (key.id, key.name, policy)
        })
        .collect())
}

/// A policy as it would be stored (scopes, limits and budget checked and normalised).
pub(crate) fn normalised_policy(policy: &KeyPolicy) -> ApiResult<KeyPolicy> {
    let scopes = check_scopes(policy.scopes.as_ref().unwrap_or(&everything()))?;
    let limits = check_limits(&policy.limits)?;
    let budget = check_budget(policy.budget.as_ref())?;
    Ok(KeyPolicy {
        scopes: Some(scopes),
        limits,
        budget: budget.map(|(nanousd, period)| Budget {
            amount_usd: money::format_usd(nanousd),
            period,
        }),
    })
}

/// Sets an active key's policy inside the caller's transaction (no audit entry, no version).
pub(crate) async fn set_policy(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
    policy: &KeyPolicy,
) -> ApiResult<()> {
    let scopes = check_scopes(policy.scopes.as_ref().unwrap_or(&everything()))?;
    let limits = check_limits(&policy.limits)?;
    let budget = check_budget(policy.budget.as_ref())?;
    let updated = sqlx::query(
        "UPDATE api_keys SET scope_routes = $3, scope_models = $4, scope_prompt_apis = $5,
             requests_per_minute = $6, tokens_per_minute = $7, budget_nanousd = $8,
             budget_period = $9, scope_mcp_servers = $10
         WHERE tenant_id = $1 AND id = $2 AND revoked_at IS NULL",
    )
    .bind(access.tenant.id)
    .bind(id)
    .bind(&scopes.routes)
    .bind(&scopes.models)
    .bind(&scopes.prompt_apis)
    .bind(limits.requests_per_minute)
    .bind(limits.tokens_per_minute)
    .bind(budget.map(|b| b.0))
    .bind(budget.map(|b| b.1))
    .bind(&scopes.mcp_servers)
    .execute(conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(ApiError::Conflict("the key was revoked meanwhile".into()));
    }
    Ok(())
}
