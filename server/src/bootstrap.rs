//! First start: a platform admin and the `default` tenant.

use anyhow::Context;
use rand::distributions::{Alphanumeric, DistString};
use sqlx::PgPool;

use crate::error::ApiError;
use crate::service::{tenants, users};
use crate::{password, validate};

/// An admin created by this start.
#[derive(Debug)]
pub struct CreatedAdmin {
    /// The admin's sign-in email.
    pub email: String,
    /// Set when the password was generated here and must be shown to the operator.
    pub generated_password: Option<String>,
}

/// Creates the platform admin and the `default` tenant when the database has no users yet.
pub(crate) async fn ensure_admin(
    db: &PgPool,
    email: &str,
    password: Option<&str>,
) -> anyhow::Result<Option<CreatedAdmin>> {
    let email = validate::email(email)
        .map_err(describe)
        .context("TOLLGATE_ADMIN_EMAIL")?;
    let mut tx = db.begin().await?;
    // Two servers starting on an empty database must not both bootstrap.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tollgate.bootstrap'))")
        .execute(&mut *tx)
        .await?;
    let has_users: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users)")
        .fetch_one(&mut *tx)
        .await?;
    if has_users {
        return Ok(None);
    }
    // An empty TOLLGATE_ADMIN_PASSWORD (as compose files pass along) means "generate one".
    let (password, generated) = match password.filter(|p| !p.is_empty()) {
        Some(given) => {
            password::validate(given)
                .map_err(describe)
                .context("TOLLGATE_ADMIN_PASSWORD")?;
            (given.to_string(), false)
        }
        None => (
            Alphanumeric.sample_string(&mut rand::thread_rng(), 24),
            true,
        ),
    };
    let hash = password::hash(password.clone()).await.map_err(describe)?;
    let admin_id = users::insert(&mut tx, &email, Some(&hash), true).await?;
    let tenant = tenants::insert(&mut tx, "default", "default")
        .await
        .map_err(describe)?;
    sqlx::query("INSERT INTO memberships (tenant_id, user_id, role) VALUES ($1, $2, 'owner')")
        .bind(tenant.id)
        .bind(admin_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    tracing::info!(%email, "created the platform admin and the 'default' tenant");
    Ok(Some(CreatedAdmin {
        email,
        generated_password: generated.then_some(password),
    }))
}

fn describe(err: ApiError) -> anyhow::Error {
    anyhow::anyhow!(err.to_string())
}
