//! Prompt APIs: a messages template with `{{variables}}`, a model and parameters, served by the
//! proxy as `POST /prompts/{slug}`. Every edit makes a new version; any version can be made
//! active again.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::service::{audit, config_version};
use crate::validate;

use tollgate_protocol::template::placeholders;
pub(crate) use tollgate_protocol::VariableType;

/// A declared template variable.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Variable {
    pub(crate) name: String,
    #[serde(default, rename = "type")]
    pub(crate) kind: VariableType,
    #[serde(default)]
    pub(crate) required: bool,
    /// Used when the caller leaves the variable out.
    pub(crate) default: Option<Value>,
    /// The allowed values of an enum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) values: Vec<String>,
    pub(crate) description: Option<String>,
}

/// A template message: `content` may hold `{{variable}}` placeholders.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TemplateMessage {
    pub(crate) role: String,
    pub(crate) content: String,
}

/// Model parameters of the call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Parameters {
    pub(crate) temperature: Option<f64>,
    pub(crate) max_tokens: Option<u32>,
    /// `text` (default) or `json_object`: with JSON, the output is parsed.
    pub(crate) response_format: Option<String>,
}

/// A prompt API's settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromptApiSpec {
    /// The path on the proxy: `POST /prompts/{slug}`.
    pub(crate) slug: String,
    pub(crate) description: Option<String>,
    /// A model name of this tenant.
    pub(crate) model: String,
    pub(crate) messages: Vec<TemplateMessage>,
    #[serde(default)]
    pub(crate) variables: Vec<Variable>,
    #[serde(default)]
    pub(crate) parameters: Parameters,
}

/// A version of a prompt API.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PromptApiVersion {
    pub(crate) version: i32,
    pub(crate) created_by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
}

/// A prompt API: its active version's settings and all its versions.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct PromptApi {
    pub(crate) id: Uuid,
    #[serde(flatten)]
    pub(crate) spec: PromptApiSpec,
    /// The version in force.
    pub(crate) version: i32,
    pub(crate) versions: Vec<PromptApiVersion>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

fn valid_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// Most variables a prompt API declares (and values an enum variable lists).
const MAX_VARIABLES: usize = 100;

/// Checks a prompt API's settings against the tenant (its quota, its models, through `conn` so
/// the caller's transaction sees models it made) and returns them normalised.
pub(crate) async fn check_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    spec: PromptApiSpec,
    adding: bool,
) -> ApiResult<PromptApiSpec> {
    let spec = checked(spec)?;
    crate::service::settings::check_quota(
        &mut *conn,
        access.tenant.id,
        crate::service::settings::Kind::PromptApis,
        adding,
        &spec,
    )
    .await?;
    let model_exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM models WHERE tenant_id = $1 AND name = $2)",
    )
    .bind(access.tenant.id)
    .bind(&spec.model)
    .fetch_one(conn)
    .await?;
    if !model_exists {
        return Err(ApiError::Invalid(format!(
            "there is no model '{}' in this tenant; create it first",
            spec.model.chars().take(100).collect::<String>()
        )));
    }
    Ok(spec)
}

