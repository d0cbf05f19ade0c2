//! Copying a batch in at a pace that leaves the cores to others when nothing is waiting.
//!
//! At light load a proxy posts a batch every 50 ms, and PostgreSQL stores it in one burst of
//! CPU (about 4.5 µs an event). Where the proxy shares its cores with the server and
//! PostgreSQL (one machine), requests woken during that burst wait for it: at one connection
//! the proxy's p99 was 2.2–2.5 ms, against about 0.37 ms with the server stopped. Sent in
//! pieces of about 80 events with a pause between them, PostgreSQL's work comes in slices of a
//! few tenths of a millisecond (as autovacuum's cost delay paces its own). Only a light-load
//! batch is paced (under `PACED_BELOW` events, the only one being stored): full batches, or
//! several at once, mean the server has work waiting, and they go in at full speed.

use std::ops::DerefMut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sqlx::postgres::PgCopyIn;
use sqlx::PgConnection;

/// About 80 events of the binary `COPY` stream (PostgreSQL's CPU: a few tenths of a ms).
const PIECE: usize = 32 * 1024;
const PAUSE: Duration = Duration::from_millis(1);
/// Batches this large come from a proxy under load (it posts at 2,000 events, or every 50 ms);
/// pacing one of them would cap what a proxy can ship.
const PACED_BELOW: usize = 1_000;

/// Batches being copied in, in this process.
static COPYING: AtomicUsize = AtomicUsize::new(0);

/// Counts a copy in flight for as long as it lives.
struct InFlight;

impl InFlight {
    fn start() -> Self {
        COPYING.fetch_add(1, Ordering::Relaxed);
        InFlight
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        COPYING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Whether to pause before the next piece of a batch of `events`, with `copying` batches being
/// copied in (this one included).
fn pause_between_pieces(events: usize, copying: usize) -> bool {
    events < PACED_BELOW && copying <= 1
}

/// Sends `data`, the `COPY` stream of a batch of `events`, on the open `COPY`: a light-load
/// batch in pieces with a pause between them while it is the only one being copied in (the
/// rest at once as soon as another arrives), any other at once.
pub(super) async fn send<C: DerefMut<Target = PgConnection>>(
    copy: &mut PgCopyIn<C>,
    data: &[u8],
    events: usize,
) -> Result<(), sqlx::Error> {
    let _in_flight = InFlight::start();
    let mut rest = data;
    while rest.len() > PIECE && pause_between_pieces(events, COPYING.load(Ordering::Relaxed)) {
        let (piece, after) = rest.split_at(PIECE);
        copy.send(piece).await?;
        rest = after;
        tokio::time::sleep(PAUSE).await;
    }
    copy.send(rest).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_light_load_batch_copied_in_alone_is_paced() {
        assert!(pause_between_pieces(350, 1));
        assert!(pause_between_pieces(PACED_BELOW - 1, 1));
        assert!(!pause_between_pieces(PACED_BELOW, 1), "a full batch");
        assert!(!pause_between_pieces(2_000, 1), "a full batch");
        assert!(
            !pause_between_pieces(350, 2),
            "another batch is being stored"
        );
        assert!(!pause_between_pieces(350, 5), "batches are queued");
    }

    #[test]
    fn a_copy_in_flight_is_counted_until_it_ends() {
        // No other unit test copies a batch in, so the count is this test's alone.
        let first = InFlight::start();
        let second = InFlight::start();
        assert_eq!(COPYING.load(Ordering::Relaxed), 2);
        drop(first);
        assert_eq!(COPYING.load(Ordering::Relaxed), 1);
        drop(second);
        assert_eq!(COPYING.load(Ordering::Relaxed), 0);
    }
}
