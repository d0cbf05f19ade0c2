//! Limits counted across every proxy (optional): with a Redis URL, each key's requests and
//! tokens per minute are counted in Redis, so N proxies admit a key's limit between them rather
//! than N times it. Counts live in one-minute windows; a key's use is this window's count plus
//! the previous window's, weighted by how much of it still lies within the last 60 seconds (a
//! sliding window, as Redis-backed limiters commonly do).
//!
//! Two modes for requests, both built on one atomic Redis script that takes a lease: up to a
//! number of requests from what the key has left, counted in Redis at once.
//! - `sync` (the default): a proxy admits from its lease without asking Redis, and takes the
//!   next lease when it runs out, sized to what it admitted over the last sync interval (and to
//!   at most an even share, among the proxies, of what is left). Every `sync_interval` it reads
//!   the totals back, and gives back a lease it did not touch. Leases never add up to more than
//!   the limit, so the proxies never admit more than it together; they may refuse a little
//!   early only while another proxy still holds an unused lease. A key known to be at its limit
//!   is refused without asking Redis.
//! - `strict`: a lease of one per request: exact, at the cost of a round trip each.
//!
//! Tokens are counted the sync way in both modes, by adding what each call used: a call's
//! tokens are known only when it ends, so no call could take them from a lease at admission.
//!
//! While Redis cannot be reached, callers fall back to each proxy's own buckets (logged once,
//! `tollgate_proxy_shared_limits_up` 0) until it answers again; no restart is needed.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use rustc_hash::FxBuildHasher;
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::rate_limit::Decision;
use crate::redis_call::{self, answer_in_time, CALL_TIMEOUT};

/// How a proxy shares its counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LimitMode {
    /// Admit from leases of the key's count taken in Redis; read the totals every interval.
    Sync,
    /// One atomic Redis call per request.
    Strict,
}

/// What is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Requests,
    Tokens,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Requests => "requests",
            Self::Tokens => "tokens",
        }
    }
}

const WINDOW_SECS: i64 = 60;
/// Redis keeps a window's count this long: the window itself and the next, which weighs it.
const KEEP_SECS: i64 = 3 * WINDOW_SECS;
/// The proxies sharing counts, each listed with the time of its last exchange.
const PROXIES_KEY: &str = "tollgate:limit:proxies";

/// Counts not yet added to Redis, by window.
type Pending = Vec<(i64, u64)>;

/// What an exchange sent for one counter: counts added, and leases given back.
type Sent = ((Uuid, Kind), Pending, Pending);

/// One key's count of one kind, as this proxy sees it.
#[derive(Debug, Default)]
struct Counter {
    window: i64,
    /// Shared totals as last read from Redis (this proxy's synced counts and leases included).
    current: u64,
    previous: u64,
    /// Requests: left of this proxy's lease, in this window.
    leased: u64,
    /// Requests admitted here since the last periodic exchange.
    admitted: u64,
    /// Requests: the size of the next lease to ask for.
    next_lease: u64,
    /// Requests: a lease of `next_lease` is being taken. Requests arriving meanwhile take a
    /// lease of one each: were each to ask for `next_lease`, a proxy serving many at once would
    /// take many shares of what is left, and hold them while the others refuse.
    leasing: bool,
    /// Requests: leases to give back (unused when their window ended, or idle for an interval).
    returned: Pending,
    /// Tokens: counted here and not yet added to Redis.
    pending: Pending,
    /// What this proxy added to the current window at its last exchange.
    sent_last: u64,
    /// Sent to Redis for the current window, and not yet in `current` (an exchange is under
    /// way).
    in_flight: u64,
    /// What one call of the key typically adds (tokens: a moving average of finished calls).
    typical: f64,
}

