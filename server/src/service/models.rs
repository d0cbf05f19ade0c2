//! The model names clients call, each mapped to provider deployments, with the prices that the
//! cost of every call is computed from.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Principal;
use crate::access::TenantAccess;
use crate::error::{conflict_on_unique, ApiError, ApiResult};
use crate::money;
use crate::roles::{Require, Role};
use crate::service::removal::{self, Removable};
use crate::service::{audit, config_version, price_catalog, providers};

const MAX_DEPLOYMENTS: usize = 20;

/// Where a model's calls go. Deployments of the best (lowest) priority share the traffic by
/// weight; higher priorities are fallbacks.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeploymentSpec {
    /// The provider's name (or id) in this tenant.
    pub(crate) provider: String,
    /// The model name the provider knows.
    pub(crate) model: String,
    #[serde(default = "one")]
    pub(crate) weight: u32,
    #[serde(default)]
    pub(crate) priority: u32,
}

fn one() -> u32 {
    1
}

/// Prices in USD as decimal strings: per million input, cached input and output tokens, and per
/// request where a provider charges so.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Prices {
    #[schema(example = "0.15")]
    pub(crate) input_per_mtok: String,
    /// Defaults to the input price.
    #[schema(example = "0.075")]
    pub(crate) cached_input_per_mtok: Option<String>,
    #[schema(example = "0.60")]
    pub(crate) output_per_mtok: String,
    /// Writing to the provider's prompt cache (Anthropic); defaults to the input price.
    pub(crate) cache_write_per_mtok: Option<String>,
    /// Defaults to 0.
    pub(crate) per_request: Option<String>,
}

/// A model's settings. Without `prices`, the list prices of the price catalog are used.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ModelSpec {
    /// The name clients send, like `gpt-4o-mini` or an alias like `fast`.
    pub(crate) name: String,
    pub(crate) deployments: Vec<DeploymentSpec>,
    pub(crate) prices: Option<Prices>,
}

/// A deployment as shown, with its provider's id and name.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct Deployment {
    pub(crate) provider_id: Uuid,
    pub(crate) provider: String,
    pub(crate) model: String,
    pub(crate) weight: u32,
    pub(crate) priority: u32,
}

/// A model as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Model {
    pub(crate) id: Uuid,
    pub(crate) name: String,
    pub(crate) deployments: Vec<Deployment>,
    pub(crate) prices: Prices,
    /// `provider/model` of the catalog entry the prices came from; absent when set by hand.
    pub(crate) price_source: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// A deployment as stored (the provider by id, so renaming a provider breaks nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct StoredDeployment {
    provider_id: String,
    model: String,
    weight: u32,
    priority: u32,
}

#[derive(sqlx::FromRow)]
struct ModelRow {
    id: Uuid,
    name: String,
    deployments: sqlx::types::Json<Vec<StoredDeployment>>,
    input_nanousd_per_mtok: i64,
    cached_nanousd_per_mtok: i64,
    output_nanousd_per_mtok: i64,
    cache_write_nanousd_per_mtok: i64,
    per_request_nanousd: i64,
    price_source: Option<String>,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

const COLUMNS: &str = "id, name, deployments, input_nanousd_per_mtok, cached_nanousd_per_mtok,
     output_nanousd_per_mtok, cache_write_nanousd_per_mtok, per_request_nanousd, price_source,
     created_at, updated_at";

/// Checked prices in nano-dollars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NanoPrices {
    input: i64,
    cached: i64,
    output: i64,
    cache_write: i64,
    per_request: i64,
}

pub(crate) fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    let ok = !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b));
    if ok {
        Ok(name.to_string())
    } else {
        Err(ApiError::Invalid(format!(
            "model name '{}' must be 1 to 100 letters, digits and - _ . : / @",
            name.chars().take(60).collect::<String>()
        )))
    }
}

