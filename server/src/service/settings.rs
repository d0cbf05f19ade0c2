//! Platform settings that platform admins set for every tenant: the egress policy (where
//! tenant-configured upstreams and providers may connect) and tenant quotas (how many objects
//! of each kind a tenant may have, and how large each may be).

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use tollgate_protocol::egress::{parse_cidr, Egress};
use tollgate_protocol::EgressPolicy;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use crate::service::{audit, config_version};

const EGRESS: &str = "egress";
const QUOTAS: &str = "quotas";
const MAX_CIDRS: usize = 200;

/// The egress policy as the API shows and takes it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EgressSettings {
    /// CIDRs or addresses always allowed, even loopback (e.g. `127.0.0.1/32` for an upstream on
    /// the proxy's machine). Allow wins over everything else.
    #[serde(default)]
    pub(crate) allow: Vec<String>,
    /// CIDRs always refused (unless allowed).
    #[serde(default)]
    pub(crate) deny: Vec<String>,
    /// Private ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) may be reached
    /// (default true: upstreams usually live there).
    #[serde(default = "yes")]
    pub(crate) allow_private: bool,
}

fn yes() -> bool {
    true
}

impl From<EgressSettings> for EgressPolicy {
    fn from(s: EgressSettings) -> Self {
        Self {
            allow: s.allow,
            deny: s.deny,
            allow_private: s.allow_private,
        }
    }
}

impl From<EgressPolicy> for EgressSettings {
    fn from(p: EgressPolicy) -> Self {
        Self {
            allow: p.allow,
            deny: p.deny,
            allow_private: p.allow_private,
        }
    }
}

/// How much each tenant may hold. Objects are measured as their stored JSON.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Quotas {
    pub(crate) max_routes: u32,
    pub(crate) max_services: u32,
    pub(crate) max_keys: u32,
    pub(crate) max_providers: u32,
    pub(crate) max_models: u32,
    pub(crate) max_prompt_apis: u32,
    /// Largest single object (a route, a model, one prompt API version), in bytes.
    pub(crate) max_object_bytes: u32,
    /// Most bytes of configuration (routes, providers, models, active prompt API versions) the
    /// tenant adds to the snapshot every proxy loads.
    pub(crate) max_tenant_bytes: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            max_routes: 1000,
            max_services: 1000,
            max_keys: 10_000,
            max_providers: 100,
            max_models: 1000,
            max_prompt_apis: 1000,
            max_object_bytes: 64 * 1024,
            max_tenant_bytes: 4 * 1024 * 1024,
        }
    }
}

/// The kinds of objects quotas count.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Kind {
    Routes,
    Services,
    Keys,
    Providers,
    Models,
    PromptApis,
}

impl Kind {
    /// Counts the tenant's objects of this kind (revoked keys, kept for the audit trail, do not
    /// count).
    fn count_query(self) -> &'static str {
        match self {
            Self::Routes => "SELECT count(*) FROM routes WHERE tenant_id = $1",
            Self::Services => "SELECT count(*) FROM services WHERE tenant_id = $1",
            Self::Keys => {
                "SELECT count(*) FROM api_keys WHERE tenant_id = $1 AND revoked_at IS NULL"
            }
            Self::Providers => "SELECT count(*) FROM providers WHERE tenant_id = $1",
            Self::Models => "SELECT count(*) FROM models WHERE tenant_id = $1",
            Self::PromptApis => "SELECT count(*) FROM prompt_apis WHERE tenant_id = $1",
        }
    }

    fn limit(self, quotas: &Quotas) -> u32 {
        match self {
            Self::Routes => quotas.max_routes,
            Self::Services => quotas.max_services,
            Self::Keys => quotas.max_keys,
            Self::Providers => quotas.max_providers,
            Self::Models => quotas.max_models,
            Self::PromptApis => quotas.max_prompt_apis,
        }
    }

    fn noun(self) -> &'static str {
        match self {
            Self::Routes => "routes",
            Self::Services => "services",
            Self::Keys => "API keys",
            Self::Providers => "providers",
            Self::Models => "models",
            Self::PromptApis => "prompt APIs",
        }
    }
}

async fn read<T: DeserializeOwned + Default>(conn: &mut PgConnection, name: &str) -> ApiResult<T> {
    let value: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT value FROM platform_settings WHERE name = $1")
            .bind(name)
            .fetch_optional(conn)
            .await?;
    Ok(value
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default())
}

/// Stores a setting (`None` removes it, back to its default), audited; platform admins only.
/// `tenant_id` names the tenant a per-tenant setting belongs to.
async fn write(
    db: &PgPool,
    principal: &Principal,
    name: &str,
    tenant_id: Option<Uuid>,
    value: Option<serde_json::Value>,
) -> ApiResult<()> {
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only platform admins change platform settings".into(),
        ));
    }
    let mut tx = db.begin().await?;
    match &value {
        Some(value) => {
            sqlx::query(
                "INSERT INTO platform_settings (name, value) VALUES ($1, $2)
                 ON CONFLICT (name) DO UPDATE SET value = $2, updated_at = now()",
            )
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM platform_settings WHERE name = $1")
                .bind(name)
                .execute(&mut *tx)
                .await?;
        }
    }
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id,
            action: "settings.update",
            target_type: "setting",
            target_id: name.to_string(),
            details: json!({ name: value }),
        },
    )
    .await
}