impl Counter {
    /// Moves the view to `window`: the current count becomes the previous one. A moment in an
    /// older window (a request that waited on Redis across the minute) leaves the view as it is.
    fn roll(&mut self, window: i64) {
        if window <= self.window {
            return;
        }
        let previous = if window == self.window + 1 {
            self.current + self.pending_in(self.window) + self.in_flight
        } else {
            0
        };
        self.previous = previous;
        self.current = 0;
        // A lease left over was counted in its window, which weighs on the next: given back.
        if self.leased > 0 {
            self.returned
                .push((self.window, std::mem::take(&mut self.leased)));
        }
        self.sent_last = 0;
        self.in_flight = 0;
        self.window = window;
        // Counts older than the previous window no longer weigh on anything.
        self.pending.retain(|(w, _)| *w >= window - 1);
        self.returned.retain(|(w, _)| *w >= window - 1);
    }

    /// Counted here since the last exchange's totals.
    fn since_exchange(&self) -> u64 {
        self.pending_in(self.window) + self.in_flight
    }

    fn pending_in(&self, window: i64) -> u64 {
        self.pending
            .iter()
            .filter(|(w, _)| *w == window)
            .map(|(_, n)| n)
            .sum()
    }

    fn add(&mut self, amount: u64) {
        self.add_in(self.window, amount);
    }

    fn add_in(&mut self, window: i64, amount: u64) {
        match self.pending.iter_mut().find(|(w, _)| *w == window) {
            Some((_, n)) => *n += amount,
            None => self.pending.push((window, amount)),
        }
    }

    /// Admits a request from this proxy's lease, or refuses one when the key was at its limit at
    /// the last look; `Err` when a lease must be taken first.
    fn admit_leased(&mut self, limit: u32, elapsed: f64) -> Result<Decision, LeaseWanted> {
        if self.leased > 0 {
            self.leased -= 1;
            self.admitted += 1;
            return Ok(self.decide_leased(limit, elapsed, true));
        }
        let used = self.exchanged(elapsed);
        if used + 1.0 > f64::from(limit) {
            return Ok(decide(used, self.previous, limit, elapsed, false));
        }
        if self.leasing {
            return Err(LeaseWanted {
                size: 1,
                grows: false,
            });
        }
        self.leasing = true;
        Err(LeaseWanted {
            size: self.next_lease.max(1),
            grows: true,
        })
    }

    /// Takes a lease Redis granted (in `window`) and admits the request with its first
    /// request, or refuses it when nothing was granted.
    fn take_lease(
        &mut self,
        window: i64,
        lease: Lease,
        wanted: LeaseWanted,
        limit: u32,
        elapsed: f64,
    ) -> Decision {
        if wanted.grows {
            self.leasing = false;
        }
        if self.window == window {
            self.current = lease.current;
            self.previous = lease.previous;
            self.leased += lease.granted.saturating_sub(1);
            if wanted.grows {
                // A busy proxy asks for more each time, up to a sync interval's worth (`sync`).
                self.next_lease = self.next_lease.max(1).saturating_mul(2);
            }
        }
        if lease.granted == 0 {
            return decide(
                self.exchanged(elapsed),
                self.previous,
                limit,
                elapsed,
                false,
            );
        }
        self.admitted += 1;
        self.decide_leased(limit, elapsed, true)
    }

    /// A decision on a request taken from the lease: what this proxy still holds is not used.
    fn decide_leased(&self, limit: u32, elapsed: f64, allowed: bool) -> Decision {
        let used = self.exchanged(elapsed) - (self.leased + 1) as f64;
        decide(used.max(0.0), self.previous, limit, elapsed, allowed)
    }

    /// What this proxy may still admit before its next exchange (sync mode): an even share,
    /// among `proxies`, of what the key had left at the last exchange, so that proxies under
    /// load together stay within the limit between exchanges. The others exchange at other
    /// moments, so what they admitted since their last exchange is not in the totals yet; each
    /// is taken to have admitted what this proxy sent at its own last exchange (load balancers
    /// spread traffic evenly).
    fn share(&self, limit: u32, elapsed: f64, proxies: u64) -> f64 {
        if proxies <= 1 {
            return f64::INFINITY;
        }
        let others_unseen = (proxies - 1) as f64 * self.sent_last as f64;
        ((f64::from(limit) - self.exchanged(elapsed) - others_unseen) / proxies as f64)
            .floor()
            .max(1.0)
    }

