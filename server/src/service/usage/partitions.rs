//! Daily partitions of the usage log: created ahead, dropped past the retention.

use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

use crate::error::ApiResult;

/// Creates the daily partitions from yesterday to a week ahead, and drops those older than
/// the retention. Safe to run from several servers at once.
pub(crate) async fn maintain_partitions(db: &PgPool, retention_days: u32) -> ApiResult<()> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('tollgate.usage_partitions'))")
        .execute(&mut *tx)
        .await?;
    let today = OffsetDateTime::now_utc().date();
    for offset in -1..=7 {
        let day = today + Duration::days(offset);
        let next = day + Duration::days(1);
        let name = format!("usage_events_{}", day_suffix(day));
        // A failure (rows for that day already in the default partition) must not stop start-up.
        sqlx::query("SAVEPOINT partition").execute(&mut *tx).await?;
        let created = sqlx::query(&format!(
            "CREATE TABLE IF NOT EXISTS {name} PARTITION OF usage_events FOR VALUES FROM ('{day}') TO ('{next}')"
        ))
        .execute(&mut *tx)
        .await;
        if let Err(err) = created {
            tracing::warn!(partition = %name, error = %err, "could not create a usage partition");
            sqlx::query("ROLLBACK TO SAVEPOINT partition")
                .execute(&mut *tx)
                .await?;
        }
    }
    let cutoff = today - Duration::days(i64::from(retention_days));
    let partitions: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = 'usage_events'::regclass AND c.relname::text ~ '^usage_events_[0-9]{8}$'",
    )
    .fetch_all(&mut *tx)
    .await?;
    for partition in partitions {
        if partition.trim_start_matches("usage_events_") < day_suffix(cutoff).as_str() {
            sqlx::query(&format!("DROP TABLE {partition}"))
                .execute(&mut *tx)
                .await?;
            tracing::info!(%partition, "dropped usage older than the retention");
        }
    }
    sqlx::query("DELETE FROM usage_hourly WHERE hour < $1")
        .bind(cutoff.midnight().assume_utc())
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM usage_events_default WHERE time < $1")
        .bind(cutoff.midnight().assume_utc())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

fn day_suffix(day: time::Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}
