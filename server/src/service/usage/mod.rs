//! Usage events from the proxies: idempotent batched ingest (`ingest`), hourly rollups of one
//! `Counters` type (`counters`), daily partitions (`partitions`), and what the console and the
//! proxies read back: the request log (`log`), summaries (`summary`) and budget spend (`spend`).

mod counters;
mod ingest;
mod log;
mod partitions;
mod spend;
mod summary;

pub use ingest::ingest;
pub use log::{list, UsagePage, UsageQuery, UsageRecord};
pub use partitions::maintain_partitions;
pub use spend::spend;
pub use summary::{
    summary, Granularity, GroupStats, ModelCost, SeriesPoint, SummaryQuery, UsageStats,
    UsageSummary,
};
