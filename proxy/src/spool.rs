//! Usage batches kept on disk while the server cannot take them, replayed oldest first.

use std::path::{Path, PathBuf};

use tollgate_protocol::UsageBatch;

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

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes a batch atomically (a crash leaves no half-written batch).
    pub(crate) fn push(&mut self, batch: &UsageBatch) -> std::io::Result<()> {
        let json = serde_json::to_vec(batch)?;
        let name = format!("{:020}.json", self.next_sequence);
        let temporary = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, json)?;
        std::fs::rename(&temporary, self.dir.join(name))?;
        self.next_sequence += 1;
        Ok(())
    }

    pub(crate) fn read(path: &Path) -> std::io::Result<UsageBatch> {
        Ok(serde_json::from_slice(&std::fs::read(path)?)?)
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
        let batch = |n: usize| UsageBatch {
            dataplane_id: uuid::Uuid::nil(),
            events: Vec::with_capacity(n),
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
}
