//! MCP servers written with the official MCP Python SDK (FastMCP), as test upstreams: the
//! script gets a free loopback port as its first argument and serves Streamable HTTP at `/mcp`.

use std::time::Duration;

/// A running MCP server, stopped on drop.
pub struct McpUpstream {
    /// Its Streamable HTTP endpoint.
    pub url: String,
    _child: tokio::process::Child,
}

impl McpUpstream {
    /// Runs `script` with the Python that `test.sh` installs the SDK into, and waits until it
    /// listens.
    pub async fn start(script: &str) -> Self {
        let python = std::env::var("TOLLGATE_TEST_PYTHON")
            .expect("TOLLGATE_TEST_PYTHON is not set: run the tests with ./test.sh");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(python)
            .args(["-c", script, &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            url: format!("http://127.0.0.1:{port}/mcp"),
            _child: child,
        }
    }
}
