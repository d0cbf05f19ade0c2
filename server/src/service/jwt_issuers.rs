//! JWT issuers of a tenant: identity providers whose signed tokens callers may present to the
//! proxy instead of a Tollgate key. Each caller (named by a claim, like `sub` or `client_id`)
//! becomes a consumer with the issuer's scopes, limits and budget, counted on its own.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Principal, TenantAccess};
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::api_keys::{self, Budget, Limits, Scopes};
use crate::service::{audit, config_version};
use crate::{merge_patch, validate};
use tollgate_protocol::jwt::{self, Algorithm, JwkSet};

/// An issuer's settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JwtIssuerSpec {
    pub(crate) name: String,
    /// The tokens' `iss`, exactly.
    pub(crate) issuer: String,
    /// The tokens' `aud` must name one of these (at least one).
    pub(crate) audiences: Vec<String>,
    /// Where the issuer publishes its public keys (read again when a token names a new key
    /// id); or give `keys`.
    pub(crate) jwks_url: Option<String>,
    /// The issuer's public keys as a JWKS document, instead of `jwks_url`.
    #[schema(value_type = Option<Object>)]
    pub(crate) keys: Option<Value>,
    /// Accepted algorithms: asymmetric only (RS*, PS*, ES256/384, EdDSA); default RS256 and
    /// ES256. `none` and HMAC are never accepted.
    #[serde(default = "default_algorithms")]
    pub(crate) algorithms: Vec<String>,
    /// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (default 60, at most 600).
    #[serde(default = "sixty")]
    pub(crate) clock_skew_secs: u32,
    /// Claims every token must carry.
    #[serde(default)]
    pub(crate) required_claims: Vec<String>,
    /// The claim that names the caller (default `sub`).
    #[serde(default = "sub")]
    pub(crate) consumer_claim: String,
    /// What its callers may reach, as a key's scopes (default: everything of the tenant).
    pub(crate) scopes: Option<Scopes>,
    /// Each caller's limits.
    #[serde(default)]
    pub(crate) limits: Limits,
    /// Each caller's budget.
    pub(crate) budget: Option<Budget>,
}

fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}

fn sixty() -> u32 {
    60
}

fn sub() -> String {
    "sub".into()
}

/// An issuer as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct JwtIssuer {
    pub(crate) id: Uuid,
    #[serde(flatten)]
    pub(crate) spec: JwtIssuerSpec,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// Checks and normalises an issuer's settings; `egress` is checked for the JWKS URL.
