//! The built-in catalog of list prices, seeded from `server/data/model-prices.csv`.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use time::Date;

use utoipa::{IntoParams, ToSchema};

use crate::access::Principal;
use crate::error::{ApiError, ApiResult};
use crate::money;

/// The catalog's source: list prices extracted from LiteLLM's price map on this date.
const CATALOG_CSV: &str = include_str!("../../data/model-prices.csv");
const CATALOG_DATE: Date = time::macros::date!(2026 - 11 - 28);

/// What a catalog entry is for: the vendor's model, its kind of API, and its token limits.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub(crate) struct CatalogModel {
    pub(crate) provider: String,
    pub(crate) model: String,
    /// `chat`, `embedding` or `responses`.
    pub(crate) mode: String,
    pub(crate) max_input_tokens: Option<i32>,
    pub(crate) max_output_tokens: Option<i32>,
}

/// A model's list prices, USD per million tokens as decimal strings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct CatalogPrice {
    #[serde(flatten)]
    pub(crate) model: CatalogModel,
    pub(crate) input_per_mtok: String,
    pub(crate) cached_input_per_mtok: Option<String>,
    pub(crate) cache_write_per_mtok: Option<String>,
    pub(crate) output_per_mtok: String,
    /// When the list price was taken (YYYY-MM-DD).
    pub(crate) as_of: String,
    /// Changed by a platform admin since it was seeded.
    pub(crate) edited: bool,
}

/// A catalog row, prices in integer nano-dollars per million tokens.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct CatalogRow {
    #[sqlx(flatten)]
    pub(crate) model: CatalogModel,
    pub(crate) input_nanousd_per_mtok: i64,
    pub(crate) cached_nanousd_per_mtok: Option<i64>,
    pub(crate) cache_write_nanousd_per_mtok: Option<i64>,
    pub(crate) output_nanousd_per_mtok: i64,
    pub(crate) as_of: Date,
    pub(crate) edited: bool,
}

impl From<CatalogRow> for CatalogPrice {
    fn from(row: CatalogRow) -> Self {
        Self {
            input_per_mtok: money::format_usd(row.input_nanousd_per_mtok),
            cached_input_per_mtok: row.cached_nanousd_per_mtok.map(money::format_usd),
            cache_write_per_mtok: row.cache_write_nanousd_per_mtok.map(money::format_usd),
            output_per_mtok: money::format_usd(row.output_nanousd_per_mtok),
            as_of: row.as_of.to_string(),
            model: row.model,
            edited: row.edited,
        }
    }
}

const COLUMNS: &str = "provider, model, mode, input_nanousd_per_mtok, cached_nanousd_per_mtok,
     cache_write_nanousd_per_mtok, output_nanousd_per_mtok, max_input_tokens, max_output_tokens,
     as_of, edited_by IS NOT NULL AS edited";

struct Row {
    provider: String,
    model: String,
    mode: String,
    input: i64,
    cached: Option<i64>,
    cache_write: Option<i64>,
    output: i64,
    max_input: Option<i32>,
    max_output: Option<i32>,
}

fn parse_csv(text: &str) -> Vec<Row> {
    let optional_price = |field: &str| -> Option<i64> {
        (!field.is_empty())
            .then(|| money::parse_usd(field).ok())
            .flatten()
    };
    let mut seen = std::collections::HashSet::new();
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split(',').map(str::trim).collect();
            if f.len() < 9 {
                return None;
            }
            Some(Row {
                provider: f[0].to_string(),
                model: f[1].to_string(),
                mode: f[2].to_string(),
                input: optional_price(f[3]).unwrap_or(0),
                cached: optional_price(f[4]),
                cache_write: optional_price(f[5]),
                output: optional_price(f[6]).unwrap_or(0),
                max_input: f[7].parse().ok(),
                max_output: f[8].parse().ok(),
            })
        })
        // One row per (provider, model): the first wins.
        .filter(|row| seen.insert((row.provider.clone(), row.model.clone())))
        .collect()
}

