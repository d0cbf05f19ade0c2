//! Usage batches kept on disk while the server cannot take them, replayed oldest first. A batch
//! is encoded once, as the JSON the server is sent: the spool keeps those bytes, and a replay
//! posts them as they are.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tollgate_protocol::{usage_json, UsageBatch, UsageEvent};
use uuid::Uuid;

/// A usage batch ready to post: its JSON body, how many events it holds, and the (key, event)
/// pairs of its AI calls, which the budgets count locally until the server has them.
#[derive(Debug, Clone)]
pub(crate) struct EncodedBatch {
    pub(crate) body: Bytes,
    pub(crate) summary: BatchSummary,
}

/// What a batch's bookkeeping needs without reading its body again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BatchSummary {
    pub(crate) events: usize,
    pub(crate) charges: Vec<(Uuid, Uuid)>,
}

impl EncodedBatch {
    pub(crate) fn encode(batch: &UsageBatch) -> Result<Self, time::error::Format> {
        let mut encoder = BatchEncoder::new(batch.dataplane_id, 0);
        for event in &batch.events {
            encoder.push(event)?;
        }
        Ok(encoder.finish())
    }
}

/// Writes a batch's JSON event by event, as they come off the queue (no list of events held).
pub(crate) struct BatchEncoder {
    body: Vec<u8>,
    summary: BatchSummary,
}

impl BatchEncoder {
    /// `capacity`: the bytes the batch will likely take (the last one's size), so the body is
    /// not grown and copied a dozen times as events come.
    pub(crate) fn new(dataplane_id: Uuid, capacity: usize) -> Self {
        let mut body = Vec::with_capacity(capacity);
        usage_json::write_batch_head(&mut body, dataplane_id);
        Self {
            body,
            summary: BatchSummary::default(),
        }
    }

    /// Events written so far.
    pub(crate) fn len(&self) -> usize {
        self.summary.events
    }

