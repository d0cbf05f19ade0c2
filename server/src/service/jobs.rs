//! Jobs that run once across server replicas: a replica claims a job's run for the current
//! period in one statement, which succeeds for exactly one of them.

use std::time::Duration;

use sqlx::PgPool;

use crate::error::ApiResult;

/// Claims `job` for `holder` when it last ran at least `every` ago (or never): true for the one
/// replica that gets it.
pub(crate) async fn claim(
    db: &PgPool,
    job: &str,
    every: Duration,
    holder: &str,
) -> ApiResult<bool> {
    let claimed: Option<String> = sqlx::query_scalar(
        "INSERT INTO job_runs (name, ran_at, ran_by) VALUES ($1, now(), $2)
         ON CONFLICT (name) DO UPDATE SET ran_at = now(), ran_by = $2, runs = job_runs.runs + 1
         WHERE job_runs.ran_at <= now() - make_interval(secs => $3)
         RETURNING name",
    )
    .bind(job)
    .bind(holder)
    .bind(every.as_secs_f64())
    .fetch_optional(db)
    .await?;
    Ok(claimed.is_some())
}
