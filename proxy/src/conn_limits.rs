//! Limits on client connections, against slow and idle clients (Slowloris): a connection must
//! send its first bytes and then each request's headers within a deadline, an idle keep-alive
//! connection is closed, and one client address may hold only so many connections at once.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;

/// The server connection builder with the timeouts set. `header_timeout` is the time for a
/// request's headers to arrive, counted from when the connection waits for them: also how long
/// an idle keep-alive connection stays open.
pub(crate) fn builder(header_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20))
        .max_concurrent_streams(256);
    builder
}

/// Waits until a new connection has sent enough to tell HTTP/1 from HTTP/2 (the protocol
/// detection itself has no deadline); false when that did not happen in time or the client
/// went away, and the connection is then dropped before any protocol work.
pub(crate) async fn first_bytes_arrive(stream: &tokio::net::TcpStream, deadline: Duration) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let decided = async {
        let mut buf = [0u8; 24];
        loop {
            match stream.peek(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) if n >= PREFACE.len() || buf[..n] != PREFACE[..n] => return true,
                // Part of the HTTP/2 preface so far: wait for the rest.
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    };
    matches!(tokio::time::timeout(deadline, decided).await, Ok(true))
}

/// Open connections per client address, shared by every worker.
#[derive(Debug)]
pub(crate) struct PerClient {
    open: DashMap<IpAddr, usize>,
    max: usize,
}

impl PerClient {
    /// `max` 0 turns the limit off.
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: DashMap::new(),
            max,
        })
    }

    /// Admits a connection from `ip`, or `None` when the address holds its maximum already.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut open = self.open.entry(ip).or_insert(0);
        if self.max > 0 && *open >= self.max {
            return None;
        }
        *open += 1;
        Some(Slot {
            owner: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; frees its place when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    owner: Arc<PerClient>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.owner.open.remove_if_mut(&self.ip, |_, open| {
            *open = open.saturating_sub(1);
            *open == 0
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_at_most_its_share_and_places_come_back() {
        let limits = PerClient::new(2);
        let ip = IpAddr::from([192, 0, 2, 1]);
        let first = limits.admit(ip);
        let second = limits.admit(ip);
        assert!(first.is_some() && second.is_some());
        assert!(limits.admit(ip).is_none());
        assert!(limits.admit(IpAddr::from([192, 0, 2, 2])).is_some());
        drop(first);
        assert!(limits.admit(ip).is_some());
    }
}