/// Checks what a prompt API's settings say on their own (slug, messages, variables,
/// parameters) and returns them normalised.
pub(crate) fn checked(spec: PromptApiSpec) -> ApiResult<PromptApiSpec> {
    let invalid = |msg: String| Err(ApiError::Invalid(msg));
    let slug = validate::slug(&spec.slug)?;
    if let Some(description) = &spec.description {
        validate::text("description", description)?;
    }
    if spec.variables.len() > MAX_VARIABLES {
        return invalid(format!("variables: at most {MAX_VARIABLES}"));
    }
    if spec.messages.is_empty() || spec.messages.len() > 50 {
        return invalid("messages: give 1 to 50 messages".into());
    }
    for message in &spec.messages {
        if !["system", "user", "assistant"].contains(&message.role.as_str()) {
            return invalid(format!(
                "message role '{}' must be system, user or assistant",
                message.role.chars().take(20).collect::<String>()
            ));
        }
        if message.content.len() > 100_000 {
            return invalid("a message's content may be at most 100,000 bytes".into());
        }
        validate::text("a message's content", &message.content)?;
    }
    let mut declared = BTreeSet::new();
    for variable in &spec.variables {
        if !valid_identifier(&variable.name) {
            return invalid(format!(
                "variable name '{}' must be letters, digits and _, not starting with a digit",
                variable.name.chars().take(64).collect::<String>()
            ));
        }
        if !declared.insert(variable.name.clone()) {
            return invalid(format!("variable '{}' is declared twice", variable.name));
        }
        if variable.values.len() > MAX_VARIABLES || variable.values.iter().any(|v| v.len() > 1000) {
            return invalid(format!(
                "variable '{}': at most {MAX_VARIABLES} values of at most 1000 bytes",
                variable.name
            ));
        }
        if let Some(description) = &variable.description {
            validate::text("a variable's description", description)?;
        }
        if variable.kind == VariableType::Enum && variable.values.is_empty() {
            return invalid(format!(
                "enum variable '{}' needs its 'values'",
                variable.name
            ));
        }
        if let Some(default) = &variable.default {
            if !variable.kind.fits(&variable.values, default) {
                return invalid(format!(
                    "the default of '{}' is not of its type",
                    variable.name
                ));
            }
        }
    }
    let used: BTreeSet<String> = spec
        .messages
        .iter()
        .flat_map(|m| placeholders(&m.content))
        .collect();
    let undeclared: Vec<&String> = used.difference(&declared).collect();
    if !undeclared.is_empty() {
        return invalid(format!(
            "the template uses undeclared variables: {}; declare them in 'variables'",
            undeclared
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(t) = spec.parameters.temperature {
        if !(0.0..=2.0).contains(&t) {
            return invalid("parameters.temperature must be between 0 and 2".into());
        }
    }
    if let Some(format) = &spec.parameters.response_format {
        if format != "text" && format != "json_object" {
            return invalid("parameters.response_format must be text or json_object".into());
        }
    }
    Ok(PromptApiSpec { slug, ..spec })
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    active_version: i32,
    spec: sqlx::types::Json<PromptApiSpec>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

async fn load(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<PromptApi> {
    let row: Option<Row> = sqlx::query_as(
        "SELECT p.id, p.active_version, v.spec, p.created_at, p.updated_at
         FROM prompt_apis p JOIN prompt_api_versions v ON v.prompt_api_id = p.id AND v.version = p.active_version
         WHERE p.tenant_id = $1 AND p.id = $2",
    )
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    let row = row.ok_or_else(|| ApiError::not_found("prompt API", &id.to_string()))?;
    let versions: Vec<(i32, Option<Uuid>, OffsetDateTime)> = sqlx::query_as(
        "SELECT version, created_by, created_at FROM prompt_api_versions WHERE prompt_api_id = $1 ORDER BY version",
    )
    .bind(id)
    .fetch_all(db)
    .await?;
    Ok(PromptApi {
        id: row.id,
        spec: row.spec.0,
        version: row.active_version,
        versions: versions
            .into_iter()
            .map(|(version, created_by, created_at)| PromptApiVersion {
                version,
                created_by,
                created_at,
            })
            .collect(),
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<PromptApi>> {
    let ids: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM prompt_apis WHERE tenant_id = $1 ORDER BY slug")
            .bind(access.tenant.id)
            .fetch_all(db)
            .await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load(db, access, id).await?);
    }
    Ok(out)
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<PromptApi> {
    load(db, access, id).await
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: PromptApiSpec,
) -> ApiResult<PromptApi> {
    access.role.require(Role::Member, "manage prompt APIs")?;
    let mut tx = db.begin().await?;
    let spec = check_in(&mut tx, access, spec, true).await?;
    let id = insert_in(&mut tx, principal, access, &spec).await?;
    config_version::commit(
        tx,
        principal,
        change(
            access,
            "prompt_api.create",
            id,
            json!({"slug": spec.slug, "version": 1}),
        ),
    )
    .await?;
    load(db, access, id).await
}

/// A JSON merge patch of the active version's settings becomes a new, active version.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: Value,
) -> ApiResult<PromptApi> {
    access.role.require(Role::Member, "manage prompt APIs")?;
    let current = load(db, access, id).await?;
    let spec = crate::merge_patch::patched(&current.spec, &patch, "prompt API")?;
    let mut tx = db.begin().await?;
    let spec = check_in(&mut tx, access, spec, false).await?;
    let version = new_version_in(&mut tx, principal, access, id, &spec).await?;
    let change = change(
        access,
        "prompt_api.update",
        id,
        json!({"slug": spec.slug, "version": version}),
    );
    commit_then_load(db, tx, principal, access, id, change).await
}

/// Every prompt API of the tenant with the settings of its active version.
pub(crate) async fn stored_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
) -> ApiResult<Vec<(Uuid, PromptApiSpec)>> {
    let rows: Vec<(Uuid, sqlx::types::Json<PromptApiSpec>)> = sqlx::query_as(
        "SELECT p.id, v.spec
         FROM prompt_apis p JOIN prompt_api_versions v ON v.prompt_api_id = p.id AND v.version = p.active_version
         WHERE p.tenant_id = $1 ORDER BY p.slug",
    )
    .bind(access.tenant.id)
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|(id, spec)| (id, spec.0)).collect())
}

/// Stores a new prompt API (checked settings, version 1) inside the caller's transaction (no
/// audit entry, no version).
pub(crate) async fn insert_in(
    conn: &mut sqlx::PgConnection,
    principal: &Principal,
    access: &TenantAccess,
    spec: &PromptApiSpec,
) -> ApiResult<Uuid> {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO prompt_apis (id, tenant_id, slug, active_version) VALUES ($1, $2, $3, 1)",
    )
    .bind(id)
    .bind(access.tenant.id)
    .bind(&spec.slug)
    .execute(&mut *conn)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("a prompt API '{}' exists in this tenant", spec.slug)
        })
    })?;
    sqlx::query("INSERT INTO prompt_api_versions (prompt_api_id, version, spec, created_by) VALUES ($1, 1, $2, $3)")
        .bind(id)
        .bind(sqlx::types::Json(spec))
        .bind(principal.user_id)
        .execute(conn)
        .await?;
    Ok(id)
}

