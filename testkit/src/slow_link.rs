//! A TCP relay on loopback whose answers can be held back: a backend (Redis) that is reached but
//! slow to answer, as when the network or the backend stalls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Relays every connection to `backend`; the backend's bytes wait `delay` before they go on.
pub struct SlowLink {
    addr: SocketAddr,
    delay_ms: Arc<AtomicU64>,
}

impl SlowLink {
    /// Listens on a free loopback port; no delay at first. Stops with the test's runtime.
    pub async fn start(backend: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let delay_ms = Arc::new(AtomicU64::new(0));
        let delay = delay_ms.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(upstream) = TcpStream::connect(backend).await else {
                    continue;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_backend, mut to_backend) = upstream.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_backend).await;
                });
                let delay = delay.clone();
                tokio::spawn(async move {
                    let mut buffer = vec![0; 64 * 1024];
                    while let Ok(read @ 1..) = from_backend.read(&mut buffer).await {
                        let wait = delay.load(Ordering::Relaxed);
                        if wait > 0 {
                            tokio::time::sleep(Duration::from_millis(wait)).await;
                        }
                        if to_client.write_all(&buffer[..read]).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, delay_ms }
    }

    /// Holds each of the backend's answers back this long from now on (zero: none).
    pub fn delay(&self, delay: Duration) {
        let millis = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(millis, Ordering::Relaxed);
    }

    /// Its loopback address, for clients to connect to instead of the backend.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
