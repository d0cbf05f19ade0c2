//! Slows down repeated failed sign-ins, per (account, client address), with counters in
//! PostgreSQL so every server process sees the same ones.
//!
//! The delay grows with each failure of the same email from the same address, so guessing a
//! password from one place gets slower and slower; an address that fails against many accounts
//! (credential stuffing) is slowed as a whole. A correct password from an address that has not
//! been failing is never refused: nobody can lock another person, or the platform admin, out.

use std::net::IpAddr;
use std::time::Duration;

use sqlx::PgPool;

use crate::error::ApiResult;

/// Failures remembered for this long after the last one.
const WINDOW_SECS: i64 = 15 * 60;
/// Failures of one email from one address answered without delay.
const FREE_FAILURES: i32 = 3;
/// Failures from one address, across emails, before the address as a whole is slowed.
const FREE_ADDRESS_FAILURES: i64 = 50;
/// The longest wait imposed.
const MAX_WAIT_SECS: i64 = 15 * 60;

/// What to do with a sign-in before its password is checked.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Go ahead.
    Allow,
    /// Refuse: wait this long first.
    Wait(Duration),
}

/// The wait after `failures` failures when `free` are let through: 1 s, 2 s, 4 s, … capped.
fn backoff_secs(failures: i64, free: i64) -> i64 {
    let over = failures - free;
    if over < 0 {
        return 0;
    }
    1i64.checked_shl(u32::try_from(over.min(20)).unwrap_or(20))
        .unwrap_or(MAX_WAIT_SECS)
        .min(MAX_WAIT_SECS)
}

fn address_key(address: Option<IpAddr>) -> String {
    address.map(|a| a.to_string()).unwrap_or_default()
}

/// Whether this email may try a password from this address now.
pub(crate) async fn check(db: &PgPool, email: &str, address: Option<IpAddr>) -> ApiResult<Verdict> {
    let address = address_key(address);
    let pair: Option<(i32, f64)> = sqlx::query_as(
        "SELECT failures, extract(epoch FROM now() - last_at)::float8 FROM login_failures
         WHERE email = $1 AND address = $2 AND last_at > now() - make_interval(secs => $3)",
    )
    .bind(email)
    .bind(&address)
    .bind(WINDOW_SECS as f64)
    .fetch_optional(db)
    .await?;
    let whole: (Option<i64>, Option<f64>) = sqlx::query_as(
        "SELECT sum(failures)::int8, extract(epoch FROM now() - max(last_at))::float8
         FROM login_failures WHERE address = $1 AND last_at > now() - make_interval(secs => $2)",
    )
    .bind(&address)
    .bind(WINDOW_SECS as f64)
    .fetch_one(db)
    .await?;
    let remaining = |wait: i64, since: f64| (wait as f64 - since).max(0.0);
    let pair_wait = pair.map_or(0.0, |(failures, since)| {
        remaining(
            backoff_secs(i64::from(failures), i64::from(FREE_FAILURES)),
            since,
        )
    });
    let address_wait = match whole {
        (Some(failures), Some(since)) if !address.is_empty() => {
            remaining(backoff_secs(failures, FREE_ADDRESS_FAILURES), since)
        }
        _ => 0.0,
    };
    let wait = pair_wait.max(address_wait);
    Ok(if wait > 0.0 {
        Verdict::Wait(Duration::from_secs_f64(wait))
    } else {
        Verdict::Allow
    })
}

/// Records a failed sign-in.
pub(crate) async fn failed(db: &PgPool, email: &str, address: Option<IpAddr>) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO login_failures (email, address, failures, last_at) VALUES ($1, $2, 1, now())
         ON CONFLICT (email, address) DO UPDATE SET
             failures = CASE WHEN login_failures.last_at > now() - make_interval(secs => $3)
                             THEN login_failures.failures + 1 ELSE 1 END,
             last_at = now()",
    )
    .bind(email)
    .bind(address_key(address))
    .bind(WINDOW_SECS as f64)
    .execute(db)
    .await?;
    if fastrand_sweep() {
        sqlx::query("DELETE FROM login_failures WHERE last_at < now() - interval '1 day'")
            .execute(db)
            .await?;
    }
    Ok(())
}

/// Forgets this email's failures from this address after a successful sign-in.
pub(crate) async fn succeeded(db: &PgPool, email: &str, address: Option<IpAddr>) -> ApiResult<()> {
    sqlx::query("DELETE FROM login_failures WHERE email = $1 AND address = $2")
        .bind(email)
        .bind(address_key(address))
        .execute(db)
        .await?;
    Ok(())
}

/// Old rows are swept now and then, not on every failure.
fn fastrand_sweep() -> bool {
    use rand::Rng;
    rand::thread_rng().gen_ratio(1, 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_after_the_free_failures_and_are_capped() {
        assert_eq!(backoff_secs(2, 3), 0);
        assert_eq!(backoff_secs(3, 3), 1);
        assert_eq!(backoff_secs(4, 3), 2);
        assert_eq!(backoff_secs(8, 3), 32);
        assert_eq!(backoff_secs(1000, 3), MAX_WAIT_SECS);
    }
}
