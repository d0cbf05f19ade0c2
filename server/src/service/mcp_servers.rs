//! Remote MCP servers of a tenant (Streamable HTTP): the URL, credentials sent upstream (a
//! bearer token or headers, encrypted at rest and never returned), a timeout and an optional
//! allow-list of tools. The proxy serves them to the tenant's keys.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Principal, TenantAccess};
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::mcp_client::{self, Tool};
use crate::roles::{Require, Role};
use crate::secret_box::SecretBox;
use crate::service::{audit, config_version};
use crate::{merge_patch, validate};

/// A server's settings, as created and as changed by a merge patch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct McpServerSpec {
    pub(crate) name: String,
    /// The server's Streamable HTTP endpoint, like `https://tools.example.com/mcp`.
    pub(crate) url: String,
    /// Write-only: sent upstream as `Authorization: Bearer …`.
    pub(crate) bearer_token: Option<String>,
    /// Write-only values: extra headers sent upstream.
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// Time a call may take, like "30s" (default 60s, at most 10m).
    pub(crate) timeout: Option<String>,
    /// Only these tools are listed and callable; empty: all the server offers.
    #[serde(default)]
    pub(crate) tools: Vec<String>,
}

/// A server as the API shows it: never its credentials.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct McpServer {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) url: String,
    /// Enough of the token to recognise it, or "none".
    pub(crate) token_hint: String,
    pub(crate) header_names: Vec<String>,
    pub(crate) timeout: String,
    pub(crate) tools: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// What the "test" action found.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct McpServerTest {
    pub(crate) ok: bool,
    pub(crate) latency_ms: u64,
    /// The tools the server offers (those of the allow-list, when it has one).
    pub(crate) tools: Vec<Tool>,
    pub(crate) detail: String,
}

/// The sealed part.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub(crate) struct McpCredentials {
    pub(crate) bearer_token: Option<String>,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    url: String,
    credentials: Vec<u8>,
    token_hint: String,
    header_names: Vec<String>,
    timeout_ms: i64,
    tools: Vec<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

const COLUMNS: &str =
    "id, name, url, credentials, token_hint, header_names, timeout_ms, tools, created_at, updated_at";

