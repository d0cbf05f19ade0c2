//! Reads of a tenant's rows: every query here is bound to the tenant first, so a caller can
//! only ever see its own tenant's objects.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool};
use uuid::Uuid;

use crate::access::TenantAccess;
use crate::error::{ApiError, ApiResult};

/// The rows `sql` selects, with `$1` bound to the tenant, each read as a row `R` and shown
/// as a `T`.
pub(crate) async fn all<R, T>(db: &PgPool, access: &TenantAccess, sql: &str) -> ApiResult<Vec<T>>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    T: From<R>,
{
    let rows: Vec<R> = sqlx::query_as(sql)
        .bind(access.tenant.id)
        .fetch_all(db)
        .await?;
    Ok(rows.into_iter().map(T::from).collect())
}

/// The row `sql` selects with `$1` bound to the tenant and `$2` to `id`; a 404 naming `what`
/// when there is none.
pub(crate) async fn one<R, T>(
    db: &PgPool,
    access: &TenantAccess,
    sql: &str,
    id: Uuid,
    what: &str,
) -> ApiResult<T>
where
    R: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    T: From<R>,
{
    let row: Option<R> = sqlx::query_as(sql)
        .bind(access.tenant.id)
        .bind(id)
        .fetch_optional(db)
        .await?;
    row.map(T::from)
        .ok_or_else(|| ApiError::not_found(what, &id.to_string()))
}
