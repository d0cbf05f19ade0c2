//! A real Redis server on a loopback port, for the limits proxies count together.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `redis-server`, killed when dropped. Nothing is persisted.
pub struct RedisServer {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free loopback port and waits until it answers.
    pub async fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut server = Self {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.resume().await;
        server
    }

    /// Its URL, as `TOLLGATE_REDIS_URL` takes it.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Its loopback address.
    pub fn addr(&self) -> std::net::SocketAddr {
        std::net::SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Kills the server (its counts are gone with it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and waits until it answers.
    pub async fn resume(&mut self) {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (./test.sh installs it)");
        self.child = Some(child);
        for _ in 0..200 {
            if self.pong() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }

    /// Empties it, as `FLUSHALL` does (an operator's mistake, or a managed Redis failing over
    /// to an empty replica).
    pub fn flush_all(&self) {
        assert_eq!(self.command(&["FLUSHALL"]), "+OK");
    }

    /// Runs one command and returns the first line of the answer (`+OK`, `$5`, `:1`, …) and,
    /// for a bulk string, its value on the next line.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("redis answers");
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
            answer.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&answer);
            let complete = match text.strip_prefix('$') {
                Some(rest) if !rest.starts_with("-1") => text.matches("\r\n").count() >= 2,
                _ => text.contains("\r\n"),
            };
            if complete {
                break;
            }
        }
        String::from_utf8_lossy(&answer)
            .trim_end()
            .replace("\r\n", "\n")
    }

    fn pong(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut answer = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG\r\n"
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