impl Row {
    fn view(&self) -> McpServer {
        McpServer {
            id: self.id,
            name: self.name.clone(),
            url: self.url.clone(),
            token_hint: self.token_hint.clone(),
            header_names: self.header_names.clone(),
            timeout: crate::validate::millis_text(self.timeout_ms),
            tools: self.tools.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// Checked settings: (name, url, timeout in ms, tools, credentials).
type Checked = (String, String, i64, Vec<String>, McpCredentials);

async fn check(conn: &mut sqlx::PgConnection, spec: McpServerSpec) -> ApiResult<Checked> {
    let name = validate::slug(&spec.name)?;
    if RESERVED.contains(&name.as_str()) {
        return Err(ApiError::Invalid(format!(
            "name '{name}' is taken: the proxy publishes the tenant's prompt APIs and REST APIs as MCP tools under '{}' and '{}'",
            RESERVED[0], RESERVED[1]
        )));
    }
    let url = spec.url.trim().to_string();
    match url::Url::parse(&url) {
        Ok(parsed)
            if matches!(parsed.scheme(), "http" | "https") && parsed.host_str().is_some() => {}
        _ => {
            return Err(ApiError::Invalid(
                "url must be an http(s) URL of a remote MCP server (local commands are not run)"
                    .into(),
            ))
        }
    }
    let egress = crate::service::settings::egress(&mut *conn).await?;
    crate::service::settings::check_url_egress(&egress, "url", &url)?;
    let timeout_ms = match spec.timeout.as_deref() {
        None => 60_000,
        Some(text) => humantime::parse_duration(text.trim())
            .ok()
            .filter(|d| *d >= Duration::from_millis(100) && *d <= Duration::from_secs(600))
            .and_then(|d| i64::try_from(d.as_millis()).ok())
            .ok_or_else(|| {
                ApiError::Invalid("timeout must be a duration like \"30s\", 100ms to 10m".into())
            })?,
    };
    if let Some(token) = &spec.bearer_token {
        if token.trim().is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
            return Err(ApiError::Invalid(
                "bearer_token must be 1 to 4096 printable characters".into(),
            ));
        }
    }
    if spec.headers.len() > 20 {
        return Err(ApiError::Invalid("headers: at most 20".into()));
    }
    for (header, value) in &spec.headers {
        let lower = header.to_ascii_lowercase();
        if axum::http::HeaderName::from_bytes(header.as_bytes()).is_err()
            || axum::http::HeaderValue::from_str(value).is_err()
            || matches!(
                lower.as_str(),
                "host" | "content-length" | "mcp-session-id" | "content-type" | "accept"
            )
        {
            return Err(ApiError::Invalid(format!(
                "header '{}' cannot be sent to an MCP server",
                header.chars().take(60).collect::<String>()
            )));
        }
    }
    let tools = validate::name_list("tools", &spec.tools)?;
    Ok((
        name,
        url,
        timeout_ms,
        tools,
        McpCredentials {
            bearer_token: spec.bearer_token,
            headers: spec.headers,
        },
    ))
}

pub(crate) fn open(secrets: &SecretBox, id: Uuid, sealed: &[u8]) -> ApiResult<McpCredentials> {
    secrets.open_json(sealed, id)
}

/// The names under which the proxy serves prompt APIs and REST routes as tools
/// (`/mcp/prompt-apis`, `/mcp/rest-apis`).
const RESERVED: [&str; 2] = ["prompt-apis", "rest-apis"];

/// Every server of every tenant as the snapshot carries them, credentials opened as headers.
pub(crate) async fn entries(
    conn: &mut sqlx::PgConnection,
    secrets: &SecretBox,
) -> ApiResult<Vec<tollgate_protocol::McpServerEntry>> {
    #[derive(sqlx::FromRow)]
    struct EntryRow {
        id: Uuid,
        tenant_id: Uuid,
        name: String,
        url: String,
        credentials: Vec<u8>,
        timeout_ms: i64,
        tools: Vec<String>,
    }
    let rows: Vec<EntryRow> = sqlx::query_as(
        "SELECT id, tenant_id, name, url, credentials, timeout_ms, tools
         FROM mcp_servers ORDER BY id",
    )
    .fetch_all(conn)
    .await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows {
        let EntryRow {
            id,
            tenant_id,
            name,
            url,
            timeout_ms,
            tools,
            ..
        } = row;
        let credentials = open(secrets, id, &row.credentials)?;
        let mut headers = credentials.headers;
        if let Some(token) = credentials.bearer_token {
            headers.insert("authorization".into(), format!("Bearer {token}"));
        }
        entries.push(tollgate_protocol::McpServerEntry {
            id,
            tenant_id,
            name,
            url,
            headers,
            timeout_ms: timeout_ms.max(1).unsigned_abs(),
            tools,
        });
    }
    Ok(entries)
}

async fn row(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Row> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mcp_servers WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    row.ok_or_else(|| ApiError::not_found("MCP server", &id.to_string()))
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<McpServer>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mcp_servers WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(Row::view).collect())
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<McpServer> {
    Ok(row(db, access, id).await?.view())
}

fn change<'a>(access: &TenantAccess, action: &'a str, server: &McpServer) -> audit::Change<'a> {
    audit::Change {
        tenant_id: Some(access.tenant.id),
        action,
        target_type: "mcp_server",
        target_id: server.id.to_string(),
        details: json!({"name": server.name, "url": server.url, "token_hint": server.token_hint,
                        "header_names": server.header_names, "tools": server.tools}),
    }
}

