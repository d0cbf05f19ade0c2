//! AI providers of a tenant. Credentials are encrypted at rest and never returned by the API.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};
use crate::roles::{Require, Role};
use crate::secret_box::SecretBox;
use crate::service::{audit, config_version};
use crate::{merge_patch, validate};

pub(crate) use tollgate_protocol::ProviderKind;

/// A provider as the API shows it: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Provider {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    pub(crate) base_url: String,
    pub(crate) api_version: Option<String>,
    /// Enough of the API key to recognise it, like "sk-…f3a9".
    pub(crate) key_hint: String,
    /// Names of the extra headers sent (their values are secret).
    pub(crate) header_names: Vec<String>,
    /// Time the provider may take to start answering before the next deployment is tried.
    pub(crate) timeout: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// A provider's settings, as created and as changed by a merge patch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateProvider {
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    /// Defaults per kind (required for azure_openai and openai_compatible).
    pub(crate) base_url: Option<String>,
    /// Write-only. May be left out for servers that need none (a local Ollama).
    pub(crate) api_key: Option<String>,
    /// Extra headers sent with every call (write-only values).
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Azure OpenAI's `api-version`.
    pub(crate) api_version: Option<String>,
    /// Time allowed until the provider starts answering, like "30s" (default 120s); past it the
    /// next deployment is tried.
    pub(crate) timeout: Option<String>,
}

/// What `POST …/providers/{id}/test` found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProviderTest {
    pub(crate) ok: bool,
    /// The provider's HTTP status, if it answered.
    pub(crate) status: Option<u16>,
    pub(crate) latency_ms: u64,
    /// The provider's own error message, or what went wrong reaching it.
    pub(crate) detail: String,
}

/// The secret part of a provider, sealed as one JSON document.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Credentials {
    pub(crate) api_key: Option<String>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
}

