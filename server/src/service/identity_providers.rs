//! OpenID Connect identity providers for signing in to the console and the admin API,
//! configured by platform admins: issuer (discovered), client, scopes, the claim that carries
//! groups, rules that map groups to tenants and roles, and "SSO only" email domains. The
//! client secret is encrypted at rest and never shown again.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::roles::Role;
use crate::secret_box::SecretBox;
use crate::service::audit;
use crate::{merge_patch, validate};

/// Members of `group` get `role` in tenant `tenant` (a slug) at every sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct GroupRule {
    pub(crate) group: String,
    pub(crate) tenant: String,
    pub(crate) role: Role,
}

/// A provider's settings, as created and as changed by a merge patch.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct IdentityProviderSpec {
    /// Shown on the sign-in button, like "Okta".
    pub(crate) name: String,
    /// The issuer URL; `/.well-known/openid-configuration` under it is read.
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    /// Write-only; left out for public clients (PKCE only).
    pub(crate) client_secret: Option<String>,
    /// Default `openid email profile`.
    #[serde(default = "default_scopes")]
    pub(crate) scopes: Vec<String>,
    /// The ID-token claim with the user's groups (default `groups`).
    #[serde(default = "default_groups_claim")]
    pub(crate) groups_claim: String,
    /// Emails of these domains may sign in only through this provider.
    #[serde(default)]
    pub(crate) sso_only_domains: Vec<String>,
    /// Applied at every sign-in: memberships they granted and no rule matches any more end.
    #[serde(default)]
    pub(crate) group_rules: Vec<GroupRule>,
    #[serde(default = "yes")]
    pub(crate) enabled: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into(), "profile".into()]
}

fn default_groups_claim() -> String {
    "groups".into()
}

fn yes() -> bool {
    true
}

/// A provider as the API shows it: never its client secret.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct IdentityProvider {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) has_client_secret: bool,
    pub(crate) scopes: Vec<String>,
    pub(crate) groups_claim: String,
    pub(crate) sso_only_domains: Vec<String>,
    pub(crate) group_rules: Vec<GroupRule>,
    pub(crate) enabled: bool,
    /// The redirect URI to register at the provider.
    pub(crate) redirect_path: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// What the sign-in page shows: a button per enabled provider.
#[derive(Debug, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct SignInOption {
    pub(crate) id: Uuid,
    pub(crate) name: String,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: Uuid,
    name: String,
    issuer: String,
    client_id: String,
    client_secret: Option<Vec<u8>>,
    scopes: Vec<String>,
    groups_claim: String,
    sso_only_domains: Vec<String>,
    group_rules: sqlx::types::Json<Vec<GroupRule>>,
    enabled: bool,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, issuer, client_id, client_secret, scopes, groups_claim,
     sso_only_domains, group_rules, enabled, created_at, updated_at";