async fn save(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    access: &TenantAccess,
    id: Option<Uuid>,
    spec: McpServerSpec,
) -> ApiResult<McpServer> {
    access.role.require(Role::Admin, "manage MCP servers")?;
    let mut tx = db.begin().await?;
    let (name, url, timeout_ms, tools, credentials) = check(&mut tx, spec).await?;
    let server_id = id.unwrap_or_else(Uuid::now_v7);
    let statement = match id {
        None => format!(
            "INSERT INTO mcp_servers (id, tenant_id, name, url, credentials, token_hint, header_names,
                 timeout_ms, tools) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
        ),
        Some(_) => format!(
            "UPDATE mcp_servers SET name = $3, url = $4, credentials = $5, token_hint = $6,
                 header_names = $7, timeout_ms = $8, tools = $9
             WHERE id = $1 AND tenant_id = $2 RETURNING {COLUMNS}"
        ),
    };
    let row: Option<Row> = sqlx::query_as(&statement)
        .bind(server_id)
        .bind(access.tenant.id)
        .bind(&name)
        .bind(&url)
        .bind(secrets.seal_json(&credentials, server_id)?)
        .bind(crate::secrets::hint(credentials.bearer_token.as_deref()))
        .bind(credentials.headers.keys().cloned().collect::<Vec<_>>())
        .bind(timeout_ms)
        .bind(&tools)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("an MCP server named '{name}' exists in this tenant")
            })
        })?;
    let server = row
        .ok_or_else(|| ApiError::not_found("MCP server", &server_id.to_string()))?
        .view();
    let action = if id.is_none() {
        "mcp_server.create"
    } else {
        "mcp_server.update"
    };
    config_version::commit(tx, principal, change(access, action, &server)).await?;
    Ok(server)
}

pub(crate) async fn create(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    access: &TenantAccess,
    spec: McpServerSpec,
) -> ApiResult<McpServer> {
    save(db, secrets, principal, access, None, spec).await
}

/// A JSON merge patch of the settings (write-only credentials included).
pub(crate) async fn update(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: Value,
) -> ApiResult<McpServer> {
    let current = row(db, access, id).await?;
    let credentials = open(secrets, id, &current.credentials)?;
    let settings = McpServerSpec {
        name: current.name.clone(),
        url: current.url.clone(),
        bearer_token: credentials.bearer_token,
        headers: credentials.headers,
        timeout: Some(crate::validate::millis_text(current.timeout_ms)),
        tools: current.tools.clone(),
    };
    let spec = merge_patch::patched(&settings, &patch, "MCP server")?;
    save(db, secrets, principal, access, Some(id), spec).await
}

pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage MCP servers")?;
    let server = get(db, access, id).await?;
    let mut tx = db.begin().await?;
    sqlx::query("DELETE FROM mcp_servers WHERE tenant_id = $1 AND id = $2")
        .bind(access.tenant.id)
        .bind(id)
        .execute(&mut *tx)
        .await?;
    config_version::commit(tx, principal, change(access, "mcp_server.delete", &server)).await?;
    Ok(())
}

/// Connects as an MCP client with the server's credentials and lists its tools.
pub(crate) async fn test(
    db: &PgPool,
    secrets: &SecretBox,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<McpServerTest> {
    let row = row(db, access, id).await?;
    let credentials = open(secrets, id, &row.credentials)?;
    let timeout = Duration::from_millis(row.timeout_ms.max(100).unsigned_abs());
    let client = match crate::service::settings::egress_client(db, &row.url, timeout).await? {
        Ok(client) => client,
        Err(why) => {
            return Ok(McpServerTest {
                ok: false,
                latency_ms: 0,
                tools: Vec::new(),
                detail: format!("the server may not be reached: {why}"),
            })
        }
    };
    let mut headers: Vec<(String, String)> = credentials.headers.into_iter().collect();
    if let Some(token) = credentials.bearer_token {
        headers.push(("authorization".into(), format!("Bearer {token}")));
    }
    let started = Instant::now();
    let listed = mcp_client::list_tools(&client, &row.url, &headers).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(match listed {
        Ok(tools) => {
            let tools: Vec<Tool> = tools
                .into_iter()
                .filter(|t| row.tools.is_empty() || row.tools.contains(&t.name))
                .collect();
            McpServerTest {
                ok: true,
                latency_ms,
                detail: format!("the server offers {} tool(s)", tools.len()),
                tools,
            }
        }
        Err(why) => McpServerTest {
            ok: false,
            latency_ms,
            tools: Vec::new(),
            detail: why,
        },
    })
}
