//! Budgets held across every proxy (with a Redis URL): before an AI call, the proxy reserves the
//! call's worst-case cost against the key's budget in Redis, in one atomic step; when the call
//! ends (a stream when it ends) it settles to the exact metered cost, giving back the rest. So
//! however many proxies serve a key at once, what they admit fits in the budget as long as each
//! call costs at most its reservation.
//!
//! Per key and budget period Redis holds three values: `spent` (settled costs), `held` (the sum
//! of open reservations) and `holds` (each reservation, by when it lapses, so the reservations of
//! a proxy that died are given back after `HOLD_FOR_MS`). PostgreSQL stays the source of truth:
//! when `spent` is missing (a new period, a flushed or restarted Redis) the first reservation
//! seeds it with the spend this proxy knows from the server's reports plus its own calls since.
//!
//! While Redis cannot be reached, `fail_open` (the default) admits by each proxy's own view of
//! the spend (the mechanism without Redis), and `fail_closed` refuses calls of budgeted keys.
//! Settlements that could not be sent are kept and sent when Redis answers again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::watch;
use tollgate_protocol::KeyBudget;
use uuid::Uuid;

use crate::budget::period_start;
use crate::error::ProxyError;
use crate::redis_call::{answer_in_time, CALL_TIMEOUT};
use crate::shared_limits::SharedLimits;

/// What budgets do while Redis cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BudgetFailure {
    /// Admit by this proxy's own view of the spend (the server's reports and its own calls).
    #[value(name = "fail_open")]
    FailOpen,
    /// Refuse calls of keys with a budget (503) until Redis answers.
    #[value(name = "fail_closed")]
    FailClosed,
}

/// How long a reservation holds budget if its call never settles (its proxy died).
const HOLD_FOR_MS: u64 = 15 * 60 * 1000;
/// How long Redis keeps a period's figures after their last use: longer than a month, so a
/// monthly budget never loses its spend while in use.
const KEEP_SECS: u64 = 35 * 24 * 3600;
/// How often settlements Redis missed are tried again.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// Reserves a call's cost if it fits. KEYS: spent, held, holds. ARGV: budget, cost, hold
/// (member `id:cost`), now (ms), hold until (ms), seed, seconds to keep. Returns admitted
/// (0/1), spent, held (before this reservation).
const RESERVE_SCRIPT: &str = r"
local spent = redis.call('GET', KEYS[1])
if spent then
  spent = tonumber(spent)
else
  spent = tonumber(ARGV[6])
  redis.call('SET', KEYS[1], ARGV[6])
end
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
if #lapsed > 0 then
  local freed = 0
  for _, hold in ipairs(lapsed) do
    freed = freed + tonumber(string.match(hold, ':(%d+)$'))
  end
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', ARGV[4])
  redis.call('DECRBY', KEYS[2], freed)
end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if held < 0 then held = 0 end
local cost = tonumber(ARGV[2])
if spent + held + cost > tonumber(ARGV[1]) then
  return {0, spent, held}
end
redis.call('SET', KEYS[2], held + cost)
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
for i = 1, 3 do redis.call('EXPIRE', KEYS[i], ARGV[7]) end
return {1, spent, held}
";

/// Settles a call. KEYS: spent, held, holds. ARGV: hold (member), its cost, the call's cost.
/// Only a hold still held is settled, so a settlement sent twice (its first answer lost) counts
/// once. A hold that lapsed, or a `spent` that was flushed, leaves the cost to PostgreSQL's
/// figure, which every proxy raises Redis's to.
const SETTLE_SCRIPT: &str = r"
if redis.call('ZREM', KEYS[3], ARGV[1]) == 0 then
  return 0
end
redis.call('DECRBY', KEYS[2], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[1], ARGV[3])
end
return 1
";

/// Raises a period's spend to what PostgreSQL has stored, when Redis has less (calls admitted
/// while Redis was away, or settlements lost with a proxy). KEYS: spent. ARGV: stored spend. A
/// missing figure is left to be seeded. Returns 1 when raised.
const RAISE_SCRIPT: &str = r"
local spent = redis.call('GET', KEYS[1])
if spent and tonumber(spent) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  return 1
end
return 0
";