impl Row {
    fn view(&self) -> IdentityProvider {
        IdentityProvider {
            id: self.id,
            name: self.name.clone(),
            issuer: self.issuer.clone(),
            client_id: self.client_id.clone(),
            has_client_secret: self.client_secret.is_some(),
            scopes: self.scopes.clone(),
            groups_claim: self.groups_claim.clone(),
            sso_only_domains: self.sso_only_domains.clone(),
            group_rules: self.group_rules.0.clone(),
            enabled: self.enabled,
            redirect_path: redirect_path(self.id),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// The path the provider sends the browser back to.
pub(crate) fn redirect_path(id: Uuid) -> String {
    format!("/api/v1/auth/sso/{id}/callback")
}

/// What signing in through a provider needs: its settings and its client secret.
#[derive(Debug, Clone)]
pub(crate) struct Client {
    pub(crate) provider: IdentityProvider,
    pub(crate) client_secret: Option<String>,
}

fn check(spec: IdentityProviderSpec) -> ApiResult<IdentityProviderSpec> {
    let name = validate::name("name", &spec.name)?;
    let issuer = spec.issuer.trim().trim_end_matches('/').to_string();
    match url::Url::parse(&issuer) {
        Ok(url) if url.scheme() == "https" && url.host_str().is_some() => {}
        Ok(url)
            if url.scheme() == "http"
                && matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]")) => {}
        _ => {
            return Err(ApiError::Invalid(
                "issuer must be an https URL (http only on loopback, for development)".into(),
            ))
        }
    }
    let client_id = spec.client_id.trim().to_string();
    if client_id.is_empty() || client_id.len() > 500 {
        return Err(ApiError::Invalid(
            "client_id must be 1 to 500 characters".into(),
        ));
    }
    if let Some(secret) = &spec.client_secret {
        if secret.is_empty() || secret.len() > 2000 || secret.chars().any(char::is_control) {
            return Err(ApiError::Invalid(
                "client_secret must be 1 to 2000 printable characters".into(),
            ));
        }
    }
    let mut scopes = validate::name_list("scopes", &spec.scopes)?;
    if !scopes.iter().any(|s| s == "openid") {
        scopes.insert(0, "openid".into());
    }
    if scopes.iter().any(|s| s.contains(char::is_whitespace)) {
        return Err(ApiError::Invalid("a scope has no spaces".into()));
    }
    let groups_claim = validate::name("groups_claim", &spec.groups_claim)?;
    let mut domains = Vec::new();
    for domain in &spec.sso_only_domains {
        let domain = domain.trim().trim_start_matches('@').to_ascii_lowercase();
        if domain.is_empty()
            || domain.len() > 253
            || !domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
        {
            return Err(ApiError::Invalid(format!(
                "sso_only_domains: '{}' is not a domain like example.com",
                domain.chars().take(60).collect::<String>()
            )));
        }
        domains.push(domain);
    }
    if spec.group_rules.len() > 200 {
        return Err(ApiError::Invalid("group_rules: at most 200".into()));
    }
    for rule in &spec.group_rules {
        validate::text("a rule's group", &rule.group)?;
        if rule.group.is_empty() || rule.group.len() > 500 {
            return Err(ApiError::Invalid(
                "a rule's group must be 1 to 500 characters".into(),
            ));
        }
    }
    Ok(IdentityProviderSpec {
        name,
        issuer,
        client_id,
        scopes,
        groups_claim,
        sso_only_domains: domains,
        ..spec
    })
}

/// Checks that every rule names a tenant that exists.
async fn check_tenants(conn: &mut PgConnection, rules: &[GroupRule]) -> ApiResult<()> {
    for rule in rules {
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM tenants WHERE slug = $1)")
                .bind(&rule.tenant)
                .fetch_one(&mut *conn)
                .await?;
        if !exists {
            return Err(ApiError::Invalid(format!(
                "group_rules: there is no tenant '{}'",
                rule.tenant.chars().take(60).collect::<String>()
            )));
        }
    }
    Ok(())
}

async fn row(conn: &mut PgConnection, id: Uuid) -> ApiResult<Row> {
    let row: Option<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM identity_providers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?;
    row.ok_or_else(|| ApiError::not_found("identity provider", &id.to_string()))
}

pub(crate) async fn list(db: &PgPool, principal: &Principal) -> ApiResult<Vec<IdentityProvider>> {
    principal.require_platform_admin("manage identity providers")?;
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM identity_providers ORDER BY name"
    ))
    .fetch_all(db)
    .await?;
    Ok(rows.iter().map(Row::view).collect())
}