pub(crate) async fn check(
    conn: &mut sqlx::PgConnection,
    spec: JwtIssuerSpec,
) -> ApiResult<JwtIssuerSpec> {
    let name = validate::name("name", &spec.name)?;
    let issuer = spec.issuer.trim().to_string();
    if issuer.is_empty() || issuer.len() > 500 || issuer.chars().any(char::is_control) {
        return Err(ApiError::Invalid(
            "issuer must be 1 to 500 characters".into(),
        ));
    }
    let audiences = validate::name_list("audiences", &spec.audiences)?;
    if audiences.is_empty() {
        return Err(ApiError::Invalid(
            "audiences: name at least one (a token for any audience would be accepted otherwise)"
                .into(),
        ));
    }
    match (&spec.jwks_url, &spec.keys) {
        (Some(url), None) => {
            match url::Url::parse(url) {
                Ok(parsed) if matches!(parsed.scheme(), "https" | "http") => {}
                _ => return Err(ApiError::Invalid("jwks_url must be an http(s) URL".into())),
            }
            let egress = crate::service::settings::egress(&mut *conn).await?;
            crate::service::settings::check_url_egress(&egress, "jwks_url", url)?;
        }
        (None, Some(keys)) => {
            let keys: JwkSet = serde_json::from_value(keys.clone()).map_err(|e| {
                ApiError::Invalid(format!(
                    "keys must be a JWKS document ({{\"keys\": [...]}}): {e}"
                ))
            })?;
            if keys.keys.is_empty() || jwt::has_shared_secret(&keys) {
                return Err(ApiError::Invalid(
                    "keys must hold the issuer's public keys (shared HMAC secrets are not accepted)"
                        .into(),
                ));
            }
        }
        _ => {
            return Err(ApiError::Invalid(
                "give exactly one of jwks_url or keys".into(),
            ))
        }
    }
    for algorithm in &spec.algorithms {
        let usable = algorithm
            .parse::<Algorithm>()
            .is_ok_and(|a| jwt::ASYMMETRIC.contains(&a));
        if !usable {
            return Err(ApiError::Invalid(format!(
                "algorithms: '{}' is not accepted; use RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 or EdDSA",
                algorithm.chars().take(20).collect::<String>()
            )));
        }
    }
    if spec.algorithms.is_empty() {
        return Err(ApiError::Invalid("algorithms: name at least one".into()));
    }
    if spec.clock_skew_secs > 600 {
        return Err(ApiError::Invalid(
            "clock_skew_secs must be at most 600".into(),
        ));
    }
    let required_claims = validate::name_list("required_claims", &spec.required_claims)?;
    let consumer_claim = validate::name("consumer_claim", &spec.consumer_claim)?;
    let policy = api_keys::normalised_policy(&api_keys::KeyPolicy {
        scopes: spec.scopes.clone(),
        limits: spec.limits.clone(),
        budget: spec.budget.clone(),
    })?;
    Ok(JwtIssuerSpec {
        name,
        issuer,
        audiences,
        required_claims,
        consumer_claim,
        scopes: policy.scopes,
        limits: policy.limits,
        budget: policy.budget,
        ..spec
    })
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    spec: sqlx::types::Json<JwtIssuerSpec>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl From<Row> for JwtIssuer {
    fn from(row: Row) -> Self {
        Self {
            id: row.id,
            spec: row.spec.0,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<JwtIssuer>> {
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT id, spec, created_at, updated_at FROM jwt_issuers WHERE tenant_id = $1 ORDER BY name",
    )
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(JwtIssuer::from).collect())
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<JwtIssuer> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT id, spec, created_at, updated_at FROM jwt_issuers WHERE tenant_id = $1 AND id = $2",
    )
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.map(JwtIssuer::from)
        .ok_or_else(|| ApiError::not_found("JWT issuer", &id.to_string()))
}

fn change<'a>(access: &TenantAccess, action: &'a str, issuer: &JwtIssuer) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "jwt_issuer",
        target_id: issuer.id.to_string(),
        details: json!({"name": issuer.spec.name, "issuer": issuer.spec.issuer,
                        "audiences": issuer.spec.audiences, "scopes": issuer.spec.scopes,
                        "limits": issuer.spec.limits, "budget": issuer.spec.budget}),
    }
}

async fn save(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Option<Uuid>,
    spec: JwtIssuerSpec,
) -> ApiResult<JwtIssuer> {
    access.role.require(Role::Admin, "manage JWT issuers")?;
    let mut tx = db.begin().await?;
    let spec = check(&mut tx, spec).await?;
    let issuer = store_in(&mut tx, access, id, &spec).await?;
    let action = if id.is_none() {
        "jwt_issuer.create"
    } else {
        "jwt_issuer.update"
    };
    config_version::commit(tx, principal, change(access, action, &issuer)).await?;
    Ok(issuer)
}

