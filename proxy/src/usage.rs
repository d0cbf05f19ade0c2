//! The usage pipeline: the request path drops events into a bounded queue without waiting; a
//! shipper batches them to the server, spooling to disk while it is unreachable or slow and
//! replaying in order once it is back. The server stores events by id, so a replay never
//! counts twice. The queue is drained on a timer whatever the server does: a post runs beside
//! the draining, never in its way, so a server that hangs fills the spool, not the memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tollgate_protocol::UsageEvent;
use uuid::Uuid;

use crate::metrics::Metrics;
use crate::spool::{BatchEncoder, EncodedBatch, Spool};

/// Events the queue holds before new ones are dropped (and counted).
pub(crate) const QUEUE_CAPACITY: usize = 100_000;
/// Most events in one batch (under the server's `MAX_USAGE_BATCH`).
const BATCH_MAX: usize = 5_000;
const _: () = assert!(BATCH_MAX <= tollgate_protocol::internal::MAX_USAGE_BATCH);
/// Time allowed for posting one batch.
pub(crate) const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest an event waits in a partly filled batch when no post is under way (checked every
/// ENCODE_EVERY, so a batch goes at the first tick past it: 50–75 ms). Small batches
/// often, rather than 200 ms of events at once, give the server and PostgreSQL short bursts of
/// work, which matters where they share the proxy's cores (see docs/performance.md).
const FLUSH_EVERY: Duration = Duration::from_millis(50);
/// Longest an event waits in a partly filled batch while a post is under way; after that the
/// batch goes to the spool.
const WAIT_FOR_POST: Duration = Duration::from_millis(200);
/// How often the replayer looks for spooled batches once the spool is empty.
const REPLAY_EVERY: Duration = Duration::from_millis(200);
/// How often the queue is drained into the open batch's JSON: in small steps, so that the
/// shipper's CPU comes in short slices (a 200 ms batch encoded at once held a core for
/// milliseconds, and requests woken meanwhile waited) and the queue holds few events.
const ENCODE_EVERY: Duration = Duration::from_millis(25);
/// A batch holding fewer events than this at its first drain is posted then, without waiting
/// for FLUSH_EVERY: under light load a post every ENCODE_EVERY is a short burst of work for the
/// server (wrk's p99 at one connection 0.8–0.9 ms against 1.2–1.6 ms; see docs/performance.md);
/// under heavy load batches grow past it and wait, since small batches there cost more CPU per
/// event.
const SMALL_BATCH: usize = 500;
/// Events that make a batch worth posting before FLUSH_EVERY. Each batch costs the server a
/// transaction and a commit flush; at 2,000 rather than 500 events PostgreSQL and the server
/// spent 10–20% less CPU per event under load.
const BATCH_POST_AT: usize = 2_000;
/// Queued events past which the shipper stops posting as it drains and writes batches to the
/// spool instead (fast), so the queue never overflows and holds little memory (two batches);
/// the replayer posts them in order.
const BACKLOG: usize = 2 * BATCH_MAX;
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(15);

/// The request path's side of the pipeline.
pub(crate) struct UsageRecorder {
    /// Boxed: a pointer, not the event's 448 bytes, is copied in and out of the queue.
    queue: mpsc::Sender<Box<UsageEvent>>,
    metrics: Arc<Metrics>,
    dropped: AtomicU64,
}

impl UsageRecorder {
    /// Queues an event; never waits. A full queue drops the event, counted and logged.
    pub(crate) fn record(&self, event: UsageEvent) {
        if self.queue.try_send(Box::new(event)).is_err() {
            self.metrics.usage_dropped_events.inc();
            let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if dropped.is_power_of_two() {
                tracing::warn!(dropped, "usage queue full: events dropped");
            }
        }
    }

    /// Events waiting in the queue.
    pub(crate) fn depth(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

/// Where and how batches are delivered.
pub(crate) struct ShipperConfig {
    pub(crate) usage_url: String,
    /// Built once at start-up (`POST_TIMEOUT`).
    pub(crate) client: reqwest::Client,
    pub(crate) token: Option<String>,
    pub(crate) dataplane_id: Uuid,
    pub(crate) spool: Spool,
    /// Told which events reached the server, so budgets stop counting them twice.
    pub(crate) budgets: Arc<crate::budget::Budgets>,
}

/// Creates the pipeline; run the shipper until `stop` turns true, then it drains and returns.
pub(crate) fn pipeline(config: ShipperConfig, metrics: Arc<Metrics>) -> (UsageRecorder, Shipper) {
    let (queue, events) = mpsc::channel(QUEUE_CAPACITY);
    let recorder = UsageRecorder {
        queue,
        metrics: metrics.clone(),
        dropped: AtomicU64::new(0),
    };
    metrics
        .usage_spooled_batches
        .set(i64::try_from(config.spool.len()).unwrap_or(0));
    let poster = Poster::new(&config, &metrics);
    let shipper = Shipper {
        events,
        config,
        poster: Some(poster),
        posting: None,
        metrics,
    };
    (recorder, shipper)
}

/// Why a delivery did not go through.
enum Failure {
    /// Worth trying again later (server down, overloaded, misconfigured token).
    Retry,
    /// The server will never take this batch.
    Rejected,
}

/// Posts batches to the server, backing off while it fails.
struct Poster {
    usage_url: String,
    token: Option<String>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    budgets: Arc<crate::budget::Budgets>,
    backoff: Duration,
    /// While the server is failing: when to try it again.
    retry_at: Option<Instant>,
}

impl Poster {
    fn new(config: &ShipperConfig, metrics: &Arc<Metrics>) -> Self {
        Self {
            usage_url: config.usage_url.clone(),
            token: config.token.clone(),
            client: config.client.clone(),
            metrics: metrics.clone(),
            budgets: config.budgets.clone(),
            backoff: BACKOFF_MIN,
            retry_at: None,
        }
    }

    fn resting(&self) -> bool {
        self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// Posts a batch; the outcome also drives the back-off and the budgets' bookkeeping.
    async fn post(&mut self, batch: &EncodedBatch) -> Result<(), Failure> {
        let mut request = self
            .client
            .post(&self.usage_url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(batch.body.clone());
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let outcome = match request.send().await {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => {
                let status = response.status();
                let detail = response.text().await.unwrap_or_default();
                let retry = status.is_server_error()
                    || matches!(status.as_u16(), 401 | 403 | 404 | 408 | 429);
                tracing::warn!(%status, %detail, retry, "the server did not take a usage batch");
                if retry {
                    Err(Failure::Retry)
                } else {
                    Err(Failure::Rejected)
                }
            }
            Err(err) => {
                tracing::debug!(error = %err, "usage delivery failed; spooling");
                Err(Failure::Retry)
            }
        };
        match &outcome {
            Ok(()) => {
                self.retry_at = None;
                self.backoff = BACKOFF_MIN;
                self.metrics
                    .usage_sent_events
                    .inc_by(batch.summary.events as u64);
                self.budgets.delivered(&batch.summary.charges);
            }
            Err(Failure::Retry) => {
                self.retry_at = Some(Instant::now() + self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            }
            Err(Failure::Rejected) => {
                self.metrics
                    .usage_dropped_events
                    .inc_by(batch.summary.events as u64);
            }
        }
        outcome
    }

    /// Posts spooled batches oldest first until the spool is empty or a post fails; returns
    /// whether it emptied the spool.
    async fn replay(&mut self, spool: &Spool) -> bool {
        if self.resting() {
            return false;
        }
        let Ok(files) = spool.files() else {
            return false;
        };
        for (_, path) in files {
            let batch = match Spool::read(&path) {
                Ok(batch) => batch,
                Err(err) => {
                    tracing::error!(file = %path.display(), error = %err, "unreadable spooled batch set aside");
                    let _ = Spool::quarantine(&path);
                    continue;
                }
            };
            match self.post(&batch).await {
                Ok(()) => {
                    let _ = Spool::remove(&path);
                }
                Err(Failure::Rejected) => {
                    let _ = Spool::quarantine(&path);
                }
                Err(Failure::Retry) => {
                    self.metrics
                        .usage_spooled_batches
                        .set(i64::try_from(spool.len()).unwrap_or(0));
                    return false;
                }
            }
            self.metrics
                .usage_spooled_batches
                .set(i64::try_from(spool.len()).unwrap_or(0));
        }
        true
    }
}

/// Drains the queue into batches: posted at once while all is well, spooled otherwise.
pub(crate) struct Shipper {
    events: mpsc::Receiver<Box<UsageEvent>>,
    config: ShipperConfig,
    /// Free to post (`None` while its post is under way).
    poster: Option<Poster>,
    /// The post under way, and how many events its batch holds.
    posting: Option<(tokio::task::JoinHandle<Posted>, u64)>,
    metrics: Arc<Metrics>,
}

/// Whether a batch of `events`, its first drained `age` ago, goes out now; `free`: no post is
/// under way (else it grows until it is full or WAIT_FOR_POST old, then goes to the spool).
fn is_due(events: usize, age: Duration, free: bool) -> bool {
    // Only a batch between small and worth posting waits for FLUSH_EVERY.
    let waits = (SMALL_BATCH..BATCH_POST_AT).contains(&events);
    events >= BATCH_MAX || age >= WAIT_FOR_POST || (free && (!waits || age >= FLUSH_EVERY))
}

/// A finished post: the poster back, the batch, and how it went.
type Posted = (Poster, EncodedBatch, Result<(), Failure>);

impl Shipper {
    /// Every ENCODE_EVERY, writes what is queued into the open batch, and delivers the batch
    /// when `is_due` (at once while it is small, else once it holds BATCH_POST_AT events or is
    /// FLUSH_EVERY old; later while a post is under way), while a replayer task posts the spool in
    /// order. Polling on a timer (rather than waking per event) keeps the request path free of
    /// cross-thread wake-ups. On `stop`, everything queued is delivered or spooled and the spool
    /// is replayed once more.
    pub(crate) async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let (drained, drained_signal) = tokio::sync::oneshot::channel();
        let replayer = self.spawn_replayer(stop.clone(), drained_signal);
        let mut drained = Some(drained);
        let mut tick = tokio::time::interval(ENCODE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut open: Option<(BatchEncoder, Instant)> = None;
        let mut last_batch_bytes = 0;
        loop {
            let stopping = tokio::select! {
                _ = tick.tick() => false,
                _ = crate::stop::stopped(&mut stop) => true,
            };
            self.reap(stopping).await;
            loop {
                let room = BATCH_MAX - open.as_ref().map_or(0, |(batch, _)| batch.len());
                let mut taken = 0;
                while taken < room {
                    let Ok(event) = self.events.try_recv() else {
                        break;
                    };
                    taken += 1;
                    let (batch, _) = open.get_or_insert_with(|| {
                        let batch = BatchEncoder::new(self.config.dataplane_id, last_batch_bytes);
                        (batch, Instant::now())
                    });
                    if let Err(err) = batch.push(&event) {
                        self.metrics.usage_dropped_events.inc();
                        tracing::error!(error = %err, "cannot encode a usage event: it is lost");
                    }
                }
                // While a post is under way the batch grows rather than going to the spool,
                // until it holds BATCH_MAX events or is WAIT_FOR_POST old.
                let free = self.poster.is_some();
                let due = open.as_ref().is_some_and(|(batch, opened)| {
                    batch.len() > 0 && (stopping || is_due(batch.len(), opened.elapsed(), free))
                });
                if let Some((batch, _)) = open.take_if(|_| due) {
                    let batch = batch.finish();
                    last_batch_bytes = batch.body.len();
                    self.deliver(batch);
                }
                if taken < room {
                    break;
                }
            }
            if stopping {
                self.reap(true).await;
                if let Some(drained) = drained.take() {
                    let _ = drained.send(());
                }
                let _ = replayer.await;
                return;
            }
        }
    }

    fn spawn_replayer(
        &self,
        mut stop: watch::Receiver<bool>,
        drained: tokio::sync::oneshot::Receiver<()>,
    ) -> tokio::task::JoinHandle<()> {
        let mut poster = Poster::new(&self.config, &self.metrics);
        let spool = Spool::open(self.config.spool.dir());
        tokio::spawn(async move {
            let Ok(spool) = spool else { return };
            loop {
                let emptied = poster.replay(&spool).await;
                let stopping = tokio::select! {
                    _ = tokio::time::sleep(if emptied { REPLAY_EVERY } else { BACKOFF_MIN }) => false,
                    _ = crate::stop::stopped(&mut stop) => true,
                };
                if stopping {
                    // Once the drainer has delivered or spooled the last events, post the spool.
                    let _ = drained.await;
                    poster.retry_at = None;
                    poster.replay(&spool).await;
                    return;
                }
            }
        })
    }

    fn backed_up(&self) -> bool {
        self.events.len() > BACKLOG
    }

    /// Starts posting the batch beside the draining, or spools it when a post is under way,
    /// the server is failing or the queue is backing up. Spooled batches do not hold back new
    /// ones: the replayer posts them alongside (the server stores events by id and time, so
    /// the order of arrival does not matter), which gives two posts in flight when one cannot
    /// keep up.
    fn deliver(&mut self, batch: EncodedBatch) {
        let backed_up = self.backed_up();
        match self
            .poster
            .take_if(|poster| !poster.resting() && !backed_up)
        {
            Some(mut poster) => {
                let events = batch.summary.events as u64;
                let post = tokio::spawn(async move {
                    let outcome = poster.post(&batch).await;
                    (poster, batch, outcome)
                });
                self.posting = Some((post, events));
            }
            None => self.spool(&batch),
        }
    }

    /// Takes the poster back once its post is done (`wait`: waits for it); a batch the server
    /// could not take then goes to the spool.
    async fn reap(&mut self, wait: bool) {
        let Some((post, events)) = self.posting.take_if(|(post, _)| wait || post.is_finished())
        else {
            return;
        };
        match post.await {
            Ok((poster, batch, outcome)) => {
                self.poster = Some(poster);
                if let Err(Failure::Retry) = outcome {
                    self.spool(&batch);
                }
            }
            Err(err) => {
                self.poster = Some(Poster::new(&self.config, &self.metrics));
                self.metrics.usage_dropped_events.inc_by(events);
                tracing::error!(error = %err, events, "posting usage events failed: they are lost");
            }
        }
    }

    fn spool(&mut self, batch: &EncodedBatch) {
        let count = batch.summary.events as u64;
        match self.config.spool.push(batch) {
            Ok(()) => self.metrics.usage_spooled_batches.inc(),
            Err(err) => {
                self.metrics.usage_dropped_events.inc_by(count);
                tracing::error!(error = %err, events = count, "cannot spool usage events: they are lost");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_batches_go_at_once_and_larger_ones_wait_while_the_server_is_free() {
        let now = Duration::ZERO;
        assert!(is_due(1, now, true));
        assert!(is_due(SMALL_BATCH - 1, now, true));
        assert!(!is_due(SMALL_BATCH, now, true));
        assert!(!is_due(
            SMALL_BATCH,
            FLUSH_EVERY - Duration::from_millis(1),
            true
        ));
        assert!(is_due(SMALL_BATCH, FLUSH_EVERY, true));
        assert!(is_due(BATCH_POST_AT, now, true));
    }

    #[test]
    fn while_a_post_is_under_way_a_batch_waits_until_full_or_old() {
        let now = Duration::ZERO;
        assert!(!is_due(1, now, false));
        assert!(!is_due(BATCH_POST_AT, FLUSH_EVERY, false));
        assert!(is_due(1, WAIT_FOR_POST, false));
        assert!(is_due(BATCH_MAX, now, false));
    }
}
