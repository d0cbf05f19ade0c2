//! Prometheus metrics of the data plane, served as text on the metrics port.

use std::time::Duration;

use http::StatusCode;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
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
    /// 1 while limits are counted across proxies through Redis, 0 while Redis is away (each
    /// proxy then counts its own); absent without a Redis URL.
    pub(crate) shared_limits_up: IntGauge,
    /// The series of requests no route matched, of AI calls, and of MCP messages.
    pub(crate) unmatched: RouteSeries,
    pub(crate) ai: RouteSeries,
    pub(crate) mcp: RouteSeries,
}

/// The route label of requests no route matched.
pub(crate) const UNMATCHED_LABEL: &str = "-";
/// The route label of AI calls.
pub(crate) const AI_LABEL: &str = "ai";
/// The route label of MCP messages.
pub(crate) const MCP_LABEL: &str = "mcp";

impl Metrics {
    pub(crate) fn new() -> prometheus::Result<Self> {
        let registry = Registry::new_custom(Some("tollgate_proxy".into()), None)?;
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                &["route"],
            )
        };
        let requests = IntCounterVec::new(
            Opts::new("requests_total", "Requests by route and status"),
            &["route", "status"],
        )?;
        let duration = histogram(
            "request_duration_seconds",
            "Time from request to the end of the response",
        )?;
        let upstream_duration = histogram(
            "upstream_duration_seconds",
            "Time from sending upstream to the response headers",
        )?;
        let series = |label: &str| series(&requests, &duration, &upstream_duration, label);
        let metrics = Self {
            unmatched: series(UNMATCHED_LABEL),
            ai: series(AI_LABEL),
            mcp: series(MCP_LABEL),
            requests,
            duration,
            upstream_duration,
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
            shared_limits_up: IntGauge::new(
                "shared_limits_up",
                "1 while limits are counted across proxies through Redis, 0 while it is away",
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

    /// Exports `shared_limits_up`: only a proxy that shares its limits says whether it does.
    pub(crate) fn export_shared_limits(&self) -> prometheus::Result<()> {
        self.registry
            .register(Box::new(self.shared_limits_up.clone()))
    }

    /// The series of one route label, resolved now so that counting a request needs no label
    /// lookup (a hash and a lock on the shared vector) on the hot path.
    pub(crate) fn route_series(&self, label: &str) -> RouteSeries {
        series(
            &self.requests,
            &self.duration,
            &self.upstream_duration,
            label,
        )
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

fn series(
    requests: &IntCounterVec,
    duration: &HistogramVec,
    upstream_duration: &HistogramVec,
    label: &str,
) -> RouteSeries {
    RouteSeries {
        label: label.to_owned(),
        ok: requests.with_label_values(&[label, StatusCode::OK.as_str()]),
        duration: duration.with_label_values(&[label]),
        upstream_duration: upstream_duration.with_label_values(&[label]),
    }
}

/// A route label's request counter and latency histograms, looked up once.
#[derive(Debug, Clone)]
pub(crate) struct RouteSeries {
    label: String,
    /// `requests_total` for status 200, the common case; other statuses are looked up.
    ok: IntCounter,
    duration: Histogram,
    upstream_duration: Histogram,
}

impl RouteSeries {
    /// Counts a finished request and records its latencies.
    pub(crate) fn observe(
        &self,
        metrics: &Metrics,
        status: StatusCode,
        latency: Duration,
        upstream: Option<Duration>,
    ) {
        if status == StatusCode::OK {
            self.ok.inc();
        } else {
            metrics
                .requests
                .with_label_values(&[self.label.as_str(), status.as_str()])
                .inc();
        }
        self.duration.observe(latency.as_secs_f64());
        if let Some(upstream) = upstream {
            self.upstream_duration.observe(upstream.as_secs_f64());
        }
    }
}
