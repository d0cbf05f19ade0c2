//! Prometheus metrics of the data plane, served as text on the metrics port.

use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// Latency buckets in seconds, 100 µs to 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// Every metric the proxy exports.
pub(crate) struct Metrics {
    registry: Registry,
    /// By route label (`tenant/route`, `-` when none matched) and status code.
    pub(crate) requests: IntCounterVec,
    pub(crate) duration: HistogramVec,
    pub(crate) upstream_duration: HistogramVec,
    pub(crate) retries: IntCounterVec,
    /// By route and kind (connect, timeout, status, protocol).
    pub(crate) upstream_errors: IntCounterVec,
    pub(crate) ejected_targets: IntGauge,
    pub(crate) snapshot_version: IntGauge,
    pub(crate) snapshot_age_seconds: Gauge,
    pub(crate) usage_queue_depth: IntGauge,
    pub(crate) usage_spooled_batches: IntGauge,
    pub(crate) usage_dropped_events: IntCounter,
    pub(crate) usage_sent_events: IntCounter,
    /// Connections refused because their client address held too many.
    pub(crate) refused_connections: IntCounter,
}

impl Metrics {
    pub(crate) fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("tollgate_proxy".into()), None)?;
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )
        };
        let metrics = Self {
            requests: IntCounterVec::new(
                Opts::new("requests_total", "Requests by route and status"),
                &["route", "status"],
            )?,
            duration: histogram(
                "request_duration_seconds",
                "Time from request to the end of the response",
            )?,
            upstream_duration: histogram(
                "upstream_duration_seconds",
                "Time from sending upstream to the response headers",
            )?,
            retries: IntCounterVec::new(
                Opts::new("retries_total", "Retries by route"),
                &["route"],
            )?,
            upstream_errors: IntCounterVec::new(
                Opts::new(
                    "upstream_errors_total",
                    "Upstream failures by route and kind",
                ),
                &["route", "kind"],
            )?,
            ejected_targets: IntGauge::new(
                "ejected_targets",
                "Targets out of rotation after failures",
            )?,
            snapshot_version: IntGauge::new("snapshot_version", "Configuration version in force")?,
            snapshot_age_seconds: Gauge::new(
                "snapshot_age_seconds",
                "Seconds since the configuration in force was generated",
            )?,
            usage_queue_depth: IntGauge::new(
                "usage_queue_depth",
                "Usage events waiting to be sent",
            )?,
            usage_spooled_batches: IntGauge::new(
                "usage_spooled_batches",
                "Usage batches on disk, waiting for the server",
            )?,
            usage_dropped_events: IntCounter::new(
                "usage_dropped_events_total",
                "Usage events dropped because the queue was full",
            )?,
            usage_sent_events: IntCounter::new(
                "usage_sent_events_total",
                "Usage events delivered",
            )?,
            refused_connections: IntCounter::new(
                "refused_connections_total",
                "Connections refused: the client address held its maximum already",
            )?,
            registry,
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(metrics.requests.clone()),
            Box::new(metrics.duration.clone()),
            Box::new(metrics.upstream_duration.clone()),
            Box::new(metrics.retries.clone()),
            Box::new(metrics.upstream_errors.clone()),
            Box::new(metrics.ejected_targets.clone()),
            Box::new(metrics.snapshot_version.clone()),
            Box::new(metrics.snapshot_age_seconds.clone()),
            Box::new(metrics.usage_queue_depth.clone()),
            Box::new(metrics.usage_spooled_batches.clone()),
            Box::new(metrics.usage_dropped_events.clone()),
            Box::new(metrics.usage_sent_events.clone()),
            Box::new(metrics.refused_connections.clone()),
        ];
        for collector in collectors {
            metrics.registry.register(collector)?;
        }
        Ok(metrics)
    }

    /// The text exposition of every metric.
    pub(crate) fn render(&self) -> String {
        let mut buffer = Vec::new();
        if let Err(err) = TextEncoder::new().encode(&self.registry.gather(), &mut buffer) {
            tracing::warn!(error = %err, "encoding metrics failed");
        }
        String::from_utf8(buffer).unwrap_or_default()
    }
}
