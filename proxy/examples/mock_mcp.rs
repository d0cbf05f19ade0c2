//! A fast MCP server for the benchmark (Streamable HTTP, JSON answers): `initialize` gives a
//! session, notifications get 202, `tools/list` lists one tool, `tools/call` answers "ok" with
//! the request's id. One current-thread runtime, like the benchmark's nginx upstream (1 worker).
//!
//!   cargo run --release -p tollgate-proxy --example mock_mcp -- 127.0.0.1:9100

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let Some(listen) = std::env::args().nth(1) else {
        eprintln!("usage: mock_mcp LISTEN_ADDR");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen
        .parse()
        .expect("a listen address such as 127.0.0.1:9100");
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async move {
            let listener = TcpListener::bind(listen).await.unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service_fn(answer))
                        .await;
                });
            }
        });
}

async fn answer(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let body = request.into_body().collect().await.map(|b| b.to_bytes());
    let message: Value = body
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    let id = message.get("id").cloned().unwrap_or(Value::Null);
    let result = match message.get("method").and_then(Value::as_str) {
        _ if id.is_null() => {
            let mut accepted = Response::new(Full::new(Bytes::new()));
            *accepted.status_mut() = StatusCode::ACCEPTED;
            return Ok(accepted);
        }
        Some("initialize") => json!({"protocolVersion": "2025-06-18",
            "capabilities": {"tools": {}}, "serverInfo": {"name": "mock", "version": "1"}}),
        Some("tools/list") => json!({"tools": [{"name": "echo",
            "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}}}]}),
        Some("tools/call") => {
            json!({"content": [{"type": "text", "text": "ok"}], "isError": false})
        }
        _ => json!({}),
    };
    let body = json!({"jsonrpc": "2.0", "id": id, "result": result}).to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    response
        .headers_mut()
        .insert("mcp-session-id", "bench-session".parse().unwrap());
    Ok(response)
}
