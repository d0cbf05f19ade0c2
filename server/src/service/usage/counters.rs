//! The counters every usage rollup keeps, and how they read as statistics: one type for the
//! hourly rollups written at ingest and for the sums a summary adds up from them.

use serde::Serialize;
use tollgate_protocol::{NanoUsd, UsageEvent};
use utoipa::ToSchema;

/// Upper bounds (µs) of the latency buckets kept in rollups; the last bucket is unbounded.
pub(super) const LATENCY_BOUNDS_US: [u64; 15] = [
    250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000,
    2_500_000, 5_000_000, 10_000_000,
];
pub(super) const BUCKETS: usize = LATENCY_BOUNDS_US.len() + 1;

fn bucket_of(latency_us: u64) -> usize {
    LATENCY_BOUNDS_US
        .iter()
        .position(|bound| latency_us <= *bound)
        .unwrap_or(LATENCY_BOUNDS_US.len())
}

fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// Requests, errors, latency buckets, bytes, tokens and cost of a set of requests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Counters {
    pub(crate) requests: i64,
    pub(crate) client_errors: i64,
    pub(crate) server_errors: i64,
    pub(crate) latency_sum_us: i64,
    pub(crate) buckets: [i64; BUCKETS],
    pub(crate) bytes_in: i64,
    pub(crate) bytes_out: i64,
    pub(crate) input_tokens: i64,
    pub(crate) cached_input_tokens: i64,
    pub(crate) output_tokens: i64,
    pub(crate) cost_nanousd: i64,
}

impl Counters {
    /// Counts one request.
    pub(super) fn count(&mut self, event: &UsageEvent) {
        if let Some(ai) = &event.ai {
            self.input_tokens += clamp(ai.input_tokens);
            self.cached_input_tokens += clamp(ai.cached_input_tokens);
            self.output_tokens += clamp(ai.output_tokens);
            self.cost_nanousd += ai.cost_nanousd;
        }
        self.requests += 1;
        self.client_errors += i64::from((400..500).contains(&event.status));
        self.server_errors += i64::from(event.status >= 500);
        self.latency_sum_us += clamp(event.latency_us);
        self.buckets[bucket_of(event.latency_us)] += 1;
        self.bytes_in += clamp(event.bytes_in);
        self.bytes_out += clamp(event.bytes_out);
    }

    /// Adds another set's counters to these.
    pub(super) fn add(&mut self, other: &Counters) {
        self.requests += other.requests;
        self.client_errors += other.client_errors;
        self.server_errors += other.server_errors;
        self.latency_sum_us += other.latency_sum_us;
        for (sum, count) in self.buckets.iter_mut().zip(&other.buckets) {
            *sum += count;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_nanousd += other.cost_nanousd;
    }

    /// The counters as the API reports them: percentiles, mean, cost in USD.
    pub(super) fn stats(&self) -> UsageStats {
        let mean_ms = if self.requests > 0 {
            self.latency_sum_us as f64 / self.requests as f64 / 1000.0
        } else {
            0.0
        };
        UsageStats {
            requests: self.requests,
            client_errors: self.client_errors,
            server_errors: self.server_errors,
            p50_ms: percentile_ms(&self.buckets, 0.50),
            p95_ms: percentile_ms(&self.buckets, 0.95),
            mean_ms: (mean_ms * 1000.0).round() / 1000.0,
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            input_tokens: self.input_tokens,
            cached_input_tokens: self.cached_input_tokens,
            output_tokens: self.output_tokens,
            cost_usd: NanoUsd(self.cost_nanousd).to_string(),
        }
    }
}

/// Counts and latency of a set of requests. Percentiles come from latency buckets, so they are
/// estimates within a bucket's width.
#[derive(Debug, Default, Serialize, ToSchema)]
pub(crate) struct UsageStats {
    /// Requests answered.
    pub(super) requests: i64,
    /// Answers with a 4xx status.
    pub(super) client_errors: i64,
    /// Answers with a 5xx status.
    pub(super) server_errors: i64,
    /// Median latency in milliseconds.
    pub(super) p50_ms: f64,
    /// 95th-percentile latency in milliseconds.
    pub(super) p95_ms: f64,
    /// Mean latency in milliseconds.
    pub(super) mean_ms: f64,
    /// Request body bytes received from clients.
    pub(super) bytes_in: i64,
    /// Response body bytes sent to clients.
    pub(super) bytes_out: i64,
    /// Prompt tokens, cached ones included.
    pub(super) input_tokens: i64,
    /// Prompt tokens the provider served from its cache.
    pub(super) cached_input_tokens: i64,
    /// Completion tokens.
    pub(super) output_tokens: i64,
    /// Cost in USD (exact decimal).
    pub(super) cost_usd: String,
}

/// The q-quantile of bucketed latencies, interpolated within its bucket.
fn percentile_ms(buckets: &[i64; BUCKETS], q: f64) -> f64 {
    let total: i64 = buckets.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let rank = q * total as f64;
    let mut seen = 0.0;
    for (i, count) in buckets.iter().enumerate() {
        let count = *count as f64;
        if count > 0.0 && seen + count >= rank {
            let low = if i == 0 { 0 } else { LATENCY_BOUNDS_US[i - 1] } as f64;
            let high = LATENCY_BOUNDS_US.get(i).map_or(low * 2.0, |b| *b as f64);
            let us = low + (high - low) * ((rank - seen) / count).clamp(0.0, 1.0);
            return (us / 1000.0 * 1000.0).round() / 1000.0;
        }
        seen += count;
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latencies_fall_into_the_right_buckets() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(250), 0);
        assert_eq!(bucket_of(251), 1);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_interpolate_within_a_bucket() {
        let mut buckets = [0; BUCKETS];
        buckets[2] = 100; // 500 µs to 1 ms
        assert_eq!(percentile_ms(&buckets, 0.5), 0.75);
        assert_eq!(percentile_ms(&[0; BUCKETS], 0.5), 0.0);
    }
}