pub(crate) async fn get(
    db: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> ApiResult<IdentityProvider> {
    principal.require_platform_admin("manage identity providers")?;
    Ok(row(&mut *db.acquire().await?, id).await?.view())
}

/// The enabled providers, for the sign-in page (no sign-in needed).
pub(crate) async fn sign_in_options(db: &PgPool) -> ApiResult<Vec<SignInOption>> {
    Ok(
        sqlx::query_as("SELECT id, name FROM identity_providers WHERE enabled ORDER BY name")
            .fetch_all(db)
            .await?,
    )
}

/// An enabled provider with its client secret, for signing in.
pub(crate) async fn client(db: &PgPool, secrets: &SecretBox, id: Uuid) -> ApiResult<Client> {
    let row = row(&mut *db.acquire().await?, id).await?;
    if !row.enabled {
        return Err(ApiError::not_found("identity provider", &id.to_string()));
    }
    let client_secret = open(secrets, row.id, row.client_secret.as_deref())?;
    Ok(Client {
        provider: row.view(),
        client_secret,
    })
}

/// The provider an email must sign in through, when its domain is "SSO only".
pub(crate) async fn sso_only_for(db: &PgPool, email: &str) -> ApiResult<Option<String>> {
    let Some((_, domain)) = email.rsplit_once('@') else {
        return Ok(None);
    };
    Ok(sqlx::query_scalar(
        "SELECT name FROM identity_providers
         WHERE enabled AND $1 = ANY (sso_only_domains) ORDER BY name LIMIT 1",
    )
    .bind(domain.to_ascii_lowercase())
    .fetch_optional(db)
    .await?)
}

/// The client secret sealed for the provider `id`, if any.
fn open(secrets: &SecretBox, id: Uuid, sealed: Option<&[u8]>) -> ApiResult<Option<String>> {
    sealed
        .map(|sealed| {
            let plain = secrets
                .open(sealed, id.as_bytes())
                .map_err(ApiError::internal)?;
            String::from_utf8(plain).map_err(ApiError::internal)
        })
        .transpose()
}

fn seal(secrets: &SecretBox, id: Uuid, secret: Option<&str>) -> ApiResult<Option<Vec<u8>>> {
    secret
        .map(|s| {
            secrets
                .seal(s.as_bytes(), id.as_bytes())
                .map_err(ApiError::internal)
        })
        .transpose()
}

async fn store(
    conn: &mut PgConnection,
    secrets: &SecretBox,
    id: Uuid,
    spec: &IdentityProviderSpec,
    insert: bool,
) -> ApiResult<IdentityProvider> {
    check_tenants(&mut *conn, &spec.group_rules).await?;
    let statement = if insert {
        format!(
            "INSERT INTO identity_providers (id, name, issuer, client_id, client_secret, scopes,
                 groups_claim, sso_only_domains, group_rules, enabled)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
        )
    } else {
        format!(
            "UPDATE identity_providers SET name = $2, issuer = $3, client_id = $4,
                 client_secret = $5, scopes = $6, groups_claim = $7, sso_only_domains = $8,
                 group_rules = $9, enabled = $10
             WHERE id = $1 RETURNING {COLUMNS}"
        )
    };
    let row: Row = sqlx::query_as(&statement)
        .bind(id)
        .bind(&spec.name)
        .bind(&spec.issuer)
        .bind(&spec.client_id)
        .bind(seal(secrets, id, spec.client_secret.as_deref())?)
        .bind(&spec.scopes)
        .bind(&spec.groups_claim)
        .bind(&spec.sso_only_domains)
        .bind(sqlx::types::Json(&spec.group_rules))
        .bind(spec.enabled)
        .fetch_one(conn)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("an identity provider named '{}' exists", spec.name)
            })
        })?;
    Ok(row.view())
}

fn change<'a>(action: &'a str, provider: &IdentityProvider) -> audit::Change<'a> {
    audit::Change {
        tenant_id: None,
        action,
        target_type: "identity_provider",
        target_id: provider.id.to_string(),
        details: json!({"name": provider.name, "issuer": provider.issuer,
                        "client_id": provider.client_id, "group_rules": provider.group_rules,
                        "sso_only_domains": provider.sso_only_domains, "enabled": provider.enabled}),
    }
}

pub(crate) async fn create(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    spec: IdentityProviderSpec,
) -> ApiResult<IdentityProvider> {
    principal.require_platform_admin("manage identity providers")?;
    let spec = check(spec)?;
    let mut tx = db.begin().await?;
    let provider = store(&mut tx, secrets, Uuid::now_v7(), &spec, true).await?;
    audit::record(
        &mut tx,
        principal,
        change("identity_provider.create", &provider),
    )
    .await?;
    tx.commit().await?;
    Ok(provider)
}

/// A JSON merge patch of the settings (`"client_secret": null` removes the secret).
pub(crate) async fn update(
    db: &PgPool,
    secrets: &SecretBox,
    principal: &Principal,
    id: Uuid,
    patch: Value,
) -> ApiResult<IdentityProvider> {
    principal.require_platform_admin("manage identity providers")?;
    let mut tx = db.begin().await?;
    let current = row(&mut tx, id).await?;
    let client_secret = open(secrets, id, current.client_secret.as_deref())?;
    let settings = IdentityProviderSpec {
        name: current.name,
        issuer: current.issuer,
        client_id: current.client_id,
        client_secret,
        scopes: current.scopes,
        groups_claim: current.groups_claim,
        sso_only_domains: current.sso_only_domains,
        group_rules: current.group_rules.0,
        enabled: current.enabled,
    };
    let spec = check(merge_patch::patched(
        &settings,
        &patch,
        "identity provider",
    )?)?;
    let provider = store(&mut tx, secrets, id, &spec, false).await?;
    audit::record(
        &mut tx,
        principal,
        change("identity_provider.update", &provider),
    )
    .await?;
    tx.commit().await?;
    Ok(provider)
}

/// Deletes a provider: its users keep their accounts (and sign in with a password if they
/// have one); memberships its rules granted stay until changed.
pub(crate) async fn delete(db: &PgPool, principal: &Principal, id: Uuid) -> ApiResult<()> {
    principal.require_platform_admin("manage identity providers")?;
    let mut tx = db.begin().await?;
    let provider = row(&mut tx, id).await?.view();
    sqlx::query("DELETE FROM identity_providers WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        principal,
        change("identity_provider.delete", &provider),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