/// The Redis keys of one key's budget period; one hash tag, so a Redis Cluster keeps them
/// together (a script may only touch keys of one slot).
#[derive(Debug, Clone)]
struct PeriodKeys([String; 3]);

impl PeriodKeys {
    fn new(key: Uuid, since: OffsetDateTime) -> Self {
        let tag = format!("tollgate:budget:{{{key}:{}}}", since.unix_timestamp());
        Self([
            format!("{tag}:spent"),
            format!("{tag}:held"),
            format!("{tag}:holds"),
        ])
    }
}

/// A call's cost held against its key's budget until the call settles.
#[derive(Debug, Clone)]
pub(crate) struct Reservation {
    keys: PeriodKeys,
    hold: String,
    cost: i64,
}

/// A settlement Redis has not taken yet.
struct Settlement {
    reservation: Reservation,
    cost: i64,
}

/// Budgets reserved and settled in Redis, over the connection the shared limits keep.
pub(crate) struct SharedBudgets {
    limits: Arc<SharedLimits>,
    on_failure: BudgetFailure,
    /// Caps the output a call without `max_tokens` is assumed to produce.
    pub(crate) max_output_tokens: u64,
    reserve: redis::Script,
    settle: redis::Script,
    unsettled: Mutex<Vec<Settlement>>,
}

impl SharedBudgets {
    pub(crate) fn new(
        limits: Arc<SharedLimits>,
        on_failure: BudgetFailure,
        max_output_tokens: u64,
    ) -> Self {
        Self {
            limits,
            on_failure,
            max_output_tokens,
            reserve: redis::Script::new(RESERVE_SCRIPT),
            settle: redis::Script::new(SETTLE_SCRIPT),
            unsettled: Mutex::new(Vec::new()),
        }
    }

    /// Holds `cost` (nano-dollars) of the key's budget for a call about to start. `Ok(None)`:
    /// Redis is away and the policy is to admit (the caller has checked the local view).
    /// `seed`: the spend this proxy knows of, should Redis have none.
    pub(crate) async fn reserve(
        self: &Arc<Self>,
        key: Uuid,
        budget: &KeyBudget,
        cost: i64,
        seed: i64,
        now: OffsetDateTime,
    ) -> Result<Option<Reservation>, ProxyError> {
        let Some(mut connection) = self.limits.connection_if_up() else {
            return self.unavailable();
        };
        let cost = cost.max(0);
        let reservation = Reservation {
            keys: PeriodKeys::new(key, period_start(budget.period, now)),
            hold: format!("{}:{cost}", Uuid::now_v7()),
            cost,
        };
        let now_ms = now.unix_timestamp_nanos() / 1_000_000;
        let until_ms = now_ms + i128::from(HOLD_FOR_MS);
        let (this, budget_nanousd) = (self.clone(), budget.nanousd);
        let call = async move {
            let mut call = this.reserve.prepare_invoke();
            for name in &reservation.keys.0 {
                call.key(name);
            }
            call.arg(budget_nanousd)
                .arg(cost)
                .arg(&reservation.hold)
                .arg(now_ms.to_string())
                .arg(until_ms.to_string())
                .arg(seed.max(0))
                .arg(KEEP_SECS);
            let answer = call.invoke_async::<(u8, i64, i64)>(&mut connection).await;
            (reservation, answer)
        };
        // A hold placed after the caller stopped waiting serves no call: it is given back.
        let this = self.clone();
        let late = move |(reservation, answer): (Reservation, redis::RedisResult<_>)| {
            if let Ok((1, _, _)) = answer {
                this.settle(&reservation, 0);
            }
        };
        match answer_in_time(call, late).await {
            Some((reservation, Ok((1, _, _)))) => Ok(Some(reservation)),
            Some((_, Ok((_, spent, held)))) => Err(ProxyError::BudgetWouldExceed {
                budget: *budget,
                worst_case: cost,
                left: budget.nanousd.saturating_sub(spent).saturating_sub(held),
            }),
            failed => {
                if let Some((_, Err(err))) = failed {
                    tracing::debug!(error = %err, "Redis refused a budget reservation");
                }
                self.limits.lost_redis();
                self.unavailable()
            }
        }
    }