/// Stores checked settings as a new, active version of prompt API `id` inside the caller's
/// transaction (no audit entry, no version); returns the version's number.
pub(crate) async fn new_version_in(
    conn: &mut sqlx::PgConnection,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    spec: &PromptApiSpec,
) -> ApiResult<i32> {
    let version: Option<i32> = sqlx::query_scalar(
        "UPDATE prompt_apis SET active_version = (SELECT max(version) + 1 FROM prompt_api_versions WHERE prompt_api_id = $2),
             slug = $3
         WHERE tenant_id = $1 AND id = $2 RETURNING active_version",
    )
    .bind(access.tenant.id)
    .bind(id)
    .bind(&spec.slug)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| conflict_on_unique(e, || format!("a prompt API '{}' exists in this tenant", spec.slug)))?;
    let version = version.ok_or_else(|| ApiError::not_found("prompt API", &id.to_string()))?;
    sqlx::query("INSERT INTO prompt_api_versions (prompt_api_id, version, spec, created_by) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(version)
        .bind(sqlx::types::Json(spec))
        .bind(principal.user_id)
        .execute(conn)
        .await?;
    Ok(version)
}

/// Makes an earlier (or later) version the one in force.
pub(crate) async fn activate(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    version: i32,
) -> ApiResult<PromptApi> {
    access.role.require(Role::Member, "manage prompt APIs")?;
    let current = load(db, access, id).await?;
    let target: Option<sqlx::types::Json<PromptApiSpec>> = sqlx::query_scalar(
        "SELECT spec FROM prompt_api_versions WHERE prompt_api_id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .fetch_optional(db)
    .await?;
    let target = target.ok_or_else(|| ApiError::not_found("version", &version.to_string()))?;
    let mut tx = db.begin().await?;
    sqlx::query(
        "UPDATE prompt_apis SET active_version = $3, slug = $4 WHERE tenant_id = $1 AND id = $2",
    )
    .bind(access.tenant.id)
    .bind(id)
    .bind(version)
    .bind(&target.0.slug)
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        conflict_on_unique(e, || {
            format!("another prompt API now uses the slug '{}'", target.0.slug)
        })
    })?;
    let change = change(
        access,
        "prompt_api.activate",
        id,
        json!({"from": current.version, "to": version}),
    );
    commit_then_load(db, tx, principal, access, id, change).await
}