    /// The key's use over the last minute as of the last exchange with Redis.
    fn exchanged(&self, elapsed: f64) -> f64 {
        self.previous as f64 * (1.0 - elapsed) + self.current as f64
    }

    /// The key's use over the last minute, as far as this proxy knows.
    fn used(&self, elapsed: f64) -> f64 {
        self.exchanged(elapsed) + self.since_exchange() as f64
    }
}

/// A lease to take before a request is admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct LeaseWanted {
    size: u64,
    /// The proxy's one lease of `next_lease` at a time (the others are of one request).
    grows: bool,
}

/// What a lease script answered: requests granted (0: refused), and the key's counts.
#[derive(Debug, Clone, Copy)]
struct Lease {
    granted: u64,
    current: u64,
    previous: u64,
}

/// Where a moment falls: its window, and how far into it (0 to 1).
fn window_of(time: OffsetDateTime) -> (i64, f64) {
    let nanos = time.unix_timestamp_nanos();
    let window_nanos = i128::from(WINDOW_SECS) * 1_000_000_000;
    let window = i64::try_from(nanos.div_euclid(window_nanos)).unwrap_or(0);
    let into = nanos.rem_euclid(window_nanos) as f64 / window_nanos as f64;
    (window, into)
}

fn redis_key(kind: Kind, key: Uuid, window: i64) -> String {
    // The key in braces: a hash tag, so a Redis Cluster keeps both windows in one slot (a
    // script or MGET may only touch one).
    format!("tollgate:limit:{}:{{{key}}}:{window}", kind.name())
}

/// A request decision from a key's use over the last minute.
fn decide(used: f64, previous: u64, limit: u32, elapsed: f64, allowed: bool) -> Decision {
    let capacity = f64::from(limit);
    let after = used + if allowed { 1.0 } else { 0.0 };
    // Counts are far below 2^52: the conversions are exact.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let remaining = (capacity - after).max(0.0).floor() as u32;
    let to_window_end = (1.0 - elapsed) * WINDOW_SECS as f64;
    let reset = if allowed || previous == 0 {
        to_window_end
    } else {
        // The previous window's weight falls by previous/60 a second.
        let excess = after + 1.0 - capacity;
        (excess * WINDOW_SECS as f64 / previous as f64).min(to_window_end)
    };
    Decision {
        allowed,
        limit,
        remaining,
        reset: Duration::from_secs_f64(reset.max(0.0)),
    }
}

/// Takes a lease of requests from what a key has left, in one step. KEYS: this window, the
/// previous one. ARGV: limit, the previous window's weight, seconds to keep, the lease wanted,
/// the proxies sharing (a lease is at most an even share of what is left, and at least one).
/// Returns the lease granted (0: nothing left), this window's count after it, the previous
/// window's count.
const LEASE_SCRIPT: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
local left = math.floor(tonumber(ARGV[1]) - previous * tonumber(ARGV[2]) - current)
if left < 1 then
  return {0, current, previous}
end
local grant = math.min(tonumber(ARGV[4]), math.max(1, math.floor(left / tonumber(ARGV[5]))))
current = redis.call('INCRBY', KEYS[1], grant)
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {grant, current, previous}
";

/// Gives back an unused lease. KEYS: its window. ARGV: the requests. A count Redis lost (a
/// restart) has nothing to give back to, and none goes below zero.
const RETURN_SCRIPT: &str = r"
local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count > 0 then
  redis.call('DECRBY', KEYS[1], math.min(count, tonumber(ARGV[1])))
end
return 0
";

