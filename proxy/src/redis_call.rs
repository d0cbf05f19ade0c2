//! Redis calls that take effect even when their answer comes too late: a call that outlives
//! `CALL_TIMEOUT` has usually reached Redis (a busy proxy waits longer for its turn than Redis
//! takes), so abandoning it would lose what it did (a lease taken, a budget held) or, retried,
//! do it twice. The caller waits up to `CALL_TIMEOUT`; then the call goes on in a task of its
//! own, and its answer is handed to a function that undoes or keeps what the call did.

use std::future::Future;
use std::time::Duration;

use redis::aio::ConnectionManagerConfig;

/// Longest a caller waits for Redis before its failure policy applies (Kong's rate limiting
/// waits up to 2 s). Redis itself answers in well under a millisecond.
pub(crate) const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long the connection waits for an answer before giving up on it: long after the caller
/// stopped waiting, so that a late answer is still heard, while a Redis that stopped answering
/// does not hold calls forever.
const ANSWER_AT_MOST_AFTER: Duration = Duration::from_secs(30);

/// The settings of the connection to Redis.
pub(crate) fn connection_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::default().set_response_timeout(Some(ANSWER_AT_MOST_AFTER))
}

/// Runs `call` and waits up to `CALL_TIMEOUT` for its answer; `None` when it did not come in
/// time, and then `late` gets it when it comes (the call goes on in a task of its own).
pub(crate) async fn answer_in_time<T, F, L>(call: F, late: L) -> Option<T>
where
    T: Send + 'static,
    F: Future<Output = T> + Send + 'static,
    L: FnOnce(T) + Send + 'static,
{
    let mut call = Box::pin(call);
    match tokio::time::timeout(CALL_TIMEOUT, &mut call).await {
        Ok(answer) => Some(answer),
        Err(_) => {
            tokio::spawn(async move { late(call.await) });
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[tokio::test(start_paused = true)]
    async fn an_answer_in_time_is_returned_and_a_late_one_handed_on() {
        let heard_late = Arc::new(Mutex::new(Vec::new()));
        let quick = answer_in_time(async { 1 }, {
            let heard_late = heard_late.clone();
            move |answer| heard_late.lock().unwrap().push(answer)
        })
        .await;
        assert_eq!(quick, Some(1));

        let slow = answer_in_time(
            async {
                tokio::time::sleep(CALL_TIMEOUT * 2).await;
                2
            },
            {
                let heard_late = heard_late.clone();
                move |answer| heard_late.lock().unwrap().push(answer)
            },
        )
        .await;
        assert!(slow.is_none());
        tokio::time::sleep(CALL_TIMEOUT * 2).await;
        assert_eq!(*heard_late.lock().unwrap(), vec![2]);
    }
}
