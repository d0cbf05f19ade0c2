//! Per-key spending budgets. The server reports each key's spend from all proxies' stored usage;
//! this proxy adds its own calls the server has not counted yet. A call is refused once the
//! sum reaches the budget, so the overrun is at most the calls already in flight.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use dashmap::DashMap;
use rustc_hash::FxBuildHasher;
use time::{OffsetDateTime, Time};
use tollgate_protocol::{BudgetPeriod, KeyBudget, SpendReport};
use uuid::Uuid;

/// A call this proxy made, until the server's report includes it.
struct Charge {
    cost: i64,
    time: OffsetDateTime,
    /// When the shipper delivered its usage event to the server.
    delivered: Option<Instant>,
}

#[derive(Default)]
struct Ledger {
    /// The spend the server last reported for its period then.
    reported: i64,
    /// When that report was asked for: a report from before the current period began counts
    /// for nothing in it.
    reported_at: Option<OffsetDateTime>,
    /// This proxy's calls, by usage event id.
    pending: HashMap<Uuid, Charge>,
    /// Their sum, and the time of the oldest: a busy key holds thousands of charges between two
    /// reports, too many to add up on every call.
    pending_total: i64,
    oldest: Option<OffsetDateTime>,
}

impl Ledger {
    /// Recounts the running sum after charges were dropped.
    fn recount(&mut self) {
        self.pending_total = self.pending.values().map(|c| c.cost).sum();
        self.oldest = self.pending.values().map(|c| c.time).min();
    }
}

/// Spend so far of every key with a budget.
#[derive(Default)]
pub(crate) struct Budgets {
    /// FxHash, not SipHash, on every AI request: the keys are ids the server made.
    ledgers: DashMap<Uuid, Mutex<Ledger>, FxBuildHasher>,
    /// Spend reports taken from the server so far.
    reports: std::sync::atomic::AtomicU64,
}

/// When the current budget period began.
pub(crate) fn period_start(period: BudgetPeriod, now: OffsetDateTime) -> OffsetDateTime {
    let now = now.to_offset(time::UtcOffset::UTC);
    match period {
        BudgetPeriod::Day => now.replace_time(Time::MIDNIGHT),
        BudgetPeriod::Month => now
            .replace_day(1)
            .map(|d| d.replace_time(Time::MIDNIGHT))
            .unwrap_or(now),
        BudgetPeriod::Total => OffsetDateTime::UNIX_EPOCH,
    }
}

impl Budgets {
    /// The key's spend in its current period, in nano-dollars.
    pub(crate) fn spent(&self, key: Uuid, budget: &KeyBudget, now: OffsetDateTime) -> i64 {
        let since = period_start(budget.period, now);
        let ledger = self.ledgers.entry(key).or_default();
        let ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
        let pending: i64 = if ledger.oldest.is_none_or(|oldest| oldest >= since) {
            ledger.pending_total
        } else {
            // Some charges belong to the period before: only at a period's start.
            ledger
                .pending
                .values()
                .filter(|charge| charge.time >= since)
                .map(|charge| charge.cost)
                .sum()
        };
        let reported = if ledger.reported_at.is_some_and(|at| at >= since) {
            ledger.reported
        } else {
            0
        };
        reported.saturating_add(pending)
    }

    /// Whether the key may make another paid call.
    pub(crate) fn allows(&self, key: Uuid, budget: &KeyBudget, now: OffsetDateTime) -> bool {
        self.spent(key, budget, now) < budget.nanousd
    }

    /// Records what a call of a budgeted key cost.
    pub(crate) fn charge(&self, key: Uuid, event: Uuid, cost: i64, time: OffsetDateTime) {
        if cost <= 0 {
            return;
        }
        if let Some(ledger) = self.ledgers.get(&key) {
            let mut ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
            let replaced = ledger.pending.insert(
                event,
                Charge {
                    cost,
                    time,
                    delivered: None,
                },
            );
            ledger.pending_total += cost - replaced.map_or(0, |c| c.cost);
            ledger.oldest = Some(ledger.oldest.map_or(time, |oldest| oldest.min(time)));
        }
    }

    /// Notes that these charged usage events (key, event) reached the server.
    pub(crate) fn delivered(&self, charges: &[(Uuid, Uuid)]) {
        let now = Instant::now();
        for (key, event) in charges {
            if let Some(ledger) = self.ledgers.get(key) {
                let mut ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(charge) = ledger.pending.get_mut(event) {
                    charge.delivered.get_or_insert(now);
                }
            }
        }
    }

    /// Takes the server's figures. Calls delivered before `asked` are in them, so they stop
    /// counting locally; the others still do.
    pub(crate) fn report(&self, report: &SpendReport, asked: Instant, asked_at: OffsetDateTime) {
        for spend in &report.keys {
            let ledger = self.ledgers.entry(spend.key_id).or_default();
            let mut ledger = ledger.lock().unwrap_or_else(|p| p.into_inner());
            ledger.reported = spend.spent_nanousd;
            ledger.reported_at = Some(asked_at);
            ledger
                .pending
                .retain(|_, charge| charge.delivered.is_none_or(|at| at >= asked));
            ledger.recount();
        }
        self.reports
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// How many spend reports from the server have been taken.
    pub(crate) fn reports(&self) -> u64 {
        self.reports.load(std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(nanousd: i64) -> KeyBudget {
        KeyBudget {
            nanousd,
            period: BudgetPeriod::Month,
        }
    }

    #[test]
    fn local_calls_count_until_the_server_has_counted_them() {
        let budgets = Budgets::default();
        let key = Uuid::nil();
        let now = OffsetDateTime::now_utc();
        assert!(budgets.allows(key, &budget(100), now));
        let event = Uuid::now_v7();
        budgets.charge(key, event, 60, now);
        assert_eq!(budgets.spent(key, &budget(100), now), 60);
        budgets.charge(key, Uuid::now_v7(), 60, now);
        assert!(!budgets.allows(key, &budget(100), now));

        // The server counted the first call (delivered before it was asked); the second is
        // still only known here.
        budgets.delivered(&[(key, event)]);
        let report = SpendReport {
            keys: vec![tollgate_protocol::KeySpend {
                key_id: key,
                spent_nanousd: 60,
            }],
        };
        budgets.report(&report, Instant::now(), now);
        assert_eq!(budgets.spent(key, &budget(100), now), 120);

        // On the first of next month, last month's report counts for nothing.
        let next_month = period_start(BudgetPeriod::Month, now) + time::Duration::days(32);
        assert_eq!(budgets.spent(key, &budget(100), next_month), 0);
    }

    #[test]
    fn periods_start_at_utc_midnight_and_the_first_of_the_month() {
        let now = time::macros::datetime!(2026-11-28 15:30 UTC);
        assert_eq!(
            period_start(BudgetPeriod::Day, now),
            time::macros::datetime!(2026-11-28 0:00 UTC)
        );
        assert_eq!(
            period_start(BudgetPeriod::Month, now),
            time::macros::datetime!(2026-11-01 0:00 UTC)
        );
    }
}