async fn resolve_deployments(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    specs: &[DeploymentSpec],
) -> ApiResult<Vec<(StoredDeployment, providers::ProviderKind)>> {
    if specs.is_empty() || specs.len() > MAX_DEPLOYMENTS {
        return Err(ApiError::Invalid(format!(
            "deployments: give 1 to {MAX_DEPLOYMENTS}"
        )));
    }
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let Some((id, _, kind)) = providers::resolve(&mut *conn, access, &spec.provider).await?
        else {
            return Err(ApiError::Invalid(format!(
                "there is no provider '{}' in this tenant; create it first",
                spec.provider.chars().take(60).collect::<String>()
            )));
        };
        let model = spec.model.trim();
        if model.is_empty() || model.len() > 200 || model.chars().any(char::is_control) {
            return Err(ApiError::Invalid(
                "a deployment's model must be 1 to 200 characters".into(),
            ));
        }
        if spec.weight > 10_000 || spec.priority > 100 {
            return Err(ApiError::Invalid(
                "a deployment's weight must be 0 to 10000 and its priority 0 to 100".into(),
            ));
        }
        out.push((
            StoredDeployment {
                provider_id: id.to_string(),
                model: model.to_string(),
                weight: spec.weight,
                priority: spec.priority,
            },
            kind,
        ));
    }
    let best = out.iter().map(|(d, _)| d.priority).min().unwrap_or(0);
    if out
        .iter()
        .filter(|(d, _)| d.priority == best)
        .all(|(d, _)| d.weight == 0)
    {
        return Err(ApiError::Invalid(
            "the first-choice deployments (lowest priority) all have weight 0, so none would get traffic".into(),
        ));
    }
    Ok(out)
}