    fn unavailable(&self) -> Result<Option<Reservation>, ProxyError> {
        match self.on_failure {
            BudgetFailure::FailOpen => Ok(None),
            BudgetFailure::FailClosed => Err(ProxyError::BudgetUnavailable),
        }
    }

    /// Settles a reservation to what the call cost, without waiting; kept for later if Redis
    /// does not take it now.
    pub(crate) fn settle(self: &Arc<Self>, reservation: &Reservation, cost: i64) {
        let this = self.clone();
        let settlement = Settlement {
            reservation: reservation.clone(),
            cost,
        };
        // Outside a runtime (a body dropped while the proxy shuts down) it waits for the retry.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.keep(settlement);
            return;
        };
        runtime.spawn(async move {
            if let Err(settlement) = this.send(settlement).await {
                this.keep(settlement);
            }
        });
    }

    fn keep(&self, settlement: Settlement) {
        self.unsettled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(settlement);
    }

    /// Sends a settlement; `Err` gives it back to be kept. Nobody waits on it, so it waits for
    /// Redis's answer however long the connection allows: a settlement given up on while Redis
    /// still takes it would be sent again.
    async fn send(&self, settlement: Settlement) -> Result<(), Settlement> {
        let Some(mut connection) = self.limits.connection_if_up() else {
            return Err(settlement);
        };
        let Reservation { keys, hold, cost } = &settlement.reservation;
        let mut call = self.settle.prepare_invoke();
        for name in &keys.0 {
            call.key(name);
        }
        call.arg(hold).arg(*cost).arg(settlement.cost.max(0));
        match call.invoke_async::<i64>(&mut connection).await {
            Ok(_) => Ok(()),
            Err(err) => {
                tracing::debug!(error = %err, "Redis refused a budget settlement");
                self.limits.lost_redis();
                Err(settlement)
            }
        }
    }

    /// Takes the spend PostgreSQL has stored (the server's report, asked for at `asked_at`) as
    /// the floor of each key's figure in Redis: whatever was admitted without Redis, or settled
    /// by a proxy that died, is counted from then on.
    pub(crate) async fn raise_to_stored(
        &self,
        report: &tollgate_protocol::SpendReport,
        budgets: &std::collections::HashMap<Uuid, KeyBudget>,
        asked_at: OffsetDateTime,
    ) {
        let Some(mut connection) = self.limits.connection_if_up() else {
            return;
        };
        let mut pipe = redis::pipe();
        for spend in &report.keys {
            let Some(budget) = budgets.get(&spend.key_id) else {
                continue;
            };
            let keys = PeriodKeys::new(spend.key_id, period_start(budget.period, asked_at));
            // EVAL, not EVALSHA: a pipeline cannot load a script Redis does not have yet.
            pipe.cmd("EVAL")
                .arg(RAISE_SCRIPT)
                .arg(1)
                .arg(&keys.0[0])
                .arg(spend.spent_nanousd)
                .ignore();
        }
        let outcome =
            tokio::time::timeout(CALL_TIMEOUT, pipe.query_async::<()>(&mut connection)).await;
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "raising budgets to the stored spend failed")
            }
            Err(_) => tracing::debug!("raising budgets to the stored spend timed out"),
        }
    }

    /// Sends the settlements Redis missed once it answers again, until `stop` (and once more
    /// then).
    pub(crate) async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(RETRY_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                _ = crate::stop::stopped(&mut stop) => true,
            };
            let waiting =
                std::mem::take(&mut *self.unsettled.lock().unwrap_or_else(|p| p.into_inner()));
            for settlement in waiting {
                if let Err(settlement) = self.send(settlement).await {
                    self.keep(settlement);
                }
            }
            if stopping {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_periods_keys_share_one_hash_tag() {
        let key = Uuid::nil();
        let since = time::macros::datetime!(2026-12-01 0:00 UTC);
        let keys = PeriodKeys::new(key, since);
        let tag = format!("{{{key}:{}}}", since.unix_timestamp());
        assert!(keys.0.iter().all(|name| name.contains(&tag)), "{keys:?}");
        assert_ne!(keys.0[0], keys.0[1]);
    }
}