/// The egress policy in force.
pub(crate) async fn egress(conn: &mut PgConnection) -> ApiResult<EgressPolicy> {
    read(conn, EGRESS).await
}

pub(crate) async fn get_egress(db: &PgPool) -> ApiResult<EgressSettings> {
    let mut conn = db.acquire().await?;
    Ok(egress(&mut conn).await?.into())
}

/// Replaces the egress policy (platform admins); proxies apply it within about a second.
pub(crate) async fn put_egress(
    db: &PgPool,
    principal: &Principal,
    input: EgressSettings,
) -> ApiResult<EgressSettings> {
    let normalise = |field: &str, list: &[String]| -> ApiResult<Vec<String>> {
        if list.len() > MAX_CIDRS {
            return Err(ApiError::Invalid(format!(
                "{field}: at most {MAX_CIDRS} entries"
            )));
        }
        list.iter()
            .map(|text| {
                parse_cidr(text).map(|net| net.to_string()).ok_or_else(|| {
                    ApiError::Invalid(format!(
                        "{field}: '{}' is not an address or CIDR like 10.0.0.0/8",
                        text.chars().take(60).collect::<String>()
                    ))
                })
            })
            .collect()
    };
    let settings = EgressSettings {
        allow: normalise("allow", &input.allow)?,
        deny: normalise("deny", &input.deny)?,
        allow_private: input.allow_private,
    };
    write(db, principal, EGRESS, None, Some(json!(settings))).await?;
    Ok(settings)
}

/// Refuses, when it is saved, a URL whose host is an address (or `localhost`) that the policy
/// refuses. Host names are checked again at connect time, against what they resolve to.
pub(crate) fn check_url_egress(policy: &EgressPolicy, field: &str, text: &str) -> ApiResult<()> {
    let Ok(url) = url::Url::parse(text) else {
        return Ok(());
    };
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => std::net::IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => std::net::IpAddr::V6(ip),
        Some(url::Host::Domain(name))
            if name.eq_ignore_ascii_case("localhost") || name.ends_with(".localhost") =>
        {
            std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
        }
        _ => return Ok(()),
    };
    Egress::new(policy).check(ip).map_err(|why| {
        ApiError::Invalid(format!(
            "{field} '{}' may not be used: {why} (platform setting: PUT /api/v1/settings/egress)",
            text.chars().take(100).collect::<String>()
        ))
    })
}

/// The platform's default tenant quotas.
pub(crate) async fn quotas(conn: &mut PgConnection) -> ApiResult<Quotas> {
    read(conn, QUOTAS).await
}

fn tenant_quotas_name(tenant_id: Uuid) -> String {
    format!("{QUOTAS}:{tenant_id}")
}