/// Loads the shipped prices; rows a platform admin edited are left as they are.
pub(crate) async fn seed(db: &PgPool) -> anyhow::Result<usize> {
    let rows = parse_csv(CATALOG_CSV);
    let column = |f: fn(&Row) -> String| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO price_catalog (provider, model, mode, input_nanousd_per_mtok, cached_nanousd_per_mtok,
             cache_write_nanousd_per_mtok, output_nanousd_per_mtok, max_input_tokens, max_output_tokens, as_of)
         SELECT *, $10::date FROM UNNEST($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[],
                                         $6::int8[], $7::int8[], $8::int4[], $9::int4[])
         ON CONFLICT (provider, model) DO UPDATE SET mode = excluded.mode,
             input_nanousd_per_mtok = excluded.input_nanousd_per_mtok,
             cached_nanousd_per_mtok = excluded.cached_nanousd_per_mtok,
             cache_write_nanousd_per_mtok = excluded.cache_write_nanousd_per_mtok,
             output_nanousd_per_mtok = excluded.output_nanousd_per_mtok,
             max_input_tokens = excluded.max_input_tokens, max_output_tokens = excluded.max_output_tokens,
             as_of = excluded.as_of
         WHERE price_catalog.edited_by IS NULL AND price_catalog.as_of <= excluded.as_of",
    )
    .bind(column(|r| r.provider.clone()))
    .bind(column(|r| r.model.clone()))
    .bind(column(|r| r.mode.clone()))
    .bind(rows.iter().map(|r| r.input).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.cached).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.cache_write).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.output).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.max_input).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.max_output).collect::<Vec<_>>())
    .bind(CATALOG_DATE)
    .execute(db)
    .await?;
    Ok(rows.len())
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogQuery {
    /// Only this provider's models (openai, anthropic, gemini, mistral, deepseek, xai, groq).
    pub(crate) provider: Option<String>,
    /// Only models whose name contains this.
    pub(crate) search: Option<String>,
}

pub(crate) async fn list(db: &PgPool, query: &CatalogQuery) -> ApiResult<Vec<CatalogPrice>> {
    let rows: Vec<CatalogRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM price_catalog
         WHERE ($1::text IS NULL OR provider = $1) AND ($2::text IS NULL OR strpos(model, $2) > 0)
         ORDER BY provider, model LIMIT 1000"
    ))
    .bind(&query.provider)
    .bind(&query.search)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().map(CatalogPrice::from).collect())
}

/// The list price of `model`, preferring the given provider family's entry.
pub(crate) async fn lookup(
    db: &PgPool,
    family: Option<&str>,
    model: &str,
) -> ApiResult<Option<CatalogRow>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM price_catalog
         WHERE model = $2 AND ($1::text IS NULL OR provider = $1)
         ORDER BY provider LIMIT 1"
    ))
    .bind(family)
    .bind(model)
    .fetch_optional(db)
    .await?)
}

/// New list prices for a catalog entry.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CatalogUpdate {
    pub(crate) input_per_mtok: String,
    pub(crate) cached_input_per_mtok: Option<String>,
    pub(crate) output_per_mtok: String,
}

/// Edits (or adds) a catalog entry (platform admins); later seeds leave it alone.
pub(crate) async fn update(
    db: &PgPool,
    principal: &Principal,
    provider: &str,
    model: &str,
    input: CatalogUpdate,
) -> ApiResult<CatalogPrice> {
    if !principal.platform_admin {
        return Err(ApiError::Forbidden(
            "only platform admins may edit the price catalog; tenants set prices on their models"
                .into(),
        ));
    }
    let provider = crate::validate::name("provider", provider)?;
    let model = crate::validate::name("model", model)?;
    let row: CatalogRow = sqlx::query_as(&format!(
        "INSERT INTO price_catalog (provider, model, mode, input_nanousd_per_mtok, cached_nanousd_per_mtok,
             output_nanousd_per_mtok, as_of, edited_by)
         VALUES ($1, $2, 'chat', $3, $4, $5, current_date, $6)
         ON CONFLICT (provider, model) DO UPDATE SET input_nanousd_per_mtok = excluded.input_nanousd_per_mtok,
             cached_nanousd_per_mtok = excluded.cached_nanousd_per_mtok,
             output_nanousd_per_mtok = excluded.output_nanousd_per_mtok, as_of = current_date,
             edited_by = excluded.edited_by, updated_at = now()
         RETURNING {}",
        COLUMNS
    ))
    .bind(&provider)
    .bind(&model)
    .bind(money::parse_usd(&input.input_per_mtok)?)
    .bind(input.cached_input_per_mtok.as_deref().map(money::parse_usd).transpose()?)
    .bind(money::parse_usd(&input.output_per_mtok)?)
    .bind(principal.user_id)
    .fetch_one(db)
    .await?;
    Ok(row.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalog_parses_with_exact_prices() {
        let rows = parse_csv(CATALOG_CSV);
        assert!(rows.len() > 300, "{}", rows.len());
        let mini = rows
            .iter()
            .find(|r| r.provider == "openai" && r.model == "gpt-4o-mini");
        let mini = mini.unwrap_or_else(|| panic!("gpt-4o-mini is in the catalog"));
        assert_eq!(mini.input, 150_000_000);
        assert_eq!(mini.cached, Some(75_000_000));
        assert_eq!(mini.output, 600_000_000);
    }
}