async fn resolve_prices(
    db: &PgPool,
    prices: Option<&Prices>,
    deployments: &[(StoredDeployment, providers::ProviderKind)],
) -> ApiResult<(NanoPrices, Option<String>)> {
    if let Some(prices) = prices {
        let input = money::parse_usd(&prices.input_per_mtok)?;
        return Ok((
            NanoPrices {
                input,
                cached: prices
                    .cached_input_per_mtok
                    .as_deref()
                    .map(money::parse_usd)
                    .transpose()?
                    .unwrap_or(input),
                output: money::parse_usd(&prices.output_per_mtok)?,
                cache_write: prices
                    .cache_write_per_mtok
                    .as_deref()
                    .map(money::parse_usd)
                    .transpose()?
                    .unwrap_or(input),
                per_request: prices
                    .per_request
                    .as_deref()
                    .map(money::parse_usd)
                    .transpose()?
                    .unwrap_or(0),
            },
            None,
        ));
    }
    for (deployment, kind) in deployments {
        if let Some(entry) =
            price_catalog::lookup(db, kind.catalog_family(), &deployment.model).await?
        {
            return Ok((
                NanoPrices {
                    input: entry.input_nanousd_per_mtok,
                    cached: entry
                        .cached_nanousd_per_mtok
                        .unwrap_or(entry.input_nanousd_per_mtok),
                    output: entry.output_nanousd_per_mtok,
                    cache_write: entry
                        .cache_write_nanousd_per_mtok
                        .unwrap_or(entry.input_nanousd_per_mtok),
                    per_request: 0,
                },
                Some(format!("{}/{}", entry.model.provider, entry.model.model)),
            ));
        }
    }
    Err(ApiError::Invalid(format!(
        "the price catalog has no list price for {}; give 'prices'",
        deployments
            .iter()
            .map(|(d, _)| d.model.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

async fn view(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    row: ModelRow,
) -> ApiResult<Model> {
    let names: Vec<(Uuid, String)> =
        sqlx::query_as("SELECT id, name FROM providers WHERE tenant_id = $1")
            .bind(access.tenant.id)
            .fetch_all(conn)
            .await?;
    let deployments = row
        .deployments
        .0
        .into_iter()
        .map(|d| {
            let provider_id = Uuid::parse_str(&d.provider_id).unwrap_or_default();
            Deployment {
                provider: names
                    .iter()
                    .find(|(id, _)| *id == provider_id)
                    .map(|(_, name)| name.clone())
                    .unwrap_or_default(),
                provider_id,
                model: d.model,
                weight: d.weight,
                priority: d.priority,
            }
        })
        .collect();
    Ok(Model {
        id: row.id,
        name: row.name,
        deployments,
        prices: Prices {
            input_per_mtok: money::format_usd(row.input_nanousd_per_mtok),
            cached_input_per_mtok: Some(money::format_usd(row.cached_nanousd_per_mtok)),
            output_per_mtok: money::format_usd(row.output_nanousd_per_mtok),
            cache_write_per_mtok: Some(money::format_usd(row.cache_write_nanousd_per_mtok)),
            per_request: Some(money::format_usd(row.per_request_nanousd)),
        },
        price_source: row.price_source,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) async fn list(db: &PgPool, access: &TenantAccess) -> ApiResult<Vec<Model>> {
    let rows: Vec<ModelRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(access.tenant.id)
    .fetch_all(db)
    .await?;
    let mut conn = db.acquire().await?;
    let mut models = Vec::with_capacity(rows.len());
    for row in rows {
        models.push(view(&mut conn, access, row).await?);
    }
    Ok(models)
}

pub(crate) async fn get(db: &PgPool, access: &TenantAccess, id: Uuid) -> ApiResult<Model> {
    let row: Option<ModelRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(access.tenant.id)
    .bind(id)
    .fetch_optional(db)
    .await?;
    view(
        &mut *db.acquire().await?,
        access,
        row.ok_or_else(|| ApiError::not_found("model", &id.to_string()))?,
    )
    .await
}

pub(crate) async fn create(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    spec: ModelSpec,
) -> ApiResult<Model> {
    access.role.require(Role::Admin, "manage models")?;
    save(db, principal, access, None, spec).await
}

/// Applies a JSON merge patch to the model's settings; `"prices": null` goes back to the catalog.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
    patch: serde_json::Value,
) -> ApiResult<Model> {
    access.role.require(Role::Admin, "manage models")?;
    let current = get(db, access, id).await?;
    let settings = ModelSpec {
        name: current.name,
        deployments: current
            .deployments
            .iter()
            .map(|d| DeploymentSpec {
                provider: d.provider_id.to_string(),
                model: d.model.clone(),
                weight: d.weight,
                priority: d.priority,
            })
            .collect(),
        prices: current.price_source.is_none().then_some(current.prices),
    };
    let spec = crate::merge_patch::patched(&settings, &patch, "model")?;
    save(db, principal, access, Some(id), spec).await
}

async fn save(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Option<Uuid>,
    spec: ModelSpec,
) -> ApiResult<Model> {
    let mut tx = db.begin().await?;
    let settings = check_in(&mut tx, db, access, &spec).await?;
    let model = store_in(&mut tx, access, id, &settings).await?;
    config_version::commit(
        tx,
        principal,
        audit::Change {
            tenant_id: Some(access.tenant.id),
            action: if id.is_none() { "model.create" } else { "model.update" },
            target_type: "model",
            target_id: model.id.to_string(),
            details: json!({"name": model.name, "deployments": model.deployments, "prices": model.prices,
                            "price_source": model.price_source}),
        },
    )
    .await?;
    Ok(model)
}

/// A model's checked settings as stored: providers by id, prices in nano-dollars.
#[derive(Debug, Clone)]
pub(crate) struct ModelSettings {
    pub(crate) name: String,
    deployments: Vec<StoredDeployment>,
    prices: NanoPrices,
    price_source: Option<String>,
    /// The settings as given (for the tenant's quota on object size).
    spec: Option<ModelSpec>,
}

impl ModelSettings {
    /// Whether two settings store the same model.
    pub(crate) fn same(&self, other: &Self) -> bool {
        self.changes(other).is_empty()
    }

    /// The settings that differ: `name`, `deployments`, `prices`.
    pub(crate) fn changes(&self, other: &Self) -> Vec<String> {
        let mut fields = Vec::new();
        if self.name != other.name {
            fields.push("name".to_string());
        }
        if self.deployments != other.deployments {
            fields.push("deployments".to_string());
        }
        if (self.prices, &self.price_source) != (other.prices, &other.price_source) {
            fields.push("prices".to_string());
        }
        fields
    }
}

/// Checks a model's settings (its providers looked up through `conn`, so the caller's
/// transaction sees providers it made; list prices from `db`).
pub(crate) async fn check_in(
    conn: &mut sqlx::PgConnection,
    db: &PgPool,
    access: &TenantAccess,
    spec: &ModelSpec,
) -> ApiResult<ModelSettings> {
    let name = check_name(&spec.name)?;
    let deployments = resolve_deployments(conn, access, &spec.deployments).await?;
    let (prices, price_source) = resolve_prices(db, spec.prices.as_ref(), &deployments).await?;
    Ok(ModelSettings {
        name,
        deployments: deployments.into_iter().map(|(d, _)| d).collect(),
        prices,
        price_source,
        spec: Some(spec.clone()),
    })
}

/// Every model of the tenant with its settings as stored.
pub(crate) async fn stored_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
) -> ApiResult<Vec<(Uuid, ModelSettings)>> {
    let rows: Vec<ModelRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM models WHERE tenant_id = $1 ORDER BY name"
    ))
    .bind(access.tenant.id)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            (
                row.id,
                ModelSettings {
                    name: row.name,
                    deployments: row.deployments.0,
                    prices: NanoPrices {
                        input: row.input_nanousd_per_mtok,
                        cached: row.cached_nanousd_per_mtok,
                        output: row.output_nanousd_per_mtok,
                        cache_write: row.cache_write_nanousd_per_mtok,
                        per_request: row.per_request_nanousd,
                    },
                    price_source: row.price_source,
                    spec: None,
                },
            )
        })
        .collect())
}