/// The quotas one tenant is held to: its own when a platform admin set them, else the defaults.
pub(crate) async fn quotas_of(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<Quotas> {
    let own: Option<serde_json::Value> =
        sqlx::query_scalar("SELECT value FROM platform_settings WHERE name = $1")
            .bind(tenant_quotas_name(tenant_id))
            .fetch_optional(&mut *conn)
            .await?;
    match own.and_then(|v| serde_json::from_value(v).ok()) {
        Some(quotas) => Ok(quotas),
        None => quotas(conn).await,
    }
}

pub(crate) async fn get_tenant_quotas(db: &PgPool, tenant_id: Uuid) -> ApiResult<Quotas> {
    let mut conn = db.acquire().await?;
    quotas_of(&mut conn, tenant_id).await
}

/// Sets one tenant's own quotas (platform admins); `None` returns it to the defaults.
pub(crate) async fn put_tenant_quotas(
    db: &PgPool,
    principal: &Principal,
    tenant_id: Uuid,
    input: Option<Quotas>,
) -> ApiResult<Quotas> {
    if let Some(quotas) = &input {
        check_quotas(quotas)?;
    }
    let name = tenant_quotas_name(tenant_id);
    write(
        db,
        principal,
        &name,
        Some(tenant_id),
        input.map(|q| json!(q)),
    )
    .await?;
    get_tenant_quotas(db, tenant_id).await
}

pub(crate) async fn get_quotas(db: &PgPool) -> ApiResult<Quotas> {
    let mut conn = db.acquire().await?;
    quotas(&mut conn).await
}

pub(crate) async fn put_quotas(
    db: &PgPool,
    principal: &Principal,
    input: Quotas,
) -> ApiResult<Quotas> {
    check_quotas(&input)?;
    write(db, principal, QUOTAS, None, Some(json!(input))).await?;
    Ok(input)
}

fn check_quotas(quotas: &Quotas) -> ApiResult<()> {
    if quotas.max_object_bytes < 1024 {
        return Err(ApiError::Invalid(
            "max_object_bytes must be at least 1024".into(),
        ));
    }
    Ok(())
}

/// Refuses an object that would take the tenant past its quota: one more of `kind` (when
/// `adding`) or an object larger than allowed.
pub(crate) async fn check_quota(
    conn: &mut PgConnection,
    tenant_id: Uuid,
    kind: Kind,
    adding: bool,
    object: &impl Serialize,
) -> ApiResult<()> {
    let quotas = quotas_of(&mut *conn, tenant_id).await?;
    let bytes = serde_json::to_vec(object).map(|v| v.len()).unwrap_or(0);
    if bytes > quotas.max_object_bytes as usize {
        return Err(ApiError::Invalid(format!(
            "this object is {bytes} bytes; the platform allows at most {} bytes per object",
            quotas.max_object_bytes
        )));
    }
    if adding {
        let count: i64 = sqlx::query_scalar(kind.count_query())
            .bind(tenant_id)
            .fetch_one(&mut *conn)
            .await?;
        let limit = kind.limit(&quotas);
        if count >= i64::from(limit) {
            return Err(ApiError::Invalid(format!(
                "this tenant has {count} {}, the most the platform allows ({limit}); delete some \
                 or ask a platform admin to raise the quota",
                kind.noun()
            )));
        }
        let stored = tenant_bytes(conn, tenant_id).await?;
        let total = stored.saturating_add(i64::try_from(bytes).unwrap_or(i64::MAX));
        if total > i64::from(quotas.max_tenant_bytes) {
            return Err(ApiError::Invalid(format!(
                "this tenant's configuration would reach {total} bytes; the platform allows {} \
                 (quota max_tenant_bytes): remove something or ask a platform admin to raise it",
                quotas.max_tenant_bytes
            )));
        }
    }
    Ok(())
}

/// A client for one server-side call to a tenant-configured URL: the host is resolved here,
/// only addresses the egress policy allows are used (pinned, so DNS cannot rebind between check
/// and connect), and redirects are not followed.
pub(crate) async fn egress_client(
    db: &PgPool,
    url: &str,
    timeout: std::time::Duration,
) -> ApiResult<Result<reqwest::Client, String>> {
    let policy = {
        let mut conn = db.acquire().await?;
        egress(&mut conn).await?
    };
    let egress = Egress::new(&policy);
    let builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    let Ok(parsed) = url::Url::parse(url) else {
        return Ok(Err("the URL does not parse".into()));
    };
    let port = parsed.port_or_known_default().unwrap_or(443);
    let builder = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => match egress.check(ip.into()) {
            Ok(()) => builder,
            Err(why) => return Ok(Err(format!("connecting to {ip} is refused: {why}"))),
        },
        Some(url::Host::Ipv6(ip)) => match egress.check(ip.into()) {
            Ok(()) => builder,
            Err(why) => return Ok(Err(format!("connecting to {ip} is refused: {why}"))),
        },
        Some(url::Host::Domain(name)) => {
            let resolved: Vec<std::net::SocketAddr> =
                match tokio::net::lookup_host((name, port)).await {
                    Ok(addrs) => addrs.collect(),
                    Err(_) => return Ok(Err(format!("the host name {name} does not resolve"))),
                };
            let allowed: Vec<std::net::SocketAddr> = resolved
                .iter()
                .copied()
                .filter(|addr| egress.check(addr.ip()).is_ok())
                .collect();
            if allowed.is_empty() {
                let why = resolved
                    .first()
                    .and_then(|addr| egress.check(addr.ip()).err())
                    .map(|why| why.to_string())
                    .unwrap_or_else(|| "it has no address".into());
                return Ok(Err(format!("connecting to {name} is refused: {why}")));
            }
            builder.resolve_to_addrs(name, &allowed)
        }
        None => return Ok(Err("the URL has no host".into())),
    };
    Ok(builder.build().map_err(|e| e.to_string()))
}

/// The bytes of configuration the tenant puts into the snapshot, as JSON text.
async fn tenant_bytes(conn: &mut PgConnection, tenant_id: Uuid) -> ApiResult<i64> {
    Ok(sqlx::query_scalar(
        "SELECT (SELECT coalesce(sum(octet_length(row_to_json(r)::text)), 0) FROM routes r
                 WHERE r.tenant_id = $1)
              + (SELECT coalesce(sum(octet_length(row_to_json(m)::text)), 0) FROM models m
                 WHERE m.tenant_id = $1)
              + (SELECT coalesce(sum(octet_length(p.base_url) + octet_length(p.credentials) + 200), 0)
                 FROM providers p WHERE p.tenant_id = $1)
              + (SELECT coalesce(sum(octet_length(v.spec::text)), 0)
                 FROM prompt_apis a JOIN prompt_api_versions v
                      ON v.prompt_api_id = a.id AND v.version = a.active_version
                 WHERE a.tenant_id = $1)",
    )
    .bind(tenant_id)
    .fetch_one(conn)
    .await?)
}
