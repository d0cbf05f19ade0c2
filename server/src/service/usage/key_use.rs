//! When this server last wrote each key's `last_used_at`. The column moves by a second or
//! more at a time, so a batch whose keys this server wrote less than a second before their new
//! uses would change nothing: it skips the statement, a round trip each batch at light load
//! (one every 25 ms). The statement keeps its own check for the writes of other servers.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, PoisonError};

use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How far a key's `last_used_at` must move to be written: a key in steady use is written once
/// a second, not once a batch. The `api_keys` update checks it too, for other servers' writes.
pub(super) const LAST_USE_STEP: Duration = Duration::SECOND;

/// Keys remembered before the memory is cleared (each then written once more).
const MAX_KEYS: usize = 100_000;

#[derive(Default)]
pub(crate) struct KeyUse {
    written: Mutex<HashMap<Uuid, OffsetDateTime>>,
}

impl KeyUse {
    /// The uses that would move a key's `last_used_at`, as far as this server knows: those more
    /// than LAST_USE_STEP after what it last wrote for the key.
    pub(super) fn to_write(
        &self,
        uses: &BTreeMap<Uuid, OffsetDateTime>,
    ) -> BTreeMap<Uuid, OffsetDateTime> {
        let written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        uses.iter()
            .filter(|(key, used)| {
                written
                    .get(key)
                    .is_none_or(|last| **used - *last > LAST_USE_STEP)
            })
            .map(|(key, used)| (*key, *used))
            .collect()
    }

    /// Notes uses written (their transaction committed).
    pub(super) fn written(&self, uses: &BTreeMap<Uuid, OffsetDateTime>) {
        let mut written = self.written.lock().unwrap_or_else(PoisonError::into_inner);
        if written.len() + uses.len() > MAX_KEYS {
            written.clear();
        }
        for (key, used) in uses {
            let last = written.entry(*key).or_insert(*used);
            *last = (*last).max(*used);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_written_again_only_once_its_use_is_more_than_a_second_later() {
        let key_use = KeyUse::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let start = OffsetDateTime::UNIX_EPOCH + Duration::days(20_000);
        let uses = |list: &[(Uuid, Duration)]| -> BTreeMap<Uuid, OffsetDateTime> {
            list.iter()
                .map(|(key, after)| (*key, start + *after))
                .collect()
        };

        let first = uses(&[(a, Duration::ZERO)]);
        assert_eq!(key_use.to_write(&first), first, "never written: written");
        key_use.written(&first);

        let soon = uses(&[(a, Duration::milliseconds(1_000)), (b, Duration::ZERO)]);
        assert_eq!(
            key_use.to_write(&soon),
            uses(&[(b, Duration::ZERO)]),
            "a second or less after the last write: skipped; another key: written"
        );
        let later = uses(&[(a, Duration::milliseconds(1_001))]);
        assert_eq!(key_use.to_write(&later), later);
    }
}