/// Stores checked settings inside the caller's transaction (no audit entry, no version): a new
/// model, or new settings of model `id`. The tenant's quota is checked here.
pub(crate) async fn store_in(
    conn: &mut sqlx::PgConnection,
    access: &TenantAccess,
    id: Option<Uuid>,
    settings: &ModelSettings,
) -> ApiResult<Model> {
    crate::service::settings::check_quota(
        &mut *conn,
        access.tenant.id,
        crate::service::settings::Kind::Models,
        id.is_none(),
        &settings.spec,
    )
    .await?;
    let query = match id {
        None => format!(
            "INSERT INTO models (tenant_id, id, name, deployments, input_nanousd_per_mtok, cached_nanousd_per_mtok,
                 output_nanousd_per_mtok, per_request_nanousd, price_source, cache_write_nanousd_per_mtok)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}"
        ),
        Some(_) => format!(
            "UPDATE models SET name = $3, deployments = $4, input_nanousd_per_mtok = $5,
                 cached_nanousd_per_mtok = $6, output_nanousd_per_mtok = $7, per_request_nanousd = $8,
                 price_source = $9, cache_write_nanousd_per_mtok = $10
             WHERE tenant_id = $1 AND id = $2 RETURNING {COLUMNS}"
        ),
    };
    let name = &settings.name;
    let prices = settings.prices;
    let row: Option<ModelRow> = sqlx::query_as(&query)
        .bind(access.tenant.id)
        .bind(id.unwrap_or_else(Uuid::now_v7))
        .bind(name)
        .bind(sqlx::types::Json(&settings.deployments))
        .bind(prices.input)
        .bind(prices.cached)
        .bind(prices.output)
        .bind(prices.per_request)
        .bind(&settings.price_source)
        .bind(prices.cache_write)
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| {
            conflict_on_unique(e, || {
                format!("a model named '{name}' exists in this tenant; choose another name")
            })
        })?;
    let row =
        row.ok_or_else(|| ApiError::not_found("model", &id.unwrap_or_default().to_string()))?;
    view(conn, access, row).await
}

pub(crate) async fn delete(
    db: &PgPool,
    principal: &Principal,
    access: &TenantAccess,
    id: Uuid,
) -> ApiResult<()> {
    access.role.require(Role::Admin, "manage models")?;
    removal::remove(db, principal, access, Removable::Model, id).await
}