#[derive(sqlx::FromRow)]
struct ProviderRow {
    id: Uuid,
    name: String,
    kind: ProviderKind,
    base_url: String,
    api_version: Option<String>,
    key_hint: String,
    header_names: Vec<String>,
    credentials: Vec<u8>,
    timeout_ms: i64,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

impl ProviderRow {
    fn view(self) -> Provider {
        Provider {
            kind: self.kind,
            id: self.id,
            name: self.name,
            base_url: self.base_url,
            api_version: self.api_version,
            key_hint: self.key_hint,
            header_names: self.header_names,
            timeout: crate::validate::millis_text(self.timeout_ms),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "id, name, kind, base_url, api_version, key_hint, header_names, credentials,
     timeout_ms, created_at, updated_at";

/// Checked settings of a provider, ready to seal and store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProviderSettings {
    pub(crate) name: String,
    pub(crate) kind: ProviderKind,
    pub(crate) base_url: String,
    pub(crate) api_version: Option<String>,
    pub(crate) timeout_ms: i64,
    pub(crate) credentials: Credentials,
}

pub(crate) fn check(input: CreateProvider) -> ApiResult<ProviderSettings> {
    let name = validate::name("name", &input.name)?;
    let base_url = check_url(input.kind, input.base_url.as_deref())?;
    if input.kind == ProviderKind::AzureOpenai && input.api_version.is_none() {
        return Err(ApiError::Invalid(
            "api_version is required for azure_openai providers".into(),
        ));
    }
    check_credentials(input.api_key.as_deref(), &input.headers)?;
    Ok(ProviderSettings {
        name,
        kind: input.kind,
        base_url,
        api_version: input.api_version,
        timeout_ms: check_timeout(input.timeout.as_deref())?.unwrap_or(120_000),
        credentials: Credentials {
            api_key: input.api_key,
            headers: input.headers,
        },
    })
}

/// A provider timeout in milliseconds: more than 0, at most 10 minutes.
fn check_timeout(text: Option<&str>) -> ApiResult<Option<i64>> {
    let Some(text) = text else { return Ok(None) };
    let duration = humantime::parse_duration(text.trim())
        .ok()
        .filter(|d| *d >= Duration::from_millis(1) && *d <= Duration::from_secs(600))
        .ok_or_else(|| {
            ApiError::Invalid(format!(
                "timeout '{}' must be a duration like \"30s\", at least 1ms and at most 10m",
                text.chars().take(30).collect::<String>()
            ))
        })?;
    Ok(Some(i64::try_from(duration.as_millis()).unwrap_or(600_000)))
}

fn check_url(kind: ProviderKind, url: Option<&str>) -> ApiResult<String> {
    let url = match url.or(kind.default_base_url()) {
        Some(url) => url.trim().trim_end_matches('/').to_string(),
        None => {
            return Err(ApiError::Invalid(format!(
                "base_url is required for {} providers",
                kind.as_str()
            )))
        }
    };
    match url::Url::parse(&url) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() =>
        {
            Ok(url)
        }
        _ => Err(ApiError::Invalid(format!(
            "base_url '{}' is not an http(s) URL",
            url.chars().take(100).collect::<String>()
        ))),
    }
}

fn check_credentials(api_key: Option<&str>, headers: &BTreeMap<String, String>) -> ApiResult<()> {
    if let Some(key) = api_key {
        if key.trim().is_empty() || key.len() > 4096 || key.chars().any(char::is_control) {
            return Err(ApiError::Invalid(
                "api_key must be 1 to 4096 printable characters".into(),
            ));
        }
    }
    if headers.len() > 20 {
        return Err(ApiError::Invalid("headers: at most 20".into()));
    }
    for (name, value) in headers {
        if axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(value).is_err()
        {
            return Err(ApiError::Invalid(format!(
                "header '{}' is not a valid header name and value",
                name.chars().take(60).collect::<String>()
            )));
        }
        let lower = name.trim().to_ascii_lowercase();
        if crate::service::routes::RESERVED_HEADERS.contains(&lower.as_str()) {
            return Err(ApiError::Invalid(format!(
                "header '{lower}' is managed by the proxy and cannot be set on a provider"
            )));
        }
    }
    Ok(())
}

/// The decrypted credentials of a stored provider.
pub(crate) fn open(secrets: &SecretBox, id: Uuid, sealed: &[u8]) -> ApiResult<Credentials> {
    secrets.open_json(sealed, id)
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Provider>> {
    let rows: Vec<ProviderRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM providers WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(ProviderRow::view).collect())
}

async fn row(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<ProviderRow> {
    let row: Option<ProviderRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM providers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.ok_or_else(|| ApiError::not_found("provider", &id.to_string()))
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Provider> {
    Ok(row(db, access, id).await?.view())
}

/// A provider's id and kind by its name or id, within the tenant.
pub(crate) async fn resolve(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    name_or_id: &str,
) -> ApiResult<Option<(Uuid, String, ProviderKind)>> {
    let by_id = Uuid::parse_str(name_or_id).ok();
    let found: Option<(Uuid, String, ProviderKind)> = sqlx::query_as(
        "SELECT id, name, kind FROM providers WHERE tenant_id = $1
         AND (($2::uuid IS NOT NULL AND id = $2) OR ($2::uuid IS NULL AND name = $3))",
    )
    .bind(access.tenant.id)
    .bind(by_id)
    .bind(name_or_id)
    .fetch_optional(conn)
    .await?;
    Ok(found)
}

/// Checks what depends on platform settings: the egress policy and the tenant's quota.
async fn admit(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    base_url: &str,
    adding: bool,
) -> ApiResult<()> {
    let egress = crate::service::settings::egress(&mut *conn).await?;
    crate::service::settings::check_url_egress(&egress, "base_url", base_url)?;
    crate::service::settings::check_quota(
        conn,
        access.tenant.id,
        crate::service::settings::Kind::Providers,
        adding,
        &base_url,
    )
    .await
}

fn name_taken(err: sqlx::Error, name: &str) -> ApiError {
    crate::error::conflict_on_unique(err, || {
        format!("a provider named '{name}' exists in this tenant; choose another name")
    })
}

pub(crate) async fn create(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    access: &TenantAccess,
    input: CreateProvider,
) -> ApiResult<Provider> {
    access.role.require(Role::Admin, "manage providers")?;
    let settings = check(input)?;
    let mut tx = db.begin().await?;
    let provider = store_in(&mut tx, secrets, access, None, settings).await?;
    config_version::commit(tx, principal, change(access, "provider.create", &provider)).await?;
    Ok(provider)
}

/// Every provider of the tenant with its settings, credentials opened (they stay server-side).
pub(crate) async fn stored_in(
    conn: &mut sqlx::PgConnection,
    secrets: &SecretBox,
    access: &TenantAccess,
) -> ApiResult<Vec<(Uuid, ProviderSettings)>> {
    let rows: Vec<ProviderRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM providers WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(access.tenant.id)
    .fetch_all(conn)
    .await?;
    rows.into_iter()
        .map(|row| {
            Ok((
                row.id,
                ProviderSettings {
                    credentials: open(secrets, row.id, &row.credentials)?,
                    name: row.name,
                    kind: row.kind,
                    base_url: row.base_url,
                    api_version: row.api_version,
                    timeout_ms: row.timeout_ms,
                },
            ))
        })
        .collect()
}

/// Stores checked settings inside the caller's transaction (no audit entry, no version): a new
/// provider, or new settings of provider `id` (whose kind cannot change). The egress policy and
/// the tenant's quota are checked here.
pub(crate) async fn store_in(
    conn: &mut sqlx::PgConnection,
    secrets: &SecretBox,
    access: &TenantAccess,
    id: Option<Uuid>,
    settings: ProviderSettings,
) -> ApiResult<Provider> {
    admit(&mut *conn, access, &settings.base_url, id.is_none()).await?;
    let statement = match id {
        None => INSERT,
        Some(id) => {
            let kind: Option<ProviderKind> =
                sqlx::query_scalar("SELECT kind FROM providers WHERE tenant_id = $1 AND id = $2")
                    .bind(access.tenant.id)
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
            match kind {
                None => return Err(ApiError::not_found("provider", &id.to_string())),
                Some(kind) if kind != settings.kind => {
                    return Err(ApiError::Invalid(format!(
                        "provider '{}' is of kind {}; a provider's kind cannot change, so create a new provider",
                        settings.name,
                        kind.as_str()
                    )))
                }
                Some(_) => UPDATE,
            }
        }
    };
    let id = id.unwrap_or_else(Uuid::now_v7);
    let credentials = &settings.credentials;
    let row: ProviderRow = sqlx::query_as(&format!("{statement} RETURNING {COLUMNS}"))
        .bind(id)
        .bind(access.tenant.id)
        .bind(&settings.name)
        .bind(settings.kind)
        .bind(&settings.base_url)
        .bind(&settings.api_version)
        .bind(secrets.seal_json(credentials, id)?)
        .bind(crate::secrets::hint(credentials.api_key.as_deref()))
        .bind(credentials.headers.keys().cloned().collect::<Vec<_>>())
        .bind(settings.timeout_ms)
        .fetch_one(conn)
        .await
        .map_err(|e| name_taken(e, &settings.name))?;
    Ok(row.view())
}

const INSERT: &str = "INSERT INTO providers (id, tenant_id, name, kind, base_url, api_version,
         credentials, key_hint, header_names, timeout_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const UPDATE: &str = "UPDATE providers SET name = $3, base_url = $5, api_version = $6,
         credentials = $7, key_hint = $8, header_names = $9, timeout_ms = $10
     WHERE id = $1 AND tenant_id = $2 AND kind = $4";

/// A JSON merge patch of the provider's settings (write-only credentials included: a `null`
/// `api_key` removes the key). The kind cannot change.
pub(crate) async fn update(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: Value,
) -> ApiResult<Provider> {
    access.role.require(Role::Admin, "manage providers")?;
    let current = row(db, access, id).await?;
    let credentials = open(secrets, id, &current.credentials)?;
    let existing = CreateProvider {
        name: current.name,
        kind: current.kind,
        base_url: Some(current.base_url),
        api_key: credentials.api_key,
        headers: credentials.headers,
        api_version: current.api_version,
        timeout: Some(crate::validate::millis_text(current.timeout_ms)),
    };
    let input = merge_patch::patched(&existing, &patch, "provider")?;
    if input.kind != current.kind {
        return Err(ApiError::Invalid(
            "a provider's kind cannot change; create a new provider".into(),
        ));
    }
    let settings = check(input)?;
    let mut tx = db.begin().await?;
    let provider = store_in(&mut tx, secrets, access, Some(id), settings).await?;
    config_version::commit(tx, principal, change(access, "provider.update", &provider)).await?;
    Ok(provider)
}

/// Deletes a provider no model uses any more.
pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage providers")?;
    let provider = get(db, access, id).await?;
    let mut tx = db.begin().await?;
    remove_in(&mut tx, access, id).await?;
    config_version::commit(tx, principal, change(access, "provider.delete", &provider)).await?;
    Ok(())
}

/// Deletes a provider no model uses inside the caller's transaction (no audit entry, no
/// version).
pub(crate) async fn remove_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    let users: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM models WHERE tenant_id = $1
         AND deployments @> jsonb_build_array(jsonb_build_object('provider_id', $2::text))
         ORDER BY name",
    )
    .bind(access.tenant.id)
    .bind(id.to_string())
    .fetch_all(&mut *conn)
    .await?;
    if !users.is_empty() {
        return Err(ApiError::Conflict(format!(
            "models still deploy on this provider: {}; change them first",
            users.join(", ")
        )));
    }
    let deleted = sqlx::query("DELETE FROM providers WHERE tenant_id = $1 AND id = $2")
        .bind(access.tenant.id)
        .bind(id)
        .execute(conn)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::not_found("provider", &id.to_string()));
    }
    Ok(())
}

