//! Usage events from the proxies: idempotent batched ingest (`ingest`, new rows by binary
//! `COPY`: `copy`, paced while no other batch waits: `pacing`, keys' last uses written at most
//! once a second: `key_use`), hourly rollups of one `Counters` type (`counters`), daily
//! partitions (`partitions`), and what the console and the proxies read back: the request log
//! (`log`), summaries (`summary`) and budget spend (`spend`).

mod copy;
mod counters;
mod ingest;
mod key_use;
mod log;
mod pacing;
mod partitions;
mod spend;
mod summary;

pub(crate) use ingest::ingest;
pub(crate) use key_use::KeyUse;
pub(crate) use log::{list, UsagePage, UsageQuery};
pub(crate) use partitions::maintain_partitions;
pub(crate) use spend::spend;
pub(crate) use summary::{
    application_usage, summary, ApplicationUsage, SummaryQuery, UsageSummary,
};