/// Records the change and bumps the configuration version, then answers with the prompt API
/// as it now is.
async fn commit_then_load(
    db: &PgPool,
    tx: sqlx::Transaction<'_, sqlx::Postgres>,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    change: audit::Change<'_>,
) -> ApiResult<PromptApi> {
    config_version::commit(tx, principal, change).await?;
    load(db, access, id).await
}

pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Member, "manage prompt APIs")?;
    let mut tx = db.begin().await?;
    let slug: Option<String> = sqlx::query_scalar(
        "DELETE FROM prompt_apis WHERE tenant_id = $1 AND id = $2 RETURNING slug",
    )
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let slug = slug.ok_or_else(|| ApiError::not_found("prompt API", &id.to_string()))?;
    config_version::commit(
        tx,
        principal,
        change(access, "prompt_api.delete", id, json!({"slug": slug})),
    )
    .await?;
    Ok(())
}

/// The OpenAPI document of the prompt API's own endpoint on the proxy.
pub(crate) async fn openapi(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Value> {
    let api = load(db, access, id).await?;
    Ok(document(&api.spec, api.version))
}

/// The active versions of a tenant's prompt APIs of these slugs, as OpenAPI documents.
pub(crate) async fn documents(
    db: &PgPool,
    tenant_id: Uuid,
    slugs: &[String],
) -> ApiResult<Vec<Value>> {
    let rows: Vec<(i32, sqlx::types::Json<PromptApiSpec>)> = sqlx::query_as(
        "SELECT p.active_version, v.spec
         FROM prompt_apis p JOIN prompt_api_versions v ON v.prompt_api_id = p.id AND v.version = p.active_version
         WHERE p.tenant_id = $1 AND p.slug = ANY($2) ORDER BY p.slug",
    )
    .bind(tenant_id)
    .bind(slugs)
    .fetch_all(db)
    .await?;
    Ok(rows
        .iter()
        .map(|(version, spec)| document(&spec.0, *version))
        .collect())
}

/// The OpenAPI document of `POST /prompts/{slug}` at a version.
fn document(spec: &PromptApiSpec, version: i32) -> Value {
    let mut properties = serde_json::Map::new();
    let mut required = Vec::new();
    for variable in &spec.variables {
        let schema = variable.kind.json_schema(
            &variable.values,
            variable.description.as_deref(),
            variable.default.as_ref(),
        );
        if variable.required {
            required.push(variable.name.clone());
        }
        properties.insert(variable.name.clone(), schema);
    }
    let path = format!("/prompts/{}", spec.slug);
    json!({
        "openapi": "3.1.0",
        "info": {"title": format!("Prompt API {}", spec.slug), "version": version.to_string(),
                 "description": spec.description.clone().unwrap_or_default()},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": {path: {"post": {
            "summary": spec.description.clone().unwrap_or_else(|| format!("Run the {} prompt", spec.slug)),
            "parameters": [{"name": "stream", "in": "query", "required": false, "schema": {"type": "boolean"},
                            "description": "Stream the model's answer as server-sent events"}],
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": false, "properties": properties, "required": required}}}},
            "responses": {
                "200": {"description": "The model's output", "content": {"application/json": {"schema": {
                    "type": "object", "properties": {"output": {}, "model": {"type": "string"},
                    "usage": {"type": "object"}, "cost_usd": {"type": "string"}}}}}},
                "400": {"description": "Missing, unknown or mistyped variables"}
            }}}}
    })
}

/// The audit entry of a change to this item.
fn change<'a>(
    access: &TenantAccess,
    action: &'a str,
    id: Uuid,
    details: Value,
) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "prompt_api",
        target_id: id.to_string(),
        details,
    }
}