/// Counts shared through Redis.
pub(crate) struct SharedLimits {
    /// This proxy, in the list of those sharing counts.
    id: Uuid,
    /// How many proxies exchanged counts lately (this one included), from that list.
    proxies: AtomicU64,
    client: redis::Client,
    connection: ArcSwapOption<ConnectionManager>,
    mode: LimitMode,
    interval: Duration,
    counters: DashMap<(Uuid, Kind), Mutex<Counter>, FxBuildHasher>,
    up: AtomicBool,
    script: redis::Script,
    metrics: Arc<Metrics>,
    /// Told when sharing stops or resumes (the heartbeat reports it at once).
    pub(crate) changed: tokio::sync::Notify,
}

impl SharedLimits {
    /// Nothing is contacted yet: `run` connects, and keeps trying while Redis is away.
    pub(crate) fn new(
        url: &str,
        mode: LimitMode,
        interval: Duration,
        id: Uuid,
        metrics: Arc<Metrics>,
    ) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)
            .map_err(|e| anyhow::anyhow!("the Redis URL is not valid ({:?})", e.kind()))?;
        metrics.shared_limits_up.set(0);
        Ok(Self {
            id,
            proxies: AtomicU64::new(1),
            client,
            connection: ArcSwapOption::empty(),
            mode,
            interval,
            counters: DashMap::default(),
            up: AtomicBool::new(false),
            script: redis::Script::new(LEASE_SCRIPT),
            metrics,
            changed: tokio::sync::Notify::new(),
        })
    }

    /// Whether counts are shared right now (false: each proxy counts its own).
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// The Redis connection, while Redis answers.
    pub(crate) fn connection_if_up(&self) -> Option<ConnectionManager> {
        if !self.is_up() {
            return None;
        }
        self.connection.load_full().map(|c| c.as_ref().clone())
    }

    /// Notes that a Redis call failed: counting is local until the next exchange succeeds.
    pub(crate) fn lost_redis(&self) {
        self.set_up(false);
    }

    fn set_up(&self, up: bool) {
        if self.up.swap(up, Ordering::Relaxed) != up {
            self.metrics.shared_limits_up.set(i64::from(up));
            self.changed.notify_one();
            if up {
                tracing::info!("Redis answers: limits are counted across proxies again");
            } else {
                tracing::warn!(
                    "Redis cannot be reached: each proxy counts limits on its own until it answers"
                );
            }
        }
    }

    /// Takes one request from the key's shared count; `None` when counts are not shared right
    /// now (the caller counts locally).
    pub(crate) async fn check_request(
        self: &Arc<Self>,
        key: Uuid,
        limit: u32,
        time: OffsetDateTime,
    ) -> Option<Decision> {
        if !self.is_up() {
            return None;
        }
        let (window, elapsed) = window_of(time);
        match self.mode {
            LimitMode::Sync => {
                let admit = |counter: &mut Counter| counter.admit_leased(limit, elapsed);
                let wanted = match self.with_counter(key, Kind::Requests, window, admit) {
                    Ok(decision) => return Some(decision),
                    Err(wanted) => wanted,
                };
                let proxies = self.proxies.load(Ordering::Relaxed);
                let leased = self
                    .lease(key, window, elapsed, limit, wanted.size, proxies)
                    .await;
                self.with_counter(key, Kind::Requests, window, |counter| {
                    let Some(lease) = leased else {
                        counter.leasing &= !wanted.grows;
                        return None;
                    };
                    Some(counter.take_lease(window, lease, wanted, limit, elapsed))
                })
            }
            LimitMode::Strict => {
                let lease = self.lease(key, window, elapsed, limit, 1, 1).await?;
                let allowed = lease.granted == 1;
                let used = lease.previous as f64 * (1.0 - elapsed) + lease.current as f64
                    - if allowed { 1.0 } else { 0.0 };
                Some(decide(used, lease.previous, limit, elapsed, allowed))
            }
        }
    }

    /// Takes a lease of up to `wanted` requests from the key's count in Redis; `None` when
    /// Redis cannot be reached (counting is local until it answers again). A lease granted after
    /// the caller stopped waiting is given back at the next exchange.
    async fn lease(
        self: &Arc<Self>,
        key: Uuid,
        window: i64,
        elapsed: f64,
        limit: u32,
        wanted: u64,
        proxies: u64,
    ) -> Option<Lease> {
        let mut connection = self.connection_if_up()?;
        let this = self.clone();
        let call = async move {
            let (granted, current, previous) = this
                .script
                .prepare_invoke()
                .key(redis_key(Kind::Requests, key, window))
                .key(redis_key(Kind::Requests, key, window - 1))
                .arg(limit)
                .arg(1.0 - elapsed)
                .arg(KEEP_SECS)
                .arg(wanted)
                .arg(proxies.max(1))
                .invoke_async::<(u64, u64, u64)>(&mut connection)
                .await?;
            Ok(Lease {
                granted,
                current,
                previous,
            })
        };
        let this = self.clone();
        let late = move |answer: redis::RedisResult<Lease>| {
            if let Ok(Lease { granted, .. }) = answer {
                if granted > 0 {
                    this.with_counter(key, Kind::Requests, window, |counter| {
                        counter.returned.push((window, granted));
                    });
                }
            }
        };
        match answer_in_time(call, late).await {
            Some(Ok(lease)) => Some(lease),
            failed => {
                if let Some(Err(err)) = failed {
                    tracing::debug!(error = %err, "Redis refused a limit lease");
                }
                self.set_up(false);
                None
            }
        }
    }

    /// Whether the key may start a call under its shared tokens-per-minute count: `None` when
    /// counts are not shared right now; else Ok, or how long until it may.
    pub(crate) fn check_tokens(
        &self,
        key: Uuid,
        limit: u32,
        time: OffsetDateTime,
    ) -> Option<Result<(), Duration>> {
        if !self.is_up() {
            return None;
        }
        let (window, elapsed) = window_of(time);
        Some(self.with_counter(key, Kind::Tokens, window, |counter| {
            let used = counter.used(elapsed);
            // A call's tokens are known when it ends: it is taken to use what this key's calls
            // used lately.
            let need = counter.typical.max(1.0);
            if used + need > f64::from(limit) {
                let decision = decide(used, counter.previous, limit, elapsed, false);
                return Err(decision.reset.max(Duration::from_secs(1)));
            }
            // As for requests, between exchanges this proxy uses its share of what was left;
            // the first call after an exchange may pass it (so the proxies together pass the
            // limit by at most one call each, and never stall short of it).
            let share = counter.share(limit, elapsed, self.proxies.load(Ordering::Relaxed));
            let since_exchange = counter.since_exchange() as f64;
            if since_exchange > 0.0 && since_exchange + need > share {
                return Err(self.interval.max(Duration::from_secs(1)));
            }
            Ok(())
        }))
    }

    /// Adds a finished call's tokens to the key's shared count (sent with the next sync);
    /// false when counts are not shared right now.
    pub(crate) fn consume_tokens(&self, key: Uuid, tokens: u64, time: OffsetDateTime) -> bool {
        if !self.is_up() {
            return false;
        }
        let (window, _) = window_of(time);
        self.with_counter(key, Kind::Tokens, window, |counter| {
            counter.add(tokens);
            counter.typical = if counter.typical == 0.0 {
                tokens as f64
            } else {
                0.8 * counter.typical + 0.2 * tokens as f64
            };
        });
        true
    }

    fn with_counter<T>(
        &self,
        key: Uuid,
        kind: Kind,
        window: i64,
        f: impl FnOnce(&mut Counter) -> T,
    ) -> T {
        let entry = self.counters.entry((key, kind)).or_default();
        let mut counter = entry.lock().unwrap_or_else(|p| p.into_inner());
        counter.roll(window);
        f(&mut counter)
    }

    /// Connects, then every sync interval adds this proxy's counts to Redis and reads the
    /// shared totals back, until `stop`.
    pub(crate) async fn run(
        self: Arc<Self>,
        clock: Arc<dyn crate::clock::Clock>,
        mut stop: watch::Receiver<bool>,
    ) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = crate::stop::stopped(&mut stop) => {
                    self.sync(clock.now_utc()).await;
                    return;
                }
            }
            self.sync(clock.now_utc()).await;
        }
    }

    /// How long a proxy stays in the list after its last exchange.
    fn roster_ttl_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis() * 5)
            .unwrap_or(u64::MAX)
            .max(1_000)
    }

    async fn connection(&self) -> Option<ConnectionManager> {
        if let Some(connection) = self.connection.load_full() {
            return Some(connection.as_ref().clone());
        }
        let connected = tokio::time::timeout(
            CALL_TIMEOUT * 4,
            ConnectionManager::new_with_config(
                self.client.clone(),
                redis_call::connection_config(),
            ),
        )
        .await;
        match connected {
            Ok(Ok(connection)) => {
                self.connection.store(Some(Arc::new(connection.clone())));
                Some(connection)
            }
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "connecting to Redis failed");
                None
            }
            Err(_) => None,
        }
    }

    /// One exchange with Redis: pending counts added, totals of the keys in use read back.
    async fn sync(self: &Arc<Self>, now: OffsetDateTime) {
        let Some(mut connection) = self.connection().await else {
            self.set_up(false);
            return;
        };
        let (window, _) = window_of(now);
        // Counters idle for two windows are forgotten.
        self.counters.retain(|_, counter| {
            let counter = counter.get_mut().unwrap_or_else(|p| p.into_inner());
            counter.window >= window - 1
                || !counter.pending.is_empty()
                || !counter.returned.is_empty()
        });
        // What went out, to read the answers against (or put back when they do not come).
        let mut sent: Vec<Sent> = Vec::new();
        let mut pipe = redis::pipe();
        let now_ms = now.unix_timestamp_nanos() / 1_000_000;
        let forget_before = now_ms - i128::from(self.roster_ttl_ms());
        pipe.cmd("ZADD")
            .arg(PROXIES_KEY)
            .arg(now_ms.to_string())
            .arg(self.id.to_string())
            .ignore();
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(PROXIES_KEY)
            .arg("-inf")
            .arg(forget_before.to_string())
            .ignore();
        pipe.cmd("ZCARD").arg(PROXIES_KEY);
        for entry in &self.counters {
            let (key, kind) = *entry.key();
            let (pending, returned) = {
                let mut counter = entry.value().lock().unwrap_or_else(|p| p.into_inner());
                counter.roll(window);
                counter.sent_last = counter.pending_in(window);
                counter.in_flight = counter.sent_last;
                // A lease untouched for a whole interval goes back for the other proxies; the
                // next is sized to what this proxy admitted over the interval.
                if counter.admitted == 0 && counter.leased > 0 {
                    let unused = (counter.window, std::mem::take(&mut counter.leased));
                    counter.returned.push(unused);
                }
                counter.next_lease = counter.admitted.max(1);
                counter.admitted = 0;
                // Should a request have been dropped while it took the lease.
                counter.leasing = false;
                (
                    std::mem::take(&mut counter.pending),
                    std::mem::take(&mut counter.returned),
                )
            };
            for (w, amount) in &pending {
                let name = redis_key(kind, key, *w);
                pipe.cmd("INCRBY").arg(&name).arg(*amount).ignore();
                pipe.cmd("EXPIRE").arg(&name).arg(KEEP_SECS).ignore();
            }
            for (w, amount) in &returned {
                pipe.cmd("EVAL")
                    .arg(RETURN_SCRIPT)
                    .arg(1)
                    .arg(redis_key(kind, key, *w))
                    .arg(*amount)
                    .ignore();
            }
            pipe.cmd("MGET")
                .arg(redis_key(kind, key, window))
                .arg(redis_key(kind, key, window - 1));
            sent.push(((key, kind), pending, returned));
        }
        let call = async move {
            let answers = pipe.query_async::<Vec<redis::Value>>(&mut connection).await;
            (sent, answers)
        };
        let this = self.clone();
        let late = move |(sent, answers)| this.take_answers(window, sent, answers);
        match answer_in_time(call, late).await {
            Some((sent, answers)) => {
                let answered = answers.is_ok();
                self.take_answers(window, sent, answers);
                self.set_up(answered);
            }
            // What was sent is taken, or put back for the next exchange, when the answer comes.
            None => self.set_up(false),
        }
    }

    /// Reads an exchange's answers: the proxies sharing, and each counter's totals; when it
    /// failed, what it sent is kept for the next exchange.
    fn take_answers(
        &self,
        window: i64,
        sent: Vec<Sent>,
        answers: redis::RedisResult<Vec<redis::Value>>,
    ) {
        let answers = match answers {
            Ok(answers) => answers,
            Err(err) => {
                tracing::debug!(error = %err, "syncing limits with Redis failed");
                for (id, pending, returned) in sent {
                    if let Some(entry) = self.counters.get(&id) {
                        let mut counter = entry.lock().unwrap_or_else(|p| p.into_inner());
                        counter.in_flight = 0;
                        for (window, amount) in pending {
                            counter.add_in(window, amount);
                        }
                        counter.returned.extend(returned);
                    }
                }
                return;
            }
        };
        let mut answers = answers.into_iter();
        let proxies: u64 = answers
            .next()
            .and_then(|v| redis::from_redis_value(v).ok())
            .unwrap_or(1);
        self.proxies.store(proxies.max(1), Ordering::Relaxed);
        let totals =
            answers.map(|v| redis::from_redis_value::<Vec<Option<u64>>>(v).unwrap_or_default());
        for ((id, _, _), totals) in sent.iter().zip(totals) {
            if let Some(entry) = self.counters.get(id) {
                let mut counter = entry.lock().unwrap_or_else(|p| p.into_inner());
                if counter.window == window {
                    counter.current = totals.first().copied().flatten().unwrap_or(0);
                    counter.in_flight = 0;
                    counter.previous = totals.get(1).copied().flatten().unwrap_or(0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_previous_window_weighs_less_as_the_current_one_goes_on() {
        let mut counter = Counter::default();
        counter.roll(10);
        counter.current = 40;
        counter.roll(11);
        assert_eq!(counter.previous, 40);
        assert_eq!(counter.current, 0);
        counter.add(5);
        assert!((counter.used(0.25) - 35.0).abs() < 1e-9);
        assert!((counter.used(0.75) - 15.0).abs() < 1e-9);
        // A gap of more than one window leaves nothing behind.
        counter.roll(13);
        assert_eq!(counter.previous, 0);
        assert!(counter.pending.is_empty());
    }

    #[test]
    fn between_exchanges_a_proxy_admits_its_share_of_what_is_left() {
        let mut counter = Counter::default();
        counter.roll(5);
        counter.current = 40;
        // 60 a minute, 40 used: alone it may take all 20; one of four proxies, 5.
        assert!(counter.share(60, 0.0, 1).is_infinite());
        assert!((counter.share(60, 0.0, 4) - 5.0).abs() < 1e-9);
        // Nothing left still lets one through to find out (the limit itself then refuses).
        counter.current = 60;
        assert!((counter.share(60, 0.0, 4) - 1.0).abs() < 1e-9);
        // Having sent 4 at the last exchange, it counts on the 3 others having admitted as much
        // since theirs: (60 - 40 - 12) / 4.
        counter.current = 40;
        counter.sent_last = 4;
        assert!((counter.share(60, 0.0, 4) - 2.0).abs() < 1e-9);
    }

    /// A proxy's first lease of a key.
    const GROWING_FROM_ONE: LeaseWanted = LeaseWanted {
        size: 1,
        grows: true,
    };

    /// What Redis answers to a lease in a minute after a quiet one.
    fn lease(granted: u64, current: u64) -> Lease {
        Lease {
            granted,
            current,
            previous: 0,
        }
    }

    #[test]
    fn a_proxy_admits_from_its_lease_and_asks_for_a_larger_one_when_it_runs_out() {
        let mut counter = Counter::default();
        counter.roll(5);
        let wanted = counter.admit_leased(60, 0.0).unwrap_err();
        assert_eq!(wanted, GROWING_FROM_ONE);
        let lease = lease(3, 10);
        let first = counter.take_lease(5, lease, wanted, 60, 0.0);
        assert!(first.allowed);
        // 10 counted in Redis, 2 of them still held here: 8 used, this request included.
        assert_eq!(first.remaining, 52);
        assert!(counter.admit_leased(60, 0.0).unwrap().allowed);
        assert!(counter.admit_leased(60, 0.0).unwrap().allowed);
        assert_eq!(counter.admit_leased(60, 0.0).unwrap_err().size, 2);
        assert_eq!(counter.admitted, 3);
    }

    #[test]
    fn requests_arriving_while_a_lease_is_taken_ask_for_one_each() {
        let mut counter = Counter::default();
        counter.roll(5);
        counter.next_lease = 8;
        let first = counter.admit_leased(60, 0.0).unwrap_err();
        assert_eq!(
            first,
            LeaseWanted {
                size: 8,
                grows: true
            }
        );
        let meanwhile = LeaseWanted {
            size: 1,
            grows: false,
        };
        assert_eq!(counter.admit_leased(60, 0.0).unwrap_err(), meanwhile);
        assert_eq!(counter.admit_leased(60, 0.0).unwrap_err(), meanwhile);
        // The small leases do not make the next one grow; the large one does.
        counter.take_lease(5, lease(1, 1), meanwhile, 60, 0.0);
        counter.take_lease(5, lease(1, 2), meanwhile, 60, 0.0);
        assert_eq!(counter.next_lease, 8);
        counter.take_lease(5, lease(8, 10), first, 60, 0.0);
        assert_eq!((counter.leased, counter.next_lease), (7, 16));
        for _ in 0..7 {
            assert!(counter.admit_leased(60, 0.0).unwrap().allowed);
        }
        assert_eq!(counter.admit_leased(60, 0.0).unwrap_err().size, 16);
    }

    #[test]
    fn a_key_at_its_limit_is_refused_without_a_lease() {
        let mut counter = Counter::default();
        counter.roll(5);
        let refused = lease(0, 60);
        assert!(
            !counter
                .take_lease(5, refused, GROWING_FROM_ONE, 60, 0.5)
                .allowed
        );
        // Known to be at the limit now: refused here, until an exchange says otherwise.
        let decision = counter.admit_leased(60, 0.5).unwrap();
        assert!(!decision.allowed);
        assert_eq!(decision.remaining, 0);
    }

    #[test]
    fn a_lease_left_when_its_window_ends_is_given_back() {
        let mut counter = Counter::default();
        counter.roll(5);
        let lease = lease(4, 4);
        counter.take_lease(5, lease, GROWING_FROM_ONE, 60, 0.0);
        counter.roll(6);
        assert_eq!(counter.returned, vec![(5, 3)]);
        assert_eq!(counter.leased, 0);
        // A lease taken in a window the counter has left is not kept.
        counter.take_lease(5, lease, GROWING_FROM_ONE, 60, 0.0);
        assert_eq!(counter.leased, 0);
    }

    #[test]
    fn a_refusal_says_when_the_previous_window_has_faded_enough() {
        // 60 a minute, 60 used in the previous window, half of it still weighing, 30 now.
        let decision = decide(60.0, 60, 60, 0.5, false);
        assert!(!decision.allowed);
        assert_eq!(decision.remaining, 0);
        assert_eq!(decision.reset, Duration::from_secs(1));
        let decision = decide(10.0, 0, 60, 0.5, true);
        assert_eq!(decision.remaining, 49);
        assert_eq!(decision.reset, Duration::from_secs(30));
    }
}