    /// Adds the event; one that cannot be written leaves the batch as it was.
    pub(crate) fn push(&mut self, event: &UsageEvent) -> Result<(), time::error::Format> {
        let start = self.body.len();
        if self.summary.events > 0 {
            self.body.push(b',');
        }
        if let Err(err) = usage_json::write_event(&mut self.body, event) {
            self.body.truncate(start);
            return Err(err);
        }
        self.summary.events += 1;
        if let (Some(_), Some(key_id)) = (&event.ai, event.key_id) {
            self.summary.charges.push((key_id, event.id));
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> EncodedBatch {
        usage_json::write_batch_tail(&mut self.body);
        EncodedBatch {
            body: Bytes::from(self.body),
            summary: self.summary,
        }
    }
}

/// A directory of `<sequence>.json` files, one batch each.
pub(crate) struct Spool {
    dir: PathBuf,
    next_sequence: u64,
}

impl Spool {
    pub(crate) fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut spool = Self {
            dir: dir.to_path_buf(),
            next_sequence: 0,
        };
        spool.next_sequence = spool.files()?.last().map_or(0, |(seq, _)| seq + 1);
        Ok(spool)
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Spooled batches, oldest first.
    pub(crate) fn files(&self) -> std::io::Result<Vec<(u64, PathBuf)>> {
        let mut files: Vec<(u64, PathBuf)> = std::fs::read_dir(&self.dir)?
            .flatten()
            .filter_map(|entry| {
                let path = entry.path();
                let sequence = path
                    .file_name()?
                    .to_str()?
                    .strip_suffix(".json")?
                    .parse()
                    .ok()?;
                Some((sequence, path))
            })
            .collect();
        files.sort();
        Ok(files)
    }

    pub(crate) fn len(&self) -> usize {
        self.files().map_or(0, |f| f.len())
    }

    /// Writes a batch atomically (a crash leaves no half-written batch): its summary on the
    /// first line, then its body (compact JSON holds no newline).
    pub(crate) fn push(&mut self, batch: &EncodedBatch) -> std::io::Result<()> {
        let mut json = serde_json::to_vec(&batch.summary)?;
        json.push(b'\n');
        json.extend_from_slice(&batch.body);
        let name = format!("{:020}.json", self.next_sequence);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, json)?;
        std::fs::rename(&temporary, self.dir.join(name))?;
        self.next_sequence += 1;
        Ok(())
    }

    /// A spooled batch. Files written before batches were encoded once hold the bare batch.
    pub(crate) fn read(path: &Path) -> std::io::Result<EncodedBatch> {
        let file = Bytes::from(std::fs::read(path)?);
        match file.iter().position(|b| *b == b'\n') {
            Some(end) => Ok(EncodedBatch {
                summary: serde_json::from_slice(&file[..end])?,
                body: file.slice(end + 1..),
            }),
            None => {
                EncodedBatch::encode(&serde_json::from_slice(&file)?).map_err(std::io::Error::other)
            }
        }
    }

    pub(crate) fn remove(path: &Path) -> std::io::Result<()> {
        std::fs::remove_file(path)
    }

    /// Moves a batch the server refused aside, so it no longer blocks the others.
    pub(crate) fn quarantine(path: &Path) -> std::io::Result<()> {
        std::fs::rename(path, path.with_extension("rejected"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_come_back_in_the_order_they_went_in_even_after_reopening() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let batch = |n: usize| {
            EncodedBatch::encode(&UsageBatch {
                dataplane_id: uuid::Uuid::nil(),
                events: Vec::with_capacity(n),
            })
            .unwrap_or_else(|e| panic!("{e}"))
        };
        let mut spool = Spool::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        spool.push(&batch(0)).unwrap_or_else(|e| panic!("{e}"));
        spool.push(&batch(0)).unwrap_or_else(|e| panic!("{e}"));
        let mut reopened = Spool::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        reopened.push(&batch(0)).unwrap_or_else(|e| panic!("{e}"));
        let sequences: Vec<u64> = reopened
            .files()
            .unwrap_or_default()
            .iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(sequences, [0, 1, 2]);
    }

    #[test]
    fn a_spooled_batch_comes_back_as_the_bytes_that_went_in() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut spool = Spool::open(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        let batch = UsageBatch {
            dataplane_id: Uuid::now_v7(),
            events: Vec::new(),
        };
        let mut encoded = EncodedBatch::encode(&batch).unwrap_or_else(|e| panic!("{e}"));
        encoded
            .summary
            .charges
            .push((Uuid::now_v7(), Uuid::now_v7()));
        spool.push(&encoded).unwrap_or_else(|e| panic!("{e}"));
        // A batch spooled by an older proxy: the bare JSON.
        let legacy = dir.path().join(format!("{:020}.json", 7));
        std::fs::write(&legacy, serde_json::to_vec(&batch).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"));
        let files = spool.files().unwrap_or_default();
        let read = Spool::read(&files[0].1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            (read.body, read.summary),
            (encoded.body.clone(), encoded.summary)
        );
        let old = Spool::read(&files[1].1).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(old.body, encoded.body);
    }

    fn event(time: time::OffsetDateTime, ai: bool) -> UsageEvent {
        UsageEvent {
            id: Uuid::now_v7(),
            time,
            tenant_id: None,
            key_id: Some(Uuid::now_v7()),
            route_id: None,
            method: "POST".into(),
            status: 200,
            latency_us: 1,
            upstream_latency_us: None,
            bytes_in: 0,
            bytes_out: 0,
            error_class: None,
            ai: ai.then(|| tollgate_protocol::AiUsage {
                model_id: Uuid::now_v7(),
                provider_id: None,
                upstream_model: None,
                input_tokens: 1,
                cached_input_tokens: 0,
                cache_write_tokens: 0,
                output_tokens: 1,
                estimated: false,
                cost_nanousd: 5,
                ttft_us: None,
                fallbacks: 0,
                prompt_api_id: None,
                streamed: false,
            }),
            consumer: None,
            mcp: None,
            subscription: None,
        }
    }

    #[test]
    fn an_event_that_cannot_be_written_leaves_the_batch_whole() {
        let now = time::OffsetDateTime::now_utc();
        let (first, second) = (event(now, true), event(now, false));
        let unwritable = event(now.replace_year(-1).unwrap_or(now), true);
        let mut encoder = BatchEncoder::new(Uuid::nil(), 0);
        encoder.push(&first).unwrap_or_else(|e| panic!("{e}"));
        assert!(encoder.push(&unwritable).is_err());
        encoder.push(&second).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(encoder.len(), 2);
        let batch = encoder.finish();
        let read: UsageBatch =
            serde_json::from_slice(&batch.body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(read.events, [first.clone(), second]);
        // Only AI calls are charged against budgets.
        let charged = first.key_id.map(|key| (key, first.id));
        assert_eq!(batch.summary.charges, Vec::from_iter(charged));
    }
}