/// Stores checked settings inside the caller's transaction (no audit entry, no version): a new
/// issuer, or new settings of issuer `id`.
pub(crate) async fn store_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Option<Uuid>,
    spec: &JwtIssuerSpec,
) -> ApiResult<JwtIssuer> {
    let statement = match id {
        None => {
            "INSERT INTO jwt_issuers (id, tenant_id, name, spec) VALUES ($1, $2, $3, $4)
                 RETURNING id, spec, created_at, updated_at"
        }
        Some(_) => {
            "UPDATE jwt_issuers SET name = $3, spec = $4 WHERE id = $1 AND tenant_id = $2
                 RETURNING id, spec, created_at, updated_at"
        }
    };
    let row: Option<Row> = sqlx::query_as(statement)
        .bind(id.unwrap_or_else(Uuid::now_v7))
        .bind(access.tenant.id)
        .bind(&spec.name)
        .bind(sqlx::types::Json(spec))
        .fetch_optional(conn)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("a JWT issuer named '{}' exists in this tenant", spec.name)
            })
        })?;
    Ok(row
        .ok_or_else(|| ApiError::not_found("JWT issuer", &id.unwrap_or_default().to_string()))?
        .into())
}

/// The tenant's issuers with their settings, inside the caller's transaction.
pub(crate) async fn stored_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
) -> ApiResult<Vec<(Uuid, JwtIssuerSpec)>> {
    let rows: Vec<(Uuid, sqlx::types::Json<JwtIssuerSpec>)> =
        sqlx::query_as("SELECT id, spec FROM jwt_issuers WHERE tenant_id = $1 ORDER BY name")
            .bind(access.tenant.id)
            .fetch_all(conn)
            .await?;
    Ok(rows.into_iter().map(|(id, spec)| (id, spec.0)).collect())
}

/// Deletes an issuer inside the caller's transaction.
pub(crate) async fn remove_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    sqlx::query("DELETE FROM jwt_issuers WHERE tenant_id = $1 AND id = $2")
        .bind(access.tenant.id)
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: JwtIssuerSpec,
) -> ApiResult<JwtIssuer> {
    save(db, principal, access, None, spec).await
}

/// A JSON merge patch of the settings.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: Value,
) -> ApiResult<JwtIssuer> {
    let current = get(db, access, id).await?;
    let spec = merge_patch::patched(&current.spec, &patch, "JWT issuer")?;
    save(db, principal, access, Some(id), spec).await
}

pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage JWT issuers")?;
    let issuer = get(db, access, id).await?;
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM jwt_issuers WHERE tenant_id = $1 AND id = $2")
        .bind(access.tenant.id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    config_version::commit(tx, principal, change(access, "jwt_issuer.delete", &issuer)).await?;
    Ok(())
}

/// Every issuer of every tenant, as the snapshot carries them.
pub(crate) async fn entries(
    conn: &mut sqlx::PgConnection,
) -> ApiResult<Vec<tollgate_protocol::JwtIssuerEntry>> {
    let rows: Vec<(Uuid, Uuid, sqlx::types::Json<JwtIssuerSpec>)> =
        sqlx::query_as("SELECT id, tenant_id, spec FROM jwt_issuers ORDER BY id")
            .fetch_all(conn)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(id, tenant_id, spec)| {
            let spec = spec.0;
            let scopes = spec.scopes.unwrap_or_default();
            let positive = |v: Option<i32>| v.and_then(|v| u32::try_from(v).ok());
            tollgate_protocol::JwtIssuerEntry {
                id,
                tenant_id,
                name: spec.name,
                issuer: spec.issuer,
                audiences: spec.audiences,
                jwks_url: spec.jwks_url,
                keys: spec.keys,
                algorithms: spec.algorithms,
                clock_skew_secs: u64::from(spec.clock_skew_secs),
                required_claims: spec.required_claims,
                consumer_claim: spec.consumer_claim,
                routes: scopes.routes,
                models: scopes.models,
                prompt_apis: scopes.prompt_apis,
                mcp_servers: scopes.mcp_servers,
                requests_per_minute: positive(spec.limits.requests_per_minute),
                tokens_per_minute: positive(spec.limits.tokens_per_minute),
                budget: spec.budget.and_then(|b| {
                    Some(tollgate_protocol::KeyBudget {
                        nanousd: crate::money::parse_usd(&b.amount_usd).ok()?,
                        period: b.period,
                    })
                }),
            }
        })
        .collect())
}