/// The audit entry of a change to this item.
fn change<'a>(access: &TenantAccess, action: &'a str, provider: &Provider) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "provider",
        target_id: provider.id.to_string(),
        details: json!({"name": provider.name, "kind": provider.kind, "base_url": provider.base_url,
                        "key_hint": provider.key_hint, "header_names": provider.header_names}),
    }
}

/// Checks the credentials with a request that costs no tokens: listing the provider's models.
pub(crate) async fn test(
    db: &PgPool,
    secrets: &SecretBox,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<ProviderTest> {
    let row = row(db, access, id).await?;
    let kind = row.kind;
    let credentials = open(secrets, id, &row.credentials)?;
    let client =
        match crate::service::settings::egress_client(db, &row.base_url, Duration::from_secs(10))
            .await?
        {
            Ok(client) => client,
            Err(why) => {
                return Ok(ProviderTest {
                    ok: false,
                    status: None,
                    latency_ms: 0,
                    detail: format!("the provider may not be reached: {why}"),
                })
            }
        };
    let key = credentials.api_key.clone().unwrap_or_default();
    let mut request = client.get(format!("{}{}", row.base_url, kind.models_path()));
    if !key.is_empty() {
        let (name, value) = kind.auth_header(&key);
        request = request.header(name, value);
    }
    if let Some((name, value)) = kind.version_header() {
        request = request.header(name, value);
    }
    if kind.takes_api_version_query() {
        request = request.query(&[("api-version", row.api_version.clone().unwrap_or_default())]);
    }
    for (name, value) in &credentials.headers {
        request = request.header(name, value);
    }
    let started = Instant::now();
    let outcome = request.send().await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(match outcome {
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            ProviderTest {
                ok: status.is_success(),
                status: Some(status.as_u16()),
                latency_ms,
                detail: if status.is_success() {
                    "the provider accepted the credentials".into()
                } else {
                    provider_message(&body)
                        .unwrap_or_else(|| format!("the provider answered {status}"))
                },
            }
        }
        Err(err) => ProviderTest {
            ok: false,
            status: None,
            latency_ms,
            detail: format!("could not reach the provider: {}", without_url(&err)),
        },
    })
}

/// The `error.message` (or `message`) a provider put in its error body.
fn provider_message(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let message = value
        .pointer("/error/message")
        .or_else(|| value.get("message"))?
        .as_str()?;
    Some(message.chars().take(500).collect())
}

fn without_url(err: &reqwest::Error) -> String {
    let mut err = err.to_string();
    if let Some(url) = err.find(" for url (") {
        err.truncate(url);
    }
    err
}
