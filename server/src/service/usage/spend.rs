//! What each budgeted key (each caller of a JWT issuer with a budget, each subscription whose
//! plan has a budget) has spent in its current period, for the proxies.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiResult;

/// The spend of every key with a budget, in its current period (UTC days and months).
pub(crate) async fn spend(db: &PgPool) -> ApiResult<tollgate_protocol::SpendReport> {
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT k.id, coalesce(sum(h.cost_nanousd), 0)::bigint
         FROM api_keys k
         LEFT JOIN usage_hourly h ON h.key_id = k.id AND h.hour >= CASE k.budget_period
             WHEN 'day' THEN date_trunc('day', now(), 'UTC')
             WHEN 'month' THEN date_trunc('month', now(), 'UTC')
             ELSE '-infinity'::timestamptz END
         WHERE k.budget_nanousd IS NOT NULL AND k.revoked_at IS NULL
         GROUP BY k.id
         UNION ALL
         SELECT c.id, coalesce(sum(h.cost_nanousd), 0)::bigint
         FROM consumers c
         JOIN jwt_issuers i ON i.id = c.issuer_id AND jsonb_typeof(i.spec->'budget') = 'object'
         LEFT JOIN usage_hourly h ON h.key_id = c.id AND h.hour >= CASE i.spec->'budget'->>'period'
             WHEN 'day' THEN date_trunc('day', now(), 'UTC')
             WHEN 'month' THEN date_trunc('month', now(), 'UTC')
             ELSE '-infinity'::timestamptz END
         GROUP BY c.id
         UNION ALL
         SELECT s.id, coalesce(sum(h.cost_nanousd), 0)::bigint
         FROM subscriptions s
         JOIN api_products p ON p.id = s.product_id
         CROSS JOIN LATERAL (SELECT e AS plan FROM jsonb_array_elements(p.plans) e
                             WHERE e->>'name' = s.plan LIMIT 1) chosen
         LEFT JOIN usage_hourly h ON h.subscription_id = s.id
             AND h.hour >= CASE chosen.plan->'budget'->>'period'
                 WHEN 'day' THEN date_trunc('day', now(), 'UTC')
                 WHEN 'month' THEN date_trunc('month', now(), 'UTC')
                 ELSE '-infinity'::timestamptz END
         WHERE s.status = 'approved' AND jsonb_typeof(chosen.plan->'budget') = 'object'
         GROUP BY s.id",
    )
    .fetch_all(db)
    .await?;
    Ok(tollgate_protocol::SpendReport {
        keys: rows
            .into_iter()
            .map(|(key_id, spent_nanousd)| tollgate_protocol::KeySpend {
                key_id,
                spent_nanousd,
            })
            .collect(),
    })
}
